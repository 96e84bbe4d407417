// Package upcloud reads the user data of an UpCloud server from the
// metadata service at 169.254.169.254/metadata/v1/user_data (the service
// must be turned on for the server); a 404 is no config.
package upcloud

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("upcloud", func() providers.Provider { return p{} }) }

// UserData is where the metadata service serves the user data.
const UserData = "http://169.254.169.254/metadata/v1/user_data"

type p struct{}

func (p) Init(context.Context, *providers.Env) error { return nil }

func (p) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return metadata.Fetch(ctx, e, "user data from the UpCloud metadata service", UserData, resource.Options{}, metadata.NotFoundIsEmpty)
}
