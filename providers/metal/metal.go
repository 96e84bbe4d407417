// Package metal is bare metal: the config comes only from the kernel command
// line (ignition.config.url, or ignition.config.device and .path) or from a
// system user.ign; the platform itself holds none.
package metal

import (
	"context"

	"github.com/ignition-go/ignition/providers"
)

func init() { providers.Register("metal", func() providers.Provider { return metal{} }) }

type metal struct{}

func (metal) Init(context.Context, *providers.Env) error { return nil }
func (metal) Fetch(context.Context, *providers.Env) ([]byte, error) {
	return nil, providers.ErrNoConfig
}
