package oraclecloud

import (
	"context"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
)

// Identity reads the instance's hostname and the keys given at launch
// (IMDS v2 /opc/v2/instance/: hostname, metadata.ssh_authorized_keys, one
// key a line).
func (oci) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var doc struct {
		Hostname string `json:"hostname"`
		Metadata struct {
			Keys string `json:"ssh_authorized_keys"`
		} `json:"metadata"`
	}
	var id providers.Identity
	if _, err := metadata.JSON(ctx, e, "http://169.254.169.254/opc/v2/instance/", &doc, metadata.Header("Authorization", "Bearer Oracle")); err != nil {
		return id, err
	}
	id.Hostname, id.Keys = doc.Hostname, providers.KeyLines(doc.Metadata.Keys)
	return id, nil
}
