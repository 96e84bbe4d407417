package digitalocean

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

// Identity reads the droplet's hostname and the SSH keys chosen when it
// was made (/metadata/v1/hostname, /metadata/v1/public-keys, one a line).
func (p) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	return metadata.Identity(ctx, e, "http://169.254.169.254/metadata/v1/hostname",
		"http://169.254.169.254/metadata/v1/public-keys", nil)
}
