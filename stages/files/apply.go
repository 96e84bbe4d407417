package files

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/rootfs"
	"github.com/ignition-go/ignition/resource"
)

// Logger is what the stage logs through; it must be safe for concurrent
// use (files are prepared several at a time).
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Op(format string, args ...any) func(error)
}

// Applier carries out a plan in a target root.
type Applier struct {
	Root    *rootfs.Root
	Fetcher *resource.Fetcher
	Log     Logger
	// Written lists what was created or changed, for the SELinux relabel.
	Written []string

	users  map[string]passwdEntry
	groups map[string]int
	mu     sync.Mutex
}

type passwdEntry struct {
	uid, gid int
	home     string
}

// Apply runs the files stage on the root at rootPath.
func Apply(ctx context.Context, cfg config.Config, rootPath string, f *resource.Fetcher, log Logger) error {
	root, err := rootfs.Open(rootPath)
	if err != nil {
		return err
	}
	defer root.Close()
	a := &Applier{Root: root, Fetcher: f, Log: log}
	plan := MakePlan(cfg)
	if err := a.passwd(ctx, plan); err != nil {
		return err
	}
	if err := a.loadIDs(); err != nil {
		return err
	}
	if err := a.nodes(ctx, plan.Nodes); err != nil {
		return err
	}
	if err := a.units(ctx, plan); err != nil {
		return err
	}
	return a.relabel(ctx)
}

// loadIDs reads the target root's passwd and group files: owners named in
// the config are resolved there, never on the machine running the stage.
func (a *Applier) loadIDs() error {
	a.users, a.groups = map[string]passwdEntry{}, map[string]int{}
	if b, err := a.Root.ReadFile("/etc/passwd"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Split(l, ":")
			if len(f) < 7 {
				continue
			}
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 == nil && err2 == nil {
				a.users[f[0]] = passwdEntry{uid: uid, gid: gid, home: f[5]}
			}
		}
	}
	if b, err := a.Root.ReadFile("/etc/group"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Split(l, ":")
			if len(f) < 3 {
				continue
			}
			if gid, err := strconv.Atoi(f[2]); err == nil {
				a.groups[f[0]] = gid
			}
		}
	}
	return nil
}

// owner picks the uid and gid of a node: the config's (by id, or by name in
// the target root), else the kept entry's, else root.
func (a *Applier) owner(n Node, st *rootfs.Stat, keep bool) (int, int, error) {
	uid, gid := 0, 0
	if keep && st != nil {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	switch {
	case n.User.ID != nil:
		uid = *n.User.ID
	case n.User.Name != nil && *n.User.Name != "":
		u, ok := a.users[*n.User.Name]
		if !ok {
			return 0, 0, fmt.Errorf("user %q is not in the target's /etc/passwd", *n.User.Name)
		}
		uid = u.uid
	}
	switch {
	case n.Group.ID != nil:
		gid = *n.Group.ID
	case n.Group.Name != nil && *n.Group.Name != "":
		g, ok := a.groups[*n.Group.Name]
		if !ok {
			return 0, 0, fmt.Errorf("group %q is not in the target's /etc/group", *n.Group.Name)
		}
		gid = g
	}
	return uid, gid, nil
}

var errExists = errors.New("something is already there and overwrite is false")

// pending is a file or symlink written under a temp name, waiting to be
// renamed into place.
type pending struct {
	n      Node
	finish func() error
	drop   func()
}

// nodes puts files, directories and links in place in steps: directories
// as they come (in depth order); then every file's contents are fetched and
// verified into a temp file next to its path, and symlinks made under temp
// names, several at a time; one filesystem sync makes them durable; then
// all are renamed into place, and hard links made. A failed fetch or hash
// leaves no file changed and no temp file behind.
func (a *Applier) nodes(ctx context.Context, nodes []Node) error {
	type job struct {
		n   Node
		d   *rootfs.Dir
		p   *pending
		err error
	}
	var jobs []*job
	var hard []Node
	for _, n := range nodes {
		switch n.Kind {
		case KindHardlink:
			hard = append(hard, n)
		case KindDirectory:
			done := a.Log.Op("%s %s", n.Kind, n.Path)
			_, err := a.prepare(ctx, n, nil)
			done(err)
			if err != nil {
				return fmt.Errorf("%s %s: %w", n.Kind, n.Path, err)
			}
		default:
			d, created, err := a.Root.ParentOf(n.Path, 0, 0)
			a.written(created...)
			if err != nil {
				return fmt.Errorf("%s %s: %w", n.Kind, n.Path, err)
			}
			jobs = append(jobs, &job{n: n, d: d})
		}
	}
	parallel(len(jobs), func(i int) {
		j := jobs[i]
		done := a.Log.Op("%s %s", j.n.Kind, j.n.Path)
		j.p, j.err = a.prepare(ctx, j.n, j.d)
		done(j.err)
	})
	var pend []*pending
	var firstErr error
	for _, j := range jobs {
		if j.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s %s: %w", j.n.Kind, j.n.Path, j.err)
		}
		if j.p != nil {
			pend = append(pend, j.p)
		}
	}
	if firstErr != nil {
		for _, p := range pend {
			p.drop()
		}
		return firstErr
	}
	if len(pend) > 0 {
		done := a.Log.Op("syncing and renaming %d file(s) and link(s) into place", len(pend))
		err := a.Root.Sync()
		if err != nil {
			for _, p := range pend {
				p.drop()
			}
		} else {
			errs := make([]error, len(pend))
			parallel(len(pend), func(i int) {
				if e := pend[i].finish(); e != nil {
					errs[i] = fmt.Errorf("%s %s: %w", pend[i].n.Kind, pend[i].n.Path, e)
				}
			})
			err = errors.Join(errs...)
			if err == nil {
				err = a.Root.Sync()
			}
		}
		done(err)
		if err != nil {
			return err
		}
	}
	for _, n := range hard {
		done := a.Log.Op("%s %s", n.Kind, n.Path)
		err := a.hardLink(n)
		done(err)
		if err != nil {
			return fmt.Errorf("%s %s: %w", n.Kind, n.Path, err)
		}
	}
	return nil
}

