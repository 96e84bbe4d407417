package resource

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Backoff between attempts: 200 ms doubling to a 5 s cap, as Ignition
// measured, with jitter (each wait is drawn from [d/2, 3d/2), capped) so
// that a fleet booting together does not retry in lockstep.
const (
	firstDelay = 200 * time.Millisecond
	maxDelay   = 5 * time.Second
	// maxRetryAfter bounds what a server may ask us to wait.
	maxRetryAfter = 5 * time.Minute
)

type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = firstDelay
	}
	d := b.d
	b.d = min(2*b.d, maxDelay)
	j := d/2 + time.Duration(rand.Int64N(int64(d)))
	return min(j, maxDelay)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// retry runs attempt until it succeeds or fails for good, backing off
// between retryable failures (logged once each, with the reason and the
// next delay), and stops at the context's deadline with ErrTimeout naming
// the last failure. what names the source in the log.
func (f *Fetcher) retry(ctx context.Context, what string, attempt func() error) error {
	var bo backoff
	for n := 1; ; n++ {
		err := attempt()
		if err == nil {
			return nil
		}
		var ae *attemptError
		if !errors.As(err, &ae) || !ae.retry {
			f.logf("%s: attempt %d: %v; final, no retry", what, n, err)
			return err
		}
		timeout := fmt.Errorf("%w (%d attempts; last: %v)", ErrTimeout, n, ae.err)
		if ctx.Err() != nil {
			return timeout
		}
		delay := bo.next()
		if ae.retryAfter > 0 {
			delay = ae.retryAfter + time.Duration(rand.Int64N(int64(firstDelay)))
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			f.logf("%s: attempt %d: %v; no time left for another attempt", what, n, ae.err)
			<-ctx.Done()
			return timeout
		}
		f.logf("%s: attempt %d: %v; retrying in %v", what, n, ae.err, delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return timeout
		case <-t.C:
		}
	}
}
