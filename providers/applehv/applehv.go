// Package applehv reads the config of a VM on Apple's Virtualization
// framework (vfkit) with an HTTP GET to the host over vsock (CID 2, port
// 1024); a 404 is no config.
package applehv

import (
	"context"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("applehv", func() providers.Provider { return &AppleHV{} }) }

const (
	hostCID = 2 // VMADDR_CID_HOST
	port    = 1024
	// url is what the request names: the connection goes over vsock
	// whatever the host part says.
	url = "http://applehv-host/"
)

// AppleHV is the provider; Dial, when set, replaces the vsock dial (tests).
type AppleHV struct {
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (a *AppleHV) Init(context.Context, *providers.Env) error { return nil }

func (a *AppleHV) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	dial := a.Dial
	if dial == nil {
		dial = vsockDial
	}
	f := e.Fetcher
	env := *e
	env.Fetcher = &resource.Fetcher{
		Log: f.Log, Offline: f.Offline, UserAgent: f.UserAgent, Timeouts: f.Timeouts,
		TotalTimeout: f.TotalTimeout, DialContext: dial,
	}
	return metadata.Fetch(ctx, &env, "the config from the host over vsock port 1024", url, resource.Options{}, metadata.NotFoundIsEmpty)
}

// vsockDial connects to the host's vsock port, whatever addr says.
func vsockDial(ctx context.Context, _, _ string) (net.Conn, error) {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vsock socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrVM{CID: hostCID, Port: port}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vsock connect to the host, port %d: %w", port, err)
	}
	f := os.NewFile(uintptr(fd), "vsock")
	defer f.Close()
	return net.FileConn(f)
}
