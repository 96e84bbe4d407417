package platforms

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// Two public keys for the fakes (the AWS emulator serves its own).
const (
	keyAlice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a alice@laptop"
	keyBob   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2x9nK1d0fQ2m8s7qz4wXo3YkPp5lRt8a1e6Vb2cH9d bob@laptop"
)

// logFragment shows the fragment line of a run's log (keys by fingerprint).
func logFragment(t *testing.T, out string) {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "platform fragment from"); i >= 0 {
			t.Log(l[i:])
		} else if i := strings.Index(l, "[finished] reading the host name"); i >= 0 {
			t.Log(l[i:])
		}
	}
}

// fragmentOf reads, from a cached config, each user's keys and the
// /etc/hostname source.
func fragmentOf(c map[string]any) (users map[string][]string, hostname string) {
	users = map[string][]string{}
	pw, _ := c["passwd"].(map[string]any)
	us, _ := pw["users"].([]any)
	for _, u := range us {
		m := u.(map[string]any)
		var keys []string
		ks, _ := m["sshAuthorizedKeys"].([]any)
		for _, k := range ks {
			keys = append(keys, k.(string))
		}
		users[m["name"].(string)] = keys
	}
	st, _ := c["storage"].(map[string]any)
	fs, _ := st["files"].([]any)
	for _, f := range fs {
		m := f.(map[string]any)
		if m["path"] == "/etc/hostname" {
			ct, _ := m["contents"].(map[string]any)
			hostname, _ = ct["source"].(string)
		}
	}
	return users, hostname
}

