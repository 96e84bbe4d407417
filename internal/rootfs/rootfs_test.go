package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Dir methods take one entry name: anything that would reach another
// directory is refused before any system call.
func TestNamesAreOneEntry(t *testing.T) {
	r, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := r.OpenDir("/")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"", ".", "..", "../x", "a/b", "/etc"} {
		if _, _, err := d.Lstat(name); !errors.Is(err, ErrBadName) {
			t.Errorf("Lstat(%q) = %v; want ErrBadName", name, err)
		}
		if err := d.RemoveAll(name); !errors.Is(err, ErrBadName) {
			t.Errorf("RemoveAll(%q) = %v; want ErrBadName", name, err)
		}
		if err := d.Symlink(name, "/dev/null", 0, 0); !errors.Is(err, ErrBadName) {
			t.Errorf("Symlink(%q) = %v; want ErrBadName", name, err)
		}
	}
}

// Host paths stay under the root, also when the root is / itself.
func TestHostPath(t *testing.T) {
	dir := t.TempDir()
	real, _ := filepath.EvalSymlinks(dir)
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.Symlink(outside, filepath.Join(dir, "mnt")) // an image symlink to a host path
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := r.HostPath("/etc/x"); err != nil || got != filepath.Join(real, "etc/x") {
		t.Errorf("HostPath(/etc/x) = %q, %v; want %q", got, err, filepath.Join(real, "etc/x"))
	}
	os.MkdirAll(filepath.Join(dir, outside), 0o755)
	if got, err := r.ResolvedHostPath("/mnt"); err != nil || got != filepath.Join(real, outside) {
		t.Errorf("ResolvedHostPath(/mnt) = %q, %v; want the link re-rooted: %q", got, err, filepath.Join(real, outside))
	}
	slash, err := Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer slash.Close()
	if got, err := slash.HostPath("/etc/passwd"); err != nil || got != "/etc/passwd" {
		t.Errorf("with root /: HostPath(/etc/passwd) = %q, %v", got, err)
	}
}
