package platforms

// A red-team pass on the files stage's accounts (issue 16), through the
// real binary on the fixture roots: metadata naming groups or accounts
// whose homes lead elsewhere, ~/.ssh links, changes shadow-utils --root
// cannot make, a target getent that hangs or floods, and FIFOs where the
// stage reads the target's configuration. Each case fails closed: refused
// in the plan (nothing written) or, for the platform's metadata, skipped
// with a warning.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// addAccount adds a login user (and its group) to a fixture root's /etc
// files, its home made as given by mkHome (nil: a directory it owns).
func addAccount(t *testing.T, root, name string, uid int, home string) {
	t.Helper()
	id := strconv.Itoa(uid)
	for file, line := range map[string]string{
		"etc/passwd": name + ":x:" + id + ":" + id + "::" + home + ":/bin/bash\n",
		"etc/group":  name + ":x:" + id + ":\n",
		"etc/shadow": name + ":*:19000:0:99999:7:::\n",
	} {
		f, err := os.OpenFile(filepath.Join(root, file), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line)
		f.Close()
	}
}

// gceFilesRun serves GCE metadata whose project ssh-keys are keys, then
// runs fetch and files on m.
func gceFilesRun(t *testing.T, m *machine, keys string) result {
	t.Helper()
	serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
		"instance/hostname":           "vm-1.c.project.internal",
		"project/attributes/ssh-keys": keys,
	}})
	if r := m.run("gcp", "fetch"); r.code != 0 {
		t.Fatalf("fetch: exit %d\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	return m.run("gcp", "files")
}

// Metadata naming a group of the image (sudo and wheel kept in
// /usr/lib/group on Fedora CoreOS, users in Debian's /etc/group): useradd
// would either fail on the group (the boot fails on every VM of the
// project) or make a second group of that name in /etc/group that hides
// the image's (a metadata user in a "sudo" group). Skipped with a warning.
func TestRedteamFragmentUserNamedLikeAGroup(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	for _, c := range []struct {
		kind   testenv.RootKind
		groups []string
	}{
		{testenv.FedoraCoreOS, []string{"wheel", "dialout"}},
		{testenv.Debian, []string{"users"}},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			m := fixtureMachine(t, c.kind)
			keys := ""
			for _, g := range append(c.groups, "alice") {
				keys += g + ":" + keyBob + "\n"
			}
			group := readString(t, filepath.Join(m.root, "etc/group"))
			r := gceFilesRun(t, m, keys)
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0 (metadata never fails the boot)\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			passwd := readString(t, filepath.Join(m.root, "etc/passwd"))
			after := readString(t, filepath.Join(m.root, "etc/group"))
			for _, g := range c.groups {
				mustContain(t, "log", r.out, `user "`+g+`" skipped`)
				if strings.Contains("\n"+passwd, "\n"+g+":") {
					t.Errorf("a user %s was made from the metadata:\n%s", g, passwd)
				}
				if strings.Count("\n"+after, "\n"+g+":") != strings.Count("\n"+group, "\n"+g+":") {
					t.Errorf("/etc/group gained a group %s:\n%s", g, after)
				}
			}
			if got := readString(t, filepath.Join(homeDir(m, "alice"), ".ssh/authorized_keys.d/ignition")); got != keyBob+"\n" {
				t.Errorf("alice's keys = %q", got)
			}
		})
	}
}

// Metadata naming login accounts of the image whose home leads to another
// account's (a link to /root, whose ~/.ssh is not there yet) or whose
// ~/.ssh is a link: skipped with a warning; root's home gets nothing and
// the boot goes on.
func TestRedteamFragmentHomeLinks(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	m := fixtureMachine(t, testenv.Debian)
	addAccount(t, m.root, "ops", 1001, "/home/ops")
	addAccount(t, m.root, "dev", 1002, "/home/dev")
	if err := os.Symlink("/root", filepath.Join(m.root, "home/ops")); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(m.root, "home/dev/ssh-real")
	os.MkdirAll(real, 0o700)
	os.Chown(filepath.Join(m.root, "home/dev"), 1002, 1002)
	os.Chown(real, 1002, 1002)
	os.Symlink("ssh-real", filepath.Join(m.root, "home/dev/.ssh"))
	r := gceFilesRun(t, m, "ops:"+keyBob+"\ndev:"+keyBob+"\nalice:"+keyBob+"\n")
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0 (metadata never fails the boot)\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	mustContain(t, "log", r.out, `user "ops" skipped`, `user "dev" skipped`)
	if _, err := os.Lstat(filepath.Join(m.root, "root/.ssh")); err == nil {
		t.Errorf("keys went to root's home through ops's home link")
	}
	if _, err := os.Lstat(filepath.Join(real, "authorized_keys.d")); err == nil {
		t.Errorf("keys were written through dev's ~/.ssh link")
	}
	if got := readString(t, filepath.Join(m.root, "home/alice/.ssh/authorized_keys.d/ignition")); got != keyBob+"\n" {
		t.Errorf("alice's keys = %q", got)
	}
}

