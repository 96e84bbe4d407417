package media

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A medium's tree with every kind of trap; ReadFile reads only the
// regular files within their cap, and fails at once on the rest (a FIFO
// that blocked would hang the test).
func TestReadFile(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "host-secret.ign")
	os.WriteFile(outside, []byte("secret"), 0o600)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "openstack/latest"), 0o755))
	must(os.WriteFile(filepath.Join(root, "openstack/latest/user_data"), []byte("{}"), 0o644))
	must(os.WriteFile(filepath.Join(root, "big"), make([]byte, 101), 0o644))
	must(os.Symlink(outside, filepath.Join(root, "CustomData.bin")))
	must(os.Symlink("openstack/latest/user_data", filepath.Join(root, "inside")))
	must(os.Symlink("openstack", filepath.Join(root, "dirlink")))
	must(unix.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	d := &Dir{Dev: "/dev/test", Path: root}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(err)
	d.fd = fd
	defer d.Close()

	for _, c := range []struct {
		name string
		want error // nil: read
		msg  string
	}{
		{name: "openstack/latest/user_data"},
		{name: "/openstack/latest/user_data"},
		{name: "../../openstack/latest/user_data"}, // cleaned inside the root
		{name: "CustomData.bin", want: ErrSymlink, msg: "CustomData.bin on /dev/test: symbolic link refused"},
		{name: "inside", want: ErrSymlink},
		{name: "dirlink/latest/user_data", want: ErrSymlink},
		{name: "fifo", want: ErrNotRegular, msg: "fifo on /dev/test: not a regular file (a FIFO)"},
		{name: "openstack", want: ErrNotRegular, msg: "(a directory)"},
		{name: "big", want: ErrTooLarge, msg: "big on /dev/test: config is larger than the 100 bytes limit (101 bytes)"},
		{name: "missing", want: fs.ErrNotExist},
	} {
		b, err := d.ReadFile(c.name, "config", 100)
		switch {
		case c.want == nil && (err != nil || string(b) != "{}"):
			t.Errorf("ReadFile(%q) = %q, %v; want {}", c.name, b, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("ReadFile(%q) = %q, %v; want %v", c.name, b, err, c.want)
		case c.msg != "" && !strings.Contains(fmt.Sprint(err), c.msg):
			t.Errorf("ReadFile(%q) error %q; want it to say %q", c.name, err, c.msg)
		}
	}
}

// A file an operator names (IGNITION_CONFIG_FILE): links are followed,
// but only a regular file is read.
func TestReadPath(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.ign")
	os.WriteFile(cfg, []byte("{}"), 0o644)
	os.Symlink(cfg, filepath.Join(dir, "link"))
	unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644)
	if b, err := ReadPath(filepath.Join(dir, "link"), "config", 10); err != nil || string(b) != "{}" {
		t.Errorf("ReadPath(link) = %q, %v; want {}", b, err)
	}
	if _, err := ReadPath(filepath.Join(dir, "fifo"), "config", 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadPath(fifo) = %v; want ErrNotRegular", err)
	}
	if _, err := ReadPath(cfg, "config", 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadPath(2 bytes, limit 1) = %v; want ErrTooLarge", err)
	}
}

func TestCheckOptions(t *testing.T) {
	for opts, ok := range map[string]bool{
		"ro,nosuid,nodev,noexec,relatime": true,
		"ro,nosuid,nodev,relatime":        false,
		"rw,nosuid,nodev,noexec":          false,
		"ro,nodev,noexec":                 false,
	} {
		if err := checkOptions(opts); (err == nil) != ok || (err != nil && !errors.Is(err, ErrUnsafeMount)) {
			t.Errorf("checkOptions(%q) = %v; want ok %v", opts, err, ok)
		}
	}
}

// A wait says what it waits for once, ends at its bound with ErrGaveUp,
// and a context that has already ended is one look with nothing logged.
func TestWait(t *testing.T) {
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	err := Wait(context.Background(), logf, "the test drive", 300*time.Millisecond, 50*time.Millisecond, func() (bool, error) { return false, nil })
	if !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), "for the test drive after") {
		t.Errorf("Wait(never) = %v; want ErrGaveUp naming the drive", err)
	}
	if len(logs) != 1 || logs[0] != "waiting up to 300ms for the test drive" {
		t.Errorf("Wait logged %q; want one line saying what and how long", logs)
	}
	logs = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	looks := 0
	err = Wait(ctx, logf, "x", time.Minute, time.Second, func() (bool, error) { looks++; return false, nil })
	if !errors.Is(err, ErrGaveUp) || looks != 1 || len(logs) != 0 {
		t.Errorf("Wait(ended ctx) = %v after %d looks, logged %q; want ErrGaveUp after one look, nothing logged", err, looks, logs)
	}
	if err := Wait(context.Background(), logf, "x", time.Minute, time.Second, func() (bool, error) { return true, nil }); err != nil {
		t.Errorf("Wait(found) = %v", err)
	}
}

func TestBound(t *testing.T) {
	for _, c := range []struct{ fetch, max, want time.Duration }{
		{0, 0, DefaultWait}, {5 * time.Second, 0, 5 * time.Second},
		{2 * time.Minute, 30 * time.Second, 30 * time.Second}, {3 * time.Second, 30 * time.Second, 3 * time.Second},
	} {
		if got := Bound(c.fetch, c.max); got != c.want {
			t.Errorf("Bound(%v, %v) = %v; want %v", c.fetch, c.max, got, c.want)
		}
	}
}
