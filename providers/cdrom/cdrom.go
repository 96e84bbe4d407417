// Package cdrom reads Azure's provisioning media: a CD-ROM (UDF, or
// iso9660 on Azure Stack) holding ovf-env.xml and, when the VM was given
// custom data, CustomData.bin.
package cdrom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/providers"
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

// CustomData waits (until ctx ends, logging every 10 s) for a CD-ROM with
// a disc whose filesystem is one of fstypes and that holds ovf-env.xml, and
// returns its CustomData.bin: nil with ErrNoConfig when there is none.
func CustomData(ctx context.Context, e *providers.Env, fstypes ...string) ([]byte, error) {
	done := e.Log.Op("reading custom data from the provisioning CD-ROM")
	start := time.Now()
	lastLog := start
	for {
		data, found, err := scan(e, fstypes)
		if found || err != nil {
			if err == nil && data == nil {
				err = providers.ErrNoConfig
				done(nil)
				return nil, err
			}
			done(err)
			return data, err
		}
		if time.Since(lastLog) >= 10*time.Second {
			e.Log.Infof("still waiting for the provisioning CD-ROM (%v)", time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("no provisioning CD-ROM after %v", time.Since(start).Round(time.Second))
			done(err)
			return nil, err
		case <-time.After(time.Second):
		}
	}
}

// scan looks at every CD-ROM drive with a disc in it.
func scan(e *providers.Env, fstypes []string) (data []byte, found bool, err error) {
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
			data, found, err = readMedia(dev, fs)
			if found || err != nil {
				return data, found, err
			}
		}
	}
	return nil, false, nil
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

// readMedia mounts dev read-only as fstype; found is true when it is the
// provisioning media (ovf-env.xml present).
func readMedia(dev, fstype string) ([]byte, bool, error) {
	mnt, err := os.MkdirTemp("", "ignition-cdrom-")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(mnt)
	if err := unix.Mount(dev, mnt, fstype, unix.MS_RDONLY, ""); err != nil {
		return nil, false, nil // not this filesystem
	}
	defer unix.Unmount(mnt, 0)
	if _, err := os.Stat(filepath.Join(mnt, "ovf-env.xml")); err != nil {
		return nil, false, nil
	}
	f, err := os.Open(filepath.Join(mnt, "CustomData.bin"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("%s: CustomData.bin: %w", dev, err)
	}
	defer f.Close()
	b, err := providers.ReadConfig(f, dev+": CustomData.bin")
	if err != nil {
		return nil, true, err
	}
	return b, true, nil
}
