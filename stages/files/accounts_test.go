package files

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/resource"
)

func TestCrypttabWith(t *testing.T) {
	vols := []CryptVolume{{Name: "data"}, {Name: "logs"}}
	lines := []string{"data UUID=2 none luks,x-initrd.attach", "logs UUID=3 none luks,x-initrd.attach"}
	for _, c := range []struct{ old, want string }{
		{"", "data UUID=2 none luks,x-initrd.attach\nlogs UUID=3 none luks,x-initrd.attach\n"},
		{"# header\nswap UUID=1 /dev/urandom swap", "# header\nswap UUID=1 /dev/urandom swap\ndata UUID=2 none luks,x-initrd.attach\nlogs UUID=3 none luks,x-initrd.attach\n"},
		{"data UUID=old /etc/luks/data luks\nswap UUID=1 none swap\nlogs UUID=old none luks\n", "swap UUID=1 none swap\ndata UUID=2 none luks,x-initrd.attach\nlogs UUID=3 none luks,x-initrd.attach\n"},
		{"  data\tUUID=old none luks\n", "data UUID=2 none luks,x-initrd.attach\nlogs UUID=3 none luks,x-initrd.attach\n"},
		// CRLF lines, a name that starts another's, comments naming it
		{"data2 UUID=9 none luks\r\ndata UUID=old none luks\r\n#data UUID=x none luks\r\n# data\r\n", "data2 UUID=9 none luks\r\n#data UUID=x none luks\r\n# data\r\ndata UUID=2 none luks,x-initrd.attach\nlogs UUID=3 none luks,x-initrd.attach\n"},
	} {
		if got := crypttabWith(c.old, vols, lines); got != c.want {
			t.Errorf("crypttabWith(%q) = %q; want %q", c.old, got, c.want)
		}
	}
}

func TestFragmentOnly(t *testing.T) {
	users := func(names ...string) config.Config {
		var c config.Config
		for _, n := range names {
			c.Passwd.Users = append(c.Passwd.Users, config.PasswdUser{Name: n})
		}
		return c
	}
	got := FragmentOnly(users("core", "alice", "bob", "carol"), "core", users("alice"), users("bob"))
	want := []FragmentUser{{Name: "core", Distro: true}, {Name: "carol"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FragmentOnly = %+v; want %+v", got, want)
	}
}

// Users only the platform fragment names are checked against the target
// in the plan: the system accounts are dropped with a warning (no
// usermod, no keys), a new user is made, and the distro's user is not
// held to UID_MIN.
func TestPlatformUsersOnlyLoginAccounts(t *testing.T) {
	needRoot(t)
	root := testenv.NewRoot(t, testenv.Flatcar)
	run := &command.Fake{}
	l := &testLog{}
	cfg := parse(t, `{"ignition":{"version":"3.6.0"},"passwd":{"users":[
	  {"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAAcore"]},
	  {"name":"operator","sshAuthorizedKeys":["ssh-ed25519 AAAAop"]},
	  {"name":"nobody","sshAuthorizedKeys":["ssh-ed25519 AAAAnb"]},
	  {"name":"newbie","sshAuthorizedKeys":["ssh-ed25519 AAAAnew"]},
	  {"name":"squatted","sshAuthorizedKeys":["ssh-ed25519 AAAAsq"]}]}}`)
	os.MkdirAll(filepath.Join(root, "home/squatted"), 0o755)
	os.Chown(filepath.Join(root, "home/squatted"), 4321, 4321)
	err := Apply(context.Background(), cfg, Options{Root: root, Fetcher: &resource.Fetcher{}, Log: l, Runner: run,
		FragmentUsers: []FragmentUser{{Name: "core", Distro: true}, {Name: "operator"}, {Name: "nobody"}, {Name: "newbie"}, {Name: "squatted"}}})
	// newbie is "made" by the fake useradd, so its keys cannot be written
	if err == nil || !strings.Contains(err.Error(), `user "newbie": SSH keys: not found`) {
		t.Fatalf("Apply = %v; want only newbie's keys to fail (the fake useradd makes nobody)", err)
	}
	ran := strings.Join(run.Lines(), "\n")
	if !strings.Contains(ran, "useradd") || strings.Contains(ran, "operator") || strings.Contains(ran, "nobody") || strings.Contains(ran, "squatted") {
		t.Errorf("ran:\n%s\nwant useradd for newbie only", ran)
	}
	logs := strings.Join(l.lines, "\n")
	for _, u := range []string{"operator", "nobody", "squatted"} {
		if !strings.Contains(logs, `WARN platform metadata: user "`+u+`" skipped`) {
			t.Errorf("no warning for %s:\n%s", u, logs)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "home/core/.ssh/authorized_keys.d/ignition")); err != nil || string(b) != "ssh-ed25519 AAAAcore\n" {
		t.Errorf("core's keys = %q, %v", b, err)
	}
	for _, p := range []string{"root/.ssh", "var/empty/.ssh"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s was made for a system account", p)
		}
	}
}

