// Package cloudstack reads the user data of a CloudStack instance from
// whichever answers first: a config drive labelled config-2 or CONFIG-2
// (cloudstack/userdata/user_data.txt), or the virtual router's metadata
// service (/latest/user-data at the host "data-server", else the DHCP
// server of a networkd lease, else the default gateway).
package cloudstack

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/configdrive"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("cloudstack", func() providers.Provider { return cloudstack{} }) }

const drivePath = "cloudstack/userdata/user_data.txt"

var labels = []string{"config-2", "CONFIG-2"}

type cloudstack struct{}

func (cloudstack) Init(context.Context, *providers.Env) error { return nil }

func (cloudstack) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if e.Fetcher.Offline {
		return nil, resource.ErrNeedNet // as Ignition: the fetch stage reads both
	}
	wait := configdrive.Wait(e, 0)
	ctx, cancel := context.WithTimeout(ctx, wait+time.Second)
	defer cancel()
	return configdrive.Race(ctx, e,
		configdrive.Source{Name: "config drive", Fetch: func(ctx context.Context) ([]byte, error) {
			return configdrive.Fetch(ctx, e, "CloudStack config drive", wait, labels, drivePath)
		}},
		configdrive.Source{Name: "virtual router", Fetch: func(ctx context.Context) ([]byte, error) {
			addr, err := router(ctx, e)
			if err != nil {
				return nil, err
			}
			u := "http://" + net.JoinHostPort(addr, "80") + "/latest/user-data"
			return metadata.Fetch(ctx, e, "user data from the CloudStack virtual router "+addr, u, resource.Options{}, metadata.NotFoundIsEmpty)
		}},
	)
}

// router finds the virtual router, trying again every half second until
// ctx ends.
func router(ctx context.Context, e *providers.Env) (string, error) {
	for {
		if addrs, err := net.DefaultResolver.LookupHost(ctx, "data-server"); err == nil && len(addrs) > 0 {
			e.Log.Infof("CloudStack virtual router %s (DNS name data-server)", addrs[0])
			return addrs[0], nil
		}
		if a, err := leaseServer(); err == nil {
			e.Log.Infof("CloudStack virtual router %s (DHCP server of a networkd lease)", a)
			return a, nil
		}
		if a, err := defaultGateway("/proc/net/route"); err == nil {
			e.Log.Infof("CloudStack virtual router %s (default gateway)", a)
			return a, nil
		}
		select {
		case <-ctx.Done():
			return "", errors.New("virtual router not found (no data-server DNS name, networkd lease or default gateway)")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// leaseServer reads SERVER_ADDRESS from systemd-networkd's lease of any
// interface.
func leaseServer() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, i := range ifs {
		b, err := os.ReadFile(fmt.Sprintf("/run/systemd/netif/leases/%d", i.Index))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "SERVER_ADDRESS="); ok && v != "" {
				return v, nil
			}
		}
	}
	return "", errors.New("no lease names a server")
}

// defaultGateway reads the IPv4 default route's gateway from
// /proc/net/route (little-endian hex).
func defaultGateway(routes string) (string, error) {
	b, err := os.ReadFile(routes)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] != "00000000" {
			continue
		}
		g, err := hex.DecodeString(f[2])
		if err != nil || len(g) != 4 || f[2] == "00000000" {
			continue
		}
		return net.IPv4(g[3], g[2], g[1], g[0]).String(), nil
	}
	return "", errors.New("no default gateway")
}
