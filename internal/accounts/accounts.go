// Package accounts looks users and groups up the way the target root's own
// NSS would: it reads the target's nsswitch.conf and, for each source listed
// there, the files that module reads (files and compat: /etc/passwd and
// /etc/group; altfiles: /usr/lib/passwd and /usr/lib/group, as Fedora builds
// it; usrfiles: /usr/share/baselayout/; extrausers: /var/lib/extrausers/),
// in order. A source it cannot read that way (systemd, sss, ldap, ...) is
// asked through the target's own getent, run chrooted in the target, when
// the target has one. Every read is made inside the root (internal/rootfs):
// a symlink in the image cannot send it to this machine's files.
//
// A lookup returns a value carrying the account's identity (name, uid, gid,
// home, shell, and where it was found); later steps compare those values.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/rootfs"
)

// User is an account as the target resolves it.
type User struct {
	Name       string
	UID, GID   int
	Gecos      string
	Home       string
	Shell      string
	Source     string // the NSS module that answered ("files", "altfiles", ...)
	SourceFile string // the file read ("" when getent answered)
}

func (u User) String() string {
	where := u.Source
	if u.SourceFile != "" {
		where = u.SourceFile
	}
	return fmt.Sprintf("%s (uid %d, from %s)", u.Name, u.UID, where)
}

// Group is a group as the target resolves it.
type Group struct {
	Name       string
	GID        int
	Source     string
	SourceFile string
}

// Getent asks the target's own NSS for key in database ("passwd" or
// "group"): the matching line, or found false.
type Getent func(ctx context.Context, database, key string) (line string, found bool, err error)

// Logger is what the lookups report through.
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
}

// Options are what Load works with besides the root.
type Options struct {
	// Getent, when set, answers for the sources that are not files this
	// package reads. Nil: those sources are skipped (ChrootGetent is the
	// usual one).
	Getent Getent
	Log    Logger
}

// DB is the target's users and groups as its NSS sees them at Load time.
type DB struct {
	ctx    context.Context
	o      Options
	passwd []source
	group  []source
	uidMin int
	// userGroups: login.defs USERGROUPS_ENAB yes (useradd makes a group of
	// each new user's name)
	userGroups bool
	// the names in /etc/passwd and /etc/group, the only files
	// shadow-utils --root changes, whatever the NSS order
	etcUsers, etcGroups map[string]bool
	// answers of getent, by database and key (a miss is cached too)
	asked map[string]getentAnswer
}

type getentAnswer struct {
	line  string
	found bool
}

// source is one NSS module of a database, with what it holds when it is
// one this package reads.
type source struct {
	module   string
	file     string // "" when not readable here
	readable bool
	users    []User
	groups   []Group
	byName   map[string]int // the first line of each name
}

// Files each readable module reads, per database.
var moduleFiles = map[string]map[string]string{
	"files":      {"passwd": "/etc/passwd", "group": "/etc/group"},
	"compat":     {"passwd": "/etc/passwd", "group": "/etc/group"},
	"altfiles":   {"passwd": "/usr/lib/passwd", "group": "/usr/lib/group"},
	"usrfiles":   {"passwd": "/usr/share/baselayout/passwd", "group": "/usr/share/baselayout/group"},
	"extrausers": {"passwd": "/var/lib/extrausers/passwd", "group": "/var/lib/extrausers/group"},
}

// Paths of the target's configuration.
const (
	NsswitchFile  = "/etc/nsswitch.conf"
	loginDefs     = "/etc/login.defs"
	loginDefsUsr  = "/usr/etc/login.defs"
	defaultUIDMin = 1000
)

