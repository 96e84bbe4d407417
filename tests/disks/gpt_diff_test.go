package disks

// The disks stage's partition-table cases, planned by the stage and
// written both ways: sgdisk, as the stage does with IGNITION_GPT_WRITER=sgdisk,
// and internal/gpt, as it does by default, on two copies of each disk
// image; the images must end byte for byte equal, gpt.Prepare must place
// each partition where sgdisk --pretend does, and the stage's plans made
// both ways must be the same.
// The cases are those of stages/disks/partitions_test.go (copied here as
// data: its test is internal to that package) and every loop scenario of
// this package whose config partitions a disk.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/gpt"
	"github.com/ignition-go/ignition/internal/testenv"
	stage "github.com/ignition-go/ignition/stages/disks"
)

const guidA = "11111111-2222-3333-4444-555555555555"

type partitionCase struct {
	name   string
	before []string // sgdisk args on a 256 MiB disk; nil: blank
	disk   string   // the config's disk, device filled in
	want   string   // unused here
}

// partitionCases are the cases of stages/disks/partitions_test.go.
func partitionCases() []partitionCase {
	base := []string{"-n", "1:2048:+64M", "-c", "1:boot", "-t", "1:" + typeLinux, "-u", "1:" + guidA,
		"-n", "2:0:+32M", "-c", "2:data"}
	return []partitionCase{
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
			"error: Could not create partition 3"},
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
}

// recorder runs programs for real and keeps every sgdisk argv.
type recorder struct {
	command.Exec
	mu    sync.Mutex
	calls [][]string
}

func (r *recorder) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	if c.Name == "sgdisk" {
		r.mu.Lock()
		r.calls = append(r.calls, append([]string(nil), c.Args...))
		r.mu.Unlock()
	}
	return r.Exec.Run(ctx, c)
}

// toChange reads the stage's sgdisk argv (the --pretend run or the write)
// as a gpt.Change, giving a fixed GUID to every new partition without one.
func toChange(t *testing.T, args []string, seed int) gpt.Change {
	var c gpt.Change
	c.DiskGUID = fmt.Sprintf("D15C0000-0000-4000-8000-%012d", seed)
	byNum := map[int]*gpt.Op{}
	for _, a := range args[:len(args)-1] {
		k, v, _ := strings.Cut(a, "=")
		ns, rest, _ := strings.Cut(v, ":")
		n, _ := strconv.Atoi(ns)
		switch k {
		case "--zap-all":
			c.Zap = true
		case "--pretend", "--clear", "--info":
		case "--delete":
			c.Ops = append(c.Ops, gpt.Op{Delete: true, Number: n})
		case "--new":
			s, e, _ := strings.Cut(rest, ":")
			op := gpt.Op{Number: n, GUID: fmt.Sprintf("6A7B0000-0000-4000-8000-%06d%06d", seed, n)}
			op.Start, _ = strconv.ParseUint(s, 10, 64)
			if strings.HasPrefix(e, "+") {
				op.Size, _ = strconv.ParseUint(e[1:], 10, 64)
			} else {
				op.End, _ = strconv.ParseUint(e, 10, 64)
			}
			c.Ops = append(c.Ops, op)
			byNum[n] = &c.Ops[len(c.Ops)-1]
		case "--change-name", "--typecode", "--partition-guid":
			op := byNum[n]
			if op == nil {
				t.Fatalf("%s before --new=%d in %q", k, n, args)
			}
			switch k {
			case "--change-name":
				op.Name = rest
			case "--typecode":
				op.Type = rest
			default:
				op.GUID = rest
			}
		default:
			t.Fatalf("sgdisk option %s: not one the disks stage uses", k)
		}
	}
	return c
}

// sgdiskFixed is the stage's argv for img, with the random parts fixed as
// in c: the disk GUID of a new table, the GUID of each new partition.
func sgdiskFixed(args []string, img string, c gpt.Change, newTable bool) []string {
	out := append([]string(nil), args[:len(args)-1]...)
	if newTable {
		out = append([]string{"--disk-guid=" + c.DiskGUID}, out...)
	}
	for _, op := range c.Ops {
		if !op.Delete {
			out = append(out, fmt.Sprintf("--partition-guid=%d:%s", op.Number, op.GUID))
		}
	}
	return append(out, img)
}

