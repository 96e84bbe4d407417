package vultr

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

// Identity reads the instance's hostname and SSH keys from the metadata
// document /v1.json ("hostname", and "public-keys", a list:
// https://www.vultr.com/metadata/).
func (p) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	return metadata.DocIdentity(ctx, e, "http://169.254.169.254/v1.json", "public-keys")
}
