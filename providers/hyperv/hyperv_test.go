package hyperv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// pool writes KVP records as hv_kvp_daemon does: the transport boundary
// (the host side needs Hyper-V).
func pool(kv ...string) []byte {
	var b []byte
	for i := 0; i < len(kv); i += 2 {
		rec := make([]byte, recSize)
		copy(rec, kv[i])
		copy(rec[keySize:], kv[i+1])
		b = append(b, rec...)
	}
	return b
}

func TestHyperV(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		pool []byte
		want string
		err  error
	}{
		{"one key", pool("other", "x", "ignition.config", `{"a":1}`), `{"a":1}`, nil},
		{"split keys", pool("ignition.config.1", `:1}`, "ignition.config.0", `{"a"`), `{"a":1}`, nil},
		{"none", pool("other", "x"), "", providers.ErrNoConfig},
	} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.pool, 0o600)
		got, err := (&HyperV{Pool: p}).Fetch(context.Background(), &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}})
		if string(got) != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: Fetch() = %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
	if _, err := (&HyperV{Pool: filepath.Join(dir, "missing")}).Fetch(context.Background(), &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}}); err == nil {
		t.Errorf("Fetch() without a pool file = nil error; want one (not Hyper-V)")
	}
}
