package qemu

// The disks, mount, files and umount stages on a real kernel: each test
// boots a guest with virtio disks made from sparse image files, runs the
// real ignition binary's stages in order with -platform file, and checks
// the disks with the real tools (blkid -p, sgdisk -p, mount, mdadm,
// cryptsetup) in the guest and the image files on the host.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// needDiskHost skips (or, with CI set, fails) when the host cannot run
// the disk guests: no QEMU, no guest kernel, or a missing tool.
func needDiskHost(t *testing.T, tools ...string) {
	t.Helper()
	testenv.NeedTools(t, append([]string{"qemu-system-x86_64", "ldd", "modprobe", "cpio"}, tools...)...)
	if vm, _ := filepath.Glob("../../.cache/kernel/root/boot/vmlinuz-*"); len(vm) == 0 {
		testenv.Skip(t, "no guest kernel in .cache/kernel (make test-deps extracts Debian's)")
	}
}

// diskBins are the programs the disks, mount and umount stages run, and
// what the checks run.
var diskBins = []string{"sgdisk", "blkid", "wipefs", "mkfs.ext4", "mkfs.xfs", "mkfs.fat", "mkswap", "mount", "umount"}

var diskMods = []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4", "xfs", "vfat", "nls_cp437", "nls_iso8859_1", "nls_ascii", "nls_utf8"}

// vdisk is a virtio disk from a sparse image file; the guest sees them as
// vda, vdb, ... in order, which each test checks through the serials.
type vdisk struct {
	serial string
	mib    int64
	path   string
}

func makeDisks(t *testing.T, disks ...*vdisk) (args []string) {
	t.Helper()
	dir := t.TempDir()
	for i, d := range disks {
		d.path = filepath.Join(dir, d.serial+".img")
		f, err := os.Create(d.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(d.mib << 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
		args = append(args, "-drive", fmt.Sprintf("file=%s,if=none,id=d%d,format=raw", d.path, i),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,serial=%s", i, d.serial))
	}
	return args
}

func hashFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
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

// script is the guest's /test.cmd, built line by line; each add returns
// the index of the line's result.
type script []string

func (s *script) add(lines ...string) int {
	*s = append(*s, lines...)
	return len(*s) - 1
}

// stage runs one ignition stage with the file platform.
func (s *script) stage(name, cache, state string) int {
	return s.add(fmt.Sprintf("/bin/ignition -platform file -stage %s -root /sysroot -log-to-stdout -config-cache %s -state-file %s -neednet /run/neednet", name, cache, state))
}

// stages runs fetch-offline through umount; it returns the index of each
// stage's result by name.
func (s *script) stages(cache, state string) map[string]int {
	m := map[string]int{}
	for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
		m[st] = s.stage(st, cache, state)
	}
	return m
}

// prelude sets the environment and checks the disks are in the order
// given.
func (s *script) prelude(disks ...*vdisk) {
	s.add("@env PATH=/bin:/sbin:/usr/bin:/usr/sbin", "@env IGNITION_CONFIG_FILE=/config.ign", "@mkdir /run/mdadm", "@mkdir /run/cryptsetup")
	for i := range disks {
		s.add(fmt.Sprintf("@cat /sys/block/vd%c/serial", 'a'+i))
	}
}

// results are what the guest printed, by the index of the line.
type results struct {
	t   *testing.T
	res []cmdResult
	s   script
}

func bootScript(t *testing.T, g guest, s script, disks []*vdisk, cfg any) results {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.commands = s
	if g.files == nil {
		g.files = map[string]string{}
	}
	g.files["config.ign"] = string(b)
	r := results{t: t, res: g.run(t), s: s}
	if os.Getenv("QEMU_GUEST_LOG") != "" {
		for _, c := range r.res {
			t.Logf("%s (rc %d)\n%s", c.line, c.rc, c.out)
		}
	}
	for i, d := range disks {
		line := fmt.Sprintf("@cat /sys/block/vd%c/serial", 'a'+i)
		for j := range s {
			if s[j] == line {
				if got := strings.TrimSpace(r.get(j).out); got != d.serial {
					t.Fatalf("the guest's vd%c has serial %q; want %q (disk order)", 'a'+i, got, d.serial)
				}
			}
		}
	}
	return r
}

// get is the result of line i; a guest that stopped before it fails the
// test.
func (r results) get(i int) cmdResult {
	r.t.Helper()
	if i >= len(r.res) {
		r.t.Fatalf("the guest stopped before %q (ran %d of %d lines)", r.s[i], len(r.res), len(r.s))
	}
	if r.res[i].line != strings.TrimSpace(r.s[i]) {
		r.t.Fatalf("result %d is of %q; want %q", i, r.res[i].line, r.s[i])
	}
	return r.res[i]
}

// ok is the output of line i, which must have succeeded.
func (r results) ok(i int) string {
	r.t.Helper()
	c := r.get(i)
	if c.rc != 0 {
		r.t.Errorf("%s: rc %d; want 0\n%s", c.line, c.rc, c.out)
	}
	return c.out
}

// stageOK checks an ignition stage succeeded; a refusal of RAID or LUKS
// by this build fails the test with the binary's message.
func (r results) stageOK(i int) string {
	r.t.Helper()
	c := r.get(i)
	if c.rc != 0 {
		if m := regexp.MustCompile(`[^\n]*not supported by this build yet[^\n]*`).FindString(c.out); m != "" {
			r.t.Fatalf("%s: rc %d: the binary refuses the config: %s", c.line, c.rc, strings.TrimSpace(m))
		}
		r.t.Fatalf("%s: rc %d; want 0\n%s", c.line, c.rc, c.out)
	}
	return c.out
}

// blkidExport parses blkid -o export.
func blkidExport(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			m[k] = v
		}
	}
	return m
}

