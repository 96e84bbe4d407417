package platforms

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// The files stage and the target's accounts, through the real binary, on
// fixture roots laid out like the images users run (internal/testenv:
// Debian with /etc/skel; Fedora CoreOS with nss-altfiles, /home a link to
// var/home; Flatcar with nss-usrfiles, core in /usr/share/baselayout).

// fixtureMachine is a machine whose root is a fixture root.
func fixtureMachine(t *testing.T, kind testenv.RootKind) *machine {
	t.Helper()
	needRootForFiles(t)
	needTools(t, "useradd")
	m := newMachine(t)
	testenv.WriteRoot(t, m.root, kind)
	return m
}

// owner says a path's mode, uid and gid.
func owner(t *testing.T, p string) (os.FileMode, uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("%v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode(), st.Uid, st.Gid
}

// home is where a fixture root keeps /home (Fedora CoreOS: var/home).
func homeDir(m *machine, user string) string {
	p, err := filepath.EvalSymlinks(filepath.Join(m.root, "home"))
	if err != nil {
		m.t.Fatal(err)
	}
	return filepath.Join(p, user)
}

// A config that creates alice and writes her .bashrc: useradd copies
// /etc/skel first (as in Ignition, users come before files), and the plan
// knows it: overwrite and append work, overwrite false is refused before
// anything changes.
func TestAccountsSkeletonDotfiles(t *testing.T) {
	for _, kind := range []testenv.RootKind{testenv.Debian, testenv.FedoraCoreOS} {
		t.Run(string(kind)+"/overwrite", func(t *testing.T) {
			m := fixtureMachine(t, kind)
			r := offlineThenFiles(m, ignConfig(t, map[string]any{
				"passwd": map[string]any{"users": []any{map[string]any{"name": "alice"}}},
				"storage": map[string]any{"files": []any{map[string]any{"path": "/home/alice/.bashrc", "overwrite": true,
					"contents": map[string]any{"source": "data:,PS1=mine"}, "user": map[string]any{"name": "alice"}}}}}))
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			if got := readString(t, filepath.Join(homeDir(m, "alice"), ".bashrc")); got != "PS1=mine" {
				t.Errorf(".bashrc = %q; want the config's", got)
			}
			uid, _, _, _ := passwdLine(t, filepath.Join(m.root, "etc/passwd"), "alice")
			if _, u, _ := owner(t, filepath.Join(homeDir(m, "alice"), ".bashrc")); u != uid || uid == 0 {
				t.Errorf(".bashrc owned by uid %d; want alice's (%d)", u, uid)
			}
			if _, err := os.Stat(filepath.Join(homeDir(m, "alice"), ".bash_logout")); err != nil {
				t.Errorf("the rest of the skeleton is missing: %v", err)
			}
		})
		t.Run(string(kind)+"/append", func(t *testing.T) {
			m := fixtureMachine(t, kind)
			skel := readString(t, filepath.Join(m.root, "etc/skel/.bashrc"))
			r := offlineThenFiles(m, ignConfig(t, map[string]any{
				"passwd": map[string]any{"users": []any{map[string]any{"name": "alice"}}},
				"storage": map[string]any{"files": []any{map[string]any{"path": "/home/alice/.bashrc",
					"append": []any{map[string]any{"source": "data:,alias%20ll=ls%0A"}}}}}}))
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			p := filepath.Join(homeDir(m, "alice"), ".bashrc")
			if got := readString(t, p); got != skel+"alias ll=ls\n" {
				t.Errorf(".bashrc = %q; want the skeleton's then the appended line", got)
			}
			uid, gid, _, _ := passwdLine(t, filepath.Join(m.root, "etc/passwd"), "alice")
			if mode, u, g := owner(t, p); u != uid || g != gid || mode != 0o644 {
				t.Errorf(".bashrc: %v %d:%d; want the skeleton copy's: 0644 %d:%d", mode, u, g, uid, gid)
			}
		})
		t.Run(string(kind)+"/overwrite false is a conflict", func(t *testing.T) {
			m := fixtureMachine(t, kind)
			before := readString(t, filepath.Join(m.root, "etc/passwd"))
			r := offlineThenFiles(m, ignConfig(t, map[string]any{
				"passwd":  map[string]any{"users": []any{map[string]any{"name": "alice"}}},
				"storage": map[string]any{"files": []any{dataFile("/home/alice/.bashrc", "x"), dataFile("/etc/marker", "x")}}}))
			if r.code == 0 {
				t.Fatalf("files: exit 0; want the skeleton's .bashrc refused (overwrite false)")
			}
			mustContain(t, "log", r.out+r.stderr, "/etc/skel/.bashrc", "overwrite is false")
			if after := readString(t, filepath.Join(m.root, "etc/passwd")); after != before {
				t.Errorf("/etc/passwd changed though the plan failed:\n%s", after)
			}
			if _, err := os.Lstat(filepath.Join(m.root, "etc/marker")); err == nil {
				t.Errorf("/etc/marker was written though the plan failed")
			}
		})
	}
}

// Appends to the files useradd and groupadd change keep every line they
// added: the new users and groups are in passwd, group, shadow, gshadow,
// subuid and subgid, and each appended line is there once.
func TestAccountsAppendToAccountFiles(t *testing.T) {
	m := fixtureMachine(t, testenv.Debian)
	appendTo := func(p, line string) map[string]any {
		return map[string]any{"path": p, "append": []any{map[string]any{"source": "data:," + strings.ReplaceAll(line, "\n", "%0A")}}}
	}
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd": map[string]any{
			"users":  []any{map[string]any{"name": "alice"}, map[string]any{"name": "bob", "groups": []any{"ops"}}},
			"groups": []any{map[string]any{"name": "ops"}}},
		"storage": map[string]any{"files": []any{
			appendTo("/etc/passwd", "svc:x:2500:2500:svc:/var/lib/svc:/usr/sbin/nologin\n"),
			appendTo("/etc/group", "svc:x:2500:\n"),
			appendTo("/etc/shadow", "svc:*:19000:0:99999:7:::\n"),
			appendTo("/etc/gshadow", "svc:*::\n"),
			appendTo("/etc/subuid", "svc:300000:65536\n"),
		}}}))
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	want := map[string][]string{
		"etc/passwd":  {"root", "alice", "bob", "svc"},
		"etc/group":   {"root", "alice", "bob", "ops", "svc"},
		"etc/shadow":  {"root", "alice", "bob", "svc"},
		"etc/gshadow": {"root", "alice", "bob", "ops", "svc"},
		"etc/subuid":  {"alice", "bob", "svc"},
		"etc/subgid":  {"alice", "bob"},
	}
	for file, names := range want {
		got := readString(t, filepath.Join(m.root, file))
		for _, n := range names {
			if c := strings.Count("\n"+got, "\n"+n+":"); c != 1 {
				t.Errorf("%s has %d line(s) for %s; want 1:\n%s", file, c, n, got)
			}
		}
	}
	if got := readString(t, filepath.Join(m.root, "etc/group")); !strings.Contains(got, "\nops:x:") || !strings.Contains(got, "bob\n") {
		t.Errorf("/etc/group lacks ops with bob in it:\n%s", got)
	}
	mustContain(t, "log", r.out, "appended to again")
}

