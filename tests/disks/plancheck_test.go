package disks

// What mkfs, mkswap, cryptsetup and mdadm would refuse, and options that
// name another device, are refused in the disks stage's plan: the
// partition table the same config asks for is not written first (every
// image byte-for-byte unchanged). The dry run lists RAID and LUKS work. A
// mount path through a symlink in the image is refused. An ext4 that also
// carries ZFS labels (blkid: "ambivalent result") is kept when the config
// asks for that ext4, as Ignition keeps it. Tang URL credentials never
// reach the dry run, the log or an error.

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// emptyDisk is a disk with no partition table at all, for a second device
// the config's options name.
func emptyDisk(mib int) disk { return disk{SizeMiB: mib, Raw: true} }

var planCheckScenarios = []scenario{
	// ---- options that name another device ----
	{
		name:   "refuse/mkfs-btrfs-option-names-another-device",
		before: []disk{bigDataDisk(), emptyDisk(16)},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "btrfs", "wipeFilesystem": true,
			"options": ["-d", "single", "$disk1"]}]}`),
		fail: "disks",
		why:  `filesystem on \$disk0p1: option "\$disk1" names the device \$disk1`,
	},
	{
		name:   "refuse/mkfs-xfs-external-log-device",
		before: []disk{{SizeMiB: 400}, emptyDisk(16)},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "big"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "xfs", "options": ["-l", "logdev=$disk1,size=8m"]}]}`),
		fail: "disks",
		why:  `option "logdev=\$disk1,size=8m" names another device \(logdev=\)`,
	},
	{
		name:   "refuse/mkfs-ext4-external-journal",
		before: []disk{{SizeMiB: 64}, emptyDisk(16)},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "j"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "options": ["-J", "device=$disk1"]}]}`),
		fail: "disks",
		why:  `names another device \(device=\)`,
	},
	{
		name:   "refuse/luks-detached-header-on-another-device",
		before: []disk{{SizeMiB: 64}, emptyDisk(16)},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "sec"}]}],
			"luks": [{"name": "sec", "device": "$disk0p1", "options": ["--header", "$disk1"]}]}`),
		fail: "disks",
		why:  `LUKS sec: option --header takes a device or a file`,
	},
	{
		name:   "refuse/raid-write-journal-on-another-device",
		before: []disk{{SizeMiB: 64}, emptyDisk(16)},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "m1", "sizeMiB": 16}, {"number": 2, "label": "m2", "sizeMiB": 16}]}],
			"raid": [{"name": "md9", "level": "raid1", "devices": ["$disk0p1", "$disk0p2"], "options": ["--write-journal", "$disk1"]}]}`),
		fail: "disks",
		why:  `RAID md9: option --write-journal takes a device or a file`,
	},

	// ---- what mkfs and cryptsetup would refuse, known beforehand ----
	{
		name:   "refuse/vfat-label-with-a-dot-before-the-table-is-written",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "esp", "sizeMiB": 32, "typeGuid": "` + typeESP + `"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "vfat", "label": "EFI.SYS"}]}`),
		fail: "disks",
		why:  `filesystem on \$disk0p1: label "EFI.SYS": vfat labels cannot hold '\.'`,
	},
	{
		// the config's validation allows 256 bytes (as Ignition's does);
		// mkfs.btrfs 6.2 refuses more than 255
		name:   "refuse/btrfs-label-longer-than-255",
		before: []disk{bigDataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "btrfs", "wipeFilesystem": true, "label": "` + strings.Repeat("b", 256) + `"}]}`),
		fail:   "disks",
		why:    `is 256 bytes; btrfs labels hold at most 255`,
	},
	{
		name:   "refuse/xfs-below-300-mib-before-the-table-is-written",
		before: []disk{{SizeMiB: 200}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "small", "sizeMiB": 150}]}],
			"filesystems": [{"device": "$disk0p1", "format": "xfs"}]}`),
		fail: "disks",
		why:  `filesystem on \$disk0p1: the device is 150 MiB; xfs needs at least 300 MiB`,
	},
	{
		name:   "refuse/btrfs-below-its-minimum-before-the-table-is-written",
		before: []disk{{SizeMiB: 128}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "small", "sizeMiB": 100}]}],
			"filesystems": [{"device": "$disk0p1", "format": "btrfs"}]}`),
		fail: "disks",
		why:  `the device is 100 MiB; btrfs needs at least 109 MiB`,
	},
	{
		name:   "refuse/xfs-on-an-existing-small-partition",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "xfs", "wipeFilesystem": true}]}`),
		fail:   "disks",
		why:    `the device is 32 MiB; xfs needs at least 300 MiB`,
	},
	{
		name:   "refuse/luks-on-a-partition-no-larger-than-its-header",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "tiny", "sizeMiB": 16}]}],
			"luks": [{"name": "tiny", "device": "$disk0p1"}]}`),
		fail: "disks",
		why:  `LUKS tiny: \$disk0p1 is 16 MiB; the LUKS2 header alone takes 16 MiB`,
	},
	{
		// the volume is the partition less the 16 MiB LUKS2 header
		name:   "refuse/xfs-on-a-luks-volume-too-small-before-anything-is-written",
		before: []disk{{SizeMiB: 400}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "enc", "sizeMiB": 310}]}],
			"luks": [{"name": "enc", "device": "$disk0p1"}],
			"filesystems": [{"device": "/dev/mapper/enc", "format": "xfs"}]}`),
		fail: "disks",
		why:  `filesystem on /dev/mapper/enc \(a LUKS volume this run makes\): the device is 294 MiB; xfs needs at least 300 MiB`,
	},
	{
		name:   "refuse/luks-label-with-a-newline",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "l", "sizeMiB": 32}]}],
			"luks": [{"name": "l", "device": "$disk0p1", "label": "two\nlines"}]}`),
		fail: "disks",
		why:  `LUKS l: label "two\\nlines": control character`,
	},

	// ---- the dry run lists RAID and LUKS work ----
	{
		name:   "dry-run/raid-and-luks-are-work",
		before: []disk{twoParts()},
		config: cfg(`{"raid": [{"name": "md9", "level": "raid1", "devices": ["$disk0p1", "$disk0p2"]}],
			"luks": [{"name": "sec", "device": "/dev/md/md9"}]}`),
		dryRun: []string{`RAID md9 \(/dev/md/md9, raid1 over \$disk0p1 \$disk0p2\): create`,
			`would run mdadm --create /dev/md/md9`,
			`LUKS sec on /dev/md/md9 \(/dev/md/md9\): create with a random key`},
	},
}

func init() { scenarios = append(scenarios, planCheckScenarios...) }

// The dry run of a config with only LUKS work does not say "nothing to
// do" (it did, before a LUKS format).
func TestPlanCheckDryRunLuksOnly(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "one", StartMiB: 1, SizeMiB: 8}, {Num: 2, Label: "two", StartMiB: 9, SizeMiB: 32}}}})
	w.planConfig(cfg(`{"luks": [{"name": "sec", "device": "$disk0p2"}]}`))
	before := w.hashes()
	out := w.planDryRun()
	if strings.Contains(out, "nothing to do") {
		t.Errorf("disks -dry-run says nothing to do before a LUKS format:\n%s", out)
	}
	if !regexp.MustCompile(`LUKS sec on ` + regexp.QuoteMeta(w.subst("$disk0p2")) + `.*: create with a random key \(nothing there\)`).MatchString(out) {
		t.Errorf("disks -dry-run does not list the LUKS format:\n%s", out)
	}
	w.planSame(before)
}

// An image whose /tmp0 links to /: a filesystem at /tmp0 would be mounted
// over the target root itself. The mount stage refuses it in its plan,
// nothing is mounted, the disk is untouched.
func TestPlanCheckMountPathThroughSymlink(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	if err := os.Symlink("/", filepath.Join(w.root, "tmp0")); err != nil {
		t.Fatal(err)
	}
	w.planConfig(cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "path": "/tmp0"}]}`))
	before := w.hashes()
	failed, out, log := w.sequence(nil)
	if failed != "mount" {
		t.Fatalf("stage %q failed; want the mount stage to refuse\n%s", failed, log)
	}
	if !strings.Contains(out, "mount path /tmp0 goes through the symlink /tmp0 (to /)") {
		t.Errorf("the mount stage failed, but not for the symlink:\n%s", out)
	}
	for _, mi := range w.ourMounts() {
		t.Errorf("still mounted: %s (%s)", mi.point, mi.source)
	}
	w.planSame(before)
}

