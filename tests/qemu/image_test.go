package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
)

// The image's boots (TestE2EImage*, run by make e2e): the Debian 12 image
// that make image builds (image/build.sh: the package installed, the
// first-boot stamp set, GRUB for BIOS and UEFI), booted from its own disk
// (no -kernel, no -initrd) under SeaBIOS and OVMF, its config in fw_cfg.
// The tests log in over SSH, through a port QEMU forwards from the host's
// loopback to the guest (restrict=on keeps the guest off every network).
// Each boot writes to its own copy-on-write layer over the image.

var imageShared struct {
	debOnce, imgOnce sync.Once
	debErr, imgErr   error
	deb, raw         string
}

// imageDeb builds the package (make deb), once per test process.
func imageDeb(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t, "the package build and the image need root")
	testenv.NeedTools(t, "dpkg-buildpackage", "dh", "lintian")
	imageShared.debOnce.Do(func() {
		start := time.Now()
		out, err := exec.Command("make", "-C", "../..", "deb").CombinedOutput()
		if err != nil {
			imageShared.debErr = fmt.Errorf("make deb: %v\n%s", err, tail(string(out), 40))
			return
		}
		debs, _ := filepath.Glob("../../build/ignition-go_*_amd64.deb")
		if len(debs) != 1 {
			imageShared.debErr = fmt.Errorf("make deb left %d packages in build/: %q", len(debs), debs)
			return
		}
		imageShared.deb, _ = filepath.Abs(debs[0])
		t.Logf("image: make deb built %s in %v", filepath.Base(debs[0]), time.Since(start).Round(100*time.Millisecond))
	})
	if imageShared.debErr != nil {
		t.Fatal(imageShared.debErr)
	}
	return imageShared.deb
}

// imageRaw builds the image (image/build.sh, as make image runs it) into
// build/e2e-image/, once per test process, with no platform id: one image
// for every cloud, the platform found on each boot (here: qemu, from fw_cfg).
func imageRaw(t *testing.T) string {
	t.Helper()
	deb := imageDeb(t)
	testenv.NeedTools(t, "qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen", "debootstrap", "sgdisk", "partx",
		"mkfs.ext4", "mkfs.vfat", "mmd", "mcopy")
	imageShared.imgOnce.Do(func() {
		out, _ := filepath.Abs("../../build/e2e-image")
		cmd := exec.Command("./image/build.sh")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "DEB="+deb, "IMAGE_OUT="+out, "IMAGE_PLATFORM=")
		start := time.Now()
		b, err := cmd.CombinedOutput()
		if err != nil {
			imageShared.imgErr = fmt.Errorf("image/build.sh: %v\n%s", err, tail(string(b), 60))
			return
		}
		imageShared.raw = filepath.Join(out, "ignition-go-debian12.raw")
		t.Logf("image: built in %v:\n%s", time.Since(start).Round(time.Second), tail(strings.TrimSpace(string(b)), 14))
	})
	if imageShared.imgErr != nil {
		t.Fatal(imageShared.imgErr)
	}
	return imageShared.raw
}

// overlay is a copy-on-write layer over the image, the disk of one machine.
func overlay(t *testing.T, raw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", raw, "-F", "raw", p).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v %s", err, out)
	}
	return p
}

// imageVM is one QEMU machine booting the image from its disk.
type imageVM struct {
	t      *testing.T
	dir    string
	serial string
	port   int
	key    string
	start  time.Time
	done   chan error
	exited bool
	err    error
	cancel context.CancelFunc
	cmd    *exec.Cmd
}

type imageBoot struct {
	uefi   bool
	disk   string // the machine's disk (an overlay)
	data   string // a data disk (serial "data"), "" none
	config []byte
	key    string // the SSH private key
	// noReboot makes a reboot end QEMU (-no-reboot)
	noReboot bool
}

// freePort is a TCP port on the host's loopback that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// imageBootTimeout bounds each QEMU process: a first boot under TCG on a
// busy 2-core machine, its SSH checks, and a reboot.
const imageBootTimeout = 15 * time.Minute

