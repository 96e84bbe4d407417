package qemu

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// (b) metal, PXE style: ignition.config.url names QEMU's built-in TFTP
// server; that config merges a child from an HTTP server on the host's
// loopback (verified by its hash). The network comes up in the initrd from
// ip=dhcp (dracut's systemd-networkd module).
func TestE2EMetalTFTPAndHTTP(t *testing.T) {
	img := e2eSetup(t)
	child, _ := json.Marshal(map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage":  map[string]any{"files": []any{e2eFile("/etc/e2e/from-http", "merged child")}},
	})
	srv := serveHTTP(t, map[string][]byte{"/child.ign": child})
	top, _ := json.Marshal(e2eConfig("3.4.0", map[string]any{
		"ignition": map[string]any{"version": "3.4.0", "config": map[string]any{"merge": []any{map[string]any{
			"source": "http://10.0.2.100/child.ign", "verification": map[string]any{"hash": "sha512-" + sha512Hex(child)},
		}}}},
		"files": []any{e2eFile("/etc/e2e/from-tftp", "top config")},
	}))
	tftp := t.TempDir()
	os.WriteFile(filepath.Join(tftp, "config.ign"), top, 0o644)
	r := e2eBoot{
		cmdline: "ignition.firstboot ignition.platform.id=metal ip=dhcp ignition.config.url=tftp://10.0.2.2/config.ign",
		qemu:    userNet(tftp, "10.0.2.100", srv.addr),
		until:   e2eEnds,
	}.run(t, img)
	want := []string{"/etc/e2e/from-tftp top config", "/etc/e2e/from-http merged child"}
	for _, w := range want {
		if !slices.Contains(r.lines["E2E-FILE"], w) {
			t.Errorf("the target lacks %q; it printed %q", w, r.lines["E2E-FILE"])
		}
	}
	if got := srv.requests(); len(got) != 1 || !strings.HasPrefix(got[0], "GET /child.ign Ignition/") {
		t.Errorf("the HTTP server was asked %q; want one GET /child.ign from Ignition/<version>", got)
	}
	r.report(t, "metal, config over TFTP merging one over HTTP")
}

