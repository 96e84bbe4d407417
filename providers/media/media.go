// Package media mounts the media a config is read from (Azure's
// provisioning CD, config drives, the ignition.config.device filesystem)
// and reads files from them without being tricked: every medium is mounted
// read-only, nodev, nosuid and noexec (checked back in /proc/self/mountinfo
// before anything is read), and a file is resolved by the kernel beneath
// the mount with no symbolic link at all, opened only when it is a regular
// file, non-blocking, and refused when it is larger than its cap.
//
// Symbolic links are refused on a medium even when they stay inside it:
// the media we read are written by a cloud or an operator tool, which
// writes plain files, and one rule with no exception is easier to trust.
package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/resource"
)

// Flags are the mount flags of every medium, and Options the same as
// mount(8) options.
const (
	Flags   = unix.MS_RDONLY | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC
	Options = "ro,nodev,nosuid,noexec"
)

var (
	// ErrSymlink is a path on a medium that is, or goes through, a
	// symbolic link.
	ErrSymlink = errors.New("symbolic link refused (links on a medium are never followed)")
	// ErrNotRegular is a path that is not a regular file (a FIFO, a
	// device, a socket, a directory): it is not opened.
	ErrNotRegular = errors.New("not a regular file")
	// ErrOtherMount is a path that leads onto another mount.
	ErrOtherMount = errors.New("path leads out of the medium")
	// ErrTooLarge is a file larger than the cap its reader set; the
	// error also matches resource.ErrTooLarge.
	ErrTooLarge = errors.New("larger than its limit")
	// ErrUnsafeMount is a medium whose mount lacks ro, nodev, nosuid or
	// noexec.
	ErrUnsafeMount = errors.New("is not mounted ro,nodev,nosuid,noexec")
)

// resolveBeneath: the kernel resolves every component beneath the mount,
// follows no symbolic link (nor /proc magic link), and crosses no mount.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// Dir is a mounted medium, open. Its owner closes it.
type Dir struct {
	Dev     string // what is mounted (/dev/sr0)
	Path    string // the mount point
	Options string // the mount's options as the kernel reports them
	fd      int
	mounted bool // Close unmounts and removes Path
}

// Mount mounts dev (fstype) read-only, nodev, nosuid and noexec on a new
// directory under the temp dir (named after prefix), checks those options
// in /proc/self/mountinfo, and opens it. Close unmounts it.
func Mount(dev, fstype, prefix string) (*Dir, error) {
	mnt, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	if err := unix.Mount(dev, mnt, fstype, Flags, ""); err != nil {
		os.Remove(mnt)
		return nil, &os.PathError{Op: "mount " + fstype + " " + Options, Path: dev, Err: err}
	}
	d, err := open(mnt, dev)
	if err != nil {
		unix.Unmount(mnt, unix.MNT_DETACH)
		os.Remove(mnt)
		return nil, err
	}
	d.mounted = true
	return d, nil
}

// Open opens a medium that something else mounted on dir (mount(8) with
// -o Options), after checking its options in /proc/self/mountinfo. Close
// does not unmount it.
func Open(dir, dev string) (*Dir, error) { return open(dir, dev) }

func open(dir, dev string) (*Dir, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	opts, err := mountOptions(fd)
	if err == nil {
		err = checkOptions(opts)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s on %s: %w", dev, dir, err)
	}
	return &Dir{Dev: dev, Path: dir, Options: opts, fd: fd}, nil
}

// Close closes the medium, and unmounts it when Mount mounted it.
func (d *Dir) Close() error {
	unix.Close(d.fd)
	if !d.mounted {
		return nil
	}
	return Unmount(d.Path)
}

// Unmount unmounts a medium's mount point and removes it. A mount that is
// busy (something else opened a file on it) is detached instead, so it is
// never left behind: the kernel drops it when the last file is closed.
func Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if err == unix.EBUSY {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil {
		return &os.PathError{Op: "umount", Path: dir, Err: err}
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("removing the mount point: %w", err)
	}
	return nil
}

