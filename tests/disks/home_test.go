package disks

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A filesystem mounted under a user's home: the mount stage creates the
// home and the mount point (root's, 0755, before the user exists); the
// files stage then gives both to the user (0700), as Ignition does, unless
// the config lists the directory itself, whose mode and owner win.
func TestMountPointsInAHomeGoToTheUser(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		name, dirs string
		dataMode   os.FileMode
		dataGroup  int // -1: the user's primary group
	}{
		{"no directory entry", "", 0o700, -1},
		{"the config's directory wins", `, "directories": [{"path": "/home/core/.local/data", "mode": 488, "user": {"name": "core"}, "group": {"id": 0}}]`, 0o750, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.build([]disk{dataDisk()})
			for name, body := range map[string]string{
				"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
				"etc/group":  "root:x:0:\n",
				"etc/shadow": "root:*:19000:0:99999:7:::\n",
			} {
				os.MkdirAll(filepath.Join(w.root, "etc"), 0o755)
				if err := os.WriteFile(filepath.Join(w.root, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			config := `{"ignition": {"version": "3.4.0"},
				"passwd": {"users": [{"name": "core", "uid": 1000}]},
				"storage": {"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "uuid": "` + u1 + `", "path": "/home/core/.local/data"}]` + c.dirs + `}}`
			if err := os.WriteFile(w.conf, []byte(w.subst(config)), 0o644); err != nil {
				t.Fatal(err)
			}
			owner := func(p string) (uint32, uint32, os.FileMode) {
				t.Helper()
				fi, err := os.Lstat(filepath.Join(w.root, p))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				return st.Uid, st.Gid, fi.Mode().Perm()
			}
			want := func(p string, uid, gid uint32, mode os.FileMode) {
				t.Helper()
				if u, g, m := owner(p); u != uid || g != gid || m != mode {
					t.Errorf("<root>%s: %d:%d %o; want %d:%d %o", p, u, g, m, uid, gid, mode)
				}
			}
			// core's primary group, as useradd chose it in the target
			var gid uint32
			failed, out, log := w.sequence(func() {
				_, gid, _ = owner("/home/core")
				if gid == 0 {
					t.Errorf("<root>/home/core: group root; want core's primary group")
				}
				want("/home/core", 1000, gid, 0o700)
				want("/home/core/.local", 1000, gid, 0o700)
				// the mounted filesystem's root
				dg := gid
				if c.dataGroup >= 0 {
					dg = uint32(c.dataGroup)
				}
				want("/home/core/.local/data", 1000, dg, c.dataMode)
				if _, err := os.Stat(filepath.Join(w.root, "/home/core/.local/data/keep.txt")); err != nil {
					t.Errorf("the filesystem is not mounted at /home/core/.local/data: %v", err)
				}
			})
			if failed != "" {
				t.Fatalf("stage %s failed: %s\n%s", failed, out, log)
			}
			// what stays on the root filesystem after umount
			want("/home/core", 1000, gid, 0o700)
			want("/home", 0, 0, 0o755) // not in the home: stays root's
		})
	}
}

// A mount point in two homes goes to the user with the deeper one; a home
// that is a link up the tree (here to /) gets nothing, so /srv stays
// root's.
func TestMountPointsInNestedAndLinkedHomes(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk(), {SizeMiB: 64}})
	os.MkdirAll(filepath.Join(w.root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(w.root, "home"), 0o755)
	if err := os.Symlink("/", filepath.Join(w.root, "home/up")); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nup:x:4242:4242::/home/up:/bin/sh\n",
		"etc/group":  "root:x:0:\nup:x:4242:\n",
		"etc/shadow": "root:*:19000:0:99999:7:::\nup:*:19000:0:99999:7:::\n",
	} {
		if err := os.WriteFile(filepath.Join(w.root, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := `{"ignition": {"version": "3.4.0"},
		"passwd": {"users": [{"name": "up"}, {"name": "inner", "uid": 1001, "homeDir": "/home/ops/sub"}, {"name": "ops", "uid": 1000}]},
		"storage": {"filesystems": [
			{"device": "$disk0p1", "format": "ext4", "label": "DATA", "uuid": "` + u1 + `", "path": "/home/ops/sub/data"},
			{"device": "$disk1", "format": "ext4", "wipeFilesystem": true, "path": "/srv/data"}]}}`
	if err := os.WriteFile(w.conf, []byte(w.subst(config)), 0o644); err != nil {
		t.Fatal(err)
	}
	uidOf := func(p string) uint32 {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(w.root, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Uid
	}
	failed, out, log := w.sequence(func() {
		for p, uid := range map[string]uint32{"/home/ops": 1000, "/home/ops/sub": 1001, "/home/ops/sub/data": 1001, "/srv": 0, "/srv/data": 0} {
			if got := uidOf(p); got != uid {
				t.Errorf("<root>%s: owner %d; want %d", p, got, uid)
			}
		}
	})
	if failed != "" {
		t.Fatalf("stage %s failed: %s\n%s", failed, out, log)
	}
	if !strings.Contains(log, `home directory "/home/up" resolves to "/"`) {
		t.Errorf("no warning about up's home linked to /:\n%s", log)
	}
}
