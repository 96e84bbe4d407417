// Package exoscale reads the user data of an Exoscale instance from the
// metadata server at 169.254.169.254/1.0/user-data; a 404 is no config.
package exoscale

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("exoscale", func() providers.Provider { return p{} }) }

// UserData is where the metadata service serves the user data.
const UserData = "http://169.254.169.254/1.0/user-data"

type p struct{}

func (p) Init(context.Context, *providers.Env) error { return nil }

func (p) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return metadata.Fetch(ctx, e, "user data from the Exoscale metadata server", UserData, resource.Options{}, metadata.NotFoundIsEmpty)
}
