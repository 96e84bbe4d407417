package disks

// Red-team cases for issue 17's device identity (in use by the device,
// names that cannot alias, reruns): what an unlucky operator or a careless
// config author does that the first round of tests did not try.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
	stage "github.com/ignition-go/ignition/stages/disks"
)

// refuseUnchanged runs the sequence and wants the disks stage to refuse
// with a message matching why ($diskN substituted), every disk unchanged.
func (w *world) refuseUnchanged(why string) {
	w.t.Helper()
	before := w.hashes()
	failed, out, log := w.sequence(nil)
	if failed != "disks" || !regexp.MustCompile(w.subst(why)).MatchString(out) {
		w.t.Errorf("stage %q failed with %q; want disks to refuse matching %q\n%s", failed, out, w.subst(why), log)
	}
	after := w.hashes()
	for i := range before {
		if before[i] != after[i] {
			w.t.Errorf("$disk%d changed; want it byte-for-byte unchanged", i)
		}
	}
}

// A filesystem mounted only in another mount namespace is not in this
// one's mount table, but the kernel still holds the partition: refused.
func TestRedteamMountedInAnotherNamespace(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "unshare")
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	dir := filepath.Join(w.dir, "ns-mnt")
	os.Mkdir(dir, 0o755)
	ready := filepath.Join(w.dir, "ns-ready")
	c := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		fmt.Sprintf("mount -o ro %s %s && : > %s && exec sleep 600", w.subst("$disk0p1"), dir, ready))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() }) // the namespace, and its mount, die with it
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(ready); err != nil {
		t.Fatalf("the mount in the other namespace did not happen")
	}
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "sizeMiB": 16, "wipePartitionEntry": true}]}]}`))
	w.refuseUnchanged(`\$disk0\b.*in use`)
}

// A loop device backed by a file on the partition, whose mount was then
// detached lazily (umount -l): no mount names the partition, but its
// filesystem lives on, and the kernel holds it. Refused.
func TestRedteamLoopBackedByAFileOnThePartition(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	dir := filepath.Join(w.dir, "lazy")
	os.Mkdir(dir, 0o755)
	w.cmd("mount", w.subst("$disk0p1"), dir)
	img := filepath.Join(dir, "inner.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	inner := strings.TrimSpace(w.cmd("losetup", "-f", "--show", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", inner).Run() })
	w.cmd("umount", "-l", dir)
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "shouldExist": false, "wipePartitionEntry": true}]}]}`))
	w.refuseUnchanged(`\$disk0\b.*in use`)
}

