// Package rootfs changes files inside a target root without ever leaving
// it: every path is resolved by the kernel with openat2(RESOLVE_IN_ROOT),
// so a symlink already in the root, or one the config creates, resolves as
// if the root were /, and ".." cannot climb out. Files are written through
// a temp file in the same directory, fsynced and renamed into place.
package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Root is an open target root.
type Root struct {
	fd   int
	Path string
	mu   sync.Mutex
	dirs map[string]int // open directories by path, reused across nodes
}

// Open opens the target root directory.
func Open(p string) (*Root, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("target root %s: %w", p, err)
	}
	return &Root{fd: fd, Path: p, dirs: map[string]int{}}, nil
}

// Close releases the root.
func (r *Root) Close() error {
	r.forget()
	return unix.Close(r.fd)
}

// forget drops the directory cache (after something was removed).
func (r *Root) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, fd := range r.dirs {
		unix.Close(fd)
	}
	r.dirs = map[string]int{}
}

// Sync makes everything written to the root's filesystem durable. Files
// are written to temp names, synced here once, and only then renamed into
// place: a crash never leaves a half-written file at a config's path.
func (r *Root) Sync() error { return unix.Syncfs(r.fd) }

// Host renders a path inside the root as a path on this machine, for logs.
func (r *Root) Host(p string) string { return path.Join(r.Path, p) }

func rel(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

// resolveFlags: resolve inside the root, refuse /proc magic links.
const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

func (r *Root) openat2(p string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(r.fd, rel(p), &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveFlags})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// Dir is an open directory inside the root, with the name of an entry in it.
type Dir struct {
	fd     int
	Base   string
	root   *Root
	cached bool
}

// Close releases the directory.
func (d *Dir) Close() error {
	if d.cached {
		return nil
	}
	return unix.Close(d.fd)
}

// ParentOf opens the directory that holds p, creating missing parents
// (mode 0755, owned by uid:gid); created lists the directories it made.
func (r *Root) ParentOf(p string, uid, gid int) (d *Dir, created []string, err error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil, nil, errors.New("the root itself has no parent")
	}
	dir, base := path.Split(p)
	dir = path.Clean(dir)
	r.mu.Lock()
	defer r.mu.Unlock()
	if fd, ok := r.dirs[dir]; ok {
		return &Dir{fd: fd, Base: base, root: r, cached: true}, nil, nil
	}
	fd, created, err := r.mkdirAll(dir, uid, gid)
	if err != nil {
		return nil, created, err
	}
	r.dirs[dir] = fd
	return &Dir{fd: fd, Base: base, root: r, cached: true}, created, nil
}

