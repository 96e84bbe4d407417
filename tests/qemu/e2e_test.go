package qemu

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
)

// The end-to-end first boots (TestE2E*, run by make e2e): Debian's kernel,
// one initramfs made by Debian's dracut with our module
// (dracut/30ignition-go) and systemd, shared by every boot, and a Debian
// root disk (from .cache/debroot, its machine-id uninitialized), each boot
// writing to a throwaway copy-on-write layer over it. Pass or fail comes from markers on the
// serial console: the target's own unit (written and enabled by the files
// stage) prints what it sees, and the initrd's timeline from the journal.

// shared is what every boot uses, made once per test process.
var shared struct {
	once sync.Once
	err  error
	dir  string
	e2eImages
}

type e2eImages struct {
	kroot, kv string
	initrd    string
	rootImg   string // raw ext4, LABEL=root, the Debian root
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// e2eSetup builds (once) the initramfs and the root image.
func e2eSetup(t *testing.T) e2eImages {
	t.Helper()
	testenv.NeedTools(t, "qemu-system-x86_64", "dracut", "mkfs.ext4", "debugfs", "socat")
	root, kv := kernel(t)
	debroot, _ := filepath.Abs("../../.cache/debroot")
	if _, err := os.Stat(filepath.Join(debroot, "usr/bin/systemctl")); err != nil {
		testenv.Skip(t, "no Debian root in .cache/debroot (make test-deps debootstraps it)")
	}
	if _, err := os.Stat("/usr/lib/dracut/modules.d/01systemd-networkd"); err != nil {
		testenv.Skip(t, "dracut's systemd-networkd module is not installed (make test-deps installs dracut-network)")
	}
	shared.once.Do(func() {
		shared.err = func() error {
			dir, err := os.MkdirTemp("", "ignition-e2e-")
			if err != nil {
				return err
			}
			shared.dir = dir
			shared.kroot, shared.kv = root, kv
			start := time.Now()
			if shared.initrd, err = buildInitrd(dir, root, kv); err != nil {
				return err
			}
			st, _ := os.Stat(shared.initrd)
			t.Logf("e2e: dracut built the initramfs (%.1f MB) in %v", float64(st.Size())/1e6, time.Since(start).Round(100*time.Millisecond))
			start = time.Now()
			if shared.rootImg, err = buildRoot(dir, debroot); err != nil {
				return err
			}
			t.Logf("e2e: the Debian root image took %v", time.Since(start).Round(100*time.Millisecond))
			return nil
		}()
	})
	if shared.err != nil {
		t.Fatalf("e2e set-up: %v", shared.err)
	}
	return shared.e2eImages
}

// goBuild builds one of our commands, static, as the initramfs takes it.
func goBuild(dir, pkg, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

func buildInitrd(dir, kroot, kv string) (string, error) {
	bin, err := goBuild(dir, "../../cmd/ignition", "ignition")
	if err != nil {
		return "", err
	}
	helper, err := goBuild(dir, "../../cmd/ignition-kargs-helper", "ignition-kargs-helper")
	if err != nil {
		return "", err
	}
	// dracut's own tree with our module added, so nothing lands in /usr
	base := filepath.Join(dir, "dracut")
	if out, err := exec.Command("cp", "-a", "/usr/lib/dracut", base).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying dracut: %v %s", err, out)
	}
	mod, _ := filepath.Abs("../../dracut/30ignition-go")
	if out, err := exec.Command("cp", "-a", mod, filepath.Join(base, "modules.d")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying our module: %v %s", err, out)
	}
	initrd := filepath.Join(dir, "initrd.img")
	cmd := exec.Command("dracut", "--force", "--no-hostonly", "--quiet", "--kver", kv,
		"--kmoddir", filepath.Join(kroot, "lib/modules", kv),
		"--modules", "systemd systemd-initrd dracut-systemd base rootfs-block systemd-networkd ignition-go",
		"--omit", "plymouth", "--add-drivers", "virtio_blk virtio_pci virtio_net ext4", "--force-drivers", "qemu_fw_cfg",
		"--gzip", initrd)
	cmd.Env = append(os.Environ(), "dracutbasedir="+base, "IGNITION_GO_BIN="+bin, "IGNITION_GO_KARGS_HELPER="+helper)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("dracut: %v\n%s", err, out)
	}
	return initrd, nil
}

