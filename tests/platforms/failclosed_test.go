package platforms

// The files stage, through the real binary, fails closed and loses
// nothing: every path resolves inside the target root, a failure at any
// phase (fetch, verify, owner lookup, useradd, a signal) leaves the root as
// it was, and secrets and forged lines never reach the log.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/testenv"
)

// needFor skips a test that lacks a tool or a privilege on a laptop; in
// CI (CI set) the missing piece is a failure.
func needFor(t *testing.T, ok bool, why string) {
	t.Helper()
	if !ok {
		testenv.Skip(t, "%s", why)
	}
}

func needRootForFiles(t *testing.T) {
	t.Helper()
	needFor(t, os.Geteuid() == 0, "the files stage needs root (chown, useradd --root)")
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		needFor(t, err == nil, tool+" is not installed")
	}
}

// treeSnapshot records every entry under dir by its path relative to dir:
// type and mode bits (setuid, setgid and sticky included), owner, and a
// regular file's size and content hash or a symlink's target. Timestamps
// are left out.
func treeSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		s := fmt.Sprintf("mode %07o owner %d:%d", st.Mode, st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" size %d sha256 %x", len(b), sha256.Sum256(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			s += " -> " + target
		}
		snap[rel] = s
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", dir, err)
	}
	return snap
}

// snapshotDiff lists what changed between two snapshots ("" when nothing),
// the first few dozen lines of it.
func snapshotDiff(before, after map[string]string) string {
	var lines []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			lines = append(lines, "removed "+p+" ("+b+")")
		case a != b:
			lines = append(lines, "changed "+p+": "+b+" => "+a)
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			lines = append(lines, "added   "+p+" ("+a+")")
		}
	}
	sort.Strings(lines)
	if n := len(lines); n > 15 {
		lines = append(lines[:15], fmt.Sprintf("... and %d more", n-15))
	}
	return strings.Join(lines, "\n")
}

// newDirs lists the directories in after that before did not have.
func newDirs(before, after map[string]string) []string {
	var out []string
	for p, a := range after {
		if _, ok := before[p]; !ok && isDirEntry(a) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func isDirEntry(snapEntry string) bool {
	var mode uint32
	fmt.Sscanf(snapEntry, "mode %o", &mode)
	return mode&unix.S_IFMT == unix.S_IFDIR
}

// tempLeftovers finds temp files under dir: any name with ".ignition-" in
// it (".ignition-tmp-*", ".motd.ignition-123-4", ...) except the result
// file itself.
func tempLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".ignition-") && d.Name() != ".ignition-result.json" {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// hostState describes a path on this machine, to show it was not touched:
// absent, or its inode, mode, owner, size, mtime and content hash.
func hostState(p string) string {
	fi, err := os.Lstat(p)
	if err != nil {
		return "absent (" + err.Error() + ")"
	}
	st := fi.Sys().(*syscall.Stat_t)
	s := fmt.Sprintf("ino %d mode %07o owner %d:%d size %d mtime %d.%09d", st.Ino, st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
	if fi.Mode().IsRegular() {
		b, _ := os.ReadFile(p)
		s += fmt.Sprintf(" sha256 %x", sha256.Sum256(b))
	}
	return s
}

// accounts writes a minimal passwd, group, shadow and gshadow into etc (a
// target's /etc, wherever it really is), as useradd --root needs them.
func accounts(t *testing.T, etc string) {
	t.Helper()
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		data string
		mode os.FileMode
	}{
		"passwd":  {"root:x:0:0:root:/root:/bin/sh\nops:x:4242:4343:ops:/home/ops:/bin/sh\n", 0o644},
		"group":   {"root:x:0:\nopsgrp:x:4343:\n", 0o644},
		"shadow":  {"root:*:19000:0:99999:7:::\nops:*:19000:0:99999:7:::\n", 0o600},
		"gshadow": {"root:*::\nopsgrp:*::\n", 0o600},
	} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(c.data), c.mode); err != nil {
			t.Fatal(err)
		}
	}
}

// ignConfig renders a 3.6.0 config from its sections.
func ignConfig(t *testing.T, sections map[string]any) string {
	t.Helper()
	sections["ignition"] = map[string]any{"version": "3.6.0"}
	b, err := json.Marshal(sections)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dataFile(path, contents string) map[string]any {
	return map[string]any{"path": path, "contents": map[string]any{"source": "data:," + contents}}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("%v", err)
	}
	return string(b)
}

// clip keeps the first lines of a long output for a failure message.
func clip(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= 30 {
		return s
	}
	return strings.Join(lines[:30], "\n") + fmt.Sprintf("\n... and %d more lines", len(lines)-30)
}

