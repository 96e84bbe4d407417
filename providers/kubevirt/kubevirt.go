// Package kubevirt reads the user data KubeVirt attaches to a VM: a
// cloudInitNoCloud drive (label cidata, file user-data) or a
// cloudInitConfigDrive (label config-2, openstack/latest/user_data),
// whichever is found; a drive without user data is no config.
package kubevirt

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/configdrive"
)

func init() { providers.Register("kubevirt", func() providers.Provider { return kubevirt{} }) }

type kubevirt struct{}

func (kubevirt) Init(context.Context, *providers.Env) error { return nil }

func (kubevirt) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	wait := configdrive.Wait(e, 0)
	return configdrive.Race(ctx, e,
		configdrive.Source{Name: "NoCloud drive", Fetch: func(ctx context.Context) ([]byte, error) {
			return configdrive.Fetch(ctx, e, "KubeVirt NoCloud drive", wait, []string{"cidata"}, "user-data")
		}},
		configdrive.Source{Name: "config drive", Fetch: func(ctx context.Context) ([]byte, error) {
			return configdrive.Fetch(ctx, e, "KubeVirt config drive", wait, []string{"config-2", "CONFIG-2"}, "openstack/latest/user_data")
		}},
	)
}
