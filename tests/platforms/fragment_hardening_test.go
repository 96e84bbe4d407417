package platforms

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// What the platform fragment takes from a metadata service that answers
// with something else than the docs say, or far too much (issue 16 point
// 3): never an HTML page as keys, never a host name systemd refuses, never
// an expired GCE key or metadata keys under OS Login, and bounded reads;
// none of it fails the boot.

// keyOnly is a key line without its comment.
func keyOnly(line string) string { return strings.Join(strings.Fields(line)[:2], " ") }

// edKeyLine is a well-formed ed25519 public key line numbered n.
func edKeyLine(n int) string {
	blob := binary.BigEndian.AppendUint32(nil, 11)
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	pk := make([]byte, 32)
	binary.BigEndian.PutUint64(pk[24:], uint64(n)+1)
	blob = append(blob, pk...)
	return fmt.Sprintf("ssh-ed25519 %s k%d", base64.StdEncoding.EncodeToString(blob), n)
}

const htmlPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>502 Bad Gateway</title></head>
<body>
<h1>Bad Gateway</h1>
<p>The proxy server received an invalid response from an upstream server.</p>
<hr><address>nginx</address>
</body>
</html>
`

// serveMap serves fixed bodies by path, 404 otherwise.
func serveMap(m map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := m[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(v))
	})
}

// digitalOcean serves a droplet's user data (none), host name and keys.
func digitalOcean(host, keys string) http.Handler {
	return serveMap(map[string]string{
		"/metadata/v1/user-data":   "",
		"/metadata/v1/hostname":    host,
		"/metadata/v1/public-keys": keys,
	})
}

// fetchOK runs the fetch stage, which must succeed and cache a config.
func fetchOK(t *testing.T, m *machine, platform string) (result, map[string]any) {
	t.Helper()
	r := m.run(platform, "fetch")
	c, ok := m.cache()
	if r.code != 0 || !ok {
		t.Fatalf("fetch: exit %d, cached %v; want 0 and a config\n%s%s", r.code, ok, r.out, r.stderr)
	}
	return r, c
}

func TestFragmentHardening(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	t.Run("an HTML page is not installed as keys", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", digitalOcean("droplet-1", htmlPage))
		m := newMachine(t)
		r, c := fetchOK(t, m, "digitalocean")
		users, host := fragmentOf(c)
		if len(users) != 0 || host != "data:,droplet-1%0A" {
			t.Errorf("users %v, hostname %q; want no user (no key) and the host name", users, host)
		}
		b, _ := os.ReadFile(filepath.Join(m.state, "ignition.json"))
		if bytes.Contains(b, []byte("html")) || bytes.Contains(b, []byte("Gateway")) {
			t.Errorf("the cached config holds the page:\n%s", b)
		}
		mustContain(t, "log", r.out, "left out a key line for \"core\"", "not a known key type", "more key lines that are not OpenSSH public keys")
		if strings.Contains(r.out, "upstream server") {
			t.Errorf("the log shows the page's lines")
		}
		logFragment(t, r.out)
	})
	t.Run("a key whose blob is of another type, or cut, is left out", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", digitalOcean("droplet-1",
			"ssh-rsa "+strings.Fields(keyAlice)[1]+" claims rsa\n"+keyBob[:60]+"\n"+keyAlice+"\n"))
		m := newMachine(t)
		r, c := fetchOK(t, m, "digitalocean")
		if users, _ := fragmentOf(c); strings.Join(users["core"], "|") != keyAlice || len(users) != 1 {
			t.Errorf("users = %v; want core with alice's key only", users)
		}
		mustContain(t, "log", r.out, "not an ssh-rsa key: the blob names another type", "not an ssh-ed25519 key: truncated")
	})
	t.Run("a JSON document that is an HTML page does not fail the boot", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", serveMap(map[string]string{"/v1.json": htmlPage}))
		m := newMachine(t)
		r, c := fetchOK(t, m, "vultr")
		if users, host := fragmentOf(c); len(users) != 0 || host != "" {
			t.Errorf("users %v, hostname %q; want nothing", users, host)
		}
		mustContain(t, "log", r.out, "is not the documented JSON", "publishes no host name or SSH keys")
	})
	t.Run("host names systemd refuses are not written", func(t *testing.T) {
		for _, c := range []struct{ served, want, log string }{
			{"web_01", "", `skipped the host name "web_01"`},
			{"-web", "", `skipped the host name "-web"`},
			{"web-.example.com", "", `skipped the host name "web-.example.com"`},
			{"web-01.example.com", "web-01.example.com", `hostname "web-01.example.com"`},
			{"vm-7.europe-west4-a.c.a-project-with-a-very-long-name-1234.internal", "vm-7",
				`hostname "vm-7" ("vm-7.europe-west4-a.c.a-project-with-a-very-long-name-1234.internal" is longer than 64 characters: its first label "vm-7")`},
		} {
			t.Run(c.served, func(t *testing.T) {
				serveAt(t, "169.254.169.254:80", digitalOcean(c.served, keyAlice))
				m := newMachine(t)
				r, cached := fetchOK(t, m, "digitalocean")
				want := ""
				if c.want != "" {
					want = "data:," + c.want + "%0A"
				}
				if users, host := fragmentOf(cached); host != want || len(users["core"]) != 1 {
					t.Errorf("hostname source %q, users %v; want %q and core's key", host, users, want)
				}
				mustContain(t, "log", r.out, c.log)
			})
		}
	})
	t.Run("120k key lines are read up to the byte budget, keys up to the count", func(t *testing.T) {
		var keys strings.Builder
		for n := range 120_000 {
			keys.WriteString(edKeyLine(n/2) + "\n") // each twice
		}
		serveAt(t, "169.254.169.254:80", digitalOcean("droplet-1", keys.String()))
		m := newMachine(t)
		r, c := fetchOK(t, m, "digitalocean")
		users, _ := fragmentOf(c)
		if len(users["core"]) != 1000 || users["core"][0] != edKeyLine(0) || users["core"][999] != edKeyLine(999) {
			t.Errorf("core has %d keys; want the first 1000 distinct ones", len(users["core"]))
		}
		mustContain(t, "log", r.out, "/metadata/v1/public-keys is longer than the", "; cut there", "more than 1000 keys: left out the last")
		t.Logf("digitalocean, %d MB of key lines served: fetch stage took %v", keys.Len()>>20, r.took.Round(time.Millisecond))
	})
	t.Run("aws: keys from a well-formed listing", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", &fakes.IMDS{Paths: map[string]string{
			"/latest/meta-data/local-hostname":              "ip-10-0-0-7.ec2.internal",
			"/latest/meta-data/public-keys/":                "0=alice\n1=bob",
			"/latest/meta-data/public-keys/0/openssh-key":   keyAlice + "\n",
			"/latest/meta-data/public-keys/1/openssh-key":   keyBob + "\n",
			"/latest/meta-data/public-keys/0/openssh-key/x": "unused",
		}})
		wantBothKeysForCore(t, "aws", "ip-10-0-0-7.ec2.internal")

		// the files stage puts them in place
		m := newMachine(t)
		fetchOK(t, m, "aws")
		m.write(filepath.Join(m.root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
		m.write(filepath.Join(m.root, "etc/group"), "root:x:0:\n")
		m.write(filepath.Join(m.root, "etc/shadow"), "root:*:19000:0:99999:7:::\n")
		m.write(filepath.Join(m.root, "etc/gshadow"), "root:*::\n")
		m.write(filepath.Join(m.root, "etc/hostname"), "localhost\n")
		if r := m.run("aws", "files"); r.code != 0 {
			t.Fatalf("files: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(m.root, "etc/hostname")); string(b) != "ip-10-0-0-7.ec2.internal\n" {
			t.Errorf("/etc/hostname = %q", b)
		}
		if b, _ := os.ReadFile(filepath.Join(m.root, "home/core/.ssh/authorized_keys.d/ignition")); string(b) != keyAlice+"\n"+keyBob+"\n" {
			t.Errorf("core's keys = %q; want alice's and bob's", b)
		}
	})
	t.Run("aws: a 1 MiB listing of one index reads that key once", func(t *testing.T) {
		// just under the byte budget, which leaves room for the key
		imds := &fakes.IMDS{Paths: map[string]string{
			"/latest/meta-data/public-keys/":              strings.Repeat("0/\n", 340_000),
			"/latest/meta-data/public-keys/0/openssh-key": keyAlice,
		}}
		serveAt(t, "169.254.169.254:80", imds)
		m := newMachine(t)
		r, c := fetchOK(t, m, "aws")
		if users, _ := fragmentOf(c); strings.Join(users["core"], "|") != keyAlice {
			t.Errorf("users = %v; want core with alice's key", users)
		}
		if n := imds.Gets(func(p string) bool { return strings.HasSuffix(p, "/openssh-key") }); n != 1 {
			t.Errorf("%d key requests; want 1 (the listing names index 0 only)", n)
		}
		t.Logf("aws, a 1 MiB listing of index 0: %d requests in all, %v", imds.Gets(nil), r.took.Round(time.Millisecond))
	})
	t.Run("aws: a listing of 5000 keys stops at the read budget", func(t *testing.T) {
		var list strings.Builder
		for n := range 5000 {
			fmt.Fprintf(&list, "%d=key-%d\n", n, n)
		}
		imds := &fakes.IMDS{Paths: map[string]string{"/latest/meta-data/public-keys/": list.String()},
			Serve: func(w http.ResponseWriter, p string) bool {
				var n int
				if _, err := fmt.Sscanf(p, "/latest/meta-data/public-keys/%d/openssh-key", &n); err != nil {
					return false
				}
				w.Write([]byte(edKeyLine(n) + "\n"))
				return true
			}}
		serveAt(t, "169.254.169.254:80", imds)
		m := newMachine(t)
		r, c := fetchOK(t, m, "aws")
		keys := imds.Gets(func(p string) bool { return strings.HasSuffix(p, "/openssh-key") })
		fragment := imds.Gets(func(p string) bool {
			return strings.HasPrefix(p, "/latest/meta-data/") && !strings.HasPrefix(p, "/latest/meta-data/placement/")
		})
		if fragment != 1000 {
			t.Errorf("%d metadata reads for the fragment; want the budget of 1000 (host name, listing, keys)", fragment)
		}
		users, _ := fragmentOf(c)
		if len(users["core"]) != keys || keys < 990 {
			t.Errorf("core has %d keys from %d key requests; want one each, nearly 1000", len(users["core"]), keys)
		}
		mustContain(t, "log", r.out, "the read budget (1000 reads, 1048576 bytes) is spent")
		t.Logf("aws, 5000 listed keys: %d key requests, %v", keys, r.took.Round(time.Millisecond))
	})
	t.Run("aws: 600 keys of 1 MB stop at the byte budget", func(t *testing.T) {
		pad := strings.Repeat("# padding padding padding padding padding padding padding padding padding paddi\n", 1_000_000/80)
		var list strings.Builder
		for n := range 600 {
			fmt.Fprintf(&list, "%d=big-%d\n", n, n)
		}
		imds := &fakes.IMDS{Paths: map[string]string{"/latest/meta-data/public-keys/": list.String()},
			Serve: func(w http.ResponseWriter, p string) bool {
				var n int
				if _, err := fmt.Sscanf(p, "/latest/meta-data/public-keys/%d/openssh-key", &n); err != nil {
					return false
				}
				w.Write([]byte(edKeyLine(n) + "\n" + pad))
				return true
			}}
		serveAt(t, "169.254.169.254:80", imds)
		m := newMachine(t)
		r, rss := m.runMeasured("aws", "fetch")
		c, ok := m.cache()
		if r.code != 0 || !ok {
			t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		keys := imds.Gets(func(p string) bool { return strings.HasSuffix(p, "/openssh-key") })
		if keys != 2 {
			t.Errorf("%d key requests; want 2 (the budget is 1 MiB in all)", keys)
		}
		// the first key whole, the second cut after its key line
		if users, _ := fragmentOf(c); strings.Join(users["core"], "|") != edKeyLine(0)+"|"+edKeyLine(1) {
			t.Errorf("users = %v; want core with the first two keys", users)
		}
		mustContain(t, "log", r.out, "/latest/meta-data/public-keys/1/openssh-key is longer than the", "the read budget (1000 reads, 1048576 bytes) is spent")
		t.Logf("aws, 600 keys of 1 MB: %d key requests, peak RSS %d MiB, %v", keys, rss>>10, r.took.Round(time.Millisecond))
	})
}

// GCE: keys whose google-ssh expireOn has passed are left out, and no
// metadata key at all is taken while OS Login is enabled (the instance's
// enable-oslogin over the project's), as Google's guest agent does.
func TestFragmentHardeningGCE(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	alice, bob, carol := keyOnly(keyAlice), keyOnly(keyBob), keyOnly(edKeyLine(7))
	t.Run("expired keys are left out", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
			"instance/hostname": "vm-1.c.project.internal",
			"instance/attributes/ssh-keys": "alice:" + alice + ` google-ssh {"userName":"alice@example.com","expireOn":"2020-06-01T12:00:00+0000"}` + "\n" +
				"bob:" + bob + ` google-ssh {"userName":"bob@example.com","expireOn":"2099-06-01T12:00:00+0000"}` + "\n" +
				"carol:" + carol + " google-ssh\n",
			"project/attributes/ssh-keys": "dave:" + alice + ` google-ssh {"userName":"dave@example.com","expireOn":"2021-01-01T00:00:00Z"}` + "\n" +
				"erin:" + alice + " erin@laptop\n",
		}})
		m := newMachine(t)
		r, c := fetchOK(t, m, "gcp")
		users, _ := fragmentOf(c)
		if len(users) != 2 || len(users["bob"]) != 1 || len(users["erin"]) != 1 {
			t.Errorf("users = %v; want bob (expires 2099) and erin (no expiry) only", users)
		}
		mustContain(t, "log", r.out, `GCE: left out "alice"'s key SHA256:`, "it expired on 2020-06-01T12:00:00Z",
			`GCE: left out "carol"'s key`, "no readable expireOn", `left out "dave"'s key`)
	})
	t.Run("an HTML page as ssh-keys", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
			"instance/hostname":            "vm-3",
			"instance/attributes/ssh-keys": htmlPage + "see: https://example.com/help\n",
		}})
		m := newMachine(t)
		r, c := fetchOK(t, m, "gcp")
		if users, _ := fragmentOf(c); len(users) != 0 {
			t.Errorf("users = %v; want none", users)
		}
		mustContain(t, "log", r.out, "GCE: ignoring 9 ssh-keys entries that are not user:key", `left out a key line for "see"`)
		if n := strings.Count(r.out, "not user:key"); n != 1 {
			t.Errorf("%d warnings about entries that are not user:key; want one for all", n)
		}
	})
	for _, c := range []struct {
		name, instance, project string
		keys                    bool
		log                     string
	}{
		{"OS Login on the project", "", "TRUE", false, "OS Login is enabled (project enable-oslogin)"},
		{"OS Login on the instance, lower case", "true", "", false, "OS Login is enabled (instance enable-oslogin)"},
		{"the instance turns the project's off", "FALSE", "TRUE", true, ""},
		{"the instance turns it on over the project's off", "True", "false", false, "OS Login is enabled (instance enable-oslogin)"},
		{"an unreadable instance value leaves the project's", "yes", "TRUE", false, "OS Login is enabled (project enable-oslogin)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := map[string]string{
				"instance/hostname":            "vm-2",
				"instance/attributes/ssh-keys": "alice:" + keyAlice,
				"project/attributes/ssh-keys":  "bob:" + keyBob,
			}
			if c.instance != "" {
				v["instance/attributes/enable-oslogin"] = c.instance
			}
			if c.project != "" {
				v["project/attributes/enable-oslogin"] = c.project
			}
			serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: v})
			m := newMachine(t)
			r, cached := fetchOK(t, m, "gcp")
			users, host := fragmentOf(cached)
			if host != "data:,vm-2%0A" {
				t.Errorf("hostname source %q; want vm-2 (OS Login concerns keys only)", host)
			}
			if got := len(users) == 2; got != c.keys {
				t.Errorf("users = %v; want metadata keys: %v", users, c.keys)
			}
			if c.log != "" {
				mustContain(t, "log", r.out, c.log)
			}
		})
	}
}
