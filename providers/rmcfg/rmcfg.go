// Package rmcfg is ignition-rmcfg: after the first boot it deletes the
// config from the platforms that keep it where the guest can read it for
// ever (VMware guestinfo, VirtualBox guest properties), as Ignition's
// command of that name does.
package rmcfg

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/log"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// Deleter is a provider that can delete the config it read.
type Deleter interface {
	DelConfig(ctx context.Context, e *providers.Env) error
}

// Main runs ignition-rmcfg with args (without argv[0]) and returns the
// exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ignition-rmcfg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platform := fs.String("platform", "", "current platform")
	toStdout := fs.Bool("log-to-stdout", false, "log to stdout instead of the system log")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *platform == "" {
		fmt.Fprintln(stderr, "ignition-rmcfg: -platform is required")
		return 2
	}
	p, ok := providers.Get(*platform)
	if !ok {
		fmt.Fprintf(stderr, "ignition-rmcfg: unknown platform %q\n", *platform)
		return 2
	}
	d, ok := p.(Deleter)
	if !ok {
		fmt.Fprintf(stderr, "ignition-rmcfg: platform %q keeps no config to delete\n", *platform)
		return 1
	}
	logger := log.New("rmcfg", *toStdout, stdout)
	defer logger.Close()
	env := &providers.Env{
		Fetcher: &resource.Fetcher{Log: logger.Logf, TotalTimeout: time.Minute},
		Log:     logger, Runner: &command.Exec{Log: logger},
	}
	done := logger.Op("deleting the config from platform %s", *platform)
	err := d.DelConfig(context.Background(), env)
	done(err)
	if err != nil {
		fmt.Fprintf(stderr, "ignition-rmcfg: %v\n", err)
		return 1
	}
	return 0
}
