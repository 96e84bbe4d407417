// Package blockdev knows block devices the way the disks stage needs
// them: waiting for a device with a bounded, logged wait; resolving a name
// once into a Device (node and device number); whether a device is in use
// (the kernel's refusal of an exclusive open decides; mounts, swaps and
// holders say by what); reading its GPT and a filesystem's size; and
// making the kernel see a table (BLKRRPART, else one BLKPG call per
// partition, checked against sysfs).
package blockdev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sys is where the kernel describes block devices; the zero value is the
// real machine's.
type Sys struct {
	BlockDir  string // /sys/class/block
	MountInfo string // /proc/self/mountinfo
}

// Block is the sysfs directory of block devices.
func (s Sys) Block() string {
	if s.BlockDir == "" {
		return "/sys/class/block"
	}
	return s.BlockDir
}

func (s Sys) mountInfo() string {
	if s.MountInfo == "" {
		return "/proc/self/mountinfo"
	}
	return s.MountInfo
}

// Wait waits, until timeout or ctx ends, for path to exist, logging every
// 5 s what it waits for, and returns the device node it resolves to.
func Wait(ctx context.Context, path string, timeout time.Duration, logf func(string, ...any)) (string, error) {
	deadline := time.Now().Add(timeout)
	next := time.Now().Add(5 * time.Second)
	for {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			var st unix.Stat_t
			if err := unix.Stat(real, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
				return real, nil
			} else if err == nil {
				return "", fmt.Errorf("%s is not a block device", path)
			}
		}
		now := time.Now()
		if now.After(deadline) {
			return "", fmt.Errorf("device %s did not appear within %v", path, timeout)
		}
		if now.After(next) && logf != nil {
			logf("still waiting for device %s (up to %v)", path, timeout)
			next = now.Add(5 * time.Second)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for device %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DevNum is a device's major:minor.
func DevNum(dev string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, fmt.Errorf("%s is not a block device", dev)
	}
	return st.Rdev, nil
}

// Name is the device's name under /sys/class/block (dm-0 for
// /dev/mapper/x, loop0p1 for /dev/loop0p1).
func (s Sys) Name(dev string) (string, error) { return s.sysName(dev) }

// sysName is the device's name under /sys/class/block.
func (s Sys) sysName(dev string) (string, error) {
	rdev, err := DevNum(dev)
	if err != nil {
		return "", err
	}
	link, err := os.Readlink(fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(rdev), unix.Minor(rdev)))
	if err != nil {
		return filepath.Base(dev), nil
	}
	return filepath.Base(link), nil
}

// Partitions lists the kernel's partitions of a disk: name -> number.
func (s Sys) Partitions(dev string) (map[string]int, error) {
	name, err := s.sysName(dev)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.Block(), name))
	if err != nil {
		return nil, err
	}
	parts := map[string]int{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.Block(), name, e.Name(), "partition"))
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			parts[e.Name()] = n
		}
	}
	return parts, nil
}

// IsMountPoint says whether something is mounted exactly at path (a host
// path without symlinks), from the mount table.
func (s Sys) IsMountPoint(path string) (bool, error) {
	f, err := os.Open(s.mountInfo())
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && unescapeMount(fields[4]) == path {
			return true, nil
		}
	}
	return false, sc.Err()
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// SectorSize is the logical sector size of a device (512 for files).
func SectorSize(f *os.File) int {
	if n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && n > 0 {
		return n
	}
	return 512
}

// Size is the size of a device or file in bytes.
func Size(f *os.File) (uint64, error) {
	var n uint64
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&n)))
	if errno == 0 {
		return n, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return uint64(fi.Size()), nil
}

