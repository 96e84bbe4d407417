// Package resource fetches every source a config can name: http, https,
// tftp, data, s3 and arn, gs, and Azure Blob over https. Contents stream to
// their destination through decompression and hash verification; remote
// fetches retry patiently with backoff until a deadline; URLs in logs and
// errors never carry secrets.
package resource

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/redact"
)

// Errors a fetch can end with; match them with errors.Is.
var (
	ErrNeedNet           = errors.New("resource requires networking")
	ErrNotFound          = errors.New("resource not found")
	ErrFailed            = errors.New("failed to fetch resource")
	ErrTimeout           = errors.New("unable to fetch resource in time")
	ErrHashMismatch      = errors.New("hash verification failed")
	ErrSchemeUnsupported = errors.New("unsupported source scheme")
	ErrCompression       = errors.New("compression is not supported for this source")
	// ErrTooLarge: the contents outgrew the fetch's size limit (errors.Is
	// also matches ErrFailed: it is final).
	ErrTooLarge = errors.New("resource is larger than its size limit")
)

// Logf is how the fetcher tells what it does (one line per call).
type Logf func(format string, args ...any)

// Fetcher fetches resources. The zero value works: no proxy, system roots,
// Ignition's default timeouts, and no log. Its exported fields are set
// before the first fetch; what a provider tells it later (per-scheme
// options: SetS3, SetGCS, SetAzureBlob) goes through methods that are safe
// to call while fetches run.
type Fetcher struct {
	// Log receives one line per attempt that fails and per retry.
	Log Logf
	// Offline makes every source but data: fail with ErrNeedNet
	// (the fetch-offline stage).
	Offline bool
	// UserAgent is sent with http(s) requests; empty means "Ignition/"
	// and this module's version.
	UserAgent string
	// Timeouts and Proxy come from the config's ignition section.
	Timeouts config.Timeouts
	Proxy    config.Proxy
	// TotalTimeout, when set, bounds every fetch including its retries
	// (the -fetch-timeout of the fetch stage); otherwise httpTotal does,
	// and with neither a fetch retries until its context ends. With
	// replaces it by a config's own httpTotal when that is set.
	TotalTimeout time.Duration
	// DialContext replaces the network dialer, for tests that serve a
	// public endpoint from loopback and for special networks.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.Mutex
	roots   *x509.CertPool // system roots plus added CAs; nil = system only
	httpc   *httpClient
	gceTok  gceTokenCache
	azCreds map[string]azcore.TokenCredential
	s3      S3Options
	gcs     GCSOptions
	azblob  AzureBlobOptions
}

// Options for one fetch.
type Options struct {
	// Headers are sent with http(s) requests, replacing defaults of the same
	// name. They are dropped when a redirect leaves the original host.
	Headers []config.HTTPHeader
	// Hash is the expected "sha512-<hex>" or "sha256-<hex>" of the
	// (decompressed) contents.
	Hash string
	// Compression is "" or "gzip".
	Compression string
	// Config marks a fetch of a machine config: its size is capped at
	// config.MaxConfigSize unless MaxSize says otherwise, and an error
	// about the size calls it a config.
	Config bool
	// MaxSize, when > 0, caps the (decompressed) contents: a source that
	// streams more fails with ErrTooLarge as soon as it passes the cap.
	MaxSize int64
	// RetryStatus adds provider-specific status codes to retry (5xx always are).
	RetryStatus func(code int) bool
	// Rewind, when set, lets a fetch whose body broke off midway start again:
	// it must empty the destination.
	Rewind func() error
	// Method is the http method (default GET), for metadata services
	// that want a PUT (the AWS IMDSv2 token) or a POST (Azure's health
	// report), and Body what a POST or PUT sends.
	Method string
	Body   []byte
}

// FromResource turns a config resource into fetch options.
func FromResource(r config.Resource) Options {
	o := Options{Headers: r.HTTPHeaders}
	if r.Verification.Hash != nil {
		o.Hash = *r.Verification.Hash
	}
	if r.Compression != nil {
		o.Compression = *r.Compression
	}
	return o
}

