// Package qemu boots QEMU guests (TCG) with a Debian kernel and an
// initramfs holding our binaries, for what the host kernel cannot do:
// reading QEMU's fw_cfg through sysfs and mounting the UDF provisioning
// CD-ROM of Azure Stack.
package qemu

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/tests/fakes"
)

// kernel finds the guest kernel that make test-deps extracts into .cache/kernel.
func kernel(t *testing.T) (root, version string) {
	t.Helper()
	testenv.NeedTools(t, "qemu-system-x86_64", "modprobe", "cpio")
	root, _ = filepath.Abs("../../.cache/kernel/root")
	vm, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(vm) == 0 {
		testenv.Skip(t, "no guest kernel in .cache/kernel (make test-deps extracts Debian's)")
	}
	return root, strings.TrimPrefix(filepath.Base(vm[0]), "vmlinuz-")
}

// modules lists the .ko files for mods and their dependencies, in load order.
func modules(t *testing.T, root, kv string, mods ...string) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, m := range mods {
		b, err := exec.Command("modprobe", "-d", root, "-S", kv, "--show-depends", m).Output()
		if err != nil {
			t.Fatalf("modprobe --show-depends %s: %v", m, err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "insmod" && !seen[f[1]] {
				seen[f[1]] = true
				out = append(out, f[1])
			}
		}
	}
	return out
}

