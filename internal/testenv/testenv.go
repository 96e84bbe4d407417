// Package testenv is how tests say they cannot run here: on a laptop they
// skip with the reason, but in CI (the CI variable set) a test that would
// skip fails, so a partial run never passes as a whole one.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Skip skips the test, or fails it in CI.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// NeedRoot skips (or fails in CI) unless the test runs as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (%s)", why)
	}
}

// NeedTools skips (or fails in CI) unless every program is on the PATH.
func NeedTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Skip(t, "%s is not installed (make deps installs it)", n)
		}
	}
}
