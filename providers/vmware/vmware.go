// Package vmware reads the config of a VMware VM from its guestinfo
// variables ignition.config.data and ignition.config.data.encoding (through
// vmware-rpctool), falling back to the same properties in the guestinfo OVF
// environment; a VM without them is no config, a machine that is not a
// VMware VM is an error.
package vmware

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

func init() { providers.Register("vmware", func() providers.Provider { return New("") }) }

const (
	keyData     = "guestinfo.ignition.config.data"
	keyEncoding = "guestinfo.ignition.config.data.encoding"
	keyOVF      = "guestinfo.ovfEnv"
	rpctool     = "vmware-rpctool"
	dmiVendor   = "/sys/class/dmi/id/sys_vendor"
	emptyConfig = "e30=" // base64 of {}
)

// VMware is the provider; DMIVendor is the file naming the system vendor
// (default /sys/class/dmi/id/sys_vendor).
type VMware struct{ DMIVendor string }

// New returns the provider reading the vendor from dmi ("" for the real one).
func New(dmi string) *VMware { return &VMware{DMIVendor: dmi} }

// ErrNotVMware: this machine is not a VMware VM.
var ErrNotVMware = errors.New("not a VMware virtual machine")

func (v *VMware) Init(context.Context, *providers.Env) error { return nil }

func (v *VMware) check() error {
	b, err := os.ReadFile(providers.Dir(v.DMIVendor, dmiVendor))
	if err != nil || !strings.Contains(strings.ToLower(string(b)), "vmware") {
		return fmt.Errorf("%w (system vendor %q)", ErrNotVMware, strings.TrimSpace(string(b)))
	}
	return nil
}

// get reads one guestinfo variable; "" when it is not set.
func get(ctx context.Context, e *providers.Env, key string) (string, error) {
	res, err := e.Run(ctx, command.Cmd{Name: rpctool, Args: []string{"info-get " + key}, Quiet: true})
	if err != nil {
		// rpctool exits 1 with "No value found" for an unset variable
		if strings.Contains(string(res.Stdout)+string(res.Stderr), "No value found") {
			return "", nil
		}
		return "", fmt.Errorf("reading guestinfo %s: %w", key, err)
	}
	return strings.TrimRight(string(res.Stdout), "\r\n"), nil
}

func (v *VMware) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	done := e.Log.Op("reading the config from VMware guestinfo")
	b, err := v.fetch(ctx, e)
	done(err)
	return b, err
}

func (v *VMware) fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	data, err := get(ctx, e, keyData)
	if err != nil {
		return nil, err
	}
	enc := ""
	if data != "" {
		if enc, err = get(ctx, e, keyEncoding); err != nil {
			return nil, err
		}
	} else {
		ovf, err := get(ctx, e, keyOVF)
		if err != nil {
			return nil, err
		}
		props := OVFProperties([]byte(ovf))
		data, enc = props[keyData], props[keyEncoding]
		if data != "" {
			e.Log.Infof("using %s from the OVF environment", keyData)
		}
	}
	if data == "" {
		e.Log.Infof("guestinfo %s is not set: no config", keyData)
		return nil, providers.ErrNoConfig
	}
	return Decode(data, enc)
}

// Decode turns guestinfo data into a config by its encoding: "" (plain),
// base64 or b64, gzip+base64 and its spellings (gz+base64, gzip+b64,
// gz+b64); plain gzip (gzip, gz) is accepted too.
func Decode(data, enc string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "":
		return []byte(data), nil
	case "base64", "b64":
		return metadata.Base64([]byte(data), keyData)
	case "gzip+base64", "gz+base64", "gzip+b64", "gz+b64":
		raw, err := metadata.Base64([]byte(data), keyData)
		if err != nil {
			return nil, err
		}
		return metadata.Gunzip(raw, keyData)
	case "gzip", "gz":
		return metadata.Gunzip([]byte(data), keyData)
	}
	return nil, fmt.Errorf("%s: unsupported encoding %q", keyEncoding, enc)
}

// OVFProperties reads the properties of an OVF environment document
// (<Property oe:key="…" oe:value="…"/>).
func OVFProperties(doc []byte) map[string]string {
	out := map[string]string{}
	if len(doc) == 0 {
		return out
	}
	var env struct {
		Props []struct {
			Key   string `xml:"key,attr"`
			Value string `xml:"value,attr"`
		} `xml:"PropertySection>Property"`
	}
	if xml.Unmarshal(doc, &env) != nil {
		return out
	}
	for _, p := range env.Props {
		out[p.Key] = p.Value
	}
	return out
}

// DelConfig (ignition-rmcfg) overwrites the config in guestinfo with an
// empty one (base64 "{}"), so that it does not outlive the first boot.
// The OVF environment is the hypervisor's and stays as it is.
func (v *VMware) DelConfig(ctx context.Context, e *providers.Env) error {
	if err := v.check(); err != nil {
		return err
	}
	for _, kv := range [][2]string{{keyData, emptyConfig}, {keyEncoding, "base64"}} {
		if _, err := e.Run(ctx, command.Cmd{Name: rpctool, Args: []string{"info-set " + kv[0] + " " + kv[1]}}); err != nil {
			return fmt.Errorf("clearing guestinfo %s: %w", kv[0], err)
		}
	}
	return nil
}