// A config's user whose ~/.ssh in the image is a link to root's: the plan
// refuses (it found the link fine, then the commit failed after useradd
// ran); nothing is written, root's ~/.ssh gets nothing.
func TestRedteamConfigKeysThroughSSHLink(t *testing.T) {
	m := fixtureMachine(t, testenv.Debian)
	addAccount(t, m.root, "ops", 1001, "/home/ops")
	os.MkdirAll(filepath.Join(m.root, "home/ops"), 0o700)
	os.Chown(filepath.Join(m.root, "home/ops"), 1001, 1001)
	os.MkdirAll(filepath.Join(m.root, "root/.ssh"), 0o700)
	os.Symlink("/root/.ssh", filepath.Join(m.root, "home/ops/.ssh"))
	before := treeSnapshot(t, m.root)
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd": map[string]any{"users": []any{
			map[string]any{"name": "alice"},
			map[string]any{"name": "ops", "sshAuthorizedKeys": []any{keyAlice}}}},
		"storage": map[string]any{"files": []any{dataFile("/etc/marker", "x")}}}))
	if r.code == 0 {
		t.Fatalf("files: exit 0; want the link refused in the plan")
	}
	mustContain(t, "log", r.out+r.stderr, "/home/ops/.ssh", "symlink")
	if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
		t.Errorf("the root changed though the plan failed:\n%s", d)
	}
}

// Changes shadow-utils --root cannot make, because the target keeps the
// account outside /etc (nss-altfiles), or that useradd refuses: refused in
// the plan with what to do, instead of failing after groups and users
// were changed.
func TestRedteamAccountChangesRefusedInPlan(t *testing.T) {
	users := func(u ...any) map[string]any { return map[string]any{"users": u} }
	for _, c := range []struct {
		name   string
		passwd map[string]any
		errs   []string
	}{
		{"usermod of an altfiles user", users(map[string]any{"name": "chrony", "gecos": "mine"}), []string{`"chrony"`, "/usr/lib/passwd"}},
		{"userdel of an altfiles user", users(map[string]any{"name": "chrony", "shouldExist": false}), []string{`"chrony"`, "/usr/lib/passwd"}},
		{"groupmod of an altfiles group", map[string]any{"groups": []any{map[string]any{"name": "chrony", "gid": 5000}}}, []string{`"chrony"`, "/usr/lib/group"}},
		{"new user in an altfiles group", users(map[string]any{"name": "alice", "groups": []any{"dialout"}}), []string{`"dialout"`, "/usr/lib/group"}},
		{"new user named like an altfiles group", users(map[string]any{"name": "dialout"}), []string{`"dialout"`, "/usr/lib/group"}},
		{"new user named like a group of /etc/group", users(map[string]any{"name": "wheel"}), []string{`"wheel"`, "/etc/group"}},
		{"new user named like a group of the config", map[string]any{"users": []any{map[string]any{"name": "alice"}}, "groups": []any{map[string]any{"name": "alice"}}}, []string{`"alice"`, "primaryGroup"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := fixtureMachine(t, testenv.FedoraCoreOS)
			before := treeSnapshot(t, m.root)
			r := offlineThenFiles(m, ignConfig(t, map[string]any{"passwd": c.passwd,
				"storage": map[string]any{"files": []any{dataFile("/etc/marker", "x")}}}))
			if r.code == 0 {
				t.Fatalf("files: exit 0; want the plan to refuse")
			}
			mustContain(t, "log", r.out+r.stderr, c.errs...)
			if strings.Contains(r.out+r.stderr, "exit status") {
				t.Errorf("a shadow-utils program ran and failed; want the plan to refuse first:\n%s", clip(r.out))
			}
			if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
				t.Errorf("the root changed though the plan failed:\n%s", d)
			}
		})
	}
}

