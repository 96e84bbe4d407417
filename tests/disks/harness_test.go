// Package disks runs the real ignition binary's fetch-offline, disks,
// mount, files and umount stages against loop devices made from image files
// in the test's temp dirs. Each scenario is data: the disks before, the
// config, and the disks after (or a failure that leaves every image
// byte-for-byte unchanged).
package disks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/testenv"
)

var ignitionBin string

func TestMain(m *testing.M) { testenv.MainWithIgnition(m, "../../cmd/ignition", &ignitionBin) }

// tools are the programs the harness itself runs to build and read disks.
var tools = []string{"losetup", "partx", "sgdisk", "sfdisk", "blkid", "mount", "umount",
	"mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "mkswap", "mkfs.vfat", "mcopy", "mtype", "mdir"}

// requireRoot skips (or, with CI set, fails) when the machine cannot run
// these tests: not root, a missing tool, or a kernel without the
// filesystems the scenarios mount.
func requireRoot(t *testing.T) {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		testenv.Skip(t, format, args...)
	}
	if os.Geteuid() != 0 {
		skip("needs root for loop devices and mounts")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			skip("%s is not installed (apt-get install gdisk fdisk xfsprogs btrfs-progs dosfstools mtools)", tool)
		}
	}
	fss, _ := os.ReadFile("/proc/filesystems")
	for _, fs := range []string{"ext4", "xfs", "btrfs"} {
		if !regexp.MustCompile(`(?m)\s` + fs + `$`).Match(fss) {
			skip("the kernel cannot mount %s", fs)
		}
	}
}

// ---- the data a scenario is written in ----

// fsys is a filesystem: before, what to make; after, what must be there
// (empty fields are not checked).
type fsys struct {
	Format string // ext4, xfs, btrfs, swap, vfat; after only: "none" = no signature at all
	Label  string
	UUID   string
	Files  map[string]string // path inside the filesystem -> contents

	// after only
	UUIDNot string   // the UUID must differ from this (a recreated filesystem)
	Gone    []string // paths that must not exist any more
}

// part is a GPT partition: before, what sgdisk makes; after, what must be
// there (zero fields are not checked).
type part struct {
	Num      int
	Label    string
	Type     string // type GUID
	GUID     string // unique GUID
	StartMiB int
	SizeMiB  int // before: -1 = to the end of the disk
	FS       *fsys

	// after only
	ToEnd   bool   // the partition ends at the disk's last usable sector
	GUIDNot string // the unique GUID must differ from this (a recreated entry)
}

// disk is one loop device ($diskN in configs).
type disk struct {
	SizeMiB int
	Raw     bool // no partition table: before, FS is made on the whole device; after, there must be no table
	FS      *fsys
	Parts   []part // after: the exact set of partitions
}

// mnt is a mount the mount stage must have made, checked after the files
// stage and before umount.
type mnt struct {
	Path string   // inside the target root
	Dev  string   // $diskNpM
	Opts []string // per-mount options that must be set (for example noatime)
}

type scenario struct {
	name   string
	before []disk
	config string // $diskN / $diskNpM are replaced with the loop devices
	after  []disk

	// fail names the stage that must fail ("any" for whichever); every
	// image must then be byte-for-byte unchanged.
	fail string
	// why is a regexp (case-insensitive; $diskN and $diskNpM replaced) that
	// the failing stage's output must match, so a failure for another
	// reason does not pass.
	why string
	// mountFirst is a device ($diskNpM) the test mounts read-only before the
	// run: the disks stage must refuse its disk.
	mountFirst string

	mounts   []mnt             // checked while mounted
	rootHas  map[string]string // files in the bare target root after umount
	rootGone []string          // paths that must not be in the bare root after umount (they went into a filesystem)

	// same lists disks that must be byte-for-byte unchanged after a
	// successful run: disks the config does not name, or names only to
	// keep what is there.
	same []int

	// dryRun runs only fetch-offline and disks -dry-run: exit 0, images
	// unchanged, and the output matches each regexp (case-insensitive).
	dryRun []string

	// between, when set, is written by the "user" into filesystems
	// ($diskNpM -> path -> contents) after a first successful run; then the
	// whole sequence runs again and after is checked.
	between map[string]map[string]string
}

