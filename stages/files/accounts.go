package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/accounts"
	"github.com/ignition-go/ignition/internal/rootfs"
)

// What useradd reads for a new user's home (/etc/default/useradd).
const (
	useraddDefaults = "/etc/default/useradd"
	defaultHomeBase = "/home"
	defaultSkel     = "/etc/skel"
)

// accountFiles are the files useradd and groupadd change in place.
var accountFiles = []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid", "/etc/subgid"}

// platformUsers drops from the plan the users only the platform's
// metadata names that are not login accounts of the target: metadata
// (GCE project keys, settable by any project member) never reaches a
// system account, root's home, or a directory of another account. What is
// skipped is a warning, never a failure.
func (a *Applier) platformUsers() {
	if len(a.o.FragmentUsers) == 0 {
		return
	}
	frag := map[string]FragmentUser{}
	for _, f := range a.o.FragmentUsers {
		frag[f.Name] = f
	}
	var keep []config.PasswdUser
	for _, u := range a.plan.Users {
		f, ok := frag[u.Name]
		if !ok {
			keep = append(keep, u)
			continue
		}
		if why := a.notForPlatform(u.Name, f); why != "" {
			a.o.Log.Warnf("platform metadata: user %q skipped, no SSH keys written for it: %s", u.Name, why)
			continue
		}
		keep = append(keep, u)
	}
	a.plan.Users = keep
}

// notForPlatform says why a user the metadata names may not get its keys
// ("" when it may): an account of the target that is not a login account,
// or whose home or ~/.ssh another account owns.
func (a *Applier) notForPlatform(name string, f FragmentUser) string {
	acc, ok := a.db.User(name)
	if !ok {
		// a new login account, made by useradd, unless a group has its
		// name (useradd fails on one in /etc/group, and makes a second
		// one hiding a group kept elsewhere: a metadata user in "sudo"),
		// or its home is there already: useradd would not make that the
		// user's
		if g, ok := a.db.Group(name); ok {
			return fmt.Sprintf("not in the target, but a group %q is, in %s", name, accounts.Where(g.Source, g.SourceFile))
		}
		if a.configGroup(name) {
			return fmt.Sprintf("not in the target, but the config makes a group %q", name)
		}
		base, _ := a.useraddDefaults()
		home := path.Join(base, name)
		if link := a.danglingLink(home); link != "" {
			return fmt.Sprintf("not in the target, and useradd cannot make its home directory %s (%s is a symlink to nothing)", home, link)
		}
		canon, err := a.view.resolve(home, true)
		if err != nil {
			return fmt.Sprintf("%s: %v", home, err)
		}
		if st, err := a.view.state(canon); err != nil || st.disk.kind != rootfs.Missing {
			return fmt.Sprintf("not in the target, but its home directory %s is there already (%s, uid %d)", home, st.disk.kind, st.disk.st.Uid)
		}
		return ""
	}
	if why := a.db.NotLogin(acc, !f.Distro); why != "" {
		return fmt.Sprintf("%s in the target: %s", acc, why)
	}
	if why := a.homeOfAnother(acc); why != "" {
		return fmt.Sprintf("%s in the target: %s", acc, why)
	}
	dirs, _ := a.keyPaths(acc.Home)
	if link := a.keyDirLink(dirs); link != "" {
		return fmt.Sprintf("%s in the target: %s is a symlink", acc, link)
	}
	for _, p := range append([]string{acc.Home}, dirs...) {
		canon, err := a.view.resolve(p, true)
		if err != nil {
			return fmt.Sprintf("%s: %v", p, err)
		}
		st, err := a.view.state(canon)
		if err != nil {
			return fmt.Sprintf("%s: %v", p, err)
		}
		if st.disk.kind == rootfs.Missing {
			continue
		}
		if st.disk.kind != rootfs.Directory {
			return fmt.Sprintf("%s is %s", p, st.disk.kind)
		}
		if uid := int(st.disk.st.Uid); uid != acc.UID && (p != acc.Home || uid != 0) {
			return fmt.Sprintf("%s is owned by uid %d, not by %s", p, uid, acc)
		}
	}
	return ""
}

