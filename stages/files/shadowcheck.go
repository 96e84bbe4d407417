package files

import (
	"fmt"
	"strconv"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/accounts"
)

// checkAccountChanges refuses, in the plan, the user and group changes
// shadow-utils --root would fail on (or carry out wrongly) once the commit
// has started: it edits /etc/passwd and /etc/group only, so an account the
// target keeps elsewhere (nss-altfiles' /usr/lib, Flatcar's baselayout)
// cannot be changed or deleted, nor can a user be put in a group kept
// there; a group a user is put in must exist; and useradd, making a group
// of a new user's name, fails on a group of that name in /etc/group or
// makes a second one that hides the image's.
func (a *Applier) checkAccountChanges() []error {
	db := a.db
	var errs []error
	// groups the config makes with groupadd (in /etc/group before users)
	made := map[string]bool{}
	for _, g := range a.plan.Groups {
		grp, exists := db.Group(g.Name)
		switch {
		case !exists && !deleting(g.ShouldExist):
			made[g.Name] = true
		case exists && !db.InEtcGroup(g.Name) && (deleting(g.ShouldExist) || g.Gid != nil || g.PasswordHash != nil):
			errs = append(errs, fmt.Errorf("group %q: the target has it in %s, which groupmod and groupdel --root do not change (they edit /etc/group only)", g.Name, accounts.Where(grp.Source, grp.SourceFile)))
		}
	}
	for _, u := range a.plan.Users {
		if !deleting(u.ShouldExist) && !a.userExists(u.Name) && a.db.UserGroups() && !isTrue(u.NoUserGroup) && u.PrimaryGroup == nil {
			made[u.Name] = true // useradd's group of the user's name
		}
	}
	for _, u := range a.plan.Users {
		acc, exists := db.User(u.Name)
		if deleting(u.ShouldExist) {
			if exists && !db.InEtcPasswd(u.Name) {
				errs = append(errs, fmt.Errorf("user %q: the target has it in %s, which userdel --root does not change (it edits /etc/passwd only)", u.Name, accounts.Where(acc.Source, acc.SourceFile)))
			}
			continue
		}
		if exists && usermodChanges(u) && !db.InEtcPasswd(u.Name) {
			errs = append(errs, fmt.Errorf("user %q: the target has it in %s, which usermod --root does not change (it edits /etc/passwd only)", u.Name, accounts.Where(acc.Source, acc.SourceFile)))
		}
		if !exists && db.UserGroups() && !isTrue(u.NoUserGroup) && u.PrimaryGroup == nil {
			if g, ok := db.Group(u.Name); ok {
				errs = append(errs, fmt.Errorf("user %q: useradd makes a group of the new user's name, and the target has a group %q in %s: set primaryGroup (or noUserGroup)", u.Name, u.Name, accounts.Where(g.Source, g.SourceFile)))
			} else if a.configGroup(u.Name) {
				errs = append(errs, fmt.Errorf("user %q: useradd makes a group of the new user's name, and the config makes a group %q too: set primaryGroup: %q (or noUserGroup)", u.Name, u.Name, u.Name))
			}
		}
		var groups []string
		if u.PrimaryGroup != nil {
			if _, err := strconv.Atoi(*u.PrimaryGroup); err != nil {
				groups = append(groups, *u.PrimaryGroup)
			}
		}
		groups = append(groups, u.Groups...)
		for _, g := range groups {
			if db.InEtcGroup(g) || made[g] {
				continue
			}
			if grp, ok := db.Group(g); ok {
				errs = append(errs, fmt.Errorf("user %q: group %q: the target has it in %s; useradd and usermod --root put users only in groups of /etc/group", u.Name, g, accounts.Where(grp.Source, grp.SourceFile)))
			} else {
				errs = append(errs, fmt.Errorf("user %q: group %q is not in the target and the config does not make it", u.Name, g))
			}
		}
	}
	return errs
}

// configGroup says whether the config makes or keeps a group of this name.
func (a *Applier) configGroup(name string) bool {
	for _, g := range a.plan.Groups {
		if g.Name == name && !deleting(g.ShouldExist) {
			return true
		}
	}
	return false
}

// usermodChanges says whether an existing user's entry makes usermod run
// (the user function's arguments besides --root).
func usermodChanges(u config.PasswdUser) bool {
	return u.HomeDir != nil || u.UID != nil || u.Gecos != nil || u.PrimaryGroup != nil ||
		len(u.Groups) > 0 || u.Shell != nil || u.PasswordHash != nil
}