// Locate opens the directory that holds p without creating anything.
func (r *Root) Locate(p string) (*Dir, error) {
	p = path.Clean("/" + p)
	dir, base := path.Split(p)
	fd, err := r.openat2(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &Dir{fd: fd, Base: base, root: r}, nil
}

// mkdirAll opens directory p, creating what is missing component by
// component; each component is resolved from the root, so symlinks on the
// way stay inside it.
func (r *Root) mkdirAll(p string, uid, gid int) (int, []string, error) {
	return r.mkdirAllDepth(p, uid, gid, 0)
}

func (r *Root) mkdirAllDepth(p string, uid, gid, depth int) (int, []string, error) {
	if depth > 40 {
		return -1, nil, fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	p = path.Clean("/" + p)
	fd, err := r.openat2(p, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == nil {
		return fd, nil, nil
	}
	if err == unix.ENOTDIR {
		return -1, nil, fmt.Errorf("%s: a path component is not a directory", p)
	}
	if err != unix.ENOENT {
		return -1, nil, fmt.Errorf("%s: %w", p, err)
	}
	var created []string
	cur := "/"
	for _, comp := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		next := path.Join(cur, comp)
		fd, err := r.openat2(next, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err == nil {
			unix.Close(fd)
			cur = next
			continue
		}
		if err == unix.ENOTDIR {
			return -1, created, fmt.Errorf("%s: %s is not a directory", p, cur)
		}
		if err != unix.ENOENT {
			return -1, created, fmt.Errorf("%s: %w", next, err)
		}
		parent, err := r.openat2(cur, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return -1, created, fmt.Errorf("%s: %w", cur, err)
		}
		err = unix.Mkdirat(parent, comp, 0o755)
		if err == nil {
			err = unix.Fchownat(parent, comp, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
			if err == nil {
				err = unix.Fchmodat(parent, comp, 0o755, 0)
			}
			created = append(created, next)
		} else if err == unix.EEXIST {
			// a dangling symlink: create what it points to, inside the root
			buf := make([]byte, 4096)
			n, lerr := unix.Readlinkat(parent, comp, buf)
			if lerr == nil {
				target := string(buf[:n])
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				fd, more, terr := r.mkdirAllDepth(target, uid, gid, depth+1)
				created = append(created, more...)
				if terr == nil {
					unix.Close(fd)
				}
				err = terr
			} else {
				err = nil
			}
		}
		unix.Close(parent)
		if err != nil {
			return -1, created, fmt.Errorf("creating %s: %w", next, err)
		}
		cur = next
	}
	fd, err = r.openat2(p, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, created, fmt.Errorf("%s: %w", p, err)
	}
	return fd, created, nil
}

// Stat is what Fstatat reports.
type Stat = unix.Stat_t

// Kind of what is at a path.
type Kind int

const (
	Missing Kind = iota
	Regular
	Directory
	Symlink
	Other
)

// Stat describes the entry itself (a symlink is not followed).
func (d *Dir) Stat() (Kind, unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, d.Base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return Missing, st, nil
	}
	if err != nil {
		return Missing, st, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return Regular, st, nil
	case unix.S_IFDIR:
		return Directory, st, nil
	case unix.S_IFLNK:
		return Symlink, st, nil
	}
	return Other, st, nil
}

// Readlink reads the entry as a symlink.
func (d *Dir) Readlink() (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(d.fd, d.Base, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// RemoveAll removes the entry and, for a directory, everything under it,
// without following symlinks.
func (d *Dir) RemoveAll() error {
	if d.root != nil {
		// cached directories below may be gone; keep d itself open
		d.root.mu.Lock()
		defer d.root.mu.Unlock()
		for p, fd := range d.root.dirs {
			if fd != d.fd {
				unix.Close(fd)
				delete(d.root.dirs, p)
			}
		}
	}
	return removeAt(d.fd, d.Base)
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
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		if err := removeAt(fd, n); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

var tmpSeq atomic.Uint64

func (d *Dir) tmpName() string {
	return "." + d.Base + ".ignition-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(tmpSeq.Add(1), 10)
}

// FileWriter is a file being written: nothing appears at the path until
// it is renamed into place; Abort removes it. It works on the raw
// descriptor: writing thousands of small files is mostly system calls, and
// this keeps them to the necessary ones.
type FileWriter struct {
	d    *Dir
	fd   int
	name string
}

// Create starts writing the entry through a temp file next to it.
func (d *Dir) Create() (*FileWriter, error) {
	name := d.tmpName()
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	return &FileWriter{d: d, fd: fd, name: name}, nil
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

// CopyExisting copies the current contents of the entry (for appending to a
// file that is kept).
func (w *FileWriter) CopyExisting() error {
	fd, err := unix.Openat(w.d.fd, w.d.Base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(fd), w.d.Base)
	defer src.Close()
	_, err = io.Copy(w, src)
	return err
}

var euid, egid = os.Geteuid(), os.Getegid()

func (w *FileWriter) setAttrs(mode uint32, uid, gid int) error {
	if uid != euid || gid != egid {
		if err := unix.Fchown(w.fd, uid, gid); err != nil {
			return err
		}
	}
	return unix.Fchmod(w.fd, mode&0o7777)
}

// Prepare sets the mode and owner and closes the temp file; Finish then
// renames it into place (after Root.Sync has made it durable).
func (w *FileWriter) Prepare(mode uint32, uid, gid int) error {
	err := w.setAttrs(mode, uid, gid)
	if cerr := unix.Close(w.fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(w.d.fd, w.name, 0)
	}
	return err
}

// Finish renames a prepared file into place.
func (w *FileWriter) Finish() error {
	err := unix.Renameat(w.d.fd, w.name, w.d.fd, w.d.Base)
	if err != nil {
		unix.Unlinkat(w.d.fd, w.name, 0)
	}
	return err
}

// Drop removes a prepared file that will not be renamed.
func (w *FileWriter) Drop() { unix.Unlinkat(w.d.fd, w.name, 0) }

// Commit sets the mode and owner, syncs, and renames into place at once.
func (w *FileWriter) Commit(mode uint32, uid, gid int) error {
	err := w.setAttrs(mode, uid, gid)
	if err == nil {
		err = unix.Fsync(w.fd)
	}
	if cerr := unix.Close(w.fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(w.d.fd, w.name, w.d.fd, w.d.Base)
	}
	if err != nil {
		unix.Unlinkat(w.d.fd, w.name, 0)
	}
	return err
}

// Abort drops the temp file.
func (w *FileWriter) Abort() {
	unix.Close(w.fd)
	unix.Unlinkat(w.d.fd, w.name, 0)
}

// Chmod and Chown change the entry in place (Chown does not follow a symlink).
func (d *Dir) Chmod(mode uint32) error { return unix.Fchmodat(d.fd, d.Base, mode&0o7777, 0) }
func (d *Dir) Chown(uid, gid int) error {
	return unix.Fchownat(d.fd, d.Base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// Mkdir creates the entry as a directory.
func (d *Dir) Mkdir(mode uint32, uid, gid int) error {
	if err := unix.Mkdirat(d.fd, d.Base, 0o700); err != nil {
		return err
	}
	if err := d.Chown(uid, gid); err != nil {
		return err
	}
	return d.Chmod(mode)
}

// Symlink makes the entry a symlink to target, replacing what is there
// atomically.
func (d *Dir) Symlink(target string, uid, gid int) error {
	name := d.tmpName()
	if err := unix.Symlinkat(target, d.fd, name); err != nil {
		return err
	}
	err := unix.Fchownat(d.fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil {
		err = unix.Renameat(d.fd, name, d.fd, d.Base)
	}
	if err != nil {
		unix.Unlinkat(d.fd, name, 0)
	}
	return err
}

// SymlinkTemp makes a symlink to target under a temp name; finish renames
// it over the entry, drop removes it.
func (d *Dir) SymlinkTemp(target string, uid, gid int) (finish func() error, drop func(), err error) {
	name := d.tmpName()
	if err := unix.Symlinkat(target, d.fd, name); err != nil {
		return nil, nil, err
	}
	drop = func() { unix.Unlinkat(d.fd, name, 0) }
	if err := unix.Fchownat(d.fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		drop()
		return nil, nil, err
	}
	finish = func() error {
		err := unix.Renameat(d.fd, name, d.fd, d.Base)
		if err != nil {
			drop()
		}
		return err
	}
	return finish, drop, nil
}

// Link makes the entry a hard link to target (an entry of another Dir).
func (d *Dir) Link(target *Dir) error {
	name := d.tmpName()
	if err := unix.Linkat(target.fd, target.Base, d.fd, name, 0); err != nil {
		return err
	}
	if err := unix.Renameat(d.fd, name, d.fd, d.Base); err != nil {
		unix.Unlinkat(d.fd, name, 0)
		return err
	}
	return nil
}

// ReadFile reads a file inside the root (for /etc/passwd and friends).
func (r *Root) ReadFile(p string) ([]byte, error) {
	fd, err := r.openat2(p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	return io.ReadAll(f)
}

// Exists reports whether something is at p (following symlinks inside the root).
func (r *Root) Exists(p string) bool {
	fd, err := r.openat2(p, unix.O_PATH, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}
