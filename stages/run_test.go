package stages

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/log"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
	"github.com/ignition-go/ignition/stages/disks"
)

// platform is a provider holding a fixed user config.
type platform struct{ cfg string }

func (p platform) Init(ctx context.Context, e *providers.Env) error { return nil }
func (p platform) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if p.cfg == "" {
		return nil, providers.ErrNoConfig
	}
	return []byte(p.cfg), nil
}

type world struct {
	e   *Engine
	out *bytes.Buffer // dry-run output
	log *bytes.Buffer
	run *command.Fake
}

func newWorld(t *testing.T, userConfig, cmdline string) *world {
	t.Helper()
	d := t.TempDir()
	w := &world{out: &bytes.Buffer{}, log: &bytes.Buffer{}, run: &command.Fake{}}
	os.WriteFile(filepath.Join(d, "cmdline"), []byte(cmdline+"\n"), 0o644)
	os.MkdirAll(filepath.Join(d, "root"), 0o755)
	logger := log.New("test", true, w.log)
	t.Cleanup(logger.Close)
	w.e = &Engine{
		Platform: "test", Provider: platform{userConfig}, Log: logger,
		Fetcher:     &resource.Fetcher{Log: logger.Logf},
		Root:        filepath.Join(d, "root"),
		ConfigCache: filepath.Join(d, "run", "ignition.json"), StateFile: filepath.Join(d, "run", "state"),
		NeedNetFile: filepath.Join(d, "run", "neednet"), CmdlinePath: filepath.Join(d, "cmdline"),
		SystemDirs: []string{filepath.Join(d, "sys")},
		Out:        w.out, Runner: w.run, KargsHelper: "/usr/libexec/kargs-helper",
	}
	return w
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestTableOrder(t *testing.T) {
	want := []string{"fetch-offline", "fetch", "kargs", "disks", "mount", "files", "umount"}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v; want %v", got, want)
	}
	if _, ok := Lookup("nope"); ok {
		t.Errorf("Lookup(nope) found a stage")
	}
	w := newWorld(t, "", "")
	if err := w.e.Run(context.Background(), "nope"); err == nil {
		t.Errorf("Run(nope) = nil; want an error")
	}
}

func TestKargsGoesThroughTheRunner(t *testing.T) {
	cfg := `{"ignition":{"version":"3.6.0"},"kernelArguments":{"shouldExist":["quiet"],"shouldNotExist":["debug"]}}`
	w := newWorld(t, cfg, "")
	ctx := context.Background()
	if err := w.e.Run(ctx, "fetch-offline"); err != nil {
		t.Fatalf("fetch-offline: %v", err)
	}
	w.e.DryRun = true
	if err := w.e.Run(ctx, "kargs"); err != nil {
		t.Fatalf("kargs -dry-run: %v", err)
	}
	if len(w.run.Ran) != 0 {
		t.Errorf("dry run ran %v", w.run.Lines())
	}
	if !strings.Contains(w.out.String(), "kargs: would run /usr/libexec/kargs-helper --should-exist quiet --should-not-exist debug") {
		t.Errorf("dry run printed %q", w.out.String())
	}
	w.e.DryRun = false
	if err := w.e.Run(ctx, "kargs"); err != nil {
		t.Fatalf("kargs: %v", err)
	}
	if got, want := w.run.Lines(), []string{"/usr/libexec/kargs-helper --should-exist quiet --should-not-exist debug"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ran %q; want %q", got, want)
	}
	w.run.Answer = func(c command.Cmd) (command.Result, error) {
		return command.Result{ExitCode: 3}, &command.Error{Cmd: c.String(), ExitCode: 3, Stderr: "no BLS entry"}
	}
	err := w.e.Run(ctx, "kargs")
	if err == nil || !strings.Contains(err.Error(), "exit status 3: no BLS entry") {
		t.Errorf("kargs with a failing helper = %v; want its exit status and stderr", err)
	}
}

func TestCEXRefusedBeforeTouching(t *testing.T) {
	cfg := `{"ignition":{"version":"3.6.0"},"storage":{"luks":[{"name":"data","device":"/dev/nonexistent","cex":{"enabled":true}}]}}`
	w := newWorld(t, cfg, "")
	ctx := context.Background()
	if err := w.e.Run(ctx, "fetch-offline"); err != nil {
		t.Fatal(err)
	}
	if err := w.e.Run(ctx, "disks"); !errors.Is(err, disks.ErrNotSupported) {
		t.Errorf("Run(disks) = %v; want a refusal", err)
	}
	// the files stage needs what the disks stage records of the volume
	if err := w.e.Run(ctx, "files"); err == nil || !strings.Contains(err.Error(), "run the disks stage first") {
		t.Errorf("Run(files) = %v; want it to ask for the disks stage", err)
	}
	if len(w.run.Ran) != 0 {
		t.Errorf("a refused stage ran %v", w.run.Lines())
	}
}

