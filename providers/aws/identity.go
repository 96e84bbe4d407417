package aws

import (
	"context"
	"errors"
	"strings"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// Identity reads the instance's local-hostname and the OpenSSH public keys
// it was launched with (meta-data/public-keys/<n>/openssh-key); AWS names
// no user for them.
func (a *aws) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet
	}
	tok, err := token(ctx, e)
	if err != nil {
		return id, err
	}
	small := resource.Options{Headers: tokenHeader(tok), MaxSize: 64 << 10}
	h, err := e.Fetcher.FetchBytes(ctx, imds+"/latest/meta-data/local-hostname", small)
	if err != nil && !errors.Is(err, resource.ErrNotFound) {
		return id, err
	}
	id.Hostname = strings.TrimSpace(string(h))
	list, err := e.Fetcher.FetchBytes(ctx, imds+"/latest/meta-data/public-keys/", small)
	if errors.Is(err, resource.ErrNotFound) {
		return id, nil
	}
	if err != nil {
		return id, err
	}
	for _, l := range strings.Split(string(list), "\n") {
		// "0=key-name" (AWS documents this), "0/" (some emulators)
		idx, _, _ := strings.Cut(strings.TrimSpace(l), "=")
		idx = strings.TrimSuffix(idx, "/")
		if idx == "" || strings.Trim(idx, "0123456789") != "" {
			continue
		}
		k, err := e.Fetcher.FetchBytes(ctx, imds+"/latest/meta-data/public-keys/"+idx+"/openssh-key", small)
		if errors.Is(err, resource.ErrNotFound) {
			continue
		}
		if err != nil {
			return id, err
		}
		id.Keys = append(id.Keys, providers.KeyLines(string(k))...)
	}
	return id, nil
}