// (f) A config that fails: the config in fw_cfg would repartition the data
// disk, but the child config it merges has the wrong hash. The fetch stage
// fails, the initrd stops in emergency mode with the error on the console,
// and the data disk is byte-for-byte what it was.
func TestE2EFailingConfigStopsBeforeTheDisks(t *testing.T) {
	img := e2eSetup(t)
	data := blankDisk(t, "64M")
	if out, err := exec.Command("sgdisk", "-n1:0:+16M", "-c1:precious", data).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	before := fileHash(t, data)
	child := []byte(`{"ignition":{"version":"3.4.0"}}`)
	srv := serveHTTP(t, map[string][]byte{"/child.ign": child})
	cfg := e2eConfig("3.4.0", map[string]any{
		"ignition": map[string]any{"version": "3.4.0", "config": map[string]any{"merge": []any{map[string]any{
			"source": "http://10.0.2.100/child.ign", "verification": map[string]any{"hash": "sha512-" + sha512Hex([]byte("something else"))},
		}}}},
		"disks": []any{map[string]any{
			"device": "/dev/disk/by-id/virtio-data", "wipeTable": true,
			"partitions": []any{map[string]any{"number": 1, "label": "var"}},
		}},
		"filesystems": []any{map[string]any{"device": "/dev/disk/by-partlabel/var", "format": "ext4", "wipeFilesystem": true}},
	})
	r := e2eBoot{
		cmdline: "ignition.firstboot ignition.platform.id=qemu ip=dhcp",
		config:  cfg,
		disks:   map[string]string{"data": data},
		qemu:    userNet("", "10.0.2.100", srv.addr),
		until:   e2eEnds,
	}.run(t, img)
	if !strings.Contains(r.serial, "Entering emergency mode") {
		t.Errorf("the initrd did not stop in emergency mode\nserial:\n%s", tail(r.serial, 80))
	}
	errLine := ""
	for _, l := range strings.Split(r.serial, "\n") {
		if strings.Contains(l, "ignition: fetch failed:") {
			errLine = strings.TrimSpace(l)
		}
	}
	if !strings.Contains(errLine, "hash") {
		t.Errorf("the console lacks the fetch stage's error about the hash; it shows %q\nserial:\n%s", errLine, tail(r.serial, 80))
	}
	if len(r.lines["E2E-TARGET-DONE"]) != 0 {
		t.Errorf("the target booted after a failed first boot")
	}
	if after := fileHash(t, data); after != before {
		t.Errorf("the data disk changed (sha256 %s, was %s)", after, before)
	}
	t.Logf("failing config: wall %v to emergency mode; the console says: %s", r.wall.Round(100*time.Millisecond), errLine)
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// (e) Kernel arguments: the config asks for one argument and against
// another. The kargs stage mounts the boot filesystem (LABEL=boot), the
// helper edits its Boot Loader Specification entry, and the stage reboots.
// The test is the bootloader: it boots the kernel with the entry's options
// as they are on the boot disk after each boot. The second boot runs the
// first boot again, finds the arguments in place and goes on to the
// target, whose /proc/cmdline has the change.
func TestE2EKernelArguments(t *testing.T) {
	img := e2eSetup(t)
	tree := t.TempDir()
	entries := filepath.Join(tree, "loader", "entries")
	os.MkdirAll(entries, 0o755)
	entry := "title Debian (e2e)\nlinux /vmlinuz\ninitrd /initrd.img\noptions " + e2eKernelArgs +
		" ignition.firstboot ignition.platform.id=qemu e2e.old=1\n"
	os.WriteFile(filepath.Join(entries, "e2e.conf"), []byte(entry), 0o644)
	boot := filepath.Join(t.TempDir(), "boot.img")
	if err := mkfsImage(boot, "64M", "boot", tree); err != nil {
		t.Fatal(err)
	}
	cfg := e2eConfig("3.4.0", map[string]any{
		"kernelArguments": map[string]any{"shouldExist": []string{"e2e.karg=added"}, "shouldNotExist": []string{"e2e.old=1"}},
	})
	options := func() string {
		out, err := exec.Command("debugfs", "-R", "cat /loader/entries/e2e.conf", boot).Output()
		if err != nil {
			t.Fatalf("debugfs: %v", err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "options "); ok {
				return v
			}
		}
		t.Fatalf("the boot entry has no options line:\n%s", out)
		return ""
	}
	var walls []time.Duration
	var r e2eRun
	for i := 1; i <= 3; i++ {
		r = e2eBoot{
			bootArgs: options(),
			config:   cfg,
			disks:    map[string]string{"boot": boot},
			until:    e2eEnds,
		}.run(t, img)
		walls = append(walls, r.wall.Round(100*time.Millisecond))
		if strings.Contains(r.serial, "emergency mode") {
			t.Fatalf("boot %d stopped in emergency mode\nserial:\n%s", i, tail(r.serial, 80))
		}
		if len(r.lines["E2E-TARGET-DONE"]) > 0 {
			break
		}
		if !strings.Contains(r.serial, "reboot: Restarting system") {
			t.Fatalf("boot %d neither reached the target nor rebooted\nserial:\n%s", i, tail(r.serial, 80))
		}
	}
	if len(walls) != 2 {
		t.Errorf("the first boot took %d boots; want 2 (one reboot for the new arguments)", len(walls))
	}
	got := strings.Fields(r.line(t, "E2E-CMDLINE"))
	if !slices.Contains(got, "e2e.karg=added") || slices.Contains(got, "e2e.old=1") {
		t.Errorf("the target's /proc/cmdline = %q; want e2e.karg=added and not e2e.old=1", got)
	}
	r.report(t, fmt.Sprintf("kernel arguments, after a reboot (walls %v)", walls))
}