// A VM made with only a name and a key gets its user, keys and host name
// with no user config; a user config wins on what it sets; the distro can
// turn the fragment off; keys are logged by fingerprint only.
func TestPlatformFragment(t *testing.T) {
	testnet.EC2MockBinary(t)
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	t.Run("aws: no user config", func(t *testing.T) {
		testnet.StartEC2Mock(t, []byte(""), "")
		m := newMachine(t)
		r := m.run("aws", "fetch")
		c, ok := m.cache()
		if r.code != 0 || !ok {
			t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		users, host := fragmentOf(c)
		// the emulator's key has one base64 character too many (ssh-keygen
		// refuses it too): it is left out, named by a digest
		if len(users) != 0 {
			t.Errorf("cached users = %v; want none (the emulator's key is not a key)", users)
		}
		if host != "data:,ip-172-16-34-43.ec2.internal%0A" {
			t.Errorf("/etc/hostname source = %q; want the instance's local-hostname", host)
		}
		mustContain(t, "log", r.out, "platform fragment from aws:", `left out a key line for "core" (text-SHA256:`, "the key is not base64")
		if strings.Contains(r.out, "AAAAB3NzaC1yc2E") {
			t.Errorf("the log shows a key itself, not its fingerprint:\n%s", r.out)
		}
		logFragment(t, r.out)
		t.Logf("aws: process start to config cached (with the fragment): %v", r.took.Round(time.Millisecond))

		// the files stage puts it in place
		os.MkdirAll(filepath.Join(m.root, "etc"), 0o755)
		m.write(filepath.Join(m.root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
		m.write(filepath.Join(m.root, "etc/group"), "root:x:0:\n")
		m.write(filepath.Join(m.root, "etc/shadow"), "root:*:19000:0:99999:7:::\n")
		m.write(filepath.Join(m.root, "etc/gshadow"), "root:*::\n")
		m.write(filepath.Join(m.root, "etc/hostname"), "localhost\n")
		if r := m.run("aws", "files"); r.code != 0 {
			t.Fatalf("files: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(m.root, "etc/hostname")); string(b) != "ip-172-16-34-43.ec2.internal\n" {
			t.Errorf("/etc/hostname = %q", b)
		}
	})
	t.Run("aws: the user config wins", func(t *testing.T) {
		testnet.StartEC2Mock(t, []byte(`{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["`+keyAlice+`"],"groups":["wheel"]}]},
		  "storage":{"files":[{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,chosen"}}]}}`), "")
		m := newMachine(t)
		if r := m.run("aws", "fetch"); r.code != 0 {
			t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		c, _ := m.cache()
		users, host := fragmentOf(c)
		if len(users["core"]) != 1 || users["core"][0] != keyAlice {
			t.Errorf("core's keys = %v; want only the user config's", users["core"])
		}
		if host != "data:,chosen" {
			t.Errorf("/etc/hostname source = %q; want the user config's", host)
		}
	})
	t.Run("aws: the distro's user and the off switch", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", &fakes.IMDS{Paths: map[string]string{
			"/latest/meta-data/local-hostname":            "ip-10-0-0-8.ec2.internal",
			"/latest/meta-data/public-keys/":              "0=alice",
			"/latest/meta-data/public-keys/0/openssh-key": keyAlice,
		}})
		m := newMachine(t)
		m.write(filepath.Join(m.sys, "platform.conf"), "# image settings\nssh-keys-user=admin\n")
		m.run("aws", "fetch")
		c, _ := m.cache()
		if users, _ := fragmentOf(c); len(users["admin"]) != 1 || len(users) != 1 {
			t.Errorf("users = %v; want the keys for admin", users)
		}
		m = newMachine(t)
		m.write(filepath.Join(m.sys, "platform.conf"), "platform-fragment=off\n")
		r := m.run("aws", "fetch")
		c, _ = m.cache()
		if users, host := fragmentOf(c); len(users) != 0 || host != "" {
			t.Errorf("with the fragment off: users %v, hostname %q; want nothing", users, host)
		}
		mustContain(t, "log", r.out, "platform fragment: off")
	})
}

func TestPlatformFragmentGCEAndAzure(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	t.Run("gcp: user:key entries, project keys blocked", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
			"instance/hostname":                          "vm-1.c.project.internal",
			"instance/attributes/ssh-keys":               "alice:" + keyAlice + "\nnot a key line\n",
			"instance/attributes/block-project-ssh-keys": "TRUE",
			"project/attributes/ssh-keys":                "bob:" + keyBob,
		}})
		m := newMachine(t)
		r := m.run("gcp", "fetch")
		c, ok := m.cache()
		if r.code != 0 || !ok {
			t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		users, host := fragmentOf(c)
		if len(users) != 1 || len(users["alice"]) != 1 || users["alice"][0] != keyAlice {
			t.Errorf("users = %v; want alice's key only (project keys blocked)", users)
		}
		if host != "data:,vm-1.c.project.internal%0A" {
			t.Errorf("hostname source = %q", host)
		}
		mustContain(t, "log", r.out, "ignoring an ssh-keys entry that is not user:key")
		logFragment(t, r.out)
		t.Logf("gcp: process start to config cached (with the fragment): %v", r.took.Round(time.Millisecond))
	})
	t.Run("gcp: nothing published renders nothing", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", &fakes.GCE{})
		m := newMachine(t)
		r := m.run("gcp", "fetch")
		c, _ := m.cache()
		if users, host := fragmentOf(c); r.code != 0 || len(users) != 0 || host != "" {
			t.Errorf("exit %d, users %v, hostname %q; want nothing\n%s", r.code, users, host, r.out)
		}
		mustContain(t, "log", r.out, "publishes no host name or SSH keys")
	})
	t.Run("azure: the admin user", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", &fakes.AzureIMDS{Environment: "AzurePublicCloud", WarmUp: 2,
			UserData:      []byte(`{"ignition":{"version":"3.4.0"}}`),
			AdminUsername: "azureuser", ComputerName: "web-7", PublicKeys: []string{keyBob}})
		m := newMachine(t)
		r := m.run("azure", "fetch")
		c, ok := m.cache()
		if r.code != 0 || !ok {
			t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		users, host := fragmentOf(c)
		if len(users) != 1 || len(users["azureuser"]) != 1 || users["azureuser"][0] != keyBob {
			t.Errorf("users = %v; want azureuser with the VM's key", users)
		}
		if host != "data:,web-7%0A" {
			t.Errorf("hostname source = %q", host)
		}
		logFragment(t, r.out)
		t.Logf("azure: process start to config cached (with the fragment): %v", r.took.Round(time.Millisecond))
	})
}

