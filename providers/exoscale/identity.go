package exoscale

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

// Identity reads the instance's hostname and SSH key from the
// CloudStack-style metadata (/1.0/meta-data/local-hostname, public-keys).
func (p) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	return metadata.Identity(ctx, e, "http://169.254.169.254/1.0/meta-data/local-hostname",
		"http://169.254.169.254/1.0/meta-data/public-keys", nil)
}
