// Package digitalocean reads a droplet's user data from the metadata
// service at 169.254.169.254/metadata/v1/user-data; as in Ignition, a 404
// fails the boot rather than meaning no config.
package digitalocean

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("digitalocean", func() providers.Provider { return p{} }) }

// UserData is where the metadata service serves the user data.
const UserData = "http://169.254.169.254/metadata/v1/user-data"

type p struct{}

func (p) Init(context.Context, *providers.Env) error { return nil }

func (p) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return metadata.Fetch(ctx, e, "user data from the DigitalOcean metadata service", UserData, resource.Options{}, metadata.NotFoundIsError)
}