// Load reads the target's nsswitch.conf, the account files of the modules
// it lists and login.defs. A missing file is an empty source; a file that
// cannot be read is an error.
func Load(ctx context.Context, root *rootfs.Root, o Options) (*DB, error) {
	db := &DB{ctx: ctx, o: o, asked: map[string]getentAnswer{}, uidMin: defaultUIDMin}
	conf, err := readOptional(root, NsswitchFile)
	if err != nil {
		return nil, err
	}
	order := ParseNsswitch(string(conf))
	for _, dbName := range []string{"passwd", "group"} {
		mods := order[dbName]
		if len(mods) == 0 {
			mods = []string{"files"} // glibc's default without a line
		}
		for _, m := range mods {
			s := source{module: m}
			if files, ok := moduleFiles[m]; ok {
				s.file, s.readable = files[dbName], true
				b, err := readOptional(root, s.file)
				if err != nil {
					return nil, err
				}
				s.byName = map[string]int{}
				if dbName == "passwd" {
					s.users = parsePasswd(string(b), m, s.file)
					for i := len(s.users) - 1; i >= 0; i-- {
						s.byName[s.users[i].Name] = i
					}
				} else {
					s.groups = parseGroup(string(b), m, s.file)
					for i := len(s.groups) - 1; i >= 0; i-- {
						s.byName[s.groups[i].Name] = i
					}
				}
			}
			if dbName == "passwd" {
				db.passwd = append(db.passwd, s)
			} else {
				db.group = append(db.group, s)
			}
		}
	}
	db.etcUsers, db.etcGroups = map[string]bool{}, map[string]bool{}
	for file, names := range map[string]map[string]bool{"/etc/passwd": db.etcUsers, "/etc/group": db.etcGroups} {
		b, err := readOptional(root, file)
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if name, _, ok := strings.Cut(l, ":"); ok && name != "" {
				names[name] = true
			}
		}
	}
	for _, p := range []string{loginDefs, loginDefsUsr} {
		b, err := readOptional(root, p)
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		defs := LoginDefs(string(b))
		if v, ok := defs["UID_MIN"]; ok {
			// shadow reads numbers as C does: 0x hex, 0 octal
			if n, err := strconv.ParseInt(v, 0, 64); err == nil && n > 0 && n < 1<<31 {
				db.uidMin = int(n)
			}
		}
		db.userGroups = strings.EqualFold(defs["USERGROUPS_ENAB"], "yes")
		break
	}
	return db, nil
}

// readOptional reads a file inside the root; nil when it is not there.
func readOptional(root *rootfs.Root, p string) ([]byte, error) {
	b, err := ReadConfig(root, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// MaxConfigFile bounds what ReadConfig reads (an account file of a
// hundred thousand users is a few MiB).
const MaxConfigFile = 64 << 20

// ErrNotRegular is a configuration path of the target that is not a
// regular file (a FIFO would block the stage for good, a device could be
// endless).
var ErrNotRegular = errors.New("not a regular file")

// ReadConfig reads a configuration file of the target: symlinks followed
// inside the root, only a regular file of at most MaxConfigFile bytes;
// fs.ErrNotExist when nothing is there.
func ReadConfig(root *rootfs.Root, p string) ([]byte, error) {
	cur := rootfs.Clean(p)
	for hops := 0; ; hops++ {
		kind, st, err := root.Lstat(cur)
		if err != nil {
			return nil, fmt.Errorf("reading the target's %s: %w", p, err)
		}
		switch kind {
		case rootfs.Missing:
			return nil, fmt.Errorf("the target's %s: %w", p, fs.ErrNotExist)
		case rootfs.Symlink:
			if hops >= 40 {
				return nil, fmt.Errorf("reading the target's %s: %w", p, unix.ELOOP)
			}
			target, err := readlink(root, cur)
			if err != nil {
				return nil, fmt.Errorf("reading the target's %s: %w", p, err)
			}
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(cur), target)
			}
			cur = rootfs.Clean(target)
			continue
		case rootfs.Regular:
		default:
			return nil, fmt.Errorf("the target's %s (%s) is %s: %w", p, cur, kind, ErrNotRegular)
		}
		if st.Size > MaxConfigFile {
			return nil, fmt.Errorf("the target's %s is %d bytes, more than %d", p, st.Size, MaxConfigFile)
		}
		b, err := root.ReadFile(cur)
		if err != nil {
			return nil, fmt.Errorf("reading the target's %s: %w", p, err)
		}
		if len(b) > MaxConfigFile {
			return nil, fmt.Errorf("the target's %s is more than %d bytes", p, MaxConfigFile)
		}
		return b, nil
	}
}