func build(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

type guest struct {
	mods     []string
	commands []string
	qemuArgs []string // without a -netdev, the guest has no network
	// hostBins are host programs (by name, found through PATH) copied into
	// the initramfs's /bin or /sbin with the shared libraries ldd lists.
	hostBins []string
	// files are extra files for the initramfs: path -> contents.
	files map[string]string
}

type cmdResult struct {
	line string
	out  string
	rc   int
}

var cmdRE = regexp.MustCompile(`(?s)CMD-BEGIN ([^\n]*)\n(.*?)\nCMD-END rc=(-?\d+)`)

// boot builds the initramfs, runs the guest to power-off, and returns what
// each command printed.
func (g guest) boot(t *testing.T) map[string]cmdResult {
	t.Helper()
	res := map[string]cmdResult{}
	for _, r := range g.run(t) {
		res[r.line] = r
	}
	return res
}

// run is boot with the results in the order the commands ran (a line
// may run more than once).
func (g guest) run(t *testing.T) []cmdResult {
	t.Helper()
	root, kv := kernel(t)
	dir := t.TempDir()
	stage := filepath.Join(dir, "initramfs")
	for _, d := range []string{"bin", "lib/modules", "proc", "sys", "dev", "run", "tmp", "sysroot"} {
		os.MkdirAll(filepath.Join(stage, d), 0o755)
	}
	bins := t.TempDir()
	copyFile(t, build(t, bins, "./init", "init"), filepath.Join(stage, "init"))
	copyFile(t, build(t, bins, "../../cmd/ignition", "ignition"), filepath.Join(stage, "bin", "ignition"))
	copyFile(t, build(t, bins, "../../validate", "ignition-validate"), filepath.Join(stage, "bin", "ignition-validate"))
	for _, name := range g.hostBins {
		copyHostProgram(t, stage, name)
	}
	for p, c := range g.files {
		dst := filepath.Join(stage, p)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var list []string
	for _, ko := range modules(t, root, kv, g.mods...) {
		dst := filepath.Join("/lib/modules", filepath.Base(ko))
		copyFile(t, ko, filepath.Join(stage, dst))
		list = append(list, dst)
	}
	os.WriteFile(filepath.Join(stage, "modules.list"), []byte(strings.Join(list, "\n")+"\n"), 0o644)
	os.WriteFile(filepath.Join(stage, "test.cmd"), []byte(strings.Join(g.commands, "\n")+"\n"), 0o644)
	initrd := filepath.Join(dir, "initrd.cpio")
	sh := exec.Command("sh", "-c", "find . | cpio -o -H newc --quiet > "+initrd)
	sh.Dir = stage
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v: %s", err, b)
	}
	serial := filepath.Join(dir, "serial.log")
	args := append([]string{"-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2",
		"-nographic", "-no-reboot", "-monitor", "none", "-serial", "file:" + serial,
		"-kernel", filepath.Join(root, "boot", "vmlinuz-"+kv), "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet"}, g.qemuArgs...)
	if !strings.Contains(strings.Join(g.qemuArgs, " "), "-netdev") {
		args = append(args, "-net", "none")
	}
	// TCG on a busy 2-core machine: the TPM and tang guests take up to 2.5 min
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	q := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var qout bytes.Buffer
	q.Stdout, q.Stderr = &qout, &qout
	start := time.Now()
	err := q.Run()
	log, _ := os.ReadFile(serial)
	if err != nil || !strings.Contains(string(log), "E2E-DONE") {
		t.Fatalf("guest did not finish (%v after %v): %s\nserial:\n%s", err, time.Since(start), qout.String(), log)
	}
	t.Logf("guest ran %v under TCG", time.Since(start).Round(100*time.Millisecond))
	var res []cmdResult
	for _, m := range cmdRE.FindAllStringSubmatch(string(log), -1) {
		var rc int
		fmt.Sscan(m[3], &rc)
		res = append(res, cmdResult{line: strings.TrimSpace(m[1]), out: strings.ReplaceAll(m[2], "\r", ""), rc: rc})
	}
	return res
}

// copyHostProgram copies a host program into stage's /sbin (when the host
// keeps it in an sbin directory) or /bin, with every shared library ldd
// lists at the same path, and the dynamic loader.
func copyHostProgram(t *testing.T, stage, name string) {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("host program %s: %v", name, err)
	}
	dir := "/bin"
	if strings.HasSuffix(filepath.Dir(p), "sbin") {
		dir = "/sbin"
	}
	copyFile(t, p, filepath.Join(stage, dir, name))
	libs := []string{"/lib64/ld-linux-x86-64.so.2"}
	out, err := exec.Command("ldd", p).Output()
	if err != nil && !strings.Contains(string(out), "not a dynamic executable") {
		// ldd exits 1 on a static program, which needs nothing
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("ldd %s: %v", p, err)
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2]) // libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0]) // /lib64/ld-linux-x86-64.so.2 (0x...)
		}
	}
	for _, lib := range libs {
		if _, err := os.Stat(filepath.Join(stage, lib)); err == nil {
			continue
		}
		copyFile(t, lib, filepath.Join(stage, lib))
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

const ignitionArgs = " -root /sysroot -log-to-stdout -config-cache /run/ignition.json -state-file /run/state -neednet /run/neednet"

// QEMU's fw_cfg: a 5,000-file config passed with -fw_cfg is read through
// sysfs in large reads and cached.
func TestFwCfg(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"ignition":{"version":"3.4.0"},"storage":{"files":[`)
	for i := 0; i < 5000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"path":"/opt/f%d","contents":{"source":"data:,file%%20%d"}}`, i, i)
	}
	b.WriteString("]}}")
	cfg := filepath.Join(t.TempDir(), "config.ign")
	os.WriteFile(cfg, []byte(b.String()), 0o644)
	fetch := "/bin/ignition -platform qemu -stage fetch-offline" + ignitionArgs
	explain := "/bin/ignition-validate --explain /run/ignition.json"
	res := guest{
		mods:     []string{"qemu_fw_cfg"},
		commands: []string{fetch, explain},
		qemuArgs: []string{"-fw_cfg", "name=opt/com.coreos/config,file=" + cfg},
	}.boot(t)
	if r := res[fetch]; r.rc != 0 || !strings.Contains(r.out, "[finished] reading config from QEMU fw_cfg") {
		t.Fatalf("fetch-offline in the guest: rc %d\n%s", r.rc, r.out)
	} else {
		for _, l := range strings.Split(r.out, "\n") {
			if strings.Contains(l, "[finished] reading config from QEMU fw_cfg") {
				t.Logf("%d-byte config: %s", b.Len(), strings.TrimSpace(l))
			}
		}
	}
	if r := res[explain]; r.rc != 0 || !strings.Contains(r.out, "file /opt/f4999 mode 0644 (default), from an inline data URL") {
		t.Fatalf("the cached config lacks the files: rc %d\n%.2000s", r.rc, r.out)
	}
}

// Azure Stack's provisioning CD-ROM: a real UDF image (genisoimage -udf:
// the host kernel cannot mount UDF to fill an mkudffs image) with
// ovf-env.xml and CustomData.bin, attached as a CD drive. The provider
// finds the drive, checks a disc is in, mounts it read-only and reads the
// custom data.
func TestAzureStackCDROM(t *testing.T) {
	testenv.NeedTools(t, "genisoimage")
	iso := provisioningMedia(t, `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/from-cdrom","contents":{"source":"data:,hi"}}]}}`)
	fetch := "/bin/ignition -platform azurestack -stage fetch -fetch-timeout 60s" + ignitionArgs
	explain := "/bin/ignition-validate --explain /run/ignition.json"
	res := guest{
		mods:     []string{"ahci", "sr_mod", "udf", "isofs"},
		commands: []string{fetch, explain},
		qemuArgs: []string{"-drive", "file=" + iso + ",media=cdrom,readonly=on"},
	}.boot(t)
	if r := res[fetch]; r.rc != 0 || !strings.Contains(r.out, "[finished] reading custom data from the provisioning CD-ROM") {
		t.Fatalf("fetch in the guest: rc %d\n%s", r.rc, r.out)
	}
	if r := res[explain]; r.rc != 0 || !strings.Contains(r.out, "file /etc/from-cdrom") {
		t.Fatalf("the cached config lacks the custom data's file: rc %d\n%s", r.rc, r.out)
	}
}

// Azure, the whole way: IMDS (a fake on the host, reached through QEMU's
// user network at 169.254.169.254) has no userData, so the provider reads
// CustomData.bin from the UDF provisioning CD-ROM.
func TestAzureCustomDataFromCDROM(t *testing.T) {
	testenv.NeedTools(t, "genisoimage", "socat")
	imds := &fakes.AzureIMDS{Environment: "AzureChinaCloud"}
	imdsAddr := serveLoopback(t, imds)
	iso := provisioningMedia(t, `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/azure-custom-data"}]}}`)
	ifup := "@ifup eth0 169.254.0.15/16"
	fetch := "/bin/ignition -platform azure -stage fetch -fetch-timeout 90s" + ignitionArgs
	explain := "/bin/ignition-validate --explain /run/ignition.json"
	res := guest{
		mods:     []string{"virtio_pci", "virtio_net", "ahci", "sr_mod", "udf"},
		commands: []string{ifup, fetch, explain},
		qemuArgs: append(imdsOnly(imdsAddr), "-drive", "file="+iso+",media=cdrom,readonly=on"),
	}.boot(t)
	if r := res[ifup]; r.rc != 0 {
		t.Fatalf("network setup in the guest: %s", r.out)
	}
	r := res[fetch]
	if r.rc != 0 {
		t.Fatalf("fetch in the guest: rc %d\n%s", r.rc, r.out)
	}
	for _, want := range []string{"Azure: cloud AzureChinaCloud", "IMDS userData is empty; looking for custom data on the provisioning CD-ROM", "[finished] reading custom data from the provisioning CD-ROM"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("guest log lacks %q:\n%s", want, r.out)
		}
	}
	if r := res[explain]; r.rc != 0 || !strings.Contains(r.out, "file /etc/azure-custom-data") {
		t.Fatalf("the cached config lacks the custom data's file: rc %d\n%s", r.rc, r.out)
	}
}

