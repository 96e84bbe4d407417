package disks

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ignition-go/ignition/internal/blockdev"
)

// What mkfs, mkswap and cryptsetup would refuse (or silently change) is
// refused in the plan, before the first write: a label too long for its
// format or with characters the format cannot hold, a device too small
// for the format, and options that name another device. Each limit below
// was measured on Debian 12's tools (e2fsprogs 1.47.0, xfsprogs 6.1.0,
// btrfs-progs 6.2, dosfstools 4.2, util-linux 2.38.1, cryptsetup 2.6.1)
// on image files of growing size; the comment says what the tool did.

const (
	kib = uint64(1) << 10
	mib = uint64(1) << 20
)

// fsLimit is one format's label and size limits.
type fsLimit struct {
	label   int    // longest label, in bytes
	minSize uint64 // smallest device mkfs accepts, in bytes
	// labelChars, when set, checks the characters a label may hold
	labelChars func(string) error
}

var fsLimits = map[string]fsLimit{
	// mke2fs 1.47.0: a 17-byte label is truncated to 16 with a warning;
	// 101 KiB fails ("Illegal inode number"), 104 KiB is the smallest made
	"ext4": {label: 16, minSize: 104 * kib},
	// mkfs.xfs 6.1.0: a 13-byte label is refused; 300 MiB - 512 bytes is
	// refused, 300 MiB is made
	"xfs": {label: 12, minSize: 300 * mib},
	// mkfs.btrfs 6.2: "label ... is too long (max 255)"; 108 MiB: "minimum
	// size for each btrfs device is 114294784" (109 MiB)
	"btrfs": {label: 255, minSize: 109 * mib},
	// mkswap 2.38.1: a 16-byte label "was truncated" to 15; 36 KiB: "swap
	// area needs to be at least 40 KiB"
	"swap": {label: 15, minSize: 40 * kib},
	// mkfs.fat 4.2: "Label can be no longer than 11 characters"; 48 KiB:
	// "Too few blocks for viable filesystem", 50 KiB is made
	"vfat": {label: 11, minSize: 50 * kib, labelChars: vfatLabel},
}

// vfatForbidden are the characters mkfs.fat 4.2 refuses in a label ("Labels
// with characters *?.,;:/\|+=<>[]" are not allowed"), each tried alone.
const vfatForbidden = `*?.,;:/\|+=<>[]"`

// vfatLabel applies mkfs.fat 4.2's rules: none of vfatForbidden, no
// leading space ("Label can't start with a space character"), and plain
// ASCII (é and Ä were refused as "characters below 0x20" once converted
// to the DOS code page).
func vfatLabel(l string) error {
	if i := strings.IndexAny(l, vfatForbidden); i >= 0 {
		return fmt.Errorf("vfat labels cannot hold %q (none of %s)", l[i], vfatForbidden)
	}
	if strings.HasPrefix(l, " ") {
		return fmt.Errorf("vfat labels cannot start with a space")
	}
	// mkfs.fat pads the label with spaces, and blkid reads it back
	// without them ("EFI " becomes "EFI"); "NO NAME" is FAT's word for no
	// label (blkid reports none): either would never match the config
	// again, and a rerun would refuse the filesystem it made
	if strings.HasSuffix(l, " ") {
		return fmt.Errorf("vfat labels cannot end with a space (it is read back without it)")
	}
	if l == "NO NAME" {
		return fmt.Errorf("%q is FAT's word for no label", l)
	}
	for _, r := range l {
		if r > 0x7e {
			return fmt.Errorf("vfat labels are plain ASCII, not %q", r)
		}
	}
	return nil
}

// fatSizes are the sizes mkfs.fat 4.2 accepts with -F: FAT12 up to
// 255 MiB (256 MiB: "Attempting to create a too small or a too large
// filesystem"), FAT16 from 8208 KiB (8207 KiB refused) to 4095 MiB (4096
// MiB refused); FAT32 made from 1 MiB up (with a warning below 33 MiB).
var fatSizes = map[string][2]uint64{
	"12": {50 * kib, 256*mib - 1},
	"16": {8208 * kib, 4096*mib - 1},
	"32": {50 * kib, 0},
}

// luksLabelMax: cryptsetup 2.6.1 formats with a 100-byte --label and keeps
// its first 47 bytes, silently.
const luksLabelMax = 47

// luksMinSize: cryptsetup 2.6.1's LUKS2 header takes 16 MiB; on a 16 MiB
// device luksFormat succeeds but "Device ... is too small for activation,
// there is no remaining space for data", so the volume could never open.
const luksMinSize = 16*mib + 1