// zfsLabels writes ZFS uberblock magics (0x00bab10c, little-endian, eight
// of the 128 1 KiB slots) into the last of the four ZFS labels, 256 KiB
// from the end of the device, at the label's uberblock array (128 KiB in):
// where libblkid's zfs prober looks (it wants at least four, on a device
// of 64 MiB or more). The ext4 below does not use its last blocks.
func zfsLabels(t *testing.T, dev string) {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Seek(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	base := size - 256<<10 + 128<<10
	ub := make([]byte, 16)
	binary.LittleEndian.PutUint64(ub, 0x00bab10c)
	binary.LittleEndian.PutUint64(ub[8:], 5000) // ub_version
	for i := int64(0); i < 8; i++ {
		if _, err := f.WriteAt(ub, base+i<<10); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// blkidStatus is blkid -p's exit status and stderr on dev.
func blkidStatus(dev string) (int, string) {
	c := exec.Command("blkid", "-p", "-o", "export", dev)
	var errb strings.Builder
	c.Stderr = &errb
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), errb.String()
	}
	return 0, errb.String()
}

// An ext4 that also carries ZFS labels: blkid -p reports an ambivalent
// result. A config asking for that ext4 (its label and UUID, no
// wipeFilesystem) keeps it and its files, as Ignition does (its libblkid
// probe falls back to the first signature, ext4); a config asking for xfs
// is refused and names both; wipeFilesystem makes a new ext4 and erases
// every signature.
func TestPlanCheckAmbivalentExt4AndZFS(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		name   string
		fs     string
		fail   string // the failing stage's output must hold this
		keep   bool   // the old ext4 and its files stay
		wiped  bool   // a new ext4, no ZFS signature left
		shared string
	}{
		{name: "keep", fs: `{"device": "$disk0p1", "format": "ext4", "label": "DATA", "uuid": "` + u1 + `", "path": "/var"}`, keep: true},
		{name: "other-format", fs: `{"device": "$disk0p1", "format": "xfs", "path": "/var"}`,
			fail: "holds ext4 label \"DATA\" uuid " + u1 + " (and zfs_member signatures), not xfs"},
		{name: "wipe", fs: `{"device": "$disk0p1", "format": "ext4", "label": "NEW", "wipeFilesystem": true, "path": "/var"}`, wiped: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.build([]disk{bigDataDisk()})
			pdev := w.subst("$disk0p1")
			zfsLabels(t, pdev)
			syscall.Sync()
			if code, stderr := blkidStatus(pdev); code != 8 || !strings.Contains(stderr, "ambivalent") {
				t.Fatalf("blkid -p %s: exit %d %q; want 8, an ambivalent result (the test's ZFS labels are not where libblkid looks)", pdev, code, stderr)
			}
			w.planConfig(cfg(`{"filesystems": [` + c.fs + `], "files": [{"path": "/var/new.txt", "contents": {"source": "data:,new"}}]}`))
			before := w.hashes()
			failed, out, log := w.sequence(nil)
			if c.fail != "" {
				if failed != "disks" || !strings.Contains(out, c.fail) {
					t.Errorf("stage %q failed with:\n%s\nwant the disks stage to fail with %q\nlog:\n%s", failed, out, c.fail, log)
				}
				w.planSame(before)
				return
			}
			if failed != "" {
				t.Fatalf("stage %s failed; want success\n%s", failed, log)
			}
			if c.keep {
				if !strings.Contains(log, "holds several signatures; going by the first, as Ignition does: ext4") {
					t.Errorf("the disks stage did not warn about the other signatures:\n%s", log)
				}
				// blkid -p stays ambivalent: the ext4 is read as ext4 only
				out, err := exec.Command("blkid", "-p", "-n", "ext4", "-o", "export", pdev).Output()
				if err != nil || !strings.Contains(string(out), "LABEL=DATA\n") || !strings.Contains(string(out), "UUID="+u1+"\n") {
					t.Errorf("blkid -p -n ext4 %s = %v\n%s; want the old ext4 DATA %s", pdev, err, out, u1)
				}
				dir := filepath.Join(w.dir, "check-ext4")
				os.MkdirAll(dir, 0o755)
				w.cmd("mount", "-t", "ext4", "-o", "ro", pdev, dir)
				for name, want := range map[string]string{"keep.txt": "old data", "new.txt": "new"} {
					if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
						t.Errorf("%s on the kept ext4 = %q, %v; want %q", name, b, err, want)
					}
				}
				w.cmd("umount", dir)
			}
			if c.wiped {
				w.checkDisks([]disk{{Parts: []part{{Num: 1, FS: &fsys{Format: "ext4", Label: "NEW", UUIDNot: u1,
					Files: map[string]string{"/new.txt": "new"}, Gone: []string{"/keep.txt"}}}}}})
				if code, stderr := blkidStatus(pdev); code != 0 {
					t.Errorf("blkid -p %s after wipeFilesystem: exit %d %q; want one signature", pdev, code, stderr)
				}
			}
		})
	}
}

