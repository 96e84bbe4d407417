package gpt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ignition-go/ignition/internal/blockdev"
	"golang.org/x/sys/unix"
)

// Geometry is a disk's logical sector size and length in sectors, from
// the kernel for a device, 512-byte sectors for an image file.
func Geometry(f *os.File) (sectorSize int, sectors uint64, err error) {
	ss := blockdev.SectorSize(f)
	size, err := blockdev.Size(f)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: size: %w", f.Name(), err)
	}
	return ss, size / uint64(ss), nil
}

// Pretend is Prepare on an open disk: the table c would leave (nil when c
// only zaps), nothing written.
func Pretend(f *os.File, c Change) (*Table, error) {
	ss, n, err := Geometry(f)
	if err != nil {
		return nil, err
	}
	t, _, err := Prepare(f, ss, n, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return t, nil
}

// Apply carries c out on the disk or image f, opened read-write: the zap,
// then the table, then one fsync. It returns the table written (nil when
// c only zaps). Nothing is written when c cannot be carried out whole.
func Apply(f *os.File, c Change) (*Table, error) {
	ss, n, err := Geometry(f)
	if err != nil {
		return nil, err
	}
	t, zap, err := Prepare(f, ss, n, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	for _, r := range zap {
		zero := make([]byte, (r[1]-r[0]+1)*uint64(ss))
		if _, err := f.WriteAt(zero, int64(r[0])*int64(ss)); err != nil {
			return nil, fmt.Errorf("%s: zeroing sectors %d-%d: %w", f.Name(), r[0], r[1], err)
		}
	}
	if t != nil {
		if err := t.Write(f); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return t, nil
}

// Blockdev is the table in blockdev's terms (used entries by number).
func (t *Table) Blockdev() blockdev.Table {
	bt := blockdev.Table{SectorSize: t.SectorSize, Sectors: t.Sectors, FirstUsable: t.FirstUsable, LastUsable: t.LastUsable, GPT: true}
	for i, e := range t.Entries {
		if !e.Used() {
			continue
		}
		bt.Partitions = append(bt.Partitions, blockdev.Partition{
			Number: i + 1, Start: e.First, Size: e.Size(),
			Type: e.Type.String(), GUID: e.GUID.String(), Label: e.Label(),
		})
	}
	return bt
}

// Tell makes the kernel see table t on disk node (BLKRRPART, else one
// BLKPG call per changed partition, checked against sysfs: see
// blockdev.Sys.SyncPartitions), then waits, at most timeout, for each
// partition's device node to exist with the device number sysfs gives it
// (devtmpfs makes them; no udev settle, so unrelated events are not
// waited for). Symlinks under /dev/disk are udev's and are not waited for.
func Tell(ctx context.Context, sys blockdev.Sys, node string, t blockdev.Table, timeout time.Duration) error {
	if err := sys.SyncPartitions(node, t); err != nil {
		return err
	}
	return WaitNodes(ctx, sys, node, timeout)
}

// WaitNodes waits, at most timeout, until every partition the kernel has
// of disk node has its node in /dev (devtmpfs) with the right device
// number.
func WaitNodes(ctx context.Context, sys blockdev.Sys, node string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing, err := missingNodes(sys, node)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("partitions of %s: no device node after %s: %s", node, timeout, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions of %s: waiting for device nodes: %w", node, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// missingNodes lists the kernel's partitions of node whose /dev node is
// not there yet (or is another device).
func missingNodes(sys blockdev.Sys, node string) ([]string, error) {
	parts, err := sys.Partitions(node)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", node, err)
	}
	name, err := sys.Name(node)
	if err != nil {
		return nil, err
	}
	var missing []string
	for pname := range parts {
		b, err := os.ReadFile(filepath.Join(sys.Block(), name, pname, "dev"))
		if err != nil {
			missing = append(missing, pname) // the kernel is still adding it
			continue
		}
		var maj, min uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &maj, &min); err != nil {
			return nil, fmt.Errorf("partition %s: sysfs dev %q", pname, b)
		}
		var st unix.Stat_t
		path := filepath.Join(filepath.Dir(node), pname)
		if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != unix.Mkdev(maj, min) {
			missing = append(missing, path)
		}
	}
	return missing, nil
}
