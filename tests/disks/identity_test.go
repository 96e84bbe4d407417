package disks

// The disks stage never touches the wrong device (issue 17): a device in
// use is found by what the kernel says of the device, not by a name; each
// name the config gives is one device; what would be ambiguous or
// impossible is refused in the plan with every disk as it was; and a run
// killed after any program it runs is completed by the next one.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/testenv"
	stage "github.com/ignition-go/ignition/stages/disks"
)

// fsDisk is a 200 MiB disk whose partition 1 "data" (1 MiB + 128 MiB)
// holds a filesystem of the given format and uuid, label DATA
// (mkfs.btrfs refuses a uuid another btrfs of the machine has: one per
// scenario).
func fsDisk(format, uuid string) disk {
	return disk{SizeMiB: 200, Parts: []part{{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 128,
		FS: &fsys{Format: format, Label: "DATA", UUID: uuid}}}}
}

var identityScenarios = []scenario{
	// ---- in use is a property of the device ----
	{
		// mountinfo names a btrfs by an anonymous 0:NN: the kernel's
		// refusal of an exclusive open finds it
		name:       "in-use/mounted-btrfs-partition-recreated",
		before:     []disk{fsDisk("btrfs", "0f3c6c5e-17a1-4a4a-9999-0000000000a1")},
		mountFirst: "$disk0p1",
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "data", "sizeMiB": 64, "wipePartitionEntry": true},
			{"number": 2, "label": "more", "sizeMiB": 16}]}]}`),
		fail: "disks",
		why:  `\$disk0\b.*in use.*mounted`,
	},
	{
		name:       "in-use/mounted-btrfs-whole-filesystem-wiped",
		before:     []disk{fsDisk("btrfs", "0f3c6c5e-17a2-4a4a-9999-0000000000a2")},
		mountFirst: "$disk0p1",
		config:     cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "wipeFilesystem": true}]}`),
		fail:       "disks",
		why:        `\$disk0p1.*(mounted|in use)`,
	},
	{
		name:       "in-use/mounted-ext4-partition-deleted",
		before:     []disk{dataDisk()},
		mountFirst: "$disk0p1",
		config:     cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "shouldExist": false, "wipePartitionEntry": true}]}]}`),
		fail:       "disks",
		why:        `\$disk0\b.*in use.*mounted`,
	},

	// ---- ambiguity and impossibility, refused in the plan ----
	{
		name: "refuse/number-0-label-two-partitions-share",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "twin", GUID: g1, StartMiB: 1, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "KEEP", Files: map[string]string{"/keep.txt": "mine"}}},
			{Num: 2, Label: "twin", GUID: g2, StartMiB: 17, SizeMiB: 16}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"label": "twin", "sizeMiB": 16}]}],
			"filesystems": [{"device": "$disk0p2", "format": "ext4", "wipeFilesystem": true}]}`),
		fail: "disks",
		why:  `\$disk0\b.*"twin".*partitions 1, 2`,
	},
	{
		name:   "refuse/filesystem-on-a-partition-the-config-deletes",
		before: []disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "one", GUID: g1, StartMiB: 1, SizeMiB: 16}, {Num: 2, Label: "two", GUID: g2, StartMiB: 17, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "TWO"}}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "shouldExist": false, "wipePartitionEntry": true}]}],
			"filesystems": [{"device": "$disk0p2", "format": "ext4", "label": "TWO", "path": "/var"}]}`),
		fail: "disks",
		why:  `\$disk0p2 is partition 2 of \$disk0, which this config deletes`,
	},
	{
		// the ext4 spans 32 MiB; kept on a 16 MiB partition it would run
		// over partition 2, which is formatted
		name:   "refuse/reused-filesystem-larger-than-its-recreated-partition",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "data", "startMiB": 1, "sizeMiB": 16, "wipePartitionEntry": true},
			{"number": 2, "label": "next", "startMiB": 17, "sizeMiB": 16}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA"},
			{"device": "$disk0p2", "format": "ext4", "wipeFilesystem": true}]}`),
		fail: "disks",
		why:  `\$disk0p1.*spans 32 MiB.*16 MiB`,
	},
	{
		name:   "refuse/nul-in-a-label-after-wipe-table",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [{"number": 1, "label": "a\u0000b", "sizeMiB": 8}]}]}`),
		fail:   "any",
		why:    `control character`,
	},
	{
		// 17592186044448 MiB is 2^64 bytes + 32 MiB: it wrapped to 32 MiB
		name:   "refuse/size-that-overflows",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "huge", "sizeMiB": 17592186044448}]}]}`),
		fail:   "any",
		why:    `partition 1: size 17592186044448 MiB is beyond the disk`,
	},
	{
		name:   "refuse/two-partitions-one-guid",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "a", "sizeMiB": 8, "guid": "` + g1 + `"},
			{"number": 2, "label": "b", "sizeMiB": 8, "guid": "` + g1 + `"}]}]}`),
		fail: "any",
		why:  `partitions 1 and 2 would have the same GUID`,
	},
	{
		name:   "refuse/guid-of-another-planned-disk",
		before: []disk{dataDisk(), {SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1}]},
			{"device": "$disk1", "partitions": [{"number": 1, "label": "b", "sizeMiB": 8, "guid": "` + g1 + `"}]}]}`),
		fail: "disks",
		why:  `\$disk1\b.*GUID ` + g1 + `.*partition 1 of \$disk0`,
	},

	// ---- layout ----
	{
		// valid in Ignition; number order would give partition 1 the whole
		// disk and leave no room for 2
		name:   "create/config-order-not-number-order",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "first", "sizeMiB": 32}, {"number": 1, "label": "rest"}]}]}`),
		after:  []disk{{Parts: []part{{Num: 2, Label: "first", StartMiB: 1, SizeMiB: 32}, {Num: 1, Label: "rest", StartMiB: 33, ToEnd: true}}}},
	},
}

func TestIdentityScenarios(t *testing.T) {
	requireRoot(t)
	for _, sc := range identityScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runScenario(t, sc)
		})
	}
}

// linkWorld is a world whose config may name devices through symlinks
// in a directory of the test ($links), as udev's /dev/disk/by-id links.
func linkWorld(t *testing.T, before []disk, links map[string]string) (*world, string) {
	w := newWorld(t)
	w.build(before)
	dir := filepath.Join(w.dir, "by-id")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range links {
		if err := os.Symlink(w.subst(target), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return w, dir
}

func (w *world) writeConfig(links, config string) {
	w.t.Helper()
	if err := os.WriteFile(w.conf, []byte(w.subst(strings.ReplaceAll(config, "$links", links))), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// A disk named through a link (by-id/data) whose partitions the config
// names: by-id/data1 is another disk's link, not partition 1 of data;
// partition 1 is by-id/data-part1, as udev names it.
func TestLinkPlusDigitIsAnotherDisk(t *testing.T) {
	requireRoot(t)
	w, links := linkWorld(t, []disk{{SizeMiB: 64}, {SizeMiB: 64, Raw: true}},
		map[string]string{"data": "$disk0", "data1": "$disk1"})
	w.writeConfig(links, cfg(`{"disks": [{"device": "$links/data", "wipeTable": true, "partitions": [{"number": 1, "label": "p1", "sizeMiB": 16}]}],
		"filesystems": [{"device": "$links/data1", "format": "ext4", "label": "OTHERDISK", "wipeFilesystem": true},
		{"device": "$links/data-part1", "format": "ext4", "label": "PART1"}]}`))
	failed, out, log := w.sequence(nil)
	if failed != "" {
		t.Fatalf("stage %s failed; want success\n%s\n%s", failed, out, log)
	}
	w.checkDisks([]disk{
		{Parts: []part{{Num: 1, Label: "p1", StartMiB: 1, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "PART1"}}}},
		{Raw: true, FS: &fsys{Format: "ext4", Label: "OTHERDISK"}},
	})
}

// A filesystem named through a link to a partition the config recreates
// elsewhere is probed, and made, where the partition will be: at its new
// offset there is nothing, so mkfs runs (probed at the old place, the old
// filesystem's other label was refused).
func TestLinkToARecreatedPartition(t *testing.T) {
	requireRoot(t)
	w, links := linkWorld(t, []disk{dataDisk()}, map[string]string{"data-part1": "$disk0p1"})
	w.writeConfig(links, cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "startMiB": 40, "sizeMiB": 16, "wipePartitionEntry": true}]}],
		"filesystems": [{"device": "$links/data-part1", "format": "ext4", "label": "MOVED", "path": "/srv"}]}`))
	failed, out, log := w.sequence(nil)
	if failed != "" {
		t.Fatalf("stage %s failed; want success\n%s\n%s", failed, out, log)
	}
	w.checkDisks([]disk{{Parts: []part{{Num: 1, Label: "data", StartMiB: 40, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "MOVED"}}}}})
}

