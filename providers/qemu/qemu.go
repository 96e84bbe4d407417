// Package qemu reads the config QEMU passes with
// -fw_cfg name=opt/com.coreos/config,file=…, from
// /sys/firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw (loading the
// qemu_fw_cfg module when that directory is missing); no entry is no config.
package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ignition-go/ignition/providers"
)

func init() { providers.Register("qemu", func() providers.Provider { return qemu{} }) }

// FwCfg is the fw_cfg directory in sysfs.
var FwCfg = "/sys/firmware/qemu_fw_cfg"

const entry = "by_name/opt/com.coreos/config"

type qemu struct{}

func (qemu) Init(context.Context, *providers.Env) error { return nil }

func (qemu) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if _, err := os.Stat(FwCfg); errors.Is(err, os.ErrNotExist) {
		done := e.Log.Op("loading the qemu_fw_cfg kernel module")
		out, err := exec.CommandContext(ctx, "modprobe", "qemu_fw_cfg").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("modprobe qemu_fw_cfg: %w: %s", err, strings.TrimSpace(string(out)))
		}
		done(err)
	}
	dir := filepath.Join(FwCfg, entry)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		e.Log.Infof("no fw_cfg entry opt/com.coreos/config")
		return nil, providers.ErrNoConfig
	}
	done := e.Log.Op("reading config from QEMU fw_cfg")
	b, err := readRaw(dir, e)
	done(err)
	return b, err
}

// readRaw reads the entry in large reads: the kernel re-walks the file for
// every read, so small reads make big configs quadratic (Ignition #1259).
func readRaw(dir string, e *providers.Env) ([]byte, error) {
	var size int
	if s, err := os.ReadFile(filepath.Join(dir, "size")); err == nil {
		size, _ = strconv.Atoi(strings.TrimSpace(string(s)))
	}
	f, err := os.Open(filepath.Join(dir, "raw"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, max(size, 4096))
	start := time.Now()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if time.Since(start) > 10*time.Second {
			e.Log.Warnf("reading fw_cfg is slow: %d of %d bytes after %v", len(buf), size, time.Since(start).Round(time.Second))
			start = time.Now()
		}
	}
	if size > 0 && len(buf) != size {
		return nil, fmt.Errorf("fw_cfg: read %d bytes, want %d", len(buf), size)
	}
	return buf, nil
}
