package platforms

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const remoteFileConfig = `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/motd","contents":{"source":"https://example.com/motd"}}]}}`

// The file platform, offline: the config is cached, and because a file's
// contents are remote, the neednet flag asks for the network.
func TestFetchOfflineNeedsNetForRemoteContents(t *testing.T) {
	m := newMachine(t)
	m.write(m.conf, remoteFileConfig)
	r := m.run("file", "fetch-offline")
	if r.code != 0 {
		t.Fatalf("fetch-offline exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	c, ok := m.cache()
	if !ok || strings.Join(files(c), ",") != "/etc/motd" {
		t.Fatalf("cache = %v, %v; want the config with /etc/motd", c, ok)
	}
	if st, _ := os.Stat(filepath.Join(m.state, "ignition.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("cache mode = %v; want 0600", st.Mode().Perm())
	}
	if !m.exists("neednet") {
		t.Errorf("no neednet flag; the files' contents need the network")
	}
}

// ignition.config.url: fetch-offline says the network is needed and caches
// nothing; fetch gets it (with Ignition's Accept header) and renders its
// merge reference from another server.
func TestKernelCommandLineURL(t *testing.T) {
	child := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"/etc/from-child"}]}}`))
	}))
	defer child.Close()
	var accept atomic.Value
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept.Store(r.Header.Get("Accept"))
		fmt.Fprintf(w, `{"ignition":{"version":"3.4.0","config":{"merge":[{"source":%q}]}},"storage":{"files":[{"path":"/etc/from-parent"}]}}`, child.URL+"/child.ign")
	}))
	defer parent.Close()
	m := newMachine(t)
	m.cmdline("BOOT_IMAGE=/vmlinuz ro ignition.firstboot ignition.platform.id=metal ignition.config.url=" + parent.URL + "/config.ign")

	r := m.run("metal", "fetch-offline")
	if r.code != 0 || !m.exists("neednet") || m.exists("ignition.json") {
		t.Fatalf("fetch-offline: exit %d, neednet %v, cache %v; want 0, flag, no cache\n%s", r.code, m.exists("neednet"), m.exists("ignition.json"), r.out)
	}
	r = m.run("metal", "fetch")
	if r.code != 0 {
		t.Fatalf("fetch exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	c, _ := m.cache()
	if got := strings.Join(files(c), ","); got != "/etc/from-parent,/etc/from-child" {
		t.Errorf("cached files = %s; want the parent's and the merged child's", got)
	}
	if accept.Load() != "application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1" {
		t.Errorf("Accept = %q", accept.Load())
	}
	mustContain(t, "log", r.out, "fetching config from "+parent.URL, "(merging)")
	st, _ := os.ReadFile(filepath.Join(m.state, "state"))
	mustContain(t, "state file", string(st), `"userConfigProvided":true`, child.URL+"/child.ign", `"referenced":true`)
}

// Invalid JSON fails with line and column, writes nothing, and never
// prints the config (it may hold secrets).
func TestInvalidConfigFailsCleanly(t *testing.T) {
	m := newMachine(t)
	m.write(m.conf, "{\n  \"ignition\": {\"version\": \"3.4.0\"},\n  \"passwd\": {\"users\": [{\"name\": \"core\", \"passwordHash\": \"$6$SECRETHASH\"}]},\n  \"storage\": {\"files\": [{\"path\": \"etc/x\"}]}\n}\n")
	r := m.run("file", "fetch-offline")
	if r.code != 1 {
		t.Fatalf("exit %d; want 1", r.code)
	}
	mustContain(t, "log", r.out, "error at $.storage.files.0.path, line 4 col 34: path not absolute")
	if strings.Contains(r.out+r.stderr, "SECRETHASH") {
		t.Errorf("the config's secret was printed:\n%s%s", r.out, r.stderr)
	}
	if m.exists("ignition.json") {
		t.Errorf("a cache was written for an invalid config")
	}
	m.write(m.conf, "{\"ignition\": {\"version\": \"3.4.0\"},,}")
	r = m.run("file", "fetch-offline")
	if r.code != 1 || !strings.Contains(r.out, "line 1 col 35") {
		t.Errorf("syntax error: exit %d; want 1 with line and column\n%s", r.code, r.out)
	}
}

// No user config anywhere: an empty config, and the result file says so.
func TestEmptyConfig(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	m := newMachine(t)
	m.cmdline("ignition.config.url=" + srv.URL + "/empty.ign")
	if r := m.run("metal", "fetch"); r.code != 0 {
		t.Fatalf("fetch exit %d\n%s", r.code, r.out)
	}
	if r := m.run("metal", "files"); r.code != 0 {
		t.Fatalf("files exit %d\n%s", r.code, r.out)
	}
	b, err := os.ReadFile(filepath.Join(m.root, "etc", ".ignition-result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	json.Unmarshal(b, &res)
	if res["userConfigProvided"] != false || res["provisioningDate"] == nil {
		t.Errorf("result = %s; want userConfigProvided false and a date", b)
	}
	if st, _ := os.Stat(filepath.Join(m.root, "etc", ".ignition-result.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("result file mode = %v; want 0600", st.Mode().Perm())
	}
	// a second run records the first
	m.run("metal", "files")
	b, _ = os.ReadFile(filepath.Join(m.root, "etc", ".ignition-result.json"))
	if !strings.Contains(string(b), "previousReport") {
		t.Errorf("second run's result = %s; want the previous report kept", b)
	}
}

// A system user.ign is used when the command line names nothing; base
// configs (base.d, then base.platform.d/<platform>) are merged under the
// user config in every stage: here they add kernel arguments the kargs
// stage hands to the helper.
func TestSystemConfigsAndKargs(t *testing.T) {
	m := newMachine(t)
	m.write(filepath.Join(m.sys, "user.ign"), `{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["user-arg"]}}`)
	m.write(filepath.Join(m.sys, "base.d", "10-base.ign"), `{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["base-arg"],"shouldNotExist":["quiet"]}}`)
	m.write(filepath.Join(m.sys, "base.platform.d", "metal", "20-metal.ign"), `{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["metal-arg"]}}`)
	m.write(filepath.Join(m.sys, "base.platform.d", "aws", "20-aws.ign"), `{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["aws-arg"]}}`)
	if r := m.run("metal", "fetch-offline"); r.code != 0 {
		t.Fatalf("fetch-offline exit %d\n%s", r.code, r.out)
	}
	record := filepath.Join(t.TempDir(), "args")
	helper := filepath.Join(t.TempDir(), "helper")
	m.write(helper, "#!/bin/sh\necho \"$@\" > "+record+"\n")
	os.Chmod(helper, 0o755)
	m.env = append(m.env, "IGNITION_KARGS_HELPER="+helper)
	r := m.run("metal", "kargs")
	if r.code != 0 {
		t.Fatalf("kargs exit %d\n%s", r.code, r.out)
	}
	got, _ := os.ReadFile(record)
	if want := "--should-exist base-arg --should-exist metal-arg --should-exist user-arg --should-not-exist quiet\n"; string(got) != want {
		t.Errorf("helper args = %q; want %q", got, want)
	}
	mustContain(t, "log", r.out, "op(2): [started]  running "+helper)
}

// A server that answers 503 forever fails the fetch at -fetch-timeout,
// naming the URL and the last error.
func TestServerErrorsUntilTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer srv.Close()
	m := newMachine(t)
	m.cmdline("ignition.config.url=" + srv.URL + "/config.ign")
	r := m.run("metal", "fetch", "-fetch-timeout", "3s")
	if r.code != 1 || r.took < 3*time.Second || r.took > 6*time.Second {
		t.Fatalf("fetch: exit %d after %v; want 1 after about 3 s\n%s", r.code, r.took, r.out)
	}
	mustContain(t, "stderr", r.stderr, "fetch failed", srv.URL+"/config.ign", "unable to fetch resource in time", "503")
	mustContain(t, "log", r.out, "retrying in")
}

// The config server is down for 10 s, then comes up: the fetch waits, logs
// its retries, and gets the config.
func TestServerDownThenUp(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	go func() {
		time.Sleep(10 * time.Second)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/late"}]}}`))
		}))
	}()
	m := newMachine(t)
	m.cmdline("ignition.config.url=http://" + addr + "/config.ign")
	r := m.run("metal", "fetch", "-fetch-timeout", "60s")
	if r.code != 0 {
		t.Fatalf("fetch exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	if c, _ := m.cache(); strings.Join(files(c), ",") != "/etc/late" {
		t.Errorf("cache = %v", c)
	}
	mustContain(t, "log", r.out, "connection refused; retrying in")
	t.Logf("config arrived after %v; %d retries logged", r.took.Round(time.Millisecond), strings.Count(r.out, "retrying in"))
}

