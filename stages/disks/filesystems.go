package disks

import (
	"bufio"
	"bytes"
	"context"
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
}

// Probe is what blkid finds on a device.
type Probe struct {
	Type, Label, UUID string
	PTType            string // a partition table
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
		return s
	case p.PTType != "":
		return "a " + p.PTType + " partition table"
	}
	return "nothing"
}

// probe runs blkid in low-level mode on a device, or on a stretch of a
// disk (a partition this run is about to create there).
func (p *planner) probe(ctx context.Context, dev string, offset, size uint64) (Probe, error) {
	args := []string{"-p", "-o", "export"}
	if size > 0 {
		args = append(args, "--offset", strconv.FormatUint(offset, 10), "--size", strconv.FormatUint(size, 10))
	}
	args = append(args, dev)
	res, err := p.run.Run(ctx, command.Cmd{Name: "blkid", Args: args, Quiet: true})
	if command.ExitCode(err) == 2 {
		return Probe{}, nil // nothing found
	}
	if err != nil {
		return Probe{}, fmt.Errorf("probing %s: %w", dev, err)
	}
	var pr Probe
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "TYPE":
			pr.Type = v
		case "LABEL":
			pr.Label = v
		case "UUID":
			pr.UUID = v
		case "PTTYPE":
			pr.PTType = v
		}
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
	if deferred[f.Device] {
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
		if have.Type != "" || have.PTType != "" {
			fp.Why += ", replacing " + have.String()
		}
		if fp.Format == "none" {
			fp.Action = FSWipe
		}
	case have.Type == "" && have.PTType != "":
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
	if fp.Have.Type != "" || fp.Have.PTType != "" || fp.Action == FSWipe {
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
