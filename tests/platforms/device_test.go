package platforms

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
)

// ignition.config.device + ignition.config.path: the config is read from a
// labelled filesystem, here ext4 on a loop device the test makes (the
// by-label link that udev would make is made by the test too).
func TestConfigFromLabelledDevice(t *testing.T) {
	testenv.NeedRoot(t, "a loop device")
	for _, tool := range []string{"mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	os.MkdirAll(filepath.Join(content, "ignition"), 0o755)
	os.WriteFile(filepath.Join(content, "ignition", "config.ign"), []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/from-usb"}]}}`), 0o644)
	img := filepath.Join(dir, "usb.img")
	label := fmt.Sprintf("IGNT%d", time.Now().UnixNano()%1000000)
	if out, err := exec.Command("truncate", "-s", "16M", img).CombinedOutput(); err != nil {
		t.Fatalf("truncate: %v %s", err, out)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-L", label, "-d", content, img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	link := filepath.Join("/dev/disk/by-label", label)
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(loop, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })

	m := newMachine(t)
	m.cmdline("ro ignition.config.device=" + label + " ignition.config.path=/ignition/config.ign")
	r := m.run("metal", "fetch")
	if c, _ := m.cache(); r.code != 0 || strings.Join(files(c), ",") != "/etc/from-usb" {
		t.Fatalf("fetch: exit %d, cache %v\n%s%s", r.code, c, r.out, r.stderr)
	}
	mustContain(t, "log", r.out, `[finished] reading config "/ignition/config.ign" from device "`+link+`"`)
	if out, _ := exec.Command("findmnt", "-n", "-S", loop).Output(); len(out) > 0 {
		t.Errorf("%s is still mounted: %s", loop, out)
	}

	m = newMachine(t)
	m.cmdline("ignition.config.device=" + label)
	if r := m.run("metal", "fetch"); r.code != 1 || !strings.Contains(r.stderr, "go together") {
		t.Errorf("device without path: exit %d: %s", r.code, r.stderr)
	}
}
