package accounts

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/rootfs"
	"github.com/ignition-go/ignition/internal/testenv"
)

func load(t *testing.T, dir string, o Options) *DB {
	t.Helper()
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	db, err := Load(context.Background(), r, o)
	if err != nil {
		t.Fatalf("Load(%s) = %v", dir, err)
	}
	return db
}

func TestParseNsswitch(t *testing.T) {
	got := ParseNsswitch("# comment\npasswd:  files altfiles [SUCCESS=merge] systemd # end\ngroup: files [NOTFOUND=return\tUNAVAIL=continue] sss\nhosts: files dns\n")
	want := map[string][]string{
		"passwd": {"files", "altfiles", "systemd"},
		"group":  {"files", "sss"},
		"hosts":  {"files", "dns"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseNsswitch = %v; want %v", got, want)
	}
}

// Each fixture root resolves names as its NSS does: the modules its
// nsswitch.conf lists, in order, each reading its own files.
func TestLookupsFollowTheTargetsNSS(t *testing.T) {
	cases := []struct {
		kind   RootKindAlias
		user   string
		uid    int
		source string
		group  string
		gid    int
	}{
		{testenv.FedoraCoreOS, "root", 0, "/etc/passwd", "root", 0},
		{testenv.FedoraCoreOS, "chrony", 996, "/usr/lib/passwd", "wheel", 10},
		{testenv.Flatcar, "core", 500, "/usr/share/baselayout/passwd", "docker", 233},
		{testenv.Debian, "_apt", 42, "/etc/passwd", "sudo", 27},
	}
	for _, c := range cases {
		db := load(t, testenv.NewRoot(t, c.kind), Options{})
		u, ok := db.User(c.user)
		if !ok || u.UID != c.uid || u.SourceFile != c.source {
			t.Errorf("%s: User(%q) = %+v, %v; want uid %d from %s", c.kind, c.user, u, ok, c.uid, c.source)
		}
		g, ok := db.Group(c.group)
		if !ok || g.GID != c.gid {
			t.Errorf("%s: Group(%q) = %+v, %v; want gid %d", c.kind, c.group, g, ok, c.gid)
		}
		if _, ok := db.User("nobody-at-all"); ok {
			t.Errorf("%s: an unknown user was found", c.kind)
		}
	}
}

// RootKindAlias keeps the table above short.
type RootKindAlias = testenv.RootKind

// A line in an earlier source wins; a source the package cannot read is
// asked through getent, once per name, in its place in the order.
func TestOrderAndGetent(t *testing.T) {
	dir := t.TempDir()
	w := func(p, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644)
	}
	w("etc/nsswitch.conf", "passwd: files sss altfiles\ngroup: files\n")
	w("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nbroken line\nshared:x:1001:1001::/srv/x:/bin/sh\n")
	w("usr/lib/passwd", "root:x:99:99:shadowed:/:/sbin/nologin\nlate:x:1002:1002::/srv/x:/bin/sh\nsssuser:x:1:1::/:/bin/sh\n")
	asked := map[string]int{}
	db := load(t, dir, Options{Getent: func(_ context.Context, database, key string) (string, bool, error) {
		asked[database+" "+key]++
		if key == "sssuser" {
			return "sssuser:x:7000:7000:from sss:/home/sssuser:/bin/bash", true, nil
		}
		if key == "broken" {
			return "", false, errors.New("no such daemon")
		}
		return "", false, nil
	}, Log: testenv.NopLog{}})
	if u, _ := db.User("root"); u.UID != 0 {
		t.Errorf("root = %+v; want /etc/passwd's (files comes first)", u)
	}
	if u, ok := db.User("sssuser"); !ok || u.UID != 7000 || u.Source != "getent" {
		t.Errorf("sssuser = %+v, %v; want getent's answer (sss comes before altfiles)", u, ok)
	}
	if u, ok := db.User("late"); !ok || u.UID != 1002 {
		t.Errorf("late = %+v, %v; want altfiles' line", u, ok)
	}
	db.User("missing")
	db.User("missing")
	db.User("broken")
	if asked["passwd missing"] != 1 || asked["passwd root"] != 0 {
		t.Errorf("getent asked %v; want once per name not found before it", asked)
	}
	if _, ok := db.User("broken"); ok {
		t.Errorf("a getent failure found a user")
	}
	late, _ := db.User("late")
	if got := db.SharingHome(late); !reflect.DeepEqual(got, []string{"shared"}) {
		t.Errorf("SharingHome(late) = %v; want [shared]", got)
	}
}

