package metadata

import (
	"strings"
	"testing"
)

// Keys as clouds and config-drive generators give them: a string of
// lines, a list, a map of names to either; null is none; anything else is
// refused (the caller leaves it out with a warning).
func TestKeyList(t *testing.T) {
	const a, b = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA a@x", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB b@y"
	for _, c := range []struct {
		raw, want string
		ok        bool
	}{
		{`"` + a + `\n\n` + b + `\n"`, a + "|" + b, true},
		{`["` + a + `", null, "` + b + `"]`, a + "|" + b, true},
		{`{"z": "` + b + `", "a": ["` + a + `"]}`, a + "|" + b, true},
		{`null`, "", true},
		{``, "", true},
		{`5`, "", false},
		{`[5]`, "", false},
		{`{"a": 5}`, "", false},
	} {
		got, ok := KeyList([]byte(c.raw))
		if strings.Join(got, "|") != c.want || ok != c.ok {
			t.Errorf("KeyList(%s) = %q, %v; want %q, %v", c.raw, got, ok, c.want, c.ok)
		}
	}
}
