package qemu

// LUKS2 volumes bound with clevis to a tang server, in a guest: Debian's
// tangd runs on the host (one process per connection, as systemd's socket
// activation runs it) behind a listener on the loopback, and the guest
// reaches it through QEMU's user network at a fixed address. The guest
// runs Debian's clevis (bash scripts, jose, curl, cryptsetup) copied from
// the host.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
)

const (
	tangd       = "/usr/libexec/tangd"
	tangdKeygen = "/usr/libexec/tangd-keygen"
	// tangAddr is where the guest finds the tang server (a guestfwd).
	tangAddr = "10.0.2.100"
)

// clevisBins are the programs clevis luks bind, unlock and list run (found
// by tracing their execve calls on the host), and the interpreter of the
// scripts among them.
var clevisBins = []string{
	"bash", "clevis", "clevis-luks-bind", "clevis-luks-unlock", "clevis-luks-list", "clevis-luks-common-functions",
	"clevis-encrypt-sss", "clevis-encrypt-tang", "clevis-decrypt", "clevis-decrypt-sss", "clevis-decrypt-tang",
	"jose", "curl", "pwmake", "cryptsetup",
	"cat", "basename", "grep", "mkdir", "mktemp", "rm", "sed", "sort", "tail", "head", "cut", "tr",
}

// clevisFiles are the data files clevis luks bind needs besides programs:
// pwmake (the new LUKS passphrase) checks its passwords against
// cracklib's dictionary, and against the user's passwd entry (without
// one it fails with "required entropy too low"; clevisPasswd).
var clevisFiles = []string{
	"/etc/security/pwquality.conf",
	"/var/cache/cracklib/cracklib_dict.hwm", "/var/cache/cracklib/cracklib_dict.pwd", "/var/cache/cracklib/cracklib_dict.pwi",
}

const clevisPasswd = "root:x:0:0:root:/root:/bin/sh\n"

// hostFiles reads host files for a guest's files, at the same paths.
func hostFiles(t *testing.T, files map[string]string, paths ...string) map[string]string {
	t.Helper()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			testenv.Skip(t, "%v (make test-deps installs clevis and its dependencies)", err)
		}
		files[strings.TrimPrefix(p, "/")] = string(b)
	}
	return files
}

// tangServer is Debian's tangd with keys of its own, on 127.0.0.1.
type tangServer struct {
	addr       string
	db         string
	thumbprint string // of the signing key (jose jwk thp)
	adv        string // the signed advertisement, as GET /adv returns it

	mu  sync.Mutex
	log bytes.Buffer // tangd's stderr: one line per request
}

// startTang makes keys with tangd-keygen in a temp dir and serves them:
// each connection gets a tangd process with the socket as its stdin and
// stdout, as systemd's tangd.socket (Accept=true) gives it. Cleanup closes
// the listener and waits for every tangd.
func startTang(t *testing.T) *tangServer {
	t.Helper()
	for _, p := range []string{tangd, tangdKeygen} {
		if _, err := os.Stat(p); err != nil {
			testenv.Skip(t, "%s is missing: the tang package is not installed (make test-deps installs it)", p)
		}
	}
	s := &tangServer{db: t.TempDir()}
	if out, err := exec.Command(tangdKeygen, s.db).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tangdKeygen, s.db, err, out)
	}
	keys, _ := filepath.Glob(filepath.Join(s.db, "*.jwk"))
	for _, k := range keys {
		b, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		var jwk struct {
			KeyOps []string `json:"key_ops"`
		}
		if err := json.Unmarshal(b, &jwk); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, op := range jwk.KeyOps {
			if op == "sign" {
				out, err := exec.Command("jose", "jwk", "thp", "-i", k).Output()
				if err != nil {
					t.Fatalf("jose jwk thp -i %s: %v", k, err)
				}
				s.thumbprint = strings.TrimSpace(string(out))
			}
		}
	}
	if s.thumbprint == "" {
		t.Fatalf("tangd-keygen made no signing key in %s: %v", s.db, keys)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				f, err := c.(*net.TCPConn).File()
				if err != nil {
					return
				}
				defer f.Close()
				cmd := exec.Command(tangd, s.db)
				var stderr bytes.Buffer
				cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, &stderr
				cmd.WaitDelay = 5 * time.Second
				done := make(chan struct{})
				go func() {
					select {
					case <-done:
					case <-time.After(30 * time.Second):
						if cmd.Process != nil {
							cmd.Process.Kill() // by pid: a tangd that hangs
						}
					}
				}()
				err = cmd.Run()
				close(done)
				s.mu.Lock()
				s.log.Write(stderr.Bytes())
				if err != nil {
					fmt.Fprintf(&s.log, "tangd: %v\n", err)
				}
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	// the advertisement, from tangd itself rather than through the
	// listener, so that the log holds only the guest's requests
	adv := exec.Command(tangd, s.db)
	adv.Stdin = strings.NewReader("GET /adv HTTP/1.1\r\nHost: localhost\r\n\r\n")
	out, err := adv.Output()
	_, body, ok := strings.Cut(string(out), "\r\n\r\n")
	if err != nil || !ok || !strings.HasPrefix(string(out), "HTTP/1.1 200") || !json.Valid([]byte(body)) {
		t.Fatalf("GET /adv from tangd: %v: %.300q", err, out)
	}
	s.adv = body
	return s
}

