// Package scaleway reads the user data of a Scaleway instance from the
// metadata API at 169.254.42.42/user_data/cloud-init, which answers only
// connections from a privileged source port (below 1024); a 404 is no
// config.
package scaleway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("scaleway", func() providers.Provider { return scw{} }) }

const userData = "http://169.254.42.42/user_data/cloud-init"

type scw struct{}

func (scw) Init(context.Context, *providers.Env) error { return nil }

func (scw) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	f := e.Fetcher
	// a fetcher of our own, whose connections come from a port below 1024
	own := &resource.Fetcher{
		Log: f.Log, Offline: f.Offline, UserAgent: f.UserAgent, Timeouts: f.Timeouts,
		TotalTimeout: f.TotalTimeout, DialContext: privilegedDial,
	}
	env := *e
	env.Fetcher = own
	return metadata.Fetch(ctx, &env, "user data from the Scaleway metadata API", userData, resource.Options{}, metadata.NotFoundIsEmpty)
}

// privilegedDial connects from a random free source port in 1..1023, as
// the metadata API requires (root holds CAP_NET_BIND_SERVICE).
func privilegedDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var last error
	for range 32 {
		port := 1 + rand.IntN(1023)
		d := net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{Port: port}}
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			return c, nil
		}
		last = err
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free source port below 1024: %w", last)
}