// Owners and users resolve as the target's NSS resolves them: system
// users and groups kept outside /etc (nss-altfiles on Fedora CoreOS,
// nss-usrfiles on Flatcar, even Flatcar's core) are found, and a user the
// image already has is not added again.
func TestAccountsOwnersThroughTargetNSS(t *testing.T) {
	cases := []struct {
		kind       testenv.RootKind
		user, grp  string
		uid, gid   uint32
		keysFor    string // a user the image has, named by the config with keys
		keysUID    uint32
		keysAtHome string
	}{
		{kind: testenv.FedoraCoreOS, user: "chrony", grp: "wheel", uid: 996, gid: 10},
		{kind: testenv.Flatcar, user: "core", grp: "docker", uid: 500, gid: 233, keysFor: "core", keysUID: 500, keysAtHome: "home/core"},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			m := fixtureMachine(t, c.kind)
			before := readString(t, filepath.Join(m.root, "etc/passwd"))
			sections := map[string]any{"storage": map[string]any{
				"files":       []any{map[string]any{"path": "/etc/owned.conf", "user": map[string]any{"name": c.user}, "group": map[string]any{"name": c.grp}, "contents": map[string]any{"source": "data:,x"}}},
				"directories": []any{map[string]any{"path": "/var/lib/owned", "user": map[string]any{"name": c.user}, "group": map[string]any{"name": c.grp}}},
			}}
			if c.keysFor != "" {
				sections["passwd"] = map[string]any{"users": []any{map[string]any{"name": c.keysFor, "sshAuthorizedKeys": []any{keyAlice}}}}
			}
			r := offlineThenFiles(m, ignConfig(t, sections))
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			for _, p := range []string{"etc/owned.conf", "var/lib/owned"} {
				if _, u, g := owner(t, filepath.Join(m.root, p)); u != c.uid || g != c.gid {
					t.Errorf("%s owned by %d:%d; want %s:%s (%d:%d)", p, u, g, c.user, c.grp, c.uid, c.gid)
				}
			}
			if after := readString(t, filepath.Join(m.root, "etc/passwd")); after != before {
				t.Errorf("/etc/passwd changed: the image's user was added again:\n%s", after)
			}
			if c.keysFor != "" {
				k := filepath.Join(m.root, c.keysAtHome, ".ssh/authorized_keys.d/ignition")
				if got := readString(t, k); got != keyAlice+"\n" {
					t.Errorf("%s's keys = %q", c.keysFor, got)
				}
				if _, u, _ := owner(t, k); u != c.keysUID {
					t.Errorf("%s's key file owned by uid %d; want %d", c.keysFor, u, c.keysUID)
				}
			}
		})
	}
}