// SyncPartitions makes the kernel's partitions of dev match table t:
// first a re-read (BLKRRPART), then, where the kernel did not follow (a
// kernel without a GPT parser for this device, or a disk with a partition
// in use), one BLKPG delete, add or resize per partition. It checks the
// result against /sys/class/block/<part>/{start,size}.
func (s Sys) SyncPartitions(dev string, t Table) error {
	f, err := os.OpenFile(dev, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if s.matches(dev, t) == nil {
		return nil // the kernel sees the table already: no re-read, no udev events
	}
	unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0) // errors: fall back to BLKPG below
	if s.matches(dev, t) == nil {
		return nil
	}
	have, err := s.kernelView(dev)
	if err != nil {
		return err
	}
	want := map[int]Partition{}
	for _, p := range t.Partitions {
		want[p.Number] = p
	}
	ss := uint64(t.SectorSize)
	for n, k := range have {
		if p, ok := want[n]; !ok || p.Start*ss/512 != k.start {
			if err := blkpg(f, unix.BLKPG_DEL_PARTITION, n, 0, 0); err != nil {
				return fmt.Errorf("removing partition %d of %s from the kernel: %w", n, dev, err)
			}
			delete(have, n)
		}
	}
	for _, p := range t.Partitions {
		start, length := int64(p.Start*ss), int64(p.Size*ss)
		k, ok := have[p.Number]
		switch {
		case !ok:
			err = blkpg(f, unix.BLKPG_ADD_PARTITION, p.Number, start, length)
		case k.size != p.Size*ss/512:
			err = blkpg(f, unix.BLKPG_RESIZE_PARTITION, p.Number, start, length)
		}
		if err != nil {
			return fmt.Errorf("telling the kernel about partition %d of %s: %w", p.Number, dev, err)
		}
	}
	return s.matches(dev, t)
}

type kpart struct{ start, size uint64 } // in 512-byte units, as sysfs has them

func (s Sys) kernelView(dev string) (map[int]kpart, error) {
	name, err := s.sysName(dev)
	if err != nil {
		return nil, err
	}
	parts, err := s.Partitions(dev)
	if err != nil {
		return nil, err
	}
	out := map[int]kpart{}
	for pname, n := range parts {
		start, err1 := readUint(filepath.Join(s.Block(), name, pname, "start"))
		size, err2 := readUint(filepath.Join(s.Block(), name, pname, "size"))
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out[n] = kpart{start, size}
	}
	return out, nil
}

// Matches checks the kernel's view of dev's partitions against t: nil
// when it sees exactly t's partitions, at their places.
func (s Sys) Matches(dev string, t Table) error { return s.matches(dev, t) }

// matches checks the kernel's view of dev against t.
func (s Sys) matches(dev string, t Table) error {
	have, err := s.kernelView(dev)
	if err != nil {
		return err
	}
	ss := uint64(t.SectorSize)
	if len(have) != len(t.Partitions) {
		return fmt.Errorf("the kernel sees %d partition(s) on %s, the table has %d", len(have), dev, len(t.Partitions))
	}
	for _, p := range t.Partitions {
		k, ok := have[p.Number]
		if !ok {
			return fmt.Errorf("the kernel does not see partition %d of %s", p.Number, dev)
		}
		if k.start != p.Start*ss/512 || k.size != p.Size*ss/512 {
			return fmt.Errorf("the kernel sees partition %d of %s at %d+%d, the table has %d+%d (512-byte sectors)", p.Number, dev, k.start, k.size, p.Start*ss/512, p.Size*ss/512)
		}
	}
	return nil
}

func readUint(p string) (uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func blkpg(f *os.File, op int32, number int, start, length int64) error {
	part := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(number)}
	arg := unix.BlkpgIoctlArg{Op: op, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 {
		return errno
	}
	return nil
}

// PartitionPath is the device node of partition n of disk dev
// (/dev/sda3, /dev/nvme0n1p3, /dev/loop0p3).
func PartitionPath(dev string, n int) string {
	if dev != "" && dev[len(dev)-1] >= '0' && dev[len(dev)-1] <= '9' {
		return fmt.Sprintf("%sp%d", dev, n)
	}
	return fmt.Sprintf("%s%d", dev, n)
}
