// Package file reads the config from the file Env.ConfigFile names, else
// IGNITION_CONFIG_FILE, else ./config.ign: for tests and for running
// against a directory. The file is read only when it is a regular file
// (a FIFO or device there fails at once instead of blocking), at most
// config.MaxConfigSize bytes.
package file

import (
	"context"
	"fmt"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/media"
)

func init() { providers.Register("file", func() providers.Provider { return file{} }) }

type file struct{}

func (file) Init(context.Context, *providers.Env) error { return nil }

func (file) Fetch(_ context.Context, e *providers.Env) ([]byte, error) {
	name := e.ConfigFile
	if name == "" {
		name = e.LookupEnv("IGNITION_CONFIG_FILE")
	}
	if name == "" {
		name = "config.ign"
	}
	done := e.Log.Op("reading config file %s", name)
	b, err := media.ReadPath(name, "config", config.MaxConfigSize)
	if err != nil {
		err = fmt.Errorf("config file: %w", err)
	}
	done(err)
	return b, err
}
