package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -platform auto in a real QEMU guest: what the guest kernel shows in
// /sys/class/dmi/id and /sys/bus/platform/devices is what detection reads.
// A plain QEMU machine with a config in fw_cfg is qemu, and the config is
// read; the same machine whose firmware names a cloud (QEMU's -smbios, as
// a cloud's hypervisor sets it) is that cloud, the cloud's asset tag
// before the vendor, and a cloud on KVM before fw_cfg.
func TestPlatformAutoInGuest(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.ign")
	os.WriteFile(cfg, []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/from-fw-cfg"}]}}`), 0o644)
	auto := "/bin/ignition -platform auto -stage fetch-offline" + ignitionArgs
	device := "@cat /sys/bus/platform/devices/QEMU0002:00/modalias"
	vendor := "@cat /sys/class/dmi/id/sys_vendor"

	t.Run("plain QEMU with fw_cfg", func(t *testing.T) {
		res := guest{
			mods:     []string{"qemu_fw_cfg"},
			commands: []string{vendor, device, auto},
			qemuArgs: []string{"-fw_cfg", "name=opt/com.coreos/config,file=" + cfg},
		}.boot(t)
		// the fw_cfg device the detection falls back to while the module is not loaded
		if r := res[device]; r.rc != 0 || !strings.Contains(r.out, "QEMU0002") {
			t.Errorf("fw_cfg's ACPI device in the guest: rc %d %q; want QEMU0002:00", r.rc, r.out)
		}
		r := res[auto]
		if r.rc != 0 || !strings.Contains(r.out, "platform: qemu (QEMU fw_cfg entry opt/com.coreos/config)") ||
			!strings.Contains(r.out, "[finished] reading config from QEMU fw_cfg") {
			t.Fatalf("fetch-offline -platform auto: rc %d (sys_vendor %q)\n%s", r.rc, res[vendor].out, r.out)
		}
		logPlatform(t, r.out)
	})
	t.Run("a cloud's firmware", func(t *testing.T) {
		res := guest{
			mods:     []string{"qemu_fw_cfg"},
			commands: []string{vendor, auto},
			qemuArgs: []string{"-fw_cfg", "name=opt/com.coreos/config,file=" + cfg,
				"-smbios", "type=1,manufacturer=Hetzner,product=vServer",
				"-smbios", "type=3,asset=OracleCloud.com"},
		}.boot(t)
		r := res[auto]
		// Oracle's asset tag wins over the vendor; without the network the stage defers to fetch
		if r.rc != 0 || !strings.Contains(r.out, `platform: oraclecloud (chassis_asset_tag "OracleCloud.com")`) {
			t.Fatalf("fetch-offline -platform auto: rc %d (sys_vendor %q)\n%s", r.rc, res[vendor].out, r.out)
		}
		logPlatform(t, r.out)
	})
}

func logPlatform(t *testing.T, out string) {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "platform: ") {
			t.Log(strings.TrimSpace(l))
		}
	}
}