// With returns a fetcher for a config's own settings: its timeouts and
// proxy (when set) over this one's, and a copy of the trusted roots that
// the config's CAs can be added to without affecting this fetcher. A
// config's httpTotal (when > 0) bounds the fetches of the new fetcher,
// replacing the TotalTimeout it would otherwise inherit. The per-scheme
// options are copied.
func (f *Fetcher) With(t config.Timeouts, p config.Proxy) *Fetcher {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := &Fetcher{
		Log: f.Log, Offline: f.Offline, UserAgent: f.UserAgent, Timeouts: f.Timeouts, Proxy: f.Proxy,
		TotalTimeout: f.TotalTimeout, DialContext: f.DialContext,
		s3: f.s3, gcs: f.gcs, azblob: f.azblob,
	}
	if t.HTTPResponseHeaders != nil {
		g.Timeouts.HTTPResponseHeaders = t.HTTPResponseHeaders
	}
	if t.HTTPTotal != nil {
		g.Timeouts.HTTPTotal = t.HTTPTotal
		if *t.HTTPTotal > 0 {
			g.TotalTimeout = 0 // the deadline is now httpTotal
		}
	}
	if p.HTTPProxy != nil || p.HTTPSProxy != nil || len(p.NoProxy) > 0 {
		g.Proxy = p
	}
	if f.roots != nil {
		g.roots = f.roots.Clone()
	}
	return g
}

// AddCA adds every certificate of a PEM bundle to the roots trusted for https.
func (f *Fetcher) AddCA(pem []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.roots == nil {
		sys, err := x509.SystemCertPool()
		if err != nil || sys == nil {
			sys = x509.NewCertPool()
		}
		f.roots = sys
	}
	if !f.roots.AppendCertsFromPEM(pem) {
		return errors.New("certificate authority bundle holds no PEM certificate")
	}
	f.httpc = nil // rebuild the client with the new roots
	return nil
}

// Fetch writes the contents of source to w. It returns an error naming the
// source (without secrets) and what went wrong.
func (f *Fetcher) Fetch(ctx context.Context, source string, w io.Writer, o Options) error {
	u, err := url.Parse(source)
	if err != nil {
		return fmt.Errorf("%s: %w: unparseable URL", Redact(source), ErrFailed)
	}
	if err := f.fetch(ctx, u, source, w, o); err != nil {
		return fmt.Errorf("%s: %w", Redact(source), err)
	}
	return nil
}

// FetchBytes returns the contents of source (nil on error). Its memory
// stays near the size of the contents, so near the cap when one is set.
func (f *Fetcher) FetchBytes(ctx context.Context, source string, o Options) ([]byte, error) {
	var b buffer
	if o.Rewind == nil {
		o.Rewind = b.rewind
	}
	if err := f.Fetch(ctx, source, &b, o); err != nil {
		return nil, err
	}
	return b.bytes(), nil
}

func (f *Fetcher) fetch(ctx context.Context, u *url.URL, source string, w io.Writer, o Options) error {
	if o.Compression != "" && o.Compression != "gzip" {
		return fmt.Errorf("%w: %q", ErrCompression, o.Compression)
	}
	switch u.Scheme {
	case "data":
		data, err := config.DecodeDataURL(source)
		if err != nil {
			return fmt.Errorf("%w: invalid data URL: %v", ErrFailed, err)
		}
		if o.Compression == "" && o.Hash == "" {
			if l := limitOf(o); l > 0 && int64(len(data)) > l {
				return tooLarge(o, l)
			}
			_, err := w.Write(data) // inline and small: no copy loop
			return err
		}
		return deliver(bytes.NewReader(data), w, o)
	case "":
		return deliver(strings.NewReader(""), w, o)
	}
	if f.Offline {
		return ErrNeedNet
	}
	ctx, cancel := f.deadline(ctx)
	defer cancel()
	switch u.Scheme {
	case "http", "https":
		if ac, ok := azureBlobCloud(u.Hostname()); ok && u.Scheme == "https" {
			if az := f.azureBlobOptions(); az.ManagedIdentity {
				return f.fetchAzureBlob(ctx, u, ac, az, w, o)
			}
		}
		return f.fetchHTTP(ctx, u, w, o)
	case "tftp":
		return f.fetchTFTP(ctx, u, w, o)
	case "s3", "arn":
		return f.fetchS3(ctx, u, w, o)
	case "gs":
		return f.fetchGCS(ctx, u, w, o)
	}
	return fmt.Errorf("%w: %q", ErrSchemeUnsupported, u.Scheme)
}

