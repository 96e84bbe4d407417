package disks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/gpt"
	"github.com/ignition-go/ignition/internal/testenv"
)

// image makes a 256 MiB disk image with sgdisk args applied (nil: blank).
func image(t *testing.T, sgdisk ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 256<<20); err != nil {
		t.Fatal(err)
	}
	if len(sgdisk) > 0 {
		if out, err := exec.Command("sgdisk", append(sgdisk, p)...).CombinedOutput(); err != nil {
			t.Fatalf("sgdisk %v: %v\n%s", sgdisk, err, out)
		}
	}
	return p
}

const (
	typeLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	typeSwap  = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
	guidA     = "11111111-2222-3333-4444-555555555555"
)

// In 512-byte sectors: 1 MiB = 2048.
func TestPlanPartitions(t *testing.T) {
	testenv.NeedTools(t, "sgdisk")
	base := []string{"-n", "1:2048:+64M", "-c", "1:boot", "-t", "1:" + typeLinux, "-u", "1:" + guidA,
		"-n", "2:0:+32M", "-c", "2:data"}
	cases := []struct {
		name   string
		before []string // sgdisk args; nil: blank disk
		disk   string   // config disk, device filled in
		want   string   // "N:action:startMiB:sizeMiB" per partition, or "error: text"
	}{
		{"create on a blank disk, defaults", nil,
			`{"partitions":[{"number":1,"label":"a","sizeMiB":10},{"label":"b"}]}`,
			"1:create:1:10 2:create:11:244"},
		{"start and size given", nil,
			`{"partitions":[{"number":3,"startMiB":100,"sizeMiB":20,"typeGuid":"` + typeSwap + `"}]}`,
			"3:create:100:20"},
		{"start 0 takes the largest free block", []string{"-n", "1:2048:+10M", "-n", "2:+100M:+10M"},
			`{"partitions":[{"number":3,"startMiB":0,"sizeMiB":5}]}`,
			"3:create:121:5"},
		{"matching partition is kept", base,
			`{"partitions":[{"number":1,"label":"boot","startMiB":1,"sizeMiB":64,"typeGuid":"` + typeLinux + `","guid":"` + guidA + `"}]}`,
			"1:keep:1:64"},
		{"unspecified fields match anything", base,
			`{"partitions":[{"number":2}]}`,
			"2:keep:65:32"},
		{"label picks the number when it is 0", base,
			`{"partitions":[{"label":"data","sizeMiB":32}]}`,
			"2:keep:65:32"},
		{"next free number", base,
			`{"partitions":[{"label":"new","sizeMiB":8}]}`,
			"3:create:97:8"},
		{"mismatch without wipePartitionEntry is refused", base,
			`{"partitions":[{"number":1,"label":"other"}]}`,
			`error: partition 1 does not match the config (label "boot", want "other") and wipePartitionEntry is not set`},
		{"mismatch with wipePartitionEntry recreates", base,
			`{"partitions":[{"number":2,"label":"data","sizeMiB":40,"wipePartitionEntry":true}]}`,
			"2:delete and recreate:65:40"},
		{"wipePartitionEntry on a match keeps it", base,
			`{"partitions":[{"number":2,"label":"data","wipePartitionEntry":true,"sizeMiB":32,"startMiB":65}]}`,
			"2:keep:65:32"},
		{"resize grows in place", base,
			`{"partitions":[{"number":2,"sizeMiB":50,"resize":true}]}`,
			"2:resize:65:50"},
		{"resize to 0 grows to the end of the free block", base,
			`{"partitions":[{"number":2,"sizeMiB":0,"resize":true}]}`,
			"2:resize:65:190"},
		{"a partition made after a resized one starts after its new end", base,
			`{"partitions":[{"number":2,"sizeMiB":50,"resize":true},{"number":3,"label":"after"}]}`,
			"2:resize:65:50 3:create:115:140"},
		{"resize that shrinks is refused", base,
			`{"partitions":[{"number":2,"sizeMiB":16,"resize":true}]}`,
			"error: shrinking from 32 MiB to 16 MiB would lose data"},
		{"resize does not excuse another mismatch", base,
			`{"partitions":[{"number":2,"sizeMiB":50,"label":"x","resize":true}]}`,
			"error: does not match the config"},
		{"delete with wipePartitionEntry", base,
			`{"partitions":[{"number":2,"shouldExist":false,"wipePartitionEntry":true}]}`,
			"2:delete:0:0"},
		{"delete without wipePartitionEntry is refused", base,
			`{"partitions":[{"number":2,"shouldExist":false}]}`,
			"error: partition 2 exists, shouldExist is false, and wipePartitionEntry is not set"},
		{"absent and should not exist", base,
			`{"partitions":[{"number":5,"shouldExist":false}]}`,
			"5:nothing:0:0"},
		{"wipeTable starts from nothing", base,
			`{"wipeTable":true,"partitions":[{"number":1,"label":"only","sizeMiB":100}]}`,
			"1:create:1:100"},
		{"overlap with a kept partition is refused", base,
			`{"partitions":[{"number":3,"startMiB":60,"sizeMiB":10}]}`,
			"error: could not create partition 3"},
		{"no room", base,
			`{"partitions":[{"number":3,"sizeMiB":200}]}`,
			"error: working out partition positions"},
		{"a size beyond the disk is refused before sgdisk", base,
			`{"partitions":[{"number":3,"sizeMiB":1000}]}`,
			"error: partition 3: size 1000 MiB is beyond the disk (256 MiB)"},
		{"a size that overflows in bytes is refused, not wrapped", nil,
			`{"partitions":[{"number":1,"sizeMiB":17592186044448}]}`,
			"error: partition 1: size 17592186044448 MiB is beyond the disk"},
		{"partitions are laid out in config order", nil,
			`{"partitions":[{"number":2,"sizeMiB":32},{"number":1}]}`,
			"2:create:1:32 1:create:33:222"},
		{"number 0 is laid out last", nil,
			`{"partitions":[{"label":"rest"},{"number":1,"sizeMiB":16}]}`,
			"1:create:1:16 2:create:17:238"},
		{"a NUL in a label is refused before the table is written", nil,
			`{"wipeTable":true,"partitions":[{"number":1,"label":"a\u0000b","sizeMiB":8}]}`,
			"error: control character"},
		{"a label two partitions share is refused for number 0", []string{"-n", "1:0:+8M", "-c", "1:twin", "-n", "2:0:+8M", "-c", "2:twin"},
			`{"partitions":[{"label":"twin"}]}`,
			"error: partitions 1, 2 all have that label"},
		{"two partitions with one GUID are refused", base,
			`{"partitions":[{"number":3,"sizeMiB":8,"guid":"` + guidA + `"}]}`,
			"error: partitions 1 and 3 would have the same GUID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := image(t, c.before...)
			var d config.Disk
			if err := json.Unmarshal([]byte(c.disk), &d); err != nil {
				t.Fatal(err)
			}
			d.Device = img
			p := &planner{run: &command.Exec{}, log: testenv.NopLog{}}
			dp, err := p.planDisk(context.Background(), d, img)
			// the way of the sgdisk writer (placement by sgdisk --pretend)
			// plans the same
			ps := &planner{run: &command.Exec{}, log: testenv.NopLog{}, writer: WriterSgdisk}
			dps, errS := ps.planDisk(context.Background(), d, img)
			if (err == nil) != (errS == nil) {
				t.Fatalf("planDisk() err = %v; with sgdisk: %v", err, errS)
			}
			if strings.HasPrefix(c.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
					t.Fatalf("planDisk() err = %v; want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("planDisk() = %v", err)
			}
			show := func(dp *DiskPlan) string {
				var got []string
				for _, pp := range dp.Parts {
					got = append(got, fmt.Sprintf("%d:%s:%d:%d", pp.Number, pp.Action, pp.Start/2048, pp.Size/2048))
				}
				return strings.Join(got, " ")
			}
			if got := show(dp); got != c.want {
				t.Errorf("planDisk() = %s; want %s", got, c.want)
			}
			if got, gotS := fmt.Sprint(dp.After.Partitions), fmt.Sprint(dps.After.Partitions); got != gotS {
				t.Errorf("planDisk() table %s; with sgdisk %s", got, gotS)
			}
			// carrying the plan out on the image, as the stage does, gives
			// the table planned
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = gpt.Apply(f, gpt.Change{Zap: dp.WipeTable, Ops: dp.Ops})
			f.Close()
			if err != nil {
				t.Fatalf("gpt.Apply(%+v) = %v", dp.Ops, err)
			}
			if tab, err := blockdev.ReadTable(img); err != nil {
				t.Fatal(err)
			} else if err := sameLayout(tab, dp.After); err != nil {
				t.Errorf("the table written: %v", err)
			}
			p2 := &planner{run: &command.Exec{}, log: testenv.NopLog{}}
			again, err := p2.planDisk(context.Background(), d, img)
			if err != nil {
				t.Fatalf("planning again after the write: %v", err)
			}
			if !dp.WipeTable {
				for _, pp := range again.Parts {
					if pp.Action != PartKeep && pp.Action != PartNothing {
						t.Errorf("second plan: partition %d: %s (%s); want it kept", pp.Number, pp.Action, pp.Why)
					}
				}
			}
		})
	}
}

