package resource

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ignition-go/ignition/config"
)

func sha512Of(b []byte) string { s := sha512.Sum512(b); return "sha512-" + hex.EncodeToString(s[:]) }
func sha256Of(b []byte) string { s := sha256.Sum256(b); return "sha256-" + hex.EncodeToString(s[:]) }
func strp(s string) *string    { return &s }
func intp(i int) *int          { return &i }

// logRecorder collects the fetcher's log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestHTTPContentsHashAndCompression(t *testing.T) {
	body := []byte("hello from the config server\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/plain":
			w.Write(body)
		case "/gz":
			w.Write(gz.Bytes())
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	cases := []struct {
		name, path string
		o          Options
		want       []byte
		err        error
	}{
		{"plain", "/plain", Options{}, body, nil},
		{"sha512 ok", "/plain", Options{Hash: sha512Of(body)}, body, nil},
		{"sha256 ok", "/plain", Options{Hash: sha256Of(body)}, body, nil},
		{"hash mismatch", "/plain", Options{Hash: sha512Of([]byte("other"))}, nil, ErrHashMismatch},
		{"gzip, hash of the decompressed data", "/gz", Options{Compression: "gzip", Hash: sha512Of(body)}, body, nil},
		{"gzip, hash of the compressed data is wrong", "/gz", Options{Compression: "gzip", Hash: sha512Of(gz.Bytes())}, nil, ErrHashMismatch},
		{"204 is empty contents", "/empty", Options{}, []byte{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &Fetcher{}
			got, err := f.FetchBytes(context.Background(), srv.URL+c.path, c.o)
			if !errors.Is(err, c.err) {
				t.Fatalf("FetchBytes(%s) err = %v; want %v", c.path, err, c.err)
			}
			if c.err == nil && !bytes.Equal(got, c.want) {
				t.Fatalf("FetchBytes(%s) = %q; want %q", c.path, got, c.want)
			}
		})
	}
}

func TestHTTPHeaders(t *testing.T) {
	got := make(chan http.Header, 4)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Write([]byte("x"))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			// another host name (Go compares names, not ports)
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/x", http.StatusFound)
			return
		case "/here":
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		got <- r.Header.Clone()
		w.Write([]byte("x"))
	}))
	defer srv.Close()
	headers := []config.HTTPHeader{{Name: "X-Token", Value: strp("s3cret")}, {Name: "User-Agent", Value: strp("custom/1")}}
	f := &Fetcher{UserAgent: "ignition-go/test"}

	if _, err := f.FetchBytes(context.Background(), srv.URL+"/cfg", Options{Config: true}); err != nil {
		t.Fatal(err)
	}
	h := <-got
	for k, want := range map[string]string{
		"User-Agent":      "ignition-go/test",
		"Accept-Encoding": "identity",
		"Accept":          "application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1",
	} {
		if h.Get(k) != want {
			t.Errorf("config fetch header %s = %q; want %q", k, h.Get(k), want)
		}
	}

	if _, err := f.FetchBytes(context.Background(), srv.URL+"/here", Options{Headers: headers}); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h.Get("X-Token") != "s3cret" || h.Get("User-Agent") != "custom/1" {
		t.Errorf("same-host redirect: headers = %v; want X-Token kept and User-Agent replaced", h)
	}
	if _, err := f.FetchBytes(context.Background(), srv.URL+"/away", Options{Headers: headers}); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h.Get("X-Token") != "s3cret" {
		t.Errorf("redirect to another host: X-Token = %q; want it kept (Go's rule, as in Ignition)", h.Get("X-Token"))
	}
	auth := append(headers, config.HTTPHeader{Name: "Authorization", Value: strp("Bearer T")})
	if _, err := f.FetchBytes(context.Background(), srv.URL+"/away", Options{Headers: auth}); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h.Get("Authorization") != "" || h.Get("X-Token") != "s3cret" {
		t.Errorf("redirect to another host: Authorization = %q, X-Token = %q; want the credential dropped, X-Token kept", h.Get("Authorization"), h.Get("X-Token"))
	}
}

func TestHTTPRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/503-then-200":
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("ok"))
		case "/retry-after":
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.Write([]byte("ok"))
		case "/404":
			http.NotFound(w, r)
		case "/403":
			w.WriteHeader(http.StatusForbidden)
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		case "/slow-headers":
			if n == 1 {
				time.Sleep(1500 * time.Millisecond)
			}
			w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	retry429 := func(code int) bool { return code == http.StatusTooManyRequests }
	cases := []struct {
		name      string
		path      string
		o         Options
		timeouts  config.Timeouts
		total     time.Duration
		err       error
		calls     int32
		minTime   time.Duration
		logSubstr string
	}{
		{name: "503 twice then 200", path: "/503-then-200", calls: 3, logSubstr: "attempt 2: HTTP 503 Service Unavailable; retrying in"},
		{name: "Retry-After honoured", path: "/retry-after", o: Options{RetryStatus: retry429}, calls: 2, minTime: time.Second},
		{name: "404 is final", path: "/404", err: ErrNotFound, calls: 1},
		{name: "403 is final", path: "/403", err: ErrFailed, calls: 1},
		{name: "5xx until the total timeout", path: "/500", total: 1500 * time.Millisecond, err: ErrTimeout, minTime: 1400 * time.Millisecond},
		{name: "slow headers time out and are retried", path: "/slow-headers", timeouts: config.Timeouts{HTTPResponseHeaders: intp(1)}, calls: 2, logSubstr: "timeout awaiting response headers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls.Store(0)
			var log logRecorder
			f := &Fetcher{Log: log.logf, Timeouts: c.timeouts, TotalTimeout: c.total}
			start := time.Now()
			_, err := f.FetchBytes(context.Background(), srv.URL+c.path, c.o)
			took := time.Since(start)
			if !errors.Is(err, c.err) {
				t.Fatalf("FetchBytes(%s) err = %v; want %v\nlog:\n%s", c.path, err, c.err, log.String())
			}
			if c.calls != 0 && calls.Load() != c.calls {
				t.Errorf("FetchBytes(%s) made %d requests; want %d", c.path, calls.Load(), c.calls)
			}
			if took < c.minTime {
				t.Errorf("FetchBytes(%s) took %v; want at least %v", c.path, took, c.minTime)
			}
			if err != nil && !strings.Contains(err.Error(), srv.URL+c.path) {
				t.Errorf("error %q does not name the URL", err)
			}
			if !strings.Contains(log.String(), c.logSubstr) {
				t.Errorf("log = %q; want it to mention %q", log.String(), c.logSubstr)
			}
		})
	}
}

// A body that stops short of its Content-Length is retried when the
// destination can start over, and is an error otherwise.
func TestHTTPTruncatedBody(t *testing.T) {
	full := bytes.Repeat([]byte("0123456789"), 1000)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(full)))
		if calls.Add(1) == 1 {
			w.Write(full[:len(full)/2])
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.Write(full)
	}))
	defer srv.Close()
	f := &Fetcher{}
	got, err := f.FetchBytes(context.Background(), srv.URL, Options{Hash: sha512Of(full)})
	if err != nil || !bytes.Equal(got, full) || calls.Load() != 2 {
		t.Fatalf("FetchBytes(truncated once) = %d bytes, %v after %d requests; want the full %d bytes after 2", len(got), err, calls.Load(), len(full))
	}
	calls.Store(0)
	var sink bytes.Buffer
	err = f.Fetch(context.Background(), srv.URL, &sink, Options{})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "broke off") {
		t.Fatalf("Fetch(truncated, no rewind) err = %v; want a broken-off download", err)
	}
}

func TestHTTPSPrivateCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secure")) }))
	defer srv.Close()
	f := &Fetcher{TotalTimeout: 20 * time.Second}
	if _, err := f.FetchBytes(context.Background(), srv.URL, Options{}); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("FetchBytes(untrusted CA) err = %v; want a final certificate error", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := f.AddCA(caPEM); err != nil {
		t.Fatal(err)
	}
	got, err := f.FetchBytes(context.Background(), srv.URL, Options{})
	if err != nil || string(got) != "secure" {
		t.Fatalf("FetchBytes(trusted CA) = %q, %v; want \"secure\"", got, err)
	}
	if err := f.AddCA([]byte("not pem")); err == nil {
		t.Errorf("AddCA(garbage) = nil; want an error")
	}
}

// Proxies come from the config, never from the environment.
func TestHTTPProxy(t *testing.T) {
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String())
		w.Write([]byte("via proxy"))
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")

	f := &Fetcher{Proxy: config.Proxy{HTTPProxy: strp(proxy.URL)}}
	got, err := f.FetchBytes(context.Background(), "http://config.example.test/machine.ign", Options{})
	if err != nil || string(got) != "via proxy" || seen.Load() != "http://config.example.test/machine.ign" {
		t.Fatalf("FetchBytes via proxy = %q, %v (proxy saw %v)", got, err, seen.Load())
	}

	direct := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("direct")) }))
	defer direct.Close()
	f = &Fetcher{}
	if got, err := f.FetchBytes(context.Background(), direct.URL, Options{}); err != nil || string(got) != "direct" {
		t.Fatalf("FetchBytes with HTTP_PROXY set in the environment = %q, %v; want a direct fetch", got, err)
	}
}

