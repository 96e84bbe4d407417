package disks

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/gpt"
	"github.com/ignition-go/ignition/internal/testenv"
)

// sector0 reads the first 512 bytes of dev.
func sector0(t *testing.T, dev string) []byte {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// A disk with a hybrid MBR (a GPT's 0xEE record beside MBR records for
// old BIOS boot, as sgdisk -h or an isohybrid image makes) keeps it when
// the stage adds a partition, as with sgdisk: the Go writer replaced it
// with a protective MBR, and the BIOS-bootable records were gone.
func TestGPTWriteKeepsAHybridMBR(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	d := dataDisk()
	d.Parts = append(d.Parts, part{Num: 2, Label: "boot", StartMiB: 40, SizeMiB: 8})
	w.build([]disk{d})
	w.cmd("sgdisk", "-h", "1:2", w.subst("$disk0"))
	before := sector0(t, w.subst("$disk0"))
	if before[450] != 0xEE || before[466] != 0x83 || before[482] != 0x83 {
		t.Fatalf("sgdisk -h made no hybrid MBR: % x", before[446:512])
	}
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [
		{"number": 3, "label": "new", "sizeMiB": 8}]}]}`))
	if failed, out, log := w.sequence(nil); failed != "" {
		t.Fatalf("stage %s failed: %s\n%s", failed, out, log)
	}
	if after := sector0(t, w.subst("$disk0")); !bytes.Equal(before, after) {
		t.Errorf("sector 0 changed:\nbefore % x\nafter  % x", before[440:512], after[440:512])
	}
	parts, _, ok := w.readGPT(w.subst("$disk0"))
	if !ok || len(parts) != 3 {
		t.Errorf("table after: %v (ok %v); want partitions 1, 2 and 3", parts, ok)
	}
}

// A disk whose sector 0 holds MBR partitions over an old GPT (an MBR
// tool run on a GPT disk: the kernel reads the MBR's partitions) is
// refused before anything is written, as sgdisk refuses it ("Invalid
// partition data!"); the Go writer made a GPT of it and the MBR's
// partitions were gone.
func TestGPTWriteRefusesMBRPartitionsOverAGPT(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "sfdisk")
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	dev := w.subst("$disk0")
	cmd := exec.Command("sfdisk", "-q", "--label", "dos", "--wipe", "never", "--no-reread", dev)
	cmd.Stdin = strings.NewReader("2048,65536,83\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	before := sector0(t, dev)
	if n := gptUsed(t, dev); n != 1 {
		t.Fatalf("%d GPT partitions after sfdisk; want 1", n)
	}
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "partitions": [
		{"number": 2, "label": "new", "sizeMiB": 8}]}]}`))
	failed, out, _ := w.sequence(nil)
	if failed != "disks" {
		t.Fatalf("failed stage %q; want the disks stage to refuse the disk", failed)
	}
	if !strings.Contains(out, "MBR") {
		t.Errorf("disks stage output does not name the MBR:\n%s", out)
	}
	if after := sector0(t, dev); !bytes.Equal(before, after) {
		t.Errorf("sector 0 changed:\nbefore % x\nafter  % x", before[440:512], after[440:512])
	}
	if n := gptUsed(t, dev); n != 1 {
		t.Errorf("%d GPT partitions after; want partition 1 alone, untouched", n)
	}
}

// gptUsed counts the used entries of dev's GPT (read as gpt.Read does,
// whatever sector 0 holds).
func gptUsed(t *testing.T, dev string) int {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ss, n, err := gpt.Geometry(f)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := gpt.Read(f, ss, n)
	if err != nil {
		t.Fatalf("%s: %v", dev, err)
	}
	used := 0
	for _, e := range tab.Entries {
		if e.Used() {
			used++
		}
	}
	return used
}
