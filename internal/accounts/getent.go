package accounts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ignition-go/ignition/internal/rootfs"
)

// getentPaths are where a target keeps getent.
var getentPaths = []string{"/usr/bin/getent", "/bin/getent", "/usr/sbin/getent", "/sbin/getent"}

// getentTimeout bounds one lookup: a source that needs a daemon or the
// network (sss, ldap) answers or gives up within it.
const getentTimeout = 10 * time.Second

// ChrootGetent is the target's own getent, run chrooted in the target (so
// the target's libc and NSS modules answer, as Ignition's lookups after a
// chroot do). Nil when the target has no getent: its non-file sources are
// then skipped.
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
	return func(ctx context.Context, database, key string) (string, bool, error) {
		if key == "" || strings.ContainsAny(key, ":\n\x00") || strings.HasPrefix(key, "-") {
			return "", false, nil
		}
		ctx, cancel := context.WithTimeout(ctx, getentTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, database, key)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: host}
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			line, _, _ := strings.Cut(out.String(), "\n")
			return line, line != "", nil
		case errors.As(err, &ee) && ee.ExitCode() == 2: // not found
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s %s %s (chrooted in %s): %w: %s", bin, database, key, host, err, strings.TrimSpace(errb.String()))
	}
}
