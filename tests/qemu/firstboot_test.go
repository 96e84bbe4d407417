package qemu

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A whole first boot: Debian's kernel, an initramfs made by Debian's dracut
// with our module (dracut/30ignition-go), a Debian root disk, and the config
// in fw_cfg. The initramfs runs the stages, writes a user, a file and a unit
// into /sysroot, switches root; the target's systemd applies our preset on
// its first boot and runs the unit, which reports on the console and powers
// off.
func TestFirstBootWithDracut(t *testing.T) {
	root, kv := kernel(t)
	for _, tool := range []string{"dracut", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", tool)
		}
	}
	debroot, _ := filepath.Abs("../../.cache/debroot")
	if _, err := os.Stat(filepath.Join(debroot, "usr/bin/systemctl")); err != nil {
		t.Skip("no Debian root in .cache/debroot (make deps debootstraps it)")
	}
	dir := t.TempDir()
	bin := build(t, dir, "../../cmd/ignition", "ignition")

	// the initramfs
	base := filepath.Join(dir, "dracut")
	if out, err := exec.Command("cp", "-a", "/usr/lib/dracut", base).CombinedOutput(); err != nil {
		t.Fatalf("copying dracut: %v %s", err, out)
	}
	mod, _ := filepath.Abs("../../dracut/30ignition-go")
	if out, err := exec.Command("cp", "-a", mod, filepath.Join(base, "modules.d")).CombinedOutput(); err != nil {
		t.Fatalf("copying our module: %v %s", err, out)
	}
	initrd := filepath.Join(dir, "initrd.img")
	cmd := exec.Command("dracut", "--force", "--no-hostonly", "--quiet", "--kver", kv,
		"--kmoddir", filepath.Join(root, "lib/modules", kv),
		"--modules", "systemd systemd-initrd dracut-systemd base rootfs-block ignition-go",
		"--omit", "plymouth", "--add-drivers", "virtio_blk virtio_pci ext4", "--force-drivers", "qemu_fw_cfg",
		"--gzip", initrd)
	cmd.Env = append(os.Environ(), "dracutbasedir="+base, "IGNITION_GO_BIN="+bin)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dracut: %v\n%s", err, out)
	}
	t.Logf("dracut built the initramfs in %v", time.Since(start).Round(100*time.Millisecond))

	// the root disk: Debian, not yet booted (its machine-id uninitialized)
	tree := filepath.Join(dir, "tree")
	if out, err := exec.Command("cp", "-a", debroot, tree).CombinedOutput(); err != nil {
		t.Fatalf("copying the Debian root: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(tree, "etc/machine-id"), []byte("uninitialized\n"), 0o444)
	os.WriteFile(filepath.Join(tree, "etc/fstab"), []byte("LABEL=root / ext4 defaults 0 1\n"), 0o644)
	disk := filepath.Join(dir, "root.img")
	if out, err := exec.Command("truncate", "-s", "1G", disk).CombinedOutput(); err != nil {
		t.Fatalf("truncate: %v %s", err, out)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-L", "root", "-d", tree, disk).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}

	cfg, _ := json.Marshal(map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"passwd":   map[string]any{"users": []any{map[string]any{"name": "core", "uid": 1600, "sshAuthorizedKeys": []string{"ssh-ed25519 AAAAfirstboot core@e2e"}}}},
		"storage":  map[string]any{"files": []any{map[string]any{"path": "/etc/motd", "overwrite": true, "contents": map[string]any{"source": "data:,provisioned%20by%20ignition-go%0A"}}}},
		"systemd": map[string]any{"units": []any{map[string]any{"name": "e2e-hello.service", "enabled": true, "contents": "[Unit]\nDescription=first-boot check\n[Service]\nType=oneshot\n" +
			"ExecStart=/bin/sh -c 'echo \"TARGET-HELLO $(id core) motd=$(cat /etc/motd) keys=$(cat /home/core/.ssh/authorized_keys.d/ignition | wc -l)\" > /dev/ttyS0; systemctl --no-block poweroff'\n" +
			"[Install]\nWantedBy=multi-user.target\n"}}},
	})
	cfgFile := filepath.Join(dir, "config.ign")
	os.WriteFile(cfgFile, cfg, 0o644)

	serial := filepath.Join(dir, "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := exec.CommandContext(ctx, "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1536", "-smp", "2",
		"-nographic", "-no-reboot", "-monitor", "none", "-serial", "file:"+serial, "-net", "none",
		"-kernel", filepath.Join(root, "boot", "vmlinuz-"+kv), "-initrd", initrd,
		"-append", "console=ttyS0 root=LABEL=root rw ignition.firstboot ignition.platform.id=qemu panic=-1 systemd.show_status=0",
		"-drive", "file="+disk+",if=virtio,format=raw",
		"-fw_cfg", "name=opt/com.coreos/config,file="+cfgFile)
	start = time.Now()
	out, err := q.CombinedOutput()
	log, _ := os.ReadFile(serial)
	took := time.Since(start)
	if keep := os.Getenv("IGNITION_TEST_KEEP_SERIAL"); keep != "" {
		os.WriteFile(keep, log, 0o644)
	}
	line := ""
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "TARGET-HELLO") {
			line = strings.TrimSpace(l)
		}
	}
	if err != nil || line == "" {
		t.Fatalf("first boot did not reach the target's unit (%v after %v): %s\nserial:\n%s", err, took, out, tail(string(log), 120))
	}
	t.Logf("first boot under TCG took %v: %s", took.Round(100*time.Millisecond), line)

	for _, want := range []string{"uid=1600(core)", "motd=provisioned by ignition-go", "keys=1"} {
		if !strings.Contains(line, want) {
			t.Errorf("target reported %q; want %q", line, want)
		}
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
