package configdrive

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// Probe reads labels from real images (genisoimage, mkfs.vfat); the guest
// test mounts them.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	iso, fat := filepath.Join(dir, "a.iso"), filepath.Join(dir, "b.img")
	os.MkdirAll(filepath.Join(dir, "t"), 0o755)
	for _, c := range [][]string{
		{"genisoimage", "-quiet", "-V", "config-2", "-o", iso, filepath.Join(dir, "t")},
		{"truncate", "-s", "8M", fat}, {"mkfs.vfat", "-n", "cidata", fat},
	} {
		testenv.NeedTools(t, c[0])
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", strings.Join(c, " "), err, b)
		}
	}
	for _, c := range []struct{ img, fs, label string }{{iso, "iso9660", "config-2"}, {fat, "vfat", "cidata"}} {
		if fs, l := Probe(c.img); fs != c.fs || l != c.label {
			t.Errorf("Probe(%s) = %q, %q; want %q, %q", c.img, fs, l, c.fs, c.label)
		}
	}
	// a drive that never comes: the wait ends at its bound and says what it waited for
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}, SysBlockDir: dir, DevDir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Find(ctx, e, "config-9")
	if !errors.Is(err, ErrNoDrive) || !strings.Contains(err.Error(), "labelled config-9") {
		t.Errorf("Find(config-9) = %v; want ErrNoDrive naming the label", err)
	}
}
