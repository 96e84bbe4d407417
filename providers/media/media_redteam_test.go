package media

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

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

// A file of the running system (a system user.ign, IGNITION_CONFIG_FILE)
// is read on a kernel without openat2 (before Linux 5.6): only media need
// it. The thread that reads is given a seccomp filter answering ENOSYS to
// openat2, as such a kernel would; a missing file is still "not found",
// so a boot with no system config goes on.
func TestReadPathWithoutOpenat2(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "user.ign")
	if err := os.WriteFile(name, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		b          []byte
		err        error
		missingErr error
		filter     error
	}
	ch := make(chan result)
	go func() {
		// the filtered thread ends with this goroutine: never unlocked
		runtime.LockOSThread()
		var r result
		if r.filter = denyOpenat2(); r.filter == nil {
			r.b, r.err = ReadPath(name, "config", 100)
			_, r.missingErr = ReadPath(filepath.Join(dir, "missing.ign"), "config", 100)
		}
		ch <- r
	}()
	r := <-ch
	if r.filter != nil {
		testenv.Skip(t, "cannot install a seccomp filter: %v", r.filter)
	}
	if string(r.b) != "{}" || r.err != nil {
		t.Errorf("ReadPath(%s) without openat2 = %q, %v; want {}", name, r.b, r.err)
	}
	if !errors.Is(r.missingErr, os.ErrNotExist) {
		t.Errorf("ReadPath(missing) without openat2 = %v; want not found", r.missingErr)
	}
}

// denyOpenat2 makes openat2 fail with ENOSYS on the calling thread.
func denyOpenat2() error {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_OPENAT2},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.Syscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		return e
	}
	if _, _, e := unix.Syscall(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return e
	}
	return nil
}

// A wait stopped from outside (SIGTERM cancels the stage's context) ends
// as cancelled, not as "gave up after its bound": the log of a stopped
// boot must not say the device never appeared within 30 s after 2 s.
func TestWaitCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := Wait(ctx, func(string, ...any) {}, "device /dev/disk/by-label/X", time.Minute, time.Millisecond, func() (bool, error) {
		cancel() // the stop arrives during the first look
		return false, nil
	})
	if errors.Is(err, ErrGaveUp) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait() stopped by its caller = %v; want context.Canceled, not ErrGaveUp", err)
	}
}
