// Package ibmcloud reads the user data of an IBM Cloud VPC instance from its
// NoCloud config drive (label cidata, file user-data), waited for up to
// 30 s as Ignition does; a drive without user data is no config.
package ibmcloud

import (
	"context"
	"time"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/configdrive"
)

func init() { providers.Register("ibmcloud", func() providers.Provider { return ibm{} }) }

const maxWait = 30 * time.Second

type ibm struct{}

func (ibm) Init(context.Context, *providers.Env) error { return nil }

func (ibm) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return configdrive.Fetch(ctx, e, "IBM Cloud config drive", configdrive.Wait(e, maxWait), []string{"cidata"}, "user-data")
}