func checkProbe(t *testing.T, dev string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("blkid -p %s: %s=%q; want %q (all: %v)", dev, k, got[k], v, got)
		}
	}
}

// withoutWipeTable is cfg without wipeTable on its disks, as JSON: the
// config of a later boot that must keep what the first made.
func withoutWipeTable(t *testing.T, cfg any) string {
	t.Helper()
	var keep map[string]any
	b, _ := json.Marshal(cfg)
	if err := json.Unmarshal(b, &keep); err != nil {
		t.Fatal(err)
	}
	for _, d := range keep["storage"].(map[string]any)["disks"].([]any) {
		delete(d.(map[string]any), "wipeTable")
	}
	b, _ = json.Marshal(keep)
	return string(b)
}

func dataURL(s string) string { return "data:," + strings.ReplaceAll(s, " ", "%20") }

func file(path, contents string) map[string]any {
	return map[string]any{"path": path, "overwrite": true, "contents": map[string]any{"source": dataURL(contents)}}
}

const (
	efiSystemType = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	linuxSwapType = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
	linuxRAIDType = "A19D880F-05FC-4D3B-A006-743F0F84911E"
	linuxFSType   = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
)

// Scenarios 1 and 2 in one boot. First, the kernel's own view of a table
// the disks stage writes: on vdb, wipeTable and four partitions (labels,
// type GUIDs, sizes, the last filling the disk), ext4 (named by its
// partition label, which no udev makes a link for) at /var, xfs at /srv,
// vfat at /boot/efi, swap; the files stage writes into each mounted
// filesystem; after umount the guest mounts each again and reads the
// files. Then reuse: a marker written into the ext4 filesystem between
// the runs survives a second full run of the same config (wipeTable makes
// the table anew, with the same partitions; the filesystems are kept, with
// their UUIDs), and a third run without wipeTable keeps the table as it
// is (the same unique partition GUIDs; the last partition, sizeMiB 0,
// still fills the disk) and writes nothing to the disk.
func TestDisksPartitionsFilesystemsAndReuse(t *testing.T) {
	needDiskHost(t, diskBins...)
	spare, target := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "target", mib: 800}
	disks := []*vdisk{spare, target}
	qargs := makeDisks(t, disks...)
	spareHash := hashFile(t, spare.path)
	cfg := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"disks": []any{map[string]any{"device": "/dev/vdb", "wipeTable": true, "partitions": []any{
				map[string]any{"number": 1, "label": "var", "sizeMiB": 100},
				map[string]any{"number": 2, "label": "srv", "sizeMiB": 320},
				map[string]any{"number": 3, "label": "esp", "sizeMiB": 64, "typeGuid": efiSystemType},
				map[string]any{"number": 4, "label": "swap", "sizeMiB": 0, "typeGuid": linuxSwapType},
			}}},
			"filesystems": []any{
				map[string]any{"device": "/dev/disk/by-partlabel/var", "format": "ext4", "label": "VARFS", "path": "/var"},
				map[string]any{"device": "/dev/vdb2", "format": "xfs", "label": "SRVFS", "path": "/srv"},
				map[string]any{"device": "/dev/vdb3", "format": "vfat", "label": "ESP", "path": "/boot/efi"},
				map[string]any{"device": "/dev/vdb4", "format": "swap", "label": "SWAP"},
			},
			"files": []any{
				file("/var/hello", "on ext4"),
				file("/srv/hello", "on xfs"),
				file("/boot/efi/hello", "on vfat"),
			},
		},
	}
	var s script
	s.prelude(disks...)
	run1 := s.stages("/run/ignition.json", "/run/state")
	sgdiskP := s.add("sgdisk -p /dev/vdb")
	var probe1, probe2 [5]int
	for n := 1; n <= 4; n++ {
		probe1[n] = s.add(fmt.Sprintf("blkid -p -o export /dev/vdb%d", n))
	}
	mounts1 := s.add("@cat /proc/mounts")
	s.add("@mkdir /mnt/var", "@mkdir /mnt/srv", "@mkdir /mnt/esp")
	mnt := []int{s.add("mount -t ext4 /dev/vdb1 /mnt/var"), s.add("mount -t xfs /dev/vdb2 /mnt/srv"), s.add("mount -t vfat /dev/vdb3 /mnt/esp")}
	cats := []int{s.add("@cat /mnt/var/hello"), s.add("@cat /mnt/srv/hello"), s.add("@cat /mnt/esp/hello")}
	marker := s.add("@write /mnt/var/kept written between the runs")
	umnt := []int{s.add("umount /mnt/var"), s.add("umount /mnt/srv"), s.add("umount /mnt/esp")}
	run2 := s.stages("/run/ignition2.json", "/run/state2")
	for n := 1; n <= 4; n++ {
		probe2[n] = s.add(fmt.Sprintf("blkid -p -o export /dev/vdb%d", n))
	}
	mnt2 := s.add("mount -t ext4 /dev/vdb1 /mnt/var")
	kept, hello2 := s.add("@cat /mnt/var/kept"), s.add("@cat /mnt/var/hello")
	umnt2 := s.add("umount /mnt/var")
	s.add("@env IGNITION_CONFIG_FILE=/config-keep.ign")
	run3 := s.stages("/run/ignition3.json", "/run/state3")
	var probe3 [5]int
	for n := 1; n <= 4; n++ {
		probe3[n] = s.add(fmt.Sprintf("blkid -p -o export /dev/vdb%d", n))
	}

	r := bootScript(t, guest{mods: diskMods, hostBins: diskBins, qemuArgs: qargs,
		files: map[string]string{"config-keep.ign": withoutWipeTable(t, cfg)}}, s, disks, cfg)

	t.Run("layout", func(t *testing.T) {
		r := results{t: t, res: r.res, s: r.s}
		for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
			r.stageOK(run1[st])
		}
		table := r.ok(sgdiskP)
		for _, re := range []string{
			`(?m)^\s+1\s+2048\s+206847\s+100\.0 MiB\s+8300\s+var$`,
			`(?m)^\s+2\s+206848\s+862207\s+320\.0 MiB\s+8300\s+srv$`,
			`(?m)^\s+3\s+862208\s+993279\s+64\.0 MiB\s+EF00\s+esp$`,
			`(?m)^\s+4\s+993280\s+\d+\s+\S+ MiB\s+8200\s+swap$`,
		} {
			if !regexp.MustCompile(re).MatchString(table) {
				t.Errorf("sgdisk -p /dev/vdb lacks %s:\n%s", re, table)
			}
		}
		want := []map[string]string{nil,
			{"TYPE": "ext4", "LABEL": "VARFS", "PART_ENTRY_NAME": "var", "PART_ENTRY_TYPE": strings.ToLower(linuxFSType)},
			{"TYPE": "xfs", "LABEL": "SRVFS", "PART_ENTRY_NAME": "srv", "PART_ENTRY_TYPE": strings.ToLower(linuxFSType)},
			{"TYPE": "vfat", "LABEL": "ESP", "PART_ENTRY_NAME": "esp", "PART_ENTRY_TYPE": strings.ToLower(efiSystemType)},
			{"TYPE": "swap", "LABEL": "SWAP", "PART_ENTRY_NAME": "swap", "PART_ENTRY_TYPE": strings.ToLower(linuxSwapType)},
		}
		for n := 1; n <= 4; n++ {
			checkProbe(t, fmt.Sprintf("/dev/vdb%d", n), blkidExport(r.ok(probe1[n])), want[n])
		}
		if m := r.ok(mounts1); strings.Contains(m, "/sysroot") {
			t.Errorf("after the umount stage, /proc/mounts still has mounts under /sysroot:\n%s", m)
		}
		for i, w := range []string{"on ext4", "on xfs", "on vfat"} {
			r.ok(mnt[i])
			if got := strings.TrimSpace(r.ok(cats[i])); got != w {
				t.Errorf("%s = %q; want %q", r.s[cats[i]], got, w)
			}
			r.ok(umnt[i])
		}
		if hashFile(t, spare.path) != spareHash {
			t.Errorf("the disk the config does not name (vda) changed")
		}
	})

	t.Run("reuse", func(t *testing.T) {
		r := results{t: t, res: r.res, s: r.s}
		r.ok(marker)
		for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
			r.stageOK(run2[st])
		}
		if out := r.get(run2["disks"]).out; regexp.MustCompile(`running (mkfs|mkswap|wipefs)`).MatchString(out) {
			t.Errorf("the second disks stage remade a filesystem that matched the config:\n%s", out)
		}
		for n := 1; n <= 4; n++ {
			a, b := blkidExport(r.ok(probe1[n])), blkidExport(r.ok(probe2[n]))
			// wipeTable: new entries (new unique GUIDs) at the same places
			for _, k := range []string{"UUID", "PART_ENTRY_NAME", "PART_ENTRY_OFFSET", "PART_ENTRY_SIZE", "TYPE", "LABEL"} {
				if a[k] != b[k] {
					t.Errorf("/dev/vdb%d: %s %q after the first run, %q after the second; want it kept", n, k, a[k], b[k])
				}
			}
		}
		r.ok(mnt2)
		if got := strings.TrimSpace(r.ok(kept)); got != "written between the runs" {
			t.Errorf("the marker written between the runs = %q; want it kept", got)
		}
		if got := strings.TrimSpace(r.ok(hello2)); got != "on ext4" {
			t.Errorf("/var/hello after the second run = %q; want %q", got, "on ext4")
		}
		r.ok(umnt2)
	})

	t.Run("reuse without wipeTable", func(t *testing.T) {
		r := results{t: t, res: r.res, s: r.s}
		for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
			r.stageOK(run3[st])
		}
		if out := r.get(run3["disks"]).out; regexp.MustCompile(`running (sgdisk|mkfs|mkswap|wipefs)|writing the partition table`).MatchString(out) {
			t.Errorf("the third disks stage wrote to a disk that matched the config:\n%s", out)
		}
		for n := 1; n <= 4; n++ {
			a, b := blkidExport(r.ok(probe2[n])), blkidExport(r.ok(probe3[n]))
			for _, k := range []string{"UUID", "PART_ENTRY_UUID", "PART_ENTRY_NAME", "PART_ENTRY_OFFSET", "PART_ENTRY_SIZE", "TYPE", "LABEL"} {
				if a[k] != b[k] {
					t.Errorf("/dev/vdb%d: %s %q after the second run, %q after the third; want it kept", n, k, a[k], b[k])
				}
			}
		}
	})
}

