package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

const metadataURL = "http://169.254.169.254/computeMetadata/v1/"

// Identity reads the instance's hostname and its SSH keys as Google's guest
// environment does: "user:key" lines from the instance's ssh-keys
// attribute, then the project's unless the instance sets
// block-project-ssh-keys to true; each key goes to the user it names. A
// key whose google-ssh comment says it expired (expireOn), or whose
// expiry cannot be read, is left out; with OS Login enabled
// (enable-oslogin true on the instance, else on the project) no key is
// taken at all: logins go through OS Login, not metadata keys. Booleans
// are read as the guest agent reads them (Go's strconv.ParseBool: 1, t,
// T, TRUE, true, True and their false forms); another value is unset.
func (gcp) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet
	}
	flavor := metadata.Header("Metadata-Flavor", "Google")
	get := func(p string) (string, error) { return metadata.Text(ctx, e, metadataURL+p, flavor) }
	flag := func(name string) (set, on bool, where string, err error) {
		for _, where := range []string{"instance", "project"} {
			v, err := get(where + "/attributes/" + name)
			if err != nil {
				return false, false, "", err
			}
			if b, perr := strconv.ParseBool(v); perr == nil {
				return true, b, where, nil
			}
		}
		return false, false, "", nil
	}
	h, err := get("instance/hostname")
	if err != nil {
		return id, err
	}
	id.Hostname = h
	if _, on, where, err := flag("enable-oslogin"); err != nil {
		return id, err
	} else if on {
		e.Log.Infof("GCE: OS Login is enabled (%s enable-oslogin); no SSH keys from metadata", where)
		return id, nil
	}
	lines, err := metadata.Lines(ctx, e, metadataURL+"instance/attributes/ssh-keys", flavor)
	if err != nil {
		return id, err
	}
	block, err := get("instance/attributes/block-project-ssh-keys")
	if err != nil {
		return id, err
	}
	if b, _ := strconv.ParseBool(block); !b {
		proj, err := metadata.Lines(ctx, e, metadataURL+"project/attributes/ssh-keys", flavor)
		if err != nil {
			return id, err
		}
		lines = append(lines, proj...)
	}
	id.UserKeys = userKeys(e, lines, time.Now())
	return id, nil
}

// userKeys reads "user:key" entries, leaving out those of another shape
// (counted in one warning) and expired keys (the first few named by
// fingerprint, the rest counted).
func userKeys(e *providers.Env, lines []string, now time.Time) []providers.UserKey {
	var out []providers.UserKey
	notUserKey, expired := 0, 0
	for _, l := range lines {
		user, key, ok := strings.Cut(l, ":")
		if !ok || user == "" || strings.ContainsAny(user, " \t") {
			notUserKey++
			continue
		}
		key = strings.TrimSpace(key)
		if err := unexpired(key, now); err != nil {
			if expired++; expired <= 5 {
				e.Log.Warnf("GCE: left out %q's key %s: %v", user, providers.Fingerprint(key), err)
			}
			continue
		}
		out = append(out, providers.UserKey{User: user, Key: key})
	}
	switch {
	case notUserKey == 1:
		e.Log.Warnf("GCE: ignoring an ssh-keys entry that is not user:key")
	case notUserKey > 1:
		e.Log.Warnf("GCE: ignoring %d ssh-keys entries that are not user:key", notUserKey)
	}
	if expired > 5 {
		e.Log.Warnf("GCE: left out %d more expired keys", expired-5)
	}
	return out
}

// unexpired checks the expiry of a key whose comment is Google's
// `google-ssh {"userName":"...","expireOn":"..."}` (keys that gcloud and
// the console add for a while); a key with another comment has none. The
// time is RFC 3339 or, as Google's docs write it, 2006-01-02T15:04:05-0700.
func unexpired(key string, now time.Time) error {
	f := strings.Fields(key)
	if len(f) < 3 || f[2] != "google-ssh" {
		return nil
	}
	_, rest, _ := strings.Cut(key, "google-ssh")
	var doc struct {
		ExpireOn string `json:"expireOn"`
	}
	if err := json.Unmarshal([]byte(rest), &doc); err != nil || doc.ExpireOn == "" {
		return errors.New("its google-ssh comment has no readable expireOn")
	}
	t, err := time.Parse(time.RFC3339, doc.ExpireOn)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05-0700", doc.ExpireOn)
	}
	if err != nil {
		return errors.New("its google-ssh expireOn is not a time")
	}
	if !now.Before(t) {
		return errors.New("it expired on " + t.UTC().Format(time.RFC3339))
	}
	return nil
}
