package azure

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// Identity reads what the portal or CLI asked for when the VM was made:
// IMDS compute.osProfile.adminUsername and computerName, and the
// compute.publicKeys the admin user gets.
func (a *azure) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet
	}
	get := func(what, format string) ([]byte, error) {
		b, err := e.Fetcher.FetchBytes(ctx, imds+what+"?"+apiVersion+"&format="+format, resource.Options{
			Headers:     []config.HTTPHeader{{Name: "Metadata", Value: strp("true")}},
			RetryStatus: func(code int) bool { return code == 410 || code == 429 }, // warming up
			MaxSize:     1 << 20,
		})
		if errors.Is(err, resource.ErrNotFound) {
			return nil, nil
		}
		return b, err
	}
	u, err := get("osProfile/adminUsername", "text")
	if err != nil {
		return id, err
	}
	h, err := get("osProfile/computerName", "text")
	if err != nil {
		return id, err
	}
	id.User, id.Hostname = strings.TrimSpace(string(u)), strings.TrimSpace(string(h))
	raw, err := get("publicKeys", "json")
	if err != nil {
		return id, err
	}
	if len(raw) > 0 {
		var keys []struct {
			KeyData string `json:"keyData"`
		}
		if err := json.Unmarshal(raw, &keys); err != nil {
			return id, errors.New("IMDS publicKeys is not the documented JSON list")
		}
		for _, k := range keys {
			id.Keys = append(id.Keys, providers.KeyLines(k.KeyData)...)
		}
	}
	return id, nil
}