// Scenario 3: a config the disks stage must refuse (the second disk's
// partition 1 is smaller than the config asks, and wipePartitionEntry is
// not set) changes no disk, not even the first one, which it would wipe:
// the image files hash the same before and after the boot.
func TestDisksRefusalChangesNothing(t *testing.T) {
	needDiskHost(t, diskBins...)
	spare, first, second := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "first", mib: 400}, &vdisk{serial: "second", mib: 400}
	disks := []*vdisk{spare, first, second}
	qargs := makeDisks(t, disks...)
	for _, d := range []*vdisk{first, second} {
		if out, err := exec.Command("sgdisk", "-n1:2048:+100M", "-c1:data", "-n2:0:+50M", "-c2:other", d.path).CombinedOutput(); err != nil {
			t.Fatalf("sgdisk on %s: %v\n%s", d.path, err, out)
		}
		f, err := os.OpenFile(d.path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte(strings.Repeat("precious data on "+d.serial+"\n", 4096)), 2048*512+4096); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	before := map[string]string{}
	for _, d := range disks {
		before[d.serial] = hashFile(t, d.path)
	}
	cfg := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"disks": []any{
				map[string]any{"device": "/dev/vdb", "wipeTable": true, "partitions": []any{
					map[string]any{"number": 1, "label": "new", "sizeMiB": 200}}},
				map[string]any{"device": "/dev/vdc", "partitions": []any{
					map[string]any{"number": 1, "label": "data", "sizeMiB": 200}}},
			},
			"filesystems": []any{
				map[string]any{"device": "/dev/vdb1", "format": "ext4", "path": "/var", "wipeFilesystem": true},
				map[string]any{"device": "/dev/vdc1", "format": "ext4", "path": "/srv", "wipeFilesystem": true},
			},
		},
	}
	var s script
	s.prelude(disks...)
	fetch := s.stage("fetch-offline", "/run/ignition.json", "/run/state")
	dstage := s.stage("disks", "/run/ignition.json", "/run/state")
	pb, pc := s.add("sgdisk -p /dev/vdb"), s.add("sgdisk -p /dev/vdc")
	r := bootScript(t, guest{mods: diskMods, hostBins: diskBins, qemuArgs: qargs}, s, disks, cfg)
	r.stageOK(fetch)
	c := r.get(dstage)
	if c.rc == 0 {
		t.Errorf("%s: rc 0; want a refusal\n%s", c.line, c.out)
	} else if !strings.Contains(c.out, "partition 1 does not match the config") || !strings.Contains(c.out, "wipePartitionEntry") {
		t.Errorf("%s: rc %d, but not the refusal of partition 1 of /dev/vdc:\n%s", c.line, c.rc, c.out)
	} else {
		for _, l := range strings.Split(c.out, "\n") {
			if strings.Contains(l, "does not match") {
				t.Logf("refused: %s", strings.TrimSpace(l))
			}
		}
	}
	for _, i := range []int{pb, pc} {
		if out := r.ok(i); !regexp.MustCompile(`(?m)^\s+1\s+2048\s+206847\s+100\.0 MiB\s+8300\s+data$`).MatchString(out) {
			t.Errorf("%s: partition 1 is no longer the 100 MiB \"data\":\n%s", r.s[i], out)
		}
	}
	for _, d := range disks {
		if got := hashFile(t, d.path); got != before[d.serial] {
			t.Errorf("image of %s: sha256 %s after the boot, %s before; want it unchanged", d.serial, got, before[d.serial])
		}
	}
}

