// Package aliyun reads the user data of an Alibaba Cloud ECS instance from
// the metadata service at 100.100.100.200/latest/user-data; a 404 (no user
// data) is no config.
package aliyun

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("aliyun", func() providers.Provider { return p{} }) }

// UserData is where the metadata service serves the user data.
const UserData = "http://100.100.100.200/latest/user-data"

type p struct{}

func (p) Init(context.Context, *providers.Env) error { return nil }

func (p) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return metadata.Fetch(ctx, e, "user data from the Alibaba Cloud metadata service", UserData, resource.Options{}, metadata.NotFoundIsEmpty)
}
