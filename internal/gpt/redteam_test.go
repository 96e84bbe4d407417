package gpt

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// Red-team cases: disks whose table is not the one sgdisk makes on a blank
// disk (a grown disk, a damaged copy, another entry count or array place,
// a hybrid MBR, odd sizes, data after the arrays). Each is carried out by
// sgdisk on one image and Apply on a copy; both must refuse, or leave the
// same bytes.

type rtCase struct {
	name   string
	size   int64
	setup  func(t *testing.T, img string) // after the sgdisk "before" runs
	before [][]string
	c      Change
	// goRefuses: Apply refuses where sgdisk writes (fail closed on
	// purpose; see docs/disks.md)
	goRefuses bool
}

func truncateTo(size int64) func(*testing.T, string) {
	return func(t *testing.T, img string) {
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
	}
}

func zeroSector(lbas ...int64) func(*testing.T, string) {
	return func(t *testing.T, img string) {
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		for _, l := range lbas {
			if l < 0 {
				l += fi.Size() / 512
			}
			if _, err := f.WriteAt(make([]byte, 512), l*512); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fsAt writes an ext4-like superblock marker at byte off (data a zap must
// not touch).
func fsAt(off int64) func(*testing.T, string) {
	return func(t *testing.T, img string) {
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 4096)
		for i := range b {
			b[i] = byte(i*7 + 1)
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func rtCases() []rtCase {
	const M = 2048
	return []rtCase{
		{name: "grown disk, new partition to the end", size: 128 * mib, before: base(), setup: truncateTo(256 * mib), c: Change{Ops: []Op{mk(3, 0, 0, "new")}}},
		{name: "grown disk, delete only", size: 128 * mib, before: base(), setup: truncateTo(256 * mib), c: Change{Ops: []Op{del(2)}}},
		{name: "grown disk, zap", size: 128 * mib, before: base(), setup: truncateTo(256 * mib), c: Change{Zap: true}},
		{name: "grown disk, zap and new", size: 128 * mib, before: base(), setup: truncateTo(256 * mib), c: Change{Zap: true, Ops: []Op{mk(1, 0, 0, "all")}}},
		{name: "damaged primary header", size: 128 * mib, before: base(), setup: zeroSector(1), c: Change{Ops: []Op{mk(3, 0, 0, "new")}}},
		{name: "damaged primary array", size: 128 * mib, before: base(), setup: zeroSector(2), c: Change{Ops: []Op{mk(3, 0, 0, "new")}}},
		{name: "damaged backup header", size: 128 * mib, before: base(), setup: zeroSector(-1), c: Change{Ops: []Op{mk(3, 0, 0, "new")}}},
		{name: "damaged primary, zap", size: 128 * mib, before: base(), setup: zeroSector(1), c: Change{Zap: true, Ops: []Op{mk(1, 0, 0, "")}}},
		{name: "64 entries", size: 64 * mib, before: [][]string{{"-S", "64", "-n", "1:0:+8M"}}, c: Change{Ops: []Op{mk(2, 0, 0, "")}}},
		{name: "64 entries, zap", size: 64 * mib, before: [][]string{{"-S", "64", "-n", "1:0:+8M"}}, c: Change{Zap: true, Ops: []Op{mk(1, 0, 0, "")}}},
		{name: "256 entries", size: 64 * mib, before: [][]string{{"-S", "256", "-n", "1:0:+8M"}}, c: Change{Ops: []Op{mk(2, 0, 0, "")}}},
		{name: "array at LBA 10", size: 64 * mib, before: [][]string{{"--move-main-table=10", "-n", "1:0:+8M"}}, c: Change{Ops: []Op{mk(2, 0, 0, "")}}},
		{name: "array at LBA 10, zap", size: 64 * mib, before: [][]string{{"--move-main-table=10", "-n", "1:0:+8M"}}, c: Change{Zap: true, Ops: []Op{mk(1, 0, 0, "")}}},
		{name: "hybrid MBR", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M", "-n", "2:0:+8M", "-h", "1:2"}}, c: Change{Ops: []Op{mk(3, 0, 0, "")}}},
		{name: "hybrid MBR, zap", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M", "-h", "1"}}, c: Change{Zap: true, Ops: []Op{mk(1, 0, 0, "")}}},
		{name: "attributes kept on delete of another", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M", "-A", "1:set:2", "-n", "2:0:+8M"}}, c: Change{Ops: []Op{del(2), mk(2, 0, 0, "")}}},
		{name: "odd size, one sector over a MiB", size: 64*mib + 512, c: Change{Ops: []Op{mk(1, 0, 0, "")}}},
		{name: "odd size, 7 sectors over", size: 128*mib + 7*512, before: base(), c: Change{Ops: []Op{mk(3, 0, 0, "")}}},
		{name: "partition to the last usable sector", size: 64 * mib, before: [][]string{{"-n", "1:2048:0"}}, c: Change{Ops: []Op{del(1), {Number: 1, Start: 2048, End: 131038}}}},
		{name: "past the last usable sector", size: 64 * mib, c: Change{Ops: []Op{{Number: 1, Start: 2048, End: 131039}}}},
		{name: "number gap", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M", "-n", "3:0:+8M"}}, c: Change{Ops: []Op{mk(2, 0, 0, ""), mk(5, 0, 0, "")}}},
		{name: "MBR partitions over a GPT", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M"}}, setup: mbrOver("2048,16384,83\n"), c: Change{Ops: []Op{mk(2, 0, 8*M, "")}}},
		{name: "MBR partitions over a GPT, zap", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M"}}, setup: mbrOver("2048,16384,83\n"), c: Change{Zap: true, Ops: []Op{mk(1, 0, 8*M, "")}}},
		{name: "GPT with sector 0 zeroed", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M"}}, setup: zeroSector(0), c: Change{Ops: []Op{mk(2, 0, 8*M, "")}}},
		{name: "GPT with garbage in sector 0", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M"}}, setup: garbage0, c: Change{Ops: []Op{mk(2, 0, 8*M, "")}}},
		{name: "shrunk disk", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M"}}, setup: truncateTo(48 * mib), c: Change{Ops: []Op{mk(2, 0, 8*M, "")}}, goRefuses: true},
		{name: "shrunk disk, zap", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M"}}, setup: truncateTo(48 * mib), c: Change{Zap: true, Ops: []Op{mk(1, 0, 8*M, "")}}},
		{name: "pure MBR disk, zap", size: 64 * mib, setup: mbrOver("2048,16384,83\n,,7\n"), c: Change{Zap: true, Ops: []Op{mk(1, 0, 8*M, "")}}},
		{name: "protective MBR, both headers gone", size: 64 * mib, before: [][]string{{"-n", "1:0:+8M"}}, setup: zeroSector(1, -1), c: Change{Ops: []Op{mk(1, 0, 8*M, "")}}},
		{name: "zap keeps data at sector 2048", size: 64 * mib, before: [][]string{{"-n", "1:2048:+8M"}}, setup: fsAt(2048 * 512), c: Change{Zap: true, Ops: []Op{{Number: 1, Start: 2048, Size: 8 * M}}}},
		{name: "zap keeps data at sector 34", size: 64 * mib, before: [][]string{{"-a", "1", "-n", "1:34:+8M"}}, setup: fsAt(34 * 512), c: Change{Zap: true, Ops: []Op{{Number: 1, Start: 34, Size: 8 * M}}}},
		{name: "zap keeps data at sector 2048, grown", size: 64 * mib, before: [][]string{{"-n", "1:2048:+8M"}}, setup: func(t *testing.T, img string) { fsAt(2048*512)(t, img); truncateTo(80*mib)(t, img) }, c: Change{Zap: true, Ops: []Op{{Number: 1, Start: 2048, Size: 8 * M}}}},
	}
}

func TestRedTeamSameAsSgdisk(t *testing.T) {
	testenv.NeedTools(t, "sgdisk", "cp")
	for i, rc := range rtCases() {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			img := image(t, rc.size)
			dirty(t, img) // a sector one writes and the other leaves shows
			for _, args := range rc.before {
				sgdisk(t, append(args, img)...)
			}
			if rc.setup != nil {
				rc.setup(t, img)
			}
			c := withGUIDs(rc.c, int64(100+i))
			mine, sgErr, goErr := bothWays(t, img, c)
			if rc.goRefuses {
				if goErr == nil {
					t.Fatalf("Apply() wrote; want a refusal")
				}
				t.Logf("Apply() refuses: %v (sgdisk: %v)", goErr, sgErr)
				return
			}
			if (sgErr == nil) != (goErr == nil) {
				t.Fatalf("Apply() err = %v; sgdisk err = %v", goErr, sgErr)
			}
			if sgErr != nil {
				t.Logf("both refuse: %v", goErr)
				return
			}
			sameBytes(t, img, mine, 512)
		})
	}
}

func TestRedTeamForeignMBR(t *testing.T) {
	testenv.NeedTools(t, "sfdisk")
	img := image(t, 64*mib)
	cmd := exec.Command("sfdisk", "--label", "dos", img)
	cmd.Stdin = stringsReader("2048,16384,83\n,,83\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := make([]byte, 512)
	f.ReadAt(before, 0)
	_, err = Apply(f, Change{Ops: []Op{mk(3, 0, 0, "")}})
	if !errors.Is(err, ErrForeignMBR) {
		t.Fatalf("Apply() err = %v; want ErrForeignMBR", err)
	}
}

func stringsReader(s string) *os.File {
	r, w, _ := os.Pipe()
	go func() { w.WriteString(s); w.Close() }()
	return r
}

// dirty fills the first and last 2 MiB of img with a pattern, so that a
// sector zeroed by one writer and not the other differs (the holes of a
// sparse image read as zero either way).
func dirty(t *testing.T, img string) {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	b := make([]byte, 2*mib)
	for i := range b {
		b[i] = byte(i%251 + 1)
	}
	for _, off := range []int64{0, fi.Size() - int64(len(b))} {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

// syncLog records the writes (by first sector) and syncs in order.
type syncLog struct{ ops []string }

func (l *syncLog) WriteAt(p []byte, off int64) (int, error) {
	l.ops = append(l.ops, "w"+strconv.FormatInt(off/512, 10))
	return len(p), nil
}

func (l *syncLog) Sync() error { l.ops = append(l.ops, "sync"); return nil }

// TestWriteSyncsTheBackupFirst: the new backup reaches the disk before
// any sector of the primary is written, so power lost halfway leaves the
// old primary or the new backup whole (with one sync at the end, the
// kernel could write a new primary header over an old array and leave
// both copies failing their checksums: a damaged table).
func TestWriteSyncsTheBackupFirst(t *testing.T) {
	tab, err := New(512, 131072, GUID{1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Do(Op{Number: 1}); err != nil {
		t.Fatal(err)
	}
	var l syncLog
	if err := tab.Write(&l); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(l.ops, " ")
	if want := "w131039 w131071 sync w2 w1 w0"; got != want {
		t.Errorf("Write() did %q; want %q", got, want)
	}
}

// mbrOver writes MBR partition records over sector 0 of a GPT disk (the
// GPT headers stay): the kernel then reads the MBR's partitions.
func mbrOver(script string) func(*testing.T, string) {
	return func(t *testing.T, img string) {
		cmd := exec.Command("sfdisk", "-q", "--label", "dos", "--wipe", "never", img)
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v: %s", err, out)
		}
	}
}

// garbage0 fills sector 0 with a pattern without the MBR signature.
func garbage0(t *testing.T, img string) {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}
