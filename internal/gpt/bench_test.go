package gpt

import (
	"os"
	"os/exec"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// fourParts is the table of the disks stage's benchmark disk: ESP, boot,
// root, var on 1 GiB.
func fourParts() Change {
	return withGUIDs(Change{Zap: true, Ops: []Op{
		{Number: 1, Size: 16 * 2048, Name: "EFI-SYSTEM", Type: typeESP},
		mk(2, 0, 32*2048, "boot"), mk(3, 0, 256*2048, "root"), mk(4, 0, 0, "var")}}, 1)
}

// BenchmarkApply4Partitions: zap and write a 4-partition table on a
// 1 GiB image with Apply, fsync included.
func BenchmarkApply4Partitions(b *testing.B) {
	img := image(b, 1<<30)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c := fourParts()
	for b.Loop() {
		if _, err := Apply(f, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSgdisk4Partitions: the same with sgdisk as the stage runs it
// today (--zap-all, then one run with the operations).
func BenchmarkSgdisk4Partitions(b *testing.B) {
	testenv.NeedTools(b, "sgdisk")
	img := image(b, 1<<30)
	c := fourParts()
	args := append([]string{"--disk-guid=" + c.DiskGUID}, sgdiskOps(c.Ops)...)
	for b.Loop() {
		if out, err := exec.Command("sgdisk", "--zap-all", img).CombinedOutput(); err != nil {
			b.Fatalf("sgdisk --zap-all: %v: %s", err, out)
		}
		if out, err := exec.Command("sgdisk", append(args, img)...).CombinedOutput(); err != nil {
			b.Fatalf("sgdisk: %v: %s", err, out)
		}
	}
}
