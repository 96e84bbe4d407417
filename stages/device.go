package stages

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// readFromDevice reads a config from a labelled local device
// (ignition.config.device=<label>, ignition.config.path=<path>): it waits
// up to 30 s for /dev/disk/by-label/<label>, mounts it read-only, reads the
// file and unmounts.
func readFromDevice(ctx context.Context, e *Engine, label, path string) ([]byte, error) {
	dev := filepath.Join("/dev/disk/by-label", label)
	done := e.Log.Op("reading config %s from device %s", path, dev)
	b, err := func() ([]byte, error) {
		if !waitFor(30*time.Second, func() bool { _, err := os.Stat(dev); return err == nil }) {
			return nil, fmt.Errorf("device %s did not appear within 30 s", dev)
		}
		mnt, err := os.MkdirTemp("", "ignition-config-device-")
		if err != nil {
			return nil, err
		}
		defer os.Remove(mnt)
		if out, err := exec.CommandContext(ctx, "mount", "-o", "ro", "-t", "auto", dev, mnt).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("mount %s: %w: %s", dev, err, strings.TrimSpace(string(out)))
		}
		defer exec.Command("umount", mnt).Run()
		return os.ReadFile(filepath.Join(mnt, filepath.Clean("/"+path)))
	}()
	done(err)
	return b, err
}