// Two names of one device are one device: two filesystems on a partition
// named through its node and through a link are refused.
func TestTwoNamesOneFilesystemDevice(t *testing.T) {
	requireRoot(t)
	w, links := linkWorld(t, []disk{dataDisk()}, map[string]string{"data-part1": "$disk0p1"})
	w.writeConfig(links, cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA"},
		{"device": "$links/data-part1", "format": "ext4", "wipeFilesystem": true}]}`))
	before := w.hashes()
	failed, out, _ := w.sequence(nil)
	if failed != "disks" || !regexp.MustCompile(`same device`).MatchString(out) {
		t.Errorf("stage %q failed with %q; want disks to refuse two filesystems on the same device", failed, out)
	}
	if after := w.hashes(); after[0] != before[0] {
		t.Errorf("$disk0 changed; want it unchanged")
	}
}

// An active swap partition is in use: the disk holding it is not
// repartitioned.
func TestActiveSwapIsInUse(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "swapon", "swapoff")
	w := newWorld(t)
	w.build([]disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "swap", Type: typeSwap, GUID: g1, StartMiB: 1, SizeMiB: 32, FS: &fsys{Format: "swap"}}}}})
	dev := w.subst("$disk0p1")
	if out, err := exec.Command("swapon", dev).CombinedOutput(); err != nil {
		t.Fatalf("swapon %s: %v %s", dev, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("swapoff", dev).CombinedOutput(); err != nil {
			t.Errorf("swapoff %s: %v %s", dev, err, out)
		}
	})
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "sizeMiB": 16, "wipePartitionEntry": true}]}]}`))
	before := w.hashes()
	failed, out, _ := w.sequence(nil)
	if failed != "disks" || !regexp.MustCompile(w.subst(`\$disk0\b.*in use.*swap`)).MatchString(out) {
		t.Errorf("stage %q failed with %q; want disks to refuse the disk with an active swap", failed, out)
	}
	if after := w.hashes(); after[0] != before[0] {
		t.Errorf("$disk0 changed; want it unchanged")
	}
}