// A disk without a GPT that holds a filesystem (or another kind of table)
// is not partitioned unless wipeTable says so: writing a GPT would
// destroy it.
func TestWholeDiskFilesystemIsNotPartitionedOver(t *testing.T) {
	testenv.NeedTools(t, "sgdisk", "mkfs.ext4", "blkid")
	img := image(t)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	var d config.Disk
	json.Unmarshal([]byte(`{"partitions":[{"number":1,"label":"new","sizeMiB":32}]}`), &d)
	d.Device = img
	p := &planner{run: &command.Exec{}, log: testenv.NopLog{}}
	if _, err := p.planDisk(context.Background(), d, img); err == nil || !strings.Contains(err.Error(), "holds ext4") {
		t.Errorf("planDisk() = %v; want a refusal naming the filesystem", err)
	}
	d.WipeTable = new(bool)
	*d.WipeTable = true
	if _, err := p.planDisk(context.Background(), d, img); err != nil {
		t.Errorf("planDisk() with wipeTable = %v; want a plan", err)
	}
}

// Names that the plan's tables decide, without any device: a
// by-partlabel path two planned partitions would answer to is refused;
// one is that partition; a by-partuuid path is matched by GUID only; a
// digit appended to the link a disk is named by is not its partition.
func TestPartitionNamed(t *testing.T) {
	gpt := func(parts ...blockdev.Partition) blockdev.Table {
		return blockdev.Table{GPT: true, SectorSize: 512, Partitions: parts}
	}
	a := &DiskPlan{Device: "/nonexistent/by-id/a", Node: "/nonexistent/vda", Dev: 1, Before: gpt(),
		After: gpt(blockdev.Partition{Number: 1, Label: "twin", GUID: guidA}, blockdev.Partition{Number: 2, Label: "solo"})}
	b := &DiskPlan{Device: "/nonexistent/by-id/b", Node: "/nonexistent/vdb", Dev: 2, Before: gpt(),
		After: gpt(blockdev.Partition{Number: 3, Label: "twin"})}
	disks := []*DiskPlan{a, b}
	cases := []struct {
		name string
		want string // "disk:number", "" for none, or "error: text"
	}{
		{"/dev/disk/by-partlabel/twin", "error: would name several partitions (partition 1 of /nonexistent/by-id/a, partition 3 of /nonexistent/by-id/b)"},
		{"/dev/disk/by-partlabel/solo", "/nonexistent/by-id/a:2"},
		{"/dev/disk/by-partuuid/" + strings.ToLower(guidA), "/nonexistent/by-id/a:1"},
		{"/dev/disk/by-partuuid/twin", ""},
		{"/nonexistent/vda1", "/nonexistent/by-id/a:1"},
		{"/nonexistent/by-id/a1", ""},
	}
	for _, c := range cases {
		f, ok, err := partitionNamed(c.name, disks)
		got := ""
		switch {
		case err != nil:
			got = "error: " + err.Error()
		case ok:
			got = fmt.Sprintf("%s:%d", f.disk.Device, f.part.Number)
		}
		if got != c.want && !(strings.HasPrefix(c.want, "error: ") && strings.Contains(got, strings.TrimPrefix(c.want, "error: "))) {
			t.Errorf("partitionNamed(%s) = %q; want %q", c.name, got, c.want)
		}
	}
}