// A metadata user named like a group the config makes (or the target has)
// is skipped with a warning: useradd would fail on the group, and the
// plan's refusal of such a user would fail the boot because of metadata.
func TestPlatformUserNamedLikeAGroup(t *testing.T) {
	needRoot(t)
	root := testenv.NewRoot(t, testenv.FedoraCoreOS)
	run := &command.Fake{}
	l := &testLog{}
	cfg := parse(t, `{"ignition":{"version":"3.6.0"},"passwd":{
	  "groups":[{"name":"builders"}],
	  "users":[{"name":"builders","sshAuthorizedKeys":["ssh-ed25519 AAAAb"]},{"name":"wheel","sshAuthorizedKeys":["ssh-ed25519 AAAAw"]}]}}`)
	err := Apply(context.Background(), cfg, Options{Root: root, Fetcher: &resource.Fetcher{}, Log: l, Runner: run,
		FragmentUsers: []FragmentUser{{Name: "builders"}, {Name: "wheel"}}})
	if err != nil {
		t.Fatalf("Apply = %v; want the metadata users skipped, not the plan failed", err)
	}
	logs := strings.Join(l.lines, "\n")
	for _, u := range []string{"builders", "wheel"} {
		if !strings.Contains(logs, `WARN platform metadata: user "`+u+`" skipped`) {
			t.Errorf("no warning for %s:\n%s", u, logs)
		}
	}
	if ran := strings.Join(run.Lines(), "\n"); strings.Contains(ran, "useradd") {
		t.Errorf("ran:\n%s\nwant no useradd", ran)
	}
}

// A new metadata user whose home path goes through a symlink to nothing
// is skipped (the plan refuses such a home for a config's user).
func TestPlatformUserHomeThroughDanglingLink(t *testing.T) {
	needRoot(t)
	root := testenv.NewRoot(t, testenv.Debian)
	os.Remove(filepath.Join(root, "home"))
	os.Symlink("var/home", filepath.Join(root, "home"))
	l := &testLog{}
	cfg := parse(t, `{"ignition":{"version":"3.6.0"},"passwd":{"users":[{"name":"newbie","sshAuthorizedKeys":["ssh-ed25519 AAAAn"]}]}}`)
	err := Apply(context.Background(), cfg, Options{Root: root, Fetcher: &resource.Fetcher{}, Log: l, Runner: &command.Fake{},
		FragmentUsers: []FragmentUser{{Name: "newbie"}}})
	if err != nil {
		t.Fatalf("Apply = %v; want the metadata user skipped", err)
	}
	if logs := strings.Join(l.lines, "\n"); !strings.Contains(logs, `user "newbie" skipped`) || !strings.Contains(logs, "symlink to nothing") {
		t.Errorf("no warning for newbie:\n%s", logs)
	}
}