// buildRoot makes the Debian root disk: a whole-disk ext4 labelled root,
// not yet booted.
func buildRoot(dir, debroot string) (string, error) {
	tree := filepath.Join(dir, "tree")
	if out, err := exec.Command("cp", "-a", debroot, tree).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying the Debian root: %v %s", err, out)
	}
	defer os.RemoveAll(tree)
	os.WriteFile(filepath.Join(tree, "etc/machine-id"), []byte("uninitialized\n"), 0o444)
	os.WriteFile(filepath.Join(tree, "etc/fstab"), []byte("LABEL=root / ext4 defaults 0 1\n"), 0o644)
	img := filepath.Join(dir, "root.img")
	if err := mkfsImage(img, "1G", "root", tree); err != nil {
		return "", err
	}
	return img, nil
}

// mkfsImage makes an ext4 image file of size holding tree (none: empty).
func mkfsImage(img, size, label, tree string) error {
	if out, err := exec.Command("truncate", "-s", size, img).CombinedOutput(); err != nil {
		return fmt.Errorf("truncate: %v %s", err, out)
	}
	args := []string{"-q", "-F", "-L", label}
	if tree != "" {
		args = append(args, "-d", tree)
	}
	if out, err := exec.Command("mkfs.ext4", append(args, img)...).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %v %s", img, err, out)
	}
	return nil
}

// e2eKernelArgs start every boot's kernel command line.
const e2eKernelArgs = "console=ttyS0 root=LABEL=root rw panic=-1 systemd.show_status=error"

// e2eBoot is one boot of the shared initramfs.
type e2eBoot struct {
	cmdline string // after the common arguments
	// bootArgs, when set, is the whole kernel command line (what a
	// bootloader read from a boot entry)
	bootArgs string
	config   map[string]any    // in fw_cfg (nil: none)
	disks    map[string]string // serial -> raw image, beside the root disk
	qemu     []string          // more QEMU arguments (a -netdev, ...)
	// until ends the boot when the console shows it (the guest also ends
	// it by powering off or rebooting; QEMU runs with -no-reboot)
	until []string
	// root is the root disk's image (default: the shared one, its writes
	// dropped after the boot)
	root string
}

// e2eRun is what a boot printed and how long it took.
type e2eRun struct {
	serial string
	wall   time.Duration
	// the E2E-* lines the target printed, by their first word
	lines map[string][]string
}

