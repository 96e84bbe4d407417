// Package vultr reads the user data of a Vultr instance from the metadata
// service at 169.254.169.254/user-data/user-data; a 404 is no config.
package vultr

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("vultr", func() providers.Provider { return p{} }) }

// UserData is where the metadata service serves the user data.
const UserData = "http://169.254.169.254/user-data/user-data"

type p struct{}

func (p) Init(context.Context, *providers.Env) error { return nil }

func (p) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return metadata.Fetch(ctx, e, "user data from the Vultr metadata service", UserData, resource.Options{}, metadata.NotFoundIsEmpty)
}
