package qemu

import (
	"encoding/json"
	"regexp"
	"testing"
)

// A RAID member and an open LUKS volume are in use (issue 17): in one
// guest boot, partition 1 of vdb is the only member of an assembled RAID1
// and partition 1 of vdc an open LUKS2 volume, both made with mdadm and
// cryptsetup before any stage runs. The disks stage refuses to recreate
// the RAID member's partition, to delete the LUKS volume's partition, and
// to make a filesystem over the LUKS volume, each naming what holds the
// device; the tables stay as they were and the array and the volume stay
// active.
func TestDisksInUseRAIDMemberAndOpenLUKS(t *testing.T) {
	bins := append([]string{"mdadm", "cryptsetup"}, diskBins...)
	needDiskHost(t, bins...)
	spare, raid, crypt := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "member", mib: 128}, &vdisk{serial: "crypt", mib: 128}
	disks := []*vdisk{spare, raid, crypt}
	qargs := makeDisks(t, disks...)
	storage := func(s map[string]any) map[string]any {
		return map[string]any{"ignition": map[string]any{"version": "3.4.0"}, "storage": s}
	}
	raidCfg := storage(map[string]any{"disks": []any{map[string]any{"device": "/dev/vdb", "partitions": []any{
		map[string]any{"number": 1, "sizeMiB": 32, "wipePartitionEntry": true}}}}})
	luksCfg := storage(map[string]any{"disks": []any{map[string]any{"device": "/dev/vdc", "partitions": []any{
		map[string]any{"number": 1, "shouldExist": false, "wipePartitionEntry": true}}}}})
	luksFSCfg := storage(map[string]any{"filesystems": []any{
		map[string]any{"device": "/dev/vdc1", "format": "ext4", "wipeFilesystem": true}}})

	var s script
	s.prelude(disks...)
	setup := []int{
		s.add("sgdisk -n 1:0:+64M -c 1:member /dev/vdb"),
		s.add("sgdisk -n 1:0:+64M -c 1:crypt /dev/vdc"),
		s.add("mdadm --create /dev/md/held --run --force --level=1 --raid-devices=1 --metadata=1.2 /dev/vdb1"),
		s.add("cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file /key /dev/vdc1"),
		s.add("cryptsetup open --key-file /key /dev/vdc1 held"),
	}
	tableB, tableC := s.add("sgdisk -p /dev/vdb"), s.add("sgdisk -p /dev/vdc")
	type run struct {
		config string
		fetch  int
		disks  int
		why    *regexp.Regexp
	}
	runs := []*run{
		{config: "/config.ign", why: regexp.MustCompile(`disk /dev/vdb: refusing to change a disk in use: vdb1 is held by md\d+`)},
		{config: "/luks.ign", why: regexp.MustCompile(`disk /dev/vdc: refusing to change a disk in use: vdc1 is held by dm-\d+`)},
		{config: "/luksfs.ign", why: regexp.MustCompile(`/dev/vdc1\b.*(in use|held).*dm-\d+`)},
	}
	for i, r := range runs {
		s.add("@env IGNITION_CONFIG_FILE=" + r.config)
		cache, state := "/run/inuse"+itoa(i)+".json", "/run/inuse-state"+itoa(i)
		r.fetch = s.stage("fetch-offline", cache, state)
		r.disks = s.stage("disks", cache, state)
	}
	tableB2, tableC2 := s.add("sgdisk -p /dev/vdb"), s.add("sgdisk -p /dev/vdc")
	mdstat := s.add("@cat /proc/mdstat")
	status := s.add("cryptsetup status held")

	mods := append([]string{"md_mod", "raid1", "dm_mod", "dm_crypt", "xts", "aesni_intel", "algif_skcipher"}, diskMods...)
	res := bootScript(t, guest{mods: mods, hostBins: bins, qemuArgs: qargs, files: map[string]string{
		"key": "in use", "luks.ign": inuseJSON(t, luksCfg), "luksfs.ign": inuseJSON(t, luksFSCfg)}}, s, disks, raidCfg)
	for _, i := range setup {
		res.ok(i)
	}
	for _, r := range runs {
		res.stageOK(r.fetch)
		c := res.get(r.disks)
		if c.rc == 0 {
			t.Errorf("%s with %s: rc 0; want a refusal of the device in use\n%s", c.line, r.config, c.out)
			continue
		}
		if !r.why.MatchString(c.out) {
			t.Errorf("%s with %s: rc %d, output does not match %q:\n%s", c.line, r.config, c.rc, r.why, c.out)
		}
		if regexp.MustCompile(`running (sgdisk|mkfs|mkswap|wipefs|cryptsetup luksFormat|mdadm --create)|writing the partition table`).MatchString(c.out) {
			t.Errorf("%s with %s: wrote before refusing:\n%s", c.line, r.config, c.out)
		}
	}
	if a, b := res.ok(tableB), res.ok(tableB2); a != b {
		t.Errorf("vdb's table changed:\n%s\nthen\n%s", a, b)
	}
	if a, b := res.ok(tableC), res.ok(tableC2); a != b {
		t.Errorf("vdc's table changed:\n%s\nthen\n%s", a, b)
	}
	if out := res.ok(mdstat); !regexp.MustCompile(`md\d+ : active raid1 vdb1\[0\]`).MatchString(out) {
		t.Errorf("/proc/mdstat: want the array of vdb1 still active:\n%s", out)
	}
	if out := res.ok(status); !regexp.MustCompile(`/dev/mapper/held is active`).MatchString(out) {
		t.Errorf("cryptsetup status held: want the volume still open:\n%s", out)
	}
}

func inuseJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The partitions of an md array the config names by its /dev/md/ link are
// known by the names mdadm's udev rules give them (/dev/md/<name>N), not
// there yet when the disks stage plans: a filesystem on /dev/md/parted1
// is made on partition 1 of that array (before, the plan waited for the
// name and failed).
func TestDisksMDPartitionNames(t *testing.T) {
	bins := append([]string{"mdadm", "readlink"}, diskBins...)
	needDiskHost(t, bins...)
	spare, md := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "mdmember", mib: 96}
	disks := []*vdisk{spare, md}
	qargs := makeDisks(t, disks...)
	cfg := map[string]any{"ignition": map[string]any{"version": "3.4.0"}, "storage": map[string]any{
		"disks": []any{map[string]any{"device": "/dev/md/parted", "wipeTable": true, "partitions": []any{
			map[string]any{"number": 1, "label": "one", "sizeMiB": 32},
			map[string]any{"number": 2, "label": "two"}}}},
		"filesystems": []any{
			map[string]any{"device": "/dev/md/parted2", "format": "ext4", "label": "MDTWO"},
			map[string]any{"device": "/dev/md/parted1", "format": "ext4", "label": "MDONE"}}}}
	var s script
	s.prelude(disks...)
	create := s.add("mdadm --create /dev/md/parted --run --force --level=1 --raid-devices=1 --metadata=1.2 /dev/vdb")
	link := s.add("readlink -f /dev/md/parted")
	fetch := s.stage("fetch-offline", "/run/md.json", "/run/md-state")
	stage := s.stage("disks", "/run/md.json", "/run/md-state")
	one, two := s.add("blkid -p -o export /dev/md127p1"), s.add("blkid -p -o export /dev/md127p2")
	mods := append([]string{"md_mod", "raid1"}, diskMods...)
	res := bootScript(t, guest{mods: mods, hostBins: bins, qemuArgs: qargs}, s, disks, cfg)
	res.ok(create)
	if got := res.ok(link); !regexp.MustCompile(`^/dev/md127\s*$`).MatchString(got) {
		t.Fatalf("/dev/md/parted is %q; want /dev/md127 (the names this test reads)", got)
	}
	res.stageOK(fetch)
	res.stageOK(stage)
	for i, want := range map[int]string{one: "MDONE", two: "MDTWO"} {
		if got := blkidExport(res.ok(i))["LABEL"]; got != want {
			t.Errorf("%s: LABEL %q; want %q", res.get(i).line, got, want)
		}
	}
}
