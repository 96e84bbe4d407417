// Package oraclecloud reads the user data of an OCI instance from IMDS v2 at
// 169.254.169.254/opc/v2/instance/metadata/user_data (header Authorization:
// Bearer Oracle, 429 retried), base64; a 404 is no config.
package oraclecloud

import (
	"context"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("oraclecloud", func() providers.Provider { return oci{} }) }

const userData = "http://169.254.169.254/opc/v2/instance/metadata/user_data"

type oci struct{}

func (oci) Init(context.Context, *providers.Env) error { return nil }

func (oci) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	b, err := metadata.Fetch(ctx, e, "user data from the OCI instance metadata service", userData, resource.Options{
		Headers:     []config.HTTPHeader{metadata.Header("Authorization", "Bearer Oracle")},
		RetryStatus: func(code int) bool { return code == 429 }, // IMDS rate limit
		MaxSize:     metadata.MaxEncoded,
	}, metadata.NotFoundIsEmpty)
	if err != nil {
		return nil, err
	}
	return metadata.Base64(b, "OCI user_data")
}