// buildFakeGetent puts testdata/fakegetent at the target's /usr/bin/getent,
// misbehaving as mode says.
func buildFakeGetent(t *testing.T, root, mode string) {
	t.Helper()
	needTools(t, "go")
	bin := filepath.Join(root, "usr/bin/getent")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/fakegetent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake getent: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/fake-getent"), []byte(mode+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// getentPids lists the processes the fake getent started, and kills what
// is left of them when the test ends.
func getentPids(t *testing.T, root string) []int {
	t.Helper()
	var pids []int
	b, _ := os.ReadFile(filepath.Join(root, "fake-getent.pids"))
	for _, l := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(l); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// runGuarded runs the files stage, killing it if it has not ended after a
// generous bound (a guard against a hang, not a time limit it must meet).
func runGuarded(t *testing.T, m *machine) (result, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := stageCmd(ctx, m, nil, "file", "files")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the files stage did not end (killed after 3 minutes):\n%s", clip(out.String()))
	}
	r := result{out: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// The target's getent (its NSS sources that are not files: Debian's
// "files systemd") misbehaving: a getent whose child keeps its output open
// and sleeps, one that writes without end, one that answers with another
// account. The stage ends, with the owners not found (a plan error, the
// root untouched); a hung getent is given up on once, its processes are
// gone; the flood is not held in memory.
func TestRedteamTargetGetentMisbehaves(t *testing.T) {
	owned := func(names ...string) map[string]any {
		var fs []any
		for i, n := range names {
			fs = append(fs, map[string]any{"path": "/etc/owned" + strconv.Itoa(i), "user": map[string]any{"name": n}, "contents": map[string]any{"source": "data:,x"}})
		}
		return map[string]any{"storage": map[string]any{"files": fs}}
	}
	for _, c := range []struct {
		mode  string
		names []string
		log   []string
	}{
		{"hang", []string{"ghost1", "ghost2", "ghost3"}, []string{"ghost1", "gave up"}},
		{"flood", []string{"ghost"}, []string{"more than"}},
		{"other", []string{"ghost"}, []string{`user "ghost" is not in the target`}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			m := fixtureMachine(t, testenv.Debian)
			buildFakeGetent(t, m.root, c.mode)
			t.Cleanup(func() {
				for _, p := range getentPids(t, m.root) {
					syscall.Kill(p, syscall.SIGKILL)
				}
			})
			reconfigure(m, ignConfig(t, owned(c.names...)))
			before := treeSnapshot(t, m.root)
			r, rss := runGuarded(t, m)
			if r.code == 0 {
				t.Fatalf("files: exit 0; want the unknown owners refused")
			}
			mustContain(t, "log", r.out+r.stderr, c.log...)
			after := treeSnapshot(t, m.root)
			delete(after, "fake-getent.pids")
			delete(before, "fake-getent.pids")
			if d := snapshotDiff(before, after); d != "" {
				t.Errorf("the root changed though the plan failed:\n%s", d)
			}
			pids := getentPids(t, m.root)
			if c.mode == "hang" && len(pids) != 2 {
				t.Errorf("the hung getent ran %d time(s) (pids %v); want once (a process and its child), then given up on", len(pids)/2, pids)
			}
			for _, p := range pids {
				if syscall.Kill(p, 0) == nil {
					if b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); !strings.Contains(string(b), ") Z ") {
						t.Errorf("the target's getent (pid %d) is still running", p)
					}
				}
			}
			if rss > 256<<10 {
				t.Errorf("peak RSS %d KiB; want the getent output bounded", rss)
			}
		})
	}
}

// A FIFO where the stage reads the target's configuration
// (nsswitch.conf, /etc/default/useradd, an earlier result file): the plan
// fails naming it, instead of the stage blocking for good.
func TestRedteamFIFOsInTheTarget(t *testing.T) {
	for _, c := range []struct {
		fifo   string
		passwd map[string]any
	}{
		{"etc/nsswitch.conf", nil},
		{"usr/lib/passwd", nil},
		{"etc/default/useradd", map[string]any{"users": []any{map[string]any{"name": "alice"}}}},
		{"etc/.ignition-result.json", nil},
	} {
		t.Run(c.fifo, func(t *testing.T) {
			m := fixtureMachine(t, testenv.FedoraCoreOS)
			p := filepath.Join(m.root, c.fifo)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := map[string]any{"storage": map[string]any{"files": []any{
				map[string]any{"path": "/etc/marker", "user": map[string]any{"name": "chrony"}, "contents": map[string]any{"source": "data:,x"}}}}}
			if c.passwd != nil {
				cfg["passwd"] = c.passwd
			}
			reconfigure(m, ignConfig(t, cfg))
			before := treeSnapshot(t, m.root)
			r, _ := runGuarded(t, m)
			if r.code == 0 {
				t.Fatalf("files: exit 0; want the FIFO refused")
			}
			mustContain(t, "log", r.out+r.stderr, "/"+c.fifo, "not a regular file")
			if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
				t.Errorf("the root changed though the plan failed:\n%s", d)
			}
		})
	}
}