// A body cut short is fetched again.
func TestTruncatedBodyRetried(t *testing.T) {
	full := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/whole"}]}}`
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(full)))
		if n.Add(1) == 1 {
			w.Write([]byte(full[:20]))
			w.(http.Flusher).Flush()
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		w.Write([]byte(full))
	}))
	defer srv.Close()
	m := newMachine(t)
	m.cmdline("ignition.config.url=" + srv.URL + "/config.ign")
	r := m.run("metal", "fetch")
	if c, _ := m.cache(); r.code != 0 || strings.Join(files(c), ",") != "/etc/whole" {
		t.Fatalf("fetch exit %d, cache %v\n%s", r.code, c, r.out)
	}
	mustContain(t, "log", r.out, "broke off after 20 bytes")
}

// -dry-run fetches and validates, prints the plan, and writes nothing.
func TestDryRun(t *testing.T) {
	m := newMachine(t)
	m.write(m.conf, remoteFileConfig)
	r := m.run("file", "fetch-offline", "-dry-run")
	if r.code != 0 || m.exists("ignition.json") || m.exists("neednet") {
		t.Fatalf("dry run: exit %d, wrote cache %v, neednet %v\n%s", r.code, m.exists("ignition.json"), m.exists("neednet"), r.out)
	}
	mustContain(t, "plan", r.out, "would cache the config", `file "/etc/motd"`, "would write "+filepath.Join(m.state, "neednet"))
}

