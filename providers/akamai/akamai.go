// Package akamai reads the user data of an Akamai (Linode) instance from the
// Metadata service: a token from PUT 169.254.169.254/v1/token, then
// /v1/user-data with it, base64 and possibly gzipped; none is no config.
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
	// tokenTTL is how long the token lives, in seconds: one boot's fetch.
	tokenTTL = "3600"
)

type akamai struct{}

func (akamai) Init(context.Context, *providers.Env) error { return nil }

func (akamai) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	tok, err := e.Fetcher.FetchBytes(ctx, base+"/token", resource.Options{
		Method:  http.MethodPut,
		Headers: []config.HTTPHeader{metadata.Header("Metadata-Token-Expiry-Seconds", tokenTTL)},
		MaxSize: 4 << 10,
	})
	if err != nil {
		return nil, errors.Join(errors.New("akamai metadata token"), err)
	}
	t := strings.TrimSpace(string(tok))
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
