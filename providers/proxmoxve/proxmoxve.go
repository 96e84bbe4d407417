// Package proxmoxve reads the config Proxmox VE puts on the VM's NoCloud
// drive (label cidata): user-data when it holds an Ignition config (JSON),
// else vendor-data when that does; a drive with neither (Proxmox writes a
// #cloud-config user-data by default) is no config.
package proxmoxve

import (
	"bytes"
	"context"
	"time"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/configdrive"
)

func init() { providers.Register("proxmoxve", func() providers.Provider { return pve{} }) }

type pve struct{}

func (pve) Init(context.Context, *providers.Env) error { return nil }

func (pve) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	wait := configdrive.Wait(e, 0)
	e.Log.Infof("waiting up to %v for the Proxmox VE cloud-init drive (label cidata)", wait)
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	d, err := configdrive.Find(cctx, e, "cidata")
	if err != nil {
		return nil, err
	}
	e.Log.Infof("found %s after %v", d.Dev, time.Since(start).Round(time.Millisecond))
	files, err := d.Files(e, "user-data", "vendor-data")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"user-data", "vendor-data"} {
		if b := files[name]; isIgnition(b) {
			e.Log.Infof("using %s from %s", name, d.Dev)
			return b, nil
		}
		if _, ok := files[name]; ok {
			e.Log.Infof("%s on %s is not an Ignition config (JSON); skipping it", name, d.Dev)
		}
	}
	return nil, providers.ErrNoConfig
}

// isIgnition: an Ignition config is a JSON object; cloud-init's user data
// is YAML (#cloud-config) or a script.
func isIgnition(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(b), []byte("{"))
}
