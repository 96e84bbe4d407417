package files

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/accounts"
	"github.com/ignition-go/ignition/internal/command"
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

// Options are what the stage works with besides the config.
type Options struct {
	Root    string
	Fetcher *resource.Fetcher
	Log     Logger
	// Runner runs shadow-utils, systemctl and setfiles.
	Runner command.Runner
	// KeysToAuthorizedKeys writes SSH keys to ~/.ssh/authorized_keys
	// instead of the ~/.ssh/authorized_keys.d/ignition fragment
	// (IGNITION_WRITE_AUTHORIZED_KEYS_FRAGMENT=false).
	KeysToAuthorizedKeys bool
	// Result, when set, is written as /etc/.ignition-result.json.
	Result *Result
	// Crypttab lists the LUKS volumes the disks stage made: each gets a
	// line in /etc/crypttab and, when it has one, its key file.
	Crypttab []CryptVolume
	// MountPoints are the directories the mount stage created (in-root
	// paths): those under a user's home are given to that user.
	MountPoints []string
	// FragmentUsers are the users only the platform fragment names (not
	// the user's or the distro's config): they get keys, or are made, only
	// as login accounts (see platformUsers).
	FragmentUsers []FragmentUser
	// Getent, when set, answers lookups for NSS sources that are not files
	// (default: the target's own getent, chrooted in it).
	Getent accounts.Getent
}

// FragmentUser is a user the platform's metadata names.
type FragmentUser struct {
	Name string `json:"name"`
	// Distro: the distro's own user (platform.conf ssh-keys-user) the
	// platform's keys go to, such as Flatcar's core (uid 500): its uid is
	// not held against UID_MIN.
	Distro bool `json:"distro,omitempty"`
}

// CryptVolume is one LUKS volume for /etc/crypttab.
type CryptVolume struct {
	Name    string
	UUID    string
	KeyFile []byte // nil: clevis unlocks it
	NetDev  bool
}

// Result is what /etc/.ignition-result.json records.
type Result struct {
	ProvisioningDate   string
	ProvisioningBootID string
	UserConfigProvided bool
}

// Applier carries out a plan in a target root, in two phases. Prepare
// changes nothing: it resolves every path as it will be after the commit,
// checks every precondition, fetches and verifies every file's contents
// into temp files, and syncs them. Commit then changes users and groups,
// creates directories, renames the files into place, makes links, writes
// units, SSH keys and the result file, and relabels.
type Applier struct {
	o    Options
	Root *rootfs.Root
	plan Plan
	view *view

	steps []*step
	// Written lists what was created or changed (canonical in-root
	// paths), for the SELinux relabel.
	Written []string

	ctx       context.Context // for the lookups through the target's getent
	db        *accounts.DB
	getent    accounts.Getent
	getentSet bool
	touched   map[string]bool // users ("u:name") and groups ("g:name") the config changes
	// accountFiles are the canonical paths of the files useradd and
	// groupadd change, when the config adds users or groups
	accountFiles map[string]bool
	// what the target's useradd reads for a new home
	homeBase, skel string
	mu             sync.Mutex
	dirs           map[string]*rootfs.Dir // directories the commit opened; closed by close
}

// action is what a step does to what is there.
type action int

const (
	create  action = iota // nothing there: make it
	keep                  // the same kind is there: update mode and owner (and append)
	replace               // something else is there: remove it (overwrite), then make it
	same                  // an identical link is there: owner only
)

// step is one node resolved against the view.
type step struct {
	n        Node
	canon    string // where it lands, every symlink above it resolved
	act      action
	existing diskEntry
	// files: the temp file holding the contents, in a directory that is on
	// disk now (stage)
	stage, tmp string
	// hard links: the canonical path of the target
	linkTo string
	uid    int
	gid    int
	mode   uint32
	// attrs: uid, gid and mode are known and set on the temp file already
	attrs bool
	// tail: what is appended to a kept account file, staged again after
	// useradd changed the file
	tail []byte
}

