// Package testenv is how tests say they cannot run here: on a laptop they
// skip with the reason, but in CI (the CI variable set) a test that would
// skip fails, so a partial run never passes as a whole one.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
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
			Skip(t, "%s is not installed (make test-deps installs it)", n)
		}
	}
}

// MainWithIgnition runs a test binary's tests with the ignition command
// built once for them (or $IGNITION_BIN when set), and exports its path
// as IGNITION_BIN (runs inside network namespaces re-exec the test binary).
// pkg is the command's package path relative to the test's directory.
func MainWithIgnition(m interface{ Run() int }, pkg string, bin *string) {
	if p := os.Getenv("IGNITION_BIN"); p != "" {
		*bin = p
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ignition-bin-")
	if err != nil {
		panic(err)
	}
	*bin = filepath.Join(dir, "ignition")
	cmd := exec.Command("go", "build", "-o", *bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	os.Setenv("IGNITION_BIN", *bin)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// NopLog is a logger (Infof, Warnf, Op) that drops everything, for tests
// of code that logs.
type NopLog struct{}

func (NopLog) Infof(string, ...any)          {}
func (NopLog) Warnf(string, ...any)          {}
func (NopLog) Op(string, ...any) func(error) { return func(error) {} }
