package disks

import (
	"fmt"
	"io"
	"strings"

	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/redact"
)

// Print writes the plan for -dry-run.
func (pl *Plan) Print(w io.Writer) {
	if len(pl.Disks)+len(pl.Raids)+len(pl.Luks)+len(pl.Filesystems) == 0 {
		fmt.Fprintln(w, "disks: nothing to do")
	}
	for _, dp := range pl.Disks {
		ss := uint64(dp.Before.SectorSize)
		fmt.Fprintf(w, "disks: disk %s (%s, %s, %s)\n", dp.Device, dp.Node, human(dp.Before.Sectors*ss), tableText(dp.Before))
		if dp.WipeTable {
			fmt.Fprintf(w, "disks:   wipe the partition table\n")
		}
		for _, pp := range dp.Parts {
			line := fmt.Sprintf("disks:   partition %d", pp.Number)
			if pp.Label != "" {
				line += fmt.Sprintf(" %q", pp.Label)
			}
			line += ": " + string(pp.Action)
			if pp.Action != PartDelete && pp.Action != PartNothing {
				line += fmt.Sprintf(", start %s, size %s", human(pp.Start*ss), human(pp.Size*ss))
			}
			if pp.Why != "" {
				line += " (" + pp.Why + ")"
			}
			fmt.Fprintln(w, line)
		}
		switch {
		case dp.Ops != nil && pl.p != nil && pl.p.writer == WriterSgdisk:
			fmt.Fprintf(w, "disks:   would run %s\n", command.Cmd{Name: "sgdisk", Args: dp.SgdiskArgs()})
		case dp.Ops != nil:
			fmt.Fprintf(w, "disks:   would write the partition table: %s\n", describeWrite(dp))
		case dp.Sync:
			fmt.Fprintf(w, "disks:   the partition table stays as it is; the kernel will be told the table\n")
		case !dp.WipeTable:
			fmt.Fprintf(w, "disks:   the partition table stays as it is\n")
		}
	}
	for _, r := range pl.Raids {
		fmt.Fprintf(w, "disks: RAID %s (%s, %s over %s): %s (%s)\n", r.Name, r.Path(), r.Level, strings.Join(r.Nodes, " "), r.Action, r.Why)
		if r.Action == "create" {
			fmt.Fprintf(w, "disks:   would run %s\n", r.cmd())
		}
	}
	for _, l := range pl.Luks {
		key := "a key file from the config"
		switch {
		case l.generated:
			key = "a random key"
		case hasClevis(l.Clevis):
			key += " (not kept in the target: clevis opens it)"
		}
		line := fmt.Sprintf("disks: LUKS %s on %s (%s): %s with %s", l.Name, l.Device, l.Node, l.Action, key)
		if hasClevis(l.Clevis) {
			pin, _ := l.clevisPin()
			line += ", bound with clevis " + pin
		}
		fmt.Fprintf(w, "%s (%s)\n", line, l.Why)
		for _, t := range l.Tang {
			from := "served by the server"
			if t.Offline {
				from = "from the config"
			}
			fmt.Fprintf(w, "disks:   tang %s: advertisement (%s) signed by the key with thumbprint %s (%s)\n", redact.URL(t.URL), from, t.Thumbprint, t.Hash)
		}
	}
	for _, fp := range pl.Filesystems {
		line := fmt.Sprintf("disks: filesystem on %s (%s): %s %s", fp.Device, fp.Node, fp.Action, fp.Format)
		if fp.Label != "" {
			line += fmt.Sprintf(" label %q", fp.Label)
		}
		if fp.UUID != "" {
			line += " uuid " + fp.UUID
		}
		fmt.Fprintf(w, "%s (%s)\n", line, fp.Why)
		for _, c := range fp.cmds() {
			fmt.Fprintf(w, "disks:   would run %s\n", c)
		}
	}
}

// describeWrite says what the table write does, operation by operation:
// each deletion, and each new partition with its sectors (inclusive),
// name, type and GUID.
func describeWrite(dp *DiskPlan) string {
	var out []string
	for _, op := range dp.Ops {
		if op.Delete {
			out = append(out, fmt.Sprintf("delete partition %d", op.Number))
			continue
		}
		s := fmt.Sprintf("partition %d sectors %d-%d", op.Number, op.Start, op.End)
		if op.Name != "" {
			s += fmt.Sprintf(" name %q", op.Name)
		}
		s += " type " + op.Type
		if op.GUID != "" {
			s += " guid " + op.GUID
		} else {
			s += " random guid"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func tableText(t blockdev.Table) string {
	switch {
	case t.Corrupt:
		return "damaged GPT"
	case !t.GPT:
		return "no GPT"
	}
	return fmt.Sprintf("GPT with %d partition(s)", len(t.Partitions))
}
