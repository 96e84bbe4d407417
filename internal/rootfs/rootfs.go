// Package rootfs changes files inside a target root without ever leaving
// it: every path is resolved by the kernel with openat2(RESOLVE_IN_ROOT),
// so a symlink already in the root, or one the config creates, resolves as
// if the root were /, and ".." cannot climb out. Everything else works on
// directory handles: a Dir is owned by whoever opened it, and nothing here
// closes a handle its caller holds. Files are written through temp files
// named ".ignition-tmp-<pid>-<n>", which a later run removes if a killed
// run left them behind.
package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Root is an open target root.
type Root struct {
	fd   int
	Path string // as given
	real string // with symlinks resolved, for host paths
}

// Open opens the target root directory.
func Open(p string) (*Root, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, fmt.Errorf("target root %s: %w", p, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return nil, fmt.Errorf("target root %s: %w", p, err)
	}
	fd, err := unix.Open(real, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("target root %s: %w", p, err)
	}
	return &Root{fd: fd, Path: p, real: real}, nil
}

// Close releases the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

// Sync makes everything written to the root's filesystem durable.
func (r *Root) Sync() error { return unix.Syncfs(r.fd) }

// Clean renders a path inside the root in its clean absolute form.
func Clean(p string) string { return path.Clean("/" + p) }

func rel(p string) string {
	p = Clean(p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

// resolveFlags: resolve inside the root, refuse /proc magic links.
const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

func (r *Root) openat2(p string, flags int, mode uint32, resolve uint64) (int, error) {
	for {
		fd, err := unix.Openat2(r.fd, rel(p), &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveFlags | resolve})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// Dir is an open directory inside the root. Its owner closes it.
type Dir struct {
	fd   int
	Path string // inside the root, as asked for
}

// Close releases the directory.
func (d *Dir) Close() error { return unix.Close(d.fd) }

// OpenDir opens the existing directory p, resolved inside the root.
func (r *Root) OpenDir(p string) (*Dir, error) {
	fd, err := r.openat2(p, unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: Clean(p), Err: err}
	}
	return &Dir{fd: fd, Path: Clean(p)}, nil
}

// OpenDirNoSymlinks opens the existing directory p only if no component
// of p is a symlink (for paths already resolved by the caller).
func (r *Root) OpenDirNoSymlinks(p string) (*Dir, error) {
	fd, err := r.openat2(p, unix.O_RDONLY|unix.O_DIRECTORY, 0, unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: Clean(p), Err: err}
	}
	return &Dir{fd: fd, Path: Clean(p)}, nil
}

// MkdirAll opens directory p, creating the missing components (mode 0755,
// owned by uid:gid) one at a time, each resolved from the root, so a
// symlink on the way stays inside it; a dangling symlink on the way gets
// what it points to created, inside the root. created lists what it made;
// the caller closes the Dir.
func (r *Root) MkdirAll(p string, uid, gid int) (d *Dir, created []string, err error) {
	return r.mkdirAll(p, uid, gid, 0, 0)
}

// MkdirAllNoSymlinks is MkdirAll for a path already resolved (by the
// caller's plan): it refuses, with ErrChanged, to pass through a symlink.
func (r *Root) MkdirAllNoSymlinks(p string, uid, gid int) (d *Dir, created []string, err error) {
	return r.mkdirAll(p, uid, gid, 0, unix.RESOLVE_NO_SYMLINKS)
}

func (r *Root) mkdirAll(p string, uid, gid, depth int, resolve uint64) (d *Dir, created []string, err error) {
	strict := resolve&unix.RESOLVE_NO_SYMLINKS != 0
	if depth > 40 {
		return nil, nil, &os.PathError{Op: "mkdir", Path: p, Err: unix.ELOOP}
	}
	p = Clean(p)
	open := func(p string) (*Dir, error) {
		fd, err := r.openat2(p, unix.O_RDONLY|unix.O_DIRECTORY, 0, resolve)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return &Dir{fd: fd, Path: p}, nil
	}
	if d, err := open(p); err == nil {
		return d, nil, nil
	} else if !errors.Is(err, unix.ENOENT) && !(strict && errors.Is(err, unix.ELOOP)) {
		return nil, nil, err
	}
	cur := "/"
	for _, comp := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		next := path.Join(cur, comp)
		fd, err := r.openat2(next, unix.O_PATH|unix.O_DIRECTORY, 0, resolve)
		switch {
		case err == nil:
			unix.Close(fd)
			cur = next
			continue
		case strict && err == unix.ELOOP:
			return nil, created, fmt.Errorf("%s: %s is a symlink now: %w", p, next, ErrChanged)
		case err == unix.ENOTDIR && strict:
			return nil, created, fmt.Errorf("%s: %s is not a directory: %w", p, next, ErrChanged)
		case err == unix.ENOTDIR:
			return nil, created, fmt.Errorf("%s: %s is not a directory", p, next)
		case err != unix.ENOENT:
			return nil, created, &os.PathError{Op: "open", Path: next, Err: err}
		}
		parent, err := open(cur)
		if err != nil {
			return nil, created, err
		}
		err = parent.Mkdir(comp, 0o755, uid, gid)
		if err == unix.EEXIST && !strict {
			// a dangling symlink: make its target, resolved from here
			var target string
			target, err = parent.Readlink(comp)
			if err == nil {
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				var td *Dir
				var more []string
				td, more, err = r.mkdirAll(target, uid, gid, depth+1, resolve)
				created = append(created, more...)
				if err == nil {
					td.Close()
				}
			}
		} else if err == nil {
			created = append(created, next)
		}
		parent.Close()
		if err != nil {
			return nil, created, &os.PathError{Op: "mkdir", Path: next, Err: err}
		}
		cur = next
	}
	d, err = open(p)
	return d, created, err
}