// A config that deletes a user and appends to /etc/passwd, and adds
// another: the deleted user is gone, the new one and the appended line are
// there once each.
func TestRedteamAppendToPasswdWithDeletedUser(t *testing.T) {
	m := fixtureMachine(t, testenv.Debian)
	addAccount(t, m.root, "ops", 1001, "/home/ops")
	os.MkdirAll(filepath.Join(m.root, "home/ops"), 0o700)
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd": map[string]any{"users": []any{map[string]any{"name": "ops", "shouldExist": false}, map[string]any{"name": "alice"}}},
		"storage": map[string]any{"files": []any{map[string]any{"path": "/etc/passwd",
			"append": []any{map[string]any{"source": "data:,svc:x:2500:2500::/var/lib/svc:/usr/sbin/nologin%0A"}}}}}}))
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	got := readString(t, filepath.Join(m.root, "etc/passwd"))
	for name, want := range map[string]int{"ops": 0, "alice": 1, "svc": 1, "root": 1} {
		if c := strings.Count("\n"+got, "\n"+name+":"); c != want {
			t.Errorf("/etc/passwd has %d line(s) for %s; want %d:\n%s", c, name, want, got)
		}
	}
	if strings.Contains(readString(t, filepath.Join(m.root, "etc/shadow")), "ops:") {
		t.Errorf("ops is still in /etc/shadow")
	}
}

// A skeleton holding a link into itself (/etc/skel/.config ->
// /etc/skel/.config-real): useradd points the copy at the new home's
// .config-real, and so does the plan, so a config file under ~/.config
// lands in the user's home, never in the image's skeleton. (useradd
// --root where /proc is not mounted stops copying the skeleton at its
// first subdirectory, exit 0: what it did copy is not asserted.)
func TestRedteamSkeletonLinkIntoItself(t *testing.T) {
	m := fixtureMachine(t, testenv.Debian)
	os.MkdirAll(filepath.Join(m.root, "etc/skel/.config-real"), 0o755)
	m.write(filepath.Join(m.root, "etc/skel/.config-real/base.conf"), "skel")
	os.Symlink("/etc/skel/.config-real", filepath.Join(m.root, "etc/skel/.config"))
	skel := treeSnapshot(t, filepath.Join(m.root, "etc/skel"))
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd":  map[string]any{"users": []any{map[string]any{"name": "alice"}}},
		"storage": map[string]any{"files": []any{dataFile("/home/alice/.config/app.conf", "mine")}}}))
	if d := snapshotDiff(skel, treeSnapshot(t, filepath.Join(m.root, "etc/skel"))); d != "" {
		t.Errorf("the image's skeleton changed:\n%s", d)
	}
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	if got := readString(t, filepath.Join(m.root, "home/alice/.config-real/app.conf")); got != "mine" {
		t.Errorf("alice's app.conf = %q; want the config's", got)
	}
}

// A FIFO in the skeleton: useradd copies it (mknod) into the new home, so
// the plan expects it there: a config file with overwrite replaces it
// (the commit failed on a path "changed since the plan", after useradd).
func TestRedteamSkeletonFIFO(t *testing.T) {
	m := fixtureMachine(t, testenv.Debian)
	if err := syscall.Mkfifo(filepath.Join(m.root, "etc/skel/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd": map[string]any{"users": []any{map[string]any{"name": "alice"}}},
		"storage": map[string]any{"files": []any{map[string]any{"path": "/home/alice/pipe", "overwrite": true,
			"contents": map[string]any{"source": "data:,mine"}}}}}))
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	if got := readString(t, filepath.Join(m.root, "home/alice/pipe")); got != "mine" {
		t.Errorf("/home/alice/pipe = %q; want the config's file", got)
	}
}

// /home a link to a directory that is not there (var/home before /var is
// populated): useradd makes the user, then fails on the home (exit 12),
// after the commit started. Refused in the plan, nothing changed.
func TestRedteamHomeThroughDanglingLink(t *testing.T) {
	m := fixtureMachine(t, testenv.Debian)
	os.Remove(filepath.Join(m.root, "home"))
	if err := os.Symlink("var/home", filepath.Join(m.root, "home")); err != nil {
		t.Fatal(err)
	}
	before := treeSnapshot(t, m.root)
	r := offlineThenFiles(m, ignConfig(t, map[string]any{
		"passwd":  map[string]any{"users": []any{map[string]any{"name": "alice"}}},
		"storage": map[string]any{"files": []any{dataFile("/etc/marker", "x")}}}))
	if r.code == 0 {
		t.Fatalf("files: exit 0; want the plan to refuse")
	}
	mustContain(t, "log", r.out+r.stderr, `user "alice"`, "/home is a symlink to nothing")
	if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
		t.Errorf("the root changed though the plan failed:\n%s", d)
	}
}
