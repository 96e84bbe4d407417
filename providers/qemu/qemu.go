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
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/providers"
)

func init() { providers.Register("qemu", func() providers.Provider { return qemu{} }) }

// fwCfg is the fw_cfg directory in sysfs, unless Env.FwCfgDir says otherwise.
const fwCfg = "/sys/firmware/qemu_fw_cfg"

const entry = "by_name/opt/com.coreos/config"

type qemu struct{}

func (qemu) Init(context.Context, *providers.Env) error { return nil }

func (qemu) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	root := providers.Dir(e.FwCfgDir, fwCfg)
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		// a failure shows in the log; the entry check below decides
		e.Run(ctx, command.Cmd{Name: "modprobe", Args: []string{"qemu_fw_cfg"}})
	}
	dir := filepath.Join(root, entry)
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
// A config larger than config.MaxConfigSize is refused: from its size
// file when that says so, else after reading one byte past the cap.
func readRaw(dir string, e *providers.Env) ([]byte, error) {
	const limit = config.MaxConfigSize
	tooLarge := fmt.Errorf("fw_cfg opt/com.coreos/config: config is larger than the %d MiB limit", limit>>20)
	var size int
	if s, err := os.ReadFile(filepath.Join(dir, "size")); err == nil {
		size, _ = strconv.Atoi(strings.TrimSpace(string(s)))
	}
	if size > limit {
		return nil, tooLarge
	}
	f, err := os.Open(filepath.Join(dir, "raw"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, max(size, 4096))
	start := time.Now()
	for {
		if len(buf) > limit {
			return nil, tooLarge
		}
		if len(buf) == cap(buf) {
			// grow by doubling, but never past one byte over the cap
			nb := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(nb, buf)
			buf = nb
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
