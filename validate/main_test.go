package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
)

// buildCLI builds the real binary once, as a user runs it.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ignition-validate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLI(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	good := write(t, dir, "good.ign", `{"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/etc/hostname", "contents": {"source": "data:,h"}}]}}`)
	typo := write(t, dir, "typo.ign", "{\n  \"ignition\": {\"version\": \"3.4.0\"},\n  \"storage\": {\"files\": [{\"path\": \"/a\", \"contnets\": {}}]}\n}\n")
	bad := write(t, dir, "bad.ign", "{\n  \"ignition\": {\"version\": \"3.4.0\"},\n  \"storage\": {\"files\": [{\"path\": \"etc/hostname\"}]}\n}\n")
	newer := write(t, dir, "newer.ign", `{"ignition": {"version": "3.9.0"}}`)
	empty := write(t, dir, "empty.ign", "")
	butane := write(t, dir, "config.bu", "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/hostname\n")
	misplaced := write(t, dir, "misplaced.ign", `{"ignition": {"version": "3.4.0"}, "storage": {"passwd": {"users": [{"name": "core"}]}}}`)
	sized := write(t, dir, "sized.ign", `{"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/etc/motd", "contents": {"source": "data:,hello%20world%0A"}}]}}`)

	big := filepath.Join(dir, "big.ign")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, config.MaxConfigSize+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string // substring; "" means stdout must be empty
		stderr string // substring; "" means stderr must be empty
	}{
		{name: "valid", args: []string{good}, code: 0},
		{name: "valid from stdin", args: []string{"-"}, stdin: `{"ignition":{"version":"3.0.0"}}`, code: 0},
		{name: "warning only", args: []string{typo}, code: 0, stdout: `warning at $.storage.files.0.contnets, line 3 col 40: unused key contnets (did you mean "contents"?)`},
		{name: "a key at the wrong level says where it belongs", args: []string{misplaced}, code: 0, stdout: `warning at $.storage.passwd, line 1 col 48: unused key passwd ("passwd" belongs at $.passwd)`},
		{name: "strict makes warnings fatal", args: []string{"--strict", typo}, code: 1, stdout: "error at $.storage.files.0.contnets"},
		{name: "error", args: []string{bad}, code: 1, stdout: "error at $.storage.files.0.path, line 3 col 34: path not absolute"},
		{name: "unsupported version", args: []string{newer}, code: 1, stderr: `couldn't parse config: unsupported config version "3.9.0"; supported versions: 3.0.0, 3.1.0, 3.2.0, 3.3.0, 3.4.0, 3.5.0, 3.6.0, 3.7.0-experimental`},
		{name: "empty", args: []string{empty}, code: 1, stderr: "couldn't parse config: not a config (empty)"},
		{name: "several files", args: []string{good, bad}, code: 1, stdout: bad + ": error at $.storage.files.0.path"},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.ign")}, code: 1, stderr: "no such file"},
		{name: "no arguments", args: nil, code: 2, stderr: "Usage:"},
		{name: "unknown flag", args: []string{"-bogus", good}, code: 2, stderr: "flag provided but not defined"},
		{name: "bad format", args: []string{"--format", "xml", good}, code: 2, stderr: "--format must be text or json"},
		{name: "help", args: []string{"--help"}, code: 0, stderr: "Usage:"},
		{name: "version", args: []string{"-version"}, code: 0, stdout: "ignition-validate "},
		{name: "explain", args: []string{"--explain", good}, code: 0, stdout: "file /etc/hostname mode 0644 (default), from an inline data URL (1 bytes)"},
		{name: "explain gives the decoded size", args: []string{"--explain", sized}, code: 0, stdout: "file /etc/motd mode 0644 (default), from an inline data URL (12 bytes)"},
		{name: "explain as JSON", args: []string{"--explain", "--format", "json", good}, code: 0, stdout: `"explanation": [
      "spec 3.4.0",
      "file /etc/hostname mode 0644 (default), from an inline data URL (1 bytes)"
    ]`},
		{name: "explain as JSON, invalid", args: []string{"--explain", "--format", "json", bad}, code: 1, stdout: `"valid": false,
    "errors": 1,`},
		{name: "Butane YAML", args: []string{butane}, code: 1, stdout: "error at line 1 col 1: this looks like Butane YAML, not an Ignition config: translate it with butane first"},
		{name: "larger than the cap", args: []string{big}, code: 1, stderr: "ignition-validate: " + big + ": config larger than 128 MiB (134217728 bytes), the cap on a config"},
		{name: "larger than the cap among others", args: []string{good, big, bad}, code: 1, stdout: bad + ": error at $.storage.files.0.path", stderr: big + ": config larger than 128 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("ignition-validate %v: exit %d; want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out.String(), errb.String())
			}
			for _, s := range []struct {
				stream, got, want string
			}{{"stdout", out.String(), tc.stdout}, {"stderr", errb.String(), tc.stderr}} {
				switch {
				case s.want == "" && s.got != "":
					t.Errorf("ignition-validate %v %s = %q; want it empty", tc.args, s.stream, s.got)
				case !strings.Contains(s.got, s.want):
					t.Errorf("ignition-validate %v %s = %q; want it to contain %q", tc.args, s.stream, s.got, s.want)
				}
			}
		})
	}
}

