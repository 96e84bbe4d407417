package resource

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ignition-go/ignition/config"

	"github.com/ignition-go/ignition/internal/testnet"
)

// endless writes zeros until the client goes away.
func endless(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

func TestSizeLimitHTTP(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 4<<20)) // 4 MiB of zeros in a few kB
	zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/endless":
			endless(w, r)
		case "/told":
			w.Header().Set("Content-Length", fmt.Sprint(2<<20))
			w.Write(make([]byte, 2<<20))
		case "/bomb":
			w.Write(gz.Bytes())
		case "/exact":
			w.Write(make([]byte, 1<<20))
		}
	}))
	defer srv.Close()
	cases := []struct {
		name, path string
		o          Options
		want       string // "" = success
	}{
		{"endless config, default cap", "/endless", Options{Config: true}, "/endless: config is larger than the 128 MiB limit"},
		{"endless, MaxSize", "/endless", Options{MaxSize: 1 << 20}, "/endless: resource is larger than the 1 MiB limit"},
		{"endless config, smaller MaxSize", "/endless", Options{Config: true, MaxSize: 3 << 10}, "config is larger than the 3 KiB limit"},
		{"Content-Length over the cap", "/told", Options{MaxSize: 1 << 20}, "resource is larger than the 1 MiB limit"},
		{"gzip bomb: the cap is on the decompressed data", "/bomb", Options{Compression: "gzip", MaxSize: 1 << 20}, "larger than the 1 MiB limit"},
		{"gzip bomb with a hash", "/bomb", Options{Compression: "gzip", MaxSize: 1 << 20, Hash: sha512Of([]byte("x"))}, "larger than the 1 MiB limit"},
		{"exactly the cap", "/exact", Options{MaxSize: 1 << 20}, ""},
		{"no cap", "/told", Options{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var log logRecorder
			f := &Fetcher{Log: log.logf, TotalTimeout: time.Minute}
			got, err := f.FetchBytes(context.Background(), srv.URL+c.path, c.o)
			if c.want == "" {
				if err != nil {
					t.Fatalf("FetchBytes(%s) err = %v; want success", c.path, err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), c.want) || got != nil {
				t.Fatalf("FetchBytes(%s) = %d bytes, %v; want nil and an error saying %q", c.path, len(got), err, c.want)
			}
			if strings.Contains(log.String(), "retrying") {
				t.Errorf("a source over the cap was retried:\n%s", log.String())
			}
		})
	}
}

// The cap holds on every scheme: data, tftp, gs, s3 and Azure Blob (the
// last three go through the http path, each with its own endpoint).
func TestSizeLimitEveryScheme(t *testing.T) {
	big := base64.StdEncoding.EncodeToString(make([]byte, 5000))
	f := &Fetcher{}
	if _, err := f.FetchBytes(context.Background(), "data:;base64,"+big, Options{MaxSize: 4096}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("FetchBytes(data, 5000 bytes, cap 4096) err = %v; want ErrTooLarge", err)
	}
	if _, err := f.FetchBytes(context.Background(), "data:;base64,"+big, Options{MaxSize: 4096, Hash: sha512Of(make([]byte, 5000))}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("FetchBytes(data with hash over the cap) err = %v; want ErrTooLarge", err)
	}

	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "big.ign"), make([]byte, 100<<10), 0o644)
	addr := testnet.StartTFTPD(t, dir)
	if _, err := (&Fetcher{TotalTimeout: 20 * time.Second}).FetchBytes(context.Background(), "tftp://"+addr+"/big.ign", Options{MaxSize: 64 << 10}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "64 KiB") {
		t.Errorf("FetchBytes(tftp 100 KiB, cap 64 KiB) err = %v; want ErrTooLarge", err)
	}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			return
		}
		endless(w, r)
	})
	for _, c := range []struct{ source, host string }{
		{"gs://bucket/endless.ign", "storage.googleapis.com"},
		{"s3://bucket/endless.ign", "*.s3.us-east-1.amazonaws.com"},
		{"https://account.blob.core.windows.net/c/endless.ign", "*.blob.core.windows.net"},
	} {
		f, _ := publicEndpoint(t, h, c.host)
		_, err := f.FetchBytes(context.Background(), c.source, Options{Config: true, MaxSize: 2 << 20})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), c.source+": config is larger than the 2 MiB limit") {
			t.Errorf("FetchBytes(%s, endless) err = %v; want the source and the cap named", c.source, err)
		}
	}
}

