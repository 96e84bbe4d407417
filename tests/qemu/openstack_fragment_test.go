package qemu

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/tests/fakes"
)

// OpenStack with a config drive and a metadata service that accepts
// connections and never answers (a cloud with config drives only, where
// 169.254.169.254 leads nowhere useful): the host name and keys come from
// the drive's openstack/latest/meta_data.json, the service is not asked,
// and the fetch stage ends long before its fetch timeout.
func TestOpenStackPlatformFragmentConfigDriveOnly(t *testing.T) {
	testenv.NeedTools(t, "genisoimage", "socat")
	const (
		alice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a alice@laptop"
		bob   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2x9nK1d0fQ2m8s7qz4wXo3YkPp5lRt8a1e6Vb2cH9d bob@laptop"
	)
	tree := t.TempDir()
	md := filepath.Join(tree, "openstack", "latest", "meta_data.json")
	os.MkdirAll(filepath.Dir(md), 0o755)
	if err := os.WriteFile(md, fakes.NovaMetaData("cd-1.novalocal", "cd-1", map[string]string{"alice": alice, "bob": bob}), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(t.TempDir(), "config-2.iso")
	if b, err := exec.Command("genisoimage", "-quiet", "-R", "-J", "-V", "config-2", "-o", iso, tree).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v: %s", err, b)
	}
	var asked atomic.Int32
	blackHole := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		<-r.Context().Done()
	}))

	ifup := "@ifup eth0 169.254.0.15/16"
	fetch := "/bin/ignition -platform openstack -stage fetch -fetch-timeout 90s" + ignitionArgs
	cat := "@cat /run/ignition.json"
	res := guest{
		mods:     []string{"virtio_pci", "virtio_net", "ahci", "sr_mod", "isofs"},
		commands: []string{ifup, fetch, cat},
		qemuArgs: append(imdsOnly(blackHole), "-drive", "file="+iso+",media=cdrom,readonly=on"),
	}.boot(t)
	r := res[fetch]
	if r.rc != 0 {
		t.Fatalf("fetch in the guest: rc %d\n%s", r.rc, r.out)
	}
	for _, want := range []string{"(attached: the metadata service is not asked)", `platform fragment from openstack: hostname "cd-1.novalocal"; user "core" with 2 SSH key(s) SHA256:`} {
		if !strings.Contains(r.out, want) {
			t.Errorf("the log lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "OpenStack metadata service") {
		t.Errorf("the metadata service was asked with a config drive attached:\n%s", r.out)
	}
	cached := res[cat].out
	for _, want := range []string{`"name":"core"`, alice, bob, "data:,cd-1.novalocal%0A"} {
		if !strings.Contains(cached, want) {
			t.Errorf("the cached config lacks %s:\n%s", want, cached)
		}
	}
	// the service (which would hold the stage until the fetch timeout)
	// got no request at all
	if n := asked.Load(); n != 0 {
		t.Errorf("the metadata service got %d request(s) with a config drive attached; want none", n)
	}
	if m := regexp.MustCompile(`fetch done in (\S+)`).FindStringSubmatch(r.out); m != nil {
		t.Logf("openstack, config drive only: fetch done in %s (guest under TCG)", m[1])
	}
	for _, l := range strings.Split(r.out, "\n") {
		if i := strings.Index(l, "platform fragment from"); i >= 0 {
			t.Log(l[i:])
		}
	}
}
