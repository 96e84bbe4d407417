package platforms

import (
	"bufio"
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

// The system configs (user.ign in the system dirs, base.d/*.ign) are read
// as safely as a medium: a FIFO there fails the stage at once (on main it
// blocked in open(2) for good, deaf even to SIGTERM), and a device node is
// never opened (on main /dev/null's nothing became an empty user config
// and the boot went on without one).
func TestSystemConfigsNotRegular(t *testing.T) {
	testenv.NeedRoot(t, "device nodes")
	for _, c := range []struct {
		name, file string
		mk         func(string) error
		want       string
	}{
		{"user.ign FIFO", "user.ign", func(p string) error { return unix.Mkfifo(p, 0o644) }, "system config: %s: not a regular file (a FIFO)"},
		{"user.ign /dev/null", "user.ign", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))) }, "system config: %s: not a regular file (a character device)"},
		{"user.ign link to /dev/null", "user.ign", func(p string) error { return os.Symlink("/dev/null", p) }, "system config: %s: not a regular file (a character device)"},
		{"base.d FIFO", "base.d/10-base.ign", func(p string) error { return unix.Mkfifo(p, 0o644) }, "base config: %s: not a regular file (a FIFO)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			p := filepath.Join(m.sys, c.file)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := c.mk(p); err != nil {
				t.Fatal(err)
			}
			r := m.run("metal", "fetch-offline", "-fetch-timeout", "5s")
			want := fmt.Sprintf(c.want, p)
			if _, cached := m.cache(); r.code != 1 || !strings.Contains(r.stderr, want) || cached {
				t.Errorf("%s: exit %d, cached %v, stderr %q; want exit 1 naming it: %q\n%s", c.name, r.code, cached, r.stderr, want, r.out)
			}
			t.Logf("%s: exit %d after %v", c.name, r.code, r.took.Round(time.Millisecond))
		})
	}
}

