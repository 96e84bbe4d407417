package files

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/ignition-go/ignition/internal/rootfs"
)

// view is the target root as it will be once the planned steps are done:
// what is on disk, overlaid with what the config puts there. Paths are
// resolved in it as the kernel will resolve them after the commit
// (symlinks the config makes included, ".." never above the root), so
// every check is made before the first write.
type view struct {
	root    *rootfs.Root
	planned map[string]*step // canonical path -> what will be there
	// predicted is what useradd makes before the nodes are committed (a
	// new user's home and its skeleton), by canonical path
	predicted map[string]diskEntry
	under     map[string]string    // canonical dir -> a planned path beneath it
	disk      map[string]diskEntry // lstat cache of canonical on-disk paths
	dirs      map[string]*rootfs.Dir
}

type diskEntry struct {
	kind   rootfs.Kind
	st     rootfs.Stat
	target string // symlinks
	// predicted: not on disk at the plan; useradd makes it (copying from,
	// a canonical path, for files of the skeleton) before the nodes
	predicted bool
	from      string
}

func newView(r *rootfs.Root) *view {
	return &view{root: r, planned: map[string]*step{}, predicted: map[string]diskEntry{}, under: map[string]string{}, disk: map[string]diskEntry{}, dirs: map[string]*rootfs.Dir{}}
}

// close releases the directories the view opened for its lookups.
func (v *view) close() {
	for _, d := range v.dirs {
		d.Close()
	}
	v.dirs = map[string]*rootfs.Dir{}
}

// onDisk reads what is at canonical path p on disk; p's parent must be a
// directory on disk that stays one.
func (v *view) onDisk(p string) (diskEntry, error) {
	if e, ok := v.disk[p]; ok {
		return e, nil
	}
	dir, base := path.Split(p)
	dir = path.Clean(dir)
	d, ok := v.dirs[dir]
	if !ok {
		var err error
		d, err = v.root.OpenDirNoSymlinks(dir)
		if err != nil {
			return diskEntry{}, err
		}
		v.dirs[dir] = d
	}
	kind, st, err := d.Lstat(base)
	if err != nil {
		return diskEntry{}, err
	}
	e := diskEntry{kind: kind, st: st}
	if kind == rootfs.Symlink {
		if e.target, err = d.Readlink(base); err != nil {
			return e, err
		}
	}
	v.disk[p] = e
	return e, nil
}

// state says what will be at canonical path p: its kind, a symlink's
// target, and whether it is a directory before the nodes are committed
// that stays one (kept: on disk now, or made by useradd; now: on disk now,
// so that what is beneath it on disk is still there and temp files can be
// staged in it).
type state struct {
	kind   rootfs.Kind
	target string
	kept   bool
	now    bool
	disk   diskEntry // what is there before the nodes (Missing under a new directory)
}

func (v *view) state(p string) (state, error) {
	if p == "/" {
		return state{kind: rootfs.Directory, kept: true, now: true, disk: diskEntry{kind: rootfs.Directory}}, nil
	}
	ps, err := v.state(path.Dir(p))
	if err != nil {
		return state{}, err
	}
	var disk diskEntry
	if ps.kind == rootfs.Directory && ps.kept {
		if e, ok := v.predicted[p]; ok {
			disk = e
		} else if ps.now {
			if disk, err = v.onDisk(p); err != nil {
				return state{}, err
			}
		}
	}
	if s, ok := v.planned[p]; ok {
		st := state{kind: s.kindAfter(), target: s.n.Target, disk: disk}
		st.kept = st.kind == rootfs.Directory && disk.kind == rootfs.Directory
		st.now = st.kept && !disk.predicted
		return st, nil
	}
	if ps.kind != rootfs.Directory {
		return state{kind: rootfs.Missing}, nil
	}
	dir := disk.kind == rootfs.Directory
	return state{kind: disk.kind, target: disk.target, kept: dir, now: dir && !disk.predicted, disk: disk}, nil
}

var errLoop = errors.New("too many levels of symbolic links")

// resolve turns a config path into the canonical path it will name: every
// symlink followed inside the root, except the last component's when
// followLast is false.
func (v *view) resolve(p string, followLast bool) (string, error) {
	todo := strings.Split(p, "/")
	var cur []string
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		last := len(todo) == 0 || allEmpty(todo)
		next := "/" + strings.Join(append(cur, c), "/")
		if last && !followLast {
			cur = append(cur, c)
			break
		}
		s, err := v.state(next)
		if err != nil {
			return "", err
		}
		switch s.kind {
		case rootfs.Symlink:
			if hops++; hops > 40 {
				return "", fmt.Errorf("%s: %w", p, errLoop)
			}
			if strings.HasPrefix(s.target, "/") {
				cur = cur[:0]
			}
			todo = append(strings.Split(s.target, "/"), todo...)
			continue
		case rootfs.Directory, rootfs.Missing:
		default:
			if !last {
				return "", fmt.Errorf("%s is %s, not a directory", next, s.kind)
			}
		}
		cur = append(cur, c)
	}
	return "/" + strings.Join(cur, "/"), nil
}

func allEmpty(l []string) bool {
	for _, s := range l {
		if s != "" && s != "." {
			return false
		}
	}
	return true
}

// stagingDir is the deepest directory above canonical path p that is on
// disk now and stays a directory: temp files for p are written there, on
// the filesystem p will be on, without creating anything first.
func (v *view) stagingDir(p string) (string, error) {
	for d := path.Dir(p); ; d = path.Dir(d) {
		s, err := v.state(d)
		if err != nil {
			return "", err
		}
		if s.kind == rootfs.Directory && s.now {
			return d, nil
		}
		if d == "/" {
			return "", fmt.Errorf("no directory on disk above %s", p)
		}
	}
}

// add records a step's result in the view.
func (v *view) add(s *step) {
	v.planned[s.canon] = s
	for d := path.Dir(s.canon); d != "/"; d = path.Dir(d) {
		if _, ok := v.under[d]; ok {
			break
		}
		v.under[d] = s.canon
	}
}
