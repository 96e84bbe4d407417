package aws

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

// Identity reads the instance's local-hostname and the OpenSSH public keys
// it was launched with (meta-data/public-keys/<n>/openssh-key), with the
// IMDSv2 token; AWS names no user for them.
func (a *aws) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet
	}
	tok, err := token(ctx, e)
	if err != nil {
		return id, err
	}
	h := tokenHeader(tok)
	if id.Hostname, err = metadata.Text(ctx, e, imds+"/latest/meta-data/local-hostname", h...); err != nil {
		return id, err
	}
	id.Keys, err = metadata.IndexedKeys(ctx, e, imds+"/latest/meta-data/public-keys/", h...)
	return id, err
}
