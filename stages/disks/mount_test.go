package disks

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/testenv"
	"golang.org/x/sys/unix"
)

// / is mounted before /var whatever the config's order, and two
// filesystems at one path are refused.
func TestMountOrder(t *testing.T) {
	var cfg config.Config
	if err := jsonUnmarshal(`{"storage":{"filesystems":[
	  {"device":"/dev/c","format":"ext4","path":"/var/log"},
	  {"device":"/dev/b","format":"ext4","path":"/var"},
	  {"device":"/dev/a","format":"ext4","path":"/"},
	  {"device":"/dev/s","format":"swap","path":"/swap"}]}}`, &cfg); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	mp, err := PlanMounts(cfg, root, map[string]string{"/dev/b": "/dev/vdb1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range mp.Mounts {
		got = append(got, m.Path+"="+m.Node)
	}
	if want := "/=/dev/a /var=/dev/vdb1 /var/log=/dev/c"; strings.Join(got, " ") != want {
		t.Errorf("PlanMounts() = %s; want %s", strings.Join(got, " "), want)
	}
	cfg.Storage.Filesystems = append(cfg.Storage.Filesystems, cfg.Storage.Filesystems[1])
	cfg.Storage.Filesystems[4].Device = "/dev/d"
	if _, err := PlanMounts(cfg, root, nil); err == nil || !strings.Contains(err.Error(), "both to be mounted at /var") {
		t.Errorf("PlanMounts() with two filesystems at /var = %v; want a refusal", err)
	}
}

// A mount path through a symlink in the image is refused (Ignition refuses
// it too): in the plan for the root as it is, when mounting for what a
// filesystem mounted before brings; a link that resolves to the very path
// it stands at is not a detour and is allowed.
func TestMountPathThroughSymlink(t *testing.T) {
	plan := func(root string, paths ...string) error {
		var cfg config.Config
		for i, p := range paths {
			f := config.Filesystem{Device: "/dev/x" + string(rune('a'+i))}
			format, path := "ext4", p
			f.Format, f.Path = &format, &path
			cfg.Storage.Filesystems = append(cfg.Storage.Filesystems, f)
		}
		_, err := PlanMounts(cfg, root, nil)
		return err
	}
	root := t.TempDir()
	host := t.TempDir() // a host directory the image's symlink names
	os.MkdirAll(filepath.Join(root, "mnt"), 0o755)
	os.MkdirAll(filepath.Join(root, "srv", "real"), 0o755)
	os.Symlink("/", filepath.Join(root, "tmp0"))
	os.Symlink(host, filepath.Join(root, "mnt", "data"))
	os.Symlink("real", filepath.Join(root, "srv", "rel"))
	for _, c := range []struct {
		paths []string
		bad   string
	}{
		{[]string{"/tmp0"}, "mount path /tmp0 goes through the symlink /tmp0 (to /)"},
		{[]string{"/tmp0/var"}, "goes through the symlink /tmp0"},
		{[]string{"/mnt/data"}, "goes through the symlink /mnt/data"},
		{[]string{"/srv/rel/x"}, "goes through the symlink /srv/rel (to real)"},
		{[]string{"/srv/real/x", "/mnt/new"}, ""},
		// under a filesystem mounted at /srv: that filesystem's tree
		// counts, checked when mounting
		{[]string{"/srv", "/srv/rel/x"}, ""},
	} {
		err := plan(root, c.paths...)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("PlanMounts(%v) = %v; want nil", c.paths, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("PlanMounts(%v) = %v; want an error with %q", c.paths, err, c.bad)
		}
	}
	// when mounting: the link found then is refused, nothing is created
	if _, made, err := mountPoint(root, "/mnt/data/x"); err == nil || !strings.Contains(err.Error(), "goes through the symlink /mnt/data") || len(made) > 0 {
		t.Errorf("mountPoint(/mnt/data/x) = %v, made %v; want a refusal, nothing made", err, made)
	}
	if entries, _ := os.ReadDir(host); len(entries) > 0 {
		t.Errorf("the host directory %s got %v", host, entries)
	}
	got, _, err := mountPoint(root, "/srv/real/y")
	realRoot, _ := filepath.EvalSymlinks(root)
	if want := filepath.Join(realRoot, "srv/real/y"); err != nil || got != want {
		t.Errorf("mountPoint(/srv/real/y) = %q, %v; want %q", got, err, want)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// The mount points the stage creates are relabelled while still empty,
// before anything is mounted on them (setfiles recurses: after the mount
// it would relabel the whole filesystem), and are returned for the state.
func TestMountPointsRelabelledBeforeTheMount(t *testing.T) {
	root := t.TempDir()
	testenv.NeedRoot(t, "mknod of a block device node")
	// a node only: the fake runner never hands it to mount
	dev := filepath.Join(t.TempDir(), "dev")
	if err := unix.Mknod(dev, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 250))); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "var"), 0o755)
	mp := &MountPlan{Root: root, Mounts: []Mount{{Device: dev, Node: dev, Path: "/var/lib/data", Format: "ext4"}}}
	var events []string
	run := &command.Fake{Answer: func(c command.Cmd) (command.Result, error) {
		events = append(events, c.Name)
		return command.Result{}, nil
	}}
	o := Options{Runner: run, Log: testenv.NopLog{}, Relabel: func(_ context.Context, paths []string) error {
		events = append(events, "relabel "+strings.Join(paths, " "))
		return nil
	}}
	created, err := mp.Apply(context.Background(), o, func([]Mounted) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := "relabel /var/lib /var/lib/data,mount"; strings.Join(events, ",") != want {
		t.Errorf("events %q; want %q", strings.Join(events, ","), want)
	}
	if want := "/var/lib /var/lib/data"; strings.Join(created, " ") != want {
		t.Errorf("created %q; want %q", created, want)
	}
}