func (b e2eBoot) run(t *testing.T, img e2eImages) e2eRun {
	t.Helper()
	dir := t.TempDir()
	// the root disk: the shared image, its writes kept in a temporary
	// copy-on-write layer (snapshot=on), or the boot's own
	root, snapshot := b.root, ",snapshot=on"
	if root == "" {
		root = img.rootImg
	} else {
		snapshot = ""
	}
	serial := filepath.Join(dir, "serial.log")
	kargs := e2eKernelArgs + " " + b.cmdline
	if b.bootArgs != "" {
		kargs = b.bootArgs
	}
	args := []string{"-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2",
		"-nographic", "-no-reboot", "-monitor", "none", "-serial", "file:" + serial,
		"-kernel", filepath.Join(img.kroot, "boot", "vmlinuz-"+img.kv), "-initrd", img.initrd,
		"-append", kargs,
		"-drive", "file=" + root + ",if=none,id=root,format=raw" + snapshot, "-device", "virtio-blk-pci,drive=root,serial=root"}
	serials := make([]string, 0, len(b.disks))
	for s := range b.disks {
		serials = append(serials, s)
	}
	sort.Strings(serials)
	for _, s := range serials {
		args = append(args, "-drive", "file="+b.disks[s]+",if=none,id="+s+",format=raw", "-device", "virtio-blk-pci,drive="+s+",serial="+s)
	}
	if b.config != nil {
		cfg, _ := json.Marshal(b.config)
		p := filepath.Join(dir, "config.ign")
		os.WriteFile(p, cfg, 0o644)
		args = append(args, "-fw_cfg", "name=opt/com.coreos/config,file="+p)
	}
	args = append(args, b.qemu...)
	if !strings.Contains(strings.Join(b.qemu, " "), "-netdev") {
		args = append(args, "-net", "none")
	}
	// every boot under a timeout; a boot that reached what the test waits
	// for (emergency mode waits for a login forever) is stopped then
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	q := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var qout bytes.Buffer
	q.Stdout, q.Stderr = &qout, &qout
	start := time.Now()
	if err := q.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Wait() }()
	var err error
	stopped := false
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(500 * time.Millisecond):
			log, _ := os.ReadFile(serial)
			for _, u := range b.until {
				if bytes.Contains(log, []byte(u)) {
					stopped = true
					q.Process.Kill()
					<-done
					break wait
				}
			}
		}
	}
	r := e2eRun{wall: time.Since(start), lines: map[string][]string{}}
	log, _ := os.ReadFile(serial)
	r.serial = strings.ReplaceAll(string(log), "\r", "")
	if keep := os.Getenv("IGNITION_TEST_KEEP_SERIAL"); keep != "" {
		os.WriteFile(filepath.Join(keep, t.Name()+".log"), log, 0o644)
	}
	if ctx.Err() != nil {
		t.Fatalf("the boot did not end within the timeout (%v)\nserial:\n%s", r.wall.Round(time.Second), tail(r.serial, 150))
	}
	if err != nil && !stopped {
		t.Fatalf("qemu: %v after %v: %s\nserial:\n%s", err, r.wall.Round(time.Second), qout.String(), tail(r.serial, 150))
	}
	for _, l := range strings.Split(r.serial, "\n") {
		if i := strings.Index(l, "E2E-"); i >= 0 {
			l = l[i:]
			k, v, _ := strings.Cut(l, " ")
			r.lines[k] = append(r.lines[k], v)
		}
	}
	return r
}

// line is the one line the target printed with the key, or a failure.
func (r e2eRun) line(t *testing.T, key string) string {
	t.Helper()
	if len(r.lines[key]) == 0 {
		t.Fatalf("the console lacks %s\nserial:\n%s", key, tail(r.serial, 150))
	}
	return r.lines[key][0]
}

var monoRE = regexp.MustCompile(`^\[\s*([0-9.]+)\]`)

// timeline reports what the journal dump (E2E-JOURNAL lines) says: from
// the initramfs's start (the kernel running /init) to the files stage
// finished, and the time our stage units ran, summed.
func (r e2eRun) timeline(t *testing.T) (toFiles, stages time.Duration) {
	t.Helper()
	var initStart, filesDone float64 = -1, -1
	started := map[string]float64{}
	for _, l := range r.lines["E2E-JOURNAL"] {
		m := monoRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		switch {
		case strings.Contains(l, "Run /init as init process"):
			initStart = at
		case strings.Contains(l, "Starting ignition-"):
			started[unitOf(l)] = at
		case strings.Contains(l, "Finished ignition-"):
			u := unitOf(l)
			if s, ok := started[u]; ok {
				stages += time.Duration((at - s) * float64(time.Second))
			}
			if u == "ignition-files.service" {
				filesDone = at
			}
		}
	}
	if initStart < 0 || filesDone < 0 {
		t.Errorf("the journal dump lacks the start of /init or the files stage finished:\n%s", strings.Join(r.lines["E2E-JOURNAL"], "\n"))
		return 0, stages
	}
	return time.Duration((filesDone - initStart) * float64(time.Second)), stages
}

func unitOf(l string) string {
	for _, f := range strings.Fields(l) {
		if strings.HasPrefix(f, "ignition-") && strings.HasSuffix(f, ".service") {
			return f
		}
	}
	return ""
}

// report logs a boot's figures.
func (r e2eRun) report(t *testing.T, what string) {
	t.Helper()
	toFiles, stages := r.timeline(t)
	t.Logf("%s: wall %v; initramfs start to files stage finished %v; our stage units %v",
		what, r.wall.Round(100*time.Millisecond), toFiles.Round(10*time.Millisecond), stages.Round(10*time.Millisecond))
}

