package vmware

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// fakeRPCTool fakes vmware-rpctool at the transport boundary: the guestinfo
// variables the hypervisor would hold (the backdoor itself needs VMware).
func fakeRPCTool(vars map[string]string) *command.Fake {
	return &command.Fake{Answer: func(c command.Cmd) (command.Result, error) {
		verb, key, _ := strings.Cut(c.Args[0], " ")
		if verb == "info-set" {
			k, v, _ := strings.Cut(key, " ")
			vars[k] = v
			return command.Result{}, nil
		}
		v, ok := vars[key]
		if !ok {
			return command.Result{Stdout: []byte("No value found\n"), ExitCode: 1}, errors.New("exit status 1")
		}
		return command.Result{Stdout: []byte(v + "\n")}, nil
	}}
}

func TestVMware(t *testing.T) {
	dmi := filepath.Join(t.TempDir(), "sys_vendor")
	os.WriteFile(dmi, []byte("VMware, Inc.\n"), 0o644)
	cfg := `{"ignition":{"version":"3.4.0"}}`
	b64 := base64.StdEncoding.EncodeToString([]byte(cfg))
	gzb64 := base64.StdEncoding.EncodeToString(gz(cfg))
	ovf := `<?xml version="1.0"?><Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"><PropertySection>` +
		`<Property oe:key="guestinfo.ignition.config.data" oe:value="` + gzb64 + `"/><Property oe:key="guestinfo.ignition.config.data.encoding" oe:value="gzip+base64"/></PropertySection></Environment>`
	for _, c := range []struct {
		name string
		vars map[string]string
		want string
		err  error
	}{
		{"plain", map[string]string{keyData: cfg}, cfg, nil},
		{"base64", map[string]string{keyData: b64, keyEncoding: "base64"}, cfg, nil},
		{"b64", map[string]string{keyData: b64, keyEncoding: "b64"}, cfg, nil},
		{"gzip+base64", map[string]string{keyData: gzb64, keyEncoding: "gzip+base64"}, cfg, nil},
		{"gz+b64", map[string]string{keyData: gzb64, keyEncoding: "gz+b64"}, cfg, nil},
		{"ovf fallback", map[string]string{keyOVF: ovf}, cfg, nil},
		{"direct wins over ovf", map[string]string{keyData: `{"direct":1}`, keyOVF: ovf}, `{"direct":1}`, nil},
		{"none", map[string]string{}, "", providers.ErrNoConfig},
	} {
		e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}, Runner: fakeRPCTool(c.vars)}
		got, err := New(dmi).Fetch(context.Background(), e)
		if string(got) != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: Fetch() = %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
	if _, err := Decode("x", "rot13"); err == nil {
		t.Errorf("Decode(x, rot13) = nil error; want an unsupported encoding")
	}

	// not a VMware VM: an error, as Ignition's (fatal), and no rpctool call
	other := filepath.Join(t.TempDir(), "sys_vendor")
	os.WriteFile(other, []byte("QEMU\n"), 0o644)
	f := fakeRPCTool(map[string]string{})
	if _, err := New(other).Fetch(context.Background(), &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}, Runner: f}); !errors.Is(err, ErrNotVMware) || len(f.Ran) != 0 {
		t.Errorf("Fetch() on QEMU = %v after %v; want ErrNotVMware and no rpctool call", err, f.Lines())
	}

	// ignition-rmcfg: the data becomes base64 {}
	vars := map[string]string{keyData: cfg}
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}, Runner: fakeRPCTool(vars)}
	if err := New(dmi).DelConfig(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	got, err := New(dmi).Fetch(context.Background(), e)
	if string(got) != "{}" || err != nil {
		t.Errorf("Fetch() after DelConfig = %q, %v; want {}", got, err)
	}
}

func gz(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	zw.Close()
	return buf.Bytes()
}
