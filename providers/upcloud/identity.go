package upcloud

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

// Identity reads the server's hostname and SSH keys from the metadata
// document /metadata/v1.json ("hostname", and "public_keys", a list:
// https://upcloud.com/docs/products/cloud-servers/features/metadata-service/).
func (p) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	return metadata.DocIdentity(ctx, e, "http://169.254.169.254/metadata/v1.json", "public_keys")
}
