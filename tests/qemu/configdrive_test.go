package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// Config drives, in one boot: an OpenStack-style iso9660 drive labelled
// config-2 (openstack/latest/user_data and CloudStack's
// cloudstack/userdata/user_data.txt) on a CD drive, and a NoCloud vfat disk
// labelled cidata (user-data, vendor-data) on virtio. The host mounts
// neither; the guest's kernel does, and every platform that reads a config
// drive runs the real binary against them. The guest has no network, so
// OpenStack's and CloudStack's metadata services fail and the drive wins
// their race.
func TestConfigDrives(t *testing.T) {
	testenv.NeedTools(t, "genisoimage", "mkfs.vfat", "mcopy")
	dir := t.TempDir()
	cfg := func(path string) string {
		return fmt.Sprintf(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":%q}]}}`, path)
	}
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree := filepath.Join(dir, "config-2")
	write(filepath.Join(tree, "openstack/latest/user_data"), cfg("/etc/config-2"))
	write(filepath.Join(tree, "openstack/latest/meta_data.json"), `{"uuid":"0b1c"}`)
	write(filepath.Join(tree, "cloudstack/userdata/user_data.txt"), cfg("/etc/cloudstack"))
	iso := filepath.Join(dir, "config-2.iso")
	if b, err := exec.Command("genisoimage", "-quiet", "-R", "-J", "-V", "config-2", "-o", iso, tree).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v: %s", err, b)
	}
	img := filepath.Join(dir, "cidata.img")
	write(filepath.Join(dir, "user-data"), cfg("/etc/cidata"))
	write(filepath.Join(dir, "vendor-data"), cfg("/etc/vendor-data"))
	for _, c := range [][]string{
		{"truncate", "-s", "8M", img},
		{"mkfs.vfat", "-n", "cidata", img},
		{"mcopy", "-i", img, filepath.Join(dir, "user-data"), "::user-data"},
		{"mcopy", "-i", img, filepath.Join(dir, "vendor-data"), "::vendor-data"},
	} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, b)
		}
	}

	// platform, stage, the files its cached config must hold (any of)
	runs := []struct {
		platform, stage string
		want            []string
	}{
		{"ibmcloud", "fetch-offline", []string{"/etc/cidata"}},
		{"proxmoxve", "fetch-offline", []string{"/etc/cidata"}},
		{"kubevirt", "fetch-offline", []string{"/etc/cidata", "/etc/config-2"}}, // whichever drive is found first
		{"nutanix", "fetch-offline", []string{"/etc/config-2"}},
		{"powervs", "fetch-offline", []string{"/etc/config-2"}},
		{"openstack", "fetch", []string{"/etc/config-2"}},
		{"brightbox", "fetch", []string{"/etc/config-2"}},
		{"cloudstack", "fetch", []string{"/etc/cloudstack"}},
	}
	var cmds []string
	line := func(p, stage string) string {
		return fmt.Sprintf("/bin/ignition -platform %s -stage %s -fetch-timeout 20s -root /sysroot -log-to-stdout -config-cache /run/%s.json -state-file /run/%s.state -neednet /run/%s.neednet", p, stage, p, p, p)
	}
	for _, r := range runs {
		cmds = append(cmds, line(r.platform, r.stage), "@cat /run/"+r.platform+".json")
	}
	res := guest{
		mods:     []string{"ahci", "sr_mod", "isofs", "virtio_pci", "virtio_blk", "vfat", "nls_cp437", "nls_utf8", "nls_ascii"},
		commands: cmds,
		qemuArgs: []string{
			"-drive", "file=" + iso + ",media=cdrom,readonly=on",
			"-drive", "file=" + img + ",if=virtio,format=raw,readonly=on",
		},
	}.boot(t)
	done := regexp.MustCompile(`(fetch|fetch-offline) done in (\S+)`)
	for _, r := range runs {
		run, cached := res[line(r.platform, r.stage)], res["@cat /run/"+r.platform+".json"]
		ok := false
		for _, w := range r.want {
			ok = ok || strings.Contains(cached.out, `"path":"`+w+`"`)
		}
		if run.rc != 0 || !ok {
			t.Errorf("%s %s in the guest: rc %d, cache %q; want one of %v\n%s", r.platform, r.stage, run.rc, cached.out, r.want, run.out)
			continue
		}
		if m := done.FindStringSubmatch(run.out); m != nil {
			t.Logf("%s: process start to config cached: %s (guest under TCG)", r.platform, m[2])
		}
	}
	for _, want := range []string{"reading user-data, vendor-data from config drive /dev/vda (vfat, label cidata)", "using user-data from /dev/vda"} {
		if !strings.Contains(res[line("proxmoxve", "fetch-offline")].out, want) {
			t.Errorf("proxmoxve log lacks %q", want)
		}
	}
	if out := res[line("openstack", "fetch")].out; !strings.Contains(out, "config source: config drive") || !strings.Contains(out, "(iso9660, label config-2)") {
		t.Errorf("openstack did not take the config drive:\n%s", out)
	}
}