// HostPath returns where p is on this machine: its parent resolved by the
// kernel inside the root, read back from /proc/self/fd, and checked to be
// under the root. The last component is not followed. It is for programs
// that take paths (setfiles): the result has no symlink in its directories.
func (r *Root) HostPath(p string) (string, error) {
	p = Clean(p)
	if p == "/" {
		return r.real, nil
	}
	dir, base := path.Split(p)
	fd, err := r.openat2(dir, unix.O_PATH|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	real, err := r.fdPath(fd, dir)
	if err != nil {
		return "", err
	}
	return path.Join(real, base), nil
}

// fdPath is where an open descriptor is on this machine, checked to be
// under the root.
func (r *Root) fdPath(fd int, p string) (string, error) {
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	if r.real != "/" && real != r.real && !strings.HasPrefix(real, r.real+"/") {
		return "", fmt.Errorf("%s resolves to %s, outside the root %s", p, real, r.real)
	}
	return real, nil
}

// ResolvedHostPath is HostPath with the last component followed too (inside
// the root): the host path of the directory p names, with no symlink in it.
// It is for mount points.
func (r *Root) ResolvedHostPath(p string) (string, error) {
	fd, err := r.openat2(p, unix.O_PATH|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: Clean(p), Err: err}
	}
	defer unix.Close(fd)
	return r.fdPath(fd, Clean(p))
}

// ErrChanged is a path that is no longer what the plan found.
var ErrChanged = errors.New("changed since the plan")

// Kind of what is at a path.
type Kind int

const (
	Missing Kind = iota
	Regular
	Directory
	Symlink
	Other
)

func (k Kind) String() string {
	return [...]string{"nothing", "a file", "a directory", "a symlink", "a special file"}[k]
}

// Stat is what Fstatat reports.
type Stat = unix.Stat_t

// KindOf classifies a stat mode.
func KindOf(mode uint32) Kind {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return Regular
	case unix.S_IFDIR:
		return Directory
	case unix.S_IFLNK:
		return Symlink
	}
	return Other
}

// ErrBadName is a name given to a Dir method that is not one entry of
// the directory ("", ".", "..", or with a slash): those would reach
// outside it.
var ErrBadName = errors.New("not a single path component")

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return &os.PathError{Op: "name", Path: name, Err: ErrBadName}
	}
	return nil
}

// Lstat describes the entry name of d itself (a symlink is not followed).
func (d *Dir) Lstat(name string) (Kind, Stat, error) {
	var st unix.Stat_t
	if err := checkName(name); err != nil {
		return Missing, st, err
	}
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return Missing, st, nil
	}
	if err != nil {
		return Missing, st, &os.PathError{Op: "stat", Path: path.Join(d.Path, name), Err: err}
	}
	return KindOf(st.Mode), st, nil
}

// Readlink reads the entry as a symlink.
func (d *Dir) Readlink(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(d.fd, name, buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: path.Join(d.Path, name), Err: err}
	}
	return string(buf[:n]), nil
}

// RemoveAll removes the entry and, for a directory, everything under it,
// without following symlinks. It refuses, before removing anything, when a
// filesystem is mounted at or under the entry.
func (d *Dir) RemoveAll(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := noMountsAt(d.fd, name, path.Join(d.Path, name)); err != nil {
		return err
	}
	return removeAt(d.fd, name)
}

