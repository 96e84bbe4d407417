package gcp

import (
	"strings"
	"testing"
	"time"
)

// A google-ssh key's expireOn, as Google's docs and gcloud write it,
// decides whether it is taken; one that cannot be read is not.
func TestUnexpired(t *testing.T) {
	const k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a"
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		key, why string // why "" means kept
	}{
		{k, ""},
		{k + " alice@laptop", ""},
		{k + " alice@laptop google-ssh", ""}, // google-ssh is not the comment
		{k + ` google-ssh {"userName":"a@b.c","expireOn":"2026-12-03T12:00:01+0000"}`, ""},
		{k + ` google-ssh {"userName":"a@b.c","expireOn":"2027-01-01T00:00:00Z"}`, ""},
		{k + ` google-ssh {"userName":"a@b.c","expireOn":"2026-12-03T13:30:00+01:00"}`, ""},
		{k + ` google-ssh {"userName":"a@b.c","expireOn":"2026-12-03T12:00:00+0000"}`, "expired on 2026-12-03T12:00:00Z"},
		{k + ` google-ssh {"userName":"a@b.c","expireOn":"2020-01-01T00:00:00Z"}`, "expired"},
		{k + ` google-ssh {"userName":"a@b.c"}`, "no readable expireOn"},
		{k + ` google-ssh`, "no readable expireOn"},
		{k + ` google-ssh {"expireOn":`, "no readable expireOn"},
		{k + ` google-ssh {"expireOn":"tomorrow"}`, "not a time"},
	} {
		err := unexpired(c.key, now)
		if (err == nil) != (c.why == "") || err != nil && !strings.Contains(err.Error(), c.why) {
			t.Errorf("unexpired(%q) = %v; want %q", c.key[80:], err, c.why)
		}
	}
}
