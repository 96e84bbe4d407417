package aliyun

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

const meta = "http://100.100.100.200/latest/meta-data/"

// Identity reads the instance's hostname and the key pair it was made with
// (meta-data/hostname; public-keys/<n>/openssh-key, EC2-style).
func (p) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	h, err := metadata.Text(ctx, e, meta+"hostname")
	if err != nil {
		return id, err
	}
	id.Hostname = h
	id.Keys, err = metadata.IndexedKeys(ctx, e, meta+"public-keys/")
	return id, err
}