// kindAfter is what the step leaves at its path.
func (s *step) kindAfter() rootfs.Kind {
	switch s.n.Kind {
	case KindDirectory:
		return rootfs.Directory
	case KindSymlink:
		return rootfs.Symlink
	}
	return rootfs.Regular
}

// Apply runs the files stage.
func Apply(ctx context.Context, cfg config.Config, o Options) error {
	if o.Runner == nil {
		o.Runner = &command.Exec{Log: o.Log}
	}
	root, err := rootfs.Open(o.Root)
	if err != nil {
		return err
	}
	defer root.Close()
	a := &Applier{o: o, Root: root, plan: MakePlan(cfg), dirs: map[string]*rootfs.Dir{}, ctx: ctx}
	defer a.close()
	if err := a.Prepare(ctx); err != nil {
		a.dropTemps()
		return err
	}
	if err := ctx.Err(); err != nil {
		a.dropTemps()
		return err
	}
	// once the commit starts it runs to its end: useradd or a rename
	// stopped halfway would leave less than either state
	err = a.Commit(context.WithoutCancel(ctx))
	a.dropTemps()
	return err
}

func (a *Applier) close() {
	if a.view != nil {
		a.view.close()
	}
	for _, d := range a.dirs {
		d.Close()
	}
	a.dirs = map[string]*rootfs.Dir{}
}

// dir opens (once, for this applier) the directory at canonical path p,
// creating what is missing; created directories are recorded as written.
func (a *Applier) dir(p string) (*rootfs.Dir, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := a.dirs[p]; ok {
		return d, nil
	}
	// the path was resolved by the plan: nothing on it may be a symlink
	// now (a home directory useradd made from a skeleton could be)
	d, created, err := a.Root.MkdirAllNoSymlinks(p, 0, 0)
	a.Written = append(a.Written, created...)
	if err != nil {
		return nil, err
	}
	a.dirs[p] = d
	return d, nil
}

// existingDir opens (once) a directory that is on disk already.
func (a *Applier) existingDir(p string) (*rootfs.Dir, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := a.dirs[p]; ok {
		return d, nil
	}
	d, err := a.Root.OpenDirNoSymlinks(p)
	if err != nil {
		return nil, err
	}
	a.dirs[p] = d
	return d, nil
}

func (a *Applier) written(p ...string) {
	a.mu.Lock()
	a.Written = append(a.Written, p...)
	a.mu.Unlock()
}

func nodeErr(n Node, err error) error {
	return fmt.Errorf("%s %q: %w", n.Kind, n.Path, err)
}

// Prepare checks everything and stages every file's contents; it changes
// nothing in the root but temp files, which Commit renames or dropTemps
// removes.
func (a *Applier) Prepare(ctx context.Context) error {
	if a.ctx == nil {
		a.ctx = ctx
	}
	a.view = newView(a.Root)
	if err := a.loadIDs(); err != nil {
		return err
	}
	var errs []error
	if err := a.readUseraddDefaults(); err != nil {
		errs = append(errs, err)
	}
	a.platformUsers()
	errs = append(errs, a.checkAccountChanges()...)
	errs = append(errs, a.predictHomes()...)
	for _, n := range a.plan.Nodes {
		s, err := a.resolveNode(n)
		if err != nil {
			errs = append(errs, nodeErr(n, err))
			if len(errs) >= 20 {
				break
			}
			continue
		}
		a.steps = append(a.steps, s)
		a.view.add(s)
	}
	errs = append(errs, a.checkOwners()...)
	errs = append(errs, a.checkGenerated()...)
	errs = append(errs, a.checkKeys()...)
	a.findAccountFiles()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	a.view.close()
	if err := a.removeLeftovers(); err != nil {
		return err
	}
	return a.stageContents(ctx)
}

