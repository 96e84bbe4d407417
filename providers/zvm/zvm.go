// Package zvm reads the config of a z/VM guest from a file in its virtual
// reader (device 000c), through the vmur program: the device is set online,
// the first spool file listed is received; an empty reader is no config.
package zvm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/providers"
)

func init() { providers.Register("zvm", func() providers.Provider { return zvm{} }) }

const reader = "0.0.000c"

type zvm struct{}

func (zvm) Init(context.Context, *providers.Env) error { return nil }

func (zvm) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	done := e.Log.Op("reading the config from the z/VM reader %s", reader)
	b, err := fetch(ctx, e)
	done(err)
	return b, err
}

func fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	// the reader is often on the cio_ignore list; a failure here shows in
	// the log, and vmur says whether the device is usable
	e.Run(ctx, command.Cmd{Name: "cio_ignore", Args: []string{"-r", reader}})
	if _, err := e.Run(ctx, command.Cmd{Name: "chccwdev", Args: []string{"-e", reader}}); err != nil {
		return nil, fmt.Errorf("setting the reader online: %w", err)
	}
	res, err := e.Run(ctx, command.Cmd{Name: "vmur", Args: []string{"li"}})
	if err != nil {
		return nil, fmt.Errorf("listing the reader: %w", err)
	}
	spool := SpoolID(string(res.Stdout))
	if spool == "" {
		e.Log.Infof("the z/VM reader holds no file: no config")
		return nil, providers.ErrNoConfig
	}
	dir, err := os.MkdirTemp("", "ignition-zvm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "config.ign")
	if _, err := e.Run(ctx, command.Cmd{Name: "vmur", Args: []string{"re", "-f", spool, out}}); err != nil {
		return nil, fmt.Errorf("receiving spool file %s: %w", spool, err)
	}
	return providers.ReadConfigFile(out)
}

// SpoolID returns the spool id of the first file in vmur li's listing
// (a header line, then ORIGINID FILE CLASS …), or "".
func SpoolID(listing string) string {
	for _, l := range strings.Split(listing, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] != "ORIGINID" && isDigits(f[1]) {
			return f[1]
		}
	}
	return ""
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