// A tang URL with a user, a password and a token: none of them reaches
// the dry run, the log of a real run, or the error of a failing plan.
func TestPlanCheckTangURLRedacted(t *testing.T) {
	requireRoot(t)
	const user, pass, token = "tanguser1", "tangpass2", "tangtoken3"
	secrets := []string{user, pass, token}
	// a tang server that knows no key: GET /adv/<thp> is 404
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.NotFound(rw, r)
	}))
	defer srv.Close()
	url := "http://" + user + ":" + pass + "@" + strings.TrimPrefix(srv.URL, "http://") + "/?token=" + token
	luks := func(adv bool) string {
		tang := `{"url": ` + strconv.Quote(url) + `, "thumbprint": ` + strconv.Quote(tangSigner)
		if adv {
			tang += `, "advertisement": ` + strconv.Quote(tangAdv)
		}
		return cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "secret", "sizeMiB": 20}]}],
			"luks": [{"name": "secret", "device": "$disk0p2", "options": ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"],
			"clevis": {"tang": [` + tang + `}]}}]}`)
	}
	check := func(what, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s holds %q:\n%s", what, s, out)
			}
		}
	}

	t.Run("dry-run-and-log", func(t *testing.T) {
		w := newWorld(t)
		w.build([]disk{dataDisk()})
		w.planConfig(luks(true))
		out := w.planDryRun()
		check("disks -dry-run", out)
		if !strings.Contains(out, "tang http://"+strings.TrimPrefix(srv.URL, "http://")+"/?token=REDACTED: advertisement (from the config)") {
			t.Errorf("disks -dry-run does not show the redacted tang URL:\n%s", out)
		}
		// a real run: the plan narrated in the log, every argv logged (the
		// host cannot open the volume; the stage may fail there)
		_, _, log := w.sequence(nil)
		check("the log of the stages", log)
		if !strings.Contains(log, "token=REDACTED") {
			t.Errorf("the log does not narrate the tang server:\n%s", log)
		}
	})
	t.Run("error", func(t *testing.T) {
		w := newWorld(t)
		w.build([]disk{dataDisk()})
		w.planConfig(luks(false))
		before := w.hashes()
		failed, out, log := w.sequence(nil)
		if failed != "disks" || !strings.Contains(out, "the server has no signing key with thumbprint "+tangSigner) {
			t.Errorf("stage %q failed with:\n%s\nwant the disks stage to refuse the unknown key\nlog:\n%s", failed, out, log)
		}
		check("the failing stage's output", log)
		w.planSame(before)
		if asked.Load() == 0 {
			t.Errorf("the tang server was never asked; the refusal is not the one the test is about")
		}
	})
}

// ---- small helpers over the harness ----

func (w *world) planConfig(c string) {
	w.t.Helper()
	if err := os.WriteFile(w.conf, []byte(w.subst(c)), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// planDryRun runs fetch-offline, then disks -dry-run, and returns the dry
// run's output; both must succeed.
func (w *world) planDryRun() string {
	w.t.Helper()
	if r := w.stage("fetch-offline"); r.code != 0 {
		w.t.Fatalf("fetch-offline: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	r := w.stage("disks", "-dry-run")
	if r.code != 0 {
		w.t.Fatalf("disks -dry-run: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	return r.out + r.stderr
}

// planSame checks that every image is byte-for-byte what it was.
func (w *world) planSame(before []string) {
	w.t.Helper()
	for i, h := range w.hashes() {
		if h != before[i] {
			w.t.Errorf("$disk%d (%s) changed: %s before, %s after; want it untouched", i, w.loops[i], before[i][:12], h[:12])
		}
	}
}
