package disks

import (
	"os"
	"strings"
	"testing"
)

// Forms of options naming a device that the first checks missed: a path
// relative to the working directory the tools run in, a short option with
// its value attached, a getopt_long abbreviation, xfs's section names.
func TestCheckOptionsOtherForms(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", strings.Count(wd, "/"))
	for _, c := range []struct {
		program string
		options []string
		ok      bool
	}{
		{"mkfs.btrfs", []string{"-d", "single", up + "dev/null"}, false},
		{"mkfs.btrfs", []string{"-d", "single", "./" + up + "dev/loop9"}, false},
		{"mdadm", []string{up + "dev/loop9"}, false},
		{"mkfs.ext4", []string{"-Jdevice=LABEL=journal"}, false},
		{"mkfs.ext4", []string{"-Jdevice=UUID=0f3c6c5e-1111-4a4a-9999-000000000001"}, false},
		{"mkfs.ext4", []string{"-Jsize=64"}, true},
		{"mkfs.xfs", []string{"-llogdev=journal"}, false},
		{"mkfs.xfs", []string{"-d", "name=data.img"}, false},
		{"mkfs.xfs", []string{"-d", "agcount=8"}, true},
		{"cryptsetup", []string{"-d/run/key"}, false},
		{"cryptsetup", []string{"-dkey"}, false},
		{"mdadm", []string{"--write-j", "x"}, false},
		{"mdadm", []string{"--backup=/run/b"}, false},
		{"mdadm", []string{"--bitma=/var/bm"}, false},
		{"mdadm", []string{"-b/var/bm"}, false},
		{"mdadm", []string{"-binternal"}, true},
		{"mdadm", []string{"--bitmap=internal", "--assume-clean"}, true},
		{"mkfs.ext4", []string{"-E", "root_owner=0:0", "-T", "default", "-O", "^metadata_csum"}, true},
	} {
		err := checkOptions(c.program, c.options)
		if (err == nil) != c.ok {
			t.Errorf("checkOptions(%s, %q) = %v; want ok=%v", c.program, c.options, err, c.ok)
		}
	}
}

// A label given in options is held to the format's limits too; vfat
// labels that mkfs.fat changes without a word are refused.
func TestLabelsInOptionsAndVfatPadding(t *testing.T) {
	for _, c := range []struct {
		format, label string
		options       []string
		bad           string
	}{
		{"ext4", "", []string{"-L", strings.Repeat("e", 17)}, "ext4 labels hold at most 16"},
		{"ext4", "", []string{"-L" + strings.Repeat("e", 17)}, "ext4 labels hold at most 16"},
		{"btrfs", "ok", []string{"--label=" + strings.Repeat("b", 256)}, "at most 255"},
		{"vfat", "", []string{"-n", "EFI.SYS"}, `cannot hold '.'`},
		{"swap", "", []string{"--label", "s\tw"}, "control character"},
		{"ext4", "", []string{"-L", "fine"}, ""},
		{"vfat", "EFI ", nil, "cannot end with a space"},
		{"vfat", "NO NAME", nil, "no label"},
		{"vfat", "no name", nil, ""},
		{"vfat", "efi", nil, ""},
	} {
		fp := &FSPlan{Device: "/dev/x", Format: c.format, Label: c.label, Options: c.options}
		err := fp.checkArgs()
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("checkArgs(%s %q %q) = %v; want nil", c.format, c.label, c.options, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("checkArgs(%s %q %q) = %v; want an error with %q", c.format, c.label, c.options, err, c.bad)
		}
	}
	l := &LuksPlan{Name: "x", Options: []string{"--label", strings.Repeat("l", 48)}}
	if err := l.checkArgs(); err == nil || !strings.Contains(err.Error(), "at most 47") {
		t.Errorf("LUKS checkArgs with a 48-byte --label in options = %v; want refused", err)
	}
}