// resolveNode decides what a node does, from what the view holds at its path.
func (a *Applier) resolveNode(n Node) (*step, error) {
	canon, err := a.view.resolve(n.Path, false)
	if err != nil {
		return nil, err
	}
	if canon == "/" {
		return nil, errors.New("resolves to the root directory itself")
	}
	if prev, ok := a.view.planned[canon]; ok {
		if prev.n.Path == n.Path {
			return nil, fmt.Errorf("also listed as %s", prev.n.Kind)
		}
		return nil, fmt.Errorf("resolves to %q, which %s %q also writes", canon, prev.n.Kind, prev.n.Path)
	}
	st, err := a.view.state(canon)
	if err != nil {
		return nil, err
	}
	ps, err := a.view.state(path.Dir(canon))
	if err != nil {
		return nil, err
	}
	if ps.kind != rootfs.Directory && ps.kind != rootfs.Missing {
		return nil, fmt.Errorf("%s is %s, not a directory", path.Dir(canon), ps.kind)
	}
	s := &step{n: n, canon: canon, existing: st.disk}
	kind := st.disk.kind
	switch n.Kind {
	case KindDirectory:
		switch {
		case kind == rootfs.Missing:
			s.act = create
		case kind == rootfs.Directory:
			s.act = keep
		case n.Overwrite:
			s.act = replace
		default:
			return nil, fmt.Errorf("%s is there and overwrite is false", kind)
		}
	case KindFile:
		switch {
		case kind == rootfs.Missing:
			s.act = create
		case kind == rootfs.Regular && !n.Overwrite && n.Contents == nil:
			s.act = keep
		case n.Overwrite:
			s.act = replace
		case kind == rootfs.Regular && st.disk.predicted:
			return nil, fmt.Errorf("useradd puts a file there (from %s) and overwrite is false", st.disk.from)
		case kind == rootfs.Regular:
			return nil, errors.New("a file exists there already and overwrite is false")
		default:
			return nil, fmt.Errorf("%s is there and overwrite is false", kind)
		}
	case KindSymlink:
		if n.Target == "" {
			return nil, errors.New("a symlink needs a target")
		}
		switch {
		case kind == rootfs.Missing:
			s.act = create
		case kind == rootfs.Symlink && st.disk.target == n.Target:
			s.act = same
		case n.Overwrite:
			s.act = replace
		default:
			return nil, fmt.Errorf("%s is there and overwrite is false", kind)
		}
	case KindHardlink:
		target := n.Target
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(n.Path), target)
		}
		t, err := a.view.resolve(target, false)
		if err != nil {
			return nil, fmt.Errorf("link target %q: %w", n.Target, err)
		}
		ts, err := a.view.state(t)
		if err != nil {
			return nil, fmt.Errorf("link target %q: %w", n.Target, err)
		}
		if ts.kind == rootfs.Missing {
			return nil, fmt.Errorf("link target %q does not exist", n.Target)
		}
		if ts.kind == rootfs.Directory {
			return nil, fmt.Errorf("link target %q is a directory", n.Target)
		}
		s.linkTo = t
		_, plannedTarget := a.view.planned[t]
		switch {
		case kind == rootfs.Missing:
			s.act = create
		case !plannedTarget && !st.disk.predicted && !ts.disk.predicted && kind != rootfs.Directory && st.disk.st.Ino == ts.disk.st.Ino && st.disk.st.Dev == ts.disk.st.Dev:
			s.act = same
		case n.Overwrite:
			s.act = replace
		default:
			return nil, fmt.Errorf("%s is there and overwrite is false", kind)
		}
	default:
		return nil, fmt.Errorf("unknown node kind %q", n.Kind)
	}
	if s.kindAfter() != rootfs.Directory {
		if below, ok := a.view.under[canon]; ok {
			return nil, fmt.Errorf("would replace the directory that %q is written in", below)
		}
	}
	if s.act == replace && kind == rootfs.Directory && !st.disk.predicted {
		// a directory replaced with overwrite is removed: never one that
		// is, or holds, a mount point
		d, err := a.Root.OpenDirNoSymlinks(path.Dir(canon))
		if err != nil {
			return nil, err
		}
		err = d.CheckRemovable(path.Base(canon))
		d.Close()
		if err != nil {
			return nil, err
		}
	}
	if n.Kind == KindFile && (s.act != keep || len(n.Append) > 0) {
		if s.stage, err = a.view.stagingDir(canon); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkOwners makes sure every owner named by a node will exist: in the
// target, as its NSS resolves names, or created by the config.
func (a *Applier) checkOwners() []error {
	users := map[string]bool{} // what the config decides
	groups := map[string]bool{}
	for _, g := range a.plan.Groups {
		groups[g.Name] = g.ShouldExist == nil || *g.ShouldExist
	}
	for _, u := range a.plan.Users {
		exists := u.ShouldExist == nil || *u.ShouldExist
		users[u.Name] = exists
		if _, decided := groups[u.Name]; exists && !isTrue(u.NoUserGroup) && !decided {
			groups[u.Name] = true
		}
	}
	var errs []error
	for _, s := range a.steps {
		if u := s.n.User.Name; s.n.User.ID == nil && u != nil && *u != "" {
			if ok, decided := users[*u]; (decided && !ok) || (!decided && !a.userExists(*u)) {
				errs = append(errs, nodeErr(s.n, a.noUser(*u)))
			}
		}
		if g := s.n.Group.Name; s.n.Group.ID == nil && g != nil && *g != "" {
			if ok, decided := groups[*g]; (decided && !ok) || (!decided && !a.groupExists(*g)) {
				errs = append(errs, nodeErr(s.n, a.noGroup(*g)))
			}
		}
	}
	return errs
}

func (a *Applier) noUser(name string) error {
	return fmt.Errorf("user %q is not in the target (its NSS passwd sources: %s)", name, strings.Join(a.db.Sources("passwd"), " "))
}

func (a *Applier) noGroup(name string) error {
	return fmt.Errorf("group %q is not in the target (its NSS group sources: %s)", name, strings.Join(a.db.Sources("group"), " "))
}

// checkGenerated resolves the paths the commit writes besides the nodes
// (units and drop-ins, the preset file, the result file, crypttab and LUKS
// key files): a config or image that makes them unreachable, or puts a
// directory where a file must go, fails here, before anything is written.
func (a *Applier) checkGenerated() []error {
	var files, dirs []string
	for _, u := range a.plan.Units {
		if u.Contents != nil || u.Mask != nil {
			files = append(files, path.Join(unitDir, u.Name))
		}
		for _, d := range u.Dropins {
			if d.Contents != nil {
				dirs = append(dirs, path.Join(unitDir, u.Name+".d"))
				files = append(files, path.Join(unitDir, u.Name+".d", d.Name))
			}
		}
	}
	if len(a.plan.Presets) > 0 {
		files = append(files, presetFile)
	}
	if a.o.Result != nil {
		files = append(files, resultFile)
	}
	if len(a.o.Crypttab) > 0 {
		files = append(files, crypttabFile)
		for _, v := range a.o.Crypttab {
			if v.KeyFile != nil {
				dirs = append(dirs, luksKeyDir)
				files = append(files, path.Join(luksKeyDir, v.Name))
			}
		}
	}
	var errs []error
	// read before they are written again: a FIFO there would block
	var read []string
	if a.o.Result != nil {
		read = append(read, resultFile)
	}
	if len(a.o.Crypttab) > 0 {
		read = append(read, crypttabFile)
	}
	for _, p := range read {
		if _, err := accounts.ReadConfig(a.Root, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, p := range dirs {
		if err := a.checkDirAt(p); err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", p, err))
		}
	}
	for _, p := range files {
		if err := a.checkFileAt(p); err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", p, err))
		}
	}
	return errs
}

// checkFileAt says whether the commit can write a file at p as the view
// will be: every directory above it one (or missing, to be made), and no
// directory at p itself.
func (a *Applier) checkFileAt(p string) error {
	canon, err := a.view.resolve(p, false)
	if err != nil {
		return err
	}
	ps, err := a.view.state(path.Dir(canon))
	if err != nil {
		return err
	}
	if ps.kind != rootfs.Directory && ps.kind != rootfs.Missing {
		return fmt.Errorf("%s is %s, not a directory", path.Dir(canon), ps.kind)
	}
	s, err := a.view.state(canon)
	if err != nil {
		return err
	}
	if s.kind == rootfs.Directory {
		return fmt.Errorf("%s is a directory, where a file goes", canon)
	}
	return nil
}

// checkDirAt says whether p is, or can be made, a directory.
func (a *Applier) checkDirAt(p string) error {
	canon, err := a.view.resolve(p, true)
	if err != nil {
		return err
	}
	s, err := a.view.state(canon)
	if err != nil {
		return err
	}
	if s.kind != rootfs.Directory && s.kind != rootfs.Missing {
		return fmt.Errorf("%s is %s, where a directory goes", canon, s.kind)
	}
	return nil
}

// removeLeftovers deletes the temp files a killed run left in the
// directories this run stages in.
func (a *Applier) removeLeftovers() error {
	seen := map[string]bool{}
	total := 0
	for _, s := range a.steps {
		for d := s.stage; d != "" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			dir, err := a.existingDir(d)
			if err != nil {
				break
			}
			n, err := dir.RemoveLeftovers()
			if err != nil {
				return fmt.Errorf("%s: removing leftover temp files: %w", d, err)
			}
			total += n
			if d == "/" {
				break
			}
		}
	}
	if total > 0 {
		a.o.Log.Warnf("removed %d temp file(s) an interrupted run left behind", total)
	}
	return nil
}

