// Package openstack (also brightbox) reads the user data of an OpenStack
// instance from a config drive labelled config-2 or CONFIG-2
// (openstack/latest/user_data) when one is attached, else from whichever
// answers first: the drive, or the metadata service at 169.254.169.254 and
// at fe80::a9fe:a9fe on every up interface with IPv6.
package openstack

import (
	"bytes"
	"context"
	"errors"
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

// The files the provider reads, on the drive and under the service's root.
const (
	userData = "openstack/latest/user_data"
	metaData = "openstack/latest/meta_data.json"
)

// Labels are the config drive's labels, lower and upper case.
var Labels = []string{"config-2", "CONFIG-2"}

type openstack struct{}

func (openstack) Init(context.Context, *providers.Env) error { return nil }

// Fetch reads the user data from the drive or the service. A 404 from the
// service is no config; the drive is waited for up to the fetch timeout
// (Ignition waits for ever when the service fails).
func (openstack) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if e.Fetcher.Offline {
		return nil, resource.ErrNeedNet // as Ignition: the fetch stage reads both
	}
	return read(ctx, e, "user data", userData, resource.Options{})
}

// read gets path from an attached config drive, without asking the
// metadata service (a cloud with config drives only must not wait for a
// service that never answers). With no drive attached yet, or one that
// cannot be read, it races the drive, waited for up to the fetch timeout,
// and the service at each of its addresses: the first to answer wins. A
// drive without the file, or a 404 from the service, is ErrNoConfig.
func read(ctx context.Context, e *providers.Env, what, path string, o resource.Options) ([]byte, error) {
	if b, ok, err := attached(e, path); ok && (err == nil || errors.Is(err, providers.ErrNoConfig)) {
		return b, err
	} else if ok {
		// the drive is there but cannot be read (yet): the service may
		// still answer
		e.Log.Warnf("OpenStack config drive: %v; trying the drive and the metadata service", err)
	}
	wait := configdrive.Wait(e, 0)
	srcs := []configdrive.Source{{
		Name: "config drive",
		Fetch: func(ctx context.Context) ([]byte, error) {
			return configdrive.Fetch(ctx, e, "OpenStack config drive", wait, Labels, path)
		},
	}}
	for _, u := range URLs(path) {
		srcs = append(srcs, configdrive.Source{
			Name: "metadata service " + u,
			Fetch: func(ctx context.Context) ([]byte, error) {
				return metadata.Fetch(ctx, e, what+" from the OpenStack metadata service at "+u, u, o, metadata.NotFoundIsEmpty)
			},
		})
	}
	ctx, cancel := context.WithTimeout(ctx, wait+time.Second)
	defer cancel()
	return configdrive.Race(ctx, e, srcs...)
}

// attached reads path from a config drive that is attached now, without
// waiting; ok is false when none is.
func attached(e *providers.Env, path string) (b []byte, ok bool, err error) {
	now, cancel := context.WithCancel(context.Background())
	cancel() // one scan of the block devices, no wait
	d, err := configdrive.Find(now, e, Labels...)
	if errors.Is(err, configdrive.ErrNoDrive) {
		return nil, false, nil
	}
	e.Log.Infof("config source: config drive %s (attached: the metadata service is not asked)", d.Dev)
	files, err := d.Files(e, path)
	if err != nil {
		return nil, true, err
	}
	if b = files[path]; len(bytes.TrimSpace(b)) == 0 {
		e.Log.Infof("OpenStack config drive %s holds no %s", d.Dev, path)
		return nil, true, providers.ErrNoConfig
	}
	return b, true, nil
}

// URLs lists the metadata service's URLs of path: IPv4, then the IPv6
// link-local address through each up interface that has IPv6.
func URLs(path string) []string {
	out := []string{"http://169.254.169.254/" + path}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil && n.IP.To16() != nil {
				u := url.URL{Scheme: "http", Host: "[fe80::a9fe:a9fe%" + i.Name + "]", Path: "/" + path}
				out = append(out, u.String())
				break
			}
		}
	}
	return out
}
