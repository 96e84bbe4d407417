package akamai

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

// Identity reads the instance's label (its host name) from GET
// /v1/instance and its SSH keys from GET /v1/ssh-keys, both asked for as
// JSON (the service answers text/plain unless told otherwise), with a
// token as Fetch gets one. /v1/ssh-keys maps user names to keys
// ({"users": {"root": [...], "<name>": [...]}}); the names are Linode
// account users whose profile keys Akamai's own images put in root's
// authorized_keys, not users of the instance, so every key goes to the
// distro's user (the fragment gives root nothing): root's first, then each
// account user's by name.
func (akamai) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet
	}
	t, err := token(ctx, e)
	if err != nil {
		return id, err
	}
	h := []config.HTTPHeader{metadata.Header("Metadata-Token", t), metadata.Header("Accept", "application/json")}
	var inst map[string]json.RawMessage
	if _, err := metadata.JSON(ctx, e, base+"/instance", &inst, h...); err != nil {
		return id, err
	}
	id.Hostname = metadata.String(e, base+"/instance", inst, "label")
	var keys map[string]json.RawMessage
	if _, err := metadata.JSON(ctx, e, base+"/ssh-keys", &keys, h...); err != nil {
		return id, err
	}
	var users map[string]json.RawMessage
	if raw, ok := keys["users"]; ok && string(raw) != "null" && json.Unmarshal(raw, &users) != nil {
		e.Log.Warnf("%s/ssh-keys: users is not an object; no keys from it", base)
	}
	names := make([]string, 0, len(users))
	for n := range users {
		if n != "root" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range append([]string{"root"}, names...) {
		k, ok := metadata.KeyList(users[n])
		if !ok {
			e.Log.Warnf("%s/ssh-keys: %q's keys are neither a key nor a list; left out", base, n)
		}
		id.Keys = append(id.Keys, k...)
	}
	return id, nil
}