// FetchBytes of an endless source holds about the cap, not the twice the
// cap (and the garbage of every smaller copy) that a doubling slice would.
func TestFetchBytesMemoryNearTheCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(endless))
	defer srv.Close()
	f := &Fetcher{}
	f.FetchBytes(context.Background(), srv.URL, Options{MaxSize: 1 << 20}) // warm up the client
	const limit = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := f.FetchBytes(context.Background(), srv.URL, Options{MaxSize: limit})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("FetchBytes(endless) err = %v; want ErrTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit+limit/4 {
		t.Errorf("FetchBytes(endless, cap %d MiB) allocated %d MiB; want about the cap", limit>>20, alloc>>20)
	} else {
		t.Logf("FetchBytes(endless, cap %d MiB) allocated %.1f MiB", limit>>20, float64(alloc)/(1<<20))
	}
}

func TestBuffer(t *testing.T) {
	for _, n := range []int{0, 1, minChunk - 1, minChunk, minChunk + 1, 3*maxChunk + 17} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i * 7)
		}
		var b buffer
		for p := want; len(p) > 0; {
			k := min(len(p), 10007)
			b.Write(p[:k])
			p = p[k:]
		}
		if got := b.bytes(); !bytes.Equal(got, want) {
			t.Errorf("buffer of %d bytes = %d bytes, not the same", n, len(got))
		}
	}
}

func TestReadLimited(t *testing.T) {
	got, err := ReadLimited(strings.NewReader("hello"), 5, "config")
	if err != nil || string(got) != "hello" {
		t.Errorf("ReadLimited(5 bytes, cap 5) = %q, %v; want hello", got, err)
	}
	_, err = ReadLimited(io.LimitReader(zeros{}, 1<<30), 1<<20, "config")
	if !errors.Is(err, ErrTooLarge) || err.Error() != "config is larger than the 1 MiB limit" {
		t.Errorf("ReadLimited(1 GiB, cap 1 MiB) err = %v; want the cap named", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// AddCAs caps each bundle at config.MaxCABundleSize.
func TestAddCAsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(endless))
	defer srv.Close()
	src := srv.URL + "/ca.pem"
	err := (&Fetcher{}).AddCAs(context.Background(), []config.Resource{{Source: &src}})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "8 MiB limit") || !strings.Contains(err.Error(), src) {
		t.Errorf("AddCAs(endless) err = %v; want the 8 MiB cap and the source named", err)
	}
}

