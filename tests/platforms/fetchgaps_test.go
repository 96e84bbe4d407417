package platforms

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testnet"
)

// runMeasured runs a stage like m.run and also returns the child's peak
// resident set size in KiB (from its rusage).
func (m *machine) runMeasured(platform, stage string, extra ...string) (result, int64) {
	m.t.Helper()
	args := append([]string{"-platform", platform, "-stage", stage, "-root", m.root, "-log-to-stdout",
		"-config-cache", filepath.Join(m.state, "ignition.json"), "-state-file", filepath.Join(m.state, "state"),
		"-neednet", filepath.Join(m.state, "neednet")}, extra...)
	cmd := exec.Command(ignitionBin, args...)
	cmd.Env = append(os.Environ(), m.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{out: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		m.t.Fatal(err)
	}
	return r, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// A config server that streams without end: the fetch stage fails at the
// 128 MiB config cap with an error naming the URL and the cap, and the
// process holds about the cap in memory, not whatever the server sends.
func TestEndlessConfigIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 256<<10) // zeros, forever
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	m := newMachine(t)
	m.cmdline("ignition.config.url=" + srv.URL + "/endless")
	r, maxRSS := m.runMeasured("metal", "fetch", "-fetch-timeout", "2m")
	if r.code != 1 {
		t.Fatalf("fetch of an endless config: exit %d; want 1\n%s%s", r.code, r.out, r.stderr)
	}
	mustContain(t, "stderr", r.stderr, srv.URL+"/endless: config is larger than the 128 MiB limit")
	if strings.Contains(r.out, "retrying") {
		t.Errorf("the endless config was fetched again:\n%s", r.out)
	}
	const capMiB, slackMiB = 128, 200
	t.Logf("endless config: failed after %v; peak RSS %d MiB (cap %d MiB)", r.took.Round(time.Millisecond), maxRSS>>10, capMiB)
	if maxRSS > (capMiB+slackMiB)<<10 {
		t.Errorf("peak RSS = %d MiB; want under %d MiB (the cap plus %d MiB)", maxRSS>>10, capMiB+slackMiB, slackMiB)
	}
	if m.exists("ignition.json") {
		t.Errorf("a config was cached")
	}
}

// Failures that would repeat end the fetch at once, well before
// -fetch-timeout, after one attempt: a TFTP "file not found", a redirect
// loop, a certificate from an unknown authority.
func TestFailFastThroughTheBinary(t *testing.T) {
	tftpDir := t.TempDir()
	os.Chmod(tftpDir, 0o755)
	tftpAddr := testnet.StartTFTPD(t, tftpDir)
	var mu sync.Mutex
	requests := map[string]int{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/loop-a":
			http.Redirect(w, r, "/loop-b?token=SECRET", http.StatusFound)
		case "/loop-b":
			http.Redirect(w, r, "/loop-a", http.StatusFound)
		default:
			w.Write([]byte(`{"ignition":{"version":"3.4.0"}}`))
		}
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	cases := []struct {
		name, url string
		want      []string
	}{
		{"tftp file not found", "tftp://" + tftpAddr + "/missing.ign", []string{"tftp://" + tftpAddr + "/missing.ign: resource not found", "code: 1"}},
		{"redirect loop", plain.URL + "/loop-a", []string{plain.URL + "/loop-a: failed to fetch resource", "redirect loop back to " + plain.URL + "/loop-a"}},
		{"unknown certificate authority", tlsSrv.URL + "/c.ign", []string{tlsSrv.URL + "/c.ign: failed to fetch resource", "certificate signed by unknown authority"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			m.cmdline("ignition.config.url=" + c.url)
			r := m.run("metal", "fetch", "-fetch-timeout", "30s")
			if r.code != 1 {
				t.Fatalf("fetch: exit %d; want 1\n%s%s", r.code, r.out, r.stderr)
			}
			mustContain(t, "stderr", r.stderr, c.want...)
			mustContain(t, "log", r.out, "attempt 1: ", "final, no retry")
			if strings.Contains(r.out, "attempt 2") || strings.Contains(r.out, "retrying") {
				t.Errorf("more than one attempt:\n%s", r.out)
			}
			if strings.Contains(r.out+r.stderr, "SECRET") {
				t.Errorf("the redirect's token leaked:\n%s%s", r.out, r.stderr)
			}
			t.Logf("%s: failed after %v (-fetch-timeout 30s)", c.name, r.took.Round(time.Millisecond))
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if requests["/loop-a"] != 1 || requests["/loop-b"] != 1 {
		t.Errorf("redirect loop requests = %v; want each URL once", requests)
	}
}

// Ignition's headers go with every http fetch: the config, a certificate
// authority it names, and a file's contents in the files stage.
func TestIgnitionHeadersThroughTheBinary(t *testing.T) {
	caSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer caSrv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caSrv.Certificate().Raw})
	var mu sync.Mutex
	seen := map[string]http.Header{}
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		switch r.URL.Path {
		case "/config.ign":
			fmt.Fprintf(w, `{"ignition":{"version":"3.4.0","security":{"tls":{"certificateAuthorities":[{"source":%q}]}}},"storage":{"files":[{"path":"/etc/motd","contents":{"source":%q}}]}}`,
				srvURL+"/ca.pem", srvURL+"/motd")
		case "/ca.pem":
			w.Write(caPEM)
		case "/motd":
			w.Write([]byte("hello\n"))
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	m := newMachine(t)
	m.cmdline("ignition.config.url=" + srv.URL + "/config.ign")
	if r := m.run("metal", "fetch"); r.code != 0 {
		t.Fatalf("fetch exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	if r := m.run("metal", "files"); r.code != 0 {
		t.Fatalf("files exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, path := range []string{"/config.ign", "/ca.pem", "/motd"} {
		h, ok := seen[path]
		if !ok {
			t.Errorf("%s was not fetched", path)
			continue
		}
		if v := h.Get("Accept"); v != "application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1" {
			t.Errorf("%s: Accept = %q; want Ignition's", path, v)
		}
		if v := h.Get("Accept-Encoding"); v != "identity" {
			t.Errorf("%s: Accept-Encoding = %q; want identity", path, v)
		}
		if v := h.Get("User-Agent"); v == "" {
			t.Errorf("%s: no User-Agent", path)
		} else {
			t.Logf("%s: User-Agent %s", path, v)
		}
	}
}