// Well-known GPT type GUIDs.
const (
	typeLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	typeESP   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	typeSwap  = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
	typeHome  = "933AC7E1-2EB4-4F13-B844-0E14E2AEF915"
	typeVar   = "4D21B016-B534-45C2-A9FB-5C16E091FD2D"
)

// ---- one scenario's world ----

type world struct {
	t     *testing.T
	dir   string
	root  string
	state string
	sys   string
	conf  string
	env   []string
	imgs  []string
	loops []string
}

func newWorld(t *testing.T) *world {
	d := t.TempDir()
	w := &world{t: t, dir: d, root: filepath.Join(d, "root"), state: filepath.Join(d, "run"),
		sys: filepath.Join(d, "sys"), conf: filepath.Join(d, "config.ign")}
	for _, p := range []string{w.root, w.state, w.sys} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmdline := filepath.Join(d, "cmdline")
	os.WriteFile(cmdline, nil, 0o644)
	w.env = []string{
		"IGNITION_KERNEL_CMDLINE_PATH=" + cmdline,
		"IGNITION_SYSTEM_CONFIG_DIR=" + w.sys, "IGNITION_SYSTEM_RUNTIME_CONFIG_DIR=" + w.sys, "IGNITION_SYSTEM_LOCAL_CONFIG_DIR=" + w.sys,
		"IGNITION_CONFIG_FILE=" + w.conf,
	}
	// One cleanup, in order: unmount whatever is ours, then partx -d and
	// losetup -d each loop device, then check that none is left attached.
	t.Cleanup(w.cleanup)
	return w
}

func (w *world) cleanup() {
	syscall.Sync()
	for _, mi := range w.ourMounts() {
		if out, err := exec.Command("umount", mi.point).CombinedOutput(); err != nil {
			w.t.Logf("cleanup: umount %s: %v %s; detaching lazily", mi.point, err, out)
			exec.Command("umount", "-l", mi.point).Run()
		}
	}
	for _, loop := range w.loops {
		exec.Command("partx", "-d", loop).Run()
		if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
			w.t.Errorf("cleanup: losetup -d %s: %v %s", loop, err, out)
		}
	}
	// losetup -d of a device another process has open (a blkid probe
	// running at that moment) detaches it when that process closes it: wait
	// for that, for a bounded time, before calling it a leak
	for _, img := range w.imgs {
		var out []byte
		for i := 0; i < 100; i++ {
			if out, _ = exec.Command("losetup", "-j", img).Output(); len(bytes.TrimSpace(out)) == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(bytes.TrimSpace(out)) > 0 {
			w.t.Errorf("cleanup: %s is still attached after 5 s: %s", img, out)
		}
	}
}

