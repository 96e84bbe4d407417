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
	brk := breaks{last: -1}
	return f.retry(ctx, "TFTP "+Redact(u.String()), func() error {
		return f.attemptTFTP(ctx, host, name, w, o, &brk)
	})
}

// TFTP error codes (RFC 1350) that are the server's final word on a read.
const (
	tftpNotFound     = 1
	tftpAccessDenied = 2
)

// tftpErrorCode is the code of an ERROR packet the server sent, or -1.
func tftpErrorCode(err error) int {
	var code int
	if _, serr := fmt.Sscanf(err.Error(), "code: %d,", &code); serr != nil {
		return -1
	}
	return code
}

func (f *Fetcher) attemptTFTP(ctx context.Context, host, name string, w io.Writer, o Options, brk *breaks) error {
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
		switch tftpErrorCode(err) {
		case tftpNotFound:
			return fmt.Errorf("%w: TFTP server: %v", ErrNotFound, err)
		case tftpAccessDenied:
			return fmt.Errorf("%w: TFTP server: %v", ErrFailed, err)
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
		return brk.brokeOff(o, body.n, body.err)
	}
	return err
}
