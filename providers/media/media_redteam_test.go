package media

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/testenv"
)

// A file replaced after it was checked (a FIFO renamed over it between
// the O_PATH open and the read) is never opened: the inode that was
// checked is read, so the swap changes nothing. Reading the path again
// would have opened whatever was put there (a FIFO's writer woken, a
// device's driver run) before refusing it.
func TestReadSwappedAfterCheck(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "user.ign")
	if err := os.WriteFile(name, []byte("checked"), 0o644); err != nil {
		t.Fatal(err)
	}
	swap := func() {
		fifo := filepath.Join(dir, "fifo")
		if err := unix.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(fifo, name); err != nil {
			t.Fatal(err)
		}
	}
	b, err := read(unix.AT_FDCWD, name, 0, 0, "config", 100, swap)
	if err != nil || string(b) != "checked" {
		t.Fatalf("read(%s) with a FIFO swapped in after the check = %q, %v; want the checked file's %q", name, b, err, "checked")
	}
	if fi, err := os.Lstat(name); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was not in place: %v %v", fi, err)
	}
}

// The cap holds on the bytes actually read, not on the size seen when the
// file was checked: a file that grows past it in between is refused.
func TestReadGrowsPastCap(t *testing.T) {
	name := filepath.Join(t.TempDir(), "user.ign")
	if err := os.WriteFile(name, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	grow := func() {
		f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(make([]byte, 200)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := read(unix.AT_FDCWD, name, 0, 0, "config", 100, grow)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("read of a file grown to 202 bytes under a 100-byte cap = %d bytes, %v; want ErrTooLarge", len(b), err)
	}
}

// A medium something else keeps busy (a file on it left open) is still
// unmounted by Close, its mount point removed: never left behind.
func TestCloseBusyMedium(t *testing.T) {
	testenv.NeedRoot(t, "mounts a tmpfs")
	d, err := Mount("tmpfs", "tmpfs", "ignition-media-redteam-")
	if err != nil {
		t.Fatal(err)
	}
	mnt := d.Path
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH); os.Remove(mnt) })
	if d.Options == "" {
		t.Fatal("no options read back")
	}
	// a read-only tmpfs is empty: hold its root open instead of a file
	busy, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := d.Close(); err != nil {
		t.Fatalf("Close() of a busy medium = %v; want it detached", err)
	}
	var st unix.Statfs_t
	if _, err := os.Stat(mnt); !errors.Is(err, os.ErrNotExist) {
		unix.Statfs(mnt, &st)
		t.Fatalf("mount point %s still there after Close (stat: %v, fs type %#x)", mnt, err, st.Type)
	}
}