// Failures that would repeat are final: no retry to the deadline.
func TestFailFast(t *testing.T) {
	var calls atomic.Int32
	var srvURL string
	full := bytes.Repeat([]byte("0123456789"), 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/loop-a":
			http.Redirect(w, r, "/loop-b", http.StatusFound)
		case "/loop-b":
			http.Redirect(w, r, "/loop-a", http.StatusFound)
		case "/self":
			http.Redirect(w, r, strings.Replace(srvURL, "http://", "http://user:pw@", 1)+"/self?token=T0KEN", http.StatusFound)
		case "/chain":
			i := 0
			fmt.Sscanf(r.URL.Query().Get("i"), "%d", &i)
			http.Redirect(w, r, fmt.Sprintf("/chain?i=%d", i+1), http.StatusFound)
		case "/short", "/short-then-shorter":
			w.Header().Set("Content-Length", fmt.Sprint(len(full)))
			cut := len(full) / 2
			if r.URL.Path == "/short-then-shorter" && n%2 == 0 {
				cut = len(full) / 3
			}
			if r.URL.Path == "/short-then-shorter" && n >= 4 {
				cut = len(full)
			}
			w.Write(full[:cut])
			if cut < len(full) {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			}
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	cases := []struct {
		name, path string
		err        error
		calls      int32
		msg        string
	}{
		{"redirect loop", "/loop-a", ErrFailed, 2, "redirect loop back to " + srv.URL + "/loop-a"},
		{"redirect to itself", "/self", ErrFailed, 2, "redirect loop back to " + srv.URL + "/self?token=REDACTED"},
		{"more than 10 redirects", "/chain", ErrFailed, 10, "stopped after 10 redirects"},
		{"broke off twice at the same offset", "/short", ErrFailed, 2, "at the same offset as the attempt before"},
		{"broke off at different offsets, then whole", "/short-then-shorter", nil, 4, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls.Store(0)
			var log logRecorder
			f := &Fetcher{Log: log.logf, TotalTimeout: 30 * time.Second}
			_, err := f.FetchBytes(context.Background(), srv.URL+c.path, Options{})
			if !errors.Is(err, c.err) || errors.Is(err, ErrTimeout) {
				t.Fatalf("FetchBytes(%s) err = %v; want %v\nlog:\n%s", c.path, err, c.err, log.String())
			}
			if calls.Load() != c.calls {
				t.Errorf("FetchBytes(%s) made %d requests; want %d", c.path, calls.Load(), c.calls)
			}
			if err != nil && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("FetchBytes(%s) err = %v; want it to say %q", c.path, err, c.msg)
			}
			if err != nil && (strings.Contains(err.Error()+log.String(), "T0KEN") || strings.Contains(err.Error()+log.String(), "pw@")) {
				t.Errorf("a secret of the redirect target leaked:\n%v\n%s", err, log.String())
			}
		})
	}
}

// certFor makes a CA and a certificate for names, valid from notBefore to
// notAfter.
func certFor(t *testing.T, notBefore, notAfter time.Time, names ...string) (*tls.Config, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

// A certificate that does not verify is final: unknown authority, another
// host's name, expired.
func TestTLSErrorsAreFinal(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name     string
		from, to time.Time
		names    []string
		trust    bool
		msg      string
	}{
		{"unknown authority", now.Add(-time.Hour), now.Add(time.Hour), []string{"config.example.test"}, false, "unknown authority"},
		{"another host's name", now.Add(-time.Hour), now.Add(time.Hour), []string{"other.example.test"}, true, "not config.example.test"},
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), []string{"config.example.test"}, true, "expired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
			var caPEM []byte
			srv.TLS, caPEM = certFor(t, c.from, c.to, c.names...)
			srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the handshake failures are the point
			srv.StartTLS()
			defer srv.Close()
			addr := srv.Listener.Addr().String()
			var log logRecorder
			f := &Fetcher{Log: log.logf, TotalTimeout: 30 * time.Second, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				calls.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			if c.trust {
				if err := f.AddCA(caPEM); err != nil {
					t.Fatal(err)
				}
			}
			_, err := f.FetchBytes(context.Background(), "https://config.example.test/c.ign", Options{})
			if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("FetchBytes(%s) err = %v; want a final error saying %q\nlog:\n%s", c.name, err, c.msg, log.String())
			}
			if calls.Load() != 1 || strings.Contains(log.String(), "retrying") {
				t.Errorf("FetchBytes(%s) dialled %d times; want once, no retry\nlog:\n%s", c.name, calls.Load(), log.String())
			}
		})
	}
}

// A TFTP "file not found" (error code 1) is final: one attempt.
func TestTFTPNotFoundIsFinal(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	addr := testnet.StartTFTPD(t, dir)
	var log logRecorder
	f := &Fetcher{Log: log.logf, TotalTimeout: 30 * time.Second}
	_, err := f.FetchBytes(context.Background(), "tftp://"+addr+"/missing.ign", Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "code: 1") {
		t.Fatalf("FetchBytes(tftp missing) err = %v; want ErrNotFound with the server's code", err)
	}
	if l := log.String(); !strings.Contains(l, "attempt 1: ") || !strings.Contains(l, "final, no retry") || strings.Contains(l, "attempt 2") {
		t.Errorf("log = %q; want one final attempt", l)
	}
	if c := tftpErrorCode(errors.New("code: 1, message: File not found")); c != 1 {
		t.Errorf("tftpErrorCode(code 1) = %d; want 1", c)
	}
	if c := tftpErrorCode(errors.New("read udp: i/o timeout")); c != -1 {
		t.Errorf("tftpErrorCode(timeout) = %d; want -1", c)
	}
}

