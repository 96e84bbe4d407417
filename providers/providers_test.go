package providers_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/providers"
	_ "github.com/ignition-go/ignition/providers/all"
	"github.com/ignition-go/ignition/resource"
)

// testLog is a providers.Logger that keeps its lines.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(s string)             { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *testLog) Infof(f string, a ...any) { l.add(fmt.Sprintf(f, a...)) }
func (l *testLog) Warnf(f string, a ...any) { l.add("WARN " + fmt.Sprintf(f, a...)) }
func (l *testLog) Op(f string, a ...any) func(error) {
	l.add("start " + fmt.Sprintf(f, a...))
	return func(err error) { l.add(fmt.Sprintf("end %v", err)) }
}

// metadata is a loopback server that every dial of the fetcher reaches,
// whatever address it asks (169.254.169.254 included): nothing leaves the
// machine.
func metadata(t *testing.T, h http.HandlerFunc) *resource.Fetcher {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return &resource.Fetcher{TotalTimeout: 10 * time.Second, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// Providers' Init sets the fetcher's per-scheme options while other
// fetches run on it (run with -race).
func TestInitConcurrentWithFetches(t *testing.T) {
	f := metadata(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Write([]byte("TOKEN"))
		case r.URL.Path == "/latest/meta-data/placement/region":
			w.Write([]byte("eu-west-1"))
		case strings.HasSuffix(r.URL.Path, "/azEnvironment"):
			w.Write([]byte("AzurePublicCloud"))
		default:
			w.Write([]byte("ok"))
		}
	})
	env := &providers.Env{Fetcher: f, Log: &testLog{}}
	var wg sync.WaitGroup
	for _, name := range []string{"aws", "gcp", "azure", "azurestack", "metal", "qemu", "file"} {
		p, ok := providers.Get(name)
		if !ok {
			t.Fatalf("providers.Get(%q) = false", name)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if err := p.Init(context.Background(), env); err != nil {
					t.Errorf("%s Init: %v", name, err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for _, src := range []string{"http://config.example.test/c.ign", "s3://bucket/key", "gs://bucket/obj", "https://a.blob.core.windows.net/c/b"} {
				// the https ones fail against the plain server; only the race matters
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				f.FetchBytes(ctx, src, resource.Options{})
				cancel()
			}
		}()
	}
	wg.Wait()
}

// The metadata services' user data is capped like any config.
func TestUserDataCapped(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.Write([]byte("TOKEN"))
			return
		}
		buf := make([]byte, 256<<10)
		for i := range buf {
			buf[i] = 'A' // base64 too, for Azure
		}
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}
	for _, c := range []struct{ name, limit string }{{"aws", "128 MiB"}, {"gcp", "128 MiB"}, {"azure", "171 MiB"}} {
		t.Run(c.name, func(t *testing.T) {
			f := metadata(t, endless)
			p, _ := providers.Get(c.name)
			_, err := p.Fetch(context.Background(), &providers.Env{Fetcher: f, Log: &testLog{}})
			if !errors.Is(err, resource.ErrTooLarge) || !strings.Contains(err.Error(), "config is larger than the "+c.limit+" limit") {
				t.Errorf("%s Fetch(endless user data) err = %v; want the %s cap", c.name, err, c.limit)
			}
		})
	}
}

// The file platform: Env.ConfigFile, else IGNITION_CONFIG_FILE through
// Env.Getenv (os.Getenv when unset), capped at the config limit.
func TestFileProvider(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.ign"), filepath.Join(dir, "b.ign")
	os.WriteFile(a, []byte("from a"), 0o644)
	os.WriteFile(b, []byte("from b"), 0o644)
	p, _ := providers.Get("file")
	env := func(key string) string {
		if key == "IGNITION_CONFIG_FILE" {
			return b
		}
		return ""
	}
	t.Setenv("IGNITION_CONFIG_FILE", a)
	cases := []struct {
		name string
		e    providers.Env
		want string
	}{
		{"ConfigFile wins", providers.Env{ConfigFile: a, Getenv: env}, "from a"},
		{"Getenv", providers.Env{Getenv: env}, "from b"},
		{"the process environment", providers.Env{}, "from a"},
	}
	for _, c := range cases {
		c.e.Log = &testLog{}
		got, err := p.Fetch(context.Background(), &c.e)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: Fetch = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	huge := filepath.Join(dir, "huge.ign")
	fh, _ := os.Create(huge)
	fh.Truncate(128<<20 + 1) // sparse: one byte over the cap
	fh.Close()
	_, err := p.Fetch(context.Background(), &providers.Env{ConfigFile: huge, Log: &testLog{}})
	if !errors.Is(err, resource.ErrTooLarge) || !strings.Contains(err.Error(), huge+": config is larger than the 128 MiB limit") {
		t.Errorf("Fetch(file one byte over the cap) err = %v; want the cap named", err)
	}
}

// QEMU's fw_cfg entry, from a directory the test makes.
func TestQEMUFwCfg(t *testing.T) {
	p, _ := providers.Get("qemu")
	root := t.TempDir()
	e := &providers.Env{FwCfgDir: root, Log: &testLog{}}
	if _, err := p.Fetch(context.Background(), e); !errors.Is(err, providers.ErrNoConfig) {
		t.Errorf("Fetch(no entry) err = %v; want ErrNoConfig", err)
	}
	entry := filepath.Join(root, "by_name", "opt", "com.coreos", "config")
	os.MkdirAll(entry, 0o755)
	cfg := `{"ignition":{"version":"3.4.0"}}`
	os.WriteFile(filepath.Join(entry, "raw"), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(entry, "size"), []byte(fmt.Sprintln(len(cfg))), 0o644)
	if got, err := p.Fetch(context.Background(), e); err != nil || string(got) != cfg {
		t.Errorf("Fetch = %q, %v; want the config", got, err)
	}
	os.WriteFile(filepath.Join(entry, "size"), []byte(fmt.Sprintln(200<<20)), 0o644)
	if _, err := p.Fetch(context.Background(), e); err == nil || !strings.Contains(err.Error(), "config is larger than the 128 MiB limit") {
		t.Errorf("Fetch(size says 200 MiB) err = %v; want the cap named", err)
	}
	os.Remove(filepath.Join(entry, "size"))
	fh, _ := os.Create(filepath.Join(entry, "raw"))
	fh.Truncate(128<<20 + 1)
	fh.Close()
	if _, err := p.Fetch(context.Background(), e); err == nil || !strings.Contains(err.Error(), "config is larger than the 128 MiB limit") {
		t.Errorf("Fetch(raw one byte over the cap, no size) err = %v; want the cap named", err)
	}
}

// The CD-ROM providers look in Env's directories: here an empty sysfs,
// so no drive, and the wait ends with the context.
func TestCDROMDirs(t *testing.T) {
	p, _ := providers.Get("azurestack")
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "sr0"), 0o755) // a drive whose device node is missing
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: &testLog{}, SysBlockDir: sys, DevDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Fetch(ctx, e); err == nil || !strings.Contains(err.Error(), "no provisioning CD-ROM") {
		t.Errorf("Fetch(no drive) err = %v; want no provisioning CD-ROM", err)
	}
}
