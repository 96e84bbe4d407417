// Package nvidiabluefield reads the config of an NVIDIA BlueField DPU from
// the boot FIFO of the mlxbf-bootctl driver
// (/sys/bus/platform/devices/MLNXBF04:00/bootfifo); no FIFO or an empty one
// is no config.
package nvidiabluefield

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/ignition-go/ignition/providers"
)

func init() {
	providers.Register("nvidiabluefield", func() providers.Provider { return &BlueField{} })
}

const bootfifo = "/sys/bus/platform/devices/MLNXBF04:00/bootfifo"

// BlueField is the provider; FIFO is the boot FIFO (default bootfifo).
type BlueField struct{ FIFO string }

func (b *BlueField) Init(context.Context, *providers.Env) error { return nil }

func (b *BlueField) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	p := providers.Dir(b.FIFO, bootfifo)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		e.Log.Infof("no BlueField boot FIFO %s: no config", p)
		return nil, providers.ErrNoConfig
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	done := e.Log.Op("reading the config from the BlueField boot FIFO %s", p)
	data, err := providers.ReadConfig(f, p)
	done(err)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimRight(data, "\x00")
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, providers.ErrNoConfig
	}
	return data, nil
}