func TestFetchOfflineCachesAndFlagsTheNetwork(t *testing.T) {
	cfg := `{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/etc/x","contents":{"source":"https://127.0.0.1:1/x"}}]}}`
	w := newWorld(t, cfg, "")
	ctx := context.Background()
	w.e.DryRun = true
	if err := w.e.Run(ctx, "fetch-offline"); err != nil {
		t.Fatal(err)
	}
	if exists(w.e.ConfigCache) || exists(w.e.NeedNetFile) {
		t.Errorf("dry run wrote the cache or the neednet flag")
	}
	if out := w.out.String(); !strings.Contains(out, "would cache the config") || !strings.Contains(out, "(the network is needed)") {
		t.Errorf("dry run printed %q", out)
	}
	w.e.DryRun = false
	if err := w.e.Run(ctx, "fetch-offline"); err != nil {
		t.Fatal(err)
	}
	if !exists(w.e.ConfigCache) || !exists(w.e.NeedNetFile) {
		t.Errorf("fetch-offline: cache written %v, neednet written %v; want both", exists(w.e.ConfigCache), exists(w.e.NeedNetFile))
	}
	if fi, err := os.Stat(w.e.ConfigCache); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("cache mode %v; want 0600 (it may hold secrets)", fi.Mode().Perm())
	}
}

// A config whose merged child is valid alone but clashes with it once
// merged is refused by the fetch stage, and nothing is cached.
func TestInvalidMergedConfigIsNotCached(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/opt/link/x"}]}}`))
	}))
	defer srv.Close()
	cfg := `{"ignition":{"version":"3.6.0","config":{"merge":[{"source":"` + srv.URL + `/child.ign"}]}},"storage":{"links":[{"path":"/opt/link","target":"/srv"}]}}`
	w := newWorld(t, cfg, "")
	err := w.e.Run(context.Background(), "fetch")
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("fetch = %v; want ErrInvalidConfig", err)
	}
	if exists(w.e.ConfigCache) {
		t.Errorf("the invalid merged config was cached")
	}
	if !strings.Contains(w.log.String(), "link in config") {
		t.Errorf("the log does not say what clashes:\n%s", w.log.String())
	}
}

// The later stages read back the cache the fetch stage wrote; a cache in
// another shape is parsed and validated in full.
func TestLoadConfig(t *testing.T) {
	w := newWorld(t, `{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"/etc/motd","contents":{"source":"data:,hi"}}]}}`, "")
	if err := w.e.Run(context.Background(), "fetch-offline"); err != nil {
		t.Fatal(err)
	}
	cfg, err := w.e.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Storage.Files) != 1 || cfg.Storage.Files[0].Path != "/etc/motd" || cfg.Ignition.Version != config.Newest.String() {
		t.Errorf("LoadConfig() = %+v; want the cached config in the newest spec", cfg)
	}
	os.WriteFile(w.e.ConfigCache, []byte(`{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"relative"}]}}`), 0o600)
	if _, err := w.e.LoadConfig(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("LoadConfig() of a foreign invalid cache = %v; want ErrInvalidConfig", err)
	}
}

// -dry-run of the files stage prints the plan, writes nothing and shows
// no secret.
func TestFilesDryRun(t *testing.T) {
	cfg := `{"ignition":{"version":"3.6.0"},"passwd":{"users":[{"name":"core","passwordHash":"$6$HASHSECRET"}]},
	  "storage":{"files":[{"path":"/etc/a\nCRITICAL forged","contents":{"source":"https://alice:PWSECRET@example.com/x?sig=QSECRET","httpHeaders":[{"name":"Authorization","value":"HDRSECRET"}]}}]}}`
	w := newWorld(t, cfg, "")
	ctx := context.Background()
	if err := w.e.Run(ctx, "fetch-offline"); err != nil {
		t.Fatal(err)
	}
	w.e.DryRun = true
	if err := w.e.Run(ctx, "files"); err != nil {
		t.Fatal(err)
	}
	out := w.out.String()
	for _, s := range []string{"HASHSECRET", "PWSECRET", "QSECRET", "HDRSECRET", "alice"} {
		if strings.Contains(out+w.log.String(), s) {
			t.Errorf("dry run shows %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, `files: file "/etc/a\nCRITICAL forged"`) || !strings.Contains(out, "would write /etc/.ignition-result.json") {
		t.Errorf("dry run printed:\n%s", out)
	}
	if entries, _ := os.ReadDir(w.e.Root); len(entries) > 0 {
		t.Errorf("dry run wrote into the root: %v", entries)
	}
	if len(w.run.Ran) != 0 {
		t.Errorf("dry run ran %v", w.run.Lines())
	}
}
