// Package providers holds the registry of platforms: each platform package
// registers a Provider that knows where that platform keeps the user config.
package providers

import (
	"context"
	"errors"
	"sort"
	"sync"

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

// Env is what a provider works with.
type Env struct {
	Fetcher *resource.Fetcher
	Log     Logger
}

// Provider finds the user config of one platform.
type Provider interface {
	// Init runs in every stage before anything is fetched: it tells the
	// fetcher about the platform (S3 region, cloud credentials). It must
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