// Stages this build cannot carry out yet fail before touching anything.
func TestUnsupportedStageWorkFailsClosed(t *testing.T) {
	m := newMachine(t)
	// IBM CEX keys are refused in the plan, before any device is looked at
	// (the device named here does not exist)
	m.write(m.conf, `{"ignition":{"version":"3.5.0"},"storage":{"luks":[{"name":"data","device":"/dev/nonexistent-a","cex":{"enabled":true}}]}}`)
	m.run("file", "fetch-offline")
	r := m.run("file", "disks")
	if r.code != 1 || !strings.Contains(r.stderr, "not supported by this build yet") {
		t.Fatalf("disks exit %d: %s", r.code, r.stderr)
	}
	// a device that is not a block device fails the plan at once
	m.write(m.conf, `{"ignition":{"version":"3.4.0"},"storage":{"disks":[{"device":"/dev/null","wipeTable":true}]}}`)
	m.run("file", "fetch-offline")
	r = m.run("file", "disks")
	if r.code != 1 || !strings.Contains(r.stderr, "/dev/null is not a block device") {
		t.Fatalf("disks on /dev/null: exit %d: %s", r.code, r.stderr)
	}
}

func TestUsage(t *testing.T) {
	m := newMachine(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"-stage", "fetch"}, 2},
		{[]string{"-platform", "nowhere", "-stage", "fetch"}, 2},
		{[]string{"--platform", "metal", "--stage", "bogus"}, 2},
	} {
		cmd := execIgnition(c.args...)
		cmd.Env = append(os.Environ(), m.env...)
		err := cmd.Run()
		code := 0
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			code = ee.ExitCode()
		}
		if code != c.code {
			t.Errorf("ignition %v: exit %d; want %d", c.args, code, c.code)
		}
	}
}

// The files stage's -dry-run prints the plan (nodes, users, units, presets)
// and writes nothing.
func TestFilesDryRun(t *testing.T) {
	m := newMachine(t)
	m.write(m.conf, `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","passwordHash":"$6$SECRET"}]},
	  "storage":{"files":[{"path":"/etc/motd","mode":420,"contents":{"source":"data:,hi"}}],"links":[{"path":"/etc/l","target":"/etc/motd"}]},
	  "systemd":{"units":[{"name":"a.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"}]}}`)
	m.run("file", "fetch-offline")
	r := m.run("file", "files", "-dry-run")
	if r.code != 0 {
		t.Fatalf("files -dry-run: exit %d\n%s", r.code, r.out)
	}
	mustContain(t, "plan", r.out, `files: user "core", a password hash`, `files: file "/etc/motd" mode 0644 from a data URL`, `files: symlink "/etc/l" -> "/etc/motd"`,
		`files: unit "a.service": written`, `files: preset "enable a.service"`, "would write /etc/.ignition-result.json")
	if strings.Contains(r.out, "SECRET") {
		t.Errorf("the plan shows the password hash")
	}
	if entries, _ := os.ReadDir(m.root); len(entries) > 0 {
		t.Errorf("the dry run wrote into the root: %v", entries)
	}
}