// CheckRemovable says whether RemoveAll(name) would be refused because a
// filesystem is mounted at or under the entry.
func (d *Dir) CheckRemovable(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return noMountsAt(d.fd, name, path.Join(d.Path, name))
}

// ErrMountPoint is a removal that would reach into a mounted filesystem.
var ErrMountPoint = errors.New("a filesystem is mounted there")

// noMountsAt walks the entry (not following symlinks) and fails if it is,
// or holds, a mount point.
func noMountsAt(dirfd int, name, shown string) error {
	var sx unix.Statx_t
	if err := unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE, &sx); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return &os.PathError{Op: "statx", Path: shown, Err: err}
	}
	if sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return &os.PathError{Op: "remove", Path: shown, Err: ErrMountPoint}
	}
	if uint32(sx.Mode)&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: shown, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if err := noMountsAt(fd, n, path.Join(shown, n)); err != nil {
				return err
			}
		}
		if err == io.EOF || len(names) == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if err := removeAt(fd, n); err != nil {
				return err
			}
		}
		if err == io.EOF || len(names) == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// Mkdir creates the entry as a directory.
func (d *Dir) Mkdir(name string, mode uint32, uid, gid int) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := unix.Mkdirat(d.fd, name, 0o700); err != nil {
		return err
	}
	if err := d.Chown(name, uid, gid); err != nil {
		return err
	}
	return d.Chmod(name, mode)
}

var euid, egid = os.Geteuid(), os.Getegid()

// Chmod and Chown change the entry in place (neither follows a symlink;
// a symlink's own mode cannot change, so Chmod leaves it).
func (d *Dir) Chmod(name string, mode uint32) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := unix.Fchmodat(d.fd, name, mode&0o7777, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.EOPNOTSUPP || err == unix.ENOTSUP {
		// kernels before 6.6 without AT_SYMLINK_NOFOLLOW support: go through
		// an O_PATH descriptor of the entry itself, refusing symlinks
		var fd int
		fd, err = unix.Openat(d.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err = unix.Fstat(fd, &st); err != nil {
			return err
		}
		if KindOf(st.Mode) == Symlink {
			return nil
		}
		err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode&0o7777)
	}
	return err
}

