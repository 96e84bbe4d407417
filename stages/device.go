package stages

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
)

// readFromDevice reads a config from a labelled local device
// (ignition.config.device=<label>, ignition.config.path=<path>): it waits
// up to 30 s for /dev/disk/by-label/<label>, mounts it read-only, reads the
// file (resolved inside the mount, at most config.MaxConfigSize bytes) and
// unmounts.
func readFromDevice(ctx context.Context, e *Engine, label, path string) ([]byte, error) {
	dev := filepath.Join("/dev/disk/by-label", label)
	done := e.Log.Op("reading config %q from device %q", path, dev)
	b, err := func() ([]byte, error) {
		if !waitFor(30*time.Second, func() bool { _, err := os.Stat(dev); return err == nil }) {
			return nil, fmt.Errorf("device %s did not appear within 30 s", dev)
		}
		mnt, err := os.MkdirTemp("", "ignition-config-device-")
		if err != nil {
			return nil, err
		}
		defer os.Remove(mnt)
		run := e.runner()
		if _, err := run.Run(ctx, command.Cmd{Name: "mount", Args: []string{"-o", "ro", "-t", "auto", dev, mnt}}); err != nil {
			return nil, err
		}
		defer run.Run(context.WithoutCancel(ctx), command.Cmd{Name: "umount", Args: []string{mnt}})
		f, err := os.OpenInRoot(mnt, filepath.Clean("/" + path)[1:])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, config.MaxConfigSize+1))
		if err == nil && len(b) > config.MaxConfigSize {
			return nil, fmt.Errorf("config is larger than the %d MiB limit", config.MaxConfigSize>>20)
		}
		return b, err
	}()
	done(err)
	return b, err
}