func (w *world) cmd(name string, args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		w.t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// ---- before: build the disks ----

func (w *world) build(ds []disk) {
	w.t.Helper()
	for i, d := range ds {
		img := filepath.Join(w.dir, fmt.Sprintf("disk%d.img", i))
		f, err := os.Create(img)
		if err != nil {
			w.t.Fatal(err)
		}
		if err := f.Truncate(int64(d.SizeMiB) << 20); err != nil {
			w.t.Fatal(err)
		}
		f.Close()
		w.imgs = append(w.imgs, img)
		if !d.Raw {
			args := []string{"-o"}
			for _, p := range d.Parts {
				n := strconv.Itoa(p.Num)
				start, end := p.StartMiB*2048, strconv.Itoa(p.StartMiB*2048+p.SizeMiB*2048-1)
				if p.SizeMiB < 0 {
					end = "0" // to the end of the disk
				}
				args = append(args, "-n", fmt.Sprintf("%s:%d:%s", n, start, end))
				typ := p.Type
				if typ == "" {
					typ = typeLinux
				}
				args = append(args, "-t", n+":"+typ)
				if p.Label != "" {
					args = append(args, "-c", n+":"+p.Label)
				}
				if p.GUID != "" {
					args = append(args, "-u", n+":"+p.GUID)
				}
			}
			w.cmd("sgdisk", append(args, img)...)
		}
		loop := strings.TrimSpace(w.cmd("losetup", "-f", "--show", img))
		if !strings.HasPrefix(loop, "/dev/loop") {
			w.t.Fatalf("losetup gave %q", loop)
		}
		w.loops = append(w.loops, loop)
		if len(d.Parts) > 0 {
			w.cmd("partx", "-a", loop)
		}
		if d.Raw && d.FS != nil {
			w.mkfs(loop, d.FS)
		}
		for _, p := range d.Parts {
			if p.FS != nil {
				w.mkfs(fmt.Sprintf("%sp%d", loop, p.Num), p.FS)
			}
		}
	}
	syscall.Sync()
}

func (w *world) mkfs(dev string, f *fsys) {
	w.t.Helper()
	var args []string
	switch f.Format {
	case "ext4":
		args = []string{"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"}
		if f.Label != "" {
			args = append(args, "-L", f.Label)
		}
		if f.UUID != "" {
			args = append(args, "-U", f.UUID)
		}
	case "xfs":
		args = []string{"mkfs.xfs", "-q", "-f"}
		if f.Label != "" {
			args = append(args, "-L", f.Label)
		}
		if f.UUID != "" {
			args = append(args, "-m", "uuid="+f.UUID)
		}
	case "btrfs":
		args = []string{"mkfs.btrfs", "-q", "-f"}
		if f.Label != "" {
			args = append(args, "-L", f.Label)
		}
		if f.UUID != "" {
			args = append(args, "-U", f.UUID)
		}
	case "swap":
		args = []string{"mkswap"}
		if f.Label != "" {
			args = append(args, "-L", f.Label)
		}
		if f.UUID != "" {
			args = append(args, "-U", f.UUID)
		}
	case "vfat":
		args = []string{"mkfs.vfat"}
		if f.Label != "" {
			args = append(args, "-n", f.Label)
		}
		if f.UUID != "" {
			args = append(args, "-i", strings.ReplaceAll(f.UUID, "-", ""))
		}
	default:
		w.t.Fatalf("before-state: cannot make %q", f.Format)
	}
	w.cmd(args[0], append(args[1:], dev)...)
	if len(f.Files) > 0 {
		w.writeFiles(dev, f.Format, f.Files)
	}
}

// writeFiles puts files into the filesystem on dev: through a mount, or
// mtools for vfat (this kernel cannot mount vfat).
func (w *world) writeFiles(dev, format string, files map[string]string) {
	w.t.Helper()
	if format == "vfat" {
		for p, c := range files {
			src := filepath.Join(w.dir, "vfat-src")
			os.WriteFile(src, []byte(c), 0o644)
			w.cmd("mcopy", "-o", "-i", dev, src, "::"+p)
		}
		return
	}
	dir, err := os.MkdirTemp(w.dir, "fill-")
	if err != nil {
		w.t.Fatal(err)
	}
	w.cmd("mount", dev, dir)
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			w.t.Errorf("writing %s on %s: %v", p, dev, err)
		}
	}
	w.cmd("umount", dir)
}

// subst replaces $diskN and $diskNpM with the loop devices.
var diskRef = regexp.MustCompile(`\$disk(\d+)(p(\d+))?`)

func (w *world) subst(s string) string {
	return diskRef.ReplaceAllStringFunc(s, func(m string) string {
		sm := diskRef.FindStringSubmatch(m)
		i, _ := strconv.Atoi(sm[1])
		if i >= len(w.loops) {
			w.t.Fatalf("%s names a disk the scenario does not have", m)
		}
		if sm[3] != "" {
			return w.loops[i] + "p" + sm[3]
		}
		return w.loops[i]
	})
}

func (w *world) hashes() []string {
	w.t.Helper()
	syscall.Sync()
	var out []string
	for _, img := range w.imgs {
		f, err := os.Open(img)
		if err != nil {
			w.t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			w.t.Fatal(err)
		}
		f.Close()
		out = append(out, hex.EncodeToString(h.Sum(nil)))
	}
	return out
}