// Only login accounts: system uids, nologin shells, homes / or shared, or
// none, are named with the reason.
func TestNotLogin(t *testing.T) {
	fcos := load(t, testenv.NewRoot(t, testenv.FedoraCoreOS), Options{})
	flatcar := load(t, testenv.NewRoot(t, testenv.Flatcar), Options{})
	for _, c := range []struct {
		db       *DB
		name     string
		checkUID bool
		want     string // part of the reason; "" for a login account
	}{
		{fcos, "operator", true, "below the target's UID_MIN 1000"},
		{fcos, "operator", false, "allows no login"},
		{fcos, "nobody", false, "allows no login"},
		{fcos, "root", false, "uid 0 is root's"},
		{flatcar, "core", true, "below the target's UID_MIN"},
		{flatcar, "core", false, ""},
	} {
		u, ok := c.db.User(c.name)
		if !ok {
			t.Fatalf("%s not found", c.name)
		}
		got := c.db.NotLogin(u, c.checkUID)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("NotLogin(%s, %v) = %q; want %q", c.name, c.checkUID, got, c.want)
		}
	}
	u := User{Name: "x", UID: 2000, Home: "/", Shell: "/bin/bash"}
	if got := fcos.NotLogin(u, true); !strings.Contains(got, "home directory is /") {
		t.Errorf("NotLogin(home /) = %q", got)
	}
	u.Home = "/root"
	if got := fcos.NotLogin(u, true); !strings.Contains(got, "is also root's, operator's") && !strings.Contains(got, "is also root, operator's") {
		t.Errorf("NotLogin(home /root) = %q; want it shared with root and operator", got)
	}
	u.Home = ""
	if got := fcos.NotLogin(u, true); !strings.Contains(got, "no home") {
		t.Errorf("NotLogin(no home) = %q", got)
	}
}

// UID_MIN comes from the target's login.defs; 1000 without one.
func TestUIDMin(t *testing.T) {
	dir := t.TempDir()
	if db := load(t, dir, Options{}); db.UIDMin() != 1000 {
		t.Errorf("UIDMin without login.defs = %d; want 1000", db.UIDMin())
	}
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc/login.defs"), []byte("# UID_MIN 1\nUID_MIN\t\t 500\nSYS_UID_MIN 100\n"), 0o644)
	if db := load(t, dir, Options{}); db.UIDMin() != 500 {
		t.Errorf("UIDMin = %d; want 500", db.UIDMin())
	}
}

// The account files are read inside the root: a link in the image to this
// machine's /etc/passwd resolves to the root's own file.
func TestReadsStayInRoot(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, "real"), 0o755)
	os.WriteFile(filepath.Join(dir, "real/passwd"), []byte("inroot:x:1234:1234::/home/inroot:/bin/sh\n"), 0o644)
	os.Symlink("/real/passwd", filepath.Join(dir, "etc/passwd"))
	os.WriteFile(filepath.Join(dir, "real/group"), []byte("ingroup:x:1234:\n"), 0o644)
	os.Symlink("../../../../../../../../real/group", filepath.Join(dir, "etc/group"))
	db := load(t, dir, Options{})
	if u, ok := db.User("inroot"); !ok || u.UID != 1234 {
		t.Errorf("inroot = %+v, %v; want the root's own file through the link", u, ok)
	}
	if _, ok := db.User("root"); ok {
		t.Errorf("the host's root was found: a read left the target root")
	}
	if _, ok := db.Group("ingroup"); !ok {
		t.Errorf("ingroup not found through a link with .. above the root")
	}
	if _, ok := db.Group("root"); ok {
		t.Errorf("the host's root group was found: a read left the target root")
	}
}