// deadline bounds a fetch by TotalTimeout, else by httpTotal.
func (f *Fetcher) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d := f.TotalTimeout
	if d == 0 && f.Timeouts.HTTPTotal != nil && *f.Timeouts.HTTPTotal > 0 {
		d = time.Duration(*f.Timeouts.HTTPTotal) * time.Second
	}
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(format, args...)
	}
}

// deliver copies r to w through decompression, the size cap and
// verification. Nothing of the contents is kept in memory beyond a copy
// buffer.
func deliver(r io.Reader, w io.Writer, o Options) error {
	if o.Compression == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("%w: gzip: %v", ErrFailed, err)
		}
		defer zr.Close()
		r = zr
	}
	if l := limitOf(o); l > 0 {
		r = &capReader{r: r, left: l, err: tooLarge(o, l)}
	}
	if o.Hash == "" {
		buf := copyBufs.Get().(*[]byte)
		_, err := io.CopyBuffer(w, r, *buf)
		copyBufs.Put(buf)
		return err
	}
	h, want, err := parseHash(o.Hash)
	if err != nil {
		return err
	}
	if err := hashedCopy(w, r, h); err != nil {
		return err
	}
	if got := h.Sum(nil); string(got) != string(want) {
		return fmt.Errorf("%w: got %x, want %x", ErrHashMismatch, got, want)
	}
	return nil
}

// fill reads into b until it is full or r fails; io.EOF marks the end.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// hashedCopy copies r to w and into h. Hashing (SHA-512 runs at about the
// speed of a loopback download) happens on another goroutine, overlapped
// with reading the next chunks; a few fixed buffers bound the memory.
func hashedCopy(w io.Writer, r io.Reader, h hash.Hash) error {
	const nbuf, size = 4, 256 << 10
	free := make(chan []byte, nbuf)
	for i := 0; i < nbuf; i++ {
		free <- make([]byte, size)
	}
	full := make(chan []byte, nbuf)
	werr := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			if err == nil {
				h.Write(b)
				_, err = w.Write(b)
			}
			free <- b[:cap(b)]
		}
		werr <- err
	}()
	var rerr error
	for {
		b := <-free
		n, err := fill(r, b)
		if n > 0 {
			full <- b[:n]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(full)
	if err := <-werr; err != nil {
		return err
	}
	return rerr
}

func parseHash(s string) (hash.Hash, []byte, error) {
	fn, sum, ok := strings.Cut(s, "-")
	want, err := hex.DecodeString(sum)
	if !ok || err != nil {
		return nil, nil, fmt.Errorf("%w: malformed hash %q", ErrFailed, s)
	}
	switch {
	case fn == "sha512" && len(want) == sha512.Size:
		return sha512.New(), want, nil
	case fn == "sha256" && len(want) == sha256.Size:
		return sha256.New(), want, nil
	}
	return nil, nil, fmt.Errorf("%w: unsupported hash %q", ErrFailed, fn)
}

// Redact renders a source for logs and errors: data URLs by size only,
// other URLs without user info, query values or fragment. It is
// redact.URL, the one rule for every printer of a URL.
func Redact(source string) string { return redact.URL(source) }

// RedactHeaders renders a header list for logs: the names, every value
// hidden ("X-Token: REDACTED, X-Empty: (no value)").
func RedactHeaders(h []config.HTTPHeader) string {
	parts := make([]string, 0, len(h))
	for _, x := range h {
		v := "REDACTED"
		if x.Value == nil {
			v = "(no value)"
		}
		parts = append(parts, x.Name+": "+v)
	}
	return strings.Join(parts, ", ")
}

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

// AddCAs fetches the certificate authorities a config lists
// (ignition.security.tls.certificateAuthorities), each with its own
// verification, compression and headers and capped at
// config.MaxCABundleSize, and trusts them for https.
func (f *Fetcher) AddCAs(ctx context.Context, cas []config.Resource) error {
	for _, ca := range cas {
		src := deref(ca.Source)
		o := FromResource(ca)
		o.MaxSize = config.MaxCABundleSize
		pem, err := f.FetchBytes(ctx, src, o)
		if err != nil {
			return fmt.Errorf("certificate authority: %w", err)
		}
		if err := f.AddCA(pem); err != nil {
			return fmt.Errorf("certificate authority %s: %w", Redact(src), err)
		}
	}
	return nil
}
