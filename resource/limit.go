package resource

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/ignition-go/ignition/config"
)

// tooLargeError is a source that outgrew its cap; it matches ErrTooLarge
// and ErrFailed.
type tooLargeError struct {
	what  string
	limit int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the %s limit", e.what, formatSize(e.limit))
}

func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge || target == ErrFailed }

func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limitOf is the cap of a fetch: MaxSize, else config.MaxConfigSize for a
// config; 0 means none.
func limitOf(o Options) int64 {
	if o.MaxSize > 0 {
		return o.MaxSize
	}
	if o.Config {
		return config.MaxConfigSize
	}
	return 0
}

func tooLarge(o Options, limit int64) error {
	what := "resource"
	if o.Config {
		what = "config"
	}
	return &tooLargeError{what: what, limit: limit}
}

// capReader passes at most left bytes of r; one byte more is err.
type capReader struct {
	r    io.Reader
	left int64
	err  error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, c.err
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// buffer collects contents in chunks, each about as large as what came
// before (64 KiB to 8 MiB), so that it never holds much more than the
// contents: growing one slice by doubling would, near a cap, hold up to
// twice the cap plus the garbage of every smaller copy.
type buffer struct {
	chunks [][]byte
	n      int
}

const (
	minChunk = 64 << 10
	maxChunk = 8 << 20
)

func (b *buffer) Write(p []byte) (int, error) {
	written := len(p)
	for len(p) > 0 {
		k := len(b.chunks) - 1
		if k < 0 || len(b.chunks[k]) == cap(b.chunks[k]) {
			b.chunks = append(b.chunks, make([]byte, 0, min(max(b.n, minChunk), maxChunk)))
			k++
		}
		c := b.chunks[k]
		m := copy(c[len(c):cap(c)], p)
		b.chunks[k] = c[:len(c)+m]
		b.n += m
		p = p[m:]
	}
	return written, nil
}

func (b *buffer) rewind() error { b.chunks, b.n = nil, 0; return nil }

// bytes joins the chunks (the only copy, and none for a single chunk).
func (b *buffer) bytes() []byte {
	switch len(b.chunks) {
	case 0:
		return []byte{}
	case 1:
		return b.chunks[0]
	}
	out := make([]byte, 0, b.n)
	for i, c := range b.chunks {
		out = append(out, c...)
		b.chunks[i] = nil
	}
	b.chunks = nil
	return out
}

// ReadLimited reads r to its end, failing with an error that matches
// ErrTooLarge (and names what: "config", "certificate authority bundle")
// as soon as r holds more than limit bytes; memory stays near the size
// read. It is for local sources: files, sysfs entries, CD-ROMs.
func ReadLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	var b buffer
	cr := &capReader{r: r, left: limit, err: &tooLargeError{what: what, limit: limit}}
	buf := copyBufs.Get().(*[]byte)
	_, err := io.CopyBuffer(&b, cr, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return nil, err
	}
	return b.bytes(), nil
}

// defaultUserAgent is what http(s) requests carry when Fetcher.UserAgent
// is empty: "Ignition/" and the module's version, as Ignition names itself.
var defaultUserAgent = sync.OnceValue(func() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = strings.TrimPrefix(bi.Main.Version, "v")
	}
	return "Ignition/" + v
})
