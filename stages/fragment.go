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

// hostName is what /etc/hostname gets from a platform: labels of letters,
// digits, '-' and '_' joined by dots, at most 64 characters (the kernel's
// limit); anything else (a display name with spaces, control characters)
// is not written.
var hostName = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$`)

// fragment is a rendered platform fragment, with what to log about it.
type fragment struct {
	cfg     config.Config
	summary []string // hostname and keys by fingerprint
}

// renderFragment turns an identity into a config: /etc/hostname, and each
// user with their keys.
func renderFragment(id providers.Identity, s fragmentSettings) fragment {
	var f fragment
	f.cfg.Ignition.Version = config.Newest.String()
	if id.Hostname != "" && (len(id.Hostname) > 64 || !hostName.MatchString(id.Hostname)) {
		f.summary = append(f.summary, fmt.Sprintf("skipped the host name %q (not a host name: letters, digits, '-', '_' and '.', at most 64)", id.Hostname))
	} else if id.Hostname != "" {
		src := "data:," + url.PathEscape(id.Hostname+"\n")
		mode, yes := 0o644, true
		f.cfg.Storage.Files = append(f.cfg.Storage.Files, config.File{
			Node: config.Node{Path: "/etc/hostname", Overwrite: &yes},
			Mode: &mode, Contents: config.Resource{Source: &src},
		})
		f.summary = append(f.summary, fmt.Sprintf("hostname %q", id.Hostname))
	}
	var order []string
	keys := map[string][]string{}
	add := func(user, key string) {
		if _, ok := keys[user]; !ok {
			order = append(order, user)
		}
		for _, k := range keys[user] {
			if k == key {
				return
			}
		}
		keys[user] = append(keys[user], key)
	}
	owner := id.User
	if owner == "" {
		owner = s.user
	}
	for _, k := range id.Keys {
		add(owner, k)
	}
	for _, uk := range id.UserKeys {
		add(uk.User, uk.Key)
	}
	if len(id.Keys) == 0 && id.User != "" {
		order = append(order, id.User) // the admin user, even without keys
	}
	for _, u := range order {
		if !userName.MatchString(u) || u == "root" {
			// what the platform says is not trusted to be a sane user name
			f.summary = append(f.summary, fmt.Sprintf("skipped the user name %q (not a plain user name)", u))
			continue
		}
		f.cfg.Passwd.Users = append(f.cfg.Passwd.Users, config.PasswdUser{Name: u, SSHAuthorizedKeys: keys[u]})
		var fps []string
		for _, k := range keys[u] {
			fps = append(fps, providers.Fingerprint(k))
		}
		f.summary = append(f.summary, fmt.Sprintf("user %q with %d SSH key(s) %s", u, len(fps), strings.Join(fps, " ")))
	}
	return f
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
	id, err := ip.Identity(ctx, e.providerEnv())
	done(err)
	if err != nil {
		return nil, fmt.Errorf("platform %s: host name and SSH keys: %w", e.Platform, err)
	}
	if id.Empty() && id.User == "" {
		e.Log.Infof("platform fragment: %s publishes no host name or SSH keys", e.Platform)
		return nil, nil
	}
	f := renderFragment(id, s)
	e.Log.Infof("platform fragment from %s: %s", e.Platform, strings.Join(f.summary, "; "))
	return &f, nil
}