// stageCmd is the command machine.run runs, for runs the test wraps or
// signals.
func stageCmd(ctx context.Context, m *machine, wrap []string, platform, stage string, extra ...string) *exec.Cmd {
	args := append(append([]string{}, wrap...), ignitionBin, "-platform", platform, "-stage", stage, "-root", m.root, "-log-to-stdout",
		"-config-cache", filepath.Join(m.state, "ignition.json"), "-state-file", filepath.Join(m.state, "state"),
		"-neednet", filepath.Join(m.state, "neednet"))
	cmd := exec.CommandContext(ctx, args[0], append(args[1:], extra...)...)
	cmd.Env = append(os.Environ(), m.env...)
	return cmd
}

// offlineThenFiles caches cfg with fetch-offline (which must succeed) and
// runs the files stage.
func offlineThenFiles(m *machine, cfg string) result {
	m.t.Helper()
	reconfigure(m, cfg)
	return m.run("file", "files")
}

// A directory with overwrite replaces a regular file in its
// place, a file below it lands there, and an unrelated file elsewhere in
// the same run lands at its own path and nowhere else.
func TestFilesDirectoryReplacesFileInTheWay(t *testing.T) {
	needRootForFiles(t)
	m := newMachine(t)
	m.write(filepath.Join(m.root, "var/lib/app"), "a file where a directory goes")
	r := offlineThenFiles(m, `{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,node1"}},{"path":"/var/lib/app/conf/app.conf","contents":{"source":"data:,x=1"}}],"directories":[{"path":"/var/lib/app","overwrite":true}]}}`)
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	if got := readString(t, filepath.Join(m.root, "etc/hostname")); got != "node1" {
		t.Errorf("/etc/hostname = %q; want %q", got, "node1")
	}
	if fi, err := os.Lstat(filepath.Join(m.root, "var/lib/app")); err != nil || !fi.IsDir() {
		t.Errorf("/var/lib/app: %v, %v; want a directory", fi, err)
	}
	if got := readString(t, filepath.Join(m.root, "var/lib/app/conf/app.conf")); got != "x=1" {
		t.Errorf("/var/lib/app/conf/app.conf = %q; want %q", got, "x=1")
	}
	var hostnames []string
	filepath.WalkDir(filepath.Dir(m.root), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "hostname" {
			hostnames = append(hostnames, p)
		}
		return nil
	})
	if want := filepath.Join(m.root, "etc/hostname"); len(hostnames) != 1 || hostnames[0] != want {
		t.Errorf("files named hostname: %v; want only %s", hostnames, want)
	}
	if l := tempLeftovers(t, m.root); len(l) > 0 {
		t.Errorf("temp files left: %v", l)
	}
}

// A file with overwrite replaces a directory full of files while
// 400 other files are written in the same run.
func TestFilesFileReplacesDirectoryAmongMany(t *testing.T) {
	needRootForFiles(t)
	m := newMachine(t)
	m.write(filepath.Join(m.root, "data/sub/a"), "old a")
	m.write(filepath.Join(m.root, "data/sub/deep/b"), "old b")
	var entries []any
	want := map[string]string{}
	for i := 0; i < 400; i++ {
		p := fmt.Sprintf("/data/f%03d", i)
		if i%4 != 0 {
			p = fmt.Sprintf("/data/d%02d/f%03d", i%20, i)
		}
		want[p] = fmt.Sprintf("c%03d", i)
		entries = append(entries, dataFile(p, want[p]))
		if i == 200 {
			f := dataFile("/data/sub", "now-a-file")
			f["overwrite"] = true
			entries = append(entries, f)
		}
	}
	r := offlineThenFiles(m, ignConfig(t, map[string]any{"storage": map[string]any{"files": entries}}))
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s", r.code, clip(r.stderr))
	}
	for p, c := range want {
		if got, err := os.ReadFile(filepath.Join(m.root, p)); err != nil || string(got) != c {
			t.Errorf("%s = %q (%v); want %q", p, got, err, c)
		}
	}
	if fi, err := os.Lstat(filepath.Join(m.root, "data/sub")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("/data/sub: %v, %v; want a regular file", fi, err)
	} else if got := readString(t, filepath.Join(m.root, "data/sub")); got != "now-a-file" {
		t.Errorf("/data/sub = %q; want %q", got, "now-a-file")
	}
	if l := tempLeftovers(t, m.root); len(l) > 0 {
		t.Errorf("temp files left: %v", l)
	}
}

