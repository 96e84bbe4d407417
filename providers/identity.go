package providers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Identity is what a platform publishes about the instance for logging in:
// its host name, and public SSH keys for a user (User is empty when the
// platform names none: the distro's default user gets them).
type Identity struct {
	Hostname string
	User     string
	Keys     []string
	// UserKeys are keys the platform gives to named users (GCE's
	// "user:key" entries), in the order the platform lists them.
	UserKeys []UserKey
}

// UserKey is one key for one named user.
type UserKey struct{ User, Key string }

// Empty says whether there is nothing to render.
func (id Identity) Empty() bool {
	return id.Hostname == "" && len(id.Keys) == 0 && len(id.UserKeys) == 0
}

// IdentityProvider is a provider whose platform publishes an Identity.
// Offline it returns resource.ErrNeedNet when it needs the network.
type IdentityProvider interface {
	Identity(ctx context.Context, e *Env) (Identity, error)
}

// Fingerprint renders an authorized_keys line's key as ssh-keygen -l
// does (SHA256:<base64 of the blob's digest>), for logs: the key itself is
// not secret, but a fingerprint is what operators compare.
func Fingerprint(line string) string {
	fields := strings.Fields(line)
	for _, f := range fields {
		blob, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			blob, err = base64.RawStdEncoding.DecodeString(f)
		}
		if err != nil || len(blob) < 20 {
			continue
		}
		sum := sha256.Sum256(blob)
		return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	}
	// not a well-formed key: still name it without showing it
	if len(fields) >= 2 {
		sum := sha256.Sum256([]byte(fields[1]))
		return "text-SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	}
	return "(not a key)"
}

// KeyLines splits a list of authorized_keys lines, dropping blank lines
// and comments.
func KeyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
