package qemu

import (
	"strings"
	"testing"
)

// (a) The qemu platform, the config in fw_cfg: the disks stage partitions
// and formats a second virtio disk, the mount stage mounts it at
// /sysroot/var, the files stage writes a file onto it, a user with an SSH
// key, a mount unit for /var and the report unit; the initrd switches to
// the Debian root, whose systemd enables the units on its first boot. The
// report shows /var from the new filesystem with the file on it.
func TestE2EQemuDisks(t *testing.T) {
	img := e2eSetup(t)
	data := blankDisk(t, "512M")
	cfg := e2eConfig("3.4.0", map[string]any{
		"disks": []any{map[string]any{
			"device": "/dev/disk/by-id/virtio-data", "wipeTable": true,
			"partitions": []any{map[string]any{"number": 1, "label": "var"}},
		}},
		"filesystems": []any{map[string]any{
			"device": "/dev/disk/by-partlabel/var", "format": "ext4", "label": "var", "path": "/var", "wipeFilesystem": true,
		}},
		"files": []any{
			e2eFile("/var/lib/e2e/marker", "on-the-new-var"),
			e2eFile("/etc/e2e/motd", "provisioned by ignition-go"),
		},
		"units": []any{map[string]any{"name": "var.mount", "enabled": true, "contents": "[Unit]\nBefore=local-fs.target\n" +
			"[Mount]\nWhat=/dev/disk/by-label/var\nWhere=/var\nType=ext4\n[Install]\nRequiredBy=local-fs.target\n"}},
	})
	r := e2eBoot{
		cmdline: "ignition.firstboot ignition.platform.id=qemu",
		config:  cfg,
		disks:   map[string]string{"data": data},
		until:   e2eEnds,
	}.run(t, img)
	if got := r.line(t, "E2E-VAR"); !strings.HasPrefix(got, "/dev/vd") || !strings.HasSuffix(got, "1 ext4 var") {
		t.Errorf("/var in the target = %q; want partition 1 of the data disk, ext4, label var", got)
	}
	want := map[string]bool{"/var/lib/e2e/marker on-the-new-var": false, "/etc/e2e/motd provisioned by ignition-go": false}
	for _, f := range r.lines["E2E-FILE"] {
		if _, ok := want[f]; ok {
			want[f] = true
		}
	}
	for f, seen := range want {
		if !seen {
			t.Errorf("the target lacks the file %q; it printed %q", f, r.lines["E2E-FILE"])
		}
	}
	if got := r.line(t, "E2E-USER"); !strings.Contains(got, "uid=1600(core)") || !strings.HasSuffix(got, "keys=1") {
		t.Errorf("user in the target = %q; want uid=1600(core) with one key", got)
	}
	r.report(t, "qemu platform, fw_cfg, a data disk at /var")
}
