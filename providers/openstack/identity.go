package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// metaDoc is what nova's meta_data.json says of the instance's identity
// ("OpenStack format metadata",
// https://docs.openstack.org/nova/latest/user/metadata.html): the host
// name nova gives it (the server's name when a cloud leaves hostname out),
// its keypairs with their types, and, in older versions, only a map of
// keypair name to public key.
type metaDoc struct {
	Hostname   string            `json:"hostname"`
	Name       string            `json:"name"`
	PublicKeys map[string]string `json:"public_keys"`
	Keys       []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Data string `json:"data"`
	} `json:"keys"`
}

// Identity reads the host name and public SSH keys from
// openstack/latest/meta_data.json, where Fetch reads the user data: the
// attached config drive alone, else the drive or the service, whichever
// answers first. The keys belong to no named user.
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
	var doc metaDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return id, fmt.Errorf("OpenStack %s: not the documented JSON: %v", metaData, err)
	}
	id.Hostname = doc.Hostname
	if id.Hostname == "" {
		id.Hostname = doc.Name
	}
	id.Keys = doc.sshKeys()
	return id, nil
}

// sshKeys lists the SSH keypairs: from keys, in nova's order, leaving out
// x509 keypairs; from public_keys, by name, when keys is absent.
func (d metaDoc) sshKeys() []string {
	var out []string
	for _, k := range d.Keys {
		if k.Type == "" || k.Type == "ssh" {
			out = append(out, providers.KeyLines(k.Data)...)
		}
	}
	if len(d.Keys) > 0 {
		return out
	}
	names := make([]string, 0, len(d.PublicKeys))
	for n := range d.PublicKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if k := d.PublicKeys[n]; !strings.HasPrefix(strings.TrimSpace(k), "-----BEGIN") { // not an x509 certificate
			out = append(out, providers.KeyLines(k)...)
		}
	}
	return out
}
