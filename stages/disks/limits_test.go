package disks

import (
	"strings"
	"testing"
)

// The limits measured on Debian 12's tools, one row per rule: a label or
// size just inside is accepted, just outside is refused.
func TestCheckLabel(t *testing.T) {
	for _, c := range []struct {
		format, label string
		bad           string // part of the error, "" when accepted
	}{
		{"ext4", strings.Repeat("e", 16), ""},
		{"ext4", strings.Repeat("e", 17), "ext4 labels hold at most 16"},
		{"xfs", strings.Repeat("x", 12), ""},
		{"xfs", strings.Repeat("x", 13), "xfs labels hold at most 12"},
		{"btrfs", strings.Repeat("b", 255), ""},
		{"btrfs", strings.Repeat("b", 256), "btrfs labels hold at most 255"},
		{"swap", strings.Repeat("s", 15), ""},
		{"swap", strings.Repeat("s", 16), "swap labels hold at most 15"},
		{"vfat", "EFI-SYSTEM", ""},
		{"vfat", "ABCDEFGHIJK", ""},
		{"vfat", "ABCDEFGHIJKL", "vfat labels hold at most 11"},
		{"vfat", "EFI.SYS", `cannot hold '.'`},
		{"vfat", "A*B", `cannot hold '*'`},
		{"vfat", `A"B`, `cannot hold '"'`},
		{"vfat", " EFI", "cannot start with a space"},
		{"vfat", "ÉFI", "plain ASCII"},
		{"ext4", "a\tb", "control character"},
		{"xfs", "a\x00b", "control character"},
		{"btrfs", "\xff", "UTF-8"},
		{"ext4", "", ""},
	} {
		err := checkLabel(c.format, c.label)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("checkLabel(%s, %q) = %v; want nil", c.format, c.label, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("checkLabel(%s, %q) = %v; want an error with %q", c.format, c.label, err, c.bad)
		}
	}
}

func TestCheckSize(t *testing.T) {
	for _, c := range []struct {
		format  string
		size    uint64
		options []string
		ok      bool
	}{
		{"xfs", 300 * mib, nil, true},
		{"xfs", 300*mib - 512, nil, false},
		{"btrfs", 109 * mib, nil, true},
		{"btrfs", 108 * mib, nil, false},
		{"btrfs", 64 * mib, []string{"--mixed"}, true},
		{"ext4", 104 * kib, nil, true},
		{"ext4", 101 * kib, nil, false},
		{"swap", 40 * kib, nil, true},
		{"swap", 36 * kib, nil, false},
		{"vfat", 50 * kib, nil, true},
		{"vfat", 48 * kib, nil, false},
		{"vfat", 8208 * kib, []string{"-F", "16"}, true},
		{"vfat", 8207 * kib, []string{"-F16"}, false},
		{"vfat", 4096 * mib, []string{"-F", "16"}, false},
		{"vfat", 255 * mib, []string{"-F", "12"}, true},
		{"vfat", 256 * mib, []string{"-F", "12"}, false},
		{"vfat", 1 * mib, []string{"-F", "32"}, true},
		{"vfat", 64 * mib, []string{"-F", "24"}, false},
		{"xfs", 0, nil, true}, // unknown: not checked
	} {
		err := checkSize(c.format, c.size, c.options)
		if (err == nil) != c.ok {
			t.Errorf("checkSize(%s, %d, %q) = %v; want ok=%v", c.format, c.size, c.options, err, c.ok)
		}
	}
}

func TestLuksLimits(t *testing.T) {
	l := &LuksPlan{Name: "v", Device: "/dev/x", Label: strings.Repeat("l", 47)}
	if err := l.checkArgs(); err != nil {
		t.Errorf("checkArgs(47-byte label) = %v; want nil", err)
	}
	l.Label += "l"
	if err := l.checkArgs(); err == nil || !strings.Contains(err.Error(), "at most 47") {
		t.Errorf("checkArgs(48-byte label) = %v; want refused", err)
	}
	l.Label = ""
	if err := l.checkSize(16 * mib); err == nil {
		t.Errorf("checkSize(16 MiB) = nil; want refused (no room for data after the header)")
	}
	if err := l.checkSize(16*mib + 512); err != nil {
		t.Errorf("checkSize(16 MiB + 512) = %v; want nil", err)
	}
	l.Options = []string{"--luks2-metadata-size", "64k"}
	if err := l.checkSize(1 * mib); err != nil {
		t.Errorf("checkSize(1 MiB) with the header sized by the options = %v; want nil", err)
	}
}

func TestCheckOptions(t *testing.T) {
	for _, c := range []struct {
		program string
		options []string
		ok      bool
	}{
		{"mkfs.btrfs", []string{"-d", "single", "/dev/loop7"}, false},
		{"mkfs.btrfs", []string{"-d", "raid1", "-m", "raid1"}, true},
		{"mkfs.xfs", []string{"-l", "logdev=/dev/loop7,size=10m"}, false},
		{"mkfs.xfs", []string{"-l", "logdev=relative"}, false},
		{"mkfs.xfs", []string{"-r", "rtdev=/srv/x"}, false},
		{"mkfs.xfs", []string{"-l", "size=10m", "-i", "size=512"}, true},
		{"mkfs.ext4", []string{"-J", "device=UUID=1234"}, false},
		{"mkfs.ext4", []string{"-J", "size=64", "-E", "lazy_itable_init=0"}, true},
		{"mkfs.ext4", []string{"-O", "^has_journal", "/dev/disk/by-label/OTHER"}, false},
		{"cryptsetup", []string{"--header", "/tmp/hdr"}, false},
		{"cryptsetup", []string{"--header=/dev/loop3"}, false},
		{"cryptsetup", []string{"--key-file", "/etc/k"}, false},
		{"cryptsetup", []string{"--cipher", "aes-xts-plain64", "--key-size", "512", "--pbkdf", "pbkdf2"}, true},
		{"mdadm", []string{"--write-journal", "/dev/loop4"}, false},
		{"mdadm", []string{"--write-journal=/dev/loop4"}, false},
		{"mdadm", []string{"--bitmap=internal", "--chunk", "64"}, true},
		{"mdadm", []string{"--bitmap", "none"}, true},
		{"mdadm", []string{"--bitmap", "/var/bm"}, false},
		{"mkfs.ext4", []string{"-L", "a\x00b"}, false},
	} {
		err := checkOptions(c.program, c.options)
		if (err == nil) != c.ok {
			t.Errorf("checkOptions(%s, %q) = %v; want ok=%v", c.program, c.options, err, c.ok)
		}
	}
}

func TestCheckRaidDevices(t *testing.T) {
	for _, c := range []struct {
		level  string
		active int
		ok     bool
	}{
		{"raid6", 4, true}, {"raid6", 3, false}, {"6", 3, false},
		{"raid5", 2, true}, {"raid5", 1, false},
		{"raid10", 1, false}, {"raid4", 1, false},
		{"raid1", 1, true}, {"raid0", 1, true}, {"linear", 1, true},
		{"raid1", 0, false},
	} {
		if err := checkRaidDevices(c.level, c.active); (err == nil) != c.ok {
			t.Errorf("checkRaidDevices(%s, %d) = %v; want ok=%v", c.level, c.active, err, c.ok)
		}
	}
}
