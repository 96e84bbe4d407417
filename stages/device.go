package stages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/providers/media"
)

// deviceWait is Ignition's wait for the ignition.config.device
// filesystem; the fetch timeout shortens it.
const deviceWait = 30 * time.Second

// readFromDevice reads a config from a labelled local device
// (ignition.config.device=<label>, ignition.config.path=<path>): it waits
// for /dev/disk/by-label/<label> (the label encoded as udev names the
// link: "a/b" is a\x2fb; up to 30 s, or the fetch timeout when
// that is shorter, saying what it waits for), mounts it read-only, nodev,
// nosuid and noexec (checked in /proc/self/mountinfo), reads the file
// (resolved beneath the mount with no symbolic link, a regular file of at
// most config.MaxConfigSize bytes: a FIFO, device or link there fails at
// once) and unmounts (detaches when busy) and removes the mount point on
// every path.
func readFromDevice(ctx context.Context, e *Engine, label, path string) ([]byte, error) {
	if label == "." || label == ".." {
		return nil, fmt.Errorf("kernel command line: ignition.config.device=%q is not a filesystem label", label)
	}
	dev := "/dev/disk/by-label/" + udevEncode(label)
	done := e.Log.Op("reading config %q from device %q", path, dev)
	b, err := func() ([]byte, error) {
		var fetchTimeout time.Duration
		if e.Fetcher != nil {
			fetchTimeout = e.Fetcher.TotalTimeout
		}
		wait := media.Bound(fetchTimeout, deviceWait)
		what := fmt.Sprintf("device %s (ignition.config.device=%s)", dev, label)
		if err := media.Wait(ctx, e.Log.Infof, what, wait, 200*time.Millisecond, func() (bool, error) {
			_, err := os.Stat(dev)
			return err == nil, nil
		}); err != nil {
			if errors.Is(err, media.ErrGaveUp) {
				return nil, fmt.Errorf("device %s did not appear within %v", dev, wait)
			}
			return nil, err
		}
		mnt, err := os.MkdirTemp("", "ignition-config-device-")
		if err != nil {
			return nil, err
		}
		run := e.runner()
		if _, err := run.Run(ctx, command.Cmd{Name: "mount", Args: []string{"-o", media.Options, "-t", "auto", dev, mnt}}); err != nil {
			// mount(8) may have been stopped (SIGTERM) after its mount
			// call: never leave that mount behind
			unix.Unmount(mnt, unix.MNT_DETACH)
			os.Remove(mnt)
			return nil, err
		}
		defer func() {
			// unmounted (detached when something keeps it busy) and
			// its mount point removed, whatever the read did
			done := e.Log.Op("unmounting %s from %s", dev, mnt)
			done(media.Unmount(mnt))
		}()
		m, err := media.Open(mnt, dev)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		e.Log.Infof("%s mounted on %s with %s", dev, mnt, m.Options)
		return m.ReadFile(path, "config", config.MaxConfigSize)
	}()
	done(err)
	return b, err
}

// udevEncode is a label as udev names its /dev/disk/by-label link
// (ID_FS_LABEL_ENC): ASCII letters, digits, "#+-.:=@_" and whole UTF-8
// characters stay; every other byte, "/" and "\" included, becomes \xNN.
func udevEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if r, n := utf8.DecodeRuneInString(s[i:]); n > 1 && r != utf8.RuneError {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("#+-.:=@_", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
		i++
	}
	return b.String()
}