func TestOffline(t *testing.T) {
	f := &Fetcher{Offline: true}
	if _, err := f.FetchBytes(context.Background(), "https://example.com/x", Options{}); !errors.Is(err, ErrNeedNet) {
		t.Errorf("offline https fetch err = %v; want ErrNeedNet", err)
	}
	if _, err := f.FetchBytes(context.Background(), "tftp://10.0.0.1/x", Options{}); !errors.Is(err, ErrNeedNet) {
		t.Errorf("offline tftp fetch err = %v; want ErrNeedNet", err)
	}
	got, err := f.FetchBytes(context.Background(), "data:;base64,aGVsbG8=", Options{Hash: sha512Of([]byte("hello"))})
	if err != nil || string(got) != "hello" {
		t.Errorf("offline data fetch = %q, %v; want hello", got, err)
	}
}

// Secrets never reach an error or a log line: header values, query
// strings (tokens, signatures), passwords, data URL contents.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	var log logRecorder
	f := &Fetcher{Log: log.logf, TotalTimeout: 600 * time.Millisecond}
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/blob?sig=SIGNATURE&se=2030&versionId=v1"
	_, err := f.FetchBytes(context.Background(), u, Options{Headers: []config.HTTPHeader{{Name: "Authorization", Value: strp("Bearer TOKEN123")}}})
	if err == nil {
		t.Fatal("want an error")
	}
	_, derr := f.FetchBytes(context.Background(), "data:,SECRETDATA", Options{Hash: sha512Of([]byte("x"))})
	all := err.Error() + "\n" + derr.Error() + "\n" + log.String()
	for _, secret := range []string{"hunter2", "SIGNATURE", "TOKEN123", "SECRETDATA"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q leaked into:\n%s", secret, all)
		}
	}
	if !strings.Contains(all, "versionId=REDACTED") || !strings.Contains(all, "sig=REDACTED") || strings.Contains(all, "user@") {
		t.Errorf("redacted URL should hide every query value and the user, and name the hidden keys:\n%s", all)
	}
}

func TestConnectionRefusedTimesOut(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	var log logRecorder
	f := &Fetcher{Log: log.logf, TotalTimeout: time.Second}
	start := time.Now()
	_, err := f.FetchBytes(context.Background(), "http://"+addr+"/x", Options{})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("FetchBytes(closed port) err = %v; want a timeout naming the refusal", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 3*time.Second {
		t.Errorf("FetchBytes(closed port) took %v; want about the 1 s total timeout", took)
	}
}

// A config's certificateAuthorities are fetched (here from a data URL with
// a hash) and trusted for https.
func TestAddCAsFromConfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("trusted")) }))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	src := "data:;base64," + base64.StdEncoding.EncodeToString(caPEM)
	f := &Fetcher{TotalTimeout: 2 * time.Second}
	err := f.AddCAs(context.Background(), []config.Resource{{Source: &src, Verification: config.Verification{Hash: strp(sha512Of([]byte("wrong")))}}})
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("AddCAs(wrong hash) err = %v; want ErrHashMismatch", err)
	}
	if err := f.AddCAs(context.Background(), []config.Resource{{Source: &src, Verification: config.Verification{Hash: strp(sha512Of(caPEM))}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.FetchBytes(context.Background(), srv.URL, Options{}); err != nil || string(got) != "trusted" {
		t.Fatalf("FetchBytes after AddCAs = %q, %v", got, err)
	}
}

// A long download says how far it got, now and then.
func TestDownloadProgressLogged(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = 300 * time.Millisecond
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(4*len(chunk)))
		for i := 0; i < 4; i++ {
			w.Write(chunk)
			w.(http.Flusher).Flush()
			time.Sleep(350 * time.Millisecond)
		}
	}))
	defer srv.Close()
	var log logRecorder
	f := &Fetcher{Log: log.logf}
	got, err := f.FetchBytes(context.Background(), srv.URL+"/big", Options{})
	if err != nil || len(got) != 4<<20 {
		t.Fatalf("FetchBytes = %d bytes, %v", len(got), err)
	}
	if !strings.Contains(log.String(), "GET "+srv.URL+"/big: ") || !strings.Contains(log.String(), "of 4 MB (") {
		t.Errorf("log = %q; want progress lines", log.String())
	}
}