func copyImage(t *testing.T, src, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

func hasTable(img string) bool {
	t, err := blockdev.ReadTable(img)
	return err == nil && t.GPT
}

// checkPretend runs a --pretend argv of the stage on a copy of img and
// compares sgdisk's placements with gpt.Prepare's.
func checkPretend(t *testing.T, args []string, img string, seed int) {
	t.Helper()
	c := toChange(t, args, seed)
	cp := copyImage(t, img, "gpt-pretend.img")
	out, sgErr := exec.Command("sgdisk", append(append([]string(nil), args[:len(args)-1]...), cp)...).CombinedOutput()
	f, err := os.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, goErr := gpt.Pretend(f, c)
	if (sgErr == nil) != (goErr == nil) {
		t.Fatalf("gpt.Pretend() err = %v; sgdisk %q: %v %s", goErr, args, sgErr, out)
	}
	if goErr != nil {
		return
	}
	var firsts, lasts []uint64
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		v, _, _ = strings.Cut(v, " ")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "First sector":
			firsts = append(firsts, n)
		case "Last sector":
			lasts = append(lasts, n)
		}
	}
	i := 0
	for _, op := range c.Ops {
		if op.Delete {
			continue
		}
		e := tab.Entries[op.Number-1]
		if i >= len(firsts) || e.First != firsts[i] || e.Last != lasts[i] {
			t.Errorf("gpt.Pretend() placed partition %d at %d-%d; sgdisk --pretend: %v-%v", op.Number, e.First, e.Last, firsts, lasts)
		}
		i++
	}
}

// checkWrite carries out one disk's plan on two copies of img, with
// sgdisk as the stage does and with gpt.Apply, and compares the images.
func checkWrite(t *testing.T, dp *stage.DiskPlan, img string, seed int) {
	t.Helper()
	sgImg, goImg := copyImage(t, img, "gpt-sgdisk.img"), copyImage(t, img, "gpt-go.img")
	var c gpt.Change
	args := dp.SgdiskArgs()
	if args != nil {
		c = toChange(t, args, seed)
	}
	c.Zap = dp.WipeTable
	newTable := dp.WipeTable || !hasTable(img)
	if dp.WipeTable {
		exec.Command("sgdisk", "--zap-all", sgImg).Run() // exits 2 after mending a damaged table, as the stage knows
	}
	if args != nil {
		args := sgdiskFixed(args, sgImg, c, newTable)
		if out, err := exec.Command("sgdisk", args...).CombinedOutput(); err != nil {
			t.Fatalf("sgdisk %q: %v %s", args, err, out)
		}
	}
	f, err := os.OpenFile(goImg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gpt.Apply(f, c)
	f.Close()
	if err != nil {
		t.Fatalf("gpt.Apply(%+v) = %v", c, err)
	}
	if out, err := exec.Command("cmp", sgImg, goImg).CombinedOutput(); err != nil {
		t.Errorf("gpt.Apply() and sgdisk %q wrote different images: %s", args, out)
	}
}

// planBoth plans cfg's disks with the stage's sgdisk writer (recording
// its sgdisk runs) and with its Go writer (the default), checks that both
// plans agree, then checks every --pretend run and every disk's write
// both ways.
func planBoth(t *testing.T, cfg config.Config, imgOf map[string]string) (checked int) {
	t.Helper()
	cfg.Storage.Filesystems, cfg.Storage.Raid, cfg.Storage.Luks = nil, nil, nil
	rec := &recorder{}
	plan, err := stage.MakePlan(context.Background(), cfg, stage.Options{Runner: rec, Log: testenv.NopLog{}, DeviceTimeout: 5 * time.Second, GPTWriter: stage.WriterSgdisk})
	goPlan, goErr := stage.MakePlan(context.Background(), cfg, stage.Options{Runner: &command.Exec{}, Log: testenv.NopLog{}, DeviceTimeout: 5 * time.Second})
	if (err == nil) != (goErr == nil) {
		t.Fatalf("the stage's plan with sgdisk: %v; with the Go writer: %v", err, goErr)
	}
	if err == nil {
		for i, dp := range plan.Disks {
			gdp := goPlan.Disks[i]
			if a, b := planText(dp), planText(gdp); a != b {
				t.Errorf("disk %s: planned with sgdisk %s; with the Go writer %s", dp.Device, a, b)
			}
		}
	}
	for i, args := range rec.calls {
		if len(args) > 0 && args[0] == "--pretend" {
			checkPretend(t, args, imgOf[args[len(args)-1]], i)
			checked++
		}
	}
	if err != nil {
		return checked // the stage refuses before writing: nothing to compare
	}
	for i, dp := range plan.Disks {
		if dp.Changes() {
			checkWrite(t, dp, imgOf[dp.Node], 100+i)
			checked++
		}
	}
	return checked
}

// planText is what a disk's plan decides: each partition's fate and
// sectors, the table after, the operations that write it.
func planText(dp *stage.DiskPlan) string {
	var parts []string
	for _, pp := range dp.Parts {
		parts = append(parts, fmt.Sprintf("%d:%s:%d+%d", pp.Number, pp.Action, pp.Start, pp.Size))
	}
	return fmt.Sprintf("parts %v after %v ops %+v", parts, dp.After.Partitions, dp.Ops)
}

func TestGPTWriterMatchesSgdiskOnPartitionCases(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "sgdisk", "cmp", "cp")
	for _, pc := range partitionCases() {
		t.Run(pc.name, func(t *testing.T) {
			w := newWorld(t)
			img := filepath.Join(w.dir, "disk0.img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			os.Truncate(img, 256<<20)
			if pc.before != nil {
				w.cmd("sgdisk", append(append([]string(nil), pc.before...), img)...)
			}
			w.imgs = append(w.imgs, img)
			loop := strings.TrimSpace(w.cmd("losetup", "-f", "--show", img))
			w.loops = append(w.loops, loop)
			var cfg config.Config
			var d config.Disk
			if err := json.Unmarshal([]byte(pc.disk), &d); err != nil {
				t.Fatal(err)
			}
			d.Device = loop
			cfg.Storage.Disks = []config.Disk{d}
			planBoth(t, cfg, map[string]string{loop: img})
		})
	}
}

func TestGPTWriterMatchesSgdiskOnScenarios(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "sgdisk", "cmp", "cp")
	var all []scenario
	for _, list := range [][]scenario{scenarios, planCheckScenarios, identityScenarios} {
		all = append(all, list...)
	}
	total := 0
	for _, sc := range all {
		if !strings.Contains(sc.config, `"partitions"`) && !strings.Contains(sc.config, `"wipeTable"`) {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			w := newWorld(t)
			var before []disk
			for _, d := range sc.before {
				d.FS = nil // the tables are what counts here
				parts := append([]part(nil), d.Parts...)
				for i := range parts {
					parts[i].FS = nil
				}
				d.Parts = parts
				before = append(before, d)
			}
			w.build(before)
			res, err := config.Parse([]byte(w.subst(sc.config)))
			if err != nil {
				return // a config the validator refuses: no table to compare
			}
			imgOf := map[string]string{}
			for i, l := range w.loops {
				imgOf[l] = w.imgs[i]
			}
			total += planBoth(t, res.Config, imgOf)
		})
	}
	t.Logf("%d tables and placements compared", total)
}

