package platforms

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testnet"
)

// fakeFirmware points the binary's platform detection at a DMI tree of
// the test's own and an empty sysfs (no hypervisor UUID, no fw_cfg, no
// platform devices), so that the machine running the test is not read.
func (m *machine) fakeFirmware(dmi map[string]string) string {
	d := filepath.Join(filepath.Dir(m.root), "firmware")
	dmiDir := filepath.Join(d, "class/dmi/id")
	os.MkdirAll(dmiDir, 0o755)
	for k, v := range dmi {
		m.write(filepath.Join(dmiDir, k), v+"\n")
	}
	m.env = append(m.env, "IGNITION_DMI_DIR="+dmiDir, "IGNITION_SYSFS_DIR="+d)
	return dmiDir
}

// One image on AWS: no platform id on the kernel command line, the
// generator passes -platform auto, the firmware says "Amazon EC2", and the
// stages take the AWS path (IMDSv2 against AWS's own emulator); a later
// stage of the same boot agrees even if detection would now differ.
func TestPlatformAutoAWS(t *testing.T) {
	testnet.EC2MockBinary(t)
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	testnet.StartEC2Mock(t, []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/auto-aws","contents":{"source":"data:,found"}}]}}`), "eu-north-1")
	m := newMachine(t)
	m.cmdline("BOOT_IMAGE=/vmlinuz ro ignition.firstboot")
	dmi := m.fakeFirmware(map[string]string{"sys_vendor": "Amazon EC2", "product_name": "m5.large", "bios_vendor": "Amazon EC2", "board_asset_tag": "i-0123456789abcdef0"})

	r := m.run("auto", "fetch-offline")
	if r.code != 0 || !m.exists("neednet") {
		t.Fatalf("fetch-offline: exit %d, neednet %v\n%s%s", r.code, m.exists("neednet"), r.out, r.stderr)
	}
	mustContain(t, "fetch-offline log", r.out, `platform: aws (sys_vendor "Amazon EC2"), found in`, "stage fetch-offline, platform aws")
	logPlatformLine(t, r.out)
	if b, err := os.ReadFile(filepath.Join(m.state, "platform")); err != nil || !strings.HasPrefix(string(b), "aws\n") {
		t.Errorf("recorded platform = %q, %v; want aws", b, err)
	}

	// the firmware now reads differently: the boot keeps the platform it found
	m.write(filepath.Join(dmi, "sys_vendor"), "DigitalOcean\n")
	r = m.run("auto", "fetch")
	c, _ := m.cache()
	if r.code != 0 || !strings.Contains(strings.Join(files(c), ","), "/etc/auto-aws") {
		t.Fatalf("fetch: exit %d, cache %v\n%s%s", r.code, c, r.out, r.stderr)
	}
	mustContain(t, "fetch log", r.out, `platform: aws (sys_vendor "Amazon EC2"; found by an earlier stage`,
		"AWS: region eu-north-1", "fetching user data from the EC2 instance metadata service")
	logPlatformLine(t, r.out)
	if strings.Contains(r.out, "digitalocean") {
		t.Errorf("the fetch stage took another platform:\n%s", r.out)
	}
}

// Without a cloud's identifier the machine is metal, and says why; an
// explicit id, on the command line or the kernel's, always wins; an
// unknown one on the kernel command line is a usage error.
func TestPlatformAuto(t *testing.T) {
	cfg := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/sys"}]}}`
	t.Run("nothing identified: metal", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.fakeFirmware(map[string]string{"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R650"})
		r := m.run("auto", "fetch-offline")
		if c, _ := m.cache(); r.code != 0 || strings.Join(files(c), ",") != "/etc/sys" {
			t.Fatalf("fetch-offline: exit %d, cache %v\n%s%s", r.code, c, r.out, r.stderr)
		}
		mustContain(t, "log", r.out, `platform: metal (no cloud or hypervisor identified; sys_vendor "Dell Inc.", product_name "PowerEdge R650")`, "platform metal")
	})
	t.Run("explicit -platform", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.fakeFirmware(map[string]string{"sys_vendor": "Amazon EC2"})
		r := m.run("metal", "fetch-offline")
		if r.code != 0 || strings.Contains(r.out, "platform: ") || !strings.Contains(r.out, "platform metal") || m.exists("platform") {
			t.Fatalf("fetch-offline -platform metal: exit %d, recorded %v\n%s%s", r.code, m.exists("platform"), r.out, r.stderr)
		}
	})
	t.Run("explicit kernel argument", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.cmdline("ro ignition.firstboot ignition.platform.id=metal")
		m.fakeFirmware(map[string]string{"sys_vendor": "Amazon EC2"})
		r := m.run("auto", "fetch-offline")
		if r.code != 0 {
			t.Fatalf("fetch-offline: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		mustContain(t, "log", r.out, "platform: metal (ignition.platform.id=metal on the kernel command line)")
	})
	t.Run("ignition.platform.id=auto", func(t *testing.T) {
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "user.ign"), cfg)
		m.cmdline("ro ignition.firstboot ignition.platform.id=auto")
		m.fakeFirmware(nil)
		r := m.run("auto", "fetch-offline")
		if r.code != 0 {
			t.Fatalf("fetch-offline: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		mustContain(t, "log", r.out, "platform: metal (no cloud or hypervisor identified; no DMI data)")
	})
	t.Run("unknown kernel argument", func(t *testing.T) {
		m := newMachine(t)
		m.cmdline("ro ignition.platform.id=nimbus")
		m.fakeFirmware(nil)
		r := m.run("auto", "fetch-offline")
		if r.code != 2 || !strings.Contains(r.stderr, "ignition.platform.id=nimbus: unknown platform") {
			t.Fatalf("fetch-offline: exit %d, want 2\n%s%s", r.code, r.out, r.stderr)
		}
	})
}

func logPlatformLine(t *testing.T, log string) {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "platform: ") {
			t.Log(l)
		}
	}
}