// The target's side: a script and an enabled unit that print what the
// tests check, then the initrd's timeline from the journal, and power off.
const reportScript = `#!/bin/sh
# written by ignition-go's files stage; run once by e2e-report.service
{
echo "E2E-CMDLINE $(cat /proc/cmdline)"
echo "E2E-USER $(id core) keys=$(cat /home/core/.ssh/authorized_keys.d/ignition 2>/dev/null | wc -l)"
echo "E2E-VAR $(findmnt -n -o SOURCE,FSTYPE,LABEL /var | tr -s ' ' ' ')"
for f in /etc/e2e/* /var/lib/e2e/*; do [ -f "$f" ] && echo "E2E-FILE $f $(cat "$f")"; done
for f in /home/*/.ssh/authorized_keys.d/ignition; do [ -f "$f" ] && echo "E2E-KEYS $f $(wc -l < "$f") $(stat -c %U:%a "$f")" && echo "E2E-KEYSUM $f $(sha256sum < "$f" | cut -d' ' -f1)"; done
echo "E2E-HOSTNAME $(cat /etc/hostname)"
echo "E2E-RESULT $(cat /etc/.ignition-result.json 2>/dev/null)"
journalctl -b -k -o short-monotonic --no-pager | grep -m1 'Run /init as init process' | sed 's/^/E2E-JOURNAL /'
journalctl -b -o short-monotonic --no-pager _PID=1 | grep -E '(Starting|Finished|Failed).*ignition-' | sed 's/^/E2E-JOURNAL /'
echo "E2E-TARGET-DONE"
} > /dev/ttyS0 2>&1
systemctl --no-block poweroff
`

// reportUnit runs the report script once the target is up, before the
// serial console's getty: getty hangs the line up when it starts, which
// cut a report short (seen once in CI).
const reportUnit = "[Unit]\nDescription=e2e report\nAfter=local-fs.target systemd-journal-flush.service\n" +
	"Before=serial-getty@ttyS0.service getty.target\n" +
	"[Service]\nType=oneshot\nExecStart=/usr/local/bin/e2e-report\n[Install]\nWantedBy=multi-user.target\n"

// rootWithReport is a copy of the shared root disk with the report script
// and its unit baked in and enabled, for boots whose config cannot carry
// them (no user config at all): the image's own unit, run on the first
// boot of the real root, prints the same E2E-* lines.
func rootWithReport(t *testing.T, img e2eImages) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root.img")
	if out, err := exec.Command("cp", "--sparse=always", img.rootImg, root).CombinedOutput(); err != nil {
		t.Fatalf("copying the root image: %v %s", err, out)
	}
	script, unit := filepath.Join(dir, "e2e-report"), filepath.Join(dir, "e2e-report.service")
	os.WriteFile(script, []byte(reportScript), 0o755)
	os.Chmod(script, 0o755) // whatever the umask
	os.WriteFile(unit, []byte(reportUnit), 0o644)
	cmds := "write " + script + " /usr/local/bin/e2e-report\n" +
		"write " + unit + " /etc/systemd/system/e2e-report.service\n" +
		"symlink /etc/systemd/system/multi-user.target.wants/e2e-report.service /etc/systemd/system/e2e-report.service\n"
	// debugfs exits 0 whatever fails; its errors are on stderr, after
	// its banner
	cmd := exec.Command("debugfs", "-w", "-f", "-", root)
	cmd.Stdin = strings.NewReader(cmds)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if err == nil && l != "" && !strings.HasPrefix(l, "debugfs ") {
			err = errors.New(l)
		}
	}
	if err != nil {
		t.Fatalf("debugfs writing the report unit into %s: %v\n%s", root, err, stderr.String())
	}
	return root
}