// attach makes a loop device of img with the given logical sector size
// (partscan: the kernel reads the table on BLKRRPART).
func (w *world) attach(img string, sectorSize int, partscan bool) string {
	w.t.Helper()
	args := []string{"-f", "--show", "-b", strconv.Itoa(sectorSize)}
	if partscan {
		args = append(args, "-P")
	}
	loop := strings.TrimSpace(w.cmd("losetup", append(args, img)...))
	w.imgs, w.loops = append(w.imgs, img), append(w.loops, loop)
	return loop
}

func (w *world) detach(loop string) {
	w.t.Helper()
	for i, l := range w.loops {
		if l == loop {
			exec.Command("partx", "-d", loop).Run()
			w.cmd("losetup", "-d", loop)
			w.loops = append(w.loops[:i], w.loops[i+1:]...)
			w.imgs = append(w.imgs[:i], w.imgs[i+1:]...)
			return
		}
	}
}

// On disks of 4096-byte sectors (loop devices with -b 4096: sgdisk reads
// the sector size from the kernel, not from a file), sgdisk and gpt.Apply
// write the same bytes: a new table, a zap and a new one, and a table
// added to on a grown disk.
func TestGPTWriterMatchesSgdiskOn4KSectors(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "sgdisk", "cmp", "losetup", "truncate")
	const M = 256 // 4096-byte sectors per MiB
	steps := []struct {
		name string
		grow int64 // MiB added to both images first
		c    gpt.Change
	}{
		{"new table, four partitions", 0, gpt.Change{DiskGUID: "D15C0000-0000-4000-8000-000000004096", Ops: []gpt.Op{
			{Number: 1, Size: 16 * M, Name: "EFI-SYSTEM", Type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", GUID: "6A7B0000-0000-4000-8000-000000000001"},
			{Number: 2, Size: 32 * M, Name: "boot", Type: typeLinux, GUID: "6A7B0000-0000-4000-8000-000000000002"},
			{Number: 3, Size: 64 * M, Name: "root", Type: typeLinux, GUID: "6A7B0000-0000-4000-8000-000000000003"},
			{Number: 4, Name: "var", Type: typeLinux, GUID: "6A7B0000-0000-4000-8000-000000000004"}}}},
		{"delete and recreate", 0, gpt.Change{Ops: []gpt.Op{{Delete: true, Number: 4},
			{Number: 4, Start: 113 * M, Size: 8 * M, Name: "var2", Type: typeLinux, GUID: "6A7B0000-0000-4000-8000-000000000005"}}}},
		{"grown disk, partition at the end", 64, gpt.Change{Ops: []gpt.Op{
			{Number: 5, Name: "grown", Type: typeLinux, GUID: "6A7B0000-0000-4000-8000-000000000006"}}}},
		{"zap and a new table", 0, gpt.Change{Zap: true, DiskGUID: "D15C0000-0000-4000-8000-000000000002", Ops: []gpt.Op{
			{Number: 1, Name: "only", Type: typeLinux, GUID: "6A7B0000-0000-4000-8000-000000000007"}}}},
	}
	w := newWorld(t)
	sgImg, goImg := filepath.Join(w.dir, "gpt-4k-sgdisk.img"), filepath.Join(w.dir, "gpt-4k-go.img")
	for _, p := range []string{sgImg, goImg} {
		w.cmd("truncate", "-s", "128M", p)
	}
	for _, st := range steps {
		if st.grow > 0 {
			for _, p := range []string{sgImg, goImg} {
				w.cmd("truncate", "-s", fmt.Sprintf("+%dM", st.grow), p)
			}
		}
		sgLoop, goLoop := w.attach(sgImg, 4096, false), w.attach(goImg, 4096, false)
		newTable := st.c.Zap || !hasTable(sgLoop)
		if st.c.Zap {
			exec.Command("sgdisk", "--zap-all", sgLoop).Run()
		}
		var args []string
		for _, op := range st.c.Ops {
			n := strconv.Itoa(op.Number)
			if op.Delete {
				args = append(args, "--delete="+n)
				continue
			}
			end := "0"
			if op.Size != 0 {
				end = "+" + strconv.FormatUint(op.Size, 10)
			}
			args = append(args, fmt.Sprintf("--new=%s:%d:%s", n, op.Start, end), "--change-name="+n+":"+op.Name, "--typecode="+n+":"+op.Type)
		}
		args = sgdiskFixed(append(args, sgLoop), sgLoop, st.c, newTable)
		if out, err := exec.Command("sgdisk", args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: sgdisk %q: %v %s", st.name, args, err, out)
		}
		f, err := os.OpenFile(goLoop, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := gpt.Apply(f, st.c)
		f.Close()
		if err != nil {
			t.Fatalf("%s: gpt.Apply() = %v", st.name, err)
		}
		if tab.SectorSize != 4096 {
			t.Fatalf("%s: gpt.Apply() wrote with %d-byte sectors; want 4096", st.name, tab.SectorSize)
		}
		w.detach(sgLoop)
		w.detach(goLoop)
		if out, err := exec.Command("cmp", sgImg, goImg).CombinedOutput(); err != nil {
			t.Fatalf("%s: gpt.Apply() and sgdisk wrote different images: %s", st.name, out)
		}
	}
}

// After gpt.Apply, gpt.Tell makes the kernel see the table and returns
// once every partition's node is in /dev with the right device number,
// with no udevadm settle; on a loop device without partition scanning
// (BLKRRPART refused) the BLKPG fallback does it.
func TestGPTTellTheKernel(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "losetup", "truncate")
	for _, partscan := range []bool{true, false} {
		t.Run(fmt.Sprintf("partscan=%v", partscan), func(t *testing.T) {
			w := newWorld(t)
			img := filepath.Join(w.dir, "gpt-tell.img")
			w.cmd("truncate", "-s", "64M", img)
			loop := w.attach(img, 512, partscan)
			f, err := os.OpenFile(loop, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := gpt.Apply(f, gpt.Change{Ops: []gpt.Op{{Number: 1, Size: 8 * 2048}, {Number: 2, Size: 8 * 2048}, {Number: 3}}})
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			var sys blockdev.Sys
			if err := gpt.Tell(context.Background(), sys, loop, tab.Blockdev(), 10*time.Second); err != nil {
				t.Fatalf("gpt.Tell() = %v", err)
			}
			if err := sys.Matches(loop, tab.Blockdev()); err != nil {
				t.Errorf("after gpt.Tell(): %v", err)
			}
			for n := 1; n <= 3; n++ {
				if fi, err := os.Stat(blockdev.PartitionPath(loop, n)); err != nil || fi.Mode()&os.ModeDevice == 0 {
					t.Errorf("after gpt.Tell(): %s: %v", blockdev.PartitionPath(loop, n), err)
				}
			}
		})
	}
}
