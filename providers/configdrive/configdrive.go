// Package configdrive reads config drives: block devices that a cloud or
// hypervisor attaches with an iso9660 or vfat filesystem of a known label
// (config-2 for OpenStack, cidata for NoCloud), found by that label, mounted
// read-only and read; the wait for one is bounded and logged.
package configdrive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/media"
)

// Where block devices are listed and opened, unless Env says otherwise.
const (
	sysBlock = "/sys/class/block"
	devDir   = "/dev"
)

// DefaultWait bounds the wait for a drive when the fetch has no timeout.
const DefaultWait = media.DefaultWait

// MaxFile caps each file read from a config drive.
const MaxFile = config.MaxConfigSize

// Wait is how long a provider waits for its drive: the fetch timeout
// (-fetch-timeout), capped at max when max > 0.
func Wait(e *providers.Env, max time.Duration) time.Duration {
	var t time.Duration
	if e.Fetcher != nil {
		t = e.Fetcher.TotalTimeout
	}
	return media.Bound(t, max)
}

// Drive is a config drive that was found.
type Drive struct {
	Dev    string // /dev/sr0
	FSType string // iso9660 or vfat
	Label  string
}

// ErrNoDrive is the end of a wait that found no drive.
var ErrNoDrive = errors.New("no config drive")

// Find waits until ctx ends, and at most the fetch timeout, for a block
// device whose filesystem label is one of labels (exactly, as
// /dev/disk/by-label names it), saying once and then every 10 s what it
// waits for. It reads the labels itself, so it needs no udev.
func Find(ctx context.Context, e *providers.Env, labels ...string) (Drive, error) {
	var d Drive
	what := "a config drive labelled " + strings.Join(labels, " or ")
	start := time.Now()
	err := media.Wait(ctx, e.Log.Infof, what, Wait(e, 0), 200*time.Millisecond, func() (bool, error) {
		var ok bool
		d, ok = scan(e, labels)
		return ok, nil
	})
	if err != nil {
		return Drive{}, fmt.Errorf("%w labelled %s after %v", ErrNoDrive, strings.Join(labels, " or "), time.Since(start).Round(time.Second))
	}
	return d, nil
}

func scan(e *providers.Env, labels []string) (Drive, bool) {
	sys := providers.Dir(e.SysBlockDir, sysBlock)
	entries, _ := os.ReadDir(sys)
	for _, ent := range entries {
		name := ent.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		if sz, err := os.ReadFile(filepath.Join(sys, name, "size")); err == nil && strings.TrimSpace(string(sz)) == "0" {
			continue // an empty drive
		}
		dev := filepath.Join(providers.Dir(e.DevDir, devDir), name)
		fstype, label := Probe(dev)
		for _, l := range labels {
			if fstype != "" && label == l {
				return Drive{Dev: dev, FSType: fstype, Label: label}, true
			}
		}
	}
	return Drive{}, false
}

// Probe reads the filesystem type and label of an iso9660 or FAT
// filesystem on dev: "" when it is neither (or cannot be read).
func Probe(dev string) (fstype, label string) {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	// iso9660: the primary volume descriptor at 32 KiB: type 1, "CD001",
	// the volume identifier at byte 40 (32 characters, space padded)
	pvd := make([]byte, 80)
	if _, err := f.ReadAt(pvd, 32768); err == nil && pvd[0] == 1 && string(pvd[1:6]) == "CD001" {
		return "iso9660", strings.TrimRight(string(pvd[40:72]), " \x00")
	}
	// FAT: the boot sector's 0x55AA signature; the volume label is at 43
	// (FAT12/16) or 71 (FAT32) when the extended boot signature 0x29 is set
	bs := make([]byte, 512)
	if _, err := f.ReadAt(bs, 0); err != nil || bs[510] != 0x55 || bs[511] != 0xAA {
		return "", ""
	}
	var lab []byte
	switch {
	case string(bs[82:87]) == "FAT32" && bs[66] == 0x29:
		lab = bs[71:82]
	case bytes.HasPrefix(bs[54:62], []byte("FAT1")) && bs[38] == 0x29:
		lab = bs[43:54]
	default:
		return "", ""
	}
	l := strings.TrimRight(string(lab), " \x00")
	if l == "NO NAME" {
		l = ""
	}
	return "vfat", l
}

// Files mounts the drive read-only, nodev, nosuid and noexec and reads
// each path in it: resolved beneath the mount with no symbolic link,
// regular files only, at most MaxFile bytes each (a symbolic link, FIFO,
// device or larger file fails the read); a path the drive does not hold is
// absent from the result.
func (d Drive) Files(e *providers.Env, paths ...string) (map[string][]byte, error) {
	done := e.Log.Op("reading %s from config drive %s (%s, label %s)", strings.Join(paths, ", "), d.Dev, d.FSType, d.Label)
	out, err := d.files(e, paths)
	done(err)
	return out, err
}

func (d Drive) files(e *providers.Env, paths []string) (map[string][]byte, error) {
	m, err := media.Mount(d.Dev, d.FSType, "ignition-configdrive-")
	if err != nil {
		return nil, fmt.Errorf("mounting config drive %s (%s): %w", d.Dev, d.FSType, err)
	}
	defer m.Close()
	e.Log.Infof("config drive %s (%s) mounted on %s with %s", d.Dev, d.FSType, m.Path, m.Options)
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := m.ReadFile(p, "config", MaxFile)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[p] = b
	}
	return out, nil
}

// Fetch waits up to wait for a drive labelled with one of labels and
// returns the file path from it: ErrNoConfig when the drive does not hold
// it or it is empty. what names the drive in the log ("OpenStack config
// drive").
func Fetch(ctx context.Context, e *providers.Env, what string, wait time.Duration, labels []string, path string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	d, err := Find(cctx, e, labels...)
	if err != nil {
		return nil, err
	}
	files, err := d.Files(e, path)
	if err != nil {
		return nil, err
	}
	b, ok := files[path]
	if !ok || len(bytes.TrimSpace(b)) == 0 {
		e.Log.Infof("%s %s holds no %s: no user data", what, d.Dev, path)
		return nil, providers.ErrNoConfig
	}
	return b, nil
}

// Source is one place a provider that races several looks for its config.
type Source struct {
	Name  string
	Fetch func(ctx context.Context) ([]byte, error)
}

// Race runs every source at once; the first to return a config or
// ErrNoConfig wins and the others are cancelled, and waited for: a drive
// one of them was reading is unmounted before Race returns, never left
// mounted by a stage that exits. When every source fails the errors are
// returned together.
func Race(ctx context.Context, e *providers.Env, sources ...Source) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		name string
		b    []byte
		err  error
	}
	ch := make(chan result, len(sources))
	for _, s := range sources {
		go func() {
			b, err := s.Fetch(ctx)
			ch <- result{s.Name, b, err}
		}()
	}
	var errs []error
	for i := range sources {
		r := <-ch
		if r.err == nil || errors.Is(r.err, providers.ErrNoConfig) {
			e.Log.Infof("config source: %s", r.name)
			cancel()
			for range sources[i+1:] {
				<-ch
			}
			return r.b, r.err
		}
		if ctx.Err() == nil {
			e.Log.Warnf("%s: %v", r.name, r.err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
	}
	return nil, errors.Join(errs...)
}