// Ignition's headers go with every http(s) fetch: a file's contents and a
// certificate authority, not only configs.
func TestIgnitionHeadersOnEveryFetch(t *testing.T) {
	caSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer caSrv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caSrv.Certificate().Raw})
	got := map[string]http.Header{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		if r.URL.Path == "/ca.pem" {
			w.Write(caPEM)
			return
		}
		w.Write([]byte("contents"))
	}))
	defer srv.Close()
	f := &Fetcher{}
	if _, err := f.FetchBytes(context.Background(), srv.URL+"/file", FromResource(config.Resource{})); err != nil {
		t.Fatal(err)
	}
	ca := srv.URL + "/ca.pem"
	if err := f.AddCAs(context.Background(), []config.Resource{{Source: &ca}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/file", "/ca.pem"} {
		h := got[path]
		if v := h.Get("Accept"); v != "application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1" {
			t.Errorf("%s: Accept = %q; want Ignition's", path, v)
		}
		if v := h.Get("Accept-Encoding"); v != "identity" {
			t.Errorf("%s: Accept-Encoding = %q; want identity", path, v)
		}
		if v := h.Get("User-Agent"); !strings.HasPrefix(v, "Ignition/") || len(v) == len("Ignition/") {
			t.Errorf("%s: User-Agent = %q; want Ignition/<version>", path, v)
		}
	}
	// a config's own header replaces a default of the same name
	f.UserAgent = "Ignition/2.99.0"
	if _, err := f.FetchBytes(context.Background(), srv.URL+"/custom", Options{Headers: []config.HTTPHeader{{Name: "Accept", Value: strp("text/plain")}}}); err != nil {
		t.Fatal(err)
	}
	if h := got["/custom"]; h.Get("Accept") != "text/plain" || h.Get("User-Agent") != "Ignition/2.99.0" {
		t.Errorf("custom: Accept = %q, User-Agent = %q; want text/plain and Ignition/2.99.0", h.Get("Accept"), h.Get("User-Agent"))
	}
}

// A config's httpTotal bounds the fetches of With's fetcher, replacing the
// -fetch-timeout it inherits; without one, the inherited bound stays.
func TestWithHTTPTotal(t *testing.T) {
	parent := &Fetcher{TotalTimeout: time.Hour}
	cases := []struct {
		name string
		t    config.Timeouts
		want time.Duration
	}{
		{"httpTotal set", config.Timeouts{HTTPTotal: intp(2)}, 2 * time.Second},
		{"httpTotal unset", config.Timeouts{}, time.Hour},
		{"httpTotal 0", config.Timeouts{HTTPTotal: intp(0)}, time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := parent.With(c.t, config.Proxy{})
			ctx, cancel := g.deadline(context.Background())
			defer cancel()
			dl, ok := ctx.Deadline()
			if left := time.Until(dl); !ok || left > c.want || left < c.want-time.Minute/2 && c.want > time.Minute || left < c.want/2 {
				t.Errorf("With(%v).deadline leaves %v; want %v", c.name, left, c.want)
			}
		})
	}
	// and a grandchild without its own httpTotal keeps its parent's
	g := parent.With(config.Timeouts{HTTPTotal: intp(3)}, config.Proxy{}).With(config.Timeouts{}, config.Proxy{})
	ctx, cancel := g.deadline(context.Background())
	defer cancel()
	if dl, _ := ctx.Deadline(); time.Until(dl) > 3*time.Second {
		t.Errorf("grandchild deadline = %v away; want the parent config's 3 s", time.Until(dl))
	}
	// a real fetch ends at httpTotal, not the inherited hour
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer srv.Close()
	child := parent.With(config.Timeouts{HTTPTotal: intp(1)}, config.Proxy{})
	if _, err := child.FetchBytes(context.Background(), srv.URL, Options{}); !errors.Is(err, ErrTimeout) {
		t.Errorf("FetchBytes through With(httpTotal 1) err = %v; want ErrTimeout", err)
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://user:pass@example.com/a.ign", "https://example.com/a.ign"},
		{"https://user@example.com/a.ign", "https://example.com/a.ign"},
		{"https://example.com/a.ign?sig=abc&se=2030&versionId=v1", "https://example.com/a.ign?sig=REDACTED&se=REDACTED&versionId=REDACTED"},
		{"https://example.com/a.ign?SECRETTOKEN", "https://example.com/a.ign?REDACTED"},
		{"https://example.com/a.ign#frag-secret", "https://example.com/a.ign#REDACTED"},
		{"tftp://user:pw@10.0.0.1/pxe/a.ign", "tftp://10.0.0.1/pxe/a.ign"},
		{"s3://bucket/key?versionId=x", "s3://bucket/key?versionId=REDACTED"},
		{"data:,hello", "data URL (11 bytes)"},
		{"http://[::1", "unparseable URL"},
	}
	for _, c := range cases {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q; want %q", c.in, got, c.want)
		}
	}
	h := []config.HTTPHeader{{Name: "Authorization", Value: strp("Bearer SECRET")}, {Name: "X-Empty"}}
	if got, want := RedactHeaders(h), "Authorization: REDACTED, X-Empty: (no value)"; got != want {
		t.Errorf("RedactHeaders = %q; want %q", got, want)
	}
}

