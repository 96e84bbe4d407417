package platforms

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// Addresses of the platforms reached by name inside the namespace.
const (
	csRouter = "10.41.0.1" // CloudStack's virtual router (DNS name data-server)
	packetIP = "10.41.0.2" // metadata.packet.net
)

// nameserver is the first IPv4 nameserver of /etc/resolv.conf, where the
// test's DNS server listens inside the namespace (the binary resolves as
// on the host).
func nameserver() string {
	b, _ := os.ReadFile("/etc/resolv.conf")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "nameserver" && net.ParseIP(f[1]).To4() != nil {
			return f[1]
		}
	}
	return "127.0.0.1" // Go's default without resolv.conf
}

// servers are the fake metadata services, stopped and started again to
// play a service that is not up yet.
type servers struct {
	t    *testing.T
	list []struct {
		addr string
		h    http.Handler
		tls  *tls.Config
	}
	mu      sync.Mutex
	running []*http.Server
}

func (s *servers) add(addr string, h http.Handler, tc *tls.Config) {
	s.list = append(s.list, struct {
		addr string
		h    http.Handler
		tls  *tls.Config
	}{addr, h, tc})
}

func (s *servers) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.list {
		l, err := net.Listen("tcp", e.addr)
		if err != nil {
			s.t.Errorf("listen %s: %v", e.addr, err)
			continue
		}
		if e.tls != nil {
			l = tls.NewListener(l, e.tls)
		}
		srv := &http.Server{Handler: e.h}
		go srv.Serve(l)
		s.running = append(s.running, srv)
	}
}

func (s *servers) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.running {
		srv.Close()
	}
	s.running = nil
}

// selfSigned makes a CA-signed-by-itself certificate for host, written as
// PEM to dir/ca.pem for SSL_CERT_FILE.
func selfSigned(t *testing.T, dir, host string) (*tls.Config, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ca.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, p
}

