package gcp

import (
	"context"
	"strings"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

const metadataURL = "http://169.254.169.254/computeMetadata/v1/"

// Identity reads the instance's hostname and its SSH keys as Google's guest
// environment does: "user:key" lines from the instance's ssh-keys
// attribute, then the project's unless the instance sets
// block-project-ssh-keys to true; each key goes to the user it names.
func (gcp) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet
	}
	get := func(p string) (string, error) {
		return metadata.Text(ctx, e, metadataURL+p, metadata.Header("Metadata-Flavor", "Google"))
	}
	h, err := get("instance/hostname")
	if err != nil {
		return id, err
	}
	id.Hostname = strings.TrimSpace(h)
	inst, err := get("instance/attributes/ssh-keys")
	if err != nil {
		return id, err
	}
	keys := inst
	block, err := get("instance/attributes/block-project-ssh-keys")
	if err != nil {
		return id, err
	}
	if strings.TrimSpace(strings.ToLower(block)) != "true" {
		proj, err := get("project/attributes/ssh-keys")
		if err != nil {
			return id, err
		}
		keys += "\n" + proj
	}
	for _, l := range providers.KeyLines(keys) {
		user, key, ok := strings.Cut(l, ":")
		if !ok || user == "" || strings.ContainsAny(user, " \t") {
			e.Log.Warnf("GCE: ignoring an ssh-keys entry that is not user:key")
			continue
		}
		id.UserKeys = append(id.UserKeys, providers.UserKey{User: user, Key: strings.TrimSpace(key)})
	}
	return id, nil
}
