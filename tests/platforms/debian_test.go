package platforms

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// A real Debian root (debootstrapped by make test-deps into .cache/debroot and
// copied per test): users join Debian's own groups, get their skeleton and
// keys, and the target's own systemctl applies our preset, and sees a
// default-enabled unit disabled.
func TestDebianRoot(t *testing.T) {
	testenv.NeedRoot(t, "useradd --root, systemctl --root")
	src, _ := filepath.Abs("../../.cache/debroot")
	if _, err := os.Stat(filepath.Join(src, "usr/bin/systemctl")); err != nil {
		testenv.Skip(t, "no Debian root in .cache/debroot (make test-deps debootstraps it)")
	}
	m := newMachine(t)
	os.RemoveAll(m.root)
	if out, err := exec.Command("cp", "-a", src, m.root).CombinedOutput(); err != nil {
		t.Fatalf("copying the Debian root: %v %s", err, out)
	}
	m.write(m.conf, `{"ignition":{"version":"3.4.0"},
	 "passwd":{"users":[{"name":"core","groups":["sudo","adm"],"shell":"/bin/bash","sshAuthorizedKeys":["ssh-ed25519 AAAAdebian core@x"]}]},
	 "storage":{"files":[{"path":"/home/core/hello.txt","user":{"name":"core"},"group":{"name":"core"},"contents":{"source":"data:,hi"}}]},
	 "systemd":{"units":[
	   {"name":"hello.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"},
	   {"name":"e2scrub_reap.service","enabled":false}]}}`)
	if r := m.run("file", "fetch-offline"); r.code != 0 {
		t.Fatalf("fetch-offline: %d\n%s", r.code, r.out)
	}
	r := m.run("file", "files")
	if r.code != 0 {
		t.Fatalf("files: %d\n%s%s", r.code, r.out, r.stderr)
	}
	id, err := exec.Command("chroot", m.root, "id", "core").CombinedOutput()
	if err != nil || !strings.Contains(string(id), "(sudo)") || !strings.Contains(string(id), "(adm)") {
		t.Errorf("id core = %s (%v); want sudo and adm", id, err)
	}
	if _, err := os.Stat(filepath.Join(m.root, "home/core/.bashrc")); err != nil {
		t.Errorf("core's home lacks the skeleton: %v", err)
	}
	own, _ := exec.Command("chroot", m.root, "stat", "-c", "%U:%G %a", "/home/core/hello.txt", "/home/core/.ssh/authorized_keys.d/ignition").Output()
	if got := strings.TrimSpace(string(own)); got != "core:core 644\ncore:core 600" {
		t.Errorf("owners and modes = %q", got)
	}
	out, err := exec.Command("systemctl", "--root", m.root, "is-enabled", "e2scrub_reap.service").CombinedOutput()
	if strings.TrimSpace(string(out)) != "disabled" {
		t.Errorf("e2scrub_reap.service is %q (%v); want disabled", out, err)
	}
	if out, err := exec.Command("systemctl", "--root", m.root, "preset", "hello.service").CombinedOutput(); err != nil {
		t.Fatalf("systemctl preset: %v %s", err, out)
	}
	if out, _ := exec.Command("systemctl", "--root", m.root, "is-enabled", "hello.service").Output(); strings.TrimSpace(string(out)) != "enabled" {
		t.Errorf("after systemd applies our preset, hello.service is %q; want enabled", out)
	}
	mustContain(t, "log", r.out, "running systemctl --root "+m.root+" disable e2scrub_reap.service")
}