// homeOfAnother says why acc's home is not its own as the target resolves
// paths ("" when it is): it resolves to the root directory, or to where
// another account's home resolves (a link to /root, say).
func (a *Applier) homeOfAnother(acc accounts.User) string {
	home, err := a.view.resolve(acc.Home, true)
	if err != nil {
		return fmt.Sprintf("its home directory %s: %v", acc.Home, err)
	}
	if home == "/" {
		return fmt.Sprintf("its home directory %s resolves to /", acc.Home)
	}
	for _, o := range a.db.Users() {
		if o.Name == acc.Name || o.Home == "" {
			continue
		}
		if h, err := a.view.resolve(o.Home, true); err == nil && h == home {
			return fmt.Sprintf("its home directory %s resolves to %s, %s's home directory", acc.Home, home, o.Name)
		}
	}
	return ""
}

// keyDirLink names the first of a user's key directories that is a
// symlink (in the view: the image's, the skeleton's or the config's); the
// key writer makes those directories and does not write through a link
// (to another account's ~/.ssh, say). A path that does not resolve is
// left to the checks that follow (checkDirAt), which name the problem.
func (a *Applier) keyDirLink(dirs []string) string {
	for _, d := range dirs {
		canon, err := a.view.resolve(d, false)
		if err != nil {
			return ""
		}
		if st, err := a.view.state(canon); err == nil && st.kind == rootfs.Symlink {
			return d
		}
	}
	return ""
}

// newHome is where useradd makes a new user's home, or "" when it makes
// none (the user exists, is deleted, or has noCreateHome).
func (a *Applier) newHome(u config.PasswdUser, base string) string {
	if deleting(u.ShouldExist) || isTrue(u.NoCreateHome) || a.userExists(u.Name) {
		return ""
	}
	if u.HomeDir != nil && *u.HomeDir != "" {
		return *u.HomeDir
	}
	return path.Join(base, u.Name)
}

// readUseraddDefaults reads HOME and SKEL of the target's
// /etc/default/useradd (defaults /home and /etc/skel).
func (a *Applier) readUseraddDefaults() error {
	a.homeBase, a.skel = defaultHomeBase, defaultSkel
	b, err := accounts.ReadConfig(a.Root, useraddDefaults)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if !ok || !strings.HasPrefix(v, "/") {
			continue
		}
		switch k {
		case "HOME":
			a.homeBase = v
		case "SKEL":
			a.skel = v
		}
	}
	return nil
}

// useraddDefaults are HOME and SKEL of the target's /etc/default/useradd.
func (a *Applier) useraddDefaults() (home, skel string) {
	if a.homeBase == "" {
		a.readUseraddDefaults()
	}
	return a.homeBase, a.skel
}

// predictHomes puts in the view what useradd --create-home makes before
// the nodes are committed: each new user's home (and missing directories
// above it) and a copy of the skeleton in it, so that the plan sees the
// .bashrc a config overwrites or appends to. A home that is there already
// gets no skeleton (useradd leaves it as it is).
func (a *Applier) predictHomes() []error {
	base, skel := a.useraddDefaults()
	var errs []error
	for _, u := range a.plan.Users {
		home := a.newHome(u, base)
		if home == "" {
			continue
		}
		if err := a.predictHome(home, skel); err != nil {
			errs = append(errs, fmt.Errorf("user %q: home directory %s: %w", u.Name, home, err))
		}
	}
	return errs
}