// reconfigure caches a new config with fetch-offline (which must succeed),
// as a later boot with another config would.
func reconfigure(m *machine, cfg string) {
	m.t.Helper()
	m.write(m.conf, cfg)
	if r := m.run("file", "fetch-offline"); r.code != 0 {
		m.t.Fatalf("fetch-offline: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
}

// rejectedOrRun caches cfg and runs the files stage, unless validation
// rejects it (Ignition refuses a path through a link the same config
// makes): then nothing may be cached, and ran is false.
func rejectedOrRun(m *machine, cfg string) (r result, ran bool) {
	m.t.Helper()
	m.write(m.conf, cfg)
	r = m.run("file", "fetch-offline")
	if r.code != 0 {
		if m.exists("ignition.json") {
			m.t.Errorf("fetch-offline failed (exit %d) but cached the config", r.code)
		}
		m.t.Logf("the config was rejected by validation:\n%s", clip(r.stderr))
		return r, false
	}
	return m.run("file", "files"), true
}

// Links to "/" and ".." resolve inside the root: files written through
// them land at the top of the root, never on this machine. Made by one
// config and written through by the next, or both in one config (which
// validation may refuse).
func TestFilesThroughLinksToTheRoot(t *testing.T) {
	links := []any{map[string]any{"path": "/foo", "target": "/"}, map[string]any{"path": "/a/up", "target": ".."}}
	files := []any{dataFile("/foo/bar", "bar"), dataFile("/a/up/x", "x")}
	for _, oneConfig := range []bool{false, true} {
		t.Run(map[bool]string{false: "links then files", true: "one config"}[oneConfig], func(t *testing.T) {
			needRootForFiles(t)
			hostBefore := map[string]string{"/bar": hostState("/bar"), "/x": hostState("/x")}
			m := newMachine(t)
			before := treeSnapshot(t, m.root)
			var r result
			if oneConfig {
				var ran bool
				r, ran = rejectedOrRun(m, ignConfig(t, map[string]any{"storage": map[string]any{"links": links, "files": files}}))
				if !ran {
					if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
						t.Errorf("a rejected config changed the root:\n%s", d)
					}
					return
				}
			} else {
				if r := offlineThenFiles(m, ignConfig(t, map[string]any{"storage": map[string]any{"links": links}})); r.code != 0 {
					t.Fatalf("files (links): exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
				}
				reconfigure(m, ignConfig(t, map[string]any{"storage": map[string]any{"files": files}}))
				r = m.run("file", "files")
			}
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			for p, want := range map[string]string{"bar": "bar", "x": "x"} {
				if got := readString(t, filepath.Join(m.root, p)); got != want {
					t.Errorf("<root>/%s = %q; want %q", p, got, want)
				}
			}
			for p, want := range map[string]string{"foo": "/", "a/up": ".."} {
				if got, err := os.Readlink(filepath.Join(m.root, p)); err != nil || got != want {
					t.Errorf("<root>/%s -> %q (%v); want -> %q", p, got, err, want)
				}
			}
			for p, before := range hostBefore {
				if after := hostState(p); after != before {
					t.Errorf("host %s changed: %s => %s", p, before, after)
				}
			}
			if l := tempLeftovers(t, m.root); len(l) > 0 {
				t.Errorf("temp files left: %v", l)
			}
		})
	}
}

// etcSandbox is a command prefix that runs a program in a private mount
// namespace whose /etc is an overlay of this machine's /etc: a write that
// would land in the host's /etc lands in upper instead, and the host is
// never touched.
func etcSandbox(t *testing.T) (wrap []string, upper string) {
	t.Helper()
	needTools(t, "unshare", "mount")
	d := t.TempDir()
	upper, work := filepath.Join(d, "upper"), filepath.Join(d, "work")
	os.Mkdir(upper, 0o755)
	os.Mkdir(work, 0o755)
	wrap = []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 99; shift 2; exec "$@"`, "sh", upper, work}
	probe := exec.Command(wrap[0], append(wrap[1:], "true")...)
	out, err := probe.CombinedOutput()
	needFor(t, err == nil, fmt.Sprintf("no overlay over /etc in a mount namespace to keep the host safe: %v %s", err, out))
	return wrap, upper
}

// A link /etc -> /etc (a loop inside the root, and this machine's /etc
// read naively) with a file below it, made by one config and written
// through by the next, or both in one config: the stage may fail, but
// nothing, the result file included, reaches the host's /etc. The stage
// runs in a mount namespace with an overlay on /etc, so a wrong write is
// caught there instead of landing on this machine.
func TestFilesEtcLinkLoopStaysInRoot(t *testing.T) {
	link := []any{map[string]any{"path": "/etc", "target": "/etc", "overwrite": true}}
	files := []any{dataFile("/etc/motd", "forged-motd")}
	for _, oneConfig := range []bool{false, true} {
		t.Run(map[bool]string{false: "link then file", true: "one config"}[oneConfig], func(t *testing.T) {
			needRootForFiles(t)
			wrap, upper := etcSandbox(t)
			watched := []string{"/etc/.ignition-result.json", "/etc/motd"}
			before := map[string]string{}
			for _, p := range watched {
				before[p] = hostState(p)
			}
			m := newMachine(t)
			sandboxedFiles := func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				out, err := stageCmd(ctx, m, wrap, "file", "files").CombinedOutput()
				if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 99 {
					t.Fatalf("the /etc overlay could not be mounted:\n%s", out)
				}
				t.Logf("files (may fail): %v\n%s", err, clip(string(out)))
			}
			if oneConfig {
				m.write(m.conf, ignConfig(t, map[string]any{"storage": map[string]any{"links": link, "files": files}}))
				if r := m.run("file", "fetch-offline"); r.code == 0 {
					sandboxedFiles()
				} else if m.exists("ignition.json") {
					t.Errorf("fetch-offline failed (exit %d) but cached the config", r.code)
				}
			} else {
				reconfigure(m, ignConfig(t, map[string]any{"storage": map[string]any{"links": link}}))
				sandboxedFiles()
				reconfigure(m, ignConfig(t, map[string]any{"storage": map[string]any{"files": files}}))
				sandboxedFiles()
			}
			var escaped []string
			filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
				if err == nil && p != upper {
					escaped = append(escaped, "/etc"+strings.TrimPrefix(p, upper))
				}
				return nil
			})
			if len(escaped) > 0 {
				t.Errorf("the files stage wrote into the host's /etc (caught by the overlay): %v", escaped)
			}
			for _, p := range watched {
				if after := hostState(p); after != before[p] {
					t.Errorf("host %s changed: %s => %s", p, before[p], after)
				}
			}
			if l := tempLeftovers(t, m.root); len(l) > 0 {
				t.Errorf("temp files left: %v", l)
			}
		})
	}
}

func selinuxLabel(p string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, "security.selinux", buf)
	if err != nil {
		return "none (" + err.Error() + ")"
	}
	return strings.TrimRight(string(buf[:n]), "\x00")
}

// An image whose /etc, /var and /home/core are absolute symlinks
// naming directories that also exist on this machine: everything resolves
// as if chrooted (/etc -> H1 is <root>/H1), files, users, keys, the result
// file and the SELinux relabel included, and the host's H1, H2 and H3 stay
// empty and unlabelled.
func TestFilesImageSymlinksToHostPaths(t *testing.T) {
	for _, selinux := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "selinux"}[selinux], func(t *testing.T) {
			needRootForFiles(t)
			needTools(t, "useradd")
			if selinux {
				needTools(t, "setfiles")
			}
			h1, h2, h3 := t.TempDir(), t.TempDir(), t.TempDir()
			hosts := []string{h1, h2, h3}
			m := newMachine(t)
			os.MkdirAll(filepath.Join(m.root, "home"), 0o755)
			for link, target := range map[string]string{"etc": h1, "var": h2, "home/core": h3} {
				if err := os.Symlink(target, filepath.Join(m.root, link)); err != nil {
					t.Fatal(err)
				}
				os.MkdirAll(filepath.Join(m.root, target), 0o755)
			}
			inEtc := filepath.Join(m.root, h1) // where the image's /etc really is
			accounts(t, inEtc)
			if selinux {
				m.write(filepath.Join(inEtc, "selinux/config"), "SELINUX=enforcing\nSELINUXTYPE=targeted\n")
				m.write(filepath.Join(inEtc, "selinux/targeted/contexts/files/file_contexts"), "/.*\tsystem_u:object_r:etc_t:s0\n")
			}
			labels := map[string]string{}
			for _, h := range hosts {
				labels[h] = selinuxLabel(h)
			}
			m.write(m.conf, ignConfig(t, map[string]any{
				"storage": map[string]any{"files": []any{dataFile("/etc/motd", "hello"), dataFile("/var/lib/x", "x")}},
				"passwd":  map[string]any{"users": []any{map[string]any{"name": "core", "homeDir": "/home/core", "sshAuthorizedKeys": []string{"ssh-ed25519 AAAAimage core@x"}}}},
			}))
			if r := m.run("file", "fetch-offline"); r.code != 0 {
				t.Fatalf("fetch-offline: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			r := m.run("file", "files")
			for _, h := range hosts {
				if entries, _ := os.ReadDir(h); len(entries) > 0 {
					var names []string
					for _, e := range entries {
						names = append(names, e.Name())
					}
					t.Errorf("host directory %s got %v; want it empty", h, names)
				}
				if got := selinuxLabel(h); got != labels[h] {
					t.Errorf("host directory %s relabelled: %s => %s", h, labels[h], got)
				}
			}
			if l := tempLeftovers(t, m.root); len(l) > 0 {
				t.Errorf("temp files left: %v", l)
			}
			if selinux && r.code != 0 {
				// failing cleanly is allowed with SELinux: an error, nothing on the host
				if r.stderr == "" {
					t.Errorf("files: exit %d without an error on stderr", r.code)
				}
				t.Logf("files failed cleanly: %s", r.stderr)
				return
			}
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			if got := readString(t, filepath.Join(inEtc, "motd")); got != "hello" {
				t.Errorf("<root>%s/motd = %q; want %q", h1, got, "hello")
			}
			if got := readString(t, filepath.Join(m.root, h2, "lib/x")); got != "x" {
				t.Errorf("<root>%s/lib/x = %q; want %q", h2, got, "x")
			}
			if got := readString(t, filepath.Join(inEtc, "passwd")); !strings.Contains(got, "\ncore:") {
				t.Errorf("<root>%s/passwd lacks core:\n%s", h1, got)
			}
			if got := readString(t, filepath.Join(m.root, h3, ".ssh/authorized_keys.d/ignition")); got != "ssh-ed25519 AAAAimage core@x\n" {
				t.Errorf("core's key fragment = %q", got)
			}
			if _, err := os.Stat(filepath.Join(inEtc, ".ignition-result.json")); err != nil {
				t.Errorf("the result file is not in the image's /etc (<root>%s): %v", h1, err)
			}
			if selinux {
				if got := selinuxLabel(filepath.Join(inEtc, "motd")); got != "system_u:object_r:etc_t:s0" {
					t.Errorf("label of <root>%s/motd = %q; want the target's etc_t", h1, got)
				}
			}
		})
	}
}

// A failure at any phase (fetch, verification, owner lookup,
// useradd) fails the stage naming the object and leaves the root exactly
// as it was: no file replaced, no new directory, no temp file.
func TestFilesFailureLeavesRootUntouched(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	other := sha512.Sum512([]byte("other"))
	const bad = 499 // the 500th file
	badPath := fmt.Sprintf("/srv/d%02d/f%04d", bad%100, bad)
	cases := []struct {
		name  string
		tools []string
		spoil func(f map[string]any) // file 500
		users []any
		want  []string // in the error
	}{
		{name: "fetch", spoil: func(f map[string]any) { f["contents"] = map[string]any{"source": srv.URL + "/missing"} },
			want: []string{badPath}},
		{name: "verify", spoil: func(f map[string]any) {
			f["contents"].(map[string]any)["verification"] = map[string]any{"hash": "sha512-" + hex.EncodeToString(other[:])}
		}, want: []string{badPath}},
		{name: "owner", spoil: func(f map[string]any) { f["user"] = map[string]any{"name": "nosuchuser"} },
			want: []string{badPath, "nosuchuser"}},
		{name: "useradd", tools: []string{"useradd"}, users: []any{map[string]any{"name": "alice", "primaryGroup": "nosuchgroup"}},
			want: []string{"alice", "nosuchgroup"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			needRootForFiles(t)
			needTools(t, c.tools...)
			m := newMachine(t)
			accounts(t, filepath.Join(m.root, "etc"))
			m.write(filepath.Join(m.root, "etc/existing"), "precious")
			os.MkdirAll(filepath.Join(m.root, "srv"), 0o755)
			existing := dataFile("/etc/existing", "replaced")
			existing["overwrite"] = true
			entries := []any{existing}
			for i := 0; i < 1000; i++ {
				f := dataFile(fmt.Sprintf("/srv/d%02d/f%04d", i%100, i), fmt.Sprintf("c%04d", i))
				if i == bad && c.spoil != nil {
					c.spoil(f)
				}
				entries = append(entries, f)
			}
			sections := map[string]any{"storage": map[string]any{"files": entries}}
			if c.users != nil {
				sections["passwd"] = map[string]any{"users": c.users}
			}
			before := treeSnapshot(t, m.root)
			r := offlineThenFiles(m, ignConfig(t, sections))
			if r.code != 1 {
				t.Fatalf("files: exit %d; want 1\n%s", r.code, clip(r.stderr))
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the error does not name %q:\n%s", w, clip(r.stderr))
				}
			}
			after := treeSnapshot(t, m.root)
			if d := snapshotDiff(before, after); d != "" {
				t.Errorf("the failed stage changed the root:\n%s", d)
			}
			if d := newDirs(before, after); len(d) > 0 {
				t.Errorf("the failed stage left new directories (%d): %v", len(d), d[:min(len(d), 10)])
			}
			if l := tempLeftovers(t, m.root); len(l) > 0 {
				t.Errorf("temp files left (%d): %v", len(l), l[:min(len(l), 10)])
			}
		})
	}
}

// A signal in the middle of a download. SIGTERM: the stage stops,
// fails, and leaves the root as it was. SIGKILL cannot be caught: the next
// run succeeds and removes what the killed one left.
func TestFilesSignalMidDownload(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGKILL: "SIGKILL"}[sig], func(t *testing.T) {
			needRootForFiles(t)
			blob := bytes.Repeat([]byte("0123456789abcdef"), 8<<20/16)
			var fast atomic.Bool
			started := make(chan struct{}, 1)
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
				if fast.Load() {
					w.Write(blob)
					return
				}
				w.Write(blob[:3<<20])
				w.(http.Flusher).Flush()
				select {
				case started <- struct{}{}:
				default:
				}
				select { // stall until the client is gone
				case <-r.Context().Done():
				case <-release:
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })

			m := newMachine(t)
			m.write(filepath.Join(m.root, "etc/keep"), "kept")
			m.write(m.conf, ignConfig(t, map[string]any{"storage": map[string]any{"files": []any{
				dataFile("/etc/small", "small"),
				map[string]any{"path": "/opt/big/blob", "contents": map[string]any{"source": srv.URL + "/blob"}},
			}}}))
			if r := m.run("file", "fetch-offline"); r.code != 0 {
				t.Fatalf("fetch-offline: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			before := treeSnapshot(t, m.root)

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := stageCmd(ctx, m, nil, "file", "files")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-started:
			case err := <-exited:
				t.Fatalf("files ended (%v) before the download started\n%s", err, clip(out.String()))
			}
			// the temp file should be there by now; give it a moment if not
			// (only to make the test sharper: it does not fail on time)
			for i := 0; i < 300 && len(tempLeftovers(t, m.root)) == 0; i++ {
				time.Sleep(10 * time.Millisecond)
			}
			mid := tempLeftovers(t, m.root)
			t.Logf("temp files while downloading: %v", mid)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := <-exited
			if err == nil {
				t.Errorf("files exited 0 after %v; want a failure", sig)
			}
			t.Logf("files after %v: %v\n%s", sig, err, clip(out.String()))

			if sig == syscall.SIGTERM {
				if l := tempLeftovers(t, m.root); len(l) > 0 {
					t.Errorf("temp files left after SIGTERM: %v", l)
				}
				if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
					t.Errorf("SIGTERM left the root changed:\n%s", d)
				}
				return
			}
			t.Logf("left by the killed run: %v", tempLeftovers(t, m.root))
			fast.Store(true)
			r := m.run("file", "files")
			if r.code != 0 {
				t.Fatalf("files after the kill: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			if got, err := os.ReadFile(filepath.Join(m.root, "opt/big/blob")); err != nil || !bytes.Equal(got, blob) {
				t.Errorf("/opt/big/blob: %d bytes (%v); want the whole %d", len(got), err, len(blob))
			}
			if l := tempLeftovers(t, m.root); len(l) > 0 {
				t.Errorf("temp files left after the second run: %v", l)
			}
		})
	}
}

// Two files that reach the same real path, one through a symlink to "/"
// an earlier config made (or the same config, which validation may
// refuse), conflict: the stage fails naming both and writes nothing.
func TestFilesSameRealPathTwice(t *testing.T) {
	link := []any{map[string]any{"path": "/foo", "target": "/"}}
	files := []any{dataFile("/foo/bar", "one"), dataFile("/bar", "two")}
	for _, oneConfig := range []bool{false, true} {
		t.Run(map[bool]string{false: "link then files", true: "one config"}[oneConfig], func(t *testing.T) {
			needRootForFiles(t)
			m := newMachine(t)
			m.write(filepath.Join(m.root, "etc/keep"), "kept")
			var r result
			var before map[string]string
			if oneConfig {
				before = treeSnapshot(t, m.root)
				var ran bool
				r, ran = rejectedOrRun(m, ignConfig(t, map[string]any{"storage": map[string]any{"links": link, "files": files}}))
				if !ran {
					if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
						t.Errorf("a rejected config changed the root:\n%s", d)
					}
					return
				}
			} else {
				if r := offlineThenFiles(m, ignConfig(t, map[string]any{"storage": map[string]any{"links": link}})); r.code != 0 {
					t.Fatalf("files (link): exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
				}
				reconfigure(m, ignConfig(t, map[string]any{"storage": map[string]any{"files": files}}))
				before = treeSnapshot(t, m.root)
				r = m.run("file", "files")
			}
			if r.code != 1 {
				t.Fatalf("files: exit %d; want 1 (a conflict)\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			if !strings.Contains(r.stderr, "/foo/bar") || !strings.Contains(strings.ReplaceAll(r.stderr, "/foo/bar", ""), "/bar") {
				t.Errorf("the error does not name both /foo/bar and /bar:\n%s", clip(r.stderr))
			}
			if d := snapshotDiff(before, treeSnapshot(t, m.root)); d != "" {
				t.Errorf("the failed stage changed the root:\n%s", d)
			}
			if l := tempLeftovers(t, m.root); len(l) > 0 {
				t.Errorf("temp files left: %v", l)
			}
		})
	}
}

// The preset file lists units in order, whatever the config's order.
func TestFilesPresetSorted(t *testing.T) {
	needRootForFiles(t)
	m := newMachine(t)
	unit := "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	r := offlineThenFiles(m, ignConfig(t, map[string]any{"systemd": map[string]any{"units": []any{
		map[string]any{"name": "z.service", "enabled": true, "contents": unit},
		map[string]any{"name": "a.service", "enabled": true, "contents": unit},
	}}}))
	if r.code != 0 {
		t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	got := readString(t, filepath.Join(m.root, "etc/systemd/system-preset/20-ignition.preset"))
	if want := "enable a.service\nenable z.service\n"; got != want {
		t.Errorf("20-ignition.preset = %q; want %q", got, want)
	}
}

// passwdLine finds a user's uid, gid and home in a passwd file.
func passwdLine(t *testing.T, file, name string) (uid, gid uint32, home string, ok bool) {
	t.Helper()
	for _, l := range strings.Split(readString(t, file), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 7 && f[0] == name {
			u, _ := strconv.Atoi(f[2])
			g, _ := strconv.Atoi(f[3])
			return uint32(u), uint32(g), f[5], true
		}
	}
	return 0, 0, "", false
}

func checkOwned(t *testing.T, p string, mode os.FileMode, uid, gid uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: %v %d:%d; want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// IGNITION_WRITE_AUTHORIZED_KEYS_FRAGMENT=false puts a user's
// keys in ~/.ssh/authorized_keys; unset, they go to the fragment
// ~/.ssh/authorized_keys.d/ignition.
func TestFilesAuthorizedKeysFragmentSwitch(t *testing.T) {
	const env = "IGNITION_WRITE_AUTHORIZED_KEYS_FRAGMENT"
	for _, fragment := range []bool{true, false} {
		t.Run(map[bool]string{true: "unset", false: "false"}[fragment], func(t *testing.T) {
			needRootForFiles(t)
			needTools(t, "useradd")
			t.Setenv(env, "")
			os.Unsetenv(env) // restored by t.Setenv's cleanup
			m := newMachine(t)
			if !fragment {
				m.env = append(m.env, env+"=false")
			}
			accounts(t, filepath.Join(m.root, "etc"))
			keys := []string{"ssh-ed25519 AAAAkey1 a@x", "ssh-ed25519 AAAAkey2 b@y"}
			r := offlineThenFiles(m, ignConfig(t, map[string]any{"passwd": map[string]any{"users": []any{
				map[string]any{"name": "core", "uid": 1600, "sshAuthorizedKeys": keys}}}}))
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			uid, gid, home, ok := passwdLine(t, filepath.Join(m.root, "etc/passwd"), "core")
			if !ok || uid != 1600 {
				t.Fatalf("core in the target's passwd: %v, uid %d; want uid 1600", ok, uid)
			}
			ssh := filepath.Join(m.root, home, ".ssh")
			checkOwned(t, ssh, os.ModeDir|0o700, uid, gid)
			wantKeys := strings.Join(keys, "\n") + "\n"
			frag, file := filepath.Join(ssh, "authorized_keys.d/ignition"), filepath.Join(ssh, "authorized_keys")
			written, absent := frag, file
			if !fragment {
				written, absent = file, frag
			}
			checkOwned(t, written, 0o600, uid, gid)
			if got := readString(t, written); got != wantKeys {
				t.Errorf("%s = %q; want %q", written, got, wantKeys)
			}
			if _, err := os.Lstat(absent); err == nil {
				t.Errorf("%s was written too", absent)
			}
		})
	}
}

// With the real shadow tools on a minimal target, deleting a user
// with no mail spool succeeds, and so does deleting a group that is the
// primary group of a user the same config deletes.
func TestFilesDeleteUsersAndGroups(t *testing.T) {
	cases := []struct {
		name          string
		passwd        map[string]any
		goneFrom      map[string]string // target file -> name that must be gone
		home, noSpool bool
	}{
		{name: "user without a mail spool",
			passwd:   map[string]any{"users": []any{map[string]any{"name": "ops", "shouldExist": false}}},
			goneFrom: map[string]string{"etc/passwd": "ops", "etc/shadow": "ops"}},
		{name: "primary group of a deleted user",
			passwd: map[string]any{
				"groups": []any{map[string]any{"name": "opsgrp", "shouldExist": false}},
				"users":  []any{map[string]any{"name": "ops", "shouldExist": false}}},
			goneFrom: map[string]string{"etc/passwd": "ops", "etc/shadow": "ops", "etc/group": "opsgrp", "etc/gshadow": "opsgrp"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			needRootForFiles(t)
			needTools(t, "userdel", "groupdel")
			m := newMachine(t)
			accounts(t, filepath.Join(m.root, "etc"))
			m.write(filepath.Join(m.root, "home/ops/.profile"), "# ops\n")
			for _, p := range []string{"home/ops", "home/ops/.profile"} {
				if err := os.Lchown(filepath.Join(m.root, p), 4242, 4343); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(filepath.Join(m.root, "var/mail/ops")); err == nil {
				t.Fatal("the target has a mail spool for ops")
			}
			r := offlineThenFiles(m, ignConfig(t, map[string]any{"passwd": c.passwd}))
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			for file, name := range c.goneFrom {
				for _, l := range strings.Split(readString(t, filepath.Join(m.root, file)), "\n") {
					if strings.HasPrefix(l, name+":") {
						t.Errorf("/%s still has %s: %q", file, name, l)
					}
				}
			}
		})
	}
}

// A path with a newline cannot forge a log line: the newline is
// escaped.
func TestFilesNewlineInPathCannotForgeLogLines(t *testing.T) {
	needRootForFiles(t)
	m := newMachine(t)
	m.write(m.conf, ignConfig(t, map[string]any{"storage": map[string]any{"files": []any{
		dataFile("/etc/a\nCRITICAL forged", "x")}}}))
	runs := []result{m.run("file", "fetch-offline")}
	t.Logf("fetch-offline: exit %d", runs[0].code)
	if runs[0].code == 0 {
		runs = append(runs, m.run("file", "files"))
		t.Logf("files: exit %d", runs[1].code)
		mustContain(t, "files log", runs[1].out, `a\nCRITICAL forged`)
	}
	for _, r := range runs {
		for _, l := range strings.Split(r.out+r.stderr, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "CRITICAL forged") {
				t.Errorf("a forged line reached the log: %q\n%s%s", l, clip(r.out), clip(r.stderr))
				break
			}
		}
	}
}

// IDs out of range fail validation in fetch-offline; nothing is
// cached.
func TestFilesIDsOutOfRangeRejected(t *testing.T) {
	for _, c := range []struct {
		name     string
		sections map[string]any
		jsonPath string
	}{
		{name: "uid 2^32", jsonPath: "$.passwd.users.0.uid",
			sections: map[string]any{"passwd": map[string]any{"users": []any{map[string]any{"name": "core", "uid": int64(4294967296)}}}}},
		{name: "file user id -1", jsonPath: "$.storage.files.0.user.id",
			sections: map[string]any{"storage": map[string]any{"files": []any{map[string]any{"path": "/etc/x", "user": map[string]any{"id": -1}}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			m.write(m.conf, ignConfig(t, c.sections))
			r := m.run("file", "fetch-offline")
			if r.code != 1 {
				t.Fatalf("fetch-offline: exit %d; want 1\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			mustContain(t, "log", r.out+r.stderr, c.jsonPath)
			if m.exists("ignition.json") {
				t.Errorf("an invalid config was cached")
			}
		})
	}
}

// The files stage's -dry-run names a source without its credentials: no
// user info, no query, no header values.
func TestFilesDryRunHidesCredentials(t *testing.T) {
	m := newMachine(t)
	m.write(m.conf, ignConfig(t, map[string]any{"storage": map[string]any{"files": []any{map[string]any{
		"path": "/etc/secret", "contents": map[string]any{
			"source":      "http://alice:s3cret@127.0.0.1:1/x?sig=topsecret",
			"httpHeaders": []any{map[string]any{"name": "Authorization", "value": "Bearer hdrsecret"}}}}}}}))
	off := m.run("file", "fetch-offline")
	if off.code != 0 {
		t.Fatalf("fetch-offline: exit %d; want 0\n%s%s", off.code, off.out, off.stderr)
	}
	r := m.run("file", "files", "-dry-run")
	if r.code != 0 {
		t.Fatalf("files -dry-run: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	mustContain(t, "plan", r.out, "/etc/secret")
	for _, run := range []struct {
		what string
		r    result
	}{{"files -dry-run", r}, {"fetch-offline", off}} {
		for _, secret := range []string{"s3cret", "topsecret", "hdrsecret", "alice:"} {
			if strings.Contains(run.r.out+run.r.stderr, secret) {
				t.Errorf("%s printed %q:\n%s%s", run.what, secret, run.r.out, run.r.stderr)
			}
		}
	}
	if entries, _ := os.ReadDir(m.root); len(entries) > 0 {
		t.Errorf("the dry run wrote into the root")
	}
}

// A config whose merged child is invalid fails the fetch stage,
// and no config is cached for the later stages.
func TestFetchInvalidMergedConfigNotCached(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/parent.ign":
			fmt.Fprintf(w, `{"ignition":{"version":"3.6.0","config":{"merge":[{"source":%q}]}},"storage":{"files":[{"path":"/etc/from-parent"}]}}`, "http://"+r.Host+"/child.ign")
		case "/child.ign":
			w.Write([]byte(`{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"relative/path"}]}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	m := newMachine(t)
	m.cmdline("ignition.config.url=" + srv.URL + "/parent.ign")
	r := m.run("metal", "fetch")
	if r.code != 1 {
		t.Fatalf("fetch: exit %d; want 1\n%s%s", r.code, clip(r.out), clip(r.stderr))
	}
	mustContain(t, "log", r.out+r.stderr, "not absolute")
	if m.exists("ignition.json") {
		t.Errorf("the invalid merged config was cached")
	}
}
