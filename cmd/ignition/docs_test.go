package main

import (
	"os"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/providers"
	_ "github.com/ignition-go/ignition/providers/all"
)

// The README's usage and the operators' kernel-argument table name every
// platform id the command accepts, so a reader never takes a missing one
// for unsupported.
func TestDocsNameEveryPlatform(t *testing.T) {
	names := providers.Names()
	if len(names) != 31 {
		t.Errorf("providers.Names() has %d ids; want Ignition's 31", len(names))
	}
	for _, doc := range []string{"../../README.md", "../../docs/operators.md", "../../docs/platforms.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if !strings.Contains(string(b), "`"+n+"`") {
				t.Errorf("%s does not name the platform `%s`", doc, n)
			}
		}
	}
}
