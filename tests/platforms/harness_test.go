// Package platforms runs the real ignition binary, as a distro's units do,
// against config sources: the kernel command line over http, system
// configs, and each platform's metadata service (AWS's own emulator, fakes
// of GCE and Azure written from their docs) at its real address inside a
// network namespace the test makes.
package platforms

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
)

var ignitionBin string

func TestMain(m *testing.M) { testenv.MainWithIgnition(m, "../../cmd/ignition", &ignitionBin) }

// machine is one provisioning run's world: a target root, the run-state
// directory, the system config dirs and a kernel command line.
type machine struct {
	t                      *testing.T
	root, state, sys, conf string
	env                    []string
}

func newMachine(t *testing.T) *machine {
	d := t.TempDir()
	m := &machine{t: t, root: filepath.Join(d, "root"), state: filepath.Join(d, "run"), sys: filepath.Join(d, "sys"), conf: filepath.Join(d, "config.ign")}
	for _, p := range []string{m.root, m.state, m.sys} {
		os.MkdirAll(p, 0o755)
	}
	m.cmdline("")
	// no block device of this machine is listed to the binary: the
	// config-drive and CD-ROM platforms find none and open none
	os.MkdirAll(filepath.Join(d, "no-block-devices"), 0o755)
	m.env = []string{
		"IGNITION_SYS_BLOCK_DIR=" + filepath.Join(d, "no-block-devices"),
		"IGNITION_KERNEL_CMDLINE_PATH=" + filepath.Join(d, "cmdline"),
		"IGNITION_SYSTEM_CONFIG_DIR=" + m.sys, "IGNITION_SYSTEM_RUNTIME_CONFIG_DIR=" + m.sys, "IGNITION_SYSTEM_LOCAL_CONFIG_DIR=" + m.sys,
		"IGNITION_CONFIG_FILE=" + m.conf,
	}
	return m
}

func (m *machine) cmdline(s string) {
	os.WriteFile(filepath.Join(filepath.Dir(m.root), "cmdline"), []byte(s+"\n"), 0o644)
}

func (m *machine) write(path, data string) {
	m.t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

type result struct {
	code   int
	out    string // the log (-log-to-stdout)
	stderr string
	took   time.Duration
}

func (m *machine) run(platform, stage string, extra ...string) result {
	m.t.Helper()
	args := append([]string{"-platform", platform, "-stage", stage, "-root", m.root, "-log-to-stdout",
		"-config-cache", filepath.Join(m.state, "ignition.json"), "-state-file", filepath.Join(m.state, "state"),
		"-neednet", filepath.Join(m.state, "neednet")}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ignitionBin, args...)
	cmd.Env = append(os.Environ(), m.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{out: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		m.t.Fatal(err)
	}
	return r
}

func (m *machine) cache() (map[string]any, bool) {
	b, err := os.ReadFile(filepath.Join(m.state, "ignition.json"))
	if err != nil {
		return nil, false
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		m.t.Fatalf("cache is not JSON: %v", err)
	}
	return c, true
}

func (m *machine) exists(name string) bool {
	_, err := os.Stat(filepath.Join(m.state, name))
	return err == nil
}

// files lists the paths of storage.files in a cached config.
func files(c map[string]any) []string {
	var out []string
	st, _ := c["storage"].(map[string]any)
	fs, _ := st["files"].([]any)
	for _, f := range fs {
		out = append(out, f.(map[string]any)["path"].(string))
	}
	return out
}

// serveAt starts an http server for h at addr (inside a test's namespace,
// the real metadata addresses) and stops it when the test ends.
func serveAt(t *testing.T, addr string, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}

func execIgnition(args ...string) *exec.Cmd { return exec.Command(ignitionBin, args...) }

func serveListener(l net.Listener, h http.Handler) { (&http.Server{Handler: h}).Serve(l) }