// The real Debian root (debootstrapped by make test-deps): the skeleton
// and account-file appends with the target's real shadow files and its
// NSS ("files systemd", the systemd source asked through the target's own
// getent, chrooted).
func TestAccountsRealDebianRoot(t *testing.T) {
	needRootForFiles(t)
	src, _ := filepath.Abs("../../.cache/debroot")
	if _, err := os.Stat(filepath.Join(src, "usr/bin/getent")); err != nil {
		testenv.Skip(t, "no Debian root in .cache/debroot (make test-deps debootstraps it)")
	}
	m := newMachine(t)
	os.RemoveAll(m.root)
	if out, err := exec.Command("cp", "-a", src, m.root).CombinedOutput(); err != nil {
		t.Fatalf("copying the Debian root: %v %s", err, out)
	}
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd": map[string]any{"users": []any{map[string]any{"name": "alice", "shell": "/bin/bash"}}},
		"storage": map[string]any{"files": []any{
			map[string]any{"path": "/home/alice/.bashrc", "append": []any{map[string]any{"source": "data:,export%20EDITOR=vi%0A"}}},
			map[string]any{"path": "/etc/group", "append": []any{map[string]any{"source": "data:,extra:x:2600:%0A"}}},
			map[string]any{"path": "/var/lib/owned", "user": map[string]any{"name": "_apt"}, "group": map[string]any{"name": "nogroup"}, "contents": map[string]any{"source": "data:,x"}},
		}}}))
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	skel := readString(t, filepath.Join(m.root, "etc/skel/.bashrc"))
	if got := readString(t, filepath.Join(m.root, "home/alice/.bashrc")); got != skel+"export EDITOR=vi\n" {
		t.Errorf("alice's .bashrc does not hold Debian's skeleton then the appended line")
	}
	out, err := exec.Command("chroot", m.root, "getent", "group", "alice", "extra").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "alice:x:") || !strings.Contains(string(out), "extra:x:2600:") {
		t.Errorf("getent group alice extra in the target = %s (%v); want both", out, err)
	}
}

