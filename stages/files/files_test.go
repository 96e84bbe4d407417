package files

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/resource"
)

type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *testLog) Infof(f string, a ...any) { l.add(fmt.Sprintf(f, a...)) }
func (l *testLog) Warnf(f string, a ...any) { l.add("WARN " + fmt.Sprintf(f, a...)) }
func (l *testLog) Op(f string, a ...any) func(error) {
	what := fmt.Sprintf(f, a...)
	l.add("start " + what)
	return func(err error) { l.add(fmt.Sprintf("end %s: %v", what, err)) }
}

func needRoot(t *testing.T) {
	testenv.NeedRoot(t, "chown, useradd --root")
}

// skeleton makes a minimal target root: passwd, group, shadow, gshadow.
func skeleton(t *testing.T) string {
	t.Helper()
	r := t.TempDir()
	os.MkdirAll(filepath.Join(r, "etc"), 0o755)
	w := func(p, s string, m os.FileMode) { os.WriteFile(filepath.Join(r, p), []byte(s), m) }
	w("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nops:x:4242:4343:ops:/home/ops:/bin/sh\n", 0o644)
	w("etc/group", "root:x:0:\nopsgrp:x:4343:\n", 0o644)
	w("etc/shadow", "root:*:19000:0:99999:7:::\nops:*:19000:0:99999:7:::\n", 0o600)
	w("etc/gshadow", "root:*::\nopsgrp:*::\n", 0o600)
	return r
}

func parse(t *testing.T, s string) config.Config {
	t.Helper()
	res, err := config.Parse([]byte(s))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, res.Report)
	}
	return res.Config
}

func apply(t *testing.T, root, cfg string) (*testLog, error) {
	t.Helper()
	l := &testLog{}
	return l, Apply(context.Background(), parse(t, cfg), Options{Root: root, Fetcher: &resource.Fetcher{}, Log: l})
}

type want struct {
	mode     os.FileMode
	uid, gid uint32
	contents string // files
	target   string // symlinks
}

func check(t *testing.T, root, p string, w want) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != w.mode || st.Uid != w.uid || st.Gid != w.gid {
		t.Errorf("%s: mode %v owner %d:%d; want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, w.mode, w.uid, w.gid)
	}
	if w.target != "" {
		if got, _ := os.Readlink(filepath.Join(root, p)); got != w.target {
			t.Errorf("%s -> %q; want %q", p, got, w.target)
		}
	}
	if fi.Mode().IsRegular() {
		got, _ := os.ReadFile(filepath.Join(root, p))
		if string(got) != w.contents {
			t.Errorf("%s contents = %q; want %q", p, got, w.contents)
		}
	}
}