// requests returns tangd's log lines since the last call.
func (s *tangServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.log.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	s.log.Reset()
	return out
}

// clevisPolicy reads a clevis LUKS2 token (cryptsetup token export): the
// pin of its JWE's protected header and, for sss, the URL of the tang
// pin in its first share.
func clevisPolicy(token string) (pin, tangURL string, err error) {
	var tok struct {
		Type string `json:"type"`
		JWE  struct {
			Protected string `json:"protected"`
		} `json:"jwe"`
	}
	if err := json.Unmarshal([]byte(token), &tok); err != nil {
		return "", "", err
	}
	if tok.Type != "clevis" {
		return "", "", fmt.Errorf("token type %q", tok.Type)
	}
	type header struct {
		Clevis struct {
			Pin string `json:"pin"`
			SSS struct {
				JWE []string `json:"jwe"`
			} `json:"sss"`
			Tang struct {
				URL string `json:"url"`
			} `json:"tang"`
		} `json:"clevis"`
	}
	decode := func(b64 string) (header, error) {
		var h header
		b, err := base64.RawURLEncoding.DecodeString(b64)
		if err == nil {
			err = json.Unmarshal(b, &h)
		}
		return h, err
	}
	h, err := decode(tok.JWE.Protected)
	if err != nil {
		return "", "", err
	}
	if len(h.Clevis.SSS.JWE) == 0 {
		return h.Clevis.Pin, "", nil
	}
	share, _, _ := strings.Cut(h.Clevis.SSS.JWE[0], ".") // compact JWE: the header first
	sh, err := decode(share)
	if err != nil {
		return "", "", err
	}
	if sh.Clevis.Pin != "tang" {
		return h.Clevis.Pin, "", fmt.Errorf("the first sss share has pin %q", sh.Clevis.Pin)
	}
	return h.Clevis.Pin, sh.Clevis.Tang.URL, nil
}

func countMatching(lines []string, re string) int {
	n := 0
	for _, l := range lines {
		if regexp.MustCompile(re).MatchString(l) {
			n++
		}
	}
	return n
}

