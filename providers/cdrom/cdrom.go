// Package cdrom reads Azure's provisioning media: a CD-ROM (UDF, or
// iso9660 on Azure Stack) holding ovf-env.xml and, when the VM was given
// custom data, CustomData.bin.
package cdrom

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// ReadMedia waits (until ctx ends, logging every 10 s) for the
// provisioning CD-ROM and reads it.
func ReadMedia(ctx context.Context, e *providers.Env, fstypes ...string) (Media, error) {
	done := e.Log.Op("reading custom data from the provisioning CD-ROM")
	start := time.Now()
	lastLog := start
	for {
		m, found, err := scan(e, fstypes)
		if found || err != nil {
			done(err)
			return m, err
		}
		if time.Since(lastLog) >= 10*time.Second {
			e.Log.Infof("still waiting for the provisioning CD-ROM (%v)", time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("no provisioning CD-ROM after %v", time.Since(start).Round(time.Second))
			done(err)
			return Media{}, err
		case <-time.After(time.Second):
		}
	}
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
			m, found, err = readMedia(dev, fs)
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

// readMedia mounts dev read-only as fstype; found is true when it is the
// provisioning media (ovf-env.xml present).
func readMedia(dev, fstype string) (Media, bool, error) {
	var m Media
	mnt, err := os.MkdirTemp("", "ignition-cdrom-")
	if err != nil {
		return m, false, err
	}
	defer os.Remove(mnt)
	if err := unix.Mount(dev, mnt, fstype, unix.MS_RDONLY, ""); err != nil {
		return m, false, nil // not this filesystem
	}
	defer unix.Unmount(mnt, 0)
	ovf, err := os.Open(filepath.Join(mnt, "ovf-env.xml"))
	if err != nil {
		return m, false, nil
	}
	m.OvfEnv, err = io.ReadAll(io.LimitReader(ovf, 1<<20))
	ovf.Close()
	if err != nil {
		return m, true, fmt.Errorf("%s: ovf-env.xml: %w", dev, err)
	}
	f, err := os.Open(filepath.Join(mnt, "CustomData.bin"))
	if errors.Is(err, os.ErrNotExist) {
		return m, true, nil
	}
	if err != nil {
		return m, true, fmt.Errorf("%s: CustomData.bin: %w", dev, err)
	}
	defer f.Close()
	m.CustomData, err = providers.ReadConfig(f, dev+": CustomData.bin")
	return m, true, err
}