func (a *Applier) predictHome(home, skel string) error {
	canon, err := a.view.resolve(home, true)
	if err != nil {
		return err
	}
	st, err := a.view.state(canon)
	if err != nil {
		return err
	}
	if st.kind != rootfs.Missing {
		return nil
	}
	if link := a.danglingLink(home); link != "" {
		// useradd makes each missing directory of the path with mkdir,
		// which fails on the link: the user is made, its home is not
		return fmt.Errorf("%s is a symlink to nothing: useradd cannot make the home directory through it", link)
	}
	dir := diskEntry{kind: rootfs.Directory, predicted: true}
	var missing []string
	for d := canon; d != "/"; d = path.Dir(d) {
		s, err := a.view.state(d)
		if err != nil {
			return err
		}
		if s.kind != rootfs.Missing {
			break
		}
		missing = append(missing, d)
	}
	for _, d := range missing {
		a.view.predicted[d] = dir
	}
	skelCanon, err := a.view.resolve(skel, true)
	if err != nil {
		return nil // no skeleton to copy
	}
	host, err := a.Root.ResolvedHostPath(skelCanon)
	if err != nil {
		return nil
	}
	return a.predictSkel(host, skelCanon, canon, func(target string) string {
		// useradd points a link into the skeleton at the same place in
		// the new home: a target starting with SKEL (as it is written,
		// compared byte for byte) gets the home in its place
		if strings.HasPrefix(target, skel) {
			return home + target[len(skel):]
		}
		return target
	})
}

// danglingLink names the first directory on p (as written) that is a
// symlink whose target is not there, in the view; "" when none is.
func (a *Applier) danglingLink(p string) string {
	cur := ""
	for _, c := range strings.Split(path.Clean("/"+p), "/")[1:] {
		cur += "/" + c
		canon, err := a.view.resolve(cur, false)
		if err != nil {
			return ""
		}
		if st, err := a.view.state(canon); err != nil || st.kind != rootfs.Symlink {
			continue
		}
		target, err := a.view.resolve(cur, true)
		if err != nil {
			return cur
		}
		if st, err := a.view.state(target); err == nil && st.kind == rootfs.Missing {
			return cur
		}
	}
	return ""
}

