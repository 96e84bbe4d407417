// Command genschema writes the JSON Schema of every supported Ignition spec
// version, as config.Schema generates it, to <out>/ignition-<version>.json.
//
//	go run ./internal/cmd/genschema -out docs/schema
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ignition-go/ignition/config"
)

func main() {
	out := flag.String("out", "docs/schema", "directory to write ignition-<version>.json into")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: genschema [-out dir]")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genschema:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, v := range config.SupportedVersions {
		b, err := config.Schema(v)
		if err != nil {
			return err
		}
		name := filepath.Join(dir, "ignition-"+v.String()+".json")
		if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, b) {
			continue // unchanged: keep the file's modification time
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