// Keys and users from platform metadata reach only login accounts: GCE
// project metadata (settable by any project member) naming operator (home
// /root), nobody (home /) or chrony is skipped with a warning, never
// failing the boot, and root's ~/.ssh is left as it was; a new user, and
// the distro's own user (Flatcar's core, uid 500), get their keys.
func TestAccountsPlatformKeysOnlyForLoginAccounts(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	const rootKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIrootkeyrootkeyrootkeyrootkeyrootkey root@admin\n"
	for _, c := range []struct {
		kind        testenv.RootKind
		env         string
		rootHome    string // where /root really is
		gets        map[string]string
		skipped     []string
		keysWritten string
	}{
		{kind: testenv.FedoraCoreOS, rootHome: "var/roothome", gets: map[string]string{"alice": "var/home/alice"}, skipped: []string{"operator", "nobody", "chrony"}},
		{kind: testenv.FedoraCoreOS, env: "IGNITION_WRITE_AUTHORIZED_KEYS_FRAGMENT=false", rootHome: "var/roothome", gets: map[string]string{"alice": "var/home/alice"}, skipped: []string{"operator", "nobody", "chrony"}},
		{kind: testenv.Flatcar, rootHome: "root", gets: map[string]string{"core": "home/core", "alice": "home/alice"}, skipped: []string{"operator", "nobody"}},
	} {
		t.Run(string(c.kind)+map[bool]string{true: "/authorized_keys", false: ""}[c.env != ""], func(t *testing.T) {
			keys := ""
			for _, u := range []string{"operator", "nobody", "chrony", "alice", "core"} {
				keys += u + ":" + keyBob + "\n"
			}
			serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
				"instance/hostname":           "vm-1.c.project.internal",
				"project/attributes/ssh-keys": keys,
			}})
			m := fixtureMachine(t, c.kind)
			if c.env != "" {
				m.env = append(m.env, c.env)
			}
			if c.kind == testenv.Flatcar {
				m.write(filepath.Join(m.sys, "platform.conf"), "ssh-keys-user=core\n")
			}
			ssh := filepath.Join(m.root, c.rootHome, ".ssh")
			os.MkdirAll(ssh, 0o700)
			m.write(filepath.Join(ssh, "authorized_keys"), rootKey)
			os.Chmod(filepath.Join(ssh, "authorized_keys"), 0o600)
			before := readString(t, filepath.Join(m.root, "etc/passwd"))
			if r := m.run("gcp", "fetch"); r.code != 0 {
				t.Fatalf("fetch: exit %d\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			var st struct {
				FragmentUsers []struct{ Name string } `json:"fragmentUsers"`
			}
			b, _ := os.ReadFile(filepath.Join(m.state, "state"))
			json.Unmarshal(b, &st)
			if len(st.FragmentUsers) == 0 {
				t.Errorf("the state does not record the fragment's users: %s", b)
			}
			r := m.run("gcp", "files")
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0 (metadata never fails the boot)\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			for _, u := range c.skipped {
				mustContain(t, "log", r.out, `user "`+u+`" skipped`)
			}
			if mode, u, g := owner(t, ssh); mode != os.ModeDir|0o700 || u != 0 || g != 0 {
				t.Errorf("root's ~/.ssh: %v %d:%d; want it as it was (0700 0:0)", mode, u, g)
			}
			if got := readString(t, filepath.Join(ssh, "authorized_keys")); got != rootKey {
				t.Errorf("root's authorized_keys = %q; want root's own key only", got)
			}
			if _, err := os.Lstat(filepath.Join(ssh, "authorized_keys.d")); err == nil {
				t.Errorf("keys were written in root's ~/.ssh")
			}
			after := readString(t, filepath.Join(m.root, "etc/passwd"))
			for _, u := range c.skipped {
				if strings.Contains("\n"+after, "\n"+u+":") && !strings.Contains("\n"+before, "\n"+u+":") {
					t.Errorf("%s was added to /etc/passwd", u)
				}
			}
			for u, home := range c.gets {
				file := "authorized_keys.d/ignition"
				if c.env != "" {
					file = "authorized_keys"
				}
				p := filepath.Join(m.root, home, ".ssh", file)
				if got := readString(t, p); got != keyBob+"\n" {
					t.Errorf("%s's keys at %s = %q; want the metadata's key", u, p, got)
				}
			}
		})
	}
}