// A filesystem mounted through a bind mount of a subdirectory only (the
// first mount gone): still held, refused.
func TestRedteamBindMountOnly(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	a, b := filepath.Join(w.dir, "a"), filepath.Join(w.dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	w.cmd("mount", w.subst("$disk0p1"), a)
	os.Mkdir(filepath.Join(a, "sub"), 0o755)
	w.cmd("mount", "--bind", filepath.Join(a, "sub"), b)
	w.cmd("umount", a)
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "sizeMiB": 16, "wipePartitionEntry": true}]}]}`))
	w.refuseUnchanged(`\$disk0\b.*in use`)
}

// Partition numbers are read whole: a disk named through a link whose
// partitions 1 and 10 the config names as <link>-part1 and -part10 (as
// udev names them) gets each filesystem on its own partition.
func TestRedteamPart1AndPart10(t *testing.T) {
	requireRoot(t)
	w, links := linkWorld(t, []disk{{SizeMiB: 64}}, map[string]string{"pci-0000:00:1f.2-ata-1": "$disk0"})
	w.writeConfig(links, cfg(`{"disks": [{"device": "$links/pci-0000:00:1f.2-ata-1", "partitions": [
		{"number": 1, "label": "one", "sizeMiB": 8}, {"number": 10, "label": "ten", "sizeMiB": 8}]}],
		"filesystems": [{"device": "$links/pci-0000:00:1f.2-ata-1-part10", "format": "ext4", "label": "TEN"},
		{"device": "$links/pci-0000:00:1f.2-ata-1-part1", "format": "ext4", "label": "ONE"}]}`))
	if failed, out, log := w.sequence(nil); failed != "" {
		t.Fatalf("stage %s failed: %s\n%s", failed, out, log)
	}
	w.checkDisks([]disk{{Parts: []part{
		{Num: 1, Label: "one", StartMiB: 1, SizeMiB: 8, FS: &fsys{Format: "ext4", Label: "ONE"}},
		{Num: 10, Label: "ten", StartMiB: 9, SizeMiB: 8, FS: &fsys{Format: "ext4", Label: "TEN"}}}}})
}

var redteamScenarios = []scenario{
	{
		// a GPT of 128 entries has no partition 200: refused before sgdisk
		// writes anything
		name:   "refuse/partition-number-beyond-the-entry-array",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 200, "label": "far", "sizeMiB": 8}]}]}`),
		fail:   "disks",
		why:    `\$disk0\b`,
	},
	{
		name:   "refuse/size-zero-start-at-the-end",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "late", "startMiB": 64, "sizeMiB": 0}]}]}`),
		fail:   "disks",
		why:    `\$disk0\b`,
	},
}

func TestRedteamScenarios(t *testing.T) {
	requireRoot(t)
	for _, sc := range redteamScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runScenario(t, sc)
		})
	}
}

// A mounted partition that the plan deletes, recreates or resizes, or
// that wipeTable would take, is refused, naming that partition.
func TestRedteamMountedPartitionTouched(t *testing.T) {
	requireRoot(t)
	two := disk{SizeMiB: 64, Parts: []part{
		{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "DATA"}},
		{Num: 2, Label: "two", GUID: g2, StartMiB: 17, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "TWO"}}}}
	cases := []struct{ name, config, why string }{
		{"recreated", `{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "sizeMiB": 8, "wipePartitionEntry": true}]}]}`, `p2 is mounted`},
		{"deleted", `{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "shouldExist": false, "wipePartitionEntry": true}]}]}`, `p2 is mounted`},
		{"resized", `{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "sizeMiB": 24, "resize": true}]}]}`, `p2 is mounted`},
		{"wipe-table", `{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [{"number": 1, "label": "data", "startMiB": 1, "sizeMiB": 16}]}]}`, `p2 is mounted`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.build([]disk{two})
			dir := filepath.Join(w.dir, "busy")
			os.Mkdir(dir, 0o755)
			w.cmd("mount", "-o", "ro", w.subst("$disk0p2"), dir)
			w.writeConfig("", cfg(c.config))
			w.refuseUnchanged(`\$disk0\b.*in use: \S*` + c.why)
		})
	}
}

// A partition the kernel still sees but the table on the disk no longer
// has (a run killed after sgdisk deleted it) is dropped from the kernel's
// view by the next run, and a dry run says the kernel will be told.
func TestRedteamStaleKernelPartition(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{{SizeMiB: 64, Parts: []part{
		{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 16},
		{Num: 2, Label: "gone", GUID: g2, StartMiB: 17, SizeMiB: 16}}}})
	w.cmd("sgdisk", "--delete=2", w.loops[0]) // the kernel keeps its loop0p2
	if _, err := os.Stat(w.subst("$disk0p2")); err != nil {
		t.Fatalf("want the kernel to still see partition 2: %v", err)
	}
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data"}]}]}`))
	if r := w.stage("fetch-offline"); r.code != 0 {
		t.Fatalf("fetch-offline: %s%s", r.out, r.stderr)
	}
	before := w.hashes()
	r := w.stage("disks", "-dry-run")
	if r.code != 0 || !regexp.MustCompile(`(?i)kernel`).MatchString(r.out+r.stderr) {
		t.Errorf("disks -dry-run: exit %d, %s%s; want it to say the kernel will be told the table", r.code, r.out, r.stderr)
	}
	if _, err := os.Stat(w.subst("$disk0p2")); err != nil {
		t.Errorf("the dry run changed the kernel's view: %v", err)
	}
	if after := w.hashes(); after[0] != before[0] {
		t.Errorf("the dry run changed $disk0")
	}
	if failed, out, log := w.sequence(nil); failed != "" {
		t.Fatalf("stage %s failed: %s\n%s", failed, out, log)
	}
	if _, err := os.Stat(w.subst("$disk0p2")); err == nil {
		t.Errorf("%s still exists; want the kernel to have dropped it", w.subst("$disk0p2"))
	}
}

