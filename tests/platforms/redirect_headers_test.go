package platforms

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The headers a config sets on a source go with the request wherever the
// server redirects it on the same host: a merged config, a CA bundle and
// a file each sit behind a redirect to a path that answers 400 without
// the header. Across hosts Go's rule holds (as in Ignition, which uses
// Go's client): the config's other headers go along, and Authorization
// and Cookie only to the same domain or a subdomain of it.
func TestConfigHeadersSurviveRedirects(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("over https\n"))
	}))
	defer tlsSrv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})

	var mu sync.Mutex
	seen := map[string]http.Header{}
	var srvURL, otherHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Host+r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		if from, ok := strings.CutSuffix(r.URL.Path, "/moved"); ok {
			http.Redirect(w, r, from+"/here", http.StatusFound)
			return
		}
		if r.URL.Path == "/away/moved-host" {
			// the same server under another host name
			http.Redirect(w, r, "http://"+otherHost+"/away/here", http.StatusFound)
			return
		}
		if r.Header.Get("X-Token") != "s3cret" {
			http.Error(w, "no token", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/merge/here":
			fmt.Fprintf(w, `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/merged","contents":{"source":"data:,merged"}}]}}`)
		case "/ca/here":
			w.Write(caPEM)
		case "/file/here", "/away/here":
			w.Write([]byte("file " + r.URL.Path + "\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	// localhost and 127.0.0.1 are one server but two host names: not a
	// domain or subdomain of each other
	otherHost = strings.Replace(strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1", "localhost", 1)

	hdr := `[{"name":"X-Token","value":"s3cret"}]`
	cfg := fmt.Sprintf(`{"ignition":{"version":"3.4.0",
  "config":{"merge":[{"source":%q,"httpHeaders":%s}]},
  "security":{"tls":{"certificateAuthorities":[{"source":%q,"httpHeaders":%s}]}}},
 "storage":{"files":[
  {"path":"/etc/file","contents":{"source":%q,"httpHeaders":%s}},
  {"path":"/etc/tls","contents":{"source":%q}},
  {"path":"/etc/away","contents":{"source":%q,"httpHeaders":[{"name":"X-Token","value":"s3cret"},{"name":"Authorization","value":"Bearer AUTHSECRET"}]}}]}}`,
		srvURL+"/merge/moved", hdr, srvURL+"/ca/moved", hdr, srvURL+"/file/moved", hdr, tlsSrv.URL+"/x", srvURL+"/away/moved-host")
	m := newMachine(t)
	m.write(m.conf, cfg)
	if r := m.run("file", "fetch"); r.code != 0 {
		t.Fatalf("fetch exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	if r := m.run("file", "files"); r.code != 0 {
		t.Fatalf("files exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	for path, want := range map[string]string{
		"/etc/merged": "merged",
		"/etc/file":   "file /file/here\n",
		"/etc/tls":    "over https\n", // the CA behind the redirect was trusted
		"/etc/away":   "file /away/here\n",
	} {
		got, err := os.ReadFile(filepath.Join(m.root, path))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	away, ok := seen[otherHost+"/away/here"]
	if !ok {
		t.Fatalf("the cross-host redirect was not followed; requests: %v", keys(seen))
	}
	if v := away.Get("Authorization"); v != "" {
		t.Errorf("Authorization went to another host after a redirect: %q", v)
	}
	if first := seen[strings.TrimPrefix(srvURL, "http://")+"/away/moved-host"]; first.Get("Authorization") != "Bearer AUTHSECRET" {
		t.Errorf("the first request lacked the config's Authorization header: %v", first)
	}
}

func keys(m map[string]http.Header) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}