// parallel runs f(0..n-1) on a few goroutines: the work is system calls
// and fetches, which overlap well.
func parallel(n int, f func(i int)) {
	workers := min(n, 8)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func (a *Applier) written(p ...string) {
	a.mu.Lock()
	a.Written = append(a.Written, p...)
	a.mu.Unlock()
}

// prepare does a node's work up to the rename: directories completely,
// files and symlinks into a temp name (nil when nothing is left to do).
// d is the node's parent directory when the caller has opened it.
func (a *Applier) prepare(ctx context.Context, n Node, d *rootfs.Dir) (*pending, error) {
	if d == nil {
		var created []string
		var err error
		d, created, err = a.Root.ParentOf(n.Path, 0, 0)
		a.written(created...)
		if err != nil {
			return nil, err
		}
	}
	kind, st, err := d.Stat()
	if err != nil {
		return nil, err
	}
	a.written(n.Path)
	switch n.Kind {
	case KindDirectory:
		return nil, a.directory(n, d, kind, &st)
	case KindFile:
		return a.prepareFile(ctx, n, d, kind, &st)
	case KindSymlink:
		if kind == rootfs.Symlink {
			if t, err := d.Readlink(); err == nil && t == n.Target {
				uid, gid, err := a.owner(n, &st, true)
				if err != nil {
					return nil, err
				}
				return nil, d.Chown(uid, gid)
			}
		}
		if kind != rootfs.Missing && !n.Overwrite {
			return nil, errExists
		}
		uid, gid, err := a.owner(n, nil, false)
		if err != nil {
			return nil, err
		}
		finish, drop, err := d.SymlinkTemp(n.Target, uid, gid)
		if err != nil {
			return nil, err
		}
		return &pending{n: n, finish: func() error {
			if err := a.clearDir(d); err != nil {
				drop()
				return err
			}
			return finish()
		}, drop: drop}, nil
	}
	return nil, fmt.Errorf("unknown node kind %q", n.Kind)
}

// clearDir removes a directory (or device, fifo…) that an overwriting file
// or link replaces; a file or symlink there is replaced by the rename.
func (a *Applier) clearDir(d *rootfs.Dir) error {
	kind, _, err := d.Stat()
	if err != nil {
		return err
	}
	if kind == rootfs.Directory || kind == rootfs.Other {
		return d.RemoveAll()
	}
	return nil
}

func (a *Applier) prepareFile(ctx context.Context, n Node, d *rootfs.Dir, kind rootfs.Kind, st *rootfs.Stat) (*pending, error) {
	keep := kind == rootfs.Regular && !n.Overwrite && n.Contents == nil
	if !keep && kind != rootfs.Missing && !n.Overwrite {
		if kind == rootfs.Regular {
			return nil, fmt.Errorf("a file exists there already and overwrite is false")
		}
		return nil, errExists
	}
	mode := uint32(0o644)
	if keep {
		mode = st.Mode & 0o7777
	}
	if n.Mode != nil {
		mode = uint32(*n.Mode)
	}
	uid, gid, err := a.owner(n, st, keep)
	if err != nil {
		return nil, err
	}
	if keep && len(n.Append) == 0 {
		if err := d.Chown(uid, gid); err != nil {
			return nil, err
		}
		return nil, d.Chmod(mode)
	}
	w, err := d.Create()
	if err != nil {
		return nil, err
	}
	if err := a.fill(ctx, n, w, keep); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Prepare(mode, uid, gid); err != nil {
		return nil, err
	}
	if kind == rootfs.Regular || kind == rootfs.Missing || kind == rootfs.Symlink {
		return &pending{n: n, finish: w.Finish, drop: w.Drop}, nil // the rename replaces it
	}
	return &pending{n: n, finish: func() error {
		if err := a.clearDir(d); err != nil {
			w.Drop()
			return err
		}
		return w.Finish()
	}, drop: w.Drop}, nil
}

// hardLink makes a hard link, once every file is in place.
func (a *Applier) hardLink(n Node) error {
	d, created, err := a.Root.ParentOf(n.Path, 0, 0)
	a.written(created...)
	if err != nil {
		return err
	}
	kind, st, err := d.Stat()
	if err != nil {
		return err
	}
	target := n.Target
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(n.Path), target)
	}
	t, err := a.Root.Locate(target)
	if err != nil {
		return fmt.Errorf("link target %s: %w", target, err)
	}
	defer t.Close()
	tk, tst, err := t.Stat()
	if err != nil || tk == rootfs.Missing {
		return fmt.Errorf("link target %s does not exist", target)
	}
	if kind != rootfs.Missing && st.Ino == tst.Ino && st.Dev == tst.Dev {
		return nil // already this link
	}
	if kind != rootfs.Missing {
		if !n.Overwrite {
			return errExists
		}
		if err := a.clearDir(d); err != nil {
			return err
		}
	}
	a.written(n.Path)
	return d.Link(t)
}