// Paths on the ignition.config.device medium are resolved on it whatever
// they say: ".." and "//" never climb out to the host's files (the host's
// /etc/hostname, /proc), a hard link to a device node is refused by its
// file type, a file with mode 000 is read (root reads it, as Ignition),
// and every attempt leaves no mount and no mount point behind. A missing
// device is waited for, never replaced by a host path.
func TestConfigDevicePaths(t *testing.T) {
	testenv.NeedRoot(t, "a loop device and device nodes")
	testenv.NeedTools(t, "mkfs.ext4", "losetup", "truncate", "findmnt")
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	os.MkdirAll(filepath.Join(content, "ignition", "sub"), 0o755)
	cfg := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/from-device"}]}}`
	for _, p := range []string{"ignition/config.ign", "locked.ign"} {
		if err := os.WriteFile(filepath.Join(content, p), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(content, "locked.ign"), 0)
	for _, err := range []error{
		unix.Mknod(filepath.Join(content, "zero"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))),
		os.Link(filepath.Join(content, "zero"), filepath.Join(content, "ignition", "hardzero.ign")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "paths.img")
	label := fmt.Sprintf("RTPATH%d", time.Now().UnixNano()%100000)
	loop, link := labelledExt4(t, img, label, content)

	mounted := regexp.MustCompile(`mounted on (\S+) with`)
	for _, c := range []struct {
		path string
		want string // "": read; else in the error
	}{
		{path: "//ignition//config.ign"},
		{path: "/ignition/sub/../config.ign"},
		{path: "/../../../ignition/config.ign"},
		{path: "ignition/config.ign"},
		{path: "/locked.ign"},
		{path: "/../../../../etc/hostname", want: "/../../../../etc/hostname on " + link + ": no such file or directory"},
		{path: "/../proc/self/environ", want: "no such file or directory"},
		{path: "/ignition/hardzero.ign", want: "hardzero.ign on " + link + ": not a regular file (a character device)"},
	} {
		m := newMachine(t)
		m.cmdline("ignition.config.device=" + label + " ignition.config.path=" + c.path)
		r := m.run("metal", "fetch", "-fetch-timeout", "20s")
		cache, _ := m.cache()
		if c.want == "" {
			if r.code != 0 || strings.Join(files(cache), ",") != "/etc/from-device" {
				t.Errorf("%s: exit %d, cache %v; want the medium's config\n%s%s", c.path, r.code, cache, r.out, r.stderr)
			}
		} else if r.code != 1 || !strings.Contains(r.stderr, c.want) || cache != nil {
			t.Errorf("%s: exit %d, cache %v, stderr %q; want exit 1 and %q, nothing cached\n%s", c.path, r.code, cache, r.stderr, c.want, r.out)
		}
		if out, _ := exec.Command("findmnt", "-n", "-S", loop).Output(); len(out) > 0 {
			t.Fatalf("%s: %s is still mounted: %s", c.path, loop, out)
		}
		if mp := mounted.FindStringSubmatch(r.out); mp == nil {
			t.Errorf("%s: the log does not say where the device was mounted:\n%s", c.path, r.out)
		} else if _, err := os.Stat(mp[1]); !os.IsNotExist(err) {
			t.Errorf("%s: mount point %s left behind (%v)", c.path, mp[1], err)
		}
	}

	// the device is missing: the path is never looked up on the host
	m := newMachine(t)
	m.cmdline("ignition.config.device=NO" + label + " ignition.config.path=/proc/self/environ")
	r := m.run("metal", "fetch", "-fetch-timeout", "1s")
	if _, cached := m.cache(); r.code != 1 || !strings.Contains(r.stderr, "did not appear within 1s") || cached {
		t.Errorf("missing device, host path: exit %d, cached %v, stderr %q; want the wait to fail", r.code, cached, r.stderr)
	}
}

// ignition.config.device finds a label by the name udev gives its
// /dev/disk/by-label link (the test takes that name from blkid's
// ID_FS_LABEL_ENC, as udev's rules do): a label with shell characters or
// a "/" is read from its device, and nothing is run through a shell. On
// main the first waited for a link udev never makes and the second was
// refused.
func TestConfigDeviceLabelEncoded(t *testing.T) {
	testenv.NeedRoot(t, "a loop device")
	testenv.NeedTools(t, "mkfs.ext4", "losetup", "truncate", "blkid")
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	os.MkdirAll(content, 0o755)
	os.WriteFile(filepath.Join(content, "config.ign"), []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/from-device"}]}}`), 0o644)
	n := time.Now().UnixNano() % 10000
	for _, label := range []string{fmt.Sprintf("c$(x);%d", n), fmt.Sprintf("é/rt%d", n)} {
		img := filepath.Join(dir, "label.img")
		for _, c := range [][]string{{"truncate", "-s", "16M", img}, {"mkfs.ext4", "-q", "-F", "-L", label, "-d", content, img}} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v %s", strings.Join(c, " "), err, out)
			}
		}
		out, err := exec.Command("blkid", "-o", "udev", "-p", img).Output()
		enc := regexp.MustCompile(`(?m)^ID_FS_LABEL_ENC=(.*)$`).FindSubmatch(out)
		if err != nil || enc == nil {
			t.Fatalf("blkid -o udev %s: %v %s", img, err, out)
		}
		out, err = exec.Command("losetup", "-f", "--show", img).Output()
		if err != nil {
			t.Fatalf("losetup: %v", err)
		}
		loop := strings.TrimSpace(string(out))
		link := filepath.Join("/dev/disk/by-label", string(enc[1]))
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(loop, link); err != nil {
			exec.Command("losetup", "-d", loop).Run()
			t.Fatal(err)
		}
		m := newMachine(t)
		m.cmdline("ignition.config.device=" + label + " ignition.config.path=/config.ign")
		r := m.run("metal", "fetch", "-fetch-timeout", "2s")
		cache, _ := m.cache()
		os.Remove(link)
		exec.Command("losetup", "-d", loop).Run()
		if r.code != 0 || strings.Join(files(cache), ",") != "/etc/from-device" {
			t.Errorf("label %q (link %s): exit %d, cache %v; want the device's config\n%s%s", label, link, r.code, cache, r.out, r.stderr)
		}
	}
}

// A stage stopped (SIGTERM) while it waits for the ignition.config.device
// filesystem says it was stopped; on main it said the device "did not
// appear within 30s" two seconds into the wait.
func TestConfigDeviceWaitStopped(t *testing.T) {
	m := newMachine(t)
	label := fmt.Sprintf("STOP%d", time.Now().UnixNano()%100000)
	m.cmdline("ignition.config.device=" + label + " ignition.config.path=/config.ign")
	cmd := exec.Command(ignitionBin, "-platform", "metal", "-stage", "fetch", "-root", m.root, "-log-to-stdout",
		"-config-cache", filepath.Join(m.state, "ignition.json"), "-state-file", filepath.Join(m.state, "state"),
		"-neednet", filepath.Join(m.state, "neednet"), "-fetch-timeout", "2m")
	cmd.Env = append(os.Environ(), m.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "waiting up to 30s for device") {
			cmd.Process.Signal(unix.SIGTERM)
		}
	}
	err = cmd.Wait()
	want := "stopped waiting for device /dev/disk/by-label/" + label
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "did not appear") {
		t.Errorf("stopped while waiting: %v, stderr %q; want exit 1 and %q\n%s", err, stderr.String(), want, log.String())
	}
}