// Scenario 4a (RAID): a RAID1 array /dev/md/data across a partition on
// vdb and one on vdc, btrfs on it, a file written into it; the guest then
// reads the array's state, mounts it again and reads the file.
func TestDisksRAID1(t *testing.T) {
	bins := append([]string{"mdadm", "mkfs.btrfs"}, diskBins...)
	needDiskHost(t, bins...)
	spare, a, b := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "raid-a", mib: 400}, &vdisk{serial: "raid-b", mib: 400}
	disks := []*vdisk{spare, a, b}
	qargs := makeDisks(t, disks...)
	raidPart := func(label string) []any {
		return []any{map[string]any{"number": 1, "label": label, "sizeMiB": 300, "typeGuid": linuxRAIDType}}
	}
	cfg := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"disks": []any{
				map[string]any{"device": "/dev/vdb", "wipeTable": true, "partitions": raidPart("raid-a")},
				map[string]any{"device": "/dev/vdc", "wipeTable": true, "partitions": raidPart("raid-b")},
			},
			"raid": []any{map[string]any{"name": "data", "level": "raid1", "devices": []string{"/dev/vdb1", "/dev/vdc1"}}},
			"filesystems": []any{
				map[string]any{"device": "/dev/md/data", "format": "btrfs", "label": "raidfs", "path": "/var/lib/data"},
			},
			"files": []any{file("/var/lib/data/hello", "on btrfs on raid1")},
		},
	}
	var s script
	s.prelude(disks...)
	run := s.stages("/run/ignition.json", "/run/state")
	mdstat := s.add("@cat /proc/mdstat")
	detail := s.add("mdadm --detail /dev/md/data")
	probe := s.add("blkid -p -o export /dev/md/data")
	pa, pb := s.add("blkid -p -o export /dev/vdb1"), s.add("blkid -p -o export /dev/vdc1")
	mnt := s.add("@mkdir /mnt/data", "mount -t btrfs /dev/md/data /mnt/data")
	cat := s.add("@cat /mnt/data/hello")
	marker := s.add("@write /mnt/data/kept written between the runs")
	umnt := s.add("umount /mnt/data")
	// reuse: the same config without wipeTable, the array still assembled
	s.add("@env IGNITION_CONFIG_FILE=/config-keep.ign")
	run2 := s.stages("/run/ignition2.json", "/run/state2")
	detail2, probe2 := s.add("mdadm --detail /dev/md/data"), s.add("blkid -p -o export /dev/md/data")
	mnt2 := s.add("mount -t btrfs /dev/md/data /mnt/data")
	kept := s.add("@cat /mnt/data/kept")
	umnt2 := s.add("umount /mnt/data")
	mods := append([]string{"md_mod", "raid1", "btrfs"}, diskMods...)
	r := bootScript(t, guest{mods: mods, hostBins: bins, qemuArgs: qargs,
		files: map[string]string{"config-keep.ign": withoutWipeTable(t, cfg)}}, s, disks, cfg)
	for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
		r.stageOK(run[st])
	}
	if out := r.ok(mdstat); !regexp.MustCompile(`md\d+ : active raid1 (vd[bc]1\[\d\] ?){2}`).MatchString(out) {
		t.Errorf("/proc/mdstat lacks an active raid1 of vdb1 and vdc1:\n%s", out)
	}
	if out := r.ok(detail); !strings.Contains(out, "Raid Level : raid1") || !regexp.MustCompile(`Name : \S*:?data\b`).MatchString(out) {
		t.Errorf("mdadm --detail /dev/md/data:\n%s", out)
	}
	checkProbe(t, "/dev/md/data", blkidExport(r.ok(probe)), map[string]string{"TYPE": "btrfs", "LABEL": "raidfs"})
	for _, p := range []struct {
		i     int
		label string
	}{{pa, "raid-a"}, {pb, "raid-b"}} {
		checkProbe(t, r.s[p.i], blkidExport(r.ok(p.i)), map[string]string{"TYPE": "linux_raid_member", "PART_ENTRY_NAME": p.label, "PART_ENTRY_TYPE": strings.ToLower(linuxRAIDType)})
	}
	r.ok(mnt)
	if got := strings.TrimSpace(r.ok(cat)); got != "on btrfs on raid1" {
		t.Errorf("/mnt/data/hello = %q; want %q", got, "on btrfs on raid1")
	}
	r.ok(marker)
	r.ok(umnt)

	t.Run("reuse", func(t *testing.T) {
		r := results{t: t, res: r.res, s: r.s}
		for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
			r.stageOK(run2[st])
		}
		if out := r.get(run2["disks"]).out; regexp.MustCompile(`running (sgdisk|mdadm|mkfs|wipefs)|writing the partition table`).MatchString(out) {
			t.Errorf("the second disks stage wrote to an array that matched the config:\n%s", out)
		}
		uuid := regexp.MustCompile(`UUID : (\S+)`)
		if a, b := uuid.FindString(r.ok(detail)), uuid.FindString(r.ok(detail2)); a == "" || a != b {
			t.Errorf("array %q after the first run, %q after the second; want it kept", a, b)
		}
		if a, b := blkidExport(r.ok(probe))["UUID"], blkidExport(r.ok(probe2))["UUID"]; a != b {
			t.Errorf("btrfs UUID %s after the first run, %s after the second; want it kept", a, b)
		}
		r.ok(mnt2)
		if got := strings.TrimSpace(r.ok(kept)); got != "written between the runs" {
			t.Errorf("the marker written between the runs = %q; want it kept", got)
		}
		r.ok(umnt2)
	})
}

