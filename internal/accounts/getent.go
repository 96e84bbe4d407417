package accounts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ignition-go/ignition/internal/rootfs"
)

// getentPaths are where a target keeps getent.
var getentPaths = []string{"/usr/bin/getent", "/bin/getent", "/usr/sbin/getent", "/sbin/getent"}

// getentTimeout bounds one lookup: a source that needs a daemon or the
// network (sss, ldap) answers or gives up within it.
const getentTimeout = 10 * time.Second

// getentMaxOutput bounds what one lookup may print (one passwd or group
// line; a group of many thousand members is well under it).
const getentMaxOutput = 1 << 20

// errGaveUp answers every lookup after one that timed out or printed too
// much: the target's NSS is not asked again in this run (each lookup
// would wait as long).
var errGaveUp = errors.New("gave up on the target's getent after an earlier lookup timed out or printed too much")

// ChrootGetent is the target's own getent, run chrooted in the target (so
// the target's libc and NSS modules answer, as Ignition's lookups after a
// chroot do). Nil when the target has no getent: its non-file sources are
// then skipped. Each run is bounded: getentTimeout, after which its whole
// process group is killed (a child keeping the output open included), and
// getentMaxOutput bytes of output; after a timeout, later lookups are not
// made.
func ChrootGetent(root *rootfs.Root) Getent {
	bin := ""
	for _, p := range getentPaths {
		// its directory resolved inside the root; exec resolves a link to
		// it after the chroot, there too
		if k, _, err := root.Lstat(p); err == nil && (k == rootfs.Regular || k == rootfs.Symlink) {
			bin = p
			break
		}
	}
	if bin == "" {
		return nil
	}
	host, err := root.HostPath("/")
	if err != nil {
		return nil
	}
	var mu sync.Mutex
	gaveUp := false
	return func(ctx context.Context, database, key string) (string, bool, error) {
		if key == "" || strings.ContainsAny(key, ":\n\x00") || strings.HasPrefix(key, "-") {
			return "", false, nil
		}
		mu.Lock()
		defer mu.Unlock()
		if gaveUp {
			return "", false, errGaveUp
		}
		tctx, cancel := context.WithTimeout(ctx, getentTimeout)
		defer cancel()
		cmd := exec.CommandContext(tctx, bin, database, key)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: host, Setpgid: true}
		cmd.Cancel = func() error {
			// the whole group: a child holding the output open too
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		// a process that left the group and holds the output open is not
		// waited for past this
		cmd.WaitDelay = time.Second
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
		out := &capped{max: getentMaxOutput, stop: cancel}
		errb := &capped{max: 4096, stop: cancel}
		cmd.Stdout, cmd.Stderr = out, errb
		err := cmd.Run()
		if cmd.Process != nil {
			// what is left of its group once it has ended
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		var ee *exec.ExitError
		switch {
		case out.over || errb.over:
			gaveUp = true
			return "", false, fmt.Errorf("%s %s %s (chrooted in %s) printed more than %d bytes; gave up on it for this run", bin, database, key, host, getentMaxOutput)
		case tctx.Err() != nil && ctx.Err() == nil:
			gaveUp = true
			return "", false, fmt.Errorf("%s %s %s (chrooted in %s) did not answer within %v; gave up on it for this run", bin, database, key, host, getentTimeout)
		case err == nil:
			line, _, _ := strings.Cut(out.String(), "\n")
			return line, line != "", nil
		case errors.As(err, &ee) && ee.ExitCode() == 2: // not found
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s %s %s (chrooted in %s): %w: %s", bin, database, key, host, err, strings.TrimSpace(errb.String()))
	}
}

// capped keeps up to max bytes and fails the write past it (the program
// is stopped). It is no io.ReaderFrom, so io.Copy goes through Write.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
	stop func()
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max {
		c.over = true
		if c.stop != nil {
			c.stop()
		}
		return 0, errors.New("output too long")
	}
	return c.buf.Write(p)
}

func (c *capped) String() string { return c.buf.String() }