// ---- running the binary ----

type result struct {
	code        int
	out, stderr string
}

func (w *world) stage(name string, extra ...string) result {
	w.t.Helper()
	args := append([]string{"-platform", "file", "-stage", name, "-root", w.root, "-log-to-stdout",
		"-config-cache", filepath.Join(w.state, "ignition.json"), "-state-file", filepath.Join(w.state, "state"),
		"-neednet", filepath.Join(w.state, "neednet")}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, ignitionBin, args...)
	c.Env = append(os.Environ(), w.env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	r := result{out: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if r.code == -1 {
			r.code = 255 // killed (the context's timeout)
		}
	} else if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// sequence runs fetch-offline, disks, mount, files and umount, stopping at
// the first stage that fails; if mount had succeeded by then, umount still
// runs, as the umount unit stops after a failure. mounted runs after files,
// before umount. It returns the stage that failed ("" if none), that
// stage's output, and the whole log.
func (w *world) sequence(mounted func()) (failed, failedOut, log string) {
	w.t.Helper()
	var b strings.Builder
	mountedOK := false
	for _, s := range []string{"fetch-offline", "disks", "mount", "files"} {
		r := w.stage(s)
		fmt.Fprintf(&b, "==== %s: exit %d\n%s%s", s, r.code, r.out, r.stderr)
		if r.code != 0 {
			failed, failedOut = s, r.out+r.stderr
			break
		}
		if s == "mount" {
			mountedOK = true
		}
	}
	if failed == "" && mounted != nil {
		mounted()
	}
	if failed == "" || mountedOK {
		r := w.stage("umount")
		fmt.Fprintf(&b, "==== umount: exit %d\n%s%s", r.code, r.out, r.stderr)
		if r.code != 0 && failed == "" {
			failed, failedOut = "umount", r.out+r.stderr
		}
	}
	return failed, failedOut, b.String()
}

// ---- after: read the disks back ----

type mountInfo struct {
	id, parent int
	dev        string // major:minor
	point      string
	opts       string
	source     string
}

func mountTable() []mountInfo {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []mountInfo
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		sep := -1
		for i, s := range f {
			if s == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		id, _ := strconv.Atoi(f[0])
		parent, _ := strconv.Atoi(f[1])
		out = append(out, mountInfo{id: id, parent: parent, dev: f[2], point: unescape(f[4]), opts: f[5], source: f[sep+2]})
	}
	return out
}

func unescape(s string) string {
	return regexp.MustCompile(`\\[0-7]{3}`).ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseUint(m[1:], 8, 8)
		return string(rune(n))
	})
}

// ourMounts lists mounts under this world's dir or of its loop devices,
// deepest (last mounted) first.
func (w *world) ourMounts() []mountInfo {
	devs := map[string]bool{}
	for _, l := range w.loops {
		if n, err := devNum(l); err == nil {
			devs[n] = true
		}
		parts, _ := filepath.Glob(l + "p*")
		for _, p := range parts {
			if n, err := devNum(p); err == nil {
				devs[n] = true
			}
		}
	}
	var out []mountInfo
	for _, mi := range mountTable() {
		if mi.point == w.dir || strings.HasPrefix(mi.point, w.dir+"/") || devs[mi.dev] {
			out = append(out, mi)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func devNum(path string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "", err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
		return "", fmt.Errorf("%s is not a block device", path)
	}
	return fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)), nil
}