// Errors carry no URL secrets, whatever the scheme and however they fail.
func TestNoSecretsInErrorsAnyScheme(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	udp := pc.LocalAddr().String()
	pc.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://u:REDIRPASS@"+closed+"/x?sas=REDIRSIG", http.StatusFound)
	}))
	defer srv.Close()
	sources := []string{
		"http://user:PASSWORD@" + closed + "/c.ign?sig=SIGNATURE",
		strings.Replace(srv.URL, "http://", "http://user:PASSWORD@", 1) + "/r?sig=SIGNATURE",
		"tftp://user:PASSWORD@" + udp + "/c.ign?sig=SIGNATURE",
		"https://user:PASSWORD@" + closed + "/c.ign?sig=SIGNATURE#FRAGSECRET",
	}
	for _, s := range sources {
		var log logRecorder
		f := &Fetcher{Log: log.logf, TotalTimeout: 700 * time.Millisecond}
		_, err := f.FetchBytes(context.Background(), s, Options{})
		all := fmt.Sprint(err) + "\n" + log.String()
		for _, secret := range []string{"PASSWORD", "SIGNATURE", "REDIRPASS", "REDIRSIG", "FRAGSECRET", "user@", "u:"} {
			if strings.Contains(all, secret) {
				t.Errorf("FetchBytes(%s): %q leaked into:\n%s", Redact(s), secret, all)
			}
		}
	}
}

// Providers set per-scheme options while fetches run (and With copies
// them): no data race.
func TestPlatformOptionsConcurrently(t *testing.T) {
	f, _ := publicEndpoint(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		"config.example.test", "storage.googleapis.com", "*.blob.core.windows.net")
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				var err error
				switch (i + j) % 4 {
				case 0:
					f.SetS3(S3Options{Region: fmt.Sprintf("us-east-%d", j)})
					f.SetGCS(GCSOptions{ServiceAccount: j%2 == 0}) // the token request fails: anonymous
					f.SetAzureBlob(AzureBlobOptions{Cloud: "AzurePublicCloud"})
				case 1:
					_, err = f.With(config.Timeouts{}, config.Proxy{}).FetchBytes(context.Background(), "https://config.example.test/c.ign", Options{})
				case 2:
					_, err = f.FetchBytes(context.Background(), "gs://b/o", Options{})
				case 3:
					_, err = f.FetchBytes(context.Background(), "https://a.blob.core.windows.net/c/b", Options{})
				}
				if err != nil {
					errs <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent fetch: %v", err)
	}
	if got := f.s3Options().Region; !strings.HasPrefix(got, "us-east-") {
		t.Errorf("S3 region = %q after the concurrent sets", got)
	}
}
