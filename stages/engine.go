// Package stages runs the stages of a first boot: it finds the user
// config (kernel command line, system config, then the platform), renders
// its merge and replace references, validates it before anything is
// touched, caches it for the later stages, and runs each stage.
package stages

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/log"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
	"github.com/ignition-go/ignition/stages/disks"
	"github.com/ignition-go/ignition/stages/files"
)

// Engine holds what every stage needs.
type Engine struct {
	Platform    string
	Provider    providers.Provider
	Log         *log.Logger
	Fetcher     *resource.Fetcher
	Root        string
	ConfigCache string
	StateFile   string
	NeedNetFile string
	CmdlinePath string
	// SystemDirs are searched for user.ign and base configs, highest
	// priority first: runtime (/run/ignition), local (/etc/ignition),
	// system (/usr/lib/ignition).
	SystemDirs []string
	DryRun     bool
	// Out receives the plan in dry-run mode (default stdout).
	Out io.Writer
	// Runner runs every external program (default: for real, logged).
	Runner command.Runner
	// KargsHelper is the program the kargs stage hands kernel arguments
	// to (default DefaultKargsHelper).
	KargsHelper string
	// KeysToAuthorizedKeys writes SSH keys to ~/.ssh/authorized_keys
	// rather than the authorized_keys.d/ignition fragment.
	KeysToAuthorizedKeys bool
	// ProviderEnv, when set, is the template of what providers get (paths
	// of sysfs and devices, the config file of the file platform); its
	// Fetcher and Log are the engine's.
	ProviderEnv providers.Env
}

// providerEnv is what the platform's provider works with.
func (e *Engine) providerEnv() *providers.Env {
	env := e.ProviderEnv
	env.Fetcher, env.Log = e.Fetcher, e.Log
	if env.Runner == nil {
		env.Runner = e.runner()
	}
	return &env
}

// State passes facts from the fetch stages to the later ones.
type State struct {
	FetchedConfigs     []FetchedConfig `json:"fetchedConfigs"`
	UserConfigProvided bool            `json:"userConfigProvided"`
	// DevAliases maps the config's device paths to the nodes the disks
	// stage found or made (udev may not have made /dev/disk links yet).
	DevAliases map[string]string `json:"devAliases,omitempty"`
	// Mounts are what the mount stage mounted, for umount.
	Mounts []disks.Mounted `json:"mounts,omitempty"`
	// MountPoints are the directories the mount stage created.
	MountPoints []string `json:"mountPoints,omitempty"`
	// LuksKeys are the LUKS volumes the disks stage made or opened, with
	// the key files the files stage persists in the target (the state file
	// is root's alone, on tmpfs).
	LuksKeys []disks.Key `json:"luksKeys,omitempty"`
	// FragmentUsers are the users only the platform fragment names (not
	// the user's or the base configs): the files stage gives them keys
	// only as login accounts of the target.
	FragmentUsers []files.FragmentUser `json:"fragmentUsers,omitempty"`
}

// FetchedConfig records one config that was read, by redacted source.
type FetchedConfig struct {
	Kind       string `json:"kind"` // base or user
	Source     string `json:"source"`
	Referenced bool   `json:"referenced"`
}

// ErrInvalidConfig is a config that fails validation; the report has been logged.
var ErrInvalidConfig = errors.New("config is not valid")

// parse validates raw config bytes from a source and logs the report
// (never the config itself).
func (e *Engine) parse(raw []byte, source string) (config.Config, error) {
	res, err := config.Parse(raw)
	for _, ent := range res.Report.Entries {
		if ent.Severity == config.SeverityError {
			e.Log.Errorf("%s: %s", source, ent)
		} else {
			e.Log.Warnf("%s: %s", source, ent)
		}
	}
	if err != nil {
		return config.Config{}, fmt.Errorf("%s: %w: %d error(s), see the log", source, ErrInvalidConfig, res.Report.Errors())
	}
	return res.Config, nil
}

// BaseConfig merges base.d/*.ign and then base.platform.d/<platform>/*.ign
// from the system dirs; a file in a higher-priority dir shadows the same
// name lower down, and files merge in name order.
func (e *Engine) BaseConfig(st *State) (config.Config, error) {
	var base config.Config
	for _, sub := range []string{"base.d", filepath.Join("base.platform.d", e.Platform)} {
		files := map[string]string{}
		for i := len(e.SystemDirs) - 1; i >= 0; i-- {
			matches, _ := filepath.Glob(filepath.Join(e.SystemDirs[i], sub, "*.ign"))
			for _, m := range matches {
				files[filepath.Base(m)] = m
			}
		}
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p := files[n]
			raw, err := providers.ReadConfigFile(p)
			if err != nil {
				return base, fmt.Errorf("base config: %w", err)
			}
			c, err := e.parse(raw, p)
			if err != nil {
				return base, err
			}
			e.Log.Infof("base config %s", p)
			base = config.Merge(base, c)
			if st != nil {
				st.FetchedConfigs = append(st.FetchedConfigs, FetchedConfig{Kind: "base", Source: p})
			}
		}
	}
	return base, nil
}

