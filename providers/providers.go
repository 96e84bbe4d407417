// Package providers holds the registry of platforms: each platform package
// registers a Provider that knows where that platform keeps the user config.
package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/providers/media"
	"github.com/ignition-go/ignition/resource"
)

// ErrNoConfig means the platform holds no user config: provisioning goes
// on with an empty config.
var ErrNoConfig = errors.New("the platform holds no user config")

// Logger is what providers log through.
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Op(format string, args ...any) func(error)
}

// Env is what a provider works with. The zero value of each path means
// the real one, so that `&Env{Fetcher: f, Log: l}` is a real machine and
// tests point providers at directories of their own.
type Env struct {
	Fetcher *resource.Fetcher
	Log     Logger

	// FwCfgDir is QEMU's fw_cfg directory (default /sys/firmware/qemu_fw_cfg).
	FwCfgDir string
	// SysBlockDir lists block devices (default /sys/class/block), and
	// DevDir is where they are opened (default /dev): the CD-ROM providers.
	SysBlockDir string
	DevDir      string
	// ConfigFile is the file platform's config; empty means the variable
	// IGNITION_CONFIG_FILE, and ./config.ign when that is empty too.
	ConfigFile string
	// Getenv looks up environment variables (default os.Getenv).
	Getenv func(key string) string
	// Runner runs external programs (modprobe); nil runs them for real.
	Runner command.Runner
}

// Run runs an external program through e.Runner.
func (e *Env) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	r := e.Runner
	if r == nil {
		r = &command.Exec{Log: e.Log}
	}
	return r.Run(ctx, c)
}

// Dir returns dir, or def when dir is empty: Env's paths with their defaults.
func Dir(dir, def string) string {
	if dir == "" {
		return def
	}
	return dir
}

// LookupEnv returns an environment variable through e.Getenv.
func (e *Env) LookupEnv(key string) string {
	if e.Getenv != nil {
		return e.Getenv(key)
	}
	return os.Getenv(key)
}

// ReadConfig reads a config from a local source (a file, a sysfs entry, a
// CD-ROM), refusing one larger than config.MaxConfigSize: it reads at most
// one byte past the cap. name says where it came from, in errors.
func ReadConfig(r io.Reader, name string) ([]byte, error) {
	b, err := resource.ReadLimited(r, config.MaxConfigSize, "config")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// ReadConfigFile reads a config file of the running system (a system
// user.ign, a base config, the z/VM spool file) as media.ReadPath does:
// only a regular file, at most config.MaxConfigSize bytes, so a FIFO or a
// device there fails at once instead of blocking or running a driver. A
// missing file matches fs.ErrNotExist.
func ReadConfigFile(name string) ([]byte, error) {
	return media.ReadPath(name, "config", config.MaxConfigSize)
}

// Provider finds the user config of one platform.
type Provider interface {
	// Init runs in every stage before anything is fetched: it tells the
	// fetcher about the platform (S3 region, cloud credentials) through
	// its Set methods, which are safe while other fetches run. It must
	// not fail when the network is not up yet (fetch-offline).
	Init(ctx context.Context, e *Env) error
	// Fetch returns the raw user config, or ErrNoConfig.
	Fetch(ctx context.Context, e *Env) ([]byte, error)
}

// Reporter is a provider that tells the platform how provisioning went
// (Azure: Ready or NotReady to the wireserver). detail says what failed,
// without secrets.
type Reporter interface {
	Report(ctx context.Context, e *Env, ok bool, detail string) error
}

var (
	mu       sync.Mutex
	registry = map[string]func() Provider{}
)

// Register adds a platform by name.
func Register(name string, p func() Provider) {
	mu.Lock()
	defer mu.Unlock()
	registry[name] = p
}

// Get returns the provider of a platform.
func Get(name string) (Provider, bool) {
	mu.Lock()
	defer mu.Unlock()
	p, ok := registry[name]
	if !ok {
		return nil, false
	}
	return p(), true
}

// Names lists the registered platforms, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
