package metadata

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// Keys as clouds and config-drive generators give them: a string of
// lines, a list, a map of names to either; null is none; anything else is
// refused (the caller leaves it out with a warning).
func TestKeyList(t *testing.T) {
	const a, b = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA a@x", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB b@y"
	for _, c := range []struct {
		raw, want string
		ok        bool
	}{
		{`"` + a + `\n\n` + b + `\n"`, a + "|" + b, true},
		{`["` + a + `", null, "` + b + `"]`, a + "|" + b, true},
		{`{"z": "` + b + `", "a": ["` + a + `"]}`, a + "|" + b, true},
		{`null`, "", true},
		{``, "", true},
		{`5`, "", false},
		{`[5]`, "", false},
		{`{"a": 5}`, "", false},
		// one level of names only: an object of objects is refused, however
		// deep (walking it re-read each level: minutes for 1 MiB)
		{`{"a": {"b": "` + a + `"}}`, "", false},
		{strings.Repeat(`{"a":`, 5000) + `"` + a + `"` + strings.Repeat(`}`, 5000), "", false},
		{`{"a": null, "b": ["` + b + `", null]}`, b, true},
	} {
		got, ok := KeyList([]byte(c.raw))
		if strings.Join(got, "|") != c.want || ok != c.ok {
			t.Errorf("KeyList(%s) = %q, %v; want %q, %v", c.raw, got, ok, c.want, c.ok)
		}
	}
}

// logLines is a providers.Logger that keeps its lines.
type logLines struct{ lines []string }

func (l *logLines) Infof(f string, a ...any) { l.lines = append(l.lines, fmt.Sprintf(f, a...)) }
func (l *logLines) Warnf(f string, a ...any) {
	l.lines = append(l.lines, "WARN "+fmt.Sprintf(f, a...))
}
func (l *logLines) Op(f string, a ...any) func(error) { return func(error) {} }

// serve is an env whose fetcher reaches h whatever address it dials, and
// counts the requests by path.
func serve(t *testing.T, h http.HandlerFunc) (*providers.Env, *logLines, map[string]int) {
	t.Helper()
	var mu sync.Mutex
	count := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		count[r.URL.Path]++
		mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	f := &resource.Fetcher{TotalTimeout: 10 * time.Second, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	l := &logLines{}
	return &providers.Env{Fetcher: f, Log: l}, l, count
}

// A list longer than the budget keeps its whole lines up to there; a
// single value that is cut is none; the budget is shared by every read
// of one context and stops reads once spent.
func TestBudgetedReads(t *testing.T) {
	body := strings.Repeat("0123456789abcdef\n", 100) // 1700 bytes
	e, log, count := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
	ctx := providers.WithBudget(context.Background(), providers.NewBudget(1000, 3))
	lines, err := Lines(ctx, e, "http://169.254.169.254/keys")
	if err != nil || len(lines) != 58 || lines[57] != "0123456789abcdef" {
		t.Errorf("Lines() = %d lines (last %q), %v; want the 58 whole lines of the first 1000 bytes", len(lines), lines[len(lines)-1], err)
	}
	// nothing left: no request at all
	if v, err := Text(ctx, e, "http://169.254.169.254/hostname"); v != "" || err != nil || count["/hostname"] != 0 {
		t.Errorf("Text() after the budget = %q, %v, %d requests; want nothing, no request", v, err, count["/hostname"])
	}
	if !strings.Contains(strings.Join(log.lines, "\n"), "WARN platform fragment: the read budget") {
		t.Errorf("log = %q; want a warning that the budget is spent", log.lines)
	}
	// a cut value is none
	ctx = providers.WithBudget(context.Background(), providers.NewBudget(100, 3))
	if v, err := Text(ctx, e, "http://169.254.169.254/hostname"); v != "" || err != nil {
		t.Errorf("Text() of a cut value = %q, %v; want none", v, err)
	}
	// three reads, then none
	ctx = providers.WithBudget(context.Background(), providers.NewBudget(1<<20, 3))
	for range 5 {
		Text(ctx, e, "http://169.254.169.254/n")
	}
	if count["/n"] != 3 {
		t.Errorf("%d reads with a budget of 3", count["/n"])
	}
}

// An EC2 listing naming one index over and over reads that key once.
func TestIndexedKeysReadsEachIndexOnce(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a a"
	e, _, count := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/public-keys/":
			w.Write([]byte(strings.Repeat("0=a\n1/\n", 50_000) + "x\n-1\n99999999999\n"))
		case "/public-keys/0/openssh-key", "/public-keys/1/openssh-key":
			w.Write([]byte(key + "\n"))
		default:
			http.NotFound(w, r)
		}
	})
	keys, err := IndexedKeys(context.Background(), e, "http://169.254.169.254/public-keys/")
	if err != nil || len(keys) != 2 || count["/public-keys/0/openssh-key"] != 1 || count["/public-keys/1/openssh-key"] != 1 || len(count) != 3 {
		t.Errorf("IndexedKeys() = %d keys, %v; requests %v; want 2 keys, each read once, nothing else", len(keys), err, count)
	}
}

// A JSON document that is not JSON (an HTML page) is left out with a
// warning: the fragment is best effort.
func TestJSONNotJSON(t *testing.T) {
	e, log, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
	})
	var doc map[string]any
	ok, err := JSON(context.Background(), e, "http://169.254.169.254/v1.json", &doc)
	if ok || err != nil || doc != nil {
		t.Errorf("JSON(html) = %v, %v, %v; want nothing, no error", ok, err, doc)
	}
	if len(log.lines) != 1 || !strings.Contains(log.lines[0], "is not the documented JSON") {
		t.Errorf("log = %q", log.lines)
	}
}