// The other clouds that publish a host name and keys, each from a small
// server written from the cloud's public metadata docs, at its address.
func TestPlatformFragmentOtherClouds(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254", "100.100.100.200") {
		return
	}
	paths := func(m map[string]string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, ok := m[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(v))
		})
	}
	cases := []struct {
		platform, addr string
		served         map[string]string
		host           string
	}{
		{"digitalocean", "169.254.169.254:80", map[string]string{
			"/metadata/v1/user-data":   "",
			"/metadata/v1/hostname":    "droplet-1",
			"/metadata/v1/public-keys": keyAlice + "\n" + keyBob + "\n",
		}, "droplet-1"},
		{"hetzner", "169.254.169.254:80", map[string]string{
			"/hetzner/v1/userdata":             "",
			"/hetzner/v1/metadata/hostname":    "hz-1",
			"/hetzner/v1/metadata/public-keys": "- " + keyAlice + "\n- \"" + keyBob + "\"\n",
		}, "hz-1"},
		{"exoscale", "169.254.169.254:80", map[string]string{
			"/1.0/user-data":                "",
			"/1.0/meta-data/local-hostname": "exo-1",
			"/1.0/meta-data/public-keys":    keyAlice + "\n" + keyBob,
		}, "exo-1"},
		{"aliyun", "100.100.100.200:80", map[string]string{
			"/latest/user-data":                           "",
			"/latest/meta-data/hostname":                  "ecs-1",
			"/latest/meta-data/public-keys/":              "0/\n1/\n",
			"/latest/meta-data/public-keys/0/openssh-key": keyAlice,
			"/latest/meta-data/public-keys/1/openssh-key": keyBob,
		}, "ecs-1"},
	}
	for _, c := range cases {
		t.Run(c.platform, func(t *testing.T) {
			serveAt(t, c.addr, paths(c.served))
			wantBothKeysForCore(t, c.platform, c.host)
		})
	}
}

// wantBothKeysForCore runs the fetch stage on a platform whose metadata
// names no user and publishes alice's and bob's keys and host.
func wantBothKeysForCore(t *testing.T, platform, host string) {
	t.Helper()
	m := newMachine(t)
	r := m.run(platform, "fetch")
	cached, ok := m.cache()
	if r.code != 0 || !ok {
		t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	users, got := fragmentOf(cached)
	if strings.Join(users["core"], "|") != keyAlice+"|"+keyBob || len(users) != 1 {
		t.Errorf("users = %v; want core with both keys", users)
	}
	if got != "data:,"+host+"%0A" {
		t.Errorf("hostname source = %q; want %s", got, host)
	}
	logFragment(t, r.out)
}

// The clouds that publish one JSON document with the host name and keys.
func TestPlatformFragmentJSONClouds(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	doc := func(path, body, needHeader string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if needHeader != "" && r.Header.Get("Authorization") != needHeader {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			switch r.URL.Path {
			case path:
				w.Write([]byte(body))
			default:
				http.NotFound(w, r) // no user data: an empty config
			}
		})
	}
	both := `"` + keyAlice + `","` + keyBob + `"`
	cases := []struct{ platform, path, body, header, host string }{
		{"vultr", "/v1.json", `{"hostname":"vultr-1","public-keys":[` + both + `]}`, "", "vultr-1"},
		// older Vultr documents: one string of newline-separated keys
		{"vultr", "/v1.json", `{"hostname":"vultr-1","public-keys":"` + keyAlice + `\n` + keyBob + `\n"}`, "", "vultr-1"},
		{"upcloud", "/metadata/v1.json", `{"hostname":"up-1","public_keys":[` + both + `]}`, "", "up-1"},
		{"oraclecloud", "/opc/v2/instance/", `{"hostname":"oci-1","metadata":{"ssh_authorized_keys":"` + keyAlice + `\n` + keyBob + `"}}`, "Bearer Oracle", "oci-1"},
	}
	for _, c := range cases {
		t.Run(c.platform, func(t *testing.T) {
			serveAt(t, "169.254.169.254:80", doc(c.path, c.body, c.header))
			wantBothKeysForCore(t, c.platform, c.host)
		})
	}
}