// Scenario 4b (LUKS): a LUKS2 volume on a partition of vdb with a key
// file given as a data: URL (pbkdf2 with few iterations through options,
// for TCG), opened as /dev/mapper/secret, ext4 on it, a file written into
// it; the guest then checks the header, the key, mounts it again and
// reads the file.
func TestDisksLUKS2(t *testing.T) {
	bins := append([]string{"cryptsetup"}, diskBins...)
	needDiskHost(t, bins...)
	spare, target := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "crypt", mib: 400}
	disks := []*vdisk{spare, target}
	qargs := makeDisks(t, disks...)
	const key = "correct horse battery staple"
	cfg := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"disks": []any{map[string]any{"device": "/dev/vdb", "wipeTable": true, "partitions": []any{
				map[string]any{"number": 1, "label": "luks", "sizeMiB": 200}}}},
			"luks": []any{map[string]any{"name": "secret", "device": "/dev/vdb1", "label": "crypt",
				"keyFile": map[string]any{"source": dataURL(key)},
				"options": []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}}},
			"filesystems": []any{
				map[string]any{"device": "/dev/mapper/secret", "format": "ext4", "label": "cryptfs", "path": "/var/secret"},
			},
			"files": []any{file("/var/secret/hello", "on ext4 on luks2")},
		},
	}
	var s script
	s.prelude(disks...)
	run := s.stages("/run/ignition.json", "/run/state")
	status := s.add("cryptsetup status secret")
	dump := s.add("cryptsetup luksDump /dev/vdb1")
	keyOK := s.add("cryptsetup open --test-passphrase --key-file /key /dev/vdb1")
	keyBad := s.add("cryptsetup open --test-passphrase --key-file /badkey /dev/vdb1")
	probe := s.add("blkid -p -o export /dev/mapper/secret")
	mnt := s.add("@mkdir /mnt/secret", "mount -t ext4 /dev/mapper/secret /mnt/secret")
	cat := s.add("@cat /mnt/secret/hello")
	marker := s.add("@write /mnt/secret/kept written between the runs")
	umnt := s.add("umount /mnt/secret")
	crypttab := s.add("@cat /sysroot/etc/crypttab")
	// reuse as on a later boot: the same config without wipeTable, the
	// volume closed
	closed := s.add("cryptsetup close secret")
	s.add("@env IGNITION_CONFIG_FILE=/config-keep.ign")
	run2 := s.stages("/run/ignition2.json", "/run/state2")
	dump2, probe2 := s.add("cryptsetup luksDump /dev/vdb1"), s.add("blkid -p -o export /dev/mapper/secret")
	mnt2 := s.add("mount -t ext4 /dev/mapper/secret /mnt/secret")
	kept := s.add("@cat /mnt/secret/kept")
	umnt2 := s.add("umount /mnt/secret")
	// and the stages run again in the same boot, the volume still open
	run3 := s.stages("/run/ignition3.json", "/run/state3")
	dump3 := s.add("cryptsetup luksDump /dev/vdb1")
	// a key that does not open the volume is refused before anything is
	// written, here a new partition 2 that the disks stage makes first
	close2 := s.add("cryptsetup close secret")
	s.add("@env IGNITION_CONFIG_FILE=/config-wrongkey.ign")
	fetch4 := s.stage("fetch-offline", "/run/ignition4.json", "/run/state4")
	disks4 := s.stage("disks", "/run/ignition4.json", "/run/state4")
	table4 := s.add("sgdisk -p /dev/vdb")
	var wrong map[string]any
	json.Unmarshal([]byte(withoutWipeTable(t, cfg)), &wrong)
	st := wrong["storage"].(map[string]any)
	d0 := st["disks"].([]any)[0].(map[string]any)
	d0["partitions"] = append(d0["partitions"].([]any), map[string]any{"number": 2, "label": "extra", "sizeMiB": 50})
	st["luks"].([]any)[0].(map[string]any)["keyFile"] = map[string]any{"source": dataURL("not the key")}
	wrongJSON, _ := json.Marshal(wrong)
	mods := append([]string{"dm_mod", "dm_crypt", "xts", "aesni_intel", "algif_skcipher"}, diskMods...)
	r := bootScript(t, guest{mods: mods, hostBins: bins, qemuArgs: qargs,
		files: map[string]string{"key": key, "badkey": "wrong", "config-keep.ign": withoutWipeTable(t, cfg),
			"config-wrongkey.ign": string(wrongJSON)}}, s, disks, cfg)
	for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
		out := r.stageOK(run[st])
		if strings.Contains(out, key) || strings.Contains(out, dataURL(key)) {
			t.Errorf("the %s stage logged the key:\n%s", st, out)
		}
	}
	if out := r.ok(status); !strings.Contains(out, "/dev/mapper/secret is active") || !strings.Contains(out, "type:    LUKS2") {
		t.Errorf("cryptsetup status secret:\n%s", out)
	}
	if out := r.ok(dump); !regexp.MustCompile(`(?m)^Version:\s+2$`).MatchString(out) || !regexp.MustCompile(`(?m)^Label:\s+crypt$`).MatchString(out) {
		t.Errorf("cryptsetup luksDump /dev/vdb1: want version 2 and label crypt:\n%s", out)
	}
	r.ok(keyOK)
	if c := r.get(keyBad); c.rc == 0 {
		t.Errorf("%s: rc 0; want the wrong key refused", c.line)
	}
	checkProbe(t, "/dev/mapper/secret", blkidExport(r.ok(probe)), map[string]string{"TYPE": "ext4", "LABEL": "cryptfs"})
	r.ok(mnt)
	if got := strings.TrimSpace(r.ok(cat)); got != "on ext4 on luks2" {
		t.Errorf("/mnt/secret/hello = %q; want %q", got, "on ext4 on luks2")
	}
	r.ok(marker)
	r.ok(umnt)
	t.Logf("/sysroot/etc/crypttab (rc %d): %q", r.get(crypttab).rc, r.get(crypttab).out)

	t.Run("reuse", func(t *testing.T) {
		r := results{t: t, res: r.res, s: r.s}
		r.ok(closed)
		for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
			r.stageOK(run2[st])
		}
		if out := r.get(run2["disks"]).out; regexp.MustCompile(`running (sgdisk|cryptsetup luksFormat|mkfs|wipefs)|writing the partition table`).MatchString(out) {
			t.Errorf("the second disks stage wrote to a volume that matched the config:\n%s", out)
		}
		uuid := regexp.MustCompile(`(?m)^UUID:\s+(\S+)$`)
		if a, b := uuid.FindString(r.ok(dump)), uuid.FindString(r.ok(dump2)); a == "" || a != b {
			t.Errorf("LUKS %q after the first run, %q after the second; want it kept", a, b)
		}
		if a, b := blkidExport(r.ok(probe))["UUID"], blkidExport(r.ok(probe2))["UUID"]; a != b {
			t.Errorf("ext4 UUID %s after the first run, %s after the second; want it kept", a, b)
		}
		r.ok(mnt2)
		if got := strings.TrimSpace(r.ok(kept)); got != "written between the runs" {
			t.Errorf("the marker written between the runs = %q; want it kept", got)
		}
		r.ok(umnt2)
	})

	t.Run("reuse while open", func(t *testing.T) {
		r := results{t: t, res: r.res, s: r.s}
		for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
			r.stageOK(run3[st])
		}
		uuid := regexp.MustCompile(`(?m)^UUID:\s+(\S+)$`)
		if a, b := uuid.FindString(r.ok(dump)), uuid.FindString(r.ok(dump3)); a == "" || a != b {
			t.Errorf("LUKS %q after the first run, %q after the third; want it kept", a, b)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		r := results{t: t, res: r.res, s: r.s}
		r.ok(close2)
		r.stageOK(fetch4)
		c := r.get(disks4)
		if c.rc == 0 {
			t.Errorf("%s: rc 0 with a key that does not open the volume; want a refusal\n%s", c.line, c.out)
		} else if strings.Contains(c.out, "running sgdisk") {
			t.Errorf("%s: rc %d, but only after writing the partition table; want the key checked in the plan\n%s", c.line, c.rc, c.out)
		}
		if out := r.ok(table4); regexp.MustCompile(`(?m)^\s+2\s+.*extra$`).MatchString(out) {
			t.Errorf("the refused config's partition 2 was made:\n%s", out)
		}
	})
}