// A disk with 4096-byte logical sectors: starts and sizes in MiB are
// sectors of 4096 bytes in the table, and the kernel is told them in its
// 512-byte units.
func TestRedteam4KSectors(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	img := filepath.Join(w.dir, "disk4k.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	w.imgs = append(w.imgs, img)
	loop := strings.TrimSpace(w.cmd("losetup", "--sector-size", "4096", "-f", "--show", img))
	w.loops = append(w.loops, loop)
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [
		{"number": 1, "label": "one", "sizeMiB": 16}, {"number": 2, "label": "two", "startMiB": 40, "sizeMiB": 8}]}],
		"filesystems": [{"device": "$disk0p2", "format": "ext4", "label": "TWO"}]}`))
	if failed, out, log := w.sequence(nil); failed != "" {
		t.Fatalf("stage %s failed: %s\n%s", failed, out, log)
	}
	for n, want := range map[int][2]string{1: {"2048", "32768"}, 2: {"81920", "16384"}} {
		base := filepath.Join("/sys/class/block", filepath.Base(loop)+fmt.Sprintf("p%d", n))
		start, _ := os.ReadFile(filepath.Join(base, "start"))
		size, _ := os.ReadFile(filepath.Join(base, "size"))
		if got := [2]string{strings.TrimSpace(string(start)), strings.TrimSpace(string(size))}; got != want {
			t.Errorf("partition %d: the kernel sees start, size %v; want %v (512-byte units)", n, got, want)
		}
	}
	out := w.cmd("sgdisk", "-i", "2", loop)
	if !strings.Contains(out, "First sector: 10240 ") || !strings.Contains(out, "Last sector: 12287 ") {
		t.Errorf("sgdisk -i 2 %s:\n%s\nwant partition 2 at 4096-byte sectors 10240-12287", loop, out)
	}
	if got := blkid(w.subst("$disk0p2"))["LABEL"]; got != "TWO" {
		t.Errorf("blkid %s: LABEL %q; want TWO", w.subst("$disk0p2"), got)
	}
}

// A disk whose first sectors were zeroed (a "wipe" with dd that leaves
// the backup GPT at the end) is a damaged table: refused unless wipeTable,
// with the disk unchanged, rather than called "a gpt partition table, not
// a GPT"; with wipeTable it is partitioned afresh.
func TestRedteamPrimaryGPTZeroed(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	w.cmd("dd", "if=/dev/zero", "of="+w.loops[0], "bs=512", "seek=1", "count=1", "conv=notrunc")
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "new", "sizeMiB": 8}]}]}`))
	w.refuseUnchanged(`\$disk0\b.*damaged; set wipeTable`)
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [{"number": 2, "label": "new", "sizeMiB": 8}]}]}`))
	if failed, out, log := w.sequence(nil); failed != "" {
		t.Fatalf("with wipeTable: stage %s failed: %s\n%s", failed, out, log)
	}
	w.checkDisks([]disk{{Parts: []part{{Num: 2, Label: "new", StartMiB: 1, SizeMiB: 8}}}})
}

var nestedScenarios = []scenario{
	{
		// the author forgot the partition: mkfs over the whole disk would
		// overwrite the table the plan writes (it did, after sgdisk)
		name:   "refuse/filesystem-on-the-whole-disk-the-config-partitions",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [{"number": 1, "label": "data", "sizeMiB": 16}]}],
			"filesystems": [{"device": "$disk0", "format": "ext4", "label": "WHOLE", "wipeFilesystem": true}]}`),
		fail: "disks",
		why:  `filesystem on \$disk0: \$disk0 is the whole disk \$disk0, which this config partitions`,
	},
	{
		// a partition named as a disk of its own, while its disk's table
		// moves it: it was read where it is now
		name:   "refuse/disk-that-is-a-partition-of-a-changed-disk",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "startMiB": 40, "sizeMiB": 16, "wipePartitionEntry": true}]},
			{"device": "$disk0p1", "wipeTable": true, "partitions": [{"number": 1, "label": "inner", "sizeMiB": 4}]}]}`),
		fail: "disks",
		why:  `disk \$disk0p1 is partition 1 of \$disk0, whose table this config changes`,
	},
	{
		// wipeTable with no partitions, then a filesystem on the whole
		// disk: what the config asks, done
		name:   "create/wipe-table-then-whole-disk-filesystem",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "wipeTable": true}],
			"filesystems": [{"device": "$disk0", "format": "ext4", "label": "WHOLE", "wipeFilesystem": true}]}`),
		after: []disk{{Raw: true, FS: &fsys{Format: "ext4", Label: "WHOLE"}}},
	},
}

