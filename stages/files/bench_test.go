package files

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/resource"
)

func benchConfig(n int) config.Config {
	var b strings.Builder
	b.WriteString(`{"ignition":{"version":"3.4.0"},"storage":{"files":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"path":"/opt/d%d/file%d","mode":420,"contents":{"source":"data:,content%%20of%%20file%%20%d"}}`, i%100, i, i)
	}
	b.WriteString("]}}")
	res, err := config.Parse([]byte(b.String()))
	if err != nil {
		panic(err)
	}
	return res.Config
}

// BenchmarkFiles5k writes 5,000 small files into a root on tmpfs
// (/dev/shm when present), so the figure is the stage's own cost.
func BenchmarkFiles5k(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	cfg := benchConfig(5000)
	base := os.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root, _ := os.MkdirTemp(base, "bench-root-")
		b.StartTimer()
		if err := Apply(context.Background(), cfg, Options{Root: root, Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(root)
		b.StartTimer()
	}
}
