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
	mp, err := PlanMounts(cfg, "/sysroot", map[string]string{"/dev/b": "/dev/vdb1"})
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
	if _, err := PlanMounts(cfg, "/sysroot", nil); err == nil || !strings.Contains(err.Error(), "both to be mounted at /var") {
		t.Errorf("PlanMounts() with two filesystems at /var = %v; want a refusal", err)
	}
}

// A mount point that is a symlink in the image resolves inside the root:
// mount is never given a path that leads out of it.
func TestMountPointStaysInRoot(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir() // a host directory the image's symlink names
	os.MkdirAll(filepath.Join(root, "mnt"), 0o755)
	os.Symlink(host, filepath.Join(root, "mnt", "data"))
	got, made, err := mountPoint(root, "/mnt/data")
	if err != nil {
		t.Fatal(err)
	}
	realRoot, _ := filepath.EvalSymlinks(root)
	if want := filepath.Join(realRoot, host); got != want {
		t.Errorf("mountPoint() = %q; want %q (the link re-rooted)", got, want)
	}
	if len(made) == 0 {
		t.Errorf("mountPoint() made nothing; want the re-rooted target created")
	}
	if entries, _ := os.ReadDir(host); len(entries) > 0 {
		t.Errorf("the host directory %s got %v", host, entries)
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