// kernelArgs reads the ignition.* arguments of the kernel command line.
func (e *Engine) kernelArgs() (map[string]string, error) {
	p := e.CmdlinePath
	if p == "" {
		p = "/proc/cmdline"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("kernel command line: %w", err)
	}
	args := map[string]string{}
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		if strings.HasPrefix(k, "ignition.") {
			args[k] = strings.Trim(v, `"`)
		}
	}
	return args, nil
}

// userConfig finds the raw user config: ignition.config.url, then
// ignition.config.device + .path, then user.ign in the system dirs, then
// the platform. nil means there is none (an empty config).
func (e *Engine) userConfig(ctx context.Context, st *State) ([]byte, string, error) {
	args, err := e.kernelArgs()
	if err != nil {
		return nil, "", err
	}
	if u := args["ignition.config.url"]; u != "" {
		if args["ignition.config.device"] != "" {
			e.Log.Warnf("both ignition.config.url and ignition.config.device are set; using the URL")
		}
		done := e.Log.Op("fetching config from %s (kernel command line)", resource.Redact(u))
		b, err := e.Fetcher.FetchBytes(ctx, u, resource.Options{Config: true})
		done(err)
		return b, resource.Redact(u), err
	}
	if dev, path := args["ignition.config.device"], args["ignition.config.path"]; dev != "" || path != "" {
		if dev == "" || path == "" {
			return nil, "", errors.New("kernel command line: ignition.config.device and ignition.config.path go together")
		}
		b, err := readFromDevice(ctx, e, dev, path)
		return b, "device " + dev + ":" + path, err
	}
	for _, d := range e.SystemDirs {
		p := filepath.Join(d, "user.ign")
		if b, err := providers.ReadConfigFile(p); err == nil {
			e.Log.Infof("using system config %s", p)
			return b, p, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("system config: %w", err)
		}
	}
	b, err := e.Provider.Fetch(ctx, e.providerEnv())
	if errors.Is(err, providers.ErrNoConfig) {
		return nil, "platform " + e.Platform, nil
	}
	return b, "platform " + e.Platform, err
}

// Acquire finds, fetches, renders and validates the user config. The
// config is complete (every merge and replace resolved, CAs inlined) and
// valid when it returns without error.
func (e *Engine) Acquire(ctx context.Context, st *State) (config.Config, error) {
	raw, source, err := e.userConfig(ctx, st)
	if err != nil {
		return config.Config{}, err
	}
	st.FetchedConfigs = append(st.FetchedConfigs, FetchedConfig{Kind: "user", Source: source})
	if len(strings.TrimSpace(string(raw))) == 0 {
		e.Log.Infof("%s: no user config; continuing with an empty config", source)
		st.UserConfigProvided = false
		return emptyConfig(), nil
	}
	st.UserConfigProvided = true
	cfg, err := e.parse(raw, source)
	if err != nil {
		return cfg, err
	}
	refs := len(st.FetchedConfigs)
	cfg, err = e.render(ctx, e.Fetcher, cfg, st, 0)
	if err != nil || len(st.FetchedConfigs) == refs {
		return cfg, err
	}
	// configs that are valid alone can clash once merged (the same path
	// as a file in one and a directory in the other): check the whole
	// before it is cached
	b, err := json.Marshal(cfg)
	if err != nil {
		return cfg, err
	}
	return e.parse(b, source+" merged with the configs it references")
}

func emptyConfig() config.Config {
	var c config.Config
	c.Ignition.Version = config.Newest.String()
	return c
}

const maxRenderDepth = 10