// checkLabel refuses what the format's tool would refuse or cut.
func checkLabel(format, label string) error {
	if label == "" {
		return nil
	}
	if err := plainText(label); err != nil {
		return fmt.Errorf("label %q: %w", label, err)
	}
	lim, ok := fsLimits[format]
	if !ok {
		return nil
	}
	if len(label) > lim.label {
		return fmt.Errorf("label %q is %d bytes; %s labels hold at most %d", label, len(label), format, lim.label)
	}
	if lim.labelChars != nil {
		if err := lim.labelChars(label); err != nil {
			return fmt.Errorf("label %q: %w", label, err)
		}
	}
	return nil
}

// plainText refuses NUL and control characters (an argv cannot carry a NUL
// at all; a tab or newline in a label breaks fstab, crypttab and udev's
// by-label links) and invalid UTF-8.
func plainText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character %q", r)
		}
	}
	return nil
}

// labelOptions are the options that set a label, per format (short,
// then long).
var labelOptions = map[string][2]string{
	"ext4": {"-L", ""}, "xfs": {"-L", ""}, "btrfs": {"-L", "--label"}, "swap": {"-L", "--label"}, "vfat": {"-n", ""},
}

// optionLabels are the labels options set ("-L x", "-Lx", "--label x",
// "--label=x").
func optionLabels(format string, options []string) []string {
	flags, ok := labelOptions[format]
	if !ok {
		return nil
	}
	var out []string
	for i := 0; i < len(options); i++ {
		o := options[i]
		name, value, hasValue := strings.Cut(o, "=")
		switch {
		case o == flags[0] || (flags[1] != "" && o == flags[1]):
			if i+1 < len(options) {
				out = append(out, options[i+1])
				i++
			}
		case flags[1] != "" && hasValue && name == flags[1]:
			out = append(out, value)
		case strings.HasPrefix(o, flags[0]) && !strings.HasPrefix(o, "--") && len(o) > 2:
			out = append(out, o[2:])
		}
	}
	return out
}

// checkSize refuses a device too small for the format (size 0: unknown,
// not checked). options can change the layout: btrfs's --mixed lowers its
// minimum (not checked then), vfat's -F picks the FAT size, and a size
// set in options (mkfs.btrfs -b, mkfs.xfs -d size=) must fit the device
// and is held to the minimum in its stead.
func checkSize(format string, size uint64, options []string) error {
	if size == 0 {
		return nil
	}
	lim, ok := fsLimits[format]
	if !ok {
		return nil
	}
	if want, opt, ok := sizeOption(format, options); ok {
		// mkfs.btrfs 6.2: "ERROR: /dev/loop3 is smaller than requested
		// size"; mkfs.xfs 6.1: "size 400m too large for device"
		if want > size {
			return fmt.Errorf("option %s asks for %s; the device is %s", opt, sizeText(want), sizeText(size))
		}
		size = want
	}
	if format == "btrfs" && (hasOption(options, "--mixed") || hasOption(options, "-M")) {
		return nil
	}
	if format == "vfat" {
		if fat := fatBits(options); fat != "" {
			r, ok := fatSizes[fat]
			if !ok {
				return fmt.Errorf("mkfs.fat -F %s: the FAT size is 12, 16 or 32", fat)
			}
			if size < r[0] {
				return fmt.Errorf("the device is %s; FAT%s needs at least %s", sizeText(size), fat, sizeText(r[0]))
			}
			if r[1] != 0 && size > r[1] {
				return fmt.Errorf("the device is %s; FAT%s holds less than %s", sizeText(size), fat, sizeText(r[1]+1))
			}
			return nil
		}
	}
	if size < lim.minSize {
		return fmt.Errorf("the device is %s; %s needs at least %s", sizeText(size), format, sizeText(lim.minSize))
	}
	return nil
}

