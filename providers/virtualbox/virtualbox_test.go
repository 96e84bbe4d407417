package virtualbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// VBoxControl is faked at the transport boundary: the guest properties the
// host would hold (HGCM needs VirtualBox).
func TestVirtualBox(t *testing.T) {
	dmi := filepath.Join(t.TempDir(), "product_name")
	os.WriteFile(dmi, []byte("VirtualBox\n"), 0o644)
	props := map[string]string{propConfig: "eyJpZ25pdGlvbiI6e319", propEncoding: "base64"}
	fake := &command.Fake{Answer: func(c command.Cmd) (command.Result, error) {
		switch c.Args[2] {
		case "get":
			if v, ok := props[c.Args[3]]; ok {
				return command.Result{Stdout: []byte("Value: " + v + "\n")}, nil
			}
			return command.Result{Stdout: []byte("No value set!\n"), ExitCode: 2}, errors.New("exit status 2")
		case "delete":
			delete(props, c.Args[3])
		}
		return command.Result{}, nil
	}}
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}, Runner: fake}
	v := &VirtualBox{DMIProduct: dmi}
	if got, err := v.Fetch(context.Background(), e); string(got) != `{"ignition":{}}` || err != nil {
		t.Errorf("Fetch() = %q, %v; want the decoded config", got, err)
	}
	if err := v.DelConfig(context.Background(), e); err != nil || len(props) != 0 {
		t.Errorf("DelConfig() = %v, left %v; want both properties deleted", err, props)
	}
	if _, err := v.Fetch(context.Background(), e); !errors.Is(err, providers.ErrNoConfig) {
		t.Errorf("Fetch() without the property = %v; want ErrNoConfig", err)
	}
	os.WriteFile(dmi, []byte("Standard PC (Q35 + ICH9, 2009)\n"), 0o644)
	if _, err := v.Fetch(context.Background(), e); !errors.Is(err, ErrNotVirtualBox) {
		t.Errorf("Fetch() on QEMU = %v; want ErrNotVirtualBox", err)
	}
	if b, err := Decode("H4sIAAAAAAAAA6uuBQBDv6ajAgAAAA==", "gzip"); string(b) != "{}" || err != nil {
		t.Errorf("Decode(gzip) = %q, %v; want {}", b, err)
	}
}