// e2eConfig is a config with the report script and unit, a user with an
// SSH key, and more on top: files and units are appended, other keys set.
func e2eConfig(version string, more map[string]any) map[string]any {
	files := []any{
		map[string]any{"path": "/usr/local/bin/e2e-report", "mode": 0o755, "contents": map[string]any{"source": e2eData(reportScript)}},
	}
	units := []any{
		map[string]any{"name": "e2e-report.service", "enabled": true, "contents": reportUnit},
	}
	cfg := map[string]any{
		"ignition": map[string]any{"version": version},
		"passwd":   map[string]any{"users": []any{map[string]any{"name": "core", "uid": 1600, "sshAuthorizedKeys": []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2e core@e2e"}}}},
	}
	storage := map[string]any{}
	for k, v := range more {
		switch k {
		case "files":
			files = append(files, v.([]any)...)
		case "units":
			units = append(units, v.([]any)...)
		case "disks", "filesystems":
			storage[k] = v
		default:
			cfg[k] = v
		}
	}
	storage["files"] = files
	cfg["storage"] = storage
	cfg["systemd"] = map[string]any{"units": units}
	return cfg
}

func e2eData(s string) string {
	var b strings.Builder
	b.WriteString("data:,")
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func e2eFile(path, contents string) map[string]any {
	return map[string]any{"path": path, "overwrite": true, "contents": map[string]any{"source": e2eData(contents)}}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// blankDisk is a sparse raw image for a data disk.
func blankDisk(t *testing.T, size string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.img")
	if out, err := exec.Command("truncate", "-s", size, p).CombinedOutput(); err != nil {
		t.Fatalf("truncate: %v %s", err, out)
	}
	return p
}

// e2eEnds are the console lines after which a boot goes no further: the
// report done, or emergency mode in the initrd (dracut) or the target
// (systemd), which waits for a login forever.
var e2eEnds = []string{"E2E-TARGET-DONE", "Entering emergency mode", "You are in emergency mode"}

// e2eHTTP serves files on the host's loopback for guests (reached through
// a guestfwd), recording what was asked.
type e2eHTTP struct {
	addr  string
	mu    sync.Mutex
	files map[string][]byte
	asked []string // "GET /path User-Agent"
}

func serveHTTP(t *testing.T, files map[string][]byte) *e2eHTTP {
	t.Helper()
	s := &e2eHTTP{files: files}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.Method+" "+r.URL.Path+" "+r.UserAgent())
		b, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *e2eHTTP) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// userNet is QEMU's user network, closed to the world (restrict=on), with
// its TFTP server serving tftpDir ("" none), and guestAddr:80 forwarded to
// the host's hostAddr ("" none), one connection per request (socat).
func userNet(tftpDir, guestAddr, hostAddr string) []string {
	nd := "user,id=n0,restrict=on"
	if tftpDir != "" {
		nd += ",tftp=" + tftpDir
	}
	if hostAddr != "" {
		nd += ",guestfwd=tcp:" + guestAddr + ":80-cmd:socat - TCP:" + hostAddr
	}
	return []string{"-netdev", nd, "-device", "virtio-net-pci,netdev=n0"}
}

func sha512Hex(b []byte) string {
	s := sha512.Sum512(b)
	return hex.EncodeToString(s[:])
}

// The initramfs our dracut module builds holds every program the disks,
// mount and files stages run, clevis's tang and TPM2 pins with what they
// call (the TCTI library tpm2-tools loads with dlopen included), when the
// build machine has them (make test-deps installs them all).
func TestE2EInitramfsHoldsTheStagesPrograms(t *testing.T) {
	img := e2eSetup(t)
	testenv.NeedTools(t, "lsinitrd")
	out, err := exec.Command("lsinitrd", img.initrd).Output()
	if err != nil {
		t.Fatalf("lsinitrd %s: %v", img.initrd, err)
	}
	listing := string(out)
	for _, p := range []string{
		"bin/ignition", "sbin/ignition-kargs-helper", "sgdisk", "wipefs", "blkid", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "mkfs.fat", "mkswap",
		"mdadm", "cryptsetup", "useradd", "systemctl", "setfiles",
		"clevis-luks-bind", "clevis-encrypt-sss", "clevis-encrypt-tang", "clevis-encrypt-tpm2", "jose",
		"tpm2_createprimary", "tpm2_create", "tpm2_createpolicy", "tpm2_flushcontext", "tpm2_load", "tpm2_unseal",
		"libtss2-tcti-device.so",
	} {
		if !regexp.MustCompile(`(?m)/` + regexp.QuoteMeta(p) + `(\.[0-9.]+)?( -> \S+)?$`).MatchString(listing) {
			t.Errorf("the initramfs has no %s", p)
		}
	}
}
