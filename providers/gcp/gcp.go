// Package gcp reads the "user-data" attribute of a GCE instance from the
// metadata server (169.254.169.254/computeMetadata/v1/instance/attributes/
// user-data, header Metadata-Flavor: Google); no attribute is no config.
package gcp

import (
	"context"
	"errors"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("gcp", func() providers.Provider { return gcp{} }) }

type gcp struct{}

const userData = "http://169.254.169.254/computeMetadata/v1/instance/attributes/user-data"

// Init makes gs:// fetches carry the VM's service-account token.
func (gcp) Init(_ context.Context, e *providers.Env) error {
	e.Fetcher.SetGCS(resource.GCSOptions{ServiceAccount: true})
	return nil
}

func (gcp) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	done := e.Log.Op("fetching user-data from the GCE metadata server")
	flavor := "Google"
	b, err := e.Fetcher.FetchBytes(ctx, userData, resource.Options{
		Headers: []config.HTTPHeader{{Name: "Metadata-Flavor", Value: &flavor}},
		Config:  true, // capped at config.MaxConfigSize
	})
	if errors.Is(err, resource.ErrNotFound) {
		done(nil)
		return nil, providers.ErrNoConfig
	}
	done(err)
	return b, err
}