func readlink(root *rootfs.Root, p string) (string, error) {
	d, err := root.OpenDir(path.Dir(p))
	if err != nil {
		return "", err
	}
	defer d.Close()
	return d.Readlink(path.Base(p))
}

// ParseNsswitch gives each database's modules in order, action items
// ("[NOTFOUND=return]") left out.
func ParseNsswitch(s string) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		var mods []string
		inAction := false
		for _, f := range strings.Fields(v) {
			if strings.HasPrefix(f, "[") {
				inAction = true
			}
			if inAction {
				if strings.HasSuffix(f, "]") {
					inAction = false
				}
				continue
			}
			mods = append(mods, f)
		}
		out[k] = mods
	}
	return out
}

// LoginDefs reads "KEY value" lines of a login.defs file; a key set twice
// has its last value, as shadow-utils reads it.
func LoginDefs(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			out[f[0]] = strings.Trim(f[1], `"`)
		}
	}
	return out
}

func parsePasswd(s, module, file string) []User {
	var out []User
	for _, l := range strings.Split(s, "\n") {
		if u, ok := parsePasswdLine(l); ok {
			u.Source, u.SourceFile = module, file
			out = append(out, u)
		}
	}
	return out
}

// parsePasswdLine reads name:pw:uid:gid:gecos:home:shell; compat's +/-
// lines and anything malformed are left out.
func parsePasswdLine(l string) (User, bool) {
	f := strings.Split(strings.TrimRight(l, "\r"), ":")
	if len(f) < 7 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
		return User{}, false
	}
	uid, err1 := strconv.Atoi(f[2])
	gid, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return User{}, false
	}
	return User{Name: f[0], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Shell: f[6]}, true
}

func parseGroup(s, module, file string) []Group {
	var out []Group
	for _, l := range strings.Split(s, "\n") {
		if g, ok := parseGroupLine(l); ok {
			g.Source, g.SourceFile = module, file
			out = append(out, g)
		}
	}
	return out
}

func parseGroupLine(l string) (Group, bool) {
	f := strings.Split(strings.TrimRight(l, "\r"), ":")
	if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
		return Group{}, false
	}
	gid, err := strconv.Atoi(f[2])
	if err != nil || gid < 0 {
		return Group{}, false
	}
	return Group{Name: f[0], GID: gid}, true
}

// UIDMin is the target's UID_MIN (login.defs; 1000 when it sets none).
func (db *DB) UIDMin() int { return db.uidMin }

// UserGroups says whether the target's useradd makes a group of each new
// user's name (login.defs USERGROUPS_ENAB yes).
func (db *DB) UserGroups() bool { return db.userGroups }

// Sources lists the modules of a database ("passwd" or "group") in order.
func (db *DB) Sources(database string) []string {
	list := db.passwd
	if database == "group" {
		list = db.group
	}
	var out []string
	for _, s := range list {
		out = append(out, s.module)
	}
	return out
}

// ask runs getent once per database and key.
func (db *DB) ask(database, key, module string) (string, bool) {
	k := database + "\x00" + key
	if a, ok := db.asked[k]; ok {
		return a.line, a.found
	}
	var a getentAnswer
	if db.o.Getent != nil {
		line, found, err := db.o.Getent(db.ctx, database, key)
		if err != nil {
			if db.o.Log != nil {
				db.o.Log.Warnf("looking %q up in the target's %s database (NSS module %s) with its getent: %v; taken as not there", key, database, module, err)
			}
		} else {
			a = getentAnswer{line, found}
			if db.o.Log != nil {
				db.o.Log.Infof("the target's getent %s %q (for NSS module %s): found %v", database, key, module, found)
			}
		}
	}
	db.asked[k] = a
	return a.line, a.found
}