// Partitions of an md array named by its /dev/md/ link, not there yet,
// are known by the names mdadm's udev rules give them: <name>N, or
// <name>pN when the name ends in a digit; any other link plus a digit is
// not a partition.
func TestPartitionNamedMD(t *testing.T) {
	gpt := blockdev.Table{GPT: true, SectorSize: 512, Partitions: []blockdev.Partition{{Number: 1}, {Number: 10}}}
	data := &DiskPlan{Device: "/dev/md/nonexistent-data", Node: "/nonexistent/md126", Dev: 1, Before: gpt, After: gpt}
	vol := &DiskPlan{Device: "/dev/md/nonexistent-vol1", Node: "/nonexistent/md127", Dev: 2, Before: gpt, After: gpt}
	link := &DiskPlan{Device: "/nonexistent/by-id/x", Node: "/nonexistent/vdc", Dev: 3, Before: gpt, After: gpt}
	disks := []*DiskPlan{data, vol, link}
	for name, want := range map[string]string{
		"/dev/md/nonexistent-data1":      "/dev/md/nonexistent-data:1",
		"/dev/md/nonexistent-data10":     "/dev/md/nonexistent-data:10",
		"/dev/md/nonexistent-vol1p1":     "/dev/md/nonexistent-vol1:1",
		"/dev/md/nonexistent-vol11":      "",
		"/nonexistent/md127p10":          "/dev/md/nonexistent-vol1:10",
		"/nonexistent/by-id/x1":          "",
		"/dev/md/nonexistent-data-p1":    "",
		"/dev/md/nonexistent-data-part1": "",
	} {
		f, ok, err := partitionNamed(name, disks)
		got := ""
		if ok {
			got = fmt.Sprintf("%s:%d", f.disk.Device, f.part.Number)
		}
		if err != nil || got != want {
			t.Errorf("partitionNamed(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
}

// The dry run shows what the table write will do, operation by operation
// (sgdisk's command with IGNITION_GPT_WRITER=sgdisk), and says the kernel
// will be told the table of a disk whose table stays but whose partitions
// the kernel sees otherwise.
func TestPrintDescribesTheWrite(t *testing.T) {
	tab := blockdev.Table{GPT: true, SectorSize: 512, Sectors: 2048 * 64}
	write := &DiskPlan{Device: "/dev/x", Node: "/dev/x", Before: tab, Ops: []gpt.Op{
		{Delete: true, Number: 2},
		{Number: 2, Start: 2048, End: 4095, Type: linuxFilesystem, Name: "var"}}}
	sync := &DiskPlan{Device: "/dev/y", Node: "/dev/y", Before: tab, Sync: true}
	for _, c := range []struct {
		writer string
		want   []string
	}{
		{WriterGo, []string{
			`would write the partition table: delete partition 2; partition 2 sectors 2048-4095 name "var" type ` + linuxFilesystem + ` random guid`,
			"disk /dev/y", "the kernel will be told the table"}},
		{WriterSgdisk, []string{
			"would run sgdisk --delete=2 --new=2:2048:4095 --change-name=2:var --typecode=2:" + linuxFilesystem + " /dev/x"}},
	} {
		var b strings.Builder
		(&Plan{Disks: []*DiskPlan{write, sync}, p: &planner{writer: c.writer}}).Print(&b)
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s writer: Print() =\n%s\nwant %q", c.writer, b.String(), w)
			}
		}
	}
}
