package resource

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// A fleet booting at once: 1,000 concurrent fetches against one server that
// answers 503 for its first 2 s. All must succeed, and their retries must
// be spread out rather than arrive in lockstep.
func TestHerd(t *testing.T) {
	if testing.Short() {
		t.Skip("herd test skipped in -short mode")
	}
	const clients = 1000
	start := time.Now()
	var mu sync.Mutex
	var served []time.Duration // when each successful request arrived
	var rejected int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if now < 2*time.Second {
			rejected++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		served = append(served, now)
		w.Write([]byte("config"))
	}))
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	defer srv.Close()

	f := &Fetcher{TotalTimeout: 60 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.FetchBytes(context.Background(), srv.URL+"/config.ign", Options{Config: true}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("fetch failed: %v", err)
	}
	if len(served) != clients {
		t.Fatalf("served %d successful requests; want %d", len(served), clients)
	}
	// Spread: how the successful requests fall in 100 ms buckets.
	sort.Slice(served, func(i, j int) bool { return served[i] < served[j] })
	buckets := map[int]int{}
	maxBucket := 0
	for _, d := range served {
		b := int(d / (100 * time.Millisecond))
		buckets[b]++
		maxBucket = max(maxBucket, buckets[b])
	}
	var keys []int
	for k := range buckets {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var hist strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&hist, "  %4.1f s: %d\n", float64(k)/10, buckets[k])
	}
	t.Logf("%d clients, %d rejected attempts before 2 s; successes from %v to %v, median %v; per 100 ms:\n%s",
		clients, rejected, served[0].Round(time.Millisecond), served[len(served)-1].Round(time.Millisecond),
		served[len(served)/2].Round(time.Millisecond), hist.String())
	if maxBucket > clients/2 {
		t.Errorf("%d of %d successes arrived within one 100 ms window; want the retries spread out", maxBucket, clients)
	}
	if last := served[len(served)-1]; last > 10*time.Second {
		t.Errorf("last client got its config after %v; want within a few backoff steps of the 2 s outage", last)
	}
}
