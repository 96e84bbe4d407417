package hetzner

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

// Identity reads the server's hostname and SSH keys from the metadata
// service (/hetzner/v1/metadata/hostname; public-keys, a YAML list).
func (p) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	return metadata.Identity(ctx, e, "http://169.254.169.254/hetzner/v1/metadata/hostname",
		"http://169.254.169.254/hetzner/v1/metadata/public-keys", metadata.YAMLKeyList)
}
