package gpt

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// Differential tests: the same Change carried out by sgdisk on one image
// and by Apply on a copy must leave the two images byte for byte equal
// (MBR, both headers, both arrays, CRCs, and every other sector). The
// random parts are given to both: the disk GUID of a new table (-U) and
// every new partition's unique GUID (-u).

const (
	typeLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	typeSwap  = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
	typeESP   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	guidA     = "11111111-2222-3333-4444-555555555555"
	diskG     = "D15C0000-0000-4000-8000-000000000001"
)

// image makes a sparse image of size bytes, then runs sgdisk with each
// argument list in turn on it (the disk's "before").
func image(t testing.TB, size int64, before ...[]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gpt-diff.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, args := range before {
		sgdisk(t, append(args, p)...)
	}
	return p
}

func sgdisk(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("sgdisk", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func cp(t testing.TB, src string) string {
	t.Helper()
	dst := src + ".copy"
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

// withGUIDs gives every new partition a unique GUID (for both ways).
func withGUIDs(c Change, seed int64) Change {
	r := rand.New(rand.NewSource(seed))
	ops := append([]Op(nil), c.Ops...)
	for i := range ops {
		if !ops[i].Delete && ops[i].GUID == "" {
			ops[i].GUID = fmt.Sprintf("%08X-%04X-4%03X-8%03X-%012X", r.Uint32(), r.Intn(1<<16), r.Intn(1<<12), r.Intn(1<<12), r.Int63n(1<<48))
		}
	}
	c.Ops = ops
	if c.DiskGUID == "" {
		c.DiskGUID = diskG
	}
	return c
}

// SgdiskArgs renders the operations as the disks stage passes them to
// sgdisk (without the --zap-all run and the device).
func sgdiskOps(ops []Op) []string {
	var args []string
	for _, op := range ops {
		n := strconv.Itoa(op.Number)
		if op.Delete {
			args = append(args, "--delete="+n)
			continue
		}
		end := "0"
		switch {
		case op.End != 0:
			end = strconv.FormatUint(op.End, 10)
		case op.Size != 0:
			end = "+" + strconv.FormatUint(op.Size, 10)
		}
		args = append(args, fmt.Sprintf("--new=%s:%d:%s", n, op.Start, end))
		if op.Name != "" {
			args = append(args, "--change-name="+n+":"+op.Name)
		}
		if op.Type != "" {
			args = append(args, "--typecode="+n+":"+op.Type)
		}
		if op.GUID != "" {
			args = append(args, "--partition-guid="+n+":"+op.GUID)
		}
	}
	return args
}

// newTable says whether sgdisk makes a new table for c on img.
func newTable(t testing.TB, img string, c Change) bool {
	if c.Zap {
		return true
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ss, n, _ := Geometry(f)
	_, err = Read(f, ss, n)
	return err != nil
}

// bothWays carries c out with sgdisk on img and with Apply on a copy; it
// returns the copy, sgdisk's error (nil when it succeeded) and Apply's.
func bothWays(t testing.TB, img string, c Change) (goImg string, sgErr, goErr error) {
	t.Helper()
	mine := cp(t, img)
	if c.Zap {
		exec.Command("sgdisk", "--zap-all", img).Run() // exits 2 after fixing a damaged table, as the stage knows
	}
	if len(c.Ops) > 0 {
		args := sgdiskOps(c.Ops)
		if newTable(t, img, c) {
			args = append([]string{"--disk-guid=" + c.DiskGUID}, args...)
		}
		if out, err := exec.Command("sgdisk", append(args, img)...).CombinedOutput(); err != nil {
			sgErr = fmt.Errorf("sgdisk %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	f, err := os.OpenFile(mine, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, goErr = Apply(f, c)
	return mine, sgErr, goErr
}

// sameBytes compares two images sector by sector where either holds data
// (the rest of these sparse images is holes in both), naming the
// differing sectors.
func sameBytes(t testing.TB, sgImg, goImg string, ss int) {
	t.Helper()
	fa, fb := openRO(t, sgImg), openRO(t, goImg)
	var diff []string
	for _, r := range append(dataRanges(t, fa), dataRanges(t, fb)...) {
		for off := r[0] - r[0]%int64(ss); off < r[1]; off += int64(ss) {
			a, b := make([]byte, ss), make([]byte, ss)
			fa.ReadAt(a, off)
			fb.ReadAt(b, off)
			if !bytes.Equal(a, b) {
				i := 0
				for a[i] == b[i] {
					i++
				}
				diff = append(diff, fmt.Sprintf("sector %d (first at byte %d: sgdisk %#02x, gpt %#02x)", off/int64(ss), i, a[i], b[i]))
			}
			if len(diff) > 8 {
				break
			}
		}
	}
	if len(diff) > 0 {
		t.Errorf("Apply() wrote other bytes than sgdisk:\n%s", strings.Join(diff, "\n"))
	}
}

// dataRanges lists the byte ranges of f that are not holes.
func dataRanges(t testing.TB, f *os.File) [][2]int64 {
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]int64
	for off := int64(0); off < fi.Size(); {
		d, err := f.Seek(off, 3) // SEEK_DATA
		if err != nil {
			break // no data after off
		}
		h, err := f.Seek(d, 4) // SEEK_HOLE
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]int64{d, h})
		off = h
	}
	return out
}

// pretend asks sgdisk --pretend where the created partitions of c go
// (number -> first, last), as the disks stage does today.
func pretend(t testing.TB, img string, c Change) (map[int][2]uint64, error) {
	args := []string{"--pretend"}
	if c.Zap {
		args = append(args, "--zap-all", "--clear")
	}
	var infos []int
	for _, op := range c.Ops {
		if !op.Delete {
			infos = append(infos, op.Number)
		}
	}
	args = append(args, sgdiskOps(c.Ops)...)
	for _, n := range infos {
		args = append(args, "--info="+strconv.Itoa(n))
	}
	out, err := exec.Command("sgdisk", append(args, img)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("sgdisk --pretend: %v: %s", err, out)
	}
	res := map[int][2]uint64{}
	i := -1
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		v, _, _ = strings.Cut(v, " ")
		switch k {
		case "Partition GUID code":
			i++
		case "First sector", "Last sector":
			n, _ := strconv.ParseUint(v, 10, 64)
			r := res[infos[i]]
			if k == "First sector" {
				r[0] = n
			} else {
				r[1] = n
			}
			res[infos[i]] = r
		}
	}
	return res, nil
}

type diffCase struct {
	name   string
	size   int64
	before [][]string // sgdisk runs that make the disk's "before"
	c      Change
	fails  bool // both must refuse
}

const mib = 1 << 20

func blankDisk() [][]string { return nil }

// base is the "before" of most cases of stages/disks/partitions_test.go.
func base() [][]string {
	return [][]string{{"-n", "1:2048:+64M", "-c", "1:boot", "-t", "1:" + typeLinux, "-u", "1:" + guidA, "-n", "2:0:+32M", "-c", "2:data"}}
}

func mk(n int, start, size uint64, name string) Op {
	return Op{Number: n, Start: start, Size: size, Name: name, Type: typeLinux}
}

func del(n int) Op { return Op{Delete: true, Number: n} }

// diffCases are the partition-table shapes of stages/disks/partitions_test.go
// and tests/disks (as the operations the stage hands sgdisk: the --pretend
// run with defaults, and the write with exact sectors), plus odd shapes.
func diffCases() []diffCase {
	const M = 2048 // sectors per MiB
	cs := []diffCase{
		{"blank disk, defaults", 256 * mib, blankDisk(), Change{Ops: []Op{mk(1, 0, 10*M, "a"), mk(2, 0, 0, "b")}}, false},
		{"blank disk, exact sectors", 256 * mib, blankDisk(), Change{Ops: []Op{{Number: 1, Start: 2048, End: 22527, Name: "a", Type: typeLinux}, {Number: 2, Start: 22528, End: 524254, Name: "b", Type: typeLinux}}}, false},
		{"start and size given", 256 * mib, blankDisk(), Change{Ops: []Op{{Number: 3, Start: 100 * M, Size: 20 * M, Type: typeSwap}}}, false},
		{"start 0 takes the largest free block", 256 * mib, [][]string{{"-n", "1:2048:+10M", "-n", "2:+100M:+10M"}}, Change{Ops: []Op{mk(3, 0, 5*M, "")}}, false},
		{"next free number", 256 * mib, base(), Change{Ops: []Op{mk(3, 0, 8*M, "new")}}, false},
		{"recreate with another size", 256 * mib, base(), Change{Ops: []Op{del(2), mk(2, 65*M, 40*M, "data")}}, false},
		{"resize grows in place", 256 * mib, base(), Change{Ops: []Op{del(2), {Number: 2, Start: 65 * M, Size: 50 * M, Name: "data", Type: typeLinux}}}, false},
		{"resize to the end of the free block", 256 * mib, base(), Change{Ops: []Op{del(2), {Number: 2, Start: 65 * M, Name: "data", Type: typeLinux}}}, false},
		{"after a resized one", 256 * mib, base(), Change{Ops: []Op{del(2), mk(2, 65*M, 50*M, "data"), mk(3, 0, 0, "after")}}, false},
		{"delete", 256 * mib, base(), Change{Ops: []Op{del(2)}}, false},
		{"wipeTable starts from nothing", 256 * mib, base(), Change{Zap: true, Ops: []Op{mk(1, 0, 100*M, "only")}}, false},
		{"wipeTable with nothing after", 256 * mib, base(), Change{Zap: true}, false},
		{"overlap with a kept partition", 256 * mib, base(), Change{Ops: []Op{mk(3, 60*M, 10*M, "")}}, true},
		{"no room", 256 * mib, base(), Change{Ops: []Op{mk(3, 0, 200*M, "")}}, true},
		{"config order", 256 * mib, blankDisk(), Change{Ops: []Op{mk(2, 0, 32*M, ""), mk(1, 0, 0, "")}}, false},
		{"twins", 256 * mib, [][]string{{"-n", "1:0:+8M", "-c", "1:twin", "-n", "2:0:+8M", "-c", "2:twin"}}, Change{Ops: []Op{mk(3, 0, 0, "x")}}, false},
		{"four partitions, ESP first", 1024 * mib, blankDisk(), Change{Ops: []Op{
			{Number: 1, Size: 16 * M, Name: "EFI-SYSTEM", Type: typeESP}, mk(2, 0, 32*M, "boot"), mk(3, 0, 256*M, "root"), mk(4, 0, 0, "var")}}, false},
		{"gap filled with start 0 size 0", 64 * mib, [][]string{{"-n", "1:2048:+8M", "-n", "2:+16M:+8M"}}, Change{Ops: []Op{mk(3, 0, 0, "gap")}}, false},
		{"start in the largest gap, size 0", 64 * mib, [][]string{{"-n", "1:2048:+8M", "-n", "2:40M:+8M"}}, Change{Ops: []Op{mk(3, 12*M, 0, "mid")}}, false},
		{"start outside the largest gap, size 0", 64 * mib, [][]string{{"-n", "1:2048:+8M", "-n", "2:+16M:+8M"}}, Change{Ops: []Op{mk(3, 12*M, 0, "mid")}}, true},
		{"unaligned start moves down", 64 * mib, blankDisk(), Change{Ops: []Op{mk(1, 3000, 100, "")}}, false},
		{"unaligned start moves up past its end", 64 * mib, [][]string{{"-n", "1:2048:2999"}}, Change{Ops: []Op{mk(2, 3100, 100, "")}}, true},
		{"unaligned start moves up", 64 * mib, [][]string{{"-n", "1:2048:2999"}}, Change{Ops: []Op{mk(2, 3100, 2000, "")}}, false},
		{"unalignable block before the first partition", 64 * mib, [][]string{{"-n", "1:2048:+8M", "-n", "2:0:0"}}, Change{Ops: []Op{mk(3, 0, 0, "")}}, false},
		{"existing table aligned on 2 sectors", 64 * mib, [][]string{{"-a", "2", "-n", "1:34:+1M"}}, Change{Ops: []Op{mk(2, 0, 1000, ""), mk(3, 0, 0, "")}}, false},
		{"existing table aligned on 8 sectors", 64 * mib, [][]string{{"-a", "8", "-n", "1:40:+1M"}}, Change{Ops: []Op{mk(2, 0, 1000, ""), mk(3, 0, 0, "")}}, false},
		{"one-sector partition", 64 * mib, blankDisk(), Change{Ops: []Op{{Number: 1, Start: 2048, End: 2048}}}, false},
		{"full 128-entry table", 256 * mib, blankDisk(), Change{Ops: fullTable()}, false},
		{"number 129 refused", 64 * mib, blankDisk(), Change{Ops: []Op{mk(129, 0, 0, "")}}, true},
		{"names: non-ASCII, 36 units, longer cut", 64 * mib, blankDisk(), Change{Ops: []Op{
			mk(1, 0, M, "données-ü-日本語"), mk(2, 0, M, strings.Repeat("n", 36)), mk(3, 0, M, strings.Repeat("ß", 40)), mk(4, 0, M, "emoji 😀 x")}}, false},
		{"attributes and names of kept partitions stay", 64 * mib, [][]string{{"-n", "1:0:+8M", "-A", "1:set:2", "-A", "1:set:63", "-c", "1:keep"}}, Change{Ops: []Op{mk(2, 0, 0, "")}}, false},
		{"large disk: CHS beyond 1024 cylinders", 10 << 30, blankDisk(), Change{Ops: []Op{mk(1, 0, 0, "")}}, false},
		{"disk beyond 2 TiB: protective size capped", 3 << 40, blankDisk(), Change{Ops: []Op{mk(1, 0, 0, "")}}, false},
	}
	return cs
}

func fullTable() []Op {
	ops := make([]Op, 128)
	for i := range ops {
		ops[i] = mk(i+1, 0, 8, fmt.Sprintf("p%d", i+1))
	}
	return ops
}

func TestSameTableAsSgdisk(t *testing.T) {
	testenv.NeedTools(t, "sgdisk", "cp")
	for i, dc := range diffCases() {
		t.Run(dc.name, func(t *testing.T) {
			t.Parallel()
			img := image(t, dc.size, dc.before...)
			c := withGUIDs(dc.c, int64(i))
			if len(c.Ops) > 0 {
				want, perr := pretend(t, img, c)
				tab, _, gerr := Prepare(openRO(t, img), 512, uint64(dc.size/512), c)
				if (perr == nil) != (gerr == nil) {
					t.Fatalf("Prepare() err = %v; sgdisk --pretend: %v", gerr, perr)
				}
				if gerr == nil {
					for n, w := range want {
						e := tab.Entries[n-1]
						if e.First != w[0] || e.Last != w[1] {
							t.Errorf("Prepare() placed partition %d at %d-%d; sgdisk --pretend %d-%d", n, e.First, e.Last, w[0], w[1])
						}
					}
				}
			}
			mine, sgErr, goErr := bothWays(t, img, c)
			if dc.fails {
				if sgErr == nil || goErr == nil {
					t.Fatalf("Apply() err = %v, sgdisk err = %v; want both to refuse", goErr, sgErr)
				}
				return
			}
			if sgErr != nil || goErr != nil {
				t.Fatalf("Apply() err = %v, sgdisk err = %v; want both to succeed", goErr, sgErr)
			}
			sameBytes(t, img, mine, 512)
		})
	}
}

func openRO(t testing.TB, p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestSameTableAsSgdiskRandom: seeded random sequences of deletes and
// creations (default, aligned, unaligned starts; default, exact, relative
// ends) on a small disk, three changes in a row, both ways: both refuse
// or both write the same bytes.
func TestSameTableAsSgdiskRandom(t *testing.T) {
	testenv.NeedTools(t, "sgdisk", "cp")
	for seed := int64(1); seed <= 24; seed++ {
		t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewSource(seed))
			const sectors = 32 * mib / 512
			img := image(t, 32*mib)
			used := map[int]bool{}
			written := 0
			defer func() { t.Logf("%d of 3 changes written (the rest refused by both)", written) }()
			for step := 0; step < 3; step++ {
				var c Change
				for k := 0; k < 1+r.Intn(4); k++ {
					n := 1 + r.Intn(6)
					if used[n] && r.Intn(2) == 0 {
						c.Ops = append(c.Ops, del(n))
						used[n] = false
						continue
					}
					if used[n] {
						continue
					}
					op := Op{Number: n}
					switch r.Intn(3) {
					case 1:
						op.Start = uint64(r.Intn(28)+1) * 2048
					case 2:
						op.Start = uint64(34 + r.Intn(sectors-100))
					}
					switch r.Intn(3) {
					case 1:
						op.Size = uint64(1 + r.Intn(8*2048))
					case 2:
						if op.Start != 0 {
							op.End = op.Start + uint64(r.Intn(4*2048))
						}
					}
					c.Ops = append(c.Ops, op)
					used[n] = true
				}
				c = withGUIDs(c, seed*10+int64(step))
				mine, sgErr, goErr := bothWays(t, img, c)
				if (sgErr == nil) != (goErr == nil) {
					t.Fatalf("step %d %+v: Apply() err = %v; sgdisk err = %v", step, c.Ops, goErr, sgErr)
				}
				if sgErr != nil {
					// both refused: the numbers this step took are not used
					tab, err := Read(openRO(t, img), 512, sectors)
					used = map[int]bool{}
					if err == nil {
						for i, e := range tab.Entries {
							used[i+1] = e.Used()
						}
					}
					continue
				}
				sameBytes(t, img, mine, 512)
				written++
			}
		})
	}
}
