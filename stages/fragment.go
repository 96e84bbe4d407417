package stages

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
)

// The platform fragment: what the platform publishes about the instance
// (host name, SSH keys, the admin user on Azure) rendered as a config that
// sits under the user's config, so that a VM made from a cloud console
// with only a name and a key is reachable with no user config at all. The
// distro sets whose keys they are on platforms that name no user, or turns
// the fragment off, in platform.conf in the system config dirs:
//
//	ssh-keys-user=core
//	platform-fragment=off
const (
	fragmentConf       = "platform.conf"
	defaultFragmentFor = "core"
)

type fragmentSettings struct {
	user string // who gets keys the platform names no user for
	off  bool
}

// fragmentSettings reads platform.conf from the first system dir that has
// one (runtime, local, system).
func (e *Engine) fragmentSettings() (fragmentSettings, error) {
	s := fragmentSettings{user: defaultFragmentFor}
	for _, d := range e.SystemDirs {
		f, err := os.Open(filepath.Join(d, fragmentConf))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, err
		}
		defer f.Close()
		sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case ok && k == "ssh-keys-user" && v != "" && !strings.ContainsAny(v, " \t:/"):
				s.user = v
			case ok && k == "platform-fragment" && (v == "off" || v == "on"):
				s.off = v == "off"
			default:
				return s, fmt.Errorf("%s line %d: %q is not ssh-keys-user=<user> or platform-fragment=on|off", f.Name(), n, line)
			}
		}
		return s, sc.Err()
	}
	return s, nil
}

// userName is what a platform's user name must look like to be rendered:
// shadow-utils' default rule for new users (lower case, digits, _ . -),
// and never root.
var userName = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// hostName returns what /etc/hostname gets from a platform's host name:
// the name itself when systemd would take it (hostnameValid), else, for a
// name longer than 64 that is valid otherwise (an FQDN), its first label,
// as most tools cut an FQDN; a trailing dot is dropped (systemd takes
// "a.b." and drops it too). note says what was done; ok is false when
// nothing is to be written.
func hostName(h string) (name, note string, ok bool) {
	if strings.HasSuffix(h, ".") && strings.Count(h, ".") >= 2 {
		h = h[:len(h)-1]
	}
	if hostnameValid(h, hostNameMax) {
		return h, "", true
	}
	if len(h) > hostNameMax && hostnameValid(h, len(h)) {
		first, _, _ := strings.Cut(h, ".")
		if hostnameValid(first, hostNameMax) {
			return first, fmt.Sprintf("longer than %d characters: its first label %q", hostNameMax, first), true
		}
	}
	return "", "", false
}

// hostNameMax is Linux's HOST_NAME_MAX.
const hostNameMax = 64

