// Package openstack (also brightbox) reads the user data of an OpenStack
// instance from whichever answers first: a config drive labelled config-2
// or CONFIG-2 (openstack/latest/user_data), or the metadata service at
// 169.254.169.254 and at fe80::a9fe:a9fe on every up interface with IPv6.
package openstack

import (
	"context"
	"net"
	"net/url"
	"time"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/configdrive"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() {
	providers.Register("openstack", func() providers.Provider { return openstack{} })
	providers.Register("brightbox", func() providers.Provider { return openstack{} })
}

const (
	userDataPath = "/openstack/latest/user_data"
	drivePath    = "openstack/latest/user_data"
)

// Labels are the config drive's labels, lower and upper case.
var Labels = []string{"config-2", "CONFIG-2"}

type openstack struct{}

func (openstack) Init(context.Context, *providers.Env) error { return nil }

// Fetch races the drive and the metadata service. A 404 from the service
// is no config; the drive is waited for up to the fetch timeout (Ignition
// waits for ever when the service fails).
func (openstack) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if e.Fetcher.Offline {
		return nil, resource.ErrNeedNet // as Ignition: the fetch stage reads both
	}
	wait := configdrive.Wait(e, 0)
	srcs := []configdrive.Source{{
		Name: "config drive",
		Fetch: func(ctx context.Context) ([]byte, error) {
			return configdrive.Fetch(ctx, e, "OpenStack config drive", wait, Labels, drivePath)
		},
	}}
	for _, u := range URLs() {
		srcs = append(srcs, configdrive.Source{
			Name: "metadata service " + u,
			Fetch: func(ctx context.Context) ([]byte, error) {
				return metadata.Fetch(ctx, e, "user data from the OpenStack metadata service at "+u, u, resource.Options{}, metadata.NotFoundIsEmpty)
			},
		})
	}
	ctx, cancel := context.WithTimeout(ctx, wait+time.Second)
	defer cancel()
	return configdrive.Race(ctx, e, srcs...)
}

// URLs lists the metadata service's user-data URLs: IPv4, then the IPv6
// link-local address through each up interface that has IPv6.
func URLs() []string {
	out := []string{"http://169.254.169.254" + userDataPath}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil && n.IP.To16() != nil {
				u := url.URL{Scheme: "http", Host: "[fe80::a9fe:a9fe%" + i.Name + "]", Path: userDataPath}
				out = append(out, u.String())
				break
			}
		}
	}
	return out
}