// A partition that nothing the kernel publishes names as held (no mount,
// no swap, no holder), but that a program holds open exclusively, is in
// use: the kernel's refusal of an exclusive open decides.
func TestExclusiveOpenerIsInUse(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	dev := w.subst("$disk0p1")
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening %s exclusively: %v", dev, err)
	}
	held := true
	release := func() {
		if held {
			unix.Close(fd)
			held = false
		}
	}
	t.Cleanup(release)
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "sizeMiB": 16, "wipePartitionEntry": true}]}]}`))
	before := w.hashes()
	failed, out, _ := w.sequence(nil)
	want := regexp.MustCompile(regexp.QuoteMeta(filepath.Base(dev)) + ` is open exclusively`)
	if failed != "disks" || !want.MatchString(out) {
		t.Errorf("stage %q failed with %q; want disks to refuse the disk whose partition is held open", failed, out)
	}
	if after := w.hashes(); after[0] != before[0] {
		t.Errorf("$disk0 changed; want it unchanged")
	}
	// once released, the same config runs
	release()
	if failed, out, log := w.sequence(nil); failed != "" {
		t.Errorf("after the release: stage %s failed; want success\n%s\n%s", failed, out, log)
	}
}

// A run killed right after any step of the disks stage that writes (the
// partition table written, before the kernel was told: by internal/gpt,
// or by sgdisk with IGNITION_GPT_WRITER=sgdisk; wipefs; one mkfs) is
// completed by the next run with the same config. The kill after the Go
// write comes from the stage's test hook (IGNITION_TEST_KILL_AFTER_GPT_WRITE:
// the stage kills itself with SIGKILL right after gpt.Apply, the first
// time); after a program, from a program of the same name earlier on
// PATH, which runs the real one, then kills the stage (SIGKILL) the first
// time it is run with the arguments given.
func TestKilledRunIsCompletedByTheNext(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		prog  string // "gpt": the Go table write
		match string // a part of the argv the killing run has
	}{
		{"gpt", "write"},
		{"sgdisk", "--typecode="}, // the write, not the dry run
		{"wipefs", "-a"},
		{"mkfs.ext4", "NEWDATA"},
		{"mkfs.ext4", "NEW "},
	}
	config := cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data"}, {"number": 2, "label": "new", "sizeMiB": 16}]}],
		"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "NEWDATA", "wipeFilesystem": true},
		{"device": "$disk0p2", "format": "ext4", "label": "NEW"}]}`)
	for _, c := range cases {
		t.Run(c.prog+"/"+strings.TrimSpace(c.match), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.build([]disk{dataDisk()})
			marker := filepath.Join(w.dir, "killed")
			switch c.prog {
			case "gpt":
				w.env = append(w.env, stage.KillAfterWriteEnv+"="+marker)
			case "sgdisk":
				w.env = append(w.env, stage.WriterEnv+"="+stage.WriterSgdisk)
			}
			if c.prog != "gpt" {
				shims := filepath.Join(w.dir, "shims")
				os.Mkdir(shims, 0o755)
				real, err := exec.LookPath(c.prog)
				if err != nil {
					t.Fatal(err)
				}
				script := fmt.Sprintf(`#!/bin/sh
%s "$@"; rc=$?
case " $* " in *%q*) if [ ! -e %s ]; then : > %s; kill -KILL $PPID; fi;; esac
exit $rc
`, real, c.match, marker, marker)
				if err := os.WriteFile(filepath.Join(shims, c.prog), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				w.env = append(w.env, "PATH="+shims+":"+os.Getenv("PATH"))
			}
			w.writeConfig("", config)
			failed, _, log := w.sequence(nil)
			if _, err := os.Stat(marker); err != nil || failed != "disks" {
				t.Fatalf("first run: stage %q failed, %s killed: %v; want the disks stage killed after it\n%s", failed, c.prog, err, log)
			}
			failed, out, log2 := w.sequence(nil)
			if failed != "" {
				t.Fatalf("second run: stage %s failed; want it to complete the first\n%s\n%s\n%s", failed, out, log, log2)
			}
			w.checkDisks([]disk{{Parts: []part{
				{Num: 1, Label: "data", StartMiB: 1, SizeMiB: 32, FS: &fsys{Format: "ext4", Label: "NEWDATA", UUIDNot: u1}},
				{Num: 2, Label: "new", StartMiB: 33, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "NEW"}}}}})
		})
	}
}