// Every path the commit writes is checked in the plan: a directory where a
// unit, drop-in, mask link, key file, preset or result file goes, or a file
// where a drop-in directory goes, fails before anything is written, and
// the directory is never removed.
func TestAccountsCommitPathsCheckedInPlan(t *testing.T) {
	unit := func(u map[string]any) map[string]any {
		return map[string]any{"systemd": map[string]any{"units": []any{u}}}
	}
	cases := []struct {
		name   string
		inRoot string // made in the image: a directory, or a file when isFile
		isFile bool
		cfg    map[string]any
		errs   string
	}{
		{name: "drop-in directory is a file", inRoot: "etc/systemd/system/foo.service.d", isFile: true,
			cfg:  unit(map[string]any{"name": "foo.service", "dropins": []any{map[string]any{"name": "10-x.conf", "contents": "[Service]\n"}}}),
			errs: "where a directory goes"},
		{name: "directory at the unit", inRoot: "etc/systemd/system/bar.service",
			cfg:  unit(map[string]any{"name": "bar.service", "contents": "[Service]\nExecStart=/bin/true\n"}),
			errs: "is a directory, where a file goes"},
		{name: "directory at the mask link", inRoot: "etc/systemd/system/baz.service",
			cfg:  unit(map[string]any{"name": "baz.service", "mask": true}),
			errs: "is a directory, where a file goes"},
		{name: "directory at the drop-in", inRoot: "etc/systemd/system/foo.service.d/10-x.conf",
			cfg:  unit(map[string]any{"name": "foo.service", "dropins": []any{map[string]any{"name": "10-x.conf", "contents": "[Service]\n"}}}),
			errs: "is a directory, where a file goes"},
		{name: "directory at the preset file", inRoot: "etc/systemd/system-preset/20-ignition.preset",
			cfg:  unit(map[string]any{"name": "foo.service", "enabled": true, "contents": "[Install]\nWantedBy=multi-user.target\n"}),
			errs: "is a directory, where a file goes"},
		{name: "directory at the key file", inRoot: "home/ops/.ssh/authorized_keys.d/ignition",
			cfg:  map[string]any{"passwd": map[string]any{"users": []any{map[string]any{"name": "ops", "sshAuthorizedKeys": []any{keyAlice}}}}},
			errs: "is a directory, where a file goes"},
		{name: "file at the key directory", inRoot: "home/ops/.ssh", isFile: true,
			cfg:  map[string]any{"passwd": map[string]any{"users": []any{map[string]any{"name": "ops", "sshAuthorizedKeys": []any{keyAlice}}}}},
			errs: "where a directory goes"},
		{name: "directory at the result file", inRoot: "etc/.ignition-result.json",
			cfg:  map[string]any{},
			errs: "is a directory, where a file goes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			needRootForFiles(t)
			m := newMachine(t)
			accounts(t, filepath.Join(m.root, "etc"))
			full := filepath.Join(m.root, c.inRoot)
			if c.isFile {
				m.write(full, "the image's")
			} else {
				m.write(filepath.Join(full, "inside"), "the image's")
			}
			c.cfg["storage"] = map[string]any{"files": []any{dataFile("/etc/marker", "x")}}
			r := offlineThenFiles(m, ignConfig(t, c.cfg))
			if r.code == 0 {
				t.Fatalf("files: exit 0; want the plan to refuse")
			}
			mustContain(t, "log", r.out+r.stderr, c.errs)
			if _, err := os.Lstat(filepath.Join(m.root, "etc/marker")); err == nil {
				t.Errorf("/etc/marker was written though the plan failed")
			}
			if c.isFile {
				if got := readString(t, full); got != "the image's" {
					t.Errorf("%s = %q; want it untouched", c.inRoot, got)
				}
			} else if got := readString(t, filepath.Join(full, "inside")); got != "the image's" {
				t.Errorf("the directory at %s was removed or changed", c.inRoot)
			}
		})
	}
}

