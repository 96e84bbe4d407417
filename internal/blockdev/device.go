package blockdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Device is a block device resolved once: the path the config names, the
// node it leads to, and the device number the kernel knows it by. Two
// Devices are the same device when their numbers are equal, whatever
// their names.
type Device struct {
	Path string // as named
	Node string // the node, symlinks resolved
	Dev  uint64 // major:minor
}

// Resolve resolves path (a node or a link to one) into a Device.
func Resolve(path string) (Device, error) {
	node, err := filepath.EvalSymlinks(path)
	if err != nil {
		return Device{}, err
	}
	dev, err := DevNum(node)
	if err != nil {
		return Device{}, err
	}
	return Device{Path: path, Node: node, Dev: dev}, nil
}

// Same says whether d and o are one device.
func (d Device) Same(o Device) bool { return d.Dev == o.Dev }

func devString(dev uint64) string { return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev)) }

// PartitionOf says, for a partition, the device number of its disk and
// its number; ok is false for a whole disk (or any device that is not a
// partition).
func PartitionOf(dev uint64) (disk uint64, number int, ok bool) {
	dir, err := filepath.EvalSymlinks("/sys/dev/block/" + devString(dev))
	if err != nil {
		return 0, 0, false
	}
	b, err := os.ReadFile(filepath.Join(dir, "partition"))
	if err != nil {
		return 0, 0, false
	}
	number, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, 0, false
	}
	d, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "dev"))
	if err != nil {
		return 0, 0, false
	}
	var maj, min uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(d)), "%d:%d", &maj, &min); err != nil {
		return 0, 0, false
	}
	return unix.Mkdev(maj, min), number, true
}

// claim opens a block device exclusively (O_EXCL), which the kernel
// refuses with EBUSY while anything holds it: a mounted filesystem
// (whatever device number mountinfo shows for it, as btrfs's anonymous
// ones), an active swap, a RAID or device-mapper member, a btrfs
// multi-device member, an xfs external log, another exclusive opener.
// It returns true when the device is free.
func claim(name string, dev uint64) (bool, error) {
	node := "/dev/" + name
	if d, err := DevNum(node); err != nil || d != dev {
		// no node of that name for that device (a /dev without it): make
		// one of our own for the open
		dir, err := os.MkdirTemp("", "ignition-claim-")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(dir)
		node = filepath.Join(dir, "dev")
		if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(dev)); err != nil {
			return false, fmt.Errorf("making a node for %s: %w", name, err)
		}
	}
	fd, err := unix.Open(node, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EBUSY) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening %s exclusively: %w", name, err)
	}
	unix.Close(fd)
	return true, nil
}

// held is one device of a disk (the disk itself or a partition) as sysfs
// names it.
type held struct {
	name string
	dev  uint64
}

// members are the disk (or partition) dev and, for a disk, its partitions.
func (s Sys) members(dev string) ([]held, error) {
	name, err := s.sysName(dev)
	if err != nil {
		return nil, err
	}
	names := []string{name}
	parts, err := s.Partitions(dev)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for p := range parts {
		names = append(names, p)
	}
	var out []held
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(s.Block(), n, "dev"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		var maj, min uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &maj, &min); err != nil {
			return nil, fmt.Errorf("%s: device number %q: %w", n, b, err)
		}
		out = append(out, held{n, unix.Mkdev(maj, min)})
	}
	return out, nil
}

// describe says what holds one device, from what the kernel publishes:
// holders in sysfs, the mount table (by device number and by the source
// path, which names a btrfs whose mountinfo number is anonymous), swaps,
// and btrfs's device lists. "" when none of them names it.
func (s Sys) describe(h held) string {
	if holders, _ := os.ReadDir(filepath.Join(s.Block(), h.name, "holders")); len(holders) > 0 {
		return fmt.Sprintf("%s is held by %s", h.name, holders[0].Name())
	}
	if b, err := os.ReadFile(s.mountInfo()); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			fields := strings.Fields(l)
			if len(fields) < 5 {
				continue
			}
			source := ""
			for i, f := range fields {
				if f == "-" && i+2 < len(fields) {
					source = unescapeMount(fields[i+2])
					break
				}
			}
			if fields[2] == devString(h.dev) || (strings.HasPrefix(source, "/") && sameDev(source, h.dev)) {
				return fmt.Sprintf("%s is mounted at %s", h.name, unescapeMount(fields[4]))
			}
		}
	}
	if b, err := os.ReadFile("/proc/swaps"); err == nil {
		for _, l := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(l); len(f) > 0 && (filepath.Base(f[0]) == h.name || sameDev(unescapeMount(f[0]), h.dev)) {
				return fmt.Sprintf("%s is in use as swap", h.name)
			}
		}
	}
	if m, _ := filepath.Glob("/sys/fs/btrfs/*/devices/" + h.name); len(m) > 0 {
		return fmt.Sprintf("%s is a device of the mounted btrfs %s", h.name, filepath.Base(filepath.Dir(filepath.Dir(m[0]))))
	}
	return ""
}

func sameDev(path string, dev uint64) bool {
	d, err := DevNum(path)
	return err == nil && d == dev
}

// InUse says why a block device (a disk with its partitions, a partition,
// a RAID array, a LUKS volume) must not be written: mounted, active swap,
// held by another device (RAID, device mapper, a multi-device btrfs, an
// xfs external log) or opened exclusively by another program; "" when it
// is free. The kernel decides: each device is opened with O_EXCL, which
// it refuses while anything claims the device, so no filesystem is missed
// whatever name or device number the mount table gives it; the mount
// table, swaps and holders only say what holds it. A disk is free only
// when every one of its partitions is.
func (s Sys) InUse(dev string) (string, error) {
	hs, err := s.members(dev)
	if err != nil {
		return "", err
	}
	for _, h := range hs {
		if why := s.describe(h); why != "" {
			return why, nil
		}
	}
	// nothing published names a holder: the kernel's refusal still counts.
	// A disk is refused while one of its partitions is claimed, so the
	// partitions are tried first, to name the one that is held.
	var busy []string
	for i := range hs {
		h := hs[(i+1)%len(hs)] // the disk (first) last
		free, err := claim(h.name, h.dev)
		if err != nil {
			return "", err
		}
		if !free {
			busy = append(busy, h.name)
		}
	}
	if len(busy) > 0 {
		return fmt.Sprintf("%s is open exclusively by another program (the kernel refuses an exclusive open)", busy[0]), nil
	}
	return "", nil
}