// predictSkel records the skeleton under host (the in-root directory
// from) as useradd copies it to the canonical directory to, each link's
// target as relink makes it.
func (a *Applier) predictSkel(host, from, to string, relink func(string) string) error {
	entries, err := os.ReadDir(host)
	if err != nil {
		return err
	}
	for _, e := range entries {
		hp := filepath.Join(host, e.Name())
		var st unix.Stat_t
		if err := unix.Lstat(hp, &st); err != nil {
			return err
		}
		de := diskEntry{kind: rootfs.KindOf(st.Mode), st: st, predicted: true, from: path.Join(from, e.Name())}
		de.st.Uid, de.st.Gid = 0, 0 // the user's, once it exists
		switch de.kind {
		case rootfs.Symlink:
			if de.target, err = os.Readlink(hp); err != nil {
				return err
			}
			de.target = relink(de.target)
		}
		// special files too: useradd copies a FIFO or a device node (mknod)
		p := path.Join(to, e.Name())
		a.view.predicted[p] = de
		if de.kind == rootfs.Directory {
			if err := a.predictSkel(hp, de.from, p, relink); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKeys resolves where each user's SSH keys go as the view will be: a
// directory where the key file goes, or a file where a key directory goes,
// fails the plan.
func (a *Applier) checkKeys() []error {
	base, _ := a.useraddDefaults()
	var errs []error
	for _, u := range a.plan.Users {
		if len(u.SSHAuthorizedKeys) == 0 || deleting(u.ShouldExist) {
			continue
		}
		home := ""
		acc, exists := a.db.User(u.Name)
		switch {
		case u.HomeDir != nil && *u.HomeDir != "":
			home = *u.HomeDir // useradd --home-dir, or usermod --move-home
		case exists:
			home = acc.Home
		default:
			home = path.Join(base, u.Name)
		}
		if home == "" || path.Clean(home) == "/" {
			errs = append(errs, fmt.Errorf("user %q: SSH keys: no home directory", u.Name))
			continue
		}
		dirs, file := a.keyPaths(home)
		if link := a.keyDirLink(dirs); link != "" {
			errs = append(errs, fmt.Errorf("user %q: SSH keys: %q: a symlink: keys are not written through it", u.Name, link))
			continue
		}
		for _, d := range dirs {
			if err := a.checkDirAt(d); err != nil {
				errs = append(errs, fmt.Errorf("user %q: SSH keys: %q: %w", u.Name, d, err))
			}
		}
		if err := a.checkFileAt(file); err != nil {
			errs = append(errs, fmt.Errorf("user %q: SSH keys: %q: %w", u.Name, file, err))
		}
	}
	return errs
}

// findAccountFiles notes the canonical paths of the files useradd and
// groupadd change, when the config adds or changes users or groups: a
// config's append to one of them is staged again after them.
func (a *Applier) findAccountFiles() {
	a.accountFiles = map[string]bool{}
	if len(a.plan.Users) == 0 && len(a.plan.Groups) == 0 {
		return
	}
	for _, p := range accountFiles {
		if canon, err := a.view.resolve(p, true); err == nil {
			a.accountFiles[canon] = true
		}
	}
}

// afterUseradd brings the prepared steps up to what useradd and groupadd
// did: what the plan predicted in a new home is read from disk (and must
// be what was predicted), and appends to the account files are staged
// again on the files as they are now, so no line useradd added is lost.
func (a *Applier) afterUseradd() error {
	restaged := false
	for _, s := range a.steps {
		if s.existing.predicted {
			if err := a.refreshPredicted(s); err != nil {
				return nodeErr(s.n, err)
			}
		}
		if s.tmp != "" && s.act == keep && a.accountFiles[s.canon] {
			if err := a.restage(s); err != nil {
				return nodeErr(s.n, err)
			}
			restaged = true
		}
	}
	if restaged {
		return a.Root.Sync()
	}
	return nil
}

func (a *Applier) refreshPredicted(s *step) error {
	d, err := a.Root.OpenDirNoSymlinks(path.Dir(s.canon))
	if err != nil {
		if errors.Is(err, unix.ENOENT) && s.existing.kind == rootfs.Missing {
			return nil
		}
		return fmt.Errorf("useradd did not make %s as planned: %w (%w)", path.Dir(s.canon), err, rootfs.ErrChanged)
	}
	defer d.Close()
	kind, st, err := d.Lstat(path.Base(s.canon))
	if err != nil {
		return err
	}
	if kind != s.existing.kind {
		return fmt.Errorf("the plan expected useradd to leave %s there, it left %s: %w", s.existing.kind, kind, rootfs.ErrChanged)
	}
	from := s.existing.from
	s.existing = diskEntry{kind: kind, st: st, target: s.existing.target, from: from}
	if s.attrs {
		return nil
	}
	return a.attrsOf(s)
}

// restage writes a kept account file's temp file again: the file as
// useradd and groupadd left it, then what the config appends.
func (a *Applier) restage(s *step) error {
	sd, err := a.existingDir(s.stage)
	if err != nil {
		return err
	}
	d, err := a.existingDir(path.Dir(s.canon))
	if err != nil {
		return err
	}
	w, err := sd.CreateTemp()
	if err != nil {
		return err
	}
	err = w.CopyFrom(d, path.Base(s.canon))
	if err == nil {
		_, err = w.Write(s.tail)
	}
	if err == nil && s.attrs {
		err = w.SetAttrs(s.mode, s.uid, s.gid)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		sd.Unlink(w.Name)
		return fmt.Errorf("appending again after useradd: %w", err)
	}
	old := s.tmp
	a.mu.Lock()
	s.tmp = w.Name
	a.mu.Unlock()
	sd.Unlink(old)
	a.o.Log.Infof("%s: appended to again, after the lines useradd and groupadd added", s.canon)
	return nil
}

// FragmentOnly lists the users the platform fragment frag names that none
// of the configs (the user's own, the base configs) names: the files stage
// checks those against the target (platformUsers). distroUser is the
// distro's user for the platform's keys (platform.conf ssh-keys-user).
func FragmentOnly(frag config.Config, distroUser string, configs ...config.Config) []FragmentUser {
	named := map[string]bool{}
	for _, c := range configs {
		for _, u := range c.Passwd.Users {
			named[u.Name] = true
		}
	}
	var out []FragmentUser
	for _, u := range frag.Passwd.Users {
		if !named[u.Name] {
			out = append(out, FragmentUser{Name: u.Name, Distro: u.Name == distroUser})
		}
	}
	return out
}
