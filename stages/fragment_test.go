package stages

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
)

func TestRenderFragmentUnderUserConfig(t *testing.T) {
	id := providers.Identity{Hostname: "web-1", Keys: []string{"ssh-ed25519 AAAA k1", "ssh-ed25519 AAAA k1"},
		UserKeys: []providers.UserKey{{User: "alice", Key: "ssh-ed25519 BBBB a"}}}
	f := renderFragment(id, fragmentSettings{user: "core"})
	if len(f.cfg.Storage.Files) != 1 || *f.cfg.Storage.Files[0].Contents.Source != "data:,web-1%0A" {
		t.Fatalf("hostname file = %+v", f.cfg.Storage.Files)
	}
	var got []string
	for _, u := range f.cfg.Passwd.Users {
		got = append(got, u.Name+"="+strings.Join(u.SSHAuthorizedKeys, ","))
	}
	if want := []string{"core=ssh-ed25519 AAAA k1", "alice=ssh-ed25519 BBBB a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("users = %v; want %v (keys deduplicated, each to its user)", got, want)
	}

	var user config.Config
	user.Ignition.Version = config.Newest.String()
	user.Passwd.Users = []config.PasswdUser{{Name: "core", SSHAuthorizedKeys: []string{"ssh-ed25519 CCCC mine"}}}
	shell := "/bin/zsh"
	user.Passwd.Users = append(user.Passwd.Users, config.PasswdUser{Name: "alice", Shell: &shell})
	merged := f.under(user)
	keys := map[string][]string{}
	for _, u := range merged.Passwd.Users {
		keys[u.Name] = u.SSHAuthorizedKeys
	}
	if !reflect.DeepEqual(keys["core"], []string{"ssh-ed25519 CCCC mine"}) {
		t.Errorf("core's keys = %v; want the user config's only", keys["core"])
	}
	if !reflect.DeepEqual(keys["alice"], []string{"ssh-ed25519 BBBB a"}) {
		t.Errorf("alice's keys = %v; want the platform's (the user config sets none)", keys["alice"])
	}

	// an Azure admin user with no keys is still made
	f = renderFragment(providers.Identity{User: "azureuser"}, fragmentSettings{user: "core"})
	if len(f.cfg.Passwd.Users) != 1 || f.cfg.Passwd.Users[0].Name != "azureuser" {
		t.Errorf("users = %+v; want azureuser", f.cfg.Passwd.Users)
	}
	// user names the platform gives are not trusted blindly
	f = renderFragment(providers.Identity{User: "../x", Keys: []string{"ssh-ed25519 AAAA k"},
		UserKeys: []providers.UserKey{{User: "root", Key: "ssh-ed25519 BBBB r"}, {User: "ok_user", Key: "ssh-ed25519 CCCC o"}}}, fragmentSettings{user: "core"})
	if len(f.cfg.Passwd.Users) != 1 || f.cfg.Passwd.Users[0].Name != "ok_user" {
		t.Errorf("users = %+v; want only ok_user (not ../x, not root)", f.cfg.Passwd.Users)
	}
	// a host name that is not one is not written, and the log says so
	for _, h := range []string{"a/b", "My Server", "web\x1b[2J", "-lead", "a..b", "trail.", strings.Repeat("a", 65), "ünï"} {
		f := renderFragment(providers.Identity{Hostname: h}, fragmentSettings{})
		if len(f.cfg.Storage.Files) != 0 || len(f.summary) != 1 || !strings.Contains(f.summary[0], "skipped the host name") {
			t.Errorf("host name %q: files %+v, summary %q; want it skipped", h, f.cfg.Storage.Files, f.summary)
		}
	}
	for _, h := range []string{"web-1", "li-1", "web_01", "os-1.novalocal", "ip-172-16-34-43.ec2.internal", strings.Repeat("a", 64)} {
		if f := renderFragment(providers.Identity{Hostname: h}, fragmentSettings{}); len(f.cfg.Storage.Files) != 1 {
			t.Errorf("host name %q was not rendered", h)
		}
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
