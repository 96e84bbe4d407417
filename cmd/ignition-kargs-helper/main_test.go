package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEditEntries(t *testing.T) {
	boot := t.TempDir()
	dir := filepath.Join(boot, "loader", "entries")
	os.MkdirAll(dir, 0o755)
	a := "title Debian\nversion 6.1\nlinux /vmlinuz\noptions root=UUID=abc ro quiet console=tty0\n"
	b := "title Debian (rescue)\nlinux /vmlinuz\noptions root=UUID=abc ro single\n"
	os.WriteFile(filepath.Join(dir, "a.conf"), []byte(a), 0o644)
	os.WriteFile(filepath.Join(dir, "b.conf"), []byte(b), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"--boot-dir", boot, "--should-exist", "console=ttyS0,115200", "--should-exist", "ro", "--should-not-exist", "quiet"}, &out, &errb)
	if code != 0 {
		t.Fatalf("run = %d: %s", code, errb.String())
	}
	got, _ := os.ReadFile(filepath.Join(dir, "a.conf"))
	if !strings.Contains(string(got), "options root=UUID=abc ro console=tty0 console=ttyS0,115200\n") {
		t.Errorf("a.conf = %q", got)
	}
	got, _ = os.ReadFile(filepath.Join(dir, "b.conf"))
	if !strings.Contains(string(got), "options root=UUID=abc ro single console=ttyS0,115200\n") || !strings.HasPrefix(string(got), "title Debian (rescue)\n") {
		t.Errorf("b.conf = %q", got)
	}
	out.Reset()
	if code := run([]string{"--boot-dir", boot, "--should-exist", "ro"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "already as wanted") {
		t.Errorf("second run = %d, %q; want no change", code, out.String())
	}
	if code := run([]string{"--boot-dir", t.TempDir(), "--should-exist", "x"}, &out, &errb); code != 1 {
		t.Errorf("run without entries = %d; want 1", code)
	}
}
