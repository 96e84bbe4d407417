package platforms

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The platform record of a boot (/run/ignition/platform next to the state
// file) through the real binary: a record naming "file" (a provider that
// reads a config from a local path, never detected) or planted through a
// symlink is not taken: the stage warns, detects again (metal here, the
// config of the system dir read) and replaces the record; the symlink's
// target is left alone. An explicit -platform of a later stage wins over
// the record. An empty ignition.platform.id is a usage error, not a
// reason to detect, as in the dracut generator.
func TestPlatformAutoRecordRedTeam(t *testing.T) {
	cfg := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/from-metal"}]}}`
	dell := map[string]string{"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R650"}
	t.Run("a record of file", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.write(m.conf, `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/from-file-provider"}]}}`)
		m.fakeFirmware(dell)
		m.write(filepath.Join(m.state, "platform"), "file\nplanted\n")
		r := m.run("auto", "fetch-offline")
		c, _ := m.cache()
		if r.code != 0 || strings.Join(files(c), ",") != "/etc/from-metal" {
			t.Fatalf("exit %d, cache %v; want the metal config\n%s%s", r.code, c, r.out, r.stderr)
		}
		mustContain(t, "log", r.out, `ignoring the platform record`, `"file" is not a platform detection finds`, "platform: metal (no cloud or hypervisor identified", "platform metal")
		if b, _ := os.ReadFile(filepath.Join(m.state, "platform")); !strings.HasPrefix(string(b), "metal\n") {
			t.Errorf("record = %q; want metal", b)
		}
	})
	t.Run("a record through a symlink", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.fakeFirmware(dell)
		target := filepath.Join(t.TempDir(), "planted")
		m.write(target, "gcp\nplanted\n")
		os.Symlink(target, filepath.Join(m.state, "platform"))
		r := m.run("auto", "fetch-offline")
		if r.code != 0 || !strings.Contains(r.out, "platform: metal (") || strings.Contains(r.out, "platform gcp") {
			t.Fatalf("exit %d; want metal detected\n%s%s", r.code, r.out, r.stderr)
		}
		mustContain(t, "log", r.out, "ignoring the platform record")
		if fi, err := os.Lstat(filepath.Join(m.state, "platform")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("record: %v, %v; want a regular file in place of the symlink", fi, err)
		}
		if b, _ := os.ReadFile(target); string(b) != "gcp\nplanted\n" {
			t.Errorf("the symlink's target was written: %q", b)
		}
	})
	t.Run("an explicit id of a later stage wins over the record", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.fakeFirmware(map[string]string{"sys_vendor": "Amazon EC2"})
		m.write(filepath.Join(m.state, "platform"), "aws\nsys_vendor \"Amazon EC2\"\n")
		r := m.run("metal", "fetch-offline")
		if r.code != 0 || !strings.Contains(r.out, "platform metal") || strings.Contains(r.out, "platform: aws") {
			t.Fatalf("exit %d; want metal\n%s%s", r.code, r.out, r.stderr)
		}
	})
	t.Run("empty ignition.platform.id", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.fakeFirmware(dell)
		m.cmdline("ro ignition.firstboot ignition.platform.id=")
		r := m.run("auto", "fetch-offline")
		if r.code != 2 || !strings.Contains(r.stderr, "ignition.platform.id= is empty") {
			t.Fatalf("exit %d; want 2 and the argument named\n%s%s", r.code, r.out, r.stderr)
		}
		if m.exists("platform") || m.exists("ignition.json") {
			t.Errorf("a record or a config was written")
		}
	})
}