// /etc/crypttab holds one line per volume after any number of runs (the
// line for the same name replaced, other lines kept), mode 0600.
func TestAccountsCrypttabRerun(t *testing.T) {
	needRootForFiles(t)
	m := newMachine(t)
	accounts(t, filepath.Join(m.root, "etc"))
	m.write(filepath.Join(m.root, "etc/crypttab"), "# <name> <device> <key> <options>\nswap UUID=1111 /dev/urandom swap\n")
	reconfigure(m, ignConfig(t, map[string]any{"storage": map[string]any{"luks": []any{
		map[string]any{"name": "data", "device": "/dev/disk/by-partlabel/data"}}}}))
	var st map[string]any
	b, _ := os.ReadFile(filepath.Join(m.state, "state"))
	json.Unmarshal(b, &st)
	st["luksKeys"] = []any{map[string]any{"name": "data", "uuid": "2222", "keyFile": "c2VjcmV0"}}
	b, _ = json.Marshal(st)
	os.WriteFile(filepath.Join(m.state, "state"), b, 0o600)
	for i := 0; i < 3; i++ {
		if r := m.run("file", "files"); r.code != 0 {
			t.Fatalf("files (run %d): exit %d\n%s%s", i+1, r.code, clip(r.out), clip(r.stderr))
		}
	}
	want := "# <name> <device> <key> <options>\nswap UUID=1111 /dev/urandom swap\ndata UUID=2222 /etc/luks/data luks,x-initrd.attach\n"
	p := filepath.Join(m.root, "etc/crypttab")
	if got := readString(t, p); got != want {
		t.Errorf("/etc/crypttab after 3 runs = %q; want %q", got, want)
	}
	checkOwned(t, p, 0o600, 0, 0)
	checkOwned(t, filepath.Join(m.root, "etc/luks/data"), 0o600, 0, 0)
}

// The key writer never changes a directory that is there: a directories
// entry for ~/.ssh with mode 0750 stays 0750 after the user's keys are
// written, as in Ignition (keys first, then the config's directories).
func TestAccountsConfigSSHDirectoryWins(t *testing.T) {
	m := fixtureMachine(t, testenv.Debian)
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd": map[string]any{"users": []any{map[string]any{"name": "test", "sshAuthorizedKeys": []any{keyAlice}}}},
		"storage": map[string]any{"directories": []any{map[string]any{"path": "/home/test/.ssh", "mode": 0o750,
			"user": map[string]any{"name": "test"}, "group": map[string]any{"name": "test"}}}}}))
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	uid, gid, _, _ := passwdLine(t, filepath.Join(m.root, "etc/passwd"), "test")
	checkOwned(t, filepath.Join(m.root, "home/test/.ssh"), os.ModeDir|0o750, uid, gid)
	checkOwned(t, filepath.Join(m.root, "home/test/.ssh/authorized_keys.d/ignition"), 0o600, uid, gid)
}
