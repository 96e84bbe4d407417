package files

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/ignition-go/ignition/config"
)

// passwd creates, changes or deletes groups, then users, with shadow-utils
// running against the target root (--root), and writes users' SSH keys.
func (a *Applier) passwd(ctx context.Context, p Plan) error {
	if len(p.Groups) == 0 && len(p.Users) == 0 {
		return nil
	}
	if err := a.loadIDs(); err != nil {
		return err
	}
	root := a.Root.Path
	for _, g := range p.Groups {
		_, exists := a.groups[g.Name]
		var err error
		switch {
		case g.ShouldExist != nil && !*g.ShouldExist:
			if exists {
				_, err = a.run(ctx, "groupdel", "--root", root, g.Name)
			}
		case exists:
			args := []string{"--root", root}
			if g.Gid != nil {
				args = append(args, "--gid", strconv.Itoa(*g.Gid))
			}
			if g.PasswordHash != nil {
				args = append(args, "--password", *g.PasswordHash)
			}
			if len(args) > 2 {
				_, err = a.run(ctx, "groupmod", append(args, g.Name)...)
			}
		default:
			args := []string{"--root", root}
			if g.Gid != nil {
				args = append(args, "--gid", strconv.Itoa(*g.Gid))
			}
			if g.PasswordHash != nil {
				args = append(args, "--password", *g.PasswordHash)
			}
			if isTrue(g.System) {
				args = append(args, "--system")
			}
			_, err = a.run(ctx, "groupadd", append(args, g.Name)...)
		}
		if err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
	}
	if err := a.loadIDs(); err != nil {
		return err
	}
	for _, u := range p.Users {
		if err := a.user(ctx, u); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	if err := a.loadIDs(); err != nil {
		return err
	}
	for _, u := range p.Users {
		if len(u.SSHAuthorizedKeys) == 0 || (u.ShouldExist != nil && !*u.ShouldExist) {
			continue
		}
		if err := a.sshKeys(u); err != nil {
			return fmt.Errorf("user %s: SSH keys: %w", u.Name, err)
		}
	}
	return nil
}

func (a *Applier) user(ctx context.Context, u config.PasswdUser) error {
	root := a.Root.Path
	_, exists := a.users[u.Name]
	if u.ShouldExist != nil && !*u.ShouldExist {
		if !exists {
			return nil
		}
		_, err := a.run(ctx, "userdel", "--remove", "--root", root, u.Name)
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
		_, err := a.run(ctx, "usermod", append(args, u.Name)...)
		return err
	}
	_, err := a.run(ctx, "useradd", append(args, u.Name)...)
	return err
}

// sshKeys writes ~/.ssh/authorized_keys.d/ignition: directories 0700 and
// the file 0600, all owned by the user.
func (a *Applier) sshKeys(u config.PasswdUser) error {
	e, ok := a.users[u.Name]
	if !ok {
		return fmt.Errorf("not in the target's /etc/passwd")
	}
	home := e.home
	if home == "" || home == "/" {
		return fmt.Errorf("no home directory")
	}
	done := a.Log.Op("writing %d SSH key(s) for %s", len(u.SSHAuthorizedKeys), u.Name)
	err := func() error {
		for _, dir := range []string{path.Join(home, ".ssh"), path.Join(home, ".ssh", "authorized_keys.d")} {
			n := Node{Kind: KindDirectory, Path: dir, Mode: intp(0o700), User: config.NodeUser{ID: &e.uid}, Group: config.NodeGroup{ID: &e.gid}}
			if _, err := a.prepare(context.Background(), n, nil); err != nil {
				return err
			}
		}
		keys := strings.Join(u.SSHAuthorizedKeys, "\n") + "\n"
		return a.writeBytes(path.Join(home, ".ssh", "authorized_keys.d", "ignition"), []byte(keys), 0o600, e.uid, e.gid)
	}()
	done(err)
	return err
}

func intp(i int) *int { return &i }