func TestRedteamNestedDevices(t *testing.T) {
	requireRoot(t)
	for _, sc := range nestedScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runScenario(t, sc)
		})
	}
}

// A run with wipeTable killed right after sgdisk --zap-all (no table at
// all on the disk, the kernel still seeing the old partition) or after the
// table is written (by sgdisk with IGNITION_GPT_WRITER=sgdisk; by
// internal/gpt, zap and table in one write, killed by the stage's test
// hook IGNITION_TEST_KILL_AFTER_GPT_WRITE) is completed by the next one.
func TestRedteamKilledAfterZap(t *testing.T) {
	requireRoot(t)
	for _, match := range []string{"--zap-all", "--typecode=", "gpt-write"} {
		t.Run(strings.TrimLeft(match, "-"), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.build([]disk{dataDisk()})
			marker := filepath.Join(w.dir, "killed")
			if match == "gpt-write" {
				w.env = append(w.env, stage.KillAfterWriteEnv+"="+marker)
			} else {
				shims := filepath.Join(w.dir, "shims")
				os.Mkdir(shims, 0o755)
				real, err := exec.LookPath("sgdisk")
				if err != nil {
					t.Fatal(err)
				}
				script := fmt.Sprintf("#!/bin/sh\n%s \"$@\"; rc=$?\ncase \" $* \" in *%q*) if [ ! -e %s ]; then : > %s; kill -KILL $PPID; fi;; esac\nexit $rc\n", real, match, marker, marker)
				if err := os.WriteFile(filepath.Join(shims, "sgdisk"), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				w.env = append(w.env, "PATH="+shims+":"+os.Getenv("PATH"), stage.WriterEnv+"="+stage.WriterSgdisk)
			}
			w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [
				{"number": 1, "label": "a", "startMiB": 1, "sizeMiB": 16}, {"number": 2, "label": "b", "sizeMiB": 16}]}],
				"filesystems": [{"device": "$disk0p2", "format": "ext4", "label": "BEE", "wipeFilesystem": true}]}`))
			failed, _, log := w.sequence(nil)
			if _, err := os.Stat(marker); err != nil || failed != "disks" {
				t.Fatalf("first run: stage %q failed, killed: %v; want the disks stage killed after %s\n%s", failed, err, match, log)
			}
			if failed, out, log2 := w.sequence(nil); failed != "" {
				t.Fatalf("second run: stage %s failed; want it to complete the first\n%s\n%s\n%s", failed, out, log, log2)
			}
			w.checkDisks([]disk{{Parts: []part{
				{Num: 1, Label: "a", StartMiB: 1, SizeMiB: 16},
				{Num: 2, Label: "b", StartMiB: 17, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "BEE"}}}}})
		})
	}
}

// One partition named twice: by its node and by the by-partlabel link of
// the label it has now, which the config changes. The link names the
// partition as it is; after the plan no partition has that label: refused
// (two filesystems on one partition, or a link that will name nothing).
// The link is made here as udev would make it.
func TestRedteamPartlabelTheConfigChanges(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	label := fmt.Sprintf("rt17-old-%d", os.Getpid())
	dir := "/dev/disk/by-partlabel"
	made := false
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		made = true
	}
	link := filepath.Join(dir, label)
	if err := os.Symlink(w.subst("$disk0p1"), link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(link)
		if made {
			os.Remove(dir)
		}
	})
	w.cmd("sgdisk", "-c", "1:"+label, w.loops[0])
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "new", "startMiB": 1, "sizeMiB": 32, "wipePartitionEntry": true}]}],
		"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "NEWFS", "wipeFilesystem": true},
		{"device": "`+link+`", "format": "ext4", "label": "OTHER", "wipeFilesystem": true}]}`))
	w.refuseUnchanged(`partition 1 of \$disk0 now, which this config gives another label`)
}
