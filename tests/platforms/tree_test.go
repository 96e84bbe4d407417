package platforms

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// The files stage leaves exactly the tree CoreOS Ignition leaves for the
// same config: paths, modes, owners, sizes, link targets and contents, as
// recorded from Ignition v2.26.0 (testdata/ignition-tree/record.sh).
func TestSameTreeAsIgnition(t *testing.T) {
	testenv.NeedRoot(t, "the files stage chowns")
	dir, _ := filepath.Abs("testdata/ignition-tree")
	m := newMachine(t)
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.ign"))
	m.write(m.conf, string(cfg))
	os.MkdirAll(filepath.Join(m.root, "etc"), 0o755)
	m.write(filepath.Join(m.root, "etc/motd"), "motd\n")
	os.Chmod(filepath.Join(m.root, "etc/motd"), 0o640)
	if r := m.run("file", "fetch-offline"); r.code != 0 {
		t.Fatalf("fetch-offline: %d\n%s", r.code, r.out)
	}
	if r := m.run("file", "files"); r.code != 0 {
		t.Fatalf("files: %d\n%s%s", r.code, r.out, r.stderr)
	}
	tree := shell(t, m.root, `find . -printf '%M %U:%G %s %p -> %l\n' | grep -v ignition-result | sort -k5`)
	sums := shell(t, m.root, `find . -type f ! -name .ignition-result.json -exec sha256sum {} + | sort -k2`)
	wantTree, _ := os.ReadFile(filepath.Join(dir, "tree.txt"))
	wantSums, _ := os.ReadFile(filepath.Join(dir, "sums.txt"))
	if tree != string(wantTree) {
		t.Errorf("tree differs from Ignition's:\nours:\n%s\nIgnition's:\n%s", tree, wantTree)
	}
	if sums != string(wantSums) {
		t.Errorf("contents differ from Ignition's:\nours:\n%s\nIgnition's:\n%s", sums, wantSums)
	}
}

func shell(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return strings.ReplaceAll(string(out), "\r", "")
}
