package stages

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
)

// Real public keys (ssh-keygen), and one more made from n.
const (
	keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a"
	keyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2x9nK1d0fQ2m8s7qz4wXo3YkPp5lRt8a1e6Vb2cH9d"
	keyC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPCHJYef4VGjuFpg8gg6EykkjnAEBBvsvLo+52vb3Jik"
)

// edKey is a well-formed ed25519 key line numbered n.
func edKey(n int) string {
	pk := make([]byte, 32)
	binary.BigEndian.PutUint64(pk, uint64(n))
	var blob []byte
	blob = binary.BigEndian.AppendUint32(blob, 11)
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	blob = append(blob, pk...)
	return fmt.Sprintf("ssh-ed25519 %s k%d@test", base64.StdEncoding.EncodeToString(blob), n)
}

func TestRenderFragmentUnderUserConfig(t *testing.T) {
	id := providers.Identity{Hostname: "web-1", Keys: []string{keyA + " k1", keyA + " k1 again"},
		UserKeys: []providers.UserKey{{User: "alice", Key: keyB + " a"}}}
	f := renderFragment(id, fragmentSettings{user: "core"})
	if len(f.cfg.Storage.Files) != 1 || *f.cfg.Storage.Files[0].Contents.Source != "data:,web-1%0A" {
		t.Fatalf("hostname file = %+v", f.cfg.Storage.Files)
	}
	var got []string
	for _, u := range f.cfg.Passwd.Users {
		got = append(got, u.Name+"="+strings.Join(u.SSHAuthorizedKeys, ","))
	}
	if want := []string{"core=" + keyA + " k1", "alice=" + keyB + " a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("users = %v; want %v (keys deduplicated, each to its user)", got, want)
	}

	var user config.Config
	user.Ignition.Version = config.Newest.String()
	user.Passwd.Users = []config.PasswdUser{{Name: "core", SSHAuthorizedKeys: []string{keyC + " mine"}}}
	shell := "/bin/zsh"
	user.Passwd.Users = append(user.Passwd.Users, config.PasswdUser{Name: "alice", Shell: &shell})
	merged := f.under(user)
	keys := map[string][]string{}
	for _, u := range merged.Passwd.Users {
		keys[u.Name] = u.SSHAuthorizedKeys
	}
	if !reflect.DeepEqual(keys["core"], []string{keyC + " mine"}) {
		t.Errorf("core's keys = %v; want the user config's only", keys["core"])
	}
	if !reflect.DeepEqual(keys["alice"], []string{keyB + " a"}) {
		t.Errorf("alice's keys = %v; want the platform's (the user config sets none)", keys["alice"])
	}

	// an Azure admin user with no keys is still made
	f = renderFragment(providers.Identity{User: "azureuser"}, fragmentSettings{user: "core"})
	if len(f.cfg.Passwd.Users) != 1 || f.cfg.Passwd.Users[0].Name != "azureuser" {
		t.Errorf("users = %+v; want azureuser", f.cfg.Passwd.Users)
	}
	// user names the platform gives are not trusted blindly
	f = renderFragment(providers.Identity{User: "../x", Keys: []string{keyA + " k"},
		UserKeys: []providers.UserKey{{User: "root", Key: keyB + " r"}, {User: "ok_user", Key: keyC + " o"}}}, fragmentSettings{user: "core"})
	if len(f.cfg.Passwd.Users) != 1 || f.cfg.Passwd.Users[0].Name != "ok_user" {
		t.Errorf("users = %+v; want only ok_user (not ../x, not root)", f.cfg.Passwd.Users)
	}
}

// Host names reach /etc/hostname only when systemd takes them: letters,
// digits and '-' in dot-separated labels, no label starting or ending
// with '-', at most 64 characters. A longer FQDN that is valid otherwise
// gives its first label; a trailing dot after two labels is dropped.
func TestFragmentHostName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"web-1", "web-1"},
		{"li-1", "li-1"},
		{"WEB-1", "WEB-1"},
		{"os-1.novalocal", "os-1.novalocal"},
		{"ip-172-16-34-43.ec2.internal", "ip-172-16-34-43.ec2.internal"},
		{"vm-1.c.project.internal.", "vm-1.c.project.internal"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{"a.b.", "a.b"},
		{"vm-1.c." + strings.Repeat("long-project", 6) + ".internal", "vm-1"},
		// not written
		{"web_01", ""},
		{"_gateway", ""},
		{"a/b", ""},
		{"My Server", ""},
		{"web\x1b[2J", ""},
		{"-lead", ""},
		{"trail-", ""},
		{"a.-b", ""},
		{"a-.b", ""},
		{"a..b", ""},
		{".lead", ""},
		{"trail.", ""},
		{"..", ""},
		{strings.Repeat("a", 65), ""},
		{strings.Repeat("a", 70) + ".example.com", ""},
		{"ünï", ""},
		{"<!DOCTYPE html>", ""},
		{"web_01." + strings.Repeat("x", 60), ""},
	} {
		f := renderFragment(providers.Identity{Hostname: c.in}, fragmentSettings{})
		got := ""
		if len(f.cfg.Storage.Files) == 1 {
			got = strings.TrimSuffix(strings.TrimPrefix(*f.cfg.Storage.Files[0].Contents.Source, "data:,"), "%0A")
		}
		if got != c.want {
			t.Errorf("host name %q: /etc/hostname %q; want %q", c.in, got, c.want)
		}
		if c.want == "" && (len(f.summary) != 1 || !strings.Contains(f.summary[0], "skipped the host name")) {
			t.Errorf("host name %q: summary %q; want it said to be skipped", c.in, f.summary)
		}
	}
}

