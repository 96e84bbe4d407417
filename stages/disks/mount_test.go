package disks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
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