type gptPart struct {
	Node  string `json:"node"`
	Start int64  `json:"start"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
	UUID  string `json:"uuid"`
	Name  string `json:"name"`
	num   int
}

// readGPT returns the disk's partitions by number, or ok=false when the
// device has no partition table.
func (w *world) readGPT(dev string) (parts map[int]gptPart, lastLBA int64, ok bool) {
	w.t.Helper()
	out, err := exec.Command("sfdisk", "--json", dev).Output()
	if err != nil {
		return nil, 0, false
	}
	var v struct {
		PT struct {
			Label      string    `json:"label"`
			LastLBA    int64     `json:"lastlba"`
			Partitions []gptPart `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		w.t.Fatalf("sfdisk --json %s: %v\n%s", dev, err, out)
	}
	if v.PT.Label != "gpt" {
		w.t.Errorf("%s: partition table %q; want gpt", dev, v.PT.Label)
	}
	parts = map[int]gptPart{}
	for _, p := range v.PT.Partitions {
		i := strings.LastIndexAny(p.Node, "p")
		n, err := strconv.Atoi(p.Node[i+1:])
		if err != nil {
			w.t.Fatalf("sfdisk --json %s: node %q", dev, p.Node)
		}
		p.num = n
		parts[n] = p
	}
	return parts, v.PT.LastLBA, true
}

func blkid(dev string) map[string]string {
	out, _ := exec.Command("blkid", "-p", "-o", "export", dev).Output()
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func (w *world) checkDisks(want []disk) {
	w.t.Helper()
	syscall.Sync()
	for i, d := range want {
		dev := w.loops[i]
		parts, last, hasTable := w.readGPT(dev)
		if d.Raw {
			if hasTable {
				w.t.Errorf("$disk%d (%s): has a partition table %v; want none", i, dev, parts)
			}
			if d.FS != nil {
				w.checkFS(fmt.Sprintf("$disk%d", i), dev, d.FS)
			}
			continue
		}
		var have, wantN []int
		for n := range parts {
			have = append(have, n)
		}
		for _, p := range d.Parts {
			wantN = append(wantN, p.Num)
		}
		sort.Ints(have)
		sort.Ints(wantN)
		if fmt.Sprint(have) != fmt.Sprint(wantN) {
			w.t.Errorf("$disk%d: partitions %v; want %v", i, have, wantN)
		}
		for _, p := range d.Parts {
			name := fmt.Sprintf("$disk%dp%d", i, p.Num)
			g, ok := parts[p.Num]
			if !ok {
				continue
			}
			if p.Label != "" && g.Name != p.Label {
				w.t.Errorf("%s: label %q; want %q", name, g.Name, p.Label)
			}
			if p.Type != "" && !strings.EqualFold(g.Type, p.Type) {
				w.t.Errorf("%s: type %s; want %s", name, g.Type, p.Type)
			}
			if p.GUID != "" && !strings.EqualFold(g.UUID, p.GUID) {
				w.t.Errorf("%s: GUID %s; want %s", name, g.UUID, p.GUID)
			}
			if p.GUIDNot != "" && strings.EqualFold(g.UUID, p.GUIDNot) {
				w.t.Errorf("%s: GUID %s; want a new one", name, g.UUID)
			}
			if p.StartMiB != 0 && g.Start != int64(p.StartMiB)*2048 {
				w.t.Errorf("%s: first sector %d; want %d (%d MiB)", name, g.Start, int64(p.StartMiB)*2048, p.StartMiB)
			}
			if p.SizeMiB != 0 && g.Size != int64(p.SizeMiB)*2048 {
				w.t.Errorf("%s: %d sectors; want %d (%d MiB)", name, g.Size, int64(p.SizeMiB)*2048, p.SizeMiB)
			}
			if p.ToEnd && g.Start+g.Size-1 != last {
				w.t.Errorf("%s: last sector %d; want the disk's last usable sector %d", name, g.Start+g.Size-1, last)
			}
			if p.FS != nil {
				w.checkFS(name, fmt.Sprintf("%sp%d", dev, p.Num), p.FS)
			}
		}
	}
}

func (w *world) checkFS(name, dev string, f *fsys) {
	w.t.Helper()
	b := blkid(dev)
	if f.Format == "none" {
		if b["TYPE"] != "" {
			w.t.Errorf("%s: blkid finds %s (label %q); want no filesystem", name, b["TYPE"], b["LABEL"])
		}
		return
	}
	if f.Format != "" && b["TYPE"] != f.Format {
		w.t.Errorf("%s: blkid TYPE %q; want %q", name, b["TYPE"], f.Format)
		return
	}
	if f.Label != "" && b["LABEL"] != f.Label {
		w.t.Errorf("%s: label %q; want %q", name, b["LABEL"], f.Label)
	}
	if f.UUID != "" && !strings.EqualFold(b["UUID"], f.UUID) {
		w.t.Errorf("%s: UUID %q; want %q", name, b["UUID"], f.UUID)
	}
	if f.UUIDNot != "" && strings.EqualFold(b["UUID"], f.UUIDNot) {
		w.t.Errorf("%s: UUID %q; want a new one", name, b["UUID"])
	}
	if len(f.Files) == 0 && len(f.Gone) == 0 {
		return
	}
	read, exists := w.reader(dev, b["TYPE"])
	for p, c := range f.Files {
		got, err := read(p)
		if err != nil {
			w.t.Errorf("%s: %s: %v", name, p, err)
		} else if got != c {
			w.t.Errorf("%s: %s = %q; want %q", name, p, got, c)
		}
	}
	for _, p := range f.Gone {
		if exists(p) {
			w.t.Errorf("%s: %s survived; want it gone", name, p)
		}
	}
}

// reader gives read access to the filesystem on dev: a read-only mount
// (undone when the check ends) or mtools for vfat.
func (w *world) reader(dev, format string) (read func(string) (string, error), exists func(string) bool) {
	w.t.Helper()
	if format == "vfat" {
		read = func(p string) (string, error) {
			c := exec.Command("mtype", "-i", dev, "::"+p)
			c.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
			out, err := c.Output()
			return string(out), err
		}
		exists = func(p string) bool { _, err := read(p); return err == nil }
		return read, exists
	}
	dir, err := os.MkdirTemp(w.dir, "check-")
	if err != nil {
		w.t.Fatal(err)
	}
	w.cmd("mount", "-o", "ro", dev, dir)
	w.t.Cleanup(func() { exec.Command("umount", dir).Run() }) // runs before the world's cleanup
	read = func(p string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, p))
		return string(b), err
	}
	exists = func(p string) bool { _, err := os.Lstat(filepath.Join(dir, p)); return err == nil }
	return read, exists
}

