package files

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/accounts"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/rootfs"
)

// loadIDs looks the target's users and groups up again, as its own NSS
// does (internal/accounts): owners named in the config are resolved
// there, never on the machine running the stage.
func (a *Applier) loadIDs() error {
	if !a.getentSet {
		a.getentSet = true
		if a.o.Getent != nil {
			a.getent = a.o.Getent
		} else {
			a.getent = accounts.ChrootGetent(a.Root)
		}
	}
	db, err := accounts.Load(a.ctx, a.Root, accounts.Options{Getent: a.getent, Log: a.o.Log})
	if err != nil {
		return err
	}
	a.db = db
	return nil
}

func (a *Applier) userExists(name string) bool {
	_, ok := a.db.User(name)
	return ok
}

func (a *Applier) groupExists(name string) bool {
	_, ok := a.db.Group(name)
	return ok
}

// run runs a shadow-utils program against the target root.
func (a *Applier) run(ctx context.Context, name string, args ...string) error {
	c := command.Cmd{Name: name, Args: args}
	for i := 1; i < len(args); i++ {
		if args[i-1] == "--password" || args[i-1] == "-p" {
			c.Secret = append(c.Secret, i)
		}
	}
	_, err := a.o.Runner.Run(ctx, c)
	return err
}

func deleting(b *bool) bool { return b != nil && !*b }