// Lines that are not OpenSSH public keys are left out with a warning that
// names them by fingerprint, never whole; the same key twice for a user
// is one key, whatever its comment; past providers.FragmentKeys keys the
// rest is left out with a warning.
func TestRenderFragmentKeys(t *testing.T) {
	html := strings.Split("<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n<body>the metadata service is warming up</body>\n</html>\nRetry later", "\n")
	id := providers.Identity{Keys: append(append([]string{keyA + " a"}, html...), keyA+" again", "ssh-rsa "+keyB[12:]+" mismatch", keyB+" b"),
		UserKeys: []providers.UserKey{{User: "alice", Key: keyA + " a"}}}
	f := renderFragment(id, fragmentSettings{user: "core"})
	got := map[string][]string{}
	for _, u := range f.cfg.Passwd.Users {
		got[u.Name] = u.SSHAuthorizedKeys
	}
	want := map[string][]string{"core": {keyA + " a", keyB + " b"}, "alice": {keyA + " a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("users = %q; want %q", got, want)
	}
	if len(f.warnings) != 6 || !strings.Contains(f.warnings[5], "1 more key lines") {
		t.Errorf("warnings = %q; want five named by fingerprint, then a count", f.warnings)
	}
	for _, w := range f.warnings {
		if strings.Contains(w, keyB[20:40]) || strings.Contains(w, "Service Unavailable") {
			t.Errorf("a warning shows a line itself: %q", w)
		}
	}

	// nothing valid for a user named by the platform: no user
	f = renderFragment(providers.Identity{UserKeys: []providers.UserKey{{User: "bob", Key: "<html>"}}}, fragmentSettings{user: "core"})
	if len(f.cfg.Passwd.Users) != 0 {
		t.Errorf("users = %+v; want none (bob has no key)", f.cfg.Passwd.Users)
	}

	// the key count is bounded
	var many []string
	for n := range providers.FragmentKeys + 5 {
		many = append(many, edKey(n))
	}
	f = renderFragment(providers.Identity{Keys: many}, fragmentSettings{user: "core"})
	if n := len(f.cfg.Passwd.Users[0].SSHAuthorizedKeys); n != providers.FragmentKeys || len(f.warnings) != 1 || !strings.Contains(f.warnings[0], "left out the last 5") {
		t.Errorf("%d keys, warnings %q; want %d and a warning about the last 5", n, f.warnings, providers.FragmentKeys)
	}
}

// keyLines is a DigitalOcean-style key list of n lines, each key listed
// twice, and a junk line every tenth.
func keyLines(n int) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		out = append(out, edKey(i/2))
		if i%10 == 0 {
			out = append(out, "<p>not a key</p>")
		}
	}
	return out[:n]
}

// Parse and dedupe of 120,000 lines (the issue: 19 s when dedupe was
// quadratic); the fragment itself never gets that many (the read budget),
// but its cost must stay linear.
func BenchmarkRenderFragment120k(b *testing.B) {
	id := providers.Identity{Keys: keyLines(120_000)}
	b.ReportAllocs()
	for b.Loop() {
		renderFragment(id, fragmentSettings{user: "core"})
	}
}

func TestFragmentSettings(t *testing.T) {
	w := newWorld(t, "", "")
	dir := w.e.SystemDirs[0]
	os.MkdirAll(dir, 0o755)
	s, err := w.e.fragmentSettings()
	if err != nil || s.user != "core" || s.off {
		t.Errorf("defaults = %+v, %v; want core, on", s, err)
	}
	os.WriteFile(filepath.Join(dir, "platform.conf"), []byte("ssh-keys-user=admin\nplatform-fragment=off\n"), 0o644)
	if s, err := w.e.fragmentSettings(); err != nil || s.user != "admin" || !s.off {
		t.Errorf("settings = %+v, %v", s, err)
	}
	os.WriteFile(filepath.Join(dir, "platform.conf"), []byte("ssh-keys-user=a b\n"), 0o644)
	if _, err := w.e.fragmentSettings(); err == nil {
		t.Errorf("a user name with a space was accepted")
	}
}

// slowIdentity is a platform whose metadata reads each take a while:
// reads of them are made until the context ends.
type slowIdentity struct {
	platform
	reads *int
}

func (p slowIdentity) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	for {
		select {
		case <-ctx.Done():
			return providers.Identity{}, fmt.Errorf("read %d: %w", *p.reads, ctx.Err())
		case <-time.After(20 * time.Millisecond):
			*p.reads++
		}
	}
}

// All the metadata reads of the fragment together end at the fetch
// timeout, not each one alone: a platform that answers every read slowly
// cannot hold the boot for hours.
func TestFragmentEndsAtTheFetchTimeout(t *testing.T) {
	w := newWorld(t, "", "")
	reads := 0
	w.e.Provider = slowIdentity{reads: &reads}
	w.e.Fetcher.TotalTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only a stop for a broken run
	defer cancel()
	_, err := w.e.platformFragment(ctx)
	if err == nil || !strings.Contains(err.Error(), "not read within the fetch timeout (100ms)") {
		t.Errorf("platformFragment() = %v; want it stopped at the fetch timeout", err)
	}
	if ctx.Err() != nil {
		t.Errorf("the fragment ran until the test's own stop")
	}
}