// render resolves ignition.config.replace and .merge depth-first, each
// child fetched with its parent's settings and rendered with its own
// timeouts, proxy and CAs; CAs are inlined as data URLs.
func (e *Engine) render(ctx context.Context, parent *resource.Fetcher, cfg config.Config, st *State, depth int) (config.Config, error) {
	if depth > maxRenderDepth {
		return cfg, fmt.Errorf("config references nest deeper than %d levels", maxRenderDepth)
	}
	f := parent.With(cfg.Ignition.Timeouts, cfg.Ignition.Proxy)
	cas := cfg.Ignition.Security.TLS.CertificateAuthorities
	for i, ca := range cas {
		src := deref(ca.Source)
		done := e.Log.Op("fetching certificate authority %s", resource.Redact(src))
		o := resource.FromResource(ca)
		o.MaxSize = config.MaxCABundleSize
		pem, err := parent.FetchBytes(ctx, src, o)
		if err == nil {
			err = f.AddCA(pem)
		}
		done(err)
		if err != nil {
			return cfg, fmt.Errorf("certificate authority %s: %w", resource.Redact(src), err)
		}
		inline := "data:;base64," + base64.StdEncoding.EncodeToString(pem)
		cas[i] = config.Resource{Source: &inline}
	}
	refs := cfg.Ignition.Config
	cfg.Ignition.Config = config.IgnitionConfig{}
	if refs.Replace.Source != nil {
		child, err := e.fetchChild(ctx, f, refs.Replace, st, "replacing")
		if err != nil {
			return cfg, err
		}
		return e.render(ctx, f, child, st, depth+1)
	}
	for _, m := range refs.Merge {
		child, err := e.fetchChild(ctx, f, m, st, "merging")
		if err != nil {
			return cfg, err
		}
		child, err = e.render(ctx, f, child, st, depth+1)
		if err != nil {
			return cfg, err
		}
		cfg = config.Merge(cfg, child)
	}
	return cfg, nil
}

func (e *Engine) fetchChild(ctx context.Context, f *resource.Fetcher, r config.Resource, st *State, what string) (config.Config, error) {
	src := deref(r.Source)
	o := resource.FromResource(r)
	o.Config = true
	done := e.Log.Op("fetching config %s (%s)", resource.Redact(src), what)
	raw, err := f.FetchBytes(ctx, src, o)
	done(err)
	if err != nil {
		return config.Config{}, err
	}
	st.FetchedConfigs = append(st.FetchedConfigs, FetchedConfig{Kind: "user", Source: resource.Redact(src), Referenced: true})
	return e.parse(raw, resource.Redact(src))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// NeedsNetwork reports whether applying cfg needs the network: a remote
// source anywhere, a tang server without an advertisement, or a custom
// clevis pin that says so.
func NeedsNetwork(cfg config.Config) bool {
	remote := func(r config.Resource) bool {
		s := deref(r.Source)
		if s == "" {
			return false
		}
		u, err := url.Parse(s)
		return err != nil || u.Scheme != "data"
	}
	for _, f := range cfg.Storage.Files {
		if remote(f.Contents) {
			return true
		}
		for _, a := range f.Append {
			if remote(a) {
				return true
			}
		}
	}
	for _, ca := range cfg.Ignition.Security.TLS.CertificateAuthorities {
		if remote(ca) {
			return true
		}
	}
	for _, l := range cfg.Storage.Luks {
		if remote(l.KeyFile) {
			return true
		}
		for _, t := range l.Clevis.Tang {
			if t.Advertisement == nil || *t.Advertisement == "" {
				return true
			}
		}
		if l.Clevis.Custom.NeedsNetwork != nil && *l.Clevis.Custom.NeedsNetwork {
			return true
		}
	}
	return false
}

// WriteCache stores the rendered user config atomically, readable by root
// only (it may hold secrets).
func (e *Engine) WriteCache(cfg config.Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return writeAtomic(e.ConfigCache, b, 0o600)
}

// LoadConfig is what the stages after fetch work on: the cached user config
// merged over the base configs. The fetch stage validated the config
// before caching it in the newest spec, so it is read back as it is; a
// cache in any other shape (written by something else) is parsed and
// validated in full.
func (e *Engine) LoadConfig() (config.Config, error) {
	raw, err := os.ReadFile(e.ConfigCache)
	if errors.Is(err, os.ErrNotExist) {
		return config.Config{}, fmt.Errorf("no cached config at %s: run the fetch stages first", e.ConfigCache)
	}
	if err != nil {
		return config.Config{}, err
	}
	var user config.Config
	if json.Unmarshal(raw, &user) != nil || user.Ignition.Version != config.Newest.String() {
		if user, err = e.parse(raw, e.ConfigCache); err != nil {
			return user, err
		}
	}
	base, err := e.BaseConfig(nil)
	if err != nil {
		return user, err
	}
	return config.Merge(base, user), nil
}

// SaveState and LoadState keep the state file.
func (e *Engine) SaveState(st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeAtomic(e.StateFile, b, 0o600)
}

func (e *Engine) LoadState() (State, error) {
	var st State
	b, err := os.ReadFile(e.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// writeAtomic writes through a temp file in the same directory, fsync and
// rename: readers see the old file or the new one, never half of it.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