// allZero says whether a sparse image file holds only zeros, reading
// only its data extents (SEEK_DATA).
func allZero(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, err := f.Seek(0, 3) // SEEK_DATA
	if errors.Is(err, syscall.ENXIO) {
		return true // holes only
	} else if err != nil {
		t.Fatalf("%s: SEEK_DATA: %v", path, err)
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := f.ReadAt(buf, off)
		for _, b := range buf[:n] {
			if b != 0 {
				return false
			}
		}
		off += int64(n)
		if err == io.EOF {
			return true
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// scsiDisks attaches disks to one virtio-scsi controller, one target each,
// with the serial as the SCSI product name (/sys/block/sdX/device/model
// in the guest). The kernel names SCSI disks in the order sd_mod's
// asynchronous probes run, which is not the order of the targets: a boot
// gave raid-b sda and the spare sdb.
func scsiDisks(t *testing.T, disks ...*vdisk) (args []string) {
	t.Helper()
	dir := t.TempDir()
	args = []string{"-device", "virtio-scsi-pci,id=scsi0"}
	for i, d := range disks {
		d.path = filepath.Join(dir, d.serial+".img")
		if err := os.WriteFile(d.path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(d.path, d.mib<<20); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-drive", fmt.Sprintf("file=%s,if=none,id=s%d,format=raw", d.path, i),
			"-device", fmt.Sprintf("scsi-hd,bus=scsi0.0,channel=0,scsi-id=%d,lun=0,drive=s%d,product=%s,serial=%s", i, i, d.serial, d.serial))
	}
	return args
}

// examples/bare-metal-raid.ign as it is, end to end: its disks are
// /dev/sdb and /dev/sdc, so the guest gets three SCSI disks of the same
// size; the kernel names them in an order that varies from boot to boot
// (scsiDisks), so whichever it names sda is the one the config does not
// name, and must stay as it was (all zeros). fetch-offline, disks, mount,
// files and umount run; the guest then checks the partitions (labels,
// 1 GiB), the RAID1 array /dev/md/data over them, the xfs filesystem
// labelled DATA on it (mounted again, a file written and read), and the
// mount unit and its preset in the target.
func TestExampleBareMetalRAID(t *testing.T) {
	bins := append([]string{"mdadm"}, diskBins...)
	needDiskHost(t, bins...)
	example, err := os.ReadFile("../../examples/bare-metal-raid.ign")
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Systemd struct {
			Units []struct {
				Name     string `json:"name"`
				Contents string `json:"contents"`
			} `json:"units"`
		} `json:"systemd"`
	}
	if err := json.Unmarshal(example, &ex); err != nil || len(ex.Systemd.Units) != 1 {
		t.Fatalf("examples/bare-metal-raid.ign: %v; want one unit", err)
	}
	unit := ex.Systemd.Units[0]
	disks := []*vdisk{{serial: "scsi-0", mib: 1100}, {serial: "scsi-1", mib: 1100}, {serial: "scsi-2", mib: 1100}}
	qargs := scsiDisks(t, disks...)

	var s script
	s.add("@env PATH=/bin:/sbin:/usr/bin:/usr/sbin", "@env IGNITION_CONFIG_FILE=/config.ign", "@mkdir /run/mdadm")
	var models [3]int
	for i := range disks {
		models[i] = s.add(fmt.Sprintf("@cat /sys/block/sd%c/device/model", 'a'+i))
	}
	run := s.stages("/run/ignition.json", "/run/state")
	mdstat := s.add("@cat /proc/mdstat")
	detail := s.add("mdadm --detail /dev/md/data")
	probe := s.add("blkid -p -o export /dev/md/data")
	pb, pc := s.add("blkid -p -o export /dev/sdb1"), s.add("blkid -p -o export /dev/sdc1")
	unitFile := s.add("@cat /sysroot/etc/systemd/system/" + unit.Name)
	preset := s.add("@cat /sysroot/etc/systemd/system-preset/20-ignition.preset")
	mounts := s.add("@cat /proc/mounts")
	mnt := s.add("@mkdir /mnt/data", "mount -t xfs /dev/md/data /mnt/data")
	write := s.add("@write /mnt/data/hello on xfs on raid1")
	cat := s.add("@cat /mnt/data/hello")
	umnt := s.add("umount /mnt/data")

	mods := append([]string{"sd_mod", "virtio_scsi", "md_mod", "raid1"}, diskMods...)
	r := bootScript(t, guest{mods: mods, hostBins: bins, qemuArgs: qargs}, s, nil, json.RawMessage(example))
	name := map[string]*vdisk{}
	for i := range disks {
		model := strings.TrimSpace(r.get(models[i]).out)
		for _, d := range disks {
			if d.serial == model {
				name[fmt.Sprintf("sd%c", 'a'+i)] = d
			}
		}
	}
	if len(name) != 3 {
		t.Fatalf("the guest's SCSI disks are not the three attached: %v", name)
	}
	t.Logf("the guest named %s sda, %s sdb, %s sdc", name["sda"].serial, name["sdb"].serial, name["sdc"].serial)
	for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
		r.stageOK(run[st])
	}
	if out := r.ok(mdstat); !regexp.MustCompile(`md\d+ : active raid1 (sd[bc]1\[\d\] ?){2}`).MatchString(out) {
		t.Errorf("/proc/mdstat lacks an active raid1 of sdb1 and sdc1:\n%s", out)
	}
	if out := r.ok(detail); !strings.Contains(out, "Raid Level : raid1") || !regexp.MustCompile(`Name : \S*:?data\b`).MatchString(out) ||
		!regexp.MustCompile(`Raid Devices : 2`).MatchString(out) {
		t.Errorf("mdadm --detail /dev/md/data:\n%s", out)
	}
	checkProbe(t, "/dev/md/data", blkidExport(r.ok(probe)), map[string]string{"TYPE": "xfs", "LABEL": "DATA"})
	for _, p := range []struct {
		i     int
		label string
	}{{pb, "raid.1.1"}, {pc, "raid.1.2"}} {
		checkProbe(t, r.s[p.i], blkidExport(r.ok(p.i)), map[string]string{"TYPE": "linux_raid_member",
			"PART_ENTRY_NAME": p.label, "PART_ENTRY_NUMBER": "1", "PART_ENTRY_OFFSET": "2048", "PART_ENTRY_SIZE": "2097152"})
	}
	if got := r.ok(unitFile); strings.TrimSpace(got) != strings.TrimSpace(unit.Contents) {
		t.Errorf("%s in the target = %q; want %q", unit.Name, got, unit.Contents)
	}
	if got := r.ok(preset); !regexp.MustCompile(`(?m)^enable ` + regexp.QuoteMeta(unit.Name) + `$`).MatchString(got) {
		t.Errorf("the preset file lacks \"enable %s\":\n%s", unit.Name, got)
	}
	if m := r.ok(mounts); strings.Contains(m, "/sysroot") {
		t.Errorf("after the umount stage, /proc/mounts still has mounts under /sysroot:\n%s", m)
	}
	if out := r.get(run["mount"]).out; !strings.Contains(out, "/sysroot/var/lib/data") {
		t.Errorf("the mount stage did not mount the array at /sysroot/var/lib/data:\n%s", out)
	}
	r.ok(mnt)
	r.ok(write)
	if got := strings.TrimSpace(r.ok(cat)); got != "on xfs on raid1" {
		t.Errorf("/mnt/data/hello = %q; want %q", got, "on xfs on raid1")
	}
	r.ok(umnt)
	if !allZero(t, name["sda"].path) {
		t.Errorf("the disk the config does not name (sda, %s) changed", name["sda"].serial)
	}
	for _, n := range []string{"sdb", "sdc"} {
		if allZero(t, name[n].path) {
			t.Errorf("%s (%s) is still all zeros; want the RAID member", n, name[n].serial)
		}
	}
}
