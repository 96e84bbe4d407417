package disks

// A red-team pass over the plan checks of issue 17, through the real
// binary on loop devices: device options in forms the first checks
// missed, labels set in options or changed by mkfs.fat, labels blkid
// escapes (a second run must keep the filesystem the first made), tang
// URL credentials in a server's error, and mount paths through links
// that only appear once a filesystem of the plan is mounted.

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// up climbs from the directory the binary runs in (the test's) to /: a
// device named relative to the working directory, as "../dev/sdb" is from
// the initramfs's /.
var up = strings.Repeat("../", 12)

var redTeamScenarios = []scenario{
	{
		// mkfs.btrfs takes extra devices as plain arguments; the relative
		// path names $disk1 from the working directory
		name:   "refuse/mkfs-btrfs-option-names-a-device-by-a-relative-path",
		before: []disk{bigDataDisk(), emptyDisk(16)},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "btrfs", "wipeFilesystem": true,
			"options": ["-d", "single", "` + up + `$disk1"]}]}`),
		fail: "disks",
		why:  `filesystem on \$disk0p1: option "[./]+/dev/loop\d+" names the device`,
	},
	{
		// mke2fs -J device= takes LABEL= and UUID=; attached to -J it was
		// missed, and mke2fs failed after the partition table was written
		name:   "refuse/mkfs-ext4-external-journal-attached-by-label",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "j"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "options": ["-Jdevice=LABEL=journal"]}]}`),
		fail: "disks",
		why:  `option "-Jdevice=LABEL=journal" names another device \(device=\)`,
	},
	{
		// getopt_long takes "--write-j" for "--write-journal"
		name:   "refuse/raid-write-journal-abbreviated",
		before: []disk{{SizeMiB: 64}, emptyDisk(16)},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "m1", "sizeMiB": 16}, {"number": 2, "label": "m2", "sizeMiB": 16}]}],
			"raid": [{"name": "md9", "level": "raid5", "devices": ["$disk0p1", "$disk0p2"], "options": ["--write-j", "$disk1"]}]}`),
		fail: "disks",
		why:  `RAID md9: option --write-journal takes a device or a file`,
	},
	{
		// mke2fs cut the label to 16 bytes without failing
		name:   "refuse/ext4-label-in-options-too-long-before-the-table-is-written",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "l"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "options": ["-L", "seventeen-bytes-x"]}]}`),
		fail: "disks",
		why:  `filesystem on \$disk0p1: options: label "seventeen-bytes-x" is 17 bytes; ext4 labels hold at most 16`,
	},
	{
		// mkfs.btrfs: "smaller than requested size", after the table
		name:   "refuse/btrfs-byte-count-larger-than-the-partition-before-the-table-is-written",
		before: []disk{{SizeMiB: 256}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "b", "sizeMiB": 200}]}],
			"filesystems": [{"device": "$disk0p1", "format": "btrfs", "options": ["-b", "300M"]}]}`),
		fail: "disks",
		why:  `filesystem on \$disk0p1: option -b 300M asks for 300 MiB; the device is 200 MiB`,
	},
	{
		// cryptsetup takes the last --type: a LUKS1 volume the next run
		// refused as not LUKS2
		name:   "refuse/luks-type-luks1-in-options",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "sec", "sizeMiB": 32}]}],
			"luks": [{"name": "sec", "device": "$disk0p1", "options": ["--type", "luks1"]}]}`),
		fail: "disks",
		why:  `LUKS sec: option "--type" sets what the config or the stage sets`,
	},
	{
		// mdadm: "raid level may only be set once", after the table
		name:   "refuse/raid-level-in-options",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "m1", "sizeMiB": 16}, {"number": 2, "label": "m2", "sizeMiB": 16}]}],
			"raid": [{"name": "md9", "level": "raid1", "devices": ["$disk0p1", "$disk0p2"], "options": ["--level=0"]}]}`),
		fail: "disks",
		why:  `RAID md9: option "--level=0" sets what the config or the stage sets`,
	},
	{
		// mkfs.fat pads the label; blkid reads "EFI" back, and a second
		// run refused the filesystem the first made
		name:   "refuse/vfat-label-with-a-trailing-space",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "esp", "sizeMiB": 40, "typeGuid": "` + typeESP + `"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "vfat", "label": "EFI "}]}`),
		fail: "disks",
		why:  `vfat labels cannot end with a space`,
	},
	{
		// blkid's export output read the label back as "my\ data\ ..."
		// (shell-escaped, non-ASCII as M- sequences): the second run
		// refused the filesystem the first made, with the user's file
		name:    "rerun/ext4-label-with-a-space-and-non-ascii-is-kept",
		before:  []disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "data", StartMiB: 1, SizeMiB: 32}}}},
		config:  cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "my data é$", "path": "/var"}]}`),
		between: map[string]map[string]string{"$disk0p1": {"/user.txt": "written between the runs"}},
		after: []disk{{Parts: []part{{Num: 1, FS: &fsys{Format: "ext4",
			Files: map[string]string{"/user.txt": "written between the runs"}}}}}},
		mounts: []mnt{{Path: "/var", Dev: "$disk0p1"}},
	},
	{
		// quotes and a backslash in an existing label: the plan keeps it
		name:   "dry-run/btrfs-label-with-quotes-kept",
		before: []disk{{SizeMiB: 200, Parts: []part{{Num: 1, Label: "data", StartMiB: 1, SizeMiB: 128, FS: &fsys{Format: "btrfs", Label: `it's "x" \ y`, UUID: u2}}}}},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "btrfs", "label": "it's \"x\" \\ y", "uuid": "` + u2 + `"}]}`),
		dryRun: []string{`filesystem on \$disk0p1 \(\$disk0p1\): keep btrfs`},
	},
}

func TestRedTeamPlanChecks(t *testing.T) {
	requireRoot(t)
	for _, sc := range redTeamScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runScenario(t, sc)
		})
	}
}

// A tang server that refuses the request: its error carries the URL, which
// must lose its user, password and token on the way to the output.
func TestRedTeamTangErrorRedacted(t *testing.T) {
	requireRoot(t)
	const user, pass, token = "rtuser7", "rtpass8", "rttoken9"
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Error(rw, "forbidden", http.StatusForbidden)
	}))
	defer srv.Close()
	url := "http://" + user + ":" + pass + "@" + strings.TrimPrefix(srv.URL, "http://") + "/?token=" + token
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	w.planConfig(cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "secret", "sizeMiB": 20}]}],
		"luks": [{"name": "secret", "device": "$disk0p2", "clevis": {"tang": [{"url": ` + strconv.Quote(url) + `, "thumbprint": "` + tangSigner + `"}]}}]}`))
	before := w.hashes()
	failed, out, log := w.sequence(nil)
	if failed != "disks" || !strings.Contains(out, "LUKS secret: tang ") {
		t.Fatalf("stage %q failed with:\n%s\nwant the disks stage to fail on the tang server\nlog:\n%s", failed, out, log)
	}
	for _, s := range []string{user, pass, token} {
		if strings.Contains(log, s) {
			t.Errorf("the log holds %q:\n%s", s, log)
		}
	}
	w.planSame(before)
}

