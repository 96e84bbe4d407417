package upcloud

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

// Identity reads the server's hostname and SSH keys from the metadata
// document /metadata/v1.json ("hostname", "public_keys").
func (p) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var doc struct {
		Hostname string   `json:"hostname"`
		Keys     []string `json:"public_keys"`
	}
	var id providers.Identity
	if _, err := metadata.JSON(ctx, e, "http://169.254.169.254/metadata/v1.json", &doc); err != nil {
		return id, err
	}
	id.Hostname = doc.Hostname
	for _, k := range doc.Keys {
		id.Keys = append(id.Keys, providers.KeyLines(k)...)
	}
	return id, nil
}