func cfgWithFile(path string) []byte {
	return []byte(fmt.Sprintf(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":%q,"contents":{"source":"data:,ok"}}]}}`, path))
}

// Every platform whose config comes from an HTTP metadata service: fakes
// written from each cloud's docs listen at the real addresses (and names,
// through a DNS server at the host's nameserver address, and https with a
// CA given through SSL_CERT_FILE) inside a network namespace; the real
// binary runs there. Config found, no config, a service that is down and
// then answers 503 once (OCI: 429) before the config, and each cloud's quirks.
func TestMetadataPlatforms(t *testing.T) {
	ns := nameserver()
	addrs := []string{"169.254.169.254", "100.100.100.200", "169.254.42.42", csRouter, packetIP}
	if !strings.HasPrefix(ns, "127.") {
		addrs = append(addrs, ns)
	}
	if !testnet.InNetns(t, addrs...) {
		return
	}
	// interfaces with IPv6 for OpenStack's link-local metadata address (a
	// veth pair: the service on one end, reached through either)
	for _, args := range [][]string{
		{"link", "add", "md0", "type", "veth", "peer", "name", "md1"},
		{"link", "set", "md0", "up"}, {"link", "set", "md1", "up"},
		{"addr", "add", "fe80::a9fe:a9fe/64", "dev", "md1", "nodad"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ns, "53"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go (&fakes.DNS{A: map[string]net.IP{"metadata.packet.net": net.ParseIP(packetIP), "data-server": net.ParseIP(csRouter)}}).Serve(pc)
	tlsConf, caFile := selfSigned(t, t.TempDir(), "metadata.packet.net")

	akamai := fakes.NewAkamai()
	os4, os6 := fakes.OpenStack(), fakes.OpenStack()
	packet := fakes.Packet()
	states := &fakes.PacketStates{URL: "https://metadata.packet.net/events"}
	platforms := []struct {
		id string
		ud *fakes.UserData
	}{
		{"akamai", akamai.UserData}, {"aliyun", fakes.Aliyun()}, {"cloudstack", fakes.CloudStack()},
		{"digitalocean", fakes.DigitalOcean()}, {"exoscale", fakes.Exoscale()}, {"hetzner", fakes.Hetzner()},
		{"oraclecloud", fakes.Oracle()}, {"packet", packet}, {"scaleway", fakes.Scaleway()},
		{"upcloud", fakes.UpCloud()}, {"vultr", fakes.Vultr()}, {"openstack", os4}, {"brightbox", os4},
	}
	md := http.NewServeMux()
	byID := map[string]*fakes.UserData{}
	for _, p := range platforms {
		byID[p.id] = p.ud
		switch p.id {
		case "aliyun", "scaleway", "cloudstack", "packet", "brightbox":
		default:
			md.Handle(p.ud.Path, p.ud)
		}
	}
	md.Handle("/v1/token", akamai.TokenHandler())
	pm := http.NewServeMux()
	pm.Handle("/userdata", packet)
	pm.Handle("/", states)
	srv := &servers{t: t}
	srv.add("169.254.169.254:80", md, nil)
	srv.add("100.100.100.200:80", byID["aliyun"], nil)
	srv.add("169.254.42.42:80", byID["scaleway"], nil)
	srv.add(csRouter+":80", byID["cloudstack"], nil)
	srv.add(packetIP+":443", pm, tlsConf)
	srv.add("[fe80::a9fe:a9fe%md1]:80", os6, nil)
	srv.start()
	defer srv.stop()

	newM := func() *machine {
		m := newMachine(t)
		m.env = append(m.env, "SSL_CERT_FILE="+caFile, "IGNITION_KARGS_HELPER=/bin/true")
		return m
	}
	t.Run("config found", func(t *testing.T) {
		for _, p := range platforms {
			p.ud.Set(cfgWithFile("/etc/" + p.id))
			os6.Set(cfgWithFile("/etc/" + p.id)) // OpenStack's IPv6 address serves the same
			m := newM()
			r := m.run(p.id, "fetch", "-fetch-timeout", "30s")
			c, _ := m.cache()
			if r.code != 0 || strings.Join(files(c), ",") != "/etc/"+p.id {
				t.Errorf("%s: fetch: exit %d, files %v; want 0, /etc/%s\n%s%s", p.id, r.code, files(c), p.id, r.out, r.stderr)
				continue
			}
			t.Logf("%s: process start to config cached: %v", p.id, r.took.Round(time.Millisecond))
		}
	})
	t.Run("no config", func(t *testing.T) {
		os6.Set(nil)
		for _, p := range platforms {
			p.ud.Set(nil)
			m := newM()
			r := m.run(p.id, "fetch", "-fetch-timeout", "30s")
			c, _ := m.cache()
			if p.id == "digitalocean" { // as Ignition: a 404 is fatal
				if r.code != 1 || m.exists("ignition.json") {
					t.Errorf("digitalocean without user data: exit %d, cache %v; want 1, none\n%s", r.code, m.exists("ignition.json"), r.out)
				}
				mustContain(t, "digitalocean log", r.out, "HTTP 404")
				continue
			}
			if r.code != 0 || len(files(c)) != 0 {
				t.Errorf("%s without user data: exit %d, files %v; want 0, none\n%s%s", p.id, r.code, files(c), r.out, r.stderr)
				continue
			}
			mustContain(t, p.id+" log", r.out, "no user config; continuing with an empty config")
			t.Logf("%s: no user data: empty config cached in %v", p.id, r.took.Round(time.Millisecond))
		}
	})
	t.Run("down, then a 5xx, then the config", func(t *testing.T) {
		srv.stop()
		for _, p := range platforms {
			p.ud.Set(cfgWithFile("/etc/" + p.id))
			if p.id == "oraclecloud" {
				p.ud.Fail(1, http.StatusTooManyRequests) // OCI's rate limit
			} else {
				p.ud.Fail(1, http.StatusServiceUnavailable)
			}
		}
		os6.Set(cfgWithFile("/etc/openstack"))
		os6.Fail(1, http.StatusServiceUnavailable)
		var wg sync.WaitGroup
		res := make([]result, len(platforms))
		ms := make([]*machine, len(platforms))
		for i, p := range platforms {
			if p.id == "brightbox" {
				continue // shares OpenStack's fake and its failure count
			}
			ms[i] = newM()
			wg.Add(1)
			go func() { defer wg.Done(); res[i] = ms[i].run(p.id, "fetch", "-fetch-timeout", "60s") }()
		}
		time.Sleep(2 * time.Second)
		srv.start()
		wg.Wait()
		for i, p := range platforms {
			if ms[i] == nil {
				continue
			}
			r := res[i]
			c, _ := ms[i].cache()
			if r.code != 0 || strings.Join(files(c), ",") != "/etc/"+p.id {
				t.Errorf("%s: fetch after the service came up: exit %d, files %v\n%s%s", p.id, r.code, files(c), r.out, r.stderr)
				continue
			}
			want := "HTTP 503"
			if p.id == "oraclecloud" {
				want = "HTTP 429"
			}
			mustContain(t, p.id+" log", r.out, "retrying in", want)
			t.Logf("%s: down 2 s then a failure: config cached %v after process start", p.id, r.took.Round(time.Millisecond))
		}
	})
	t.Run("quirks", func(t *testing.T) {
		// OpenStack: the IPv4 service fails, the link-local IPv6 one answers
		os4.Fail(1<<30, http.StatusInternalServerError)
		os6.Set(cfgWithFile("/etc/openstack-v6"))
		m := newM()
		r := m.run("openstack", "fetch", "-fetch-timeout", "30s")
		if c, _ := m.cache(); r.code != 0 || strings.Join(files(c), ",") != "/etc/openstack-v6" {
			t.Errorf("openstack over IPv6: exit %d, files %v\n%s", r.code, files(c), r.out)
		}
		mustContain(t, "openstack log", r.out, "config source: metadata service http://[fe80::a9fe:a9fe%25md")
		os4.Fail(0, 0)

		// Akamai: user data gzipped, then base64 (the service's own encoding)
		akamai.Set(fakes.Gzip(cfgWithFile("/etc/akamai-gz")))
		m = newM()
		r = m.run("akamai", "fetch")
		if c, _ := m.cache(); r.code != 0 || strings.Join(files(c), ",") != "/etc/akamai-gz" {
			t.Errorf("akamai gzip: exit %d, files %v\n%s", r.code, files(c), r.out)
		}
		// the fakes refuse what the real services refuse
		for _, c := range []struct{ url, why string }{
			{"http://169.254.169.254/v1/user-data", "Akamai without a token"},
			{"http://169.254.169.254/opc/v2/instance/metadata/user_data", "OCI without Authorization: Bearer Oracle"},
			{"http://169.254.42.42/user_data/cloud-init", "Scaleway from an unprivileged port"},
		} {
			resp, err := http.Get(c.url)
			if err != nil || resp.StatusCode < 400 {
				t.Errorf("%s: GET %s = %v, %v; want a refusal", c.why, c.url, resp, err)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}

		// Equinix Metal: user state events, succeeded after the files stage
		packet.Set(cfgWithFile("/etc/packet"))
		m = newM()
		for _, stage := range []string{"fetch", "kargs", "disks", "mount", "files", "umount"} {
			if r := m.run("packet", stage); r.code != 0 {
				t.Fatalf("packet %s: exit %d\n%s%s", stage, r.code, r.out, r.stderr)
			}
		}
		ev := states.Received()
		if len(ev) != 1 || ev[0]["state"] != "succeeded" {
			t.Errorf("packet user state events = %v; want one succeeded", ev)
		}
	})
}
