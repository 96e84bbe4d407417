package disks

import (
	"bytes"
	"os"
	"testing"
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