// A filesystem mounted at /var carries a link lib -> /; a second
// filesystem at /var/lib would be mounted over the target root. The link
// is only there once /var is mounted: the mount stage refuses it then,
// and undoes the /var mount.
func TestRedTeamMountPathThroughALinkInAMountedFilesystem(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	w.build([]disk{dataDisk(), {SizeMiB: 64, Parts: []part{{Num: 1, Label: "lib", StartMiB: 1, SizeMiB: 32, FS: &fsys{Format: "ext4", Label: "LIB"}}}}})
	dir := filepath.Join(w.dir, "link")
	os.MkdirAll(dir, 0o755)
	w.cmd("mount", w.subst("$disk0p1"), dir)
	err := os.Symlink("/", filepath.Join(dir, "lib"))
	w.cmd("umount", dir)
	if err != nil {
		t.Fatal(err)
	}
	w.planConfig(cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "path": "/var"},
		{"device": "$disk1p1", "format": "ext4", "label": "LIB", "path": "/var/lib"}]}`))
	failed, out, log := w.sequence(nil)
	if failed != "mount" || !strings.Contains(out, "mount path /var/lib goes through the symlink /var/lib (to /)") {
		t.Errorf("stage %q failed with:\n%s\nwant the mount stage to refuse the link\nlog:\n%s", failed, out, log)
	}
	for _, mi := range w.ourMounts() {
		t.Errorf("still mounted: %s (%s)", mi.point, mi.source)
	}
}

// Mount paths the plan must refuse without mounting anything: a link to
// itself, a component that is a regular file, a link to a directory
// elsewhere in the root.
func TestRedTeamMountPathOddComponents(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		name, path, why string
		setup           func(root string) error
	}{
		{"link-to-itself", "/loop/x", "goes through the symlink /loop", func(r string) error { return os.Symlink("loop", filepath.Join(r, "loop")) }},
		{"file-component", "/file/x", "/file is", func(r string) error { return os.WriteFile(filepath.Join(r, "file"), nil, 0o644) }},
		{"link-elsewhere", "/data", "goes through the symlink /data (to /elsewhere)", func(r string) error {
			os.MkdirAll(filepath.Join(r, "elsewhere"), 0o755)
			return os.Symlink("/elsewhere", filepath.Join(r, "data"))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.build([]disk{dataDisk()})
			if err := c.setup(w.root); err != nil {
				t.Fatal(err)
			}
			w.planConfig(cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "path": "` + c.path + `"}]}`))
			before := w.hashes()
			failed, out, log := w.sequence(nil)
			if failed != "mount" || !strings.Contains(out, c.why) {
				t.Errorf("stage %q failed with:\n%s\nwant the mount stage to refuse with %q\nlog:\n%s", failed, out, c.why, log)
			}
			for _, mi := range w.ourMounts() {
				t.Errorf("still mounted: %s (%s)", mi.point, mi.source)
			}
			w.planSame(before)
		})
	}
}