// stageContents fetches and verifies every file's contents into a temp
// file, several at a time; the first failure stops the rest. Then one
// filesystem sync makes them durable.
func (a *Applier) stageContents(ctx context.Context) error {
	var jobs []*step
	for _, s := range a.steps {
		if s.stage != "" {
			jobs = append(jobs, s)
			if a.stableOwner(s.n) && !s.existing.predicted && a.attrsOf(s) == nil {
				s.attrs = true
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(jobs))
	parallel(ctx, len(jobs), func(i int) {
		s := jobs[i]
		done := a.o.Log.Op("fetching %s %q", s.n.Kind, s.n.Path)
		err := a.stageFile(ctx, s)
		done(err)
		if err != nil {
			errs[i] = nodeErr(s.n, err)
			cancel()
		}
	})
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
		return err
	}
	done := a.o.Log.Op("syncing %d staged file(s)", len(jobs))
	err := a.Root.Sync()
	done(err)
	return err
}

func (a *Applier) stageFile(ctx context.Context, s *step) error {
	d, err := a.existingDir(s.stage)
	if err != nil {
		return err
	}
	w, err := d.CreateTemp()
	if err != nil {
		return err
	}
	a.mu.Lock()
	s.tmp = w.Name
	a.mu.Unlock()
	if err := a.fill(ctx, s, w); err != nil {
		w.Close()
		return err
	}
	if s.attrs {
		if err := w.SetAttrs(s.mode, s.uid, s.gid); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

func (a *Applier) fill(ctx context.Context, s *step, w *rootfs.FileWriter) error {
	n := s.n
	if n.Contents != nil {
		o := resource.FromResource(*n.Contents)
		o.Rewind = w.Reset
		if err := a.o.Fetcher.Fetch(ctx, deref(n.Contents.Source), w, o); err != nil {
			return err
		}
	} else if s.act == keep {
		from := s.canon
		if s.existing.predicted {
			from = s.existing.from // what useradd copies there
		}
		d, err := a.existingDir(path.Dir(from))
		if err != nil {
			return err
		}
		if err := w.CopyFrom(d, path.Base(from)); err != nil {
			return err
		}
		if a.accountFiles[s.canon] {
			// kept apart too: staged again after useradd and groupadd
			// changed the file
			var tail bytes.Buffer
			for _, part := range n.Append {
				if err := a.o.Fetcher.Fetch(ctx, deref(part.Source), &tail, resource.FromResource(part)); err != nil {
					return fmt.Errorf("appending: %w", err)
				}
			}
			s.tail = tail.Bytes()
			_, err := w.Write(s.tail)
			return err
		}
	}
	for _, part := range n.Append {
		o := resource.FromResource(part)
		if err := a.o.Fetcher.Fetch(ctx, deref(part.Source), w, o); err != nil {
			return fmt.Errorf("appending: %w", err)
		}
	}
	return nil
}

// dropTemps removes the temp files not renamed into place.
func (a *Applier) dropTemps() {
	n := 0
	for _, s := range a.steps {
		if s.tmp == "" {
			continue
		}
		if d, err := a.existingDir(s.stage); err == nil && d.Unlink(s.tmp) == nil {
			n++
		}
		s.tmp = ""
	}
	if n > 0 {
		a.o.Log.Infof("removed %d staged file(s)", n)
	}
}

// parallel runs f(0..n-1) on a few goroutines (the work is system calls
// and fetches, which overlap well), stopping early when ctx ends.
func parallel(ctx context.Context, n int, f func(i int)) {
	workers := min(n, 8)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
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

// Commit makes the changes: users and groups, then nodes in the order of
// their resolved depth (directories before what is in them, hard links
// last), units, SSH keys, the result file, and the relabel. What it has
// done stays done if a later part fails (see docs/files.md).
func (a *Applier) Commit(ctx context.Context) error {
	if err := a.passwd(ctx, a.plan); err != nil {
		return err
	}
	if err := a.loadIDs(); err != nil {
		return err
	}
	if err := a.afterUseradd(); err != nil {
		return err
	}
	if err := a.homeMountPoints(a.plan); err != nil {
		return err
	}
	if err := a.owners(); err != nil {
		return err
	}
	if err := a.finishTemps(); err != nil {
		return err
	}
	if err := a.nodes(); err != nil {
		return err
	}
	if err := a.sshKeys(a.plan); err != nil {
		return err
	}
	if err := a.units(ctx, a.plan); err != nil {
		return err
	}
	if err := a.crypttab(); err != nil {
		return err
	}
	if err := a.writeResult(); err != nil {
		return err
	}
	return a.relabel(ctx)
}

// owners resolves each node's owner and mode, now that users exist.
func (a *Applier) owners() error {
	for _, s := range a.steps {
		if s.attrs {
			continue
		}
		if err := a.attrsOf(s); err != nil {
			return err
		}
	}
	return nil
}

// attrsOf works out a node's owner (by id, or by name in the target's
// passwd and group files; a kept entry keeps its own) and mode.
func (a *Applier) attrsOf(s *step) error {
	kept := s.act == keep || s.act == same
	uid, gid := 0, 0
	if kept {
		uid, gid = int(s.existing.st.Uid), int(s.existing.st.Gid)
	}
	n := s.n
	switch {
	case n.User.ID != nil:
		uid = *n.User.ID
	case n.User.Name != nil && *n.User.Name != "":
		u, ok := a.db.User(*n.User.Name)
		if !ok {
			return nodeErr(n, a.noUser(*n.User.Name))
		}
		uid = u.UID
	}
	switch {
	case n.Group.ID != nil:
		gid = *n.Group.ID
	case n.Group.Name != nil && *n.Group.Name != "":
		g, ok := a.db.Group(*n.Group.Name)
		if !ok {
			return nodeErr(n, a.noGroup(*n.Group.Name))
		}
		gid = g.GID
	}
	s.uid, s.gid = uid, gid
	switch {
	case n.Mode != nil:
		s.mode = uint32(*n.Mode)
	case n.Kind == KindDirectory:
		s.mode = 0o755
	case s.act == keep:
		s.mode = s.existing.st.Mode & 0o7777
	default:
		s.mode = 0o644
	}
	return nil
}

// stableOwner says whether a node's owner is known before the commit: by
// id, or by a name the config's users and groups do not touch.
func (a *Applier) stableOwner(n Node) bool {
	if a.touched == nil {
		a.touched = map[string]bool{}
		for _, u := range a.plan.Users {
			a.touched["u:"+u.Name] = true
			a.touched["g:"+u.Name] = true
		}
		for _, g := range a.plan.Groups {
			a.touched["g:"+g.Name] = true
		}
	}
	if n.User.ID == nil && n.User.Name != nil && *n.User.Name != "" && a.touched["u:"+*n.User.Name] {
		return false
	}
	if n.Group.ID == nil && n.Group.Name != nil && *n.Group.Name != "" && a.touched["g:"+*n.Group.Name] {
		return false
	}
	return true
}

// finishTemps gives the staged files their owner and mode (the mode
// last: a chown clears setuid bits), then syncs.
func (a *Applier) finishTemps() error {
	staged := false
	for _, s := range a.steps {
		if s.tmp == "" || s.attrs {
			continue
		}
		staged = true
		d, err := a.existingDir(s.stage)
		if err == nil {
			err = d.Chown(s.tmp, s.uid, s.gid)
		}
		if err == nil {
			err = d.Chmod(s.tmp, s.mode)
		}
		if err != nil {
			return nodeErr(s.n, err)
		}
	}
	if !staged {
		return nil
	}
	return a.Root.Sync()
}

// nodes puts every node in place.
func (a *Applier) nodes() error {
	order := make([]*step, len(a.steps))
	copy(order, a.steps)
	sort.SliceStable(order, func(i, j int) bool {
		hi, hj := order[i].n.Kind == KindHardlink, order[j].n.Kind == KindHardlink
		if hi != hj {
			return hj
		}
		return depth(order[i].canon) < depth(order[j].canon)
	})
	if len(order) == 0 {
		return nil
	}
	done := a.o.Log.Op("putting %d file(s), director(y/ies) and link(s) in place", len(order))
	var err error
	for _, s := range order {
		if err = a.commitNode(s); err != nil {
			err = nodeErr(s.n, err)
			break
		}
	}
	if err == nil {
		err = a.Root.Sync()
	}
	done(err)
	return err
}

func (a *Applier) commitNode(s *step) error {
	dir, base := path.Split(s.canon)
	d, err := a.dir(path.Clean(dir))
	if err != nil {
		return err
	}
	// what is there is what the plan found, unless the node is a
	// directory (a deeper node's parent may have been made for it)
	kind, _, err := d.Lstat(base)
	if err != nil {
		return err
	}
	if kind != s.existing.kind && !(s.n.Kind == KindDirectory && s.existing.kind == rootfs.Missing && kind == rootfs.Directory) {
		// something (useradd's skeleton, say) put another thing there
		// since the plan
		return fmt.Errorf("the plan found %s there, now there is %s: %w", s.existing.kind, kind, rootfs.ErrChanged)
	}
	clear := func() error {
		if kind == rootfs.Directory || kind == rootfs.Other {
			return d.RemoveAll(base)
		}
		return nil
	}
	a.written(s.canon)
	switch s.n.Kind {
	case KindDirectory:
		if kind == rootfs.Directory {
			if err := d.Chown(base, s.uid, s.gid); err != nil {
				return err
			}
			return d.Chmod(base, s.mode)
		}
		if kind != rootfs.Missing {
			if err := d.RemoveAll(base); err != nil {
				return err
			}
		}
		return d.Mkdir(base, s.mode, s.uid, s.gid)
	case KindFile:
		if s.tmp == "" { // kept as it is
			if err := d.Chown(base, s.uid, s.gid); err != nil {
				return err
			}
			return d.Chmod(base, s.mode)
		}
		if err := clear(); err != nil {
			return err
		}
		sd, err := a.existingDir(s.stage)
		if err != nil {
			return err
		}
		if err := sd.Rename(s.tmp, d, base); err != nil {
			return err
		}
		s.tmp = ""
		return nil
	case KindSymlink:
		if s.act == same && kind == rootfs.Symlink {
			return d.Chown(base, s.uid, s.gid)
		}
		if err := clear(); err != nil {
			return err
		}
		return d.Symlink(base, s.n.Target, s.uid, s.gid)
	case KindHardlink:
		tdir, tbase := path.Split(s.linkTo)
		td, err := a.existingDir(path.Clean(tdir))
		if err != nil {
			return fmt.Errorf("link target %q: %w", s.n.Target, err)
		}
		if s.act == same {
			return nil
		}
		if err := clear(); err != nil {
			return err
		}
		return d.Link(base, td, tbase)
	}
	return fmt.Errorf("unknown node kind %q", s.n.Kind)
}

// entry opens (creating missing parents, 0755 root-owned, in-root
// resolution) the directory holding p and says what is at p; the caller
// closes the Dir.
func (a *Applier) entry(p string) (d *rootfs.Dir, base string, kind rootfs.Kind, err error) {
	dir, base := path.Split(rootfs.Clean(p))
	d, created, err := a.Root.MkdirAll(dir, 0, 0)
	a.written(created...)
	if err != nil {
		return nil, "", rootfs.Missing, err
	}
	if kind, _, err = d.Lstat(base); err != nil {
		d.Close()
		return nil, "", rootfs.Missing, err
	}
	return d, base, kind, nil
}

// writeBytes puts small generated contents (units, keys, presets) in place.
func (a *Applier) writeBytes(p string, data []byte, mode uint32, uid, gid int) error {
	p = rootfs.Clean(p)
	d, base, kind, err := a.entry(p)
	if err != nil {
		return err
	}
	defer d.Close()
	if kind == rootfs.Directory {
		// the plan refuses this; something made it since
		return fmt.Errorf("%s is a directory: %w", p, rootfs.ErrChanged)
	}
	a.written(p)
	return d.WriteFile(base, data, mode, uid, gid)
}

const (
	resultFile   = "/etc/.ignition-result.json"
	crypttabFile = "/etc/crypttab"
	luksKeyDir   = "/etc/luks"
)

// crypttab writes each LUKS volume's key file (0600 in a 0700 directory)
// and its line of /etc/crypttab (0600), replacing a line for the same
// name, so a rerun leaves one line per volume:
// "<name> UUID=<uuid> <key file or none> luks[,_netdev],x-initrd.attach".
func (a *Applier) crypttab() error {
	if len(a.o.Crypttab) == 0 {
		return nil
	}
	done := a.o.Log.Op("writing %s and %d LUKS key file(s)", crypttabFile, len(a.o.Crypttab))
	err := func() error {
		var lines []string
		for _, v := range a.o.Crypttab {
			key := "none"
			if v.KeyFile != nil {
				if err := a.ensureDir(luksKeyDir, 0o700, 0, 0); err != nil {
					return err
				}
				key = path.Join(luksKeyDir, v.Name)
				if err := a.writeBytes(key, v.KeyFile, 0o600, 0, 0); err != nil {
					return err
				}
			}
			opts := "luks"
			if v.NetDev {
				opts += ",_netdev"
			}
			lines = append(lines, fmt.Sprintf("%s UUID=%s %s %s,x-initrd.attach", v.Name, v.UUID, key, opts))
		}
		old, err := accounts.ReadConfig(a.Root, crypttabFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return a.writeBytes(crypttabFile, []byte(crypttabWith(string(old), a.o.Crypttab, lines)), 0o600, 0, 0)
	}()
	done(err)
	return err
}

// crypttabWith is old with the lines of vols' names replaced by lines.
func crypttabWith(old string, vols []CryptVolume, lines []string) string {
	names := map[string]bool{}
	for _, v := range vols {
		names[v.Name] = true
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(old, "\n"), "\n") {
		if f := strings.Fields(l); len(f) > 0 && names[f[0]] {
			continue
		}
		if l != "" || len(out) > 0 {
			out = append(out, l)
		}
	}
	return strings.Join(append(out, lines...), "\n") + "\n"
}

// writeResult writes /etc/.ignition-result.json (0600), keeping an earlier
// run's report under previousReport as Ignition does.
func (a *Applier) writeResult() error {
	r := a.o.Result
	if r == nil {
		return nil
	}
	result := map[string]any{
		"provisioningDate":   r.ProvisioningDate,
		"userConfigProvided": r.UserConfigProvided,
	}
	if r.ProvisioningBootID != "" {
		result["provisioningBootID"] = r.ProvisioningBootID
	}
	if prev, err := accounts.ReadConfig(a.Root, resultFile); err == nil {
		var p map[string]any
		if json.Unmarshal(prev, &p) == nil {
			a.o.Log.Warnf("Ignition has already run on this system (%s exists)", resultFile)
			result["previousReport"] = p
		}
	}
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	done := a.o.Log.Op("writing %s", resultFile)
	err = a.writeBytes(resultFile, b, 0o600, 0, 0)
	done(err)
	return err
}