// mountOptions returns the per-mount options (field 6 of mountinfo) of
// the mount fd is the root of, found by its mount ID.
func mountOptions(fd int) (string, error) {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &st); err != nil {
		return "", fmt.Errorf("statx: %w", err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return "", errors.New("the kernel reports no mount ID")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("cannot check the mount options: %w", err)
	}
	defer f.Close()
	id := strconv.FormatUint(st.Mnt_id, 10)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 5 && fields[0] == id {
			return fields[5], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("/proc/self/mountinfo: %w", err)
	}
	return "", fmt.Errorf("mount %s is not in /proc/self/mountinfo", id)
}

func checkOptions(opts string) error {
	have := map[string]bool{}
	for _, o := range strings.Split(opts, ",") {
		have[o] = true
	}
	for _, want := range []string{"ro", "nodev", "nosuid", "noexec"} {
		if !have[want] {
			return fmt.Errorf("%w (options %s)", ErrUnsafeMount, opts)
		}
	}
	return nil
}

// ReadFile reads name (a path relative to the medium's root; a leading /
// is the root) when it is a regular file of at most limit bytes (what
// names its contents in that error: "config"). Any
// symbolic link on the way is ErrSymlink, anything but a regular file is
// ErrNotRegular and is never opened for reading, and a larger file is
// ErrTooLarge, refused whole rather than cut. A missing file matches
// fs.ErrNotExist.
func (d *Dir) ReadFile(name, what string, limit int64) ([]byte, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+name), "/")
	if rel == "" {
		rel = "."
	}
	b, err := read(d.fd, rel, resolveBeneath, unix.O_NOFOLLOW, what, limit, nil)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", name, d.Dev, err)
	}
	return b, nil
}

// ReadPath reads a file of the running system that an operator named (a
// config file, a system config): symbolic links are followed, but it is
// read only when it is a regular file of at most limit bytes, as
// ReadFile.
func ReadPath(name, what string, limit int64) ([]byte, error) {
	b, err := read(unix.AT_FDCWD, name, 0, 0, what, limit, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// read opens name under dirfd with O_PATH (which opens nothing: no FIFO
// blocks, no device driver runs), checks it is a regular file within
// limit, and only then opens that very inode for reading, non-blocking,
// through /proc/self/fd: a file put in its place after the check is never
// opened. The cap holds on the bytes read, not on the size checked: a file
// that grows past it while read is refused. checked, when not nil, runs
// right after the check (tests put another file in place there).
func read(dirfd int, name string, resolve uint64, flags int, what string, limit int64, checked func()) ([]byte, error) {
	openat2 := func(flags int) (int, error) {
		for {
			var fd int
			var err error
			if resolve == 0 {
				// a path of the running system: any kernel
				fd, err = unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, 0)
			} else {
				fd, err = unix.Openat2(dirfd, name, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve})
			}
			if err != unix.EINTR && err != unix.EAGAIN {
				return fd, err
			}
		}
	}
	pfd, err := openat2(unix.O_PATH | flags)
	if err != nil {
		return nil, openError(err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, err
	}
	if err := regular(st, what, limit); err != nil {
		return nil, err
	}
	if checked != nil {
		checked()
	}
	const rdflags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	fd, err := reopen(pfd, rdflags)
	if err == unix.ENOENT {
		// no /proc: open the path again; the same-file check below
		// refuses what was put in its place (though it was opened)
		fd, err = openat2(rdflags | flags)
	}
	if err != nil {
		return nil, openError(err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st2 unix.Stat_t
	if err := unix.Fstat(fd, &st2); err != nil {
		return nil, err
	}
	if st2.Dev != st.Dev || st2.Ino != st.Ino {
		return nil, errors.New("changed while it was opened")
	}
	if err := regular(st2, what, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{What: what, Limit: limit}
	}
	return b, nil
}

// reopen opens the inode an O_PATH descriptor holds, by its /proc/self/fd
// link: ENOENT when /proc is not mounted.
func reopen(pfd, flags int) (int, error) {
	for {
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func openError(err error) error {
	switch err {
	case unix.ELOOP:
		return ErrSymlink
	case unix.EXDEV:
		return ErrOtherMount
	case unix.ENOSYS:
		return fmt.Errorf("openat2 (Linux 5.6 or later): %w", err)
	}
	return err
}

// regular refuses anything but a regular file of at most limit bytes.
func regular(st unix.Stat_t, what string, limit int64) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return ErrSymlink
	default:
		return fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode))
	}
	if st.Size > limit {
		return &TooLargeError{What: what, Limit: limit, Size: st.Size}
	}
	return nil
}

// TooLargeError is a file refused whole because it is larger than its
// cap: it matches ErrTooLarge and resource.ErrTooLarge.
type TooLargeError struct {
	What  string // "config", "ovf-env.xml"
	Limit int64
	Size  int64 // 0: more than Limit, found while reading
}

func (e *TooLargeError) Error() string {
	s := fmt.Sprintf("%s is larger than the %s limit", e.What, Size(e.Limit))
	if e.Size > 0 {
		s += fmt.Sprintf(" (%d bytes)", e.Size)
	}
	return s
}

func (e *TooLargeError) Is(target error) bool {
	return target == ErrTooLarge || target == resource.ErrTooLarge
}

// Size formats a byte count the way limits are given: "1 MiB", "64 KiB".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	}
	return fmt.Sprintf("file type %#o", mode&unix.S_IFMT)
}

