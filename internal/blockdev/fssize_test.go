package blockdev

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// Each filesystem is made smaller than its image; FSSize must read the
// filesystem's own size, not the image's.
func TestFSSize(t *testing.T) {
	cases := []struct {
		typ  string
		mkfs []string // the image path is appended
		want uint64
	}{
		{"ext4", []string{"mkfs.ext4", "-q", "-F", "-b", "4096", "IMG", "25600"}, 100 << 20},
		{"xfs", []string{"mkfs.xfs", "-q", "-f", "-d", "size=320m", "IMG"}, 320 << 20},
		{"btrfs", []string{"mkfs.btrfs", "-q", "-f", "-b", "150m", "IMG"}, 150 << 20},
		{"swap", []string{"mkswap", "IMG", "102400"}, 100 << 20},
		{"vfat", []string{"mkfs.fat", "-S", "512", "IMG", "51200"}, 50 << 20},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			testenv.NeedTools(t, c.mkfs[0])
			img := filepath.Join(t.TempDir(), "fs.img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 400<<20); err != nil {
				t.Fatal(err)
			}
			args := append([]string(nil), c.mkfs[1:]...)
			for i := range args {
				if args[i] == "IMG" {
					args[i] = img
				}
			}
			if out, err := exec.Command(c.mkfs[0], args...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c.mkfs[0], err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, ok, err := FSSize(f, 0, c.typ)
			// mkfs.fat rounds its size down to whole tracks
			if err != nil || !ok || got > c.want || got+(1<<20) <= c.want || (c.typ != "vfat" && got != c.want) {
				t.Errorf("FSSize(%s) = %d, %v, %v; want %d", c.typ, got, ok, err, c.want)
			}
		})
	}
}