func (a *Applier) fill(ctx context.Context, n Node, w *rootfs.FileWriter, keep bool) error {
	if n.Contents != nil {
		o := resource.FromResource(*n.Contents)
		o.Rewind = w.Reset
		if err := a.Fetcher.Fetch(ctx, deref(n.Contents.Source), w, o); err != nil {
			return err
		}
	} else if keep {
		if err := w.CopyExisting(); err != nil {
			return err
		}
	}
	for _, part := range n.Append {
		if err := a.Fetcher.Fetch(ctx, deref(part.Source), w, resource.FromResource(part)); err != nil {
			return fmt.Errorf("appending: %w", err)
		}
	}
	return nil
}

func (a *Applier) directory(n Node, d *rootfs.Dir, kind rootfs.Kind, st *rootfs.Stat) error {
	mode := uint32(0o755)
	if n.Mode != nil {
		mode = uint32(*n.Mode)
	}
	if kind == rootfs.Directory {
		uid, gid, err := a.owner(n, st, true)
		if err != nil {
			return err
		}
		if err := d.Chown(uid, gid); err != nil {
			return err
		}
		return d.Chmod(mode)
	}
	if kind != rootfs.Missing {
		if !n.Overwrite {
			return errExists
		}
		if err := d.RemoveAll(); err != nil {
			return err
		}
	}
	uid, gid, err := a.owner(n, nil, false)
	if err != nil {
		return err
	}
	return d.Mkdir(mode, uid, gid)
}

// entry opens the directory holding p (creating missing parents) and says
// what is at p.
func (a *Applier) entry(p string) (*rootfs.Dir, rootfs.Kind, error) {
	d, created, err := a.Root.ParentOf(p, 0, 0)
	a.written(created...)
	if err != nil {
		return nil, rootfs.Missing, err
	}
	kind, _, err := d.Stat()
	return d, kind, err
}

// writeBytes puts small generated contents (units, keys, presets) in place.
func (a *Applier) writeBytes(p string, data []byte, mode uint32, uid, gid int) error {
	d, kind, err := a.entry(p)
	if err != nil {
		return err
	}
	if kind == rootfs.Directory {
		if err := d.RemoveAll(); err != nil {
			return err
		}
	}
	w, err := d.Create()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	a.Written = append(a.Written, p)
	return w.Commit(mode, uid, gid)
}

// run runs an external program with its argv logged (password hashes
// hidden); its stderr goes into the error.
func (a *Applier) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	shown := make([]string, len(args))
	copy(shown, args)
	for i := range shown {
		if i > 0 && (shown[i-1] == "--password" || shown[i-1] == "-p") {
			shown[i] = "<hidden>"
		}
	}
	done := a.Log.Op("running %s %s", name, strings.Join(shown, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	done(err)
	return stdout.Bytes(), err
}

// relabel restores SELinux labels on what was written when the target has
// SELinux; otherwise there is nothing to do.
func (a *Applier) relabel(ctx context.Context) error {
	cfg, err := a.Root.ReadFile("/etc/selinux/config")
	if err != nil {
		a.Log.Infof("the target has no SELinux configuration; no relabelling")
		return nil
	}
	mode, typ := "", ""
	sc := bufio.NewScanner(bytes.NewReader(cfg))
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch k {
		case "SELINUX":
			mode = strings.TrimSpace(v)
		case "SELINUXTYPE":
			typ = strings.TrimSpace(v)
		}
	}
	if mode == "disabled" || typ == "" {
		a.Log.Infof("SELinux is disabled in the target; no relabelling")
		return nil
	}
	var list bytes.Buffer
	for _, p := range a.Written {
		list.WriteString(a.Root.Host(p))
		list.WriteByte(0)
	}
	contexts := a.Root.Host(path.Join("/etc/selinux", typ, "contexts/files/file_contexts"))
	done := a.Log.Op("relabelling %d paths with setfiles", len(a.Written))
	cmd := exec.CommandContext(ctx, "setfiles", "-vF0", "-r", a.Root.Path, contexts, "-f", "-")
	cmd.Stdin = &list
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("setfiles: %w: %s", err, strings.TrimSpace(string(out)))
	}
	done(err)
	return err
}