// User looks a user up by name as the target's NSS would.
func (db *DB) User(name string) (User, bool) {
	for _, s := range db.passwd {
		if s.readable {
			if i, ok := s.byName[name]; ok {
				return s.users[i], true
			}
			continue
		}
		// the target's getent consults every source at once
		if line, ok := db.ask("passwd", name, s.module); ok {
			if u, ok := parsePasswdLine(line); ok && u.Name == name {
				u.Source = "getent"
				return u, true
			}
		}
	}
	return User{}, false
}

// Group looks a group up by name as the target's NSS would.
func (db *DB) Group(name string) (Group, bool) {
	for _, s := range db.group {
		if s.readable {
			if i, ok := s.byName[name]; ok {
				return s.groups[i], true
			}
			continue
		}
		if line, ok := db.ask("group", name, s.module); ok {
			if g, ok := parseGroupLine(line); ok && g.Name == name {
				g.Source = "getent"
				return g, true
			}
		}
	}
	return Group{}, false
}

// InEtcPasswd says whether /etc/passwd has a line for name: the users
// usermod and userdel --root can change (they edit no other source).
func (db *DB) InEtcPasswd(name string) bool { return db.etcUsers[name] }

// InEtcGroup says whether /etc/group has a line for name: the groups
// groupmod and groupdel --root can change, and useradd and usermod add
// members to.
func (db *DB) InEtcGroup(name string) bool { return db.etcGroups[name] }

// Where says where a user or group was found, for messages.
func Where(source, file string) string {
	if file != "" {
		return fmt.Sprintf("%s (NSS %s)", file, source)
	}
	return "the target's getent"
}

// Users lists every user the readable sources hold (the first of each
// name, in NSS order).
func (db *DB) Users() []User {
	seen := map[string]bool{}
	var out []User
	for _, s := range db.passwd {
		for _, u := range s.users {
			if !seen[u.Name] {
				seen[u.Name] = true
				out = append(out, u)
			}
		}
	}
	return out
}

// SharingHome lists the other accounts (of the readable sources) whose
// home directory is u's.
func (db *DB) SharingHome(u User) []string {
	if u.Home == "" {
		return nil
	}
	h := path.Clean(u.Home)
	var out []string
	for _, o := range db.Users() {
		if o.Name != u.Name && o.Home != "" && path.Clean(o.Home) == h {
			out = append(out, o.Name)
		}
	}
	return out
}

// NoLoginShell says whether a shell lets nobody log in (nologin, false).
func NoLoginShell(shell string) bool {
	switch path.Base(shell) {
	case "nologin", "false":
		return true
	}
	return false
}

// NotLogin says why u is not a login account of the target, or "" when it
// is one: a uid below UID_MIN (unless checkUID is false), a nologin or
// false shell, no home or home /, or a home another account has too.
func (db *DB) NotLogin(u User, checkUID bool) string {
	switch {
	case u.UID == 0:
		return "uid 0 is root's"
	case checkUID && u.UID < db.uidMin:
		return fmt.Sprintf("uid %d is below the target's UID_MIN %d: a system account", u.UID, db.uidMin)
	case NoLoginShell(u.Shell):
		return fmt.Sprintf("its shell %s allows no login", u.Shell)
	case u.Home == "":
		return "it has no home directory"
	case path.Clean(u.Home) == "/":
		return "its home directory is /"
	}
	if others := db.SharingHome(u); len(others) > 0 {
		return fmt.Sprintf("its home directory %s is also %s's", u.Home, strings.Join(others, ", "))
	}
	return ""
}
