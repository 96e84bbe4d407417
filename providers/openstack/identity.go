package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

// Identity reads the host name and public SSH keys from
// openstack/latest/meta_data.json ("OpenStack format metadata",
// https://docs.openstack.org/nova/latest/user/metadata.html), where Fetch
// reads the user data: the attached config drive alone, else the drive or
// the service, whichever answers first. "hostname" is the host name (the
// display name, "name", is not: it may be anything); the keys are the
// "keys" keypairs of type ssh, in nova's order, or, without "keys", the
// "public_keys" map of keypair name to key (older versions), x509
// certificates left out. They belong to no named user. A field of another
// shape than nova's is left out with a warning: the rest is rendered.
func (openstack) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet // as Fetch: the fetch stage reads both
	}
	b, err := read(ctx, e, "instance metadata", metaData, resource.Options{MaxSize: 1 << 20})
	if errors.Is(err, providers.ErrNoConfig) {
		return id, nil
	}
	if err != nil {
		return id, err
	}
	providers.BudgetOf(ctx).Spend(int64(len(b)))
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		// best effort, as every metadata of the fragment
		e.Log.Warnf("OpenStack %s: not a JSON object (%v); no host name or keys from it", metaData, err)
		return id, nil
	}
	id.Hostname = metadata.String(e, metaData, doc, "hostname")
	id.Keys = sshKeys(e, doc)
	return id, nil
}

// sshKeys lists the SSH keypairs of a meta_data.json.
func sshKeys(e *providers.Env, doc map[string]json.RawMessage) []string {
	var out []string
	if raw, ok := doc["keys"]; ok && string(raw) != "null" {
		var pairs []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &pairs); err != nil {
			e.Log.Warnf("%s: keys is not a list of keypairs; left out", metaData)
		}
		for _, p := range pairs {
			typ := metadata.String(e, metaData, p, "type")
			if typ == "" || typ == "ssh" {
				out = append(out, providers.KeyLines(metadata.String(e, metaData, p, "data"))...)
			}
		}
		if len(pairs) > 0 {
			return out
		}
	}
	raw, ok := doc["public_keys"]
	if !ok {
		return out
	}
	keys, ok := metadata.KeyList(raw)
	if !ok {
		e.Log.Warnf("%s: public_keys is neither a key, a list nor a map of keys; left out", metaData)
	}
	inCert := false
	for _, k := range keys {
		// an x509 keypair's certificate, as lines
		switch {
		case strings.HasPrefix(k, "-----BEGIN"):
			inCert = true
		case strings.HasPrefix(k, "-----END"):
			inCert = false
		case !inCert:
			out = append(out, k)
		}
	}
	return out
}
