// Package virtualbox reads the config of a VirtualBox VM from its guest
// properties /Ignition/Config and /Ignition/Encoding (through VBoxControl);
// a VM without the property is no config, a machine that is not a
// VirtualBox VM is an error.
package virtualbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

func init() { providers.Register("virtualbox", func() providers.Provider { return &VirtualBox{} }) }

const (
	propConfig   = "/Ignition/Config"
	propEncoding = "/Ignition/Encoding"
	vboxcontrol  = "VBoxControl"
	dmiProduct   = "/sys/class/dmi/id/product_name"
)

// VirtualBox is the provider; DMIProduct is the file naming the product
// (default /sys/class/dmi/id/product_name).
type VirtualBox struct{ DMIProduct string }

// ErrNotVirtualBox: this machine is not a VirtualBox VM.
var ErrNotVirtualBox = errors.New("not a VirtualBox virtual machine")

func (v *VirtualBox) Init(context.Context, *providers.Env) error { return nil }

func (v *VirtualBox) check() error {
	b, err := os.ReadFile(providers.Dir(v.DMIProduct, dmiProduct))
	if err != nil || !strings.Contains(string(b), "VirtualBox") {
		return fmt.Errorf("%w (product %q)", ErrNotVirtualBox, strings.TrimSpace(string(b)))
	}
	return nil
}

// get reads a guest property: ok is false when it is not set.
func get(ctx context.Context, e *providers.Env, name string) (string, bool, error) {
	res, err := e.Run(ctx, command.Cmd{Name: vboxcontrol, Args: []string{"--nologo", "guestproperty", "get", name}, Quiet: true})
	out := string(res.Stdout)
	if strings.Contains(out, "No value set") {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("guest property %s: %w", name, err)
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Value: "); ok {
			return strings.TrimRight(v, "\r"), true, nil
		}
	}
	return "", false, fmt.Errorf("guest property %s: no value in VBoxControl's answer", name)
}

func (v *VirtualBox) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	done := e.Log.Op("reading the config from VirtualBox guest property %s", propConfig)
	data, ok, err := get(ctx, e, propConfig)
	if err != nil || !ok || data == "" {
		done(err)
		if err == nil {
			e.Log.Infof("guest property %s is not set: no config", propConfig)
			err = providers.ErrNoConfig
		}
		return nil, err
	}
	enc, _, err := get(ctx, e, propEncoding)
	if err != nil {
		done(err)
		return nil, err
	}
	b, err := Decode(data, enc)
	done(err)
	return b, err
}

// Decode turns the property into a config by /Ignition/Encoding: "" (the
// JSON itself), base64, or gzip (base64 of gzip: a property is text).
func Decode(data, enc string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "":
		return []byte(data), nil
	case "base64", "b64":
		return metadata.Base64([]byte(data), propConfig)
	case "gzip", "gz", "gzip+base64", "gz+base64":
		raw, err := metadata.Base64([]byte(data), propConfig)
		if err != nil {
			return nil, err
		}
		return metadata.Gunzip(raw, propConfig)
	}
	return nil, fmt.Errorf("%s: unsupported encoding %q", propEncoding, enc)
}

// DelConfig (ignition-rmcfg) deletes the config properties.
func (v *VirtualBox) DelConfig(ctx context.Context, e *providers.Env) error {
	if err := v.check(); err != nil {
		return err
	}
	for _, p := range []string{propConfig, propEncoding} {
		if _, err := e.Run(ctx, command.Cmd{Name: vboxcontrol, Args: []string{"--nologo", "guestproperty", "delete", p}}); err != nil {
			return fmt.Errorf("deleting guest property %s: %w", p, err)
		}
	}
	return nil
}
