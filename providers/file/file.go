// Package file reads the config from the file Env.ConfigFile names, else
// IGNITION_CONFIG_FILE, else ./config.ign: for tests and for running
// against a directory.
package file

import (
	"context"
	"fmt"

	"github.com/ignition-go/ignition/providers"
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
	b, err := providers.ReadConfigFile(name)
	if err != nil {
		err = fmt.Errorf("config file: %w", err)
	}
	done(err)
	return b, err
}