func (d *Dir) Chown(name string, uid, gid int) error {
	if err := checkName(name); err != nil {
		return err
	}
	return unix.Fchownat(d.fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// Rename moves the entry from into dir to under name, replacing a file or
// symlink there.
func (d *Dir) Rename(from string, to *Dir, name string) error {
	if err := errors.Join(checkName(from), checkName(name)); err != nil {
		return err
	}
	return unix.Renameat(d.fd, from, to.fd, name)
}

// Symlink makes name a symlink to target, replacing a file or symlink there
// atomically (through a temp name).
func (d *Dir) Symlink(name, target string, uid, gid int) error {
	if err := checkName(name); err != nil {
		return err
	}
	tmp := tmpName()
	if err := unix.Symlinkat(target, d.fd, tmp); err != nil {
		return err
	}
	err := unix.Fchownat(d.fd, tmp, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil {
		err = unix.Renameat(d.fd, tmp, d.fd, name)
	}
	if err != nil {
		unix.Unlinkat(d.fd, tmp, 0)
	}
	return err
}

// Link makes name a hard link to the entry from of dir src (not following
// a symlink there), replacing a file or symlink at name.
func (d *Dir) Link(name string, src *Dir, from string) error {
	if err := errors.Join(checkName(name), checkName(from)); err != nil {
		return err
	}
	tmp := tmpName()
	if err := unix.Linkat(src.fd, from, d.fd, tmp, 0); err != nil {
		return err
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, name); err != nil {
		unix.Unlinkat(d.fd, tmp, 0)
		return err
	}
	return nil
}

// TempPrefix starts the name of every temp file this package makes.
const TempPrefix = ".ignition-tmp-"

var tmpSeq atomic.Uint64

func tmpName() string {
	return TempPrefix + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(tmpSeq.Add(1), 10)
}

// RemoveLeftovers removes the temp files of other runs (a run that was
// killed) from the directory, and says how many it removed.
func (d *Dir) RemoveLeftovers() (int, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), d.Path)
	defer f.Close()
	mine := TempPrefix + strconv.Itoa(os.Getpid()) + "-"
	n := 0
	for {
		names, err := f.Readdirnames(1024)
		for _, name := range names {
			if !strings.HasPrefix(name, TempPrefix) || strings.HasPrefix(name, mine) {
				continue
			}
			if k, _, _ := d.Lstat(name); k != Regular && k != Symlink {
				continue
			}
			if unix.Unlinkat(d.fd, name, 0) == nil {
				n++
			}
		}
		if err == io.EOF || len(names) == 0 {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// FileWriter is a file being written under a temp name in a directory:
// nothing appears at the final path until it is renamed there.
// It works on the raw descriptor: writing thousands of small files is
// mostly system calls, and this keeps them to the necessary ones.
type FileWriter struct {
	d    *Dir
	fd   int
	Name string // the temp name in d
}

// CreateTemp starts a temp file in d (mode 0600, owned by this process).
func (d *Dir) CreateTemp() (*FileWriter, error) {
	name := tmpName()
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: path.Join(d.Path, name), Err: err}
	}
	return &FileWriter{d: d, fd: fd, Name: name}, nil
}

func (w *FileWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(w.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// Reset empties the temp file, so that a broken-off download can start over.
func (w *FileWriter) Reset() error {
	if err := unix.Ftruncate(w.fd, 0); err != nil {
		return err
	}
	_, err := unix.Seek(w.fd, 0, io.SeekStart)
	return err
}

// CopyFrom copies the current contents of the regular file name in src
// (for appending to a file that is kept).
func (w *FileWriter) CopyFrom(src *Dir, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	fd, err := unix.Openat(src.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// SetAttrs sets the temp file's owner, then its mode (a chown clears
// setuid bits).
func (w *FileWriter) SetAttrs(mode uint32, uid, gid int) error {
	if uid != euid || gid != egid {
		if err := unix.Fchown(w.fd, uid, gid); err != nil {
			return err
		}
	}
	return unix.Fchmod(w.fd, mode&0o7777)
}

// Close closes the descriptor and keeps the temp file.
func (w *FileWriter) Close() error { return unix.Close(w.fd) }

// Abort closes and removes the temp file.
func (w *FileWriter) Abort() {
	unix.Close(w.fd)
	unix.Unlinkat(w.d.fd, w.Name, 0)
}

// Commit sets the mode and owner, syncs, and renames into place at once.
func (w *FileWriter) Commit(name string, mode uint32, uid, gid int) error {
	err := checkName(name)
	if err == nil {
		err = w.SetAttrs(mode, uid, gid)
	}
	if err == nil {
		err = unix.Fsync(w.fd)
	}
	if cerr := unix.Close(w.fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(w.d.fd, w.Name, w.d.fd, name)
	}
	if err != nil {
		unix.Unlinkat(w.d.fd, w.Name, 0)
	}
	return err
}

// Unlink removes the entry name of d (not a directory).
func (d *Dir) Unlink(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return unix.Unlinkat(d.fd, name, 0)
}

// WriteFile writes data to name in d through a temp file, synced, with the
// mode and owner given.
func (d *Dir) WriteFile(name string, data []byte, mode uint32, uid, gid int) error {
	w, err := d.CreateTemp()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Commit(name, mode, uid, gid)
}

// WriteFile writes p inside the root (creating missing parents, 0755
// root-owned), replacing a file or symlink there; created lists the
// directories it made.
func (r *Root) WriteFile(p string, data []byte, mode uint32, uid, gid int) (created []string, err error) {
	p = Clean(p)
	dir, base := path.Split(p)
	d, created, err := r.MkdirAll(dir, 0, 0)
	if err != nil {
		return created, err
	}
	defer d.Close()
	return created, d.WriteFile(base, data, mode, uid, gid)
}

// ReadFile reads a file inside the root (for /etc/passwd and friends).
func (r *Root) ReadFile(p string) ([]byte, error) {
	fd, err := r.openat2(p, unix.O_RDONLY, 0, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: Clean(p), Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	return io.ReadAll(f)
}

// Lstat describes the entry at p (its parent resolved inside the root, p
// itself not followed).
func (r *Root) Lstat(p string) (Kind, Stat, error) {
	p = Clean(p)
	if p == "/" {
		var st Stat
		err := unix.Fstat(r.fd, &st)
		return Directory, st, err
	}
	dir, base := path.Split(p)
	d, err := r.OpenDir(dir)
	if err != nil {
		var st Stat
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return Missing, st, nil
		}
		return Missing, st, err
	}
	defer d.Close()
	return d.Lstat(base)
}
