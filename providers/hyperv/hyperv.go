// Package hyperv reads the config of a Hyper-V VM from the Data Exchange
// (KVP) pool 0, the pool the host writes, as hv_kvp_daemon keeps it in
// /var/lib/hyperv/.kvp_pool_0: the key ignition.config, or the keys
// ignition.config.0, .1, … concatenated; no such key is no config.
package hyperv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
)

func init() { providers.Register("hyperv", func() providers.Provider { return &HyperV{} }) }

// Record layout of a KVP pool file (the kernel's HV_KVP_EXCHANGE_MAX_*).
const (
	keySize   = 512
	valueSize = 2048
	recSize   = keySize + valueSize
	pool0     = "/var/lib/hyperv/.kvp_pool_0"
	key       = "ignition.config"
)

// HyperV is the provider; Pool is the pool file (default pool0).
type HyperV struct{ Pool string }

func (h *HyperV) Init(context.Context, *providers.Env) error { return nil }

func (h *HyperV) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	pool := providers.Dir(h.Pool, pool0)
	done := e.Log.Op("reading %s from the Hyper-V KVP pool %s", key, pool)
	b, err := os.ReadFile(pool)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("KVP pool %s does not exist (is hv_kvp_daemon running, is this Hyper-V?)", pool)
	}
	if err != nil {
		done(err)
		return nil, err
	}
	cfg, err := FromPool(b)
	done(err)
	if err == nil && cfg == nil {
		e.Log.Infof("no %s key in the KVP pool: no config", key)
		return nil, providers.ErrNoConfig
	}
	return cfg, err
}

// FromPool finds the config in a pool file's records: the value of
// ignition.config, else ignition.config.0, .1, … until one is missing.
func FromPool(b []byte) ([]byte, error) {
	if len(b)%recSize != 0 {
		return nil, fmt.Errorf("KVP pool: %d bytes is not a whole number of %d-byte records", len(b), recSize)
	}
	kv := map[string][]byte{}
	for off := 0; off < len(b); off += recSize {
		k := cstring(b[off : off+keySize])
		v := b[off+keySize : off+recSize]
		if i := bytes.IndexByte(v, 0); i >= 0 {
			v = v[:i]
		}
		kv[string(k)] = v
	}
	if v, ok := kv[key]; ok {
		return v, nil
	}
	var out []byte
	for i := 0; ; i++ {
		v, ok := kv[key+"."+strconv.Itoa(i)]
		if !ok {
			break
		}
		out = append(out, v...)
		if len(out) > config.MaxConfigSize {
			return nil, fmt.Errorf("KVP pool: config is larger than the %d MiB limit", config.MaxConfigSize>>20)
		}
	}
	return out, nil
}

func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