func TestJSONFormat(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, dir, "bad.ign", "{\n  \"ignition\": {\"version\": \"3.4.0\"},\n  \"storage\": {\"files\": [{\"path\": \"etc/hostname\", \"mode\": \"0644\", \"contnets\": 1}]}\n}\n")
	var out, errb bytes.Buffer
	code := run([]string{"--format", "json", bad}, strings.NewReader(""), &out, &errb)
	if code != 1 {
		t.Fatalf("run(--format json) = %d; want 1 (stderr %s)", code, errb.String())
	}
	var got []struct {
		Severity, Path, Message string
		Line, Column            int
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out.String())
	}
	want := []struct {
		sev, path string
		line, col int
		msg       string
	}{
		{"error", "$.storage.files.0.mode", 3, 58, "mode: expected an integer such as 420 (0644), got a string"},
		{"error", "$.storage.files.0.path", 3, 34, "path not absolute"},
		{"warning", "$.storage.files.0.contnets", 3, 66, "unused key contnets"},
	}
	if len(got) != len(want) {
		t.Fatalf("run(--format json) = %d entries; want %d\n%s", len(got), len(want), out.String())
	}
	for i, w := range want {
		g := got[i]
		if g.Severity != w.sev || g.Path != w.path || g.Line != w.line || g.Column != w.col || !strings.HasPrefix(g.Message, w.msg) {
			t.Errorf("entry %d = %+v; want %+v", i, g, w)
		}
	}
}

func TestReadInputLimit(t *testing.T) {
	dir := t.TempDir()
	const limit = 1000
	for _, n := range []int{0, 1, 511, 512, 513, 999, 1000, 1001, 5000} {
		text := strings.Repeat("x", n)
		file := write(t, dir, fmt.Sprintf("c%d.ign", n), text)
		for _, src := range []struct{ name, arg string }{{"standard input", "-"}, {file, file}} {
			got, err := readInput(src.arg, strings.NewReader(text), limit)
			if n <= limit {
				if err != nil || string(got) != text {
					t.Errorf("readInput(%s, %d bytes, %d) = %d bytes, %v; want the %d bytes", src.name, n, limit, len(got), err, n)
				}
				continue
			}
			want := src.name + ": config larger than 1000 bytes, the cap on a config"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("readInput(%s, %d bytes, %d) = %d bytes, %v; want an error containing %q", src.name, n, limit, len(got), err, want)
			}
		}
	}
}

// endless is a stream that never ends; it counts what was read from it.
type endless struct{ read int64 }

var spaces = bytes.Repeat([]byte{' '}, 1<<20)

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], spaces)
	}
	e.read += int64(n)
	return n, nil
}

// An endless standard input is refused after config.MaxConfigSize+1 bytes,
// having allocated little more than that.
func TestStdinOverCap(t *testing.T) {
	in := &endless{}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var out, errb bytes.Buffer
	code := run([]string{"-"}, in, &out, &errb)
	runtime.ReadMemStats(&after)
	if code != 1 {
		t.Errorf("run(-) on an endless stdin = %d; want 1", code)
	}
	if want := "ignition-validate: standard input: config larger than 128 MiB (134217728 bytes), the cap on a config; not read further\n"; errb.String() != want || out.Len() != 0 {
		t.Errorf("run(-) on an endless stdin printed %q / %q; want nothing / %q", out.String(), errb.String(), want)
	}
	if in.read != config.MaxConfigSize+1 {
		t.Errorf("run(-) read %d bytes of an endless stdin; want %d", in.read, config.MaxConfigSize+1)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > config.MaxConfigSize+8<<20 {
		t.Errorf("run(-) on an endless stdin allocated %d bytes; want at most the cap plus 8 MiB", alloc)
	}
}
