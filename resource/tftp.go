package resource

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// fetchTFTP downloads over TFTP in octet mode (RFC 3617 URLs: the file name
// is the path without its leading slash). Unlike Ignition, which leaves
// retries to the library and takes 31 s to give up on a closed port
// whatever the timeout, each attempt here is short and attempts repeat with
// backoff until the fetch deadline.
func (f *Fetcher) fetchTFTP(ctx context.Context, u *url.URL, w io.Writer, o Options) error {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "69")
	}
	name := strings.TrimPrefix(u.Path, "/")
	return f.retry(ctx, "TFTP "+Redact(u.String()), func() error {
		return f.attemptTFTP(ctx, host, name, w, o)
	})
}

func (f *Fetcher) attemptTFTP(ctx context.Context, host, name string, w io.Writer, o Options) error {
	c, err := tftp.NewClient(host)
	if err != nil {
		return &attemptError{err: err, retry: true}
	}
	// Each packet waits at most 1 s (less near the deadline) and is sent
	// twice, with no pause of the library's own: our loop does the backing off.
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, max(time.Until(dl)/4, 10*time.Millisecond))
	}
	c.SetTimeout(wait)
	c.SetRetries(1)
	c.SetBackoff(func(int) time.Duration { return 0 })
	wt, err := c.Receive(name, "octet")
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "not found") {
			return fmt.Errorf("%w (%v)", ErrNotFound, err)
		}
		return &attemptError{err: err, retry: true}
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := wt.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	body := &trackedReader{r: pr, logf: f.Log, what: "TFTP " + host + "/" + name, total: -1}
	err = deliver(body, w, o)
	pr.Close()
	if err == nil {
		return nil
	}
	if body.err != nil {
		err = fmt.Errorf("transfer broke off after %d bytes: %v", body.n, body.err)
		if o.Rewind != nil && o.Rewind() == nil {
			return &attemptError{err: err, retry: true}
		}
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return err
}