// checkMounts checks the mounts under the target root while they are
// there: each at its path, of its device, with its options, nested under
// the mount of its nearest expected parent path (so / went first, then
// /var, then /var/log).
func (w *world) checkMounts(want []mnt) {
	w.t.Helper()
	table := mountTable()
	at := func(p string) (mountInfo, bool) {
		full := filepath.Join(w.root, p)
		var found mountInfo
		ok := false
		for _, mi := range table {
			if mi.point == full {
				found, ok = mi, true // the last one is on top
			}
		}
		return found, ok
	}
	for _, m := range want {
		mi, ok := at(m.Path)
		if !ok {
			w.t.Errorf("nothing is mounted at <root>%s", m.Path)
			continue
		}
		dev := w.subst(m.Dev)
		// btrfs mounts show an anonymous device number: compare the source then
		if n, err := devNum(dev); (err != nil || n != mi.dev) && mi.source != dev {
			w.t.Errorf("<root>%s: mounted device %s (%s); want %s (%s, %v)", m.Path, mi.dev, mi.source, dev, n, err)
		}
		for _, o := range m.Opts {
			if !contains(strings.Split(mi.opts, ","), o) {
				w.t.Errorf("<root>%s: mount options %s; want %s among them", m.Path, mi.opts, o)
			}
		}
		// the nearest expected ancestor
		best := ""
		for _, a := range want {
			if a.Path != m.Path && (a.Path == "/" || strings.HasPrefix(m.Path, strings.TrimSuffix(a.Path, "/")+"/")) && len(a.Path) > len(best) {
				best = a.Path
			}
		}
		if best != "" {
			if pm, ok := at(best); ok && pm.id != mi.parent {
				w.t.Errorf("<root>%s is not mounted on top of <root>%s (parent mount %d, want %d): the mount order is wrong", m.Path, best, mi.parent, pm.id)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
