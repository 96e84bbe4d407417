package resource

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/ignition-go/ignition/config"
)

type httpClient struct {
	c *http.Client
}

// client builds (once, and again after AddCA) the http client: proxies
// from the config only (not the environment), system roots plus added
// CAs, Ignition's timeouts.
func (f *Fetcher) client() *http.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.httpc != nil {
		return f.httpc.c
	}
	dial := f.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	headerTimeout := 10 * time.Second
	if t := f.Timeouts.HTTPResponseHeaders; t != nil {
		headerTimeout = time.Duration(*t) * time.Second // 0 = no limit
	}
	pc := &httpproxy.Config{
		HTTPProxy:  deref(f.Proxy.HTTPProxy),
		HTTPSProxy: deref(f.Proxy.HTTPSProxy),
		NoProxy:    strings.Join(f.Proxy.NoProxy, ","),
	}
	proxy := pc.ProxyFunc()
	tr := &http.Transport{
		Proxy:                 func(r *http.Request) (*url.URL, error) { return proxy(r.URL) },
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{RootCAs: f.roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	f.httpc = &httpClient{c: &http.Client{Transport: tr, CheckRedirect: checkRedirect}}
	return f.httpc.c
}

// maxRedirects is how many redirects a fetch follows, as Go's default.
const maxRedirects = 10

// errRedirects marks a redirect chain that cannot end: a loop, or more
// than maxRedirects. Retrying would only repeat it.
var errRedirects = errors.New("redirects")

func checkRedirect(r *http.Request, via []*http.Request) error {
	for _, v := range via {
		if v.URL.String() == r.URL.String() {
			return fmt.Errorf("%w: redirect loop back to %s after %d redirects", errRedirects, Redact(r.URL.String()), len(via))
		}
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: stopped after %d redirects", errRedirects, maxRedirects)
	}
	return nil
}

// finalTransportError tells whether a failed request would fail the same
// way again: a redirect loop, or a certificate the server presents that
// the roots do not trust, that names another host, or that has expired.
func finalTransportError(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.Is(err, errRedirects) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// attemptError says whether a failed attempt may be retried, and after what
// delay the server asked for.
type attemptError struct {
	err        error
	retry      bool
	retryAfter time.Duration
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

func (f *Fetcher) fetchHTTP(ctx context.Context, u *url.URL, w io.Writer, o Options) error {
	return f.fetchHTTPWith(ctx, u, w, o, nil)
}

// fetchHTTPWith runs the retry loop; prep, when set, finishes each request
// (signing, tokens) just before it is sent.
func (f *Fetcher) fetchHTTPWith(ctx context.Context, u *url.URL, w io.Writer, o Options, prep func(*http.Request) error) error {
	client := f.client()
	brk := breaks{last: -1}
	return f.retry(ctx, methodOf(o)+" "+Redact(u.String()), func() error {
		return f.attemptHTTP(ctx, client, u, w, o, prep, &brk)
	})
}

// breaks remembers where the previous attempt's body broke off: a body
// that breaks off at the same offset twice in a row will do so again (a
// server that always sends the same truncated file, a proxy that cuts
// every response at one size), so it is not retried a third time.
type breaks struct{ last int64 }

// brokeOff is the outcome of an attempt whose body broke off after n
// bytes: a retry when the destination can start over and the previous
// attempt did not break off at the same offset, else a final ErrFailed.
func (b *breaks) brokeOff(o Options, n int64, cause error) error {
	err := fmt.Errorf("download broke off after %d bytes: %v", n, cause)
	if b.last == n {
		return fmt.Errorf("%w: %v, at the same offset as the attempt before", ErrFailed, err)
	}
	b.last = n
	if o.Rewind != nil && o.Rewind() == nil {
		return &attemptError{err: err, retry: true}
	}
	return fmt.Errorf("%w: %v", ErrFailed, err)
}

func methodOf(o Options) string {
	if o.Method == "" {
		return http.MethodGet
	}
	return o.Method
}

// statusError is a final HTTP status.
type statusError struct {
	code   int
	status string
	kind   error // ErrNotFound or ErrFailed
}

func (e *statusError) Error() string { return e.kind.Error() + ": HTTP " + e.status }
func (e *statusError) Unwrap() error { return e.kind }

// progressEvery is how often a long download logs how far it got.
var progressEvery = 10 * time.Second

// trackedReader remembers whether reading the body itself failed, and logs
// the progress of long downloads.
type trackedReader struct {
	r   io.Reader
	n   int64
	err error

	logf  func(format string, args ...any)
	what  string
	total int64 // -1: unknown
	start time.Time
	last  time.Time
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.err = err
	}
	if t.logf != nil {
		if now := time.Now(); now.Sub(t.last) >= progressEvery {
			if t.last.IsZero() {
				t.start, t.last = now, now
			} else {
				t.last = now
				rate := float64(t.n) / now.Sub(t.start).Seconds() / 1e6
				if t.total > 0 {
					t.logf("%s: %d of %d MB (%.0f%%, %.1f MB/s)", t.what, t.n>>20, t.total>>20, 100*float64(t.n)/float64(t.total), rate)
				} else {
					t.logf("%s: %d MB so far (%.1f MB/s)", t.what, t.n>>20, rate)
				}
			}
		}
	}
	return n, err
}

func (f *Fetcher) attemptHTTP(ctx context.Context, client *http.Client, u *url.URL, w io.Writer, o Options, prep func(*http.Request) error, brk *breaks) error {
	method := o.Method
	if method == "" {
		method = http.MethodGet
	}
	var reqBody io.Reader
	if o.Body != nil {
		reqBody = bytes.NewReader(o.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFailed, redactURLError(err)) // a parse error quotes the URL
	}
	// Ignition's headers, on every request (files and CAs too)
	ua := f.UserAgent
	if ua == "" {
		ua = defaultUserAgent()
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Accept", acceptHeader)
	// On a redirect, Go's client sends these again, to the same host and to
	// any other, except the credentials (Authorization, Cookie and the
	// like), which go only to the same domain or a subdomain of it:
	// Ignition uses the same client, so configs see the same rule.
	for _, h := range o.Headers {
		if h.Value != nil {
			req.Header.Set(h.Name, *h.Value)
		}
	}
	if prep != nil {
		if err := prep(req); err != nil {
			return &attemptError{err: err, retry: true}
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		if finalTransportError(err) {
			return fmt.Errorf("%w: %v", ErrFailed, redactURLError(err))
		}
		return &attemptError{err: redactURLError(err), retry: true}
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusOK || code == http.StatusNoContent:
	case code >= 500 || (o.RetryStatus != nil && o.RetryStatus(code)):
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return &attemptError{err: fmt.Errorf("HTTP %s", resp.Status), retry: true, retryAfter: retryAfter(resp.Header, time.Now())}
	case code == http.StatusNotFound:
		return &statusError{code: code, status: resp.Status, kind: ErrNotFound}
	default:
		return &statusError{code: code, status: resp.Status, kind: ErrFailed}
	}
	if l := limitOf(o); l > 0 && o.Compression == "" && resp.ContentLength > l {
		return tooLarge(o, l) // said up front: read none of it
	}
	body := &trackedReader{r: resp.Body, logf: f.Log, what: methodOf(o) + " " + Redact(u.String()), total: resp.ContentLength}
	err = deliver(body, w, o)
	if err == nil {
		return nil
	}
	if body.err != nil {
		return brk.brokeOff(o, body.n, redactURLError(body.err))
	}
	return err
}

// acceptHeader is the Accept header Ignition sends with every request.
var acceptHeader = "application/vnd.coreos.ignition+json;version=" + config.NewestStable.String() + ", */*;q=0.1"

// redactURLError drops the URL net/http puts in its errors (it may carry
// secrets); the caller names the source in redacted form.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