// The target's own getent, chrooted: the real Debian root of make
// test-deps answers for its "systemd" source, and what its files hold.
func TestChrootGetent(t *testing.T) {
	testenv.NeedRoot(t, "chroot")
	src, _ := filepath.Abs("../../.cache/debroot")
	if _, err := os.Stat(filepath.Join(src, "usr/bin/getent")); err != nil {
		testenv.Skip(t, "no Debian root in .cache/debroot (make test-deps debootstraps it)")
	}
	r, err := rootfs.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g := ChrootGetent(r)
	if g == nil {
		t.Fatal("ChrootGetent = nil for a root with /usr/bin/getent")
	}
	line, ok, err := g(context.Background(), "passwd", "_apt")
	if err != nil || !ok || !strings.HasPrefix(line, "_apt:x:") {
		t.Errorf("getent passwd _apt = %q, %v, %v", line, ok, err)
	}
	if _, ok, err := g(context.Background(), "group", "no-such-group"); ok || err != nil {
		t.Errorf("getent group no-such-group = %v, %v; want not found", ok, err)
	}
	if ChrootGetent(mustOpen(t, t.TempDir())) != nil {
		t.Errorf("ChrootGetent of a root without getent is not nil")
	}
}

func mustOpen(t *testing.T, dir string) *rootfs.Root {
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// The target's configuration is read only from regular files, through
// links inside the root: a FIFO (which would block the stage for good), a
// directory or a link loop is an error naming the path; a link out of the
// root stays in it; nothing there is fs.ErrNotExist.
func TestReadConfig(t *testing.T) {
	testenv.NeedRoot(t, "mkfifo and a link to /etc/shadow")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc/real"), []byte("in the root"), 0o644)
	os.Symlink("/etc/real", filepath.Join(dir, "etc/abs"))
	os.Symlink("../../../../../etc/real", filepath.Join(dir, "etc/up"))
	os.Symlink("loop2", filepath.Join(dir, "etc/loop1"))
	os.Symlink("loop1", filepath.Join(dir, "etc/loop2"))
	os.Symlink("fifo", filepath.Join(dir, "etc/tofifo"))
	if err := unix.Mkfifo(filepath.Join(dir, "etc/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "etc/dir"), 0o755)
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, p := range []string{"/etc/real", "/etc/abs", "/etc/up"} {
		if b, err := ReadConfig(r, p); err != nil || string(b) != "in the root" {
			t.Errorf("ReadConfig(%s) = %q, %v; want the root's file", p, b, err)
		}
	}
	for p, want := range map[string]error{"/etc/fifo": ErrNotRegular, "/etc/tofifo": ErrNotRegular, "/etc/dir": ErrNotRegular, "/etc/none": fs.ErrNotExist, "/etc/real/x": fs.ErrNotExist} {
		if _, err := ReadConfig(r, p); !errors.Is(err, want) {
			t.Errorf("ReadConfig(%s) = %v; want %v", p, err, want)
		}
	}
	if _, err := ReadConfig(r, "/etc/loop1"); err == nil || !strings.Contains(err.Error(), "/etc/loop1") {
		t.Errorf("ReadConfig(a link loop) = %v; want an error naming it", err)
	}
}

// login.defs as shadow-utils reads it: the last of a key wins, numbers in
// C's bases; a UID_MIN of 0 or garbage leaves the default; uid 0 is never
// a login account, whatever UID_MIN says.
func TestLoginDefsValues(t *testing.T) {
	for _, c := range []struct {
		defs string
		want int
	}{
		{"UID_MIN 500\nUID_MIN 2000\n", 2000},
		{"UID_MIN\t0x3E8\n", 1000},
		{"UID_MIN 0x7D0\n", 2000},
		{"UID_MIN 0\n", 1000},
		{"UID_MIN -5\n", 1000},
		{"UID_MIN lots\n", 1000},
		{"# UID_MIN 5\n", 1000},
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
		os.WriteFile(filepath.Join(dir, "etc/login.defs"), []byte(c.defs), 0o644)
		db := load(t, dir, Options{})
		if got := db.UIDMin(); got != c.want {
			t.Errorf("UIDMin() with %q = %d; want %d", c.defs, got, c.want)
		}
		root := User{Name: "root", UID: 0, Home: "/root", Shell: "/bin/bash"}
		if db.NotLogin(root, false) == "" {
			t.Errorf("with %q, root is a login account for the platform's keys", c.defs)
		}
	}
}

// The getent output bound holds whatever way it is written to (io.Copy
// must not find a ReadFrom that bypasses it).
func TestCappedOutput(t *testing.T) {
	c := &capped{max: 1 << 10}
	n, err := io.Copy(c, io.LimitReader(zeros{}, 1<<20))
	if err == nil || !c.over || c.buf.Len() > 1<<10 {
		t.Errorf("io.Copy of 1 MiB into a 1 KiB cap = %d, %v (kept %d); want it stopped at the cap", n, err, c.buf.Len())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