// overlayExt4 copies the superblock of a fresh ext4 DATA (u1) over bytes
// 1024-2047 of dev, leaving whatever signature dev has at 0 in place.
func (w *world) overlayExt4(dev string) {
	w.t.Helper()
	img := filepath.Join(w.dir, "sb.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		w.t.Fatal(err)
	}
	w.cmd("mkfs.ext4", "-q", "-F", "-L", "DATA", "-U", u1, img)
	w.cmd("dd", "if="+img, "of="+dev, "bs=1024", "skip=1", "seek=1", "count=1", "conv=notrunc,fsync", "status=none")
}

// A partition holding a LUKS header (or a vfat) and a stray ext4
// superblock: a config asking for that ext4, without wipeFilesystem, must
// not get it (the LUKS header would go with the first write to the
// "kept" filesystem); the plan refuses, naming what is there first.
func TestRedTeamAmbivalentOverLuksAndVfat(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "cryptsetup", "dd", "wipefs")
	for _, c := range []struct {
		name, why string
		make      func(w *world, dev string)
	}{
		{"luks", `the device holds crypto_LUKS`, func(w *world, dev string) {
			key := filepath.Join(w.dir, "key")
			os.WriteFile(key, []byte("redteam"), 0o600)
			w.cmd("cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--key-file", key,
				"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", dev)
		}},
		{"vfat", `the device holds vfat label "ESP".*\(and ext4 signatures\), not ext4`, func(w *world, dev string) {
			w.cmd("mkfs.vfat", "-F", "32", "-n", "ESP", dev)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.build([]disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "data", StartMiB: 1, SizeMiB: 40}}}})
			dev := w.subst("$disk0p1")
			c.make(w, dev)
			w.overlayExt4(dev)
			out, _ := exec.Command("wipefs", "--no-act", "--json", dev).Output()
			if !strings.Contains(string(out), `"ext4"`) {
				t.Fatalf("wipefs %s finds no ext4 superblock; the test's overlay missed:\n%s", dev, out)
			}
			w.planConfig(cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "uuid": "` + u1 + `", "path": "/var"}]}`))
			before := w.hashes()
			failed, fout, log := w.sequence(nil)
			if failed != "disks" || !regexp.MustCompile(c.why).MatchString(fout) {
				t.Errorf("stage %q failed with:\n%s\nwant the disks stage to refuse with %q\nlog:\n%s", failed, fout, c.why, log)
			}
			w.planSame(before)
		})
	}
}