// Two LUKS2 volumes on vdb bound to tang. "tangthp" has no key file: the
// disks stage makes a random key, binds clevis (sss over one tang server,
// trusted by the thumbprint of its signing key: clevis fetches the
// advertisement from the server) and removes the random key, so only
// clevis opens it and /etc/crypttab says "none". "tangadv" has a key
// file and the server's advertisement in the config, so the bind needs no
// network; the key file's slot stays in the header, but the target gets
// no copy of it (a key file on the disk would open the volume without
// tang): crypttab says "none" for it too, as Ignition writes it. Both
// lines have _netdev, and the tang URL's password never reaches a
// stage's output. The guest then
// closes each volume and opens it again with clevis luks unlock, which
// asks the tang server; a third config whose thumbprint is not the
// server's fails in the disks stage's plan, before anything is written
// (the partition stays as it was: no LUKS header).
func TestDisksLUKS2Tang(t *testing.T) {
	bins := append(append([]string{"ln"}, diskBins...), clevisBins...)
	needDiskHost(t, append(bins, "socat")...)
	tang := startTang(t)
	spare, target := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "tang", mib: 400}
	disks := []*vdisk{spare, target}
	qargs := makeDisks(t, disks...)
	qargs = append(qargs,
		"-netdev", "user,id=n0,restrict=on,net=10.0.2.0/24,guestfwd=tcp:"+tangAddr+":80-cmd:socat - TCP:"+tang.addr,
		"-device", "virtio-net-pci,netdev=n0")
	const key = "a key file next to the tang binding"
	// a password in the URL (curl sends it, tangd ignores it; clevis
	// keeps the URL as given): it must never reach a stage's output
	url := "http://tanguser:tangsecret7@" + tangAddr
	fast := []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}
	cfg := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"disks": []any{map[string]any{"device": "/dev/vdb", "wipeTable": true, "partitions": []any{
				map[string]any{"number": 1, "label": "tangthp", "sizeMiB": 100},
				map[string]any{"number": 2, "label": "tangadv", "sizeMiB": 100},
				map[string]any{"number": 3, "label": "untrusted", "sizeMiB": 50},
			}}},
			"luks": []any{
				map[string]any{"name": "tangthp", "device": "/dev/vdb1", "options": fast,
					"clevis": map[string]any{"tang": []any{map[string]any{"url": url, "thumbprint": tang.thumbprint}}}},
				map[string]any{"name": "tangadv", "device": "/dev/disk/by-partlabel/tangadv", "options": fast,
					"keyFile": map[string]any{"source": dataURL(key)},
					"clevis":  map[string]any{"tang": []any{map[string]any{"url": url, "thumbprint": tang.thumbprint, "advertisement": tang.adv}}}},
			},
			"filesystems": []any{
				map[string]any{"device": "/dev/mapper/tangthp", "format": "ext4", "label": "tangfs", "path": "/var/tang"},
			},
			"files": []any{file("/var/tang/hello", "on ext4 on luks2 bound to tang")},
		},
	}
	// the third partition, bound to a server by a thumbprint that is not
	// its key's
	bad := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"luks": []any{map[string]any{"name": "untrusted", "device": "/dev/vdb3", "options": fast,
				"clevis": map[string]any{"tang": []any{map[string]any{"url": url, "thumbprint": "Ku8zWWnCpm0bq3MbEB1Me2Wq9PIGY9Ak1dHEgPZVgJ0"}}}}},
		},
	}
	badJSON, _ := json.Marshal(bad)

	var s script
	s.prelude(disks...)
	s.add("@ifup eth0 10.0.2.15/24")
	// bash's process substitution, in clevis-encrypt-tang, needs /dev/fd,
	// which systemd makes at boot and devtmpfs does not
	s.add("ln -s /proc/self/fd /dev/fd")
	run := s.stages("/run/ignition.json", "/run/state")
	dump1, dump2 := s.add("cryptsetup luksDump /dev/vdb1"), s.add("cryptsetup luksDump /dev/vdb2")
	token1, token2 := s.add("cryptsetup token export --token-id 0 /dev/vdb1"), s.add("cryptsetup token export --token-id 0 /dev/vdb2")
	uuid1, uuid2 := s.add("cryptsetup luksUUID /dev/vdb1"), s.add("cryptsetup luksUUID /dev/vdb2")
	crypttab := s.add("@cat /sysroot/etc/crypttab")
	keyFile := s.add("@cat /sysroot/etc/luks/tangadv")
	noKey := s.add("@cat /sysroot/etc/luks/tangthp")
	close1, close2 := s.add("cryptsetup close tangthp"), s.add("cryptsetup close tangadv")
	unlock1, unlock2 := s.add("clevis luks unlock -d /dev/vdb1 -n tangthp"), s.add("clevis luks unlock -d /dev/vdb2 -n tangadv")
	status1, status2 := s.add("cryptsetup status tangthp"), s.add("cryptsetup status tangadv")
	mnt := s.add("@mkdir /mnt/tang", "mount -t ext4 /dev/mapper/tangthp /mnt/tang")
	cat := s.add("@cat /mnt/tang/hello")
	umnt := s.add("umount /mnt/tang")
	s.add("@env IGNITION_CONFIG_FILE=/config-untrusted.ign")
	fetchBad := s.stage("fetch-offline", "/run/ignition2.json", "/run/state2")
	disksBad := s.stage("disks", "/run/ignition2.json", "/run/state2")
	dumpBad := s.add("cryptsetup luksDump /dev/vdb3")

	mods := append([]string{"dm_mod", "dm_crypt", "xts", "aesni_intel", "algif_skcipher", "virtio_net"}, diskMods...)
	r := bootScript(t, guest{mods: mods, hostBins: bins, qemuArgs: qargs,
		files: hostFiles(t, map[string]string{"config-untrusted.ign": string(badJSON), "etc/passwd": clevisPasswd}, clevisFiles...)}, s, disks, cfg)
	reqs := tang.requests()
	t.Logf("tangd served the guest: %q", reqs)

	for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
		out := r.stageOK(run[st])
		if strings.Contains(out, key) {
			t.Errorf("the %s stage logged the key:\n%s", st, out)
		}
		if strings.Contains(out, "tangsecret7") {
			t.Errorf("the %s stage logged the tang URL's password:\n%s", st, out)
		}
	}
	// the disks stage bound both volumes: a clevis token in the header, an
	// sss policy over the tang server
	token := regexp.MustCompile(`(?m)^Tokens:\n\s+\d+: clevis\n\s+Keyslot:\s+(\d+)`)
	for _, v := range []struct {
		dump, token int
		slots       string
	}{{dump1, token1, "the clevis slot only"}, {dump2, token2, "the key file's and clevis's"}} {
		out := r.ok(v.dump)
		m := token.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("%s: no clevis token:\n%s", r.s[v.dump], out)
			continue
		}
		slots := regexp.MustCompile(`(?m)^\s+(\d+): luks2$`).FindAllStringSubmatch(out, -1)
		var have []string
		for _, s := range slots {
			have = append(have, s[1])
		}
		switch {
		case v.dump == dump1 && (len(have) != 1 || have[0] != m[1]):
			t.Errorf("%s: key slots %v; want %s (%s): the random key removed", r.s[v.dump], have, m[1], v.slots)
		case v.dump == dump2 && len(have) != 2:
			t.Errorf("%s: key slots %v; want two (%s)", r.s[v.dump], have, v.slots)
		}
		if pin, tangURL, err := clevisPolicy(r.ok(v.token)); err != nil || pin != "sss" || tangURL != url {
			t.Errorf("%s: clevis pin %q over tang %q (%v); want sss over tang at %s", r.s[v.token], pin, tangURL, err, url)
		}
	}
	// /etc/crypttab as the files stage writes it: no key file and _netdev
	// for both clevis-bound volumes, the one with a key file too
	want := fmt.Sprintf("tangthp UUID=%s none luks,_netdev,x-initrd.attach\ntangadv UUID=%s none luks,_netdev,x-initrd.attach\n",
		strings.TrimSpace(r.ok(uuid1)), strings.TrimSpace(r.ok(uuid2)))
	if got := r.ok(crypttab); strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("/etc/crypttab in the target =\n%s\nwant\n%s", got, want)
	}
	if c := r.get(keyFile); c.rc == 0 {
		t.Errorf("/etc/luks/tangadv exists (%q); want no key file in the target for a volume clevis opens", c.out)
	}
	if c := r.get(noKey); c.rc == 0 {
		t.Errorf("/etc/luks/tangthp exists (%q); want no key file for a volume only clevis opens", c.out)
	}
	// closed, and opened again by clevis through the tang server
	r.ok(close1)
	r.ok(close2)
	r.ok(unlock1)
	r.ok(unlock2)
	for _, i := range []int{status1, status2} {
		if out := r.ok(i); !strings.Contains(out, "is active") {
			t.Errorf("%s after clevis luks unlock:\n%s", r.s[i], out)
		}
	}
	r.ok(mnt)
	if got := strings.TrimSpace(r.ok(cat)); got != "on ext4 on luks2 bound to tang" {
		t.Errorf("/mnt/tang/hello = %q; want the file the files stage wrote", got)
	}
	r.ok(umnt)
	// the untrusted server: refused in the plan, before luksFormat
	r.stageOK(fetchBad)
	if c := r.get(disksBad); c.rc == 0 {
		t.Errorf("%s: rc 0 with a thumbprint that is not the server's; want a failure\n%s", c.line, c.out)
	} else if !strings.Contains(c.out, "the server has no signing key with thumbprint Ku8zWWnCpm0bq3MbEB1Me2Wq9PIGY9Ak1dHEgPZVgJ0") {
		t.Errorf("%s: rc %d, but not for the thumbprint:\n%s", c.line, c.rc, c.out)
	}
	if c := r.get(dumpBad); c.rc == 0 {
		t.Errorf("%s: /dev/vdb3 has a LUKS header; want it untouched when the tang server is not trusted:\n%s", r.s[dumpBad], c.out)
	}
	// what the guest asked tang: the advertisement by thumbprint once for
	// each plan that binds without one in the config (tangthp, served, and
	// the untrusted one, 404); clevis binds with what the plan checked and
	// asks nothing; a recovery for each unlock
	if n := countMatching(reqs, `GET /adv/`+regexp.QuoteMeta(tang.thumbprint)+` => 200`); n != 1 {
		t.Errorf("tangd served the advertisement %d times; want once (the plan's, for tangthp)", n)
	}
	if n := countMatching(reqs, `GET /adv`); n != 2 {
		t.Errorf("tangd was asked for %d advertisements; want 2 (tangthp's and the untrusted one's plans)", n)
	}
	if n := countMatching(reqs, `POST /rec/\S+ => 200`); n != 2 {
		t.Errorf("tangd served %d key recoveries; want 2 (one per clevis luks unlock)", n)
	}
}