// passwd creates and changes groups, then creates, changes and deletes
// users, then deletes groups (a group cannot go while it is still some
// deleted user's primary group), with shadow-utils running against the
// target root (--root).
func (a *Applier) passwd(ctx context.Context, p Plan) error {
	if len(p.Groups) == 0 && len(p.Users) == 0 {
		return nil
	}
	root := a.Root.Path
	for _, g := range p.Groups {
		if deleting(g.ShouldExist) {
			continue
		}
		exists := a.groupExists(g.Name)
		args := []string{"--root", root}
		if g.Gid != nil {
			args = append(args, "--gid", strconv.Itoa(*g.Gid))
		}
		if g.PasswordHash != nil {
			args = append(args, "--password", *g.PasswordHash)
		}
		var err error
		switch {
		case exists && len(args) > 2:
			err = a.run(ctx, "groupmod", append(args, g.Name)...)
		case !exists:
			if isTrue(g.System) {
				args = append(args, "--system")
			}
			err = a.run(ctx, "groupadd", append(args, g.Name)...)
		}
		if err != nil {
			return fmt.Errorf("group %q: %w", g.Name, err)
		}
	}
	if err := a.loadIDs(); err != nil {
		return err
	}
	for _, u := range p.Users {
		if err := a.user(ctx, u); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	if err := a.loadIDs(); err != nil {
		return err
	}
	for _, g := range p.Groups {
		if !deleting(g.ShouldExist) {
			continue
		}
		if !a.groupExists(g.Name) {
			continue
		}
		if err := a.run(ctx, "groupdel", "--root", root, g.Name); err != nil {
			return fmt.Errorf("group %q: %w", g.Name, err)
		}
	}
	return a.loadIDs()
}

func (a *Applier) user(ctx context.Context, u config.PasswdUser) error {
	root := a.Root.Path
	exists := a.userExists(u.Name)
	if deleting(u.ShouldExist) {
		if !exists {
			return nil
		}
		err := a.run(ctx, "userdel", "--remove", "--root", root, u.Name)
		if err != nil {
			// userdel exits non-zero when the home directory or mail spool
			// it was told to remove is missing, after the account is gone:
			// what was asked for is done.
			if a.loadIDs() == nil && !a.userExists(u.Name) {
				a.o.Log.Warnf("user %q deleted; userdel also said: %v", u.Name, err)
				return nil
			}
		}
		return err
	}
	args := []string{"--root", root}
	opt := func(flag string, v *string) {
		if v != nil {
			args = append(args, flag, *v)
		}
	}
	if !exists {
		opt("--home-dir", u.HomeDir)
		if isTrue(u.NoCreateHome) {
			args = append(args, "--no-create-home")
		} else {
			args = append(args, "--create-home")
		}
		if isTrue(u.NoUserGroup) {
			args = append(args, "--no-user-group")
		}
		if isTrue(u.System) {
			args = append(args, "--system")
		}
		if isTrue(u.NoLogInit) {
			args = append(args, "--no-log-init")
		}
		hash := "*"
		if u.PasswordHash != nil {
			hash = *u.PasswordHash
		}
		args = append(args, "--password", hash)
	} else if u.HomeDir != nil {
		args = append(args, "--home", *u.HomeDir, "--move-home")
	}
	if u.UID != nil {
		args = append(args, "--uid", strconv.Itoa(*u.UID))
	}
	opt("--comment", u.Gecos)
	opt("--gid", u.PrimaryGroup)
	if len(u.Groups) > 0 {
		args = append(args, "--groups", strings.Join(u.Groups, ","))
	}
	opt("--shell", u.Shell)
	if exists {
		opt("--password", u.PasswordHash)
		if len(args) == 2 {
			return nil // nothing to change
		}
		return a.run(ctx, "usermod", append(args, u.Name)...)
	}
	return a.run(ctx, "useradd", append(args, u.Name)...)
}

// sshKeys writes each user's keys: ~/.ssh/authorized_keys.d/ignition, or
// ~/.ssh/authorized_keys when the distro asks for it. Directories missing
// are made 0700 and the file 0600, owned by the user; a directory that is
// there (the image's, or one the config lists) keeps its mode and owner.
func (a *Applier) sshKeys(p Plan) error {
	for _, u := range p.Users {
		if len(u.SSHAuthorizedKeys) == 0 || deleting(u.ShouldExist) {
			continue
		}
		if err := a.userKeys(u); err != nil {
			return fmt.Errorf("user %q: SSH keys: %w", u.Name, err)
		}
	}
	return nil
}

// keyPaths are the directories and the file a user's keys go to.
func (a *Applier) keyPaths(home string) (dirs []string, file string) {
	dirs = []string{path.Join(home, ".ssh")}
	file = path.Join(home, ".ssh", "authorized_keys")
	if !a.o.KeysToAuthorizedKeys {
		dirs = append(dirs, path.Join(home, ".ssh", "authorized_keys.d"))
		file = path.Join(home, ".ssh", "authorized_keys.d", "ignition")
	}
	return dirs, file
}

func (a *Applier) userKeys(u config.PasswdUser) error {
	e, ok := a.db.User(u.Name)
	if !ok {
		return fmt.Errorf("not found in the target (NSS sources %s)", strings.Join(a.db.Sources("passwd"), " "))
	}
	home := e.Home
	if home == "" || path.Clean(home) == "/" {
		return fmt.Errorf("no home directory")
	}
	dirs, file := a.keyPaths(home)
	done := a.o.Log.Op("writing %d SSH key(s) for %q to %s", len(u.SSHAuthorizedKeys), u.Name, file)
	err := func() error {
		for _, dir := range dirs {
			if err := a.makeDir(dir, 0o700, e.UID, e.GID); err != nil {
				return err
			}
		}
		keys := strings.Join(u.SSHAuthorizedKeys, "\n") + "\n"
		return a.writeBytes(file, []byte(keys), 0o600, e.UID, e.GID)
	}()
	done(err)
	return err
}

// makeDir makes p a directory with this mode and owner when nothing is
// there (inside the root; what is missing above it is created 0755
// root-owned); a directory that is there is left as it is.
func (a *Applier) makeDir(p string, mode uint32, uid, gid int) error {
	d, base, kind, err := a.entry(p)
	if err != nil {
		return err
	}
	defer d.Close()
	switch kind {
	case rootfs.Missing:
		a.written(path.Clean(p))
		return d.Mkdir(base, mode, uid, gid)
	case rootfs.Directory:
		return nil
	}
	return fmt.Errorf("%s is %s, not a directory", p, kind)
}

// ensureDir makes p a directory with this mode and owner (inside the root;
// what is missing above it is created 0755 root-owned).
func (a *Applier) ensureDir(p string, mode uint32, uid, gid int) error {
	d, base, kind, err := a.entry(p)
	if err != nil {
		return err
	}
	defer d.Close()
	a.written(path.Clean(p))
	switch kind {
	case rootfs.Missing:
		return d.Mkdir(base, mode, uid, gid)
	case rootfs.Directory:
		if err := d.Chown(base, uid, gid); err != nil {
			return err
		}
		return d.Chmod(base, mode)
	}
	return fmt.Errorf("%s is not a directory", p)
}

// homeMountPoints gives each directory the mount stage created inside a
// config user's home (the home itself included) to that user and the
// user's primary group, mode 0700, once the user exists: a filesystem
// mounted under a home otherwise leaves the home, and what leads to the
// mount, owned by root, and useradd does not take over a home that is
// there already. Directories the config lists are set after this, so the
// config's modes and owners win. Paths are compared as they resolve inside
// the root (/home may be a link to /var/home); a directory in several
// homes goes to the user with the deepest one; a home that resolves to a
// directory shallower than its own path (a link up the tree, to / or
// /var) is left alone. (The mount stage relabelled these directories
// before mounting on them.)
func (a *Applier) homeMountPoints(p Plan) error {
	if len(a.o.MountPoints) == 0 {
		return nil
	}
	type home struct {
		user string
		host string
		e    accounts.User
	}
	rootReal, err := a.Root.HostPath("/")
	if err != nil {
		return err
	}
	var homes []home
	for _, u := range p.Users {
		if deleting(u.ShouldExist) {
			continue
		}
		e, ok := a.db.User(u.Name)
		if !ok || e.Home == "" {
			continue
		}
		h, err := a.Root.ResolvedHostPath(e.Home)
		if err != nil {
			continue // no home directory: nothing of it was created
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(h, rootReal), "/")
		if rel == "/" || depth(rel) < depth(rootfs.Clean(e.Home)) {
			a.o.Log.Warnf("user %q: home directory %q resolves to %q: mount points there are not given to the user", u.Name, e.Home, rel)
			continue
		}
		homes = append(homes, home{u.Name, h, e})
	}
	for _, m := range a.o.MountPoints {
		host, err := a.Root.ResolvedHostPath(m)
		if err != nil {
			a.o.Log.Warnf("mount point %q the mount stage created: %v", m, err)
			continue
		}
		var best *home
		for i, h := range homes {
			if (host == h.host || strings.HasPrefix(host, h.host+"/")) && (best == nil || len(h.host) > len(best.host)) {
				best = &homes[i]
			}
		}
		if best == nil {
			continue
		}
		if err := a.ownDir(m, best.e.UID, best.e.GID); err != nil {
			a.o.Log.Warnf("user %q: mount point %q in the home directory: %v; left as it is", best.user, m, err)
			continue
		}
		a.o.Log.Infof("mount point %q is in %q's home directory: owned by %d:%d, mode 0700", m, best.user, best.e.UID, best.e.GID)
	}
	return nil
}

// ownDir sets an existing directory's owner and makes it 0700.
func (a *Applier) ownDir(p string, uid, gid int) error {
	d, base, kind, err := a.entry(p)
	if err != nil {
		return err
	}
	defer d.Close()
	if kind != rootfs.Directory {
		return fmt.Errorf("%s is not a directory any more", p)
	}
	if err := d.Chown(base, uid, gid); err != nil {
		return err
	}
	return d.Chmod(base, 0o700)
}
