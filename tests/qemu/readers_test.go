package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/tests/fakes"
)

// hostSecret is a config the guest keeps in /etc/host-secret.ign: a
// medium that links to it must not make it the user config.
const hostSecret = `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/LEAKED-HOST-SECRET"}]}}`

// readerCase is one tampered provisioning CD: the guest commands that
// fill it (mounted on DIR) and what reading it must say.
type readerCase struct {
	name  string
	build []string
	want  *regexp.Regexp // in the stage's error
}

const ovfEnvOK = `<?xml version="1.0"?><Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"/>`

// Readers cannot be tricked. Five tampered provisioning CDs, real UDF as
// Azure's are (mkudffs on the host; a first guest fills them through its
// kernel's UDF driver, since genisoimage's UDF tree turns links, FIFOs and
// devices into empty files and the host kernel has no UDF), are read by
// Azure and Azure Stack in a second guest, with two tampered config drives
// (iso9660 with Rock Ridge, labelled config-2 and cidata, on virtio) read
// by Nutanix, CloudStack and IBM Cloud. A symbolic link to a file of the
// guest, a FIFO, a device node, an oversized ovf-env.xml: each fails its
// stage at once, naming the file and what is wrong; the guest's secret is
// never read and nothing is cached. The mount options in the log are what
// the guest kernel's mountinfo says for each medium while it is mounted.
func TestReadersCannotBeTricked(t *testing.T) {
	testenv.NeedRoot(t, "device nodes on the media")
	testenv.NeedTools(t, "genisoimage", "mkudffs", "socat", "mount", "umount", "ln", "mkfifo", "mknod", "truncate")
	cases := []readerCase{
		{"CustomData.bin a link to /etc/host-secret.ign",
			[]string{"@write DIR/ovf-env.xml " + ovfEnvOK, "/bin/ln -s /etc/host-secret.ign DIR/CustomData.bin"},
			regexp.MustCompile(`CustomData\.bin on /dev/sr\d: symbolic link refused`)},
		{"ovf-env.xml a link to /etc/host-secret.ign",
			[]string{"/bin/ln -s /etc/host-secret.ign DIR/ovf-env.xml"},
			regexp.MustCompile(`ovf-env\.xml on /dev/sr\d: symbolic link refused`)},
		{"ovf-env.xml of 1 MiB and a byte",
			[]string{"/bin/truncate -s 1048577 DIR/ovf-env.xml"},
			regexp.MustCompile(`ovf-env\.xml on /dev/sr\d: ovf-env\.xml is larger than the 1 MiB limit \(1048577 bytes\)`)},
		{"CustomData.bin a FIFO",
			[]string{"@write DIR/ovf-env.xml " + ovfEnvOK, "/bin/mkfifo DIR/CustomData.bin"},
			regexp.MustCompile(`CustomData\.bin on /dev/sr\d: not a regular file \(a FIFO\)`)},
		{"CustomData.bin a device node (/dev/zero)",
			[]string{"@write DIR/ovf-env.xml " + ovfEnvOK, "/bin/mknod DIR/CustomData.bin c 1 5"},
			regexp.MustCompile(`CustomData\.bin on /dev/sr\d: not a regular file \(a character device\)`)},
	}

	// first guest: fill each UDF image, attached as a virtio disk with
	// CD-sized blocks (which disk gets which case does not matter: the
	// second guest tells them apart by what reading them says)
	var isos, fill, diskArgs []string
	imgs := t.TempDir()
	for i, c := range cases {
		img := filepath.Join(imgs, fmt.Sprintf("provisioning%d.udf", i))
		for _, cmd := range [][]string{{"truncate", "-s", "8M", img}, {"mkudffs", "-b", "2048", "--media-type=hd", "--label=rd_rdfe_stable", img}} {
			if b, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", strings.Join(cmd, " "), err, b)
			}
		}
		isos = append(isos, img)
		diskArgs = append(diskArgs, "-drive", fmt.Sprintf("file=%s,if=none,id=d%d,format=raw", img, i),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,logical_block_size=2048,physical_block_size=2048", i))
		dir := fmt.Sprintf("/mnt/%d", i)
		dev := fmt.Sprintf("/dev/vd%c", 'a'+i)
		fill = append(fill, "@mkdir "+dir, "/bin/mount -t udf "+dev+" "+dir)
		for _, b := range c.build {
			fill = append(fill, strings.ReplaceAll(b, "DIR", dir))
		}
		fill = append(fill, "/bin/umount "+dir)
	}
	for _, r := range (guest{
		mods:     []string{"virtio_pci", "virtio_blk", "udf"},
		commands: fill,
		qemuArgs: diskArgs,
		hostBins: []string{"mount", "umount", "ln", "mkfifo", "mknod", "truncate"},
	}).run(t) {
		if r.rc != 0 {
			t.Fatalf("filling the UDF images: %s: rc %d\n%s", r.line, r.rc, r.out)
		}
	}

	var qemuArgs []string
	files := map[string]string{"etc/host-secret.ign": hostSecret}
	for i, iso := range isos {
		qemuArgs = append(qemuArgs, "-drive", fmt.Sprintf("file=%s,media=cdrom,readonly=on,index=%d", iso, i))
		// a block-device directory that lists this CD drive alone
		files[fmt.Sprintf("cases/sr%d/sr%d/device/type", i, i)] = "5\n"
	}

	// config drives: config-2 (OpenStack paths for Nutanix, CloudStack's
	// path) and cidata (IBM Cloud)
	link := func(p string) {
		if err := os.Symlink("/etc/host-secret.ign", p); err != nil {
			t.Fatal(err)
		}
	}
	cfg2 := t.TempDir()
	os.MkdirAll(filepath.Join(cfg2, "openstack/latest"), 0o755)
	os.MkdirAll(filepath.Join(cfg2, "cloudstack/userdata"), 0o755)
	link(filepath.Join(cfg2, "cloudstack/userdata/user_data.txt"))
	cidata := t.TempDir()
	for _, err := range []error{
		unix.Mkfifo(filepath.Join(cfg2, "openstack/latest/user_data"), 0o644),
		unix.Mknod(filepath.Join(cidata, "user-data"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	drives := t.TempDir()
	for _, d := range []struct{ label, src string }{{"config-2", cfg2}, {"cidata", cidata}} {
		img := filepath.Join(drives, d.label+".iso")
		mkiso(t, img, d.label, d.src)
		qemuArgs = append(qemuArgs, "-drive", "file="+img+",if=virtio,format=raw,readonly=on")
	}

	imdsAddr := serveLoopback(t, &fakes.AzureIMDS{})
	wire := &fakes.Wireserver{}
	wireAddr := serveLoopback(t, wire)
	line := func(platform, stage, tag string) string {
		return fmt.Sprintf("/bin/ignition -platform %s -stage %s -fetch-timeout 20s -root /sysroot -log-to-stdout -config-cache /run/%s.json -state-file /run/%s.state -neednet /run/%s.neednet", platform, stage, tag, tag, tag)
	}
	cmds := []string{"@ifup eth0 169.254.0.15/7"} // IMDS and the wireserver on-link
	type run struct{ line, cache string }
	var cdRuns []run
	for i := range cases {
		cmds = append(cmds, fmt.Sprintf("@env IGNITION_SYS_BLOCK_DIR=/cases/sr%d", i))
		for _, p := range []string{"azure", "azurestack"} {
			tag := fmt.Sprintf("%s-sr%d", p, i)
			r := run{line(p, "fetch", tag), "@cat /run/" + tag + ".json"}
			cdRuns = append(cdRuns, r)
			cmds = append(cmds, r.line, r.cache)
		}
	}
	cmds = append(cmds, "@env IGNITION_SYS_BLOCK_DIR=")
	driveRuns := []struct {
		run
		want *regexp.Regexp
	}{
		{run{line("nutanix", "fetch-offline", "nutanix"), "@cat /run/nutanix.json"}, regexp.MustCompile(`openstack/latest/user_data on /dev/vd[a-z]: not a regular file \(a FIFO\)`)},
		{run{line("cloudstack", "fetch", "cloudstack"), "@cat /run/cloudstack.json"}, regexp.MustCompile(`cloudstack/userdata/user_data\.txt on /dev/vd[a-z]: symbolic link refused`)},
		{run{line("ibmcloud", "fetch-offline", "ibmcloud"), "@cat /run/ibmcloud.json"}, regexp.MustCompile(`user-data on /dev/vd[a-z]: not a regular file \(a character device\)`)},
	}
	for _, r := range driveRuns {
		cmds = append(cmds, r.line, r.cache)
	}
	res := guest{
		mods:     []string{"virtio_pci", "virtio_net", "virtio_blk", "ahci", "sr_mod", "udf", "isofs"},
		commands: cmds,
		qemuArgs: append(metadataNet(imdsAddr, map[string]string{"168.63.129.16": wireAddr}), qemuArgs...),
		files:    files,
	}.boot(t)

	mounted := regexp.MustCompile(`(provisioning CD-ROM|config drive) (/dev/\w+) \((\w+)\) mounted on \S+ with (\S+)`)
	checkMounts := func(what, out string) int {
		n := 0
		for _, m := range mounted.FindAllStringSubmatch(out, -1) {
			n++
			have := map[string]bool{}
			for _, o := range strings.Split(m[4], ",") {
				have[o] = true
			}
			if !have["ro"] || !have["nodev"] || !have["nosuid"] || !have["noexec"] {
				t.Errorf("%s: %s (%s) was mounted with %s; want ro,nodev,nosuid,noexec", what, m[2], m[3], m[4])
			}
		}
		return n
	}
	refused := func(what string, r run, want *regexp.Regexp) bool {
		out, cached := res[r.line], res[r.cache]
		if strings.Contains(out.out, "LEAKED") || strings.Contains(cached.out, "LEAKED") {
			t.Errorf("%s: the guest's /etc/host-secret.ign was read:\n%s", what, out.out)
		}
		if !want.MatchString(out.out) {
			return false
		}
		if out.rc != 1 || cached.rc == 0 {
			t.Errorf("%s: rc %d, cache %q; want the stage failed and nothing cached", what, out.rc, cached.out)
		}
		return true
	}
	for _, c := range cases {
		// the drives are told apart by what reading them says: which
		// sr number a drive gets is the kernel's choice
		for _, p := range []string{"azure", "azurestack"} {
			found := 0
			for _, r := range cdRuns {
				if strings.Contains(r.line, "-platform "+p+" ") && refused(p+": "+c.name, r, c.want) {
					found++
					for _, l := range strings.Split(res[r.line].out, "\n") {
						if c.want.MatchString(l) {
							t.Logf("%s, %s: %s", p, c.name, strings.TrimSpace(l))
							break
						}
					}
				}
			}
			if found != 1 {
				t.Errorf("%s, %s: %d runs say %q; want 1", p, c.name, found, c.want)
			}
		}
	}
	mounts := 0
	for _, r := range cdRuns {
		mounts += checkMounts(r.line, res[r.line].out)
	}
	// Azure is told what failed (Azure Stack has no wireserver report)
	reports := wire.Reports()
	for _, c := range cases {
		n := 0
		for _, h := range reports {
			if h.State == "NotReady" && c.want.MatchString(h.Description) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("azure, %s: %d NotReady reports say %q; want 1 (reports: %+v)", c.name, n, c.want, reports)
		}
	}
	if mounts < 2*len(cases) {
		t.Errorf("%d CD mounts logged with their options; want one per run", mounts)
	}
	for _, r := range driveRuns {
		if !refused(r.line, r.run, r.want) {
			t.Errorf("%s: the log does not say %q:\n%s", r.line, r.want, res[r.line].out)
		}
		if checkMounts(r.line, res[r.line].out) == 0 {
			t.Errorf("%s: no mount logged with its options:\n%s", r.line, res[r.line].out)
		}
		for _, l := range strings.Split(res[r.line].out, "\n") {
			if r.want.MatchString(l) || mounted.MatchString(l) {
				t.Logf("%s", strings.TrimSpace(l))
			}
		}
	}
	if t.Failed() {
		for _, r := range cdRuns {
			t.Logf("%s: rc %d\n%s", r.line, res[r.line].rc, res[r.line].out)
		}
	}
}

// mkiso makes an iso9660 image with Rock Ridge (links, FIFOs and device
// nodes kept as they are) and Joliet of src, labelled label.
func mkiso(t *testing.T, out, label, src string, extra ...string) {
	t.Helper()
	args := append([]string{"-quiet", "-R", "-J", "-V", label, "-o", out}, extra...)
	if b, err := exec.Command("genisoimage", append(args, src)...).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v: %s", err, b)
	}
}