// blkid's udev output decodes to the label's bytes; its export output
// escaped spaces, quotes, dollars and non-ASCII bytes.
func TestParseUdevLabels(t *testing.T) {
	out := "ID_FS_LABEL=my_data$é\"\\\nID_FS_LABEL_ENC=my\\x20data\\x24é\\x22\\x5c\n" +
		"ID_FS_UUID=06f54b5d-4a84-4ab9-ac84-3f5dedccd722\nID_FS_UUID_ENC=06f54b5d-4a84-4ab9-ac84-3f5dedccd722\nID_FS_TYPE=ext4\n"
	got := parseUdev([]byte(out))
	want := Probe{Type: "ext4", Label: `my data$é"\`, UUID: "06f54b5d-4a84-4ab9-ac84-3f5dedccd722"}
	if got.Type != want.Type || got.Label != want.Label || got.UUID != want.UUID {
		t.Errorf("parseUdev = %+v; want %+v", got, want)
	}
	if pr := parseUdev([]byte("ID_PART_TABLE_UUID=x\nID_PART_TABLE_TYPE=gpt\n")); pr.PTType != "gpt" || pr.Type != "" {
		t.Errorf("parseUdev(a GPT) = %+v; want PTType gpt", pr)
	}
	for in, want := range map[string]string{`M-C\x5eAx\x5cy`: `M-C^Ax\y`, `a\x2`: `a\x2`, `\xzz`: `\xzz`, `tab\x09`: "tab\t"} {
		if got := decodeUdev(in); got != want {
			t.Errorf("decodeUdev(%q) = %q; want %q", in, got, want)
		}
	}
}

// A filesystem size set in options must fit the device and is held to the
// format's minimum (mkfs.btrfs and mkfs.xfs refused both, after the
// partition table was written).
func TestSizeInOptions(t *testing.T) {
	for _, c := range []struct {
		format  string
		size    uint64
		options []string
		bad     string
	}{
		{"btrfs", 200 * mib, []string{"-b", "300M"}, "option -b 300M asks for 300 MiB; the device is 200 MiB"},
		{"btrfs", 200 * mib, []string{"--byte-count=300m"}, "asks for 300 MiB"},
		{"btrfs", 200 * mib, []string{"-b300M"}, "asks for 300 MiB"},
		{"btrfs", 200 * mib, []string{"-b", "50M"}, "btrfs needs at least 109 MiB"},
		{"btrfs", 200 * mib, []string{"-b", "150M"}, ""},
		{"btrfs", 200 * mib, []string{"-M", "-b", "50M"}, ""},
		{"btrfs", 200 * mib, []string{"-b", "1x"}, ""}, // left to mkfs.btrfs
		{"xfs", 350 * mib, []string{"-d", "size=400m"}, "asks for 400 MiB"},
		{"xfs", 350 * mib, []string{"-d", "agcount=4,size=200m"}, "xfs needs at least 300 MiB"},
		{"xfs", 350 * mib, []string{"-dsize=614400s"}, ""},
		{"xfs", 350 * mib, []string{"-d", "size=8e"}, "asks for"},
	} {
		err := checkSize(c.format, c.size, c.options)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("checkSize(%s, %s, %q) = %v; want nil", c.format, sizeText(c.size), c.options, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("checkSize(%s, %s, %q) = %v; want an error with %q", c.format, sizeText(c.size), c.options, err, c.bad)
		}
	}
}

// Options that set what the config sets: mdadm fails on a second --level,
// after the table is written; cryptsetup takes the last --type.
func TestOptionsSetByTheStage(t *testing.T) {
	for _, c := range []struct {
		program string
		options []string
		ok      bool
	}{
		{"mdadm", []string{"--level", "5"}, false},
		{"mdadm", []string{"-l1"}, false},
		{"mdadm", []string{"--raid-devices=3"}, false},
		{"mdadm", []string{"--raid-d=3"}, false},
		{"mdadm", []string{"-x", "1"}, false},
		{"mdadm", []string{"--chunk", "64", "--metadata=1.2", "--name", "data"}, true},
		{"cryptsetup", []string{"--type", "luks1"}, false},
		{"cryptsetup", []string{"--type=plain"}, false},
		{"cryptsetup", []string{"-M", "luks1"}, false},
		{"cryptsetup", []string{"--type", "luks2", "--cipher", "aes-xts-plain64"}, true},
		{"cryptsetup", []string{"--keyfile-size", "4"}, false},
		{"cryptsetup", []string{"-l4"}, false},
		{"cryptsetup", []string{"--keyfile-offset=16"}, false},
	} {
		err := checkOptions(c.program, c.options)
		if (err == nil) != c.ok {
			t.Errorf("checkOptions(%s, %q) = %v; want ok=%v", c.program, c.options, err, c.ok)
		}
	}
}

// Label lengths are bytes, as the tools count them: "é" is two.
func TestLabelBytesNotRunes(t *testing.T) {
	for _, c := range []struct {
		format, label string
		ok            bool
	}{
		{"ext4", strings.Repeat("é", 8), true},
		{"ext4", strings.Repeat("é", 8) + "x", false},
		{"swap", strings.Repeat("é", 7) + "x", true},
		{"swap", strings.Repeat("é", 8), false},
		{"xfs", strings.Repeat("日", 4), true},
		{"xfs", strings.Repeat("日", 4) + "x", false},
		{"btrfs", strings.Repeat("é", 128), false},
		{"vfat", "é", false},
	} {
		if err := checkLabel(c.format, c.label); (err == nil) != c.ok {
			t.Errorf("checkLabel(%s, %q) = %v; want ok=%v", c.format, c.label, err, c.ok)
		}
	}
}

// mkfs.btrfs takes a regular file as a second device of the filesystem.
func TestBtrfsOptionNamesAFile(t *testing.T) {
	f := t.TempDir() + "/img"
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkOptions("mkfs.btrfs", []string{"-d", "single", f}); err == nil {
		t.Errorf("checkOptions(mkfs.btrfs, -d single %s) = nil; want refused", f)
	}
	if err := checkOptions("mkfs.btrfs", []string{"--rootdir", t.TempDir()}); err != nil {
		t.Errorf("checkOptions(mkfs.btrfs, --rootdir DIR) = %v; want nil", err)
	}
}