// serveLoopback serves h on a loopback port until the test ends and
// returns its address.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// imdsOnly is a guest network (after "@ifup eth0 169.254.0.15/16") that
// reaches only 169.254.169.254:80, forwarded to addr on the host.
func imdsOnly(addr string) []string {
	return []string{
		"-netdev", "user,id=n0,restrict=on,net=169.254.0.0/16,host=169.254.169.2,guestfwd=tcp:169.254.169.254:80-cmd:socat - TCP:" + addr,
		"-device", "virtio-net-pci,netdev=n0",
	}
}

// provisioningMedia makes Azure's provisioning CD: a UDF image (genisoimage
// -udf: the host kernel cannot mount UDF to fill an mkudffs image) with
// ovf-env.xml and customData as CustomData.bin.
func provisioningMedia(t *testing.T, customData string) string {
	t.Helper()
	return provisioningMediaWith(t, `<?xml version="1.0" encoding="utf-8"?><Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"/>`, &customData)
}

// provisioningMediaWith makes the provisioning CD with this ovf-env.xml,
// and CustomData.bin when customData is not nil.
func provisioningMediaWith(t *testing.T, ovfEnv string, customData *string) string {
	t.Helper()
	media := t.TempDir()
	os.WriteFile(filepath.Join(media, "ovf-env.xml"), []byte(ovfEnv), 0o644)
	if customData != nil {
		os.WriteFile(filepath.Join(media, "CustomData.bin"), []byte(*customData), 0o644)
	}
	iso := filepath.Join(t.TempDir(), "provisioning.iso")
	if b, err := exec.Command("genisoimage", "-quiet", "-udf", "-V", "rd_rdfe_stable", "-o", iso, media).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v: %s", err, b)
	}
	return iso
}
