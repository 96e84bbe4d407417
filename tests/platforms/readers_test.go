package platforms

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/testenv"
)

// ignition.config.device cannot be tricked: the labelled filesystem (ext4
// on a loop device) is mounted ro,nodev,nosuid,noexec, as the kernel's
// mountinfo reports it back, and ignition.config.path is read only when it
// is a regular file within the cap, reached through no symbolic link. A
// FIFO there fails at once instead of hanging the stage; a device node is
// never opened (it would have read /dev/null's nothing as an empty
// config); a link, even one that stays on the medium, is refused; a file
// one byte over 128 MiB is refused whole.
func TestConfigDeviceReaders(t *testing.T) {
	testenv.NeedRoot(t, "a loop device and device nodes")
	testenv.NeedTools(t, "mkfs.ext4", "losetup", "truncate")
	dir := t.TempDir()
	secret := filepath.Join(dir, "host-secret.ign")
	os.WriteFile(secret, []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/LEAKED-HOST-SECRET"}]}}`), 0o600)
	content := filepath.Join(dir, "content")
	os.MkdirAll(filepath.Join(content, "ignition"), 0o755)
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(content, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ignition/config.ign", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/from-device"}]}}`)
	for _, err := range []error{
		unix.Mkfifo(filepath.Join(content, "fifo.ign"), 0o644),
		unix.Mknod(filepath.Join(content, "null.ign"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))),
		os.Symlink(secret, filepath.Join(content, "escape.ign")),
		os.Symlink("ignition/config.ign", filepath.Join(content, "inside.ign")),
		os.Symlink("ignition", filepath.Join(content, "dirlink")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	big, err := os.Create(filepath.Join(content, "big.ign"))
	if err != nil {
		t.Fatal(err)
	}
	big.Truncate(128<<20 + 1) // sparse: one byte over the cap
	big.Close()
	img := filepath.Join(dir, "readers.img")
	label := fmt.Sprintf("RDRS%d", time.Now().UnixNano()%1000000)
	loop, link := labelledExt4(t, img, label, content)

	mountOpts := regexp.MustCompile(`mounted on \S+ with (\S+)`)
	for _, c := range []struct {
		path string
		want string // "": read; else in the error
	}{
		{path: "/ignition/config.ign"},
		{path: "/fifo.ign", want: "fifo.ign on " + link + ": not a regular file (a FIFO)"},
		{path: "/null.ign", want: "null.ign on " + link + ": not a regular file (a character device)"},
		{path: "/escape.ign", want: "escape.ign on " + link + ": symbolic link refused"},
		{path: "/inside.ign", want: "inside.ign on " + link + ": symbolic link refused"},
		{path: "/dirlink/config.ign", want: "symbolic link refused"},
		{path: "/big.ign", want: "big.ign on " + link + ": config is larger than the 128 MiB limit (134217729 bytes)"},
	} {
		m := newMachine(t)
		m.cmdline("ignition.config.device=" + label + " ignition.config.path=" + c.path)
		r := m.run("metal", "fetch", "-fetch-timeout", "20s")
		cache, _ := m.cache()
		if c.want == "" {
			if r.code != 0 || strings.Join(files(cache), ",") != "/etc/from-device" {
				t.Fatalf("%s: exit %d, cache %v\n%s%s", c.path, r.code, cache, r.out, r.stderr)
			}
			opts := mountOpts.FindStringSubmatch(r.out)
			if opts == nil {
				t.Fatalf("%s: the log does not say how the device was mounted:\n%s", c.path, r.out)
			}
			have := map[string]bool{}
			for _, o := range strings.Split(opts[1], ",") {
				have[o] = true
			}
			if !have["ro"] || !have["nodev"] || !have["nosuid"] || !have["noexec"] {
				t.Errorf("the device was mounted with %s; want ro,nodev,nosuid,noexec", opts[1])
			}
			t.Logf("mount options read back from mountinfo: %s", opts[1])
		} else {
			if r.code != 1 || !strings.Contains(r.stderr, c.want) || cache != nil {
				t.Errorf("%s: exit %d, cache %v, stderr %q; want exit 1 and %q, nothing cached\n%s", c.path, r.code, cache, r.stderr, c.want, r.out)
			}
			if strings.Contains(r.out+r.stderr, "LEAKED") {
				t.Errorf("%s: the host file was read:\n%s", c.path, r.out)
			}
		}
		if out, _ := exec.Command("findmnt", "-n", "-S", loop).Output(); len(out) > 0 {
			t.Fatalf("%s: %s is still mounted: %s", c.path, loop, out)
		}
		t.Logf("%s: exit %d after %v", c.path, r.code, r.took.Round(time.Millisecond))
	}
}

// Waits for a medium end with the fetch timeout and say what they wait
// for: a labelled device that never shows up, and Azure Stack's
// provisioning CD when no CD drive is there (on main that wait had no end).
func TestMediaWaitsBounded(t *testing.T) {
	m := newMachine(t)
	label := fmt.Sprintf("NONE%d", time.Now().UnixNano()%1000000)
	m.cmdline("ignition.config.device=" + label + " ignition.config.path=/config.ign")
	r := m.run("metal", "fetch", "-fetch-timeout", "2s")
	dev := "/dev/disk/by-label/" + label
	if r.code != 1 || !strings.Contains(r.stderr, "device "+dev+" did not appear within 2s") {
		t.Errorf("no device: exit %d, stderr %q; want the 2 s bound named", r.code, r.stderr)
	}
	mustContain(t, "log", r.out, "waiting up to 2s for device "+dev+" (ignition.config.device="+label+")")
	t.Logf("no device: failed after %v (Ignition waits 30 s)", r.took.Round(time.Millisecond))

	m = newMachine(t)
	r = m.run("azurestack", "fetch", "-fetch-timeout", "2s")
	if r.code != 1 || !strings.Contains(r.stderr, "no provisioning CD-ROM after 2s") {
		t.Errorf("azurestack without a CD: exit %d, stderr %q; want the wait to end at the fetch timeout", r.code, r.stderr)
	}
	mustContain(t, "log", r.out, "waiting up to 2s for the provisioning CD-ROM")
	t.Logf("azurestack without a CD: failed after %v (Ignition waits forever)", r.took.Round(time.Millisecond))
}

// The file platform's config (IGNITION_CONFIG_FILE) as a FIFO fails at
// once, saying what it is, instead of waiting for a writer forever.
func TestConfigFileFIFO(t *testing.T) {
	m := newMachine(t)
	if err := unix.Mkfifo(m.conf, 0o644); err != nil {
		t.Fatal(err)
	}
	r := m.run("file", "fetch-offline", "-fetch-timeout", "5s")
	if r.code != 1 || !strings.Contains(r.stderr, "config file: "+m.conf+": not a regular file (a FIFO)") {
		t.Errorf("file platform, FIFO: exit %d, stderr %q; want a FIFO refused", r.code, r.stderr)
	}
}

// labelledExt4 makes img a 32 MiB ext4 with label holding content's files,
// attaches it to a loop device and links /dev/disk/by-label/<label> to it
// (this host has no udev), all undone when the test ends; the loop device
// and the link.
func labelledExt4(t *testing.T, img, label, content string) (loop, link string) {
	t.Helper()
	for _, c := range [][]string{{"truncate", "-s", "32M", img}, {"mkfs.ext4", "-q", "-L", label, "-d", content, img}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", strings.Join(c, " "), err, out)
		}
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	link = filepath.Join("/dev/disk/by-label", label)
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(loop, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	return loop, link
}
