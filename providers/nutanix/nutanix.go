// Package nutanix reads the user data of a Nutanix instance from its
// OpenStack-style config drive (label config-2 or CONFIG-2, file
// openstack/latest/user_data); a drive without user data is no config.
package nutanix

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/configdrive"
)

func init() { providers.Register("nutanix", func() providers.Provider { return p{} }) }

type p struct{}

func (p) Init(context.Context, *providers.Env) error { return nil }

func (p) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return configdrive.Fetch(ctx, e, "Nutanix config drive", configdrive.Wait(e, 0), []string{"config-2", "CONFIG-2"}, "openstack/latest/user_data")
}