func (b imageBoot) start(t *testing.T) *imageVM {
	t.Helper()
	dir := t.TempDir()
	vm := &imageVM{t: t, dir: dir, serial: filepath.Join(dir, "serial.log"), port: freePort(t), key: b.key, done: make(chan error, 1)}
	args := []string{"-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2",
		"-nographic", "-monitor", "none", "-serial", "file:" + vm.serial,
		"-drive", "file=" + b.disk + ",if=none,id=disk,format=qcow2", "-device", "virtio-blk-pci,drive=disk,bootindex=1",
		"-netdev", fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22", vm.port), "-device", "virtio-net-pci,netdev=n0"}
	if b.noReboot {
		args = append(args, "-no-reboot")
	}
	if b.uefi {
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		if out, err := exec.Command("cp", "/usr/share/OVMF/OVMF_VARS.fd", vars).CombinedOutput(); err != nil {
			t.Fatalf("copying OVMF_VARS.fd: %v %s", err, out)
		}
		args = append(args, "-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd",
			"-drive", "if=pflash,format=raw,file="+vars)
	}
	if b.data != "" {
		args = append(args, "-drive", "file="+b.data+",if=none,id=data,format=raw", "-device", "virtio-blk-pci,drive=data,serial=data")
	}
	if b.config != nil {
		p := filepath.Join(dir, "config.ign")
		os.WriteFile(p, b.config, 0o644)
		args = append(args, "-fw_cfg", "name=opt/com.coreos/config,file="+p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), imageBootTimeout)
	vm.cancel = cancel
	vm.cmd = exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var out bytes.Buffer
	vm.cmd.Stdout, vm.cmd.Stderr = &out, &out
	vm.start = time.Now()
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	go func() { vm.done <- vm.cmd.Wait() }()
	t.Cleanup(func() {
		vm.stop()
		if keep := os.Getenv("IGNITION_TEST_KEEP_SERIAL"); keep != "" {
			log, _ := os.ReadFile(vm.serial)
			os.WriteFile(filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_")+".log"), log, 0o644)
		}
	})
	return vm
}

// stop ends QEMU (if it still runs) and waits for it.
func (vm *imageVM) stop() {
	if !vm.exited {
		vm.cmd.Process.Kill()
		vm.err = <-vm.done
		vm.exited = true
	}
	vm.cancel()
}

func (vm *imageVM) console() string {
	b, _ := os.ReadFile(vm.serial)
	return strings.ReplaceAll(string(b), "\r", "")
}

// failf ends the test with the console's end.
func (vm *imageVM) failf(format string, args ...any) {
	vm.t.Helper()
	vm.t.Fatalf("%s\nserial (end):\n%s", fmt.Sprintf(format, args...), tail(vm.console(), 80))
}

// ssh runs cmd as user once; its output and error.
func (vm *imageVM) ssh(user, cmd string) (string, error) {
	c := exec.Command("ssh", "-p", fmt.Sprint(vm.port), "-i", vm.key,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
		"-o", "LogLevel=ERROR", user+"@127.0.0.1", cmd)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	// a session that hangs all the same ends here
	timer := time.AfterFunc(3*time.Minute, func() { c.Process.Kill() })
	defer timer.Stop()
	err := c.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("ssh %s@guest %q: %v: %s", user, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// waitSSH retries cmd as user until it succeeds (sshd is up and the key is
// accepted), QEMU exits, or the machine's timeout passes.
func (vm *imageVM) waitSSH(user, cmd string) string {
	vm.t.Helper()
	var last error
	for {
		select {
		case vm.err = <-vm.done:
			vm.exited = true
			vm.failf("QEMU ended (%v) before %s could log in over SSH; last try: %v", vm.err, user, last)
		default:
		}
		if time.Since(vm.start) > imageBootTimeout {
			vm.failf("no SSH login as %s within %v; last try: %v", user, imageBootTimeout, last)
		}
		out, err := vm.ssh(user, cmd)
		if err == nil {
			return out
		}
		last = err
		time.Sleep(5 * time.Second)
	}
}

// must runs cmd as root over SSH; a failure ends the test.
func (vm *imageVM) must(cmd string) string {
	vm.t.Helper()
	out, err := vm.ssh("root", cmd)
	if err != nil {
		vm.failf("%v\n%s", err, out)
	}
	return out
}

// waitConsole waits until the console shows one of the lines, QEMU
// exits, or the timeout passes.
func (vm *imageVM) waitConsole(lines ...string) {
	vm.t.Helper()
	for time.Since(vm.start) < imageBootTimeout {
		c := vm.console()
		for _, l := range lines {
			if strings.Contains(c, l) {
				return
			}
		}
		select {
		case vm.err = <-vm.done:
			vm.exited = true
			vm.failf("QEMU ended (%v) before the console showed %q", vm.err, lines)
		case <-time.After(time.Second):
		}
	}
	vm.failf("the console did not show %q within %v", lines, imageBootTimeout)
}

// waitExit waits for QEMU to end by itself (a power-off).
func (vm *imageVM) waitExit() {
	vm.t.Helper()
	select {
	case vm.err = <-vm.done:
		vm.exited = true
	case <-time.After(3 * time.Minute):
		vm.failf("QEMU did not end within 3 minutes of the power-off")
	}
}

// sshKey makes a key pair; the private key's path and the public key.
func sshKey(t *testing.T) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "image-e2e", "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(pub))
}

// imageConfig provisions the machine: its host name, a user core and
// root with the key, and, with data, the data disk partitioned,
// formatted, mounted at /var/lib/data (a mount unit for every later boot)
// with a file on it.
func imageConfig(t *testing.T, hostname, pub string, data bool) []byte {
	t.Helper()
	files := []any{e2eFile("/etc/hostname", hostname+"\n")}
	cfg := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"passwd": map[string]any{"users": []any{
			map[string]any{"name": "core", "uid": 1600, "sshAuthorizedKeys": []string{pub}},
			map[string]any{"name": "root", "sshAuthorizedKeys": []string{pub}},
		}},
	}
	storage := map[string]any{}
	if data {
		storage["disks"] = []any{map[string]any{
			"device": "/dev/disk/by-id/virtio-data", "wipeTable": true,
			"partitions": []any{map[string]any{"number": 1, "label": "data"}},
		}}
		storage["filesystems"] = []any{map[string]any{
			"device": "/dev/disk/by-partlabel/data", "format": "ext4", "label": "data", "path": "/var/lib/data", "wipeFilesystem": true,
		}}
		files = append(files, e2eFile("/var/lib/data/marker", "written by ignition-go"))
		cfg["systemd"] = map[string]any{"units": []any{map[string]any{"name": "var-lib-data.mount", "enabled": true,
			"contents": "[Unit]\nBefore=local-fs.target\n[Mount]\nWhat=/dev/disk/by-label/data\nWhere=/var/lib/data\nType=ext4\n[Install]\nRequiredBy=local-fs.target\n"}}}
	}
	storage["files"] = files
	cfg["storage"] = storage
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstBootTimeline is the journal's view of this boot's initramfs: from
// the kernel running /init to the files stage finished (as the other
// first boots report it).
func (vm *imageVM) firstBootTimeline() (toFiles, stages time.Duration) {
	vm.t.Helper()
	out := vm.must("journalctl -b -k -o short-monotonic --no-pager | grep -m1 'Run /init as init process'; " +
		"journalctl -b -o short-monotonic --no-pager _PID=1 | grep -E '(Starting|Finished|Failed).*ignition-' || :")
	r := e2eRun{lines: map[string][]string{"E2E-JOURNAL": strings.Split(strings.TrimSpace(out), "\n")}}
	return r.timeline(vm.t)
}

// The image under SeaBIOS, two boots in one machine. The first boot is a
// first boot (GRUB adds ignition.firstboot while the stamp exists): the
// config partitions, formats and mounts the data disk, sets the host name
// and gives core and root the key; core logs in over SSH and hostname
// prints the config's name; the stamp is gone. Then a reboot: no stage runs
// (the journal has the generator's "not a first boot" line and no stage
// unit), the command line has no ignition.firstboot, and what the first
// boot made and what was written since are kept unchanged.
func TestE2EImageBIOSFirstBootThenReboot(t *testing.T) {
	raw := imageRaw(t)
	key, pub := sshKey(t)
	vm := imageBoot{disk: overlay(t, raw), data: blankDisk(t, "256M"), config: imageConfig(t, "image-bios", pub, true), key: key}.start(t)

	if got := strings.TrimSpace(vm.waitSSH("core", "hostname")); got != "image-bios" {
		vm.failf("ssh core@guest hostname = %q; want image-bios (the config's)", got)
	}
	wall1 := time.Since(vm.start)
	toFiles, stages := vm.firstBootTimeline()
	t.Logf("SeaBIOS first boot: wall to SSH login %v; initramfs start to files stage finished %v; our stage units %v",
		wall1.Round(100*time.Millisecond), toFiles.Round(10*time.Millisecond), stages.Round(10*time.Millisecond))
	vm.must("systemctl is-system-running --wait >/dev/null || :")
	first := vm.must(`echo "cmdline $(cat /proc/cmdline)"
echo "boot $(cat /proc/sys/kernel/random/boot_id)"
echo "stamp $(test -e /boot/ignition.firstboot && echo present || echo absent)"
echo "detected $(journalctl -b -o cat --no-pager | grep -m1 -o 'platform: [a-z0-9]* (.*')"
echo "flag $(cat /run/ignition-go/firstboot-succeeded 2>/dev/null)"
echo "data $(findmnt -n -o FSTYPE,LABEL /var/lib/data | tr -s ' ')"
echo "marker $(cat /var/lib/data/marker)"
echo "result $(sha256sum < /etc/.ignition-result.json | cut -c1-64)"
echo "partuuid $(blkid -s PARTUUID -o value /dev/disk/by-label/data)"
echo "fsuuid $(blkid -s UUID -o value /dev/disk/by-label/data)"
echo "done $(systemctl show -P ActiveState ignition-go-firstboot-done.service)"
echo kept-across-the-reboot > /var/lib/data/written-after; sync`)
	f1 := fields(first)
	if !strings.Contains(f1["cmdline"], "ignition.firstboot") || strings.Contains(f1["cmdline"], "ignition.platform.id") {
		t.Errorf("first boot's command line = %q; want ignition.firstboot from the GRUB snippet and no platform id", f1["cmdline"])
	}
	if !strings.HasPrefix(f1["detected"], "platform: qemu (") {
		t.Errorf("the first boot's journal says %q; want the platform detected as qemu, with its evidence", f1["detected"])
	}
	if f1["stamp"] != "absent" || f1["done"] != "active" {
		t.Errorf("after the first boot: stamp %s, ignition-go-firstboot-done.service %s; want the stamp removed by the unit (active)", f1["stamp"], f1["done"])
	}
	if f1["flag"] == "" {
		t.Errorf("the initramfs left no /run/ignition-go/firstboot-succeeded")
	}
	if f1["data"] != "ext4 data" || f1["marker"] != "written by ignition-go" {
		t.Errorf("/var/lib/data = %q with marker %q; want the data disk's ext4 (label data) with the config's file", f1["data"], f1["marker"])
	}

	// the reboot: the same machine (QEMU reboots in place)
	rebootAt := time.Now()
	vm.ssh("root", "systemctl --no-block reboot")
	var second string
	for {
		second = vm.waitSSH("root", `echo "boot $(cat /proc/sys/kernel/random/boot_id)"`)
		if fields(second)["boot"] != f1["boot"] {
			break
		}
		time.Sleep(5 * time.Second)
	}
	hostname := strings.TrimSpace(vm.waitSSH("core", "hostname"))
	t.Logf("SeaBIOS second boot: wall from the reboot to SSH login %v", time.Since(rebootAt).Round(100*time.Millisecond))
	vm.must("systemctl is-system-running --wait >/dev/null || :")
	second = vm.must(`echo "cmdline $(cat /proc/cmdline)"
echo "stamp $(test -e /boot/ignition.firstboot && echo present || echo absent)"
echo "generator $(journalctl -b -t ignition-generator -o cat --no-pager | grep -c 'not a first boot')"
echo "stages $(journalctl -b -o cat --no-pager _PID=1 | grep -c -E 'Starting ignition-|Ignition \(')"
echo "ran $(journalctl -b -t ignition --no-pager -q | wc -l)"
echo "data $(findmnt -n -o FSTYPE,LABEL /var/lib/data | tr -s ' ')"
echo "marker $(cat /var/lib/data/marker)"
echo "after $(cat /var/lib/data/written-after)"
echo "result $(sha256sum < /etc/.ignition-result.json | cut -c1-64)"
echo "partuuid $(blkid -s PARTUUID -o value /dev/disk/by-label/data)"
echo "fsuuid $(blkid -s UUID -o value /dev/disk/by-label/data)"`)
	f2 := fields(second)
	if hostname != "image-bios" {
		t.Errorf("after the reboot, hostname = %q; want image-bios", hostname)
	}
	if strings.Contains(f2["cmdline"], "ignition.firstboot") {
		t.Errorf("the second boot's command line = %q; want no ignition.firstboot (the stamp is gone)", f2["cmdline"])
	}
	if f2["stamp"] != "absent" {
		t.Errorf("the stamp is %s after the second boot", f2["stamp"])
	}
	if f2["generator"] != "1" || f2["stages"] != "0" || f2["ran"] != "0" {
		t.Errorf("the second boot's journal: %s generator line(s) 'not a first boot', %s stage unit line(s), %s ignition log line(s); want 1, 0, 0",
			f2["generator"], f2["stages"], f2["ran"])
	}
	for _, k := range []string{"data", "marker", "result", "partuuid", "fsuuid"} {
		if f2[k] != f1[k] {
			t.Errorf("%s changed across the reboot: %q, then %q", k, f1[k], f2[k])
		}
	}
	if f2["after"] != "kept-across-the-reboot" {
		t.Errorf("the file written after the first boot reads %q after the reboot", f2["after"])
	}
	vm.ssh("root", "systemctl --no-block poweroff")
	vm.waitExit()
}

// The image under OVMF (UEFI, GRUB from the ESP's removable path), two
// boots of one disk. The first has a config that fails (a file whose hash
// does not match): the files stage fails, the boot stops in the emergency
// shell, and the stamp stays. So the second boot, with a good config, is a
// first boot again (GRUB still adds ignition.firstboot) and provisions the
// machine as under SeaBIOS: the data disk, the host name, SSH login.
func TestE2EImageUEFIFailedFirstBootThenRetry(t *testing.T) {
	raw := imageRaw(t)
	if _, err := os.Stat("/usr/share/OVMF/OVMF_CODE.fd"); err != nil {
		testenv.Skip(t, "no OVMF (Debian's ovmf package; make test-deps installs it)")
	}
	key, pub := sshKey(t)
	disk, data := overlay(t, raw), blankDisk(t, "256M")
	var bad map[string]any
	json.Unmarshal(imageConfig(t, "image-bad", pub, false), &bad)
	st := bad["storage"].(map[string]any)
	st["files"] = append(st["files"].([]any), map[string]any{
		"path": "/etc/image-e2e-bad", "contents": map[string]any{"source": "data:,abc",
			"verification": map[string]any{"hash": "sha512-" + strings.Repeat("0", 128)}}})
	badCfg, _ := json.Marshal(bad)
	vm := imageBoot{uefi: true, disk: disk, data: data, config: badCfg, key: key, noReboot: true}.start(t)
	vm.waitConsole("Entering emergency mode", "You are in emergency mode")
	t.Logf("OVMF failed first boot: wall to the emergency shell %v", time.Since(vm.start).Round(100*time.Millisecond))
	if c := vm.console(); !regexp.MustCompile(`ignition: [a-z-]+ failed: `).MatchString(c) {
		t.Errorf("the console does not say which stage failed:\n%s", tail(c, 40))
	}
	vm.stop()

	vm2 := imageBoot{uefi: true, disk: disk, data: data, config: imageConfig(t, "image-uefi", pub, true), key: key}.start(t)
	if got := strings.TrimSpace(vm2.waitSSH("core", "hostname")); got != "image-uefi" {
		vm2.failf("after the failed first boot, ssh core@guest hostname = %q; want image-uefi (the good config's)", got)
	}
	wall := time.Since(vm2.start)
	toFiles, stages := vm2.firstBootTimeline()
	t.Logf("OVMF retried first boot: wall to SSH login %v; initramfs start to files stage finished %v; our stage units %v",
		wall.Round(100*time.Millisecond), toFiles.Round(10*time.Millisecond), stages.Round(10*time.Millisecond))
	vm2.must("systemctl is-system-running --wait >/dev/null || :")
	f := fields(vm2.must(`echo "efi $(test -d /sys/firmware/efi && echo yes || echo no)"
echo "cmdline $(cat /proc/cmdline)"
echo "stamp $(test -e /boot/ignition.firstboot && echo present || echo absent)"
echo "bad $(test -e /etc/image-e2e-bad && echo present || echo absent)"
echo "data $(findmnt -n -o FSTYPE,LABEL /var/lib/data | tr -s ' ')"
echo "marker $(cat /var/lib/data/marker)"`))
	if f["efi"] != "yes" {
		t.Errorf("the guest did not boot by UEFI (no /sys/firmware/efi)")
	}
	if !strings.Contains(f["cmdline"], "ignition.firstboot") {
		t.Errorf("the boot after the failed one has the command line %q; want ignition.firstboot (the stamp was kept)", f["cmdline"])
	}
	if f["stamp"] != "absent" || f["bad"] != "absent" {
		t.Errorf("after the retried first boot: stamp %s, the failed config's file %s; want both absent", f["stamp"], f["bad"])
	}
	if f["data"] != "ext4 data" || f["marker"] != "written by ignition-go" {
		t.Errorf("/var/lib/data = %q with marker %q; want the data disk's ext4 (label data) with the config's file", f["data"], f["marker"])
	}
	vm2.ssh("root", "systemctl --no-block poweroff")
	vm2.waitExit()
}

// The package installs on a fresh Debian root (a copy of the
// debootstrapped .cache/debroot) with apt, which brings its dependencies
// from the archive, and that root's dracut finds the module and the
// package's dracut conf asks for it.
func TestE2EImagePackageInstalls(t *testing.T) {
	deb := imageDeb(t)
	testenv.NeedTools(t, "chroot")
	debroot, _ := filepath.Abs("../../.cache/debroot")
	if _, err := os.Stat(filepath.Join(debroot, "usr/bin/systemctl")); err != nil {
		testenv.Skip(t, "no Debian root in .cache/debroot (make test-deps debootstraps it)")
	}
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", debroot, root).CombinedOutput(); err != nil {
		t.Fatalf("copying the Debian root: %v %s", err, out)
	}
	for _, m := range [][]string{{"-t", "proc", "proc", root + "/proc"}, {"--bind", "/dev", root + "/dev"}, {"-t", "sysfs", "sysfs", root + "/sys"}} {
		if out, err := exec.Command("mount", m...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v %s", m, err, out)
		}
		target := m[len(m)-1]
		t.Cleanup(func() { exec.Command("umount", target).Run() })
	}
	if b, err := os.ReadFile(deb); err != nil || os.WriteFile(filepath.Join(root, "tmp/ignition-go.deb"), b, 0o644) != nil {
		t.Fatalf("copying the package into the root: %v", err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("chroot", append([]string{root}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("chroot %v: %v\n%s", args, err, tail(string(out), 30))
		}
		return string(out)
	}
	start := time.Now()
	run("apt-get", "-qq", "update")
	run("apt-get", "-y", "-qq", "--no-install-recommends", "install", "/tmp/ignition-go.deb")
	t.Logf("apt-get install of the package and its dependencies: %v", time.Since(start).Round(100*time.Millisecond))
	status := run("dpkg-query", "-W", "-f", "${Status} ${Version}", "ignition-go")
	if !strings.HasPrefix(status, "install ok installed ") {
		t.Errorf("dpkg-query ignition-go = %q; want installed", status)
	}
	mods := run("dracut", "--list-modules", "--no-kernel")
	if !strings.Contains("\n"+mods+"\n", "\nignition-go\n") {
		t.Errorf("dracut --list-modules in the root lacks ignition-go:\n%s", mods)
	}
	// the package's conf adds the module to every initramfs dracut builds
	conf := run("sh", "-c", ". /usr/lib/dracut/dracut.conf.d/30-ignition-go.conf; echo $add_dracutmodules")
	if !strings.Contains(" "+conf+" ", " ignition-go ") {
		t.Errorf("the package's dracut conf adds %q; want ignition-go", strings.TrimSpace(conf))
	}
	for _, p := range []string{"usr/bin/ignition", "usr/bin/ignition-validate", "usr/sbin/ignition-kargs-helper",
		"etc/grub.d/05_ignition-go", "etc/default/grub.d/ignition-go.cfg", "etc/default/ignition-go",
		"etc/systemd/system/sysinit.target.wants/ignition-go-firstboot-done.service",
		"usr/share/man/man8/ignition.8.gz", "usr/share/man/man1/ignition-validate.1.gz", "usr/share/man/man8/ignition-kargs-helper.8.gz"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("after installing the package: %v", err)
		}
	}
	// the binaries carry the package's version (make deb passes it to make build)
	if v, want := run("ignition", "-version"), strings.Fields(status)[3]; !strings.Contains(v, want) {
		t.Errorf("ignition -version = %q; want the package version %s", strings.TrimSpace(v), want)
	}
}

// fields maps each output line's first word to the rest of it.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		if k != "" {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}
