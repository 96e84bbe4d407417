package disks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
)

// FSAction is what happens to one filesystem.
type FSAction string

const (
	FSKeep    FSAction = "keep"
	FSCreate  FSAction = "create"
	FSWipe    FSAction = "wipe"
	FSNothing FSAction = "nothing"
)

// FSPlan is one filesystem's fate.
type FSPlan struct {
	Device                string // as the config names it
	Node                  string // the device node it is (or will be)
	Format, Label, UUID   string
	Options, MountOptions []string
	Path                  string
	Action                FSAction
	Why                   string
	Have                  Probe // what is on the device now
	Wipe                  bool
	// deferred: on a RAID array or LUKS volume this run makes, so checked
	// once it is there
	deferred bool
	// size of the partition this run makes for it (0: read from the
	// device when it is there)
	size uint64
}

// Probe is what blkid finds on a device.
type Probe struct {
	Type, Label, UUID string
	PTType            string // a partition table
	// Others are the types of the other signatures on a device where
	// blkid's result is ambivalent (an ext4 with a ZFS label left at its
	// end); Type is then the one libblkid's single probe finds first, the
	// one Ignition goes by.
	Others []string
}

func (p Probe) String() string {
	switch {
	case p.Type != "":
		s := p.Type
		if p.Label != "" {
			s += fmt.Sprintf(" label %q", p.Label)
		}
		if p.UUID != "" {
			s += " uuid " + p.UUID
		}
		if len(p.Others) > 0 {
			s += " (and " + strings.Join(p.Others, ", ") + " signatures)"
		}
		return s
	case p.PTType != "":
		return "a " + p.PTType + " partition table"
	case len(p.Others) > 0:
		return strings.Join(p.Others, ", ") + " signatures"
	}
	return "nothing"
}

// found says whether anything is there.
func (p Probe) found() bool { return p.Type != "" || p.PTType != "" || len(p.Others) > 0 }

// probe runs blkid in low-level mode on a device, or on a stretch of a
// disk (a partition this run is about to create there).
//
// When blkid finds more than one signature it reports an ambivalent
// result and no TYPE (exit status 8 with util-linux 2.38; older ones exit
// 2 with "ambivalent result" on stderr). Ignition's libblkid probe then
// falls back to a single probing step: the first signature in libblkid's
// probing order wins, with a warning. So does this probe: the device's
// signatures, in that order, from wipefs --no-act (which walks the same
// probing chain), or, on a stretch of a disk, blkid restricted to each
// type this stage knows in libblkid's order.
func (p *planner) probe(ctx context.Context, dev string, offset, size uint64) (Probe, error) {
	res, err := p.blkid(ctx, dev, offset, size, "")
	code := command.ExitCode(err)
	ambivalent := code == 8 || (code == 2 && bytes.Contains(res.Stderr, []byte("ambivalent")))
	switch {
	case ambivalent:
		pr, err := p.probeAmbivalent(ctx, dev, offset, size)
		if err != nil {
			return Probe{}, fmt.Errorf("probing %s (several signatures): %w", dev, err)
		}
		if p.log != nil {
			p.log.Warnf("%s holds several signatures; going by the first, as Ignition does: %s", dev, pr)
		}
		return pr, nil
	case code == 2:
		return Probe{}, nil // nothing found
	case err != nil:
		return Probe{}, fmt.Errorf("probing %s: %w", dev, err)
	}
	return parseUdev(res.Stdout), nil
}

func (p *planner) blkid(ctx context.Context, dev string, offset, size uint64, only string) (command.Result, error) {
	args := []string{"-p", "-o", "udev"}
	if size > 0 {
		args = append(args, "--offset", strconv.FormatUint(offset, 10), "--size", strconv.FormatUint(size, 10))
	}
	if only != "" {
		args = append(args, "-n", only)
	}
	args = append(args, dev)
	return p.run.Run(ctx, command.Cmd{Name: "blkid", Args: args, Quiet: true})
}

