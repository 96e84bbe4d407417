package nvidiabluefield

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

// The boot FIFO is a file here (the sysfs entry needs a BlueField DPU).
func TestBlueField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bootfifo")
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}}
	if _, err := (&BlueField{FIFO: p}).Fetch(context.Background(), e); !errors.Is(err, providers.ErrNoConfig) {
		t.Errorf("Fetch() without a FIFO = %v; want ErrNoConfig", err)
	}
	os.WriteFile(p, []byte("{\"ignition\":{}}\x00\x00"), 0o600)
	if got, err := (&BlueField{FIFO: p}).Fetch(context.Background(), e); string(got) != `{"ignition":{}}` || err != nil {
		t.Errorf("Fetch() = %q, %v; want the config without padding", got, err)
	}
}
