// Package cdrom reads Azure's provisioning media: a CD-ROM (UDF, or
// iso9660 on Azure Stack) holding ovf-env.xml and, when the VM was given
// custom data, CustomData.bin.
package cdrom

import (
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

const (
	cdromDriveStatus = 0x5326 // CDROM_DRIVE_STATUS
	cdsDiscOK        = 4
)

// Caps of the files on the provisioning CD: custom data is a config;
// ovf-env.xml carries at most Azure's 64 KiB of base64 custom data besides
// the provisioning settings.
const (
	MaxOvfEnv     = 1 << 20
	MaxCustomData = config.MaxConfigSize
)

// CustomData waits (as ReadMedia) for a CD-ROM with a disc whose
// filesystem is one of fstypes and that holds ovf-env.xml, and returns its
// CustomData.bin: nil with ErrNoConfig when there is none.
func CustomData(ctx context.Context, e *providers.Env, fstypes ...string) ([]byte, error) {
	m, err := ReadMedia(ctx, e, fstypes...)
	if err == nil && m.CustomData == nil {
		return nil, providers.ErrNoConfig
	}
	return m.CustomData, err
}

// Media is what the provisioning CD holds.
type Media struct {
	CustomData []byte // nil: none
	OvfEnv     []byte // ovf-env.xml
}

// ReadMedia waits for the provisioning CD-ROM and reads it. The wait ends
// with ctx or the fetch timeout, whichever comes first, and says what it
// waits for once and then every 10 s.
// The CD is mounted read-only, nodev, nosuid and noexec; ovf-env.xml and
// CustomData.bin are read only as regular files within their caps, and a
// symbolic link, FIFO or device in their place fails the read.
func ReadMedia(ctx context.Context, e *providers.Env, fstypes ...string) (Media, error) {
	done := e.Log.Op("reading custom data from the provisioning CD-ROM")
	var fetchTimeout time.Duration
	if e.Fetcher != nil {
		fetchTimeout = e.Fetcher.TotalTimeout
	}
	wait := media.Bound(fetchTimeout, 0)
	start := time.Now()
	var m Media
	what := fmt.Sprintf("the provisioning CD-ROM (a CD drive with a disc, %s, holding ovf-env.xml)", strings.Join(fstypes, " or "))
	err := media.Wait(ctx, e.Log.Infof, what, wait, time.Second, func() (bool, error) {
		var found bool
		var err error
		m, found, err = scan(e, fstypes)
		return found, err
	})
	if errors.Is(err, media.ErrGaveUp) {
		err = fmt.Errorf("no provisioning CD-ROM after %v: %w", time.Since(start).Round(time.Second), media.ErrGaveUp)
	}
	done(err)
	return m, err
}

// scan looks at every CD-ROM drive with a disc in it.
func scan(e *providers.Env, fstypes []string) (m Media, found bool, err error) {
	sys := providers.Dir(e.SysBlockDir, sysBlock)
	entries, _ := os.ReadDir(sys)
	for _, ent := range entries {
		name := ent.Name()
		if !isCDROM(sys, name) {
			continue
		}
		dev := filepath.Join(providers.Dir(e.DevDir, devDir), name)
		if !discReady(dev) {
			continue
		}
		for _, fs := range fstypes {
			m, found, err = readMedia(e, dev, fs)
			if found || err != nil {
				return m, found, err
			}
		}
	}
	return Media{}, false, nil
}

// isCDROM: SCSI type 5 (sr*), or the kernel's "removable" ATA CD drives.
func isCDROM(sys, name string) bool {
	if t, err := os.ReadFile(filepath.Join(sys, name, "device", "type")); err == nil && strings.TrimSpace(string(t)) == "5" {
		return true
	}
	return strings.HasPrefix(name, "sr")
}

func discReady(dev string) bool {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	st, err := unix.IoctlRetInt(fd, cdromDriveStatus)
	return err == nil && st == cdsDiscOK
}

// readMedia mounts dev as fstype (read-only, nodev, nosuid, noexec);
// found is true when it is the provisioning media: ovf-env.xml is there,
// as whatever kind of file (one that is not a regular file fails the read).
func readMedia(e *providers.Env, dev, fstype string) (Media, bool, error) {
	var m Media
	d, err := media.Mount(dev, fstype, "ignition-cdrom-")
	if err != nil {
		if errors.Is(err, media.ErrUnsafeMount) {
			return m, false, err
		}
		return m, false, nil // not this filesystem
	}
	defer d.Close()
	m.OvfEnv, err = d.ReadFile("ovf-env.xml", "ovf-env.xml", MaxOvfEnv)
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	e.Log.Infof("provisioning CD-ROM %s (%s) mounted on %s with %s", dev, fstype, d.Path, d.Options)
	if err != nil {
		return Media{}, true, err
	}
	m.CustomData, err = d.ReadFile("CustomData.bin", "config", MaxCustomData)
	if errors.Is(err, fs.ErrNotExist) {
		return m, true, nil
	}
	if err != nil {
		return Media{}, true, err
	}
	return m, true, nil
}
