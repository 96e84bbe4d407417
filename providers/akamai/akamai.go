// Package akamai reads the user data of an Akamai (Linode) instance from the
// Metadata service: a token from PUT 169.254.169.254/v1/token, then
// /v1/user-data with it, base64 and possibly gzipped; none is no config.
// The instance's label and SSH keys come from the same service.
package akamai

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("akamai", func() providers.Provider { return akamai{} }) }

const (
	base = "http://169.254.169.254/v1"
	// tokenTTL is how long a token lives, in seconds: one boot's fetch.
	tokenTTL = "3600"
)

type akamai struct{}

func (akamai) Init(context.Context, *providers.Env) error { return nil }

func (akamai) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	t, err := token(ctx, e)
	if err != nil {
		return nil, err
	}
	b, err := metadata.Fetch(ctx, e, "user data from the Akamai metadata service", base+"/user-data", resource.Options{
		Headers: []config.HTTPHeader{metadata.Header("Metadata-Token", t)},
		MaxSize: metadata.MaxEncoded,
	}, metadata.NotFoundIsEmpty)
	if err != nil {
		return nil, err
	}
	data, err := metadata.Base64(b, "Akamai user data")
	if err != nil {
		return nil, err
	}
	return metadata.MaybeGunzip(data, "Akamai user data")
}

// token gets a token for the other endpoints: PUT /v1/token.
func token(ctx context.Context, e *providers.Env) (string, error) {
	tok, err := e.Fetcher.FetchBytes(ctx, base+"/token", resource.Options{
		Method:  http.MethodPut,
		Headers: []config.HTTPHeader{metadata.Header("Metadata-Token-Expiry-Seconds", tokenTTL)},
		MaxSize: 4 << 10,
	})
	if err != nil {
		return "", errors.Join(errors.New("akamai metadata token"), err)
	}
	return strings.TrimSpace(string(tok)), nil
}