// sizeOption is the filesystem size options set: mkfs.btrfs's -b and
// --byte-count, mkfs.xfs's -d size= (a number of bytes with an optional
// binary suffix k, m, g, t, p, e; xfs's "s" counts 512-byte sectors). A
// size that cannot be read is left to mkfs.
func sizeOption(format string, options []string) (uint64, string, bool) {
	var raw, opt string
	for i, o := range options {
		switch format {
		case "btrfs":
			name, value, hasValue := strings.Cut(o, "=")
			switch {
			case (o == "-b" || o == "--byte-count") && i+1 < len(options):
				raw, opt = options[i+1], o+" "+options[i+1]
			case name == "--byte-count" && hasValue:
				raw, opt = value, o
			case strings.HasPrefix(o, "-b") && len(o) > 2 && !strings.HasPrefix(o, "--"):
				raw, opt = o[2:], o
			}
		case "xfs":
			sub := ""
			switch {
			case o == "-d" && i+1 < len(options):
				sub = options[i+1]
			case strings.HasPrefix(o, "-d") && len(o) > 2:
				sub = o[2:]
			}
			for _, kv := range strings.Split(sub, ",") {
				if v, ok := strings.CutPrefix(kv, "size="); ok {
					raw, opt = v, "-d size="+v
				}
			}
		}
	}
	if raw == "" {
		return 0, "", false
	}
	mult := uint64(1)
	switch strings.ToLower(raw[len(raw)-1:]) {
	case "k":
		mult = kib
	case "m":
		mult = mib
	case "g":
		mult = 1 << 30
	case "t":
		mult = 1 << 40
	case "p":
		mult = 1 << 50
	case "e":
		mult = 1 << 60
	case "s":
		if format == "xfs" {
			mult = 512
		}
	}
	digits := raw
	if mult != 1 {
		digits = raw[:len(raw)-1]
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 || n > ^uint64(0)/mult {
		return 0, "", false
	}
	return n * mult, opt, true
}

// fatBits is the -F of mkfs.fat options ("-F 32", "-F32"), or "".
func fatBits(options []string) string {
	for i, o := range options {
		switch {
		case o == "-F" && i+1 < len(options):
			return options[i+1]
		case strings.HasPrefix(o, "-F") && len(o) > 2:
			return o[2:]
		}
	}
	return ""
}

func hasOption(options []string, name string) bool {
	for _, o := range options {
		if o == name || strings.HasPrefix(o, name+"=") {
			return true
		}
	}
	return false
}

// deviceOptions are the options of each program that take a device or a
// file standing for one: mkfs.xfs's external log and realtime devices and
// the sections' device names (-l logdev=, -r rtdev=, -d/-l/-r name=),
// mke2fs's external journal (-J device=, which also takes LABEL= and
// UUID=), cryptsetup's detached header and key files, mdadm's journal
// device, bitmap file and backup file. They are refused whatever they
// name: the plan would have to check that device like the config's own
// (not in use, not another volume's), and a file in the initramfs is gone
// at the switch to the real root.
var deviceOptions = map[string][]string{
	"mkfs.xfs":   {"logdev", "rtdev", "name"},
	"mkfs.ext4":  {"device"},
	"cryptsetup": {"--header", "--key-file", "-d", "--master-key-file", "--volume-key-file", "--header-backup-file", "--detached-header"},
	"mdadm":      {"--write-journal", "--backup-file", "--bitmap", "-b"},
}

// setByStage are the options that set what the config's own fields or
// the stage set, per program: mdadm 4.2 refuses a second --level ("raid
// level may only be set once") or --raid-devices ("set twice"), after the
// partition table is written; cryptsetup 2.6.1 takes the last --type, so
// "--type luks1" made a LUKS1 volume that the next run refused as not
// LUKS2 (its label dropped, its header size not the one planned); the
// key file is the stage's and is read whole: with --keyfile-size (-l) or
// --keyfile-offset luksFormat used part of it, and luksOpen and clevis,
// reading all of it, could not open the volume just formatted.
var setByStage = map[string][]string{
	"mdadm":      {"--level", "-l", "--raid-devices", "-n", "--spare-devices", "-x"},
	"cryptsetup": {"--type", "-M", "--keyfile-size", "-l", "--keyfile-offset", "--new-keyfile-size", "--new-keyfile-offset"},
}

// longAbbrev are the programs that parse long options with getopt_long,
// which takes any unambiguous abbreviation ("--write-j" for
// "--write-journal"); cryptsetup's popt does not.
var longAbbrev = map[string]bool{"mdadm": true, "mkfs.btrfs": true, "mkswap": true}

// checkOptions refuses options that name a device or take one: every
// argument, and every piece of one split at "=" and ",", that names a
// device (see namesDevice), and the options in deviceOptions in every
// form the program's parser takes: "--opt value", "--opt=value", an
// abbreviation of a long option (getopt_long), a short option with its
// value attached ("-d/file", "-Jdevice=..."). mkfs.btrfs and mdadm take
// extra devices as plain arguments: the same check finds them.
// ("--bitmap=internal" and "--bitmap=none" are mdadm's own bitmap, not a
// file, and are allowed.)
func checkOptions(program string, options []string) error {
	named := deviceOptions[program]
	for i, o := range options {
		if err := plainText(o); err != nil {
			return fmt.Errorf("option %q: %w", o, err)
		}
		for _, d := range named {
			if !strings.HasPrefix(d, "-") {
				if subOption(o, d) {
					return fmt.Errorf("option %q names another device (%s=); it is not supported (see docs/differences.md)", o, d)
				}
				continue
			}
			value, ok := optionValue(program, o, d)
			if !ok {
				continue
			}
			if program == "mdadm" && (d == "--bitmap" || d == "-b") {
				if value == "" && i+1 < len(options) {
					value = options[i+1]
				}
				if value == "internal" || value == "none" || value == "clustered" {
					continue
				}
			}
			return fmt.Errorf("option %s takes a device or a file; it is not supported (see docs/differences.md)", d)
		}
		for _, d := range setByStage[program] {
			value, ok := optionValue(program, o, d)
			if !ok {
				continue
			}
			if value == "" && i+1 < len(options) {
				value = options[i+1]
			}
			if program == "cryptsetup" && value == "luks2" {
				continue
			}
			return fmt.Errorf("option %q sets what the config or the stage sets (RAID level, devices and spares; LUKS2 as the type, the whole key file as the key); it is not supported", o)
		}
		// mkfs.btrfs makes any file its plain arguments name a device of
		// the filesystem: one in the initramfs is gone at the switch to the
		// real root, and the filesystem cannot be mounted without it
		if program == "mkfs.btrfs" && namesFile(o) {
			return fmt.Errorf("option %q names the file %s; mkfs.btrfs would make it a device of the filesystem (not supported, see docs/differences.md)", o, o)
		}
		for _, piece := range strings.FieldsFunc(o, func(r rune) bool { return r == '=' || r == ',' }) {
			if namesDevice(piece) {
				return fmt.Errorf("option %q names the device %s; options naming another device are not supported (see docs/differences.md)", o, piece)
			}
		}
	}
	return nil
}

// optionValue says whether argument o is option d (as the program's
// parser reads it), with the value attached to it ("" when the value is
// the next argument).
func optionValue(program, o, d string) (string, bool) {
	name, value, _ := strings.Cut(o, "=")
	switch {
	case strings.HasPrefix(d, "--"):
		if name == d {
			return value, true
		}
		// getopt_long: an abbreviation of at least one letter
		if longAbbrev[program] && strings.HasPrefix(name, "--") && len(name) > 2 && strings.HasPrefix(d, name) {
			return value, true
		}
	case o == d:
		return "", true
	case !strings.HasPrefix(o, "--") && strings.HasPrefix(o, d):
		return strings.TrimPrefix(o[len(d):], "="), true // "-d/file", "-b=internal"
	}
	return "", false
}

// subOption says whether a comma-separated sub-option list (as mkfs.xfs's
// -l and mke2fs's -J take) sets key, given apart from its option ("-J",
// "device=/dev/x") or attached to it ("-Jdevice=/dev/x").
func subOption(o, key string) bool {
	if len(o) > 2 && o[0] == '-' && o[1] != '-' {
		o = o[2:]
	}
	for _, kv := range strings.Split(o, ",") {
		if k, _, ok := strings.Cut(kv, "="); ok && k == key {
			return true
		}
	}
	return false
}

// namesDevice says whether s names a device: a path under /dev, a
// device tag (LABEL=, UUID=, PARTLABEL=, PARTUUID=: cut at "=" these are
// the bare words, caught by the option checks above), or a path, absolute
// or relative to this process's working directory (the programs run in
// it: "../dev/sdb" from /), that is or links to a block device.
func namesDevice(s string) bool {
	if s == "" || strings.HasPrefix(s, "-") {
		return false
	}
	abs := s
	if !filepath.IsAbs(s) {
		if !strings.Contains(s, "/") && s != "dev" {
			// a bare word ("single", "^has_journal") names a device only
			// when it is one in the working directory
			if st, err := os.Stat(s); err != nil || st.Mode()&os.ModeDevice == 0 {
				return false
			}
		}
		var err error
		if abs, err = filepath.Abs(s); err != nil {
			return false
		}
	}
	if c := filepath.Clean(abs); c == "/dev" || strings.HasPrefix(c, "/dev/") {
		return true
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return false
	}
	_, err = blockdev.DevNum(real)
	return err == nil
}

// namesFile says whether s is a path (it holds a "/") to an existing
// regular file.
func namesFile(s string) bool {
	if !strings.Contains(s, "/") || strings.HasPrefix(s, "-") {
		return false
	}
	st, err := os.Stat(s)
	return err == nil && st.Mode().IsRegular()
}

// deviceSize is a block device's size in bytes, from sysfs (0 when it
// cannot be read: not checked then).
func deviceSize(sys blockdev.Sys, node string) uint64 {
	name, err := sys.Name(node)
	if err != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(sys.Block(), name, "size"))
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n * 512
}

// sizeText renders a size in the unit the limits were measured in.
func sizeText(b uint64) string {
	switch {
	case b >= mib && b%mib == 0:
		return fmt.Sprintf("%d MiB", b/mib)
	case b >= mib:
		return fmt.Sprintf("%.1f MiB", float64(b)/float64(mib))
	case b%kib == 0:
		return fmt.Sprintf("%d KiB", b/kib)
	}
	return fmt.Sprintf("%d bytes", b)
}