// hostnameValid is systemd's rule for a host name (hostname_is_valid() as
// current systemd has it; older releases also took '_'): ASCII letters,
// digits and '-' in labels joined by single dots, no label starting or
// ending with '-', no leading or trailing dot, at most max characters.
// '_' is not allowed: systemd refuses /etc/hostname with "web_01" and the
// machine boots as localhost.
func hostnameValid(h string, max int) bool {
	if h == "" || len(h) > max {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// fragment is a rendered platform fragment, with what to log about it.
type fragment struct {
	cfg      config.Config
	summary  []string // hostname and keys by fingerprint
	warnings []string // what was left out, and why
}

// renderFragment turns an identity into a config: /etc/hostname, and each
// user with their keys (keySet).
func renderFragment(id providers.Identity, s fragmentSettings) fragment {
	var f fragment
	f.cfg.Ignition.Version = config.Newest.String()
	f.hostname(id.Hostname)
	owner := id.User
	if owner == "" {
		owner = s.user
	}
	ks := keySet{keys: map[string][]string{}, seen: map[string]bool{}}
	for _, k := range id.Keys {
		ks.add(owner, k)
	}
	for _, uk := range id.UserKeys {
		ks.add(uk.User, uk.Key)
	}
	f.warnings = append(f.warnings, ks.warnings()...)
	if ks.dropped > 0 {
		f.summary = append(f.summary, fmt.Sprintf("left out %d line(s) that are not OpenSSH public keys", ks.dropped))
	}
	if _, ok := ks.keys[id.User]; id.User != "" && !ok {
		ks.order = append(ks.order, id.User) // the admin user, even without keys
	}
	for _, u := range ks.order {
		if !userName.MatchString(u) || u == "root" {
			// what the platform says is not trusted to be a sane user name
			f.summary = append(f.summary, fmt.Sprintf("skipped the user name %q (not a plain user name)", u))
			continue
		}
		f.cfg.Passwd.Users = append(f.cfg.Passwd.Users, config.PasswdUser{Name: u, SSHAuthorizedKeys: ks.keys[u]})
		var fps []string
		for _, k := range ks.keys[u] {
			fps = append(fps, providers.Fingerprint(k))
		}
		f.summary = append(f.summary, fmt.Sprintf("user %q with %d SSH key(s) %s", u, len(fps), strings.Join(fps, " ")))
	}
	return f
}

// keySet collects the keys of each user in the platform's order. Each
// must be an OpenSSH public key (providers.ParseKey): other lines are left
// out, the first shownDrops named by fingerprint in a warning, the rest
// counted; so are duplicates (the same key for the same user, whatever
// its comment) and keys past providers.FragmentKeys. Linear in the lines.
type keySet struct {
	order         []string
	keys          map[string][]string
	seen          map[string]bool // user NUL type blob
	total         int
	dropped, over int
	droppedShown  []string
}

// shownDrops is how many dropped key lines are named one by one in the
// log; the rest are counted.
const shownDrops = 5

func (ks *keySet) add(user, line string) {
	k, err := providers.ParseKey(line)
	if err != nil {
		if ks.dropped++; ks.dropped <= shownDrops {
			ks.droppedShown = append(ks.droppedShown, fmt.Sprintf("left out a key line for %q (%s): %v", user, providers.Fingerprint(line), err))
		}
		return
	}
	name := user + "\x00" + k.ID()
	switch {
	case ks.seen[name]:
		return
	case ks.total >= providers.FragmentKeys:
		ks.over++
		return
	}
	ks.seen[name] = true
	ks.total++
	if _, ok := ks.keys[user]; !ok {
		ks.order = append(ks.order, user)
	}
	ks.keys[user] = append(ks.keys[user], line)
}

// warnings says what was left out.
func (ks *keySet) warnings() []string {
	w := ks.droppedShown
	if ks.dropped > shownDrops {
		w = append(w, fmt.Sprintf("left out %d more key lines that are not OpenSSH public keys", ks.dropped-shownDrops))
	}
	if ks.over > 0 {
		w = append(w, fmt.Sprintf("more than %d keys: left out the last %d", providers.FragmentKeys, ks.over))
	}
	return w
}

// hostname renders /etc/hostname, when the platform's name is one systemd
// takes.
func (f *fragment) hostname(h string) {
	if h == "" {
		return
	}
	name, note, ok := hostName(h)
	if !ok {
		if len(h) > 80 {
			h = h[:80] + "..."
		}
		f.summary = append(f.summary, fmt.Sprintf("skipped the host name %q (systemd takes letters, digits and '-' in dot-separated labels, at most %d characters)", h, hostNameMax))
		return
	}
	src := "data:," + url.PathEscape(name+"\n")
	mode, yes := 0o644, true
	f.cfg.Storage.Files = append(f.cfg.Storage.Files, config.File{
		Node: config.Node{Path: "/etc/hostname", Overwrite: &yes},
		Mode: &mode, Contents: config.Resource{Source: &src},
	})
	if note != "" {
		f.summary = append(f.summary, fmt.Sprintf("hostname %q (%q is %s)", name, h, note))
		return
	}
	f.summary = append(f.summary, fmt.Sprintf("hostname %q", name))
}

// under puts the fragment under the user's config: what the user's config
// sets wins (its /etc/hostname, its keys for the same user), and the rest
// merges as a base config does.
func (f fragment) under(user config.Config) config.Config {
	frag := f.cfg
	for _, n := range userPaths(user) {
		if n == "/etc/hostname" {
			frag.Storage.Files = nil
		}
	}
	for i := range frag.Passwd.Users {
		for _, u := range user.Passwd.Users {
			if u.Name == frag.Passwd.Users[i].Name && len(u.SSHAuthorizedKeys) > 0 {
				frag.Passwd.Users[i].SSHAuthorizedKeys = nil
			}
		}
	}
	return config.Merge(frag, user)
}

func userPaths(c config.Config) []string {
	var p []string
	for _, f := range c.Storage.Files {
		p = append(p, f.Path)
	}
	for _, d := range c.Storage.Directories {
		p = append(p, d.Path)
	}
	for _, l := range c.Storage.Links {
		p = append(p, l.Path)
	}
	return p
}

// platformFragment asks the provider for the instance's identity and
// renders it; nil when the platform publishes none, the distro turned it
// off, or there is nothing to render.
func (e *Engine) platformFragment(ctx context.Context) (*fragment, error) {
	ip, ok := e.Provider.(providers.IdentityProvider)
	if !ok {
		return nil, nil
	}
	s, err := e.fragmentSettings()
	if err != nil {
		return nil, err
	}
	if s.off {
		e.Log.Infof("platform fragment: off (%s)", fragmentConf)
		return nil, nil
	}
	done := e.Log.Op("reading the host name and SSH keys %s publishes", e.Platform)
	id, err := e.readIdentity(ctx, ip)
	done(err)
	if err != nil {
		return nil, fmt.Errorf("platform %s: host name and SSH keys: %w", e.Platform, err)
	}
	if id.Empty() && id.User == "" {
		e.Log.Infof("platform fragment: %s publishes no host name or SSH keys", e.Platform)
		return nil, nil
	}
	f := renderFragment(id, s)
	for _, w := range f.warnings {
		e.Log.Warnf("platform fragment from %s: %s", e.Platform, w)
	}
	e.Log.Infof("platform fragment from %s: %s", e.Platform, strings.Join(f.summary, "; "))
	return &f, nil
}

// readIdentity asks the provider for the instance's identity within the
// fragment's bounds: every metadata read shares one budget of bytes and
// reads (what is past it is left out with a warning), and all of them
// together end at the fetch timeout, as one fetch does (each read alone
// is bounded by it too, so without this many slow reads could hold the
// boot for hours).
func (e *Engine) readIdentity(ctx context.Context, ip providers.IdentityProvider) (providers.Identity, error) {
	budget := providers.NewBudget(providers.FragmentBytes, providers.FragmentReads)
	ictx := providers.WithBudget(ctx, budget)
	limit := e.Fetcher.TotalTimeout
	if limit > 0 {
		var cancel context.CancelFunc
		ictx, cancel = context.WithTimeout(ictx, limit)
		defer cancel()
	}
	id, err := ip.Identity(ictx, e.providerEnv())
	if err != nil && limit > 0 && errors.Is(ictx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return id, fmt.Errorf("not read within the fetch timeout (%v): %w", limit, err)
	}
	return id, err
}