// Bound is how long a wait for a medium may last: the fetch timeout
// (-fetch-timeout; DefaultWait when it is 0), and at most max when max > 0.
func Bound(fetchTimeout, max time.Duration) time.Duration {
	w := DefaultWait
	if fetchTimeout > 0 {
		w = fetchTimeout
	}
	if max > 0 && max < w {
		w = max
	}
	return w
}

// DefaultWait bounds a wait when the fetch has no timeout.
const DefaultWait = 2 * time.Minute

// LogEvery is how often a wait says it is still waiting.
const LogEvery = 10 * time.Second

// ErrGaveUp ends a wait whose bound passed.
var ErrGaveUp = errors.New("gave up waiting")

// Wait calls ready every interval until it reports true or an error, or
// until wait or ctx ends. It logs what it waits for and its bound once,
// when the first look finds nothing, then every LogEvery; the end of the
// wait is ErrGaveUp, saying what and how long; a ctx cancelled on the way
// (the stage stopped) is context.Canceled instead. A ctx that has already
// ended is one look, with nothing logged, and ErrGaveUp.
func Wait(ctx context.Context, logf func(string, ...any), what string, wait, interval time.Duration, ready func() (bool, error)) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl).Round(100 * time.Millisecond)
	}
	parent, oneLook := ctx, ctx.Err() != nil
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	var lastLog time.Time
	for {
		ok, err := ready()
		if ok || err != nil {
			return err
		}
		switch {
		case ctx.Err() != nil:
		case lastLog.IsZero():
			logf("waiting up to %v for %s", wait, what)
			lastLog = time.Now()
		case time.Since(lastLog) >= LogEvery:
			logf("still waiting for %s (%v of %v)", what, time.Since(start).Round(time.Second), wait)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err == context.Canceled && !oneLook {
				// stopped (SIGTERM), not given up: say so
				return fmt.Errorf("stopped waiting for %s after %v: %w", what, time.Since(start).Round(100*time.Millisecond), err)
			}
			return fmt.Errorf("%w for %s after %v", ErrGaveUp, what, time.Since(start).Round(100*time.Millisecond))
		case <-time.After(interval):
		}
	}
}
