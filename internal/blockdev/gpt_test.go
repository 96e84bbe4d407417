package blockdev

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// A GPT whose primary header is gone (the first sectors zeroed) but whose
// backup is whole is a damaged table, not no table: sgdisk would bring
// the old partitions back from the backup.
func TestReadTableBackupOnly(t *testing.T) {
	testenv.NeedTools(t, "sgdisk")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sgdisk", "-n", "1:2048:+4M", img).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	if tb, err := ReadTable(img); err != nil || !tb.GPT || tb.Corrupt || len(tb.Partitions) != 1 {
		t.Fatalf("ReadTable(whole GPT) = GPT %v, corrupt %v, %d partitions, %v; want a GPT with 1 partition", tb.GPT, tb.Corrupt, len(tb.Partitions), err)
	}
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 512), 512); err != nil { // LBA 1: the primary header
		t.Fatal(err)
	}
	f.Close()
	tb, err := ReadTable(img)
	if err != nil || tb.GPT || !tb.Corrupt {
		t.Errorf("ReadTable(backup only) = GPT %v, corrupt %v, %v; want a damaged table", tb.GPT, tb.Corrupt, err)
	}
	if err := os.Truncate(img, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if tb, err := ReadTable(img); err != nil || tb.GPT || tb.Corrupt {
		t.Errorf("ReadTable(blank) = GPT %v, corrupt %v, %v; want no table", tb.GPT, tb.Corrupt, err)
	}
}
