// Package azurestack reads the custom data Azure Stack puts on the
// provisioning CD-ROM (UDF or iso9660, with ovf-env.xml): CustomData.bin.
package azurestack

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/cdrom"
)

func init() { providers.Register("azurestack", func() providers.Provider { return azurestack{} }) }

type azurestack struct{}

func (azurestack) Init(context.Context, *providers.Env) error { return nil }

func (azurestack) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if e.Fetcher.Offline {
		return nil, errNeedNetOffline
	}
	return cdrom.CustomData(ctx, e, "udf", "iso9660")
}