// parseUdev reads blkid's udev output. The label and UUID come from its
// _ENC values, where every byte but letters, digits, "#+-.:=@_" and
// UTF-8 is \xHH (a backslash too): the one form that decodes back to the
// bytes on the disk. (The export output shell-escapes spaces, quotes and
// dollars and writes other bytes as "M-" and "^" sequences a label could
// also hold, so "my data" read back as `my\ data` and never matched.)
func parseUdev(out []byte) Probe {
	var pr Probe
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "ID_FS_TYPE":
			pr.Type = v
		case "ID_FS_LABEL_ENC":
			pr.Label = decodeUdev(v)
		case "ID_FS_UUID_ENC":
			pr.UUID = decodeUdev(v)
		case "ID_PART_TABLE_TYPE":
			pr.PTType = v
		}
	}
	return pr
}

// decodeUdev undoes libblkid's blkid_encode_string (\xHH for a byte).
func decodeUdev(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// probeOrder is the part of libblkid's (2.38) superblock probing order
// that holds the types this stage makes or reuses: LUKS among the
// volumes, before every filesystem; then vfat, swap, xfs, ext4, ..., btrfs.
var probeOrder = []string{"crypto_LUKS", "vfat", "swap", "xfs", "ext4", "btrfs"}

// partitionTables are the types wipefs reports for partition tables
// (libblkid's partitions chain, probed after every superblock).
var partitionTables = map[string]bool{"gpt": true, "PMBR": true, "dos": true, "atari": true,
	"bsd": true, "mac": true, "sgi": true, "solaris": true, "sun": true, "unixware": true, "minix": true, "aix": true}

func (p *planner) probeAmbivalent(ctx context.Context, dev string, offset, size uint64) (Probe, error) {
	if size > 0 {
		var pr Probe
		for _, t := range probeOrder {
			res, err := p.blkid(ctx, dev, offset, size, t)
			if command.ExitCode(err) == 2 {
				continue
			}
			if err != nil {
				return Probe{}, err
			}
			if pr.Type == "" {
				pr = parseUdev(res.Stdout)
			} else {
				pr.Others = append(pr.Others, t)
			}
		}
		if pr.Type == "" {
			pr.Others = []string{"unknown"}
		}
		return pr, nil
	}
	res, err := p.run.Run(ctx, command.Cmd{Name: "wipefs", Args: []string{"--no-act", "--json", dev}, Quiet: true})
	if err != nil {
		return Probe{}, err
	}
	var out struct {
		Signatures []struct {
			Type  string  `json:"type"`
			Label *string `json:"label"`
			UUID  *string `json:"uuid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(res.Stdout, &out); err != nil {
		return Probe{}, fmt.Errorf("wipefs --json: %w", err)
	}
	var pr Probe
	seen := map[string]bool{}
	for _, s := range out.Signatures {
		switch {
		case partitionTables[s.Type]:
			if pr.Type == "" && pr.PTType == "" {
				pr.PTType = s.Type
			} else if !seen[s.Type] {
				pr.Others = append(pr.Others, s.Type)
			}
		case pr.Type == "" && pr.PTType == "":
			pr.Type = s.Type
			if s.Label != nil {
				pr.Label = *s.Label
			}
			if s.UUID != nil {
				pr.UUID = *s.UUID
			}
		case !seen[s.Type] && s.Type != pr.Type:
			pr.Others = append(pr.Others, s.Type)
		}
		seen[s.Type] = true
	}
	return pr, nil
}

// planFS applies Ignition's reuse rules: no wipeFilesystem and the same
// format with matching label and UUID (where given) keeps the filesystem;
// nothing there makes one; anything else there is refused, unless
// wipeFilesystem.
func (p *planner) planFS(ctx context.Context, f config.Filesystem, fut map[string]future, deferred map[string]bool) (*FSPlan, error) {
	fp := &FSPlan{Device: f.Device, Format: deref(f.Format), Label: deref(f.Label), UUID: deref(f.UUID),
		Options: f.Options, MountOptions: f.MountOptions, Path: deref(f.Path), Wipe: isTrue(f.WipeFilesystem)}
	if err := fp.checkArgs(); err != nil {
		return nil, err
	}
	if deferred[f.Device] {
		if size := p.volumeSizes[f.Device]; size > 0 && fp.Format != "none" {
			if err := checkSize(fp.Format, size, fp.Options); err != nil {
				return nil, fmt.Errorf("filesystem on %s (a LUKS volume this run makes): %w", f.Device, err)
			}
		}
		fp.Node, fp.deferred = f.Device, true
		fp.Action, fp.Why = FSCreate, "unless what is there then can be reused: checked once the device is there"
		return fp, nil
	}
	if fp.Format == "" {
		fp.Action, fp.Why = FSNothing, "no format given"
		if n, ok := fut[f.Device]; ok {
			fp.Node = n.node
		} else if node, err := p.device(ctx, f.Device); err == nil {
			fp.Node = node
		} else {
			return nil, err
		}
		return fp, nil
	}
	switch fp.Format {
	case "ext4", "btrfs", "xfs", "swap", "vfat", "none":
	default:
		return nil, fmt.Errorf("filesystem on %s: format %s: %w", f.Device, fp.Format, ErrNotSupported)
	}
	n, planned := fut[f.Device]
	fresh := planned && (n.fresh || !exists(n.node))
	if fresh {
		fp.Node = n.node
		ss := uint64(n.disk.Before.SectorSize)
		fp.size = n.part.Size * ss
		have, err := p.probe(ctx, n.disk.Node, n.part.Start*ss, n.part.Size*ss)
		if err != nil {
			return nil, err
		}
		fp.Have = have
	} else {
		node := n.node // a kept partition of a planned disk: its node, not a /dev/disk link udev may not have made
		if !planned {
			var err error
			if node, err = p.device(ctx, f.Device); err != nil {
				return nil, err
			}
		}
		fp.Node = node
		var err error
		if fp.Have, err = p.probe(ctx, node, 0, 0); err != nil {
			return nil, err
		}
	}
	return fp, p.decideFS(fp, !fresh)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// decideFS applies the reuse rules to what was found on the device.
func (p *planner) decideFS(fp *FSPlan, checkInUse bool) error {
	have, f := fp.Have, fp
	switch {
	case fp.Wipe:
		fp.Action, fp.Why = FSCreate, "wipeFilesystem"
		if have.found() {
			fp.Why += ", replacing " + have.String()
		}
		if fp.Format == "none" {
			fp.Action = FSWipe
		}
	case have.Type == "" && (have.PTType != "" || len(have.Others) > 0):
		return fmt.Errorf("filesystem on %s: the device holds %s; set wipeFilesystem to replace it", f.Device, have)
	case have.Type == "":
		fp.Action, fp.Why = FSCreate, "nothing there"
		if fp.Format == "none" {
			fp.Action, fp.Why = FSNothing, "nothing there, as asked"
		}
	case fp.Format == "none":
		return fmt.Errorf("filesystem on %s: format is none but the device holds %s; set wipeFilesystem to erase it", f.Device, have)
	case blkidType(fp.Format) != have.Type:
		return fmt.Errorf("filesystem on %s: the device holds %s, not %s; set wipeFilesystem to replace it", f.Device, have, fp.Format)
	case fp.Label != "" && fp.Label != have.Label:
		return fmt.Errorf("filesystem on %s: %s has label %q, not %q; set wipeFilesystem to replace it", f.Device, have.Type, have.Label, fp.Label)
	case fp.UUID != "" && !sameUUID(fp.UUID, have.UUID):
		return fmt.Errorf("filesystem on %s: %s has uuid %s, not %s; set wipeFilesystem to replace it", f.Device, have.Type, have.UUID, fp.UUID)
	default:
		fp.Action, fp.Why = FSKeep, "reusing "+have.String()
		if len(have.Others) > 0 {
			fp.Why += "; the other signatures stay"
		}
	}
	if fp.Action == FSCreate {
		size := fp.size
		if size == 0 {
			size = deviceSize(p.sys, fp.Node)
		}
		if err := checkSize(fp.Format, size, fp.Options); err != nil {
			return fmt.Errorf("filesystem on %s: %w", f.Device, err)
		}
	}
	if (fp.Action == FSCreate || fp.Action == FSWipe) && checkInUse {
		if why, err := p.sys.InUse(fp.Node); err != nil {
			return fmt.Errorf("filesystem on %s: %w", f.Device, err)
		} else if why != "" {
			return fmt.Errorf("filesystem on %s: refusing to change a device in use: %s", f.Device, why)
		}
	}
	return nil
}

// checkArgs refuses, before anything is probed or written, a label the
// format cannot hold and options that name another device.
func (fp *FSPlan) checkArgs() error {
	if fp.Format == "" || fp.Format == "none" {
		return nil
	}
	if err := checkLabel(fp.Format, fp.Label); err != nil {
		return fmt.Errorf("filesystem on %s: %w", fp.Device, err)
	}
	// a label set in options is made as well (or instead, without a
	// label field): held to the same limits
	for _, l := range optionLabels(fp.Format, fp.Options) {
		if err := checkLabel(fp.Format, l); err != nil {
			return fmt.Errorf("filesystem on %s: options: %w", fp.Device, err)
		}
	}
	if m, ok := mkfs[fp.Format]; ok {
		if err := checkOptions(m.name, fp.Options); err != nil {
			return fmt.Errorf("filesystem on %s: %w", fp.Device, err)
		}
	}
	return nil
}

// blkidType is the TYPE blkid reports for a config format.
func blkidType(format string) string {
	if format == "vfat" {
		return "vfat"
	}
	return format
}

func sameUUID(a, b string) bool {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "")) }
	return norm(a) == norm(b)
}

// mkfs is how each format is made: the program, its force flag, and how
// it takes a UUID and a label.
var mkfs = map[string]struct {
	name  string
	force []string
	uuid  func(string) []string
	label string
}{
	"ext4":  {"mkfs.ext4", []string{"-F"}, func(u string) []string { return []string{"-U", u} }, "-L"},
	"btrfs": {"mkfs.btrfs", []string{"--force"}, func(u string) []string { return []string{"-U", u} }, "-L"},
	"xfs":   {"mkfs.xfs", []string{"-f"}, func(u string) []string { return []string{"-m", "uuid=" + u} }, "-L"},
	"swap":  {"mkswap", []string{"-f"}, func(u string) []string { return []string{"-U", u} }, "-L"},
	"vfat":  {"mkfs.fat", nil, func(u string) []string { return []string{"-i", strings.ReplaceAll(u, "-", "")} }, "-n"},
}

// cmds are the programs that make the filesystem: wipefs when something
// is there to erase, then mkfs with the config's options first, ours
// after and the device last.
func (fp *FSPlan) cmds() []command.Cmd {
	var out []command.Cmd
	if fp.Action != FSCreate && fp.Action != FSWipe {
		return nil
	}
	if fp.Have.found() || fp.Action == FSWipe {
		out = append(out, command.Cmd{Name: "wipefs", Args: []string{"-a", fp.Node}})
	}
	if fp.Action == FSWipe {
		return out
	}
	m, ok := mkfs[fp.Format]
	if !ok {
		return out
	}
	args := append(append([]string(nil), fp.Options...), m.force...)
	if fp.UUID != "" {
		args = append(args, m.uuid(fp.UUID)...)
	}
	if fp.Label != "" {
		args = append(args, m.label, fp.Label)
	}
	name := m.name
	return append(out, command.Cmd{Name: name, Args: append(args, fp.Node)})
}