// leftovers finds temp files a failed or finished write left behind.
func leftovers(t *testing.T, root string) []string {
	var found []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".ignition-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

func TestTree(t *testing.T) {
	needRoot(t)
	root := skeleton(t)
	os.WriteFile(filepath.Join(root, "etc/motd"), []byte("existing\n"), 0o640)
	log, err := apply(t, root, `{"ignition":{"version":"3.5.0"},
	 "storage":{
	  "files":[
	   {"path":"/etc/hostname","mode":420,"contents":{"source":"data:,web01%0A"}},
	   {"path":"/etc/motd","append":[{"source":"data:,one%0A"},{"source":"data:;base64,dHdvCg=="}]},
	   {"path":"/etc/empty"},
	   {"path":"/opt/bin/tool","mode":2541,"user":{"name":"ops"},"group":{"id":77},"contents":{"source":"data:,%23!/bin/sh%0A"}},
	   {"path":"/srv/gz","contents":{"source":"data:;base64,H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==","compression":"gzip"}}],
	  "directories":[{"path":"/var/lib/app","mode":448,"user":{"id":4242}},{"path":"/etc"}],
	  "links":[{"path":"/etc/localtime","target":"/usr/share/zoneinfo/UTC"},
	           {"path":"/etc/hostname.hard","target":"/etc/hostname","hard":true},
	           {"path":"/opt/rel","target":"bin/tool"}]}}`)
	if err != nil {
		t.Fatalf("Apply: %v\n%s", err, strings.Join(log.lines, "\n"))
	}
	check(t, root, "etc/hostname", want{mode: 0o644, contents: "web01\n"})
	check(t, root, "etc/motd", want{mode: 0o640, contents: "existing\none\ntwo\n"}) // kept: its mode, its contents, then the parts
	check(t, root, "etc/empty", want{mode: 0o644})
	// 3.5.0: 04755 loses its setuid bit (translated, with a warning at validation)
	check(t, root, "opt/bin/tool", want{mode: 0o755, uid: 4242, gid: 77, contents: "#!/bin/sh\n"})
	check(t, root, "opt/bin", want{mode: os.ModeDir | 0o755})
	check(t, root, "srv/gz", want{mode: 0o644, contents: "hello"})
	check(t, root, "var/lib/app", want{mode: os.ModeDir | 0o700, uid: 4242})
	check(t, root, "etc", want{mode: os.ModeDir | 0o755})
	check(t, root, "etc/localtime", want{mode: os.ModeSymlink | 0o777, target: "/usr/share/zoneinfo/UTC"})
	check(t, root, "opt/rel", want{mode: os.ModeSymlink | 0o777, target: "bin/tool"})
	a, _ := os.Stat(filepath.Join(root, "etc/hostname"))
	b, _ := os.Stat(filepath.Join(root, "etc/hostname.hard"))
	if !os.SameFile(a, b) {
		t.Errorf("/etc/hostname.hard is not a hard link to /etc/hostname")
	}
	if l := leftovers(t, root); len(l) > 0 {
		t.Errorf("temp files left: %v", l)
	}
}

func TestSetuidHonouredIn36(t *testing.T) {
	needRoot(t)
	root := skeleton(t)
	if log, err := apply(t, root, `{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/opt/suid","mode":2541,"contents":{"source":"data:,x"}}],"directories":[{"path":"/tmp2","mode":1023}]}}`); err != nil {
		t.Fatalf("Apply: %v\n%v", err, log.lines)
	}
	check(t, root, "opt/suid", want{mode: os.ModeSetuid | 0o755, contents: "x"})
	check(t, root, "tmp2", want{mode: os.ModeDir | os.ModeSticky | 0o777})
}

// Hostile roots: symlinks already in the root, absolute or climbing with
// "..", must not carry a write outside it.
func TestContainment(t *testing.T) {
	needRoot(t)
	outside := t.TempDir()
	root := skeleton(t)
	os.Symlink("/", filepath.Join(root, "abs"))                           // absolute: re-rooted
	os.Symlink("../../../../../../..", filepath.Join(root, "up"))         // climbing: stops at the root
	os.Symlink(outside, filepath.Join(root, "host"))                      // a host path: re-rooted
	os.Symlink("/etc/../../../../", filepath.Join(root, "etc", "sneaky")) // inside a directory
	log, err := apply(t, root, `{"ignition":{"version":"3.4.0"},"storage":{"files":[
	  {"path":"/abs/a","contents":{"source":"data:,a"}},
	  {"path":"/up/b","contents":{"source":"data:,b"}},
	  {"path":"/host/c","contents":{"source":"data:,c"}},
	  {"path":"/etc/sneaky/d","contents":{"source":"data:,d"}}]}}`)
	if err != nil {
		t.Fatalf("Apply: %v\n%v", err, log.lines)
	}
	for _, p := range []string{"a", "b", "d"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("/%s did not land at the top of the root: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, outside, "c")); err != nil {
		t.Errorf("/host/c did not land under the re-rooted %s: %v", outside, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("a write escaped the root into %s: %v", outside, entries)
	}
	for _, p := range []string{"/a", "/b", "/d"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a write escaped the root to %s", p)
		}
	}
}

// A symlink the config creates is re-rooted the same way for later nodes.
func TestConfigSymlinkStaysInRoot(t *testing.T) {
	needRoot(t)
	outside := t.TempDir()
	root := skeleton(t)
	_, err := apply(t, root, fmt.Sprintf(`{"ignition":{"version":"3.4.0"},"storage":{
	  "links":[{"path":"/data","target":%q}],
	  "directories":[{"path":"/opt/x"}]}}`, outside))
	if err != nil {
		t.Fatal(err)
	}
	// a second config writes through the link
	_, err = apply(t, root, `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/data/f","contents":{"source":"data:,f"}}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("write escaped through a config symlink into %s", outside)
	}
	if _, err := os.Stat(filepath.Join(root, outside, "f")); err != nil {
		t.Errorf("file not under the re-rooted link target: %v", err)
	}
}

func TestFailuresLeaveNothingHalfDone(t *testing.T) {
	needRoot(t)
	sum := sha512.Sum512([]byte("other"))
	cases := []struct {
		name, cfg, errPart string
		setup              func(root string)
		untouched          map[string]string // path -> contents that must survive
	}{
		{name: "existing file, overwrite false, with a source",
			setup:     func(r string) { os.WriteFile(filepath.Join(r, "etc/keep"), []byte("precious"), 0o644) },
			cfg:       `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/keep","contents":{"source":"data:,new"}}]}}`,
			errPart:   "overwrite is false",
			untouched: map[string]string{"etc/keep": "precious"}},
		{name: "hash mismatch",
			cfg:     `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/h","contents":{"source":"data:,x","verification":{"hash":"sha512-` + hex.EncodeToString(sum[:]) + `"}}}]}}`,
			errPart: "hash verification failed"},
		{name: "unknown owner",
			cfg:     `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/o","user":{"name":"nobody-here"},"contents":{"source":"data:,x"}}]}}`,
			errPart: `user "nobody-here" is not in the target`},
		{name: "path through an existing file",
			setup:     func(r string) { os.WriteFile(filepath.Join(r, "etc/plain"), []byte("file"), 0o644) },
			cfg:       `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/plain/sub","contents":{"source":"data:,x"}}]}}`,
			errPart:   "not a directory",
			untouched: map[string]string{"etc/plain": "file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := skeleton(t)
			if c.setup != nil {
				c.setup(root)
			}
			_, err := apply(t, root, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Fatalf("Apply err = %v; want it to mention %q", err, c.errPart)
			}
			for p, s := range c.untouched {
				if got, _ := os.ReadFile(filepath.Join(root, p)); string(got) != s {
					t.Errorf("%s = %q; want it untouched (%q)", p, got, s)
				}
			}
			for _, p := range []string{"etc/h", "etc/o"} {
				if _, err := os.Stat(filepath.Join(root, p)); err == nil {
					t.Errorf("%s was written despite the failure", p)
				}
			}
			if l := leftovers(t, root); len(l) > 0 {
				t.Errorf("temp files left: %v", l)
			}
		})
	}
}

func TestUsersGroupsKeysAndUnits(t *testing.T) {
	needRoot(t)
	testenv.NeedTools(t, "useradd")
	root := skeleton(t)
	log, err := apply(t, root, `{"ignition":{"version":"3.4.0"},
	 "passwd":{"groups":[{"name":"admins","gid":1500}],
	  "users":[{"name":"core","uid":1600,"primaryGroup":"admins","groups":["opsgrp"],"gecos":"Core User","shell":"/bin/bash",
	            "passwordHash":"$6$saltsalt$SECRETHASHVALUE","sshAuthorizedKeys":["ssh-ed25519 AAAAkey1 a@x","ssh-ed25519 AAAAkey2 b@y"]},
	           {"name":"ops","shouldExist":false}]},
	 "systemd":{"units":[
	   {"name":"hello.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"},
	   {"name":"worker@.service","contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"},
	   {"name":"worker@a.service","enabled":true},{"name":"worker@b.service","enabled":true},
	   {"name":"gone.service","mask":true},
	   {"name":"sshd.service","dropins":[{"name":"10-keys.conf","contents":"[Service]\nEnvironment=A=1\n"}]}]}}`)
	if err != nil {
		t.Fatalf("Apply: %v\n%s", err, strings.Join(log.lines, "\n"))
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(passwd), "core:x:1600:1500:Core User:/home/core:/bin/bash") || strings.Contains(string(passwd), "ops:") {
		t.Errorf("passwd = %s", passwd)
	}
	group, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	if !strings.Contains(string(group), "admins:x:1500:") || !strings.Contains(string(group), "opsgrp:x:4343:core") {
		t.Errorf("group = %s", group)
	}
	shadow, _ := os.ReadFile(filepath.Join(root, "etc/shadow"))
	if !strings.Contains(string(shadow), "core:$6$saltsalt$SECRETHASHVALUE:") {
		t.Errorf("shadow lacks the hash")
	}
	if strings.Contains(strings.Join(log.lines, "\n"), "SECRETHASHVALUE") {
		t.Errorf("the password hash reached the log")
	}
	check(t, root, "home/core/.ssh", want{mode: os.ModeDir | 0o700, uid: 1600, gid: 1500})
	check(t, root, "home/core/.ssh/authorized_keys.d", want{mode: os.ModeDir | 0o700, uid: 1600, gid: 1500})
	check(t, root, "home/core/.ssh/authorized_keys.d/ignition", want{mode: 0o600, uid: 1600, gid: 1500,
		contents: "ssh-ed25519 AAAAkey1 a@x\nssh-ed25519 AAAAkey2 b@y\n"})
	check(t, root, "etc/systemd/system/hello.service", want{mode: 0o644, contents: "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"})
	check(t, root, "etc/systemd/system/gone.service", want{mode: os.ModeSymlink | 0o777, target: "/dev/null"})
	check(t, root, "etc/systemd/system/sshd.service.d/10-keys.conf", want{mode: 0o644, contents: "[Service]\nEnvironment=A=1\n"})
	check(t, root, "etc/systemd/system-preset/20-ignition.preset", want{mode: 0o644, contents: "enable hello.service\nenable worker@.service a b\n"})
}

// enabled: false disables a unit the image had enabled, with systemctl --root.
func TestDisableEnabledUnit(t *testing.T) {
	needRoot(t)
	testenv.NeedTools(t, "systemctl")
	root := skeleton(t)
	os.MkdirAll(filepath.Join(root, "etc/systemd/system"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/systemd/system/noisy.service"), []byte("[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"), 0o644)
	if out, err := exec.Command("systemctl", "--root", root, "enable", "noisy.service").CombinedOutput(); err != nil {
		t.Fatalf("systemctl enable: %v %s", err, out)
	}
	if log, err := apply(t, root, `{"ignition":{"version":"3.4.0"},"systemd":{"units":[{"name":"noisy.service","enabled":false}]}}`); err != nil {
		t.Fatalf("Apply: %v\n%v", err, log.lines)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/noisy.service")); err == nil {
		t.Errorf("noisy.service is still enabled")
	}
	check(t, root, "etc/systemd/system-preset/20-ignition.preset", want{mode: 0o644, contents: "disable noisy.service\n"})
}

func TestPlanPrint(t *testing.T) {
	var b strings.Builder
	MakePlan(parse(t, `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","passwordHash":"$6$SECRET"}]},
	  "storage":{"files":[{"path":"/a/b/c","contents":{"source":"https://u:SECRET@h/x?sig=SECRET","httpHeaders":[{"name":"Authorization","value":"SECRET"}]}}],"links":[{"path":"/h","target":"/a/b/c","hard":true},{"path":"/s","target":"/a"}],"directories":[{"path":"/a"}]}}`)).Print(&b)
	out := b.String()
	if strings.Contains(out, "SECRET") {
		t.Errorf("the plan shows a secret:\n%s", out)
	}
	want := []string{`files: user "core", a password hash`, `files: directory "/a"`, `files: symlink "/s" -> "/a"`, `files: file "/a/b/c" from "https://h/x?sig=REDACTED" with 1 header(s)`, `files: hard link "/h" -> "/a/b/c"`}
	last := -1
	for _, w := range want {
		i := strings.Index(out, w)
		if i < 0 || i < last {
			t.Errorf("plan lacks %q in order:\n%s", w, out)
		}
		last = i
	}
}

// A target with SELinux gets what was written relabelled with its own
// file contexts (setfiles from Debian's policycoreutils); one without is
// left alone.
func TestSELinuxRelabel(t *testing.T) {
	needRoot(t)
	testenv.NeedTools(t, "setfiles")
	root := skeleton(t)
	os.MkdirAll(filepath.Join(root, "etc/selinux/targeted/contexts/files"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/selinux/config"), []byte("SELINUX=enforcing\nSELINUXTYPE=targeted\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/selinux/targeted/contexts/files/file_contexts"),
		[]byte("/etc(/.*)?\tsystem_u:object_r:etc_t:s0\n/opt(/.*)?\tsystem_u:object_r:usr_t:s0\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/untouched"), []byte("x"), 0o644)
	log, err := apply(t, root, `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/opt/app/run","contents":{"source":"data:,x"}},{"path":"/etc/app.conf"}]}}`)
	if err != nil {
		t.Fatalf("Apply: %v\n%v", err, log.lines)
	}
	label := func(p string) string {
		buf := make([]byte, 256)
		n, err := unix.Lgetxattr(filepath.Join(root, p), "security.selinux", buf)
		if err != nil {
			return ""
		}
		return strings.TrimRight(string(buf[:n]), "\x00")
	}
	for p, want := range map[string]string{"opt/app/run": "system_u:object_r:usr_t:s0", "opt/app": "system_u:object_r:usr_t:s0", "etc/app.conf": "system_u:object_r:etc_t:s0", "etc/untouched": ""} {
		if got := label(p); got != want {
			t.Errorf("label of /%s = %q; want %q", p, got, want)
		}
	}
}

// A directory that replaces a file, next to other files: each file lands
// at its own path (directory handles are never shared, so a removal cannot
// close one under another node).
func TestDirectoryReplacingFileKeepsOthersInPlace(t *testing.T) {
	needRoot(t)
	root := skeleton(t)
	os.MkdirAll(filepath.Join(root, "var/lib"), 0o755)
	os.WriteFile(filepath.Join(root, "var/lib/app"), []byte("a file"), 0o644)
	var files []string
	for i := 0; i < 300; i++ {
		files = append(files, fmt.Sprintf(`{"path":"/srv/d%d/f%d","contents":{"source":"data:,%d"}}`, i%7, i, i))
	}
	os.MkdirAll(filepath.Join(root, "srv/d3/over/deep"), 0o755)
	os.WriteFile(filepath.Join(root, "srv/d3/over/deep/x"), []byte("x"), 0o644)
	files = append(files, `{"path":"/srv/d3/over","overwrite":true,"contents":{"source":"data:,now-a-file"}}`)
	log, err := apply(t, root, `{"ignition":{"version":"3.6.0"},"storage":{"files":[
	  {"path":"/etc/hostname","contents":{"source":"data:,node1"}},
	  {"path":"/var/lib/app/conf/app.conf","contents":{"source":"data:,x=1"}},`+strings.Join(files, ",")+`],
	  "directories":[{"path":"/var/lib/app","overwrite":true}]}}`)
	if err != nil {
		t.Fatalf("Apply: %v\n%s", err, strings.Join(log.lines, "\n"))
	}
	check(t, root, "etc/hostname", want{mode: 0o644, contents: "node1"})
	check(t, root, "var/lib/app", want{mode: os.ModeDir | 0o755})
	check(t, root, "var/lib/app/conf/app.conf", want{mode: 0o644, contents: "x=1"})
	check(t, root, "srv/d3/over", want{mode: 0o644, contents: "now-a-file"})
	for i := 0; i < 300; i++ {
		check(t, root, fmt.Sprintf("srv/d%d/f%d", i%7, i), want{mode: 0o644, contents: fmt.Sprint(i)})
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/app/hostname")); err == nil {
		t.Errorf("/etc/hostname landed in /var/lib/app")
	}
	if l := leftovers(t, root); len(l) > 0 {
		t.Errorf("temp files left: %v", l)
	}
}

// snapshot renders a tree: paths, kinds, modes, owners, contents, link
// targets (not times).
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v %d:%d", strings.TrimPrefix(p, root), fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", sha512.Sum512(c))
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// A failure anywhere before the commit leaves the root as it was: no new
// directories, no temp files, no user changed.
func TestFailureBeforeCommitChangesNothing(t *testing.T) {
	needRoot(t)
	bad := sha512.Sum512([]byte("not this"))
	many := func(broken string) string {
		var f []string
		for i := 0; i < 1000; i++ {
			if i == 500 {
				f = append(f, broken)
				continue
			}
			f = append(f, fmt.Sprintf(`{"path":"/new/d%d/f%d","contents":{"source":"data:,%d"}}`, i%100, i, i))
		}
		return strings.Join(f, ",")
	}
	cases := []struct{ name, cfg, errPart string }{
		{"hash mismatch on file 500 of 1000",
			`{"ignition":{"version":"3.6.0"},"passwd":{"users":[{"name":"newuser"}]},"storage":{"files":[` +
				many(`{"path":"/new/bad","contents":{"source":"data:,x","verification":{"hash":"sha512-`+hex.EncodeToString(bad[:])+`"}}}`) + `]}}`,
			"hash verification failed"},
		{"two paths that resolve to one through a symlink in the image",
			`{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/foo/bar","contents":{"source":"data:,1"}},{"path":"/bar","contents":{"source":"data:,2"}}]}}`,
			`"/bar"`},
		{"owner that will not exist",
			`{"ignition":{"version":"3.6.0"},"storage":{"files":[` + many(`{"path":"/new/o","user":{"name":"ghost"},"contents":{"source":"data:,x"}}`) + `]}}`,
			`user "ghost"`},
		{"a file under a file",
			`{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/etc/passwd/x","contents":{"source":"data:,x"}}]}}`,
			"not a directory"},
		{"a file over a directory another entry writes in",
			`{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/d/x","contents":{"source":"data:,x"}},{"path":"/foo/d","overwrite":true,"contents":{"source":"data:,x"}}]}}`,
			"would replace the directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := skeleton(t)
			os.Symlink("/", filepath.Join(root, "foo"))
			before := snapshot(t, root)
			_, err := apply(t, root, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Fatalf("Apply = %v; want an error mentioning %s", err, c.errPart)
			}
			if after := snapshot(t, root); after != before {
				t.Errorf("the root changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// A killed run's temp files are removed by the next run.
func TestLeftoversOfAKilledRunAreRemoved(t *testing.T) {
	needRoot(t)
	root := skeleton(t)
	os.MkdirAll(filepath.Join(root, "opt"), 0o755)
	stale := filepath.Join(root, "opt", ".ignition-tmp-999999-1")
	os.WriteFile(stale, []byte("half a download"), 0o600)
	if _, err := apply(t, root, `{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/opt/x/y","contents":{"source":"data:,y"}}]}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the leftover %s is still there", stale)
	}
	check(t, root, "opt/x/y", want{mode: 0o644, contents: "y"})
}

// What a red-team pass found, each now refused before anything changes.
func TestRefusedBeforeCommit(t *testing.T) {
	testenv.NeedRoot(t, "a tmpfs mount")
	t.Run("overwrite of a directory that is a mount point", func(t *testing.T) {
		root := skeleton(t)
		mnt := filepath.Join(root, "var")
		os.MkdirAll(mnt, 0o755)
		if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
		os.MkdirAll(filepath.Join(mnt, "lib/db"), 0o755)
		os.WriteFile(filepath.Join(mnt, "lib/db/data"), []byte("precious"), 0o644)
		_, err := apply(t, root, `{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/var","overwrite":true,"contents":{"source":"data:,x"}}]}}`)
		if err == nil || !strings.Contains(err.Error(), "mounted") {
			t.Fatalf("Apply = %v; want a refusal naming the mount", err)
		}
		if b, _ := os.ReadFile(filepath.Join(mnt, "lib/db/data")); string(b) != "precious" {
			t.Errorf("the mounted filesystem lost its data")
		}
	})
	t.Run("a symlink without a target", func(t *testing.T) {
		root := skeleton(t)
		before := snapshot(t, root)
		_, err := apply(t, root, `{"ignition":{"version":"3.2.0"},"storage":{"files":[{"path":"/etc/a","contents":{"source":"data:,a"}}],"links":[{"path":"/etc/l"}]}}`)
		if err == nil || !strings.Contains(err.Error(), "needs a target") {
			t.Fatalf("Apply = %v; want a refusal", err)
		}
		if after := snapshot(t, root); after != before {
			t.Errorf("the root changed:\n%s\n%s", before, after)
		}
	})
}

// What useradd makes in a new home is in the plan: a skeleton link (to
// /etc) is followed inside the root as it will be after useradd, so a file
// there that exists is refused before anything changes. What useradd makes
// that the plan did not foresee is refused at the commit, never written
// through.
func TestPathChangedByUseradd(t *testing.T) {
	testenv.NeedRoot(t, "useradd --root")
	testenv.NeedTools(t, "useradd")
	t.Run("skeleton link in the plan", func(t *testing.T) {
		root := skeleton(t)
		os.MkdirAll(filepath.Join(root, "etc/skel"), 0o755)
		os.Symlink("/etc", filepath.Join(root, "etc/skel/.config"))
		os.WriteFile(filepath.Join(root, "etc/evil"), []byte("original"), 0o644)
		_, err := apply(t, root, `{"ignition":{"version":"3.6.0"},"passwd":{"users":[{"name":"alice"}]},
		  "storage":{"files":[{"path":"/home/alice/.config/evil","contents":{"source":"data:,pwned"}}]}}`)
		if err == nil || !strings.Contains(err.Error(), "overwrite is false") {
			t.Fatalf("Apply = %v; want the path through the skeleton's link refused in the plan", err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/evil")); string(b) != "original" {
			t.Errorf("/etc/evil = %q; want it untouched", b)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); strings.Contains(string(b), "alice") {
			t.Errorf("alice was created though the plan failed")
		}
	})
	t.Run("useradd makes what the plan did not foresee", func(t *testing.T) {
		root := skeleton(t)
		os.WriteFile(filepath.Join(root, "etc/evil"), []byte("original"), 0o644)
		run := &command.Fake{Answer: func(c command.Cmd) (command.Result, error) {
			if c.Name == "useradd" {
				os.MkdirAll(filepath.Join(root, "home/alice"), 0o755)
				os.Symlink("/etc", filepath.Join(root, "home/alice/.config"))
				f, _ := os.OpenFile(filepath.Join(root, "etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString("alice:x:1000:1000::/home/alice:/bin/sh\n")
				f.Close()
			}
			return command.Result{}, nil
		}}
		err := Apply(context.Background(), parse(t, `{"ignition":{"version":"3.6.0"},"passwd":{"users":[{"name":"alice"}]},
		  "storage":{"files":[{"path":"/home/alice/.config/evil","contents":{"source":"data:,pwned"}}]}}`),
			Options{Root: root, Fetcher: &resource.Fetcher{}, Log: &testLog{}, Runner: run})
		if err == nil || !strings.Contains(err.Error(), "changed since the plan") {
			t.Fatalf("Apply = %v; want the changed path refused", err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/evil")); string(b) != "original" {
			t.Errorf("/etc/evil = %q; want it untouched", b)
		}
		if l := leftovers(t, root); len(l) > 0 {
			t.Errorf("temp files left: %v", l)
		}
	})
}
