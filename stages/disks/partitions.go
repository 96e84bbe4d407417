package disks

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
)

// PartAction is what happens to one partition.
type PartAction string

const (
	PartKeep     PartAction = "keep"
	PartCreate   PartAction = "create"
	PartDelete   PartAction = "delete"
	PartRecreate PartAction = "delete and recreate"
	PartResize   PartAction = "resize"
	PartNothing  PartAction = "nothing"
)

// PartPlan is one partition's fate, in sectors of the disk.
type PartPlan struct {
	Number      int
	Action      PartAction
	Why         string
	Label       string
	Start, Size uint64
	Type, GUID  string
	Old         *blockdev.Partition // what is there now
}

// DiskPlan is what happens to one disk's partition table.
type DiskPlan struct {
	Device    string // as the config names it
	Node      string // the device node
	WipeTable bool
	Before    blockdev.Table
	Parts     []PartPlan
	// After is the table the disk will have; Args the sgdisk command
	// that makes it (nil: nothing to write).
	After blockdev.Table
	Args  []string
}

// Changes says whether the plan writes to the disk.
func (d *DiskPlan) Changes() bool { return d.WipeTable || d.Args != nil }

const mib = 1 << 20

func upper(s *string) string {
	if s == nil {
		return ""
	}
	return strings.ToUpper(*s)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func isTrue(b *bool) bool { return b != nil && *b }

// planDisk works out a disk's partitions as Ignition does (see
// docs/disks.md): numbers, then what each existing partition becomes, then
// start and size resolved by an sgdisk dry run on the disk itself.
func (p *planner) planDisk(ctx context.Context, d config.Disk, node string) (*DiskPlan, error) {
	t, err := blockdev.ReadTable(node)
	if err != nil {
		return nil, fmt.Errorf("disk %s: reading its partition table: %w", d.Device, err)
	}
	dp := &DiskPlan{Device: d.Device, Node: node, WipeTable: isTrue(d.WipeTable), Before: t}
	if t.Corrupt && !dp.WipeTable {
		return nil, fmt.Errorf("disk %s: its partition table is damaged; set wipeTable to replace it", d.Device)
	}
	existing := t
	if dp.WipeTable || t.Corrupt {
		existing.Partitions = nil
	}
	if !t.GPT && !t.Corrupt && !dp.WipeTable && len(d.Partitions) > 0 {
		// a disk without a GPT may hold a whole-disk filesystem, a LUKS
		// volume or another kind of table: writing a GPT would destroy it
		have, err := p.probe(ctx, node, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.Device, err)
		}
		if have.Type != "" || have.PTType != "" {
			return nil, fmt.Errorf("disk %s holds %s, not a GPT; set wipeTable to replace it", d.Device, have)
		}
	}
	if len(d.Partitions) == 0 && !dp.WipeTable {
		return dp, nil
	}
	ss := uint64(t.SectorSize)
	// numbers: 0 takes the existing partition of the same label, else the
	// lowest number nobody uses
	used := map[int]bool{}
	for _, ep := range existing.Partitions {
		used[ep.Number] = true
	}
	for _, cp := range d.Partitions {
		used[cp.Number] = true
	}
	parts := make([]config.Partition, len(d.Partitions))
	copy(parts, d.Partitions)
	for i := range parts {
		if parts[i].Number != 0 {
			continue
		}
		if parts[i].Label != nil {
			for _, ep := range existing.Partitions {
				if ep.Label == *parts[i].Label {
					parts[i].Number = ep.Number
					break
				}
			}
		}
		if parts[i].Number == 0 {
			n := 1
			for used[n] {
				n++
			}
			parts[i].Number = n
		}
		used[parts[i].Number] = true
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })

	// first pass: what each partition would be, with start and size as
	// given (sectors) or as the existing partition has them
	type want struct {
		cp         config.Partition
		old        *blockdev.Partition
		start      *uint64 // nil or 0: sgdisk's default
		size       *uint64
		deletable  bool
		shouldGone bool
		// zero: an existing partition with start or size given as 0, which
		// is compared with where it would be if it were made again
		zero bool
	}
	var ws []*want
	for i := range parts {
		cp := parts[i]
		w := &want{cp: cp}
		if ep, ok := existing.Find(cp.Number); ok {
			w.old = &ep
		}
		wipe := isTrue(cp.WipePartitionEntry)
		w.shouldGone = cp.ShouldExist != nil && !*cp.ShouldExist
		w.deletable = w.old != nil && wipe
		if cp.StartMiB != nil {
			v := uint64(*cp.StartMiB) * mib / ss
			w.start = &v
		} else if w.old != nil && !wipe {
			v := w.old.Start
			w.start = &v
		}
		if cp.SizeMiB != nil {
			v := uint64(*cp.SizeMiB) * mib / ss
			w.size = &v
		} else if w.old != nil && !wipe {
			v := w.old.Size
			w.size = &v
		}
		w.zero = w.old != nil && !w.deletable && !w.shouldGone &&
			((cp.StartMiB != nil && *cp.StartMiB == 0) || (cp.SizeMiB != nil && *cp.SizeMiB == 0))
		// a partition that may be resized is made again in the dry run too,
		// so that partitions after it are placed after its new end
		w.zero = w.zero || (w.old != nil && !w.deletable && !w.shouldGone && isTrue(cp.Resize) &&
			w.size != nil && *w.size != w.old.Size)
		ws = append(ws, w)
	}
	// resolve defaults with sgdisk --pretend: every deletable partition
	// deleted, every partition that is missing or deletable created
	var pretend []string
	var infos []int
	for _, w := range ws {
		if w.deletable || w.zero {
			pretend = append(pretend, "--delete="+strconv.Itoa(w.cp.Number))
		}
	}
	for _, w := range ws {
		if w.shouldGone || (w.old != nil && !w.deletable && !w.zero) {
			continue
		}
		if w.zero && w.cp.StartMiB == nil {
			w.start = &w.old.Start // only the size is to be worked out
		}
		pretend = append(pretend, "--new="+newSpec(w.cp.Number, w.start, w.size))
		infos = append(infos, w.cp.Number)
	}
	resolved := map[int]blockdev.Partition{}
	if len(infos) > 0 {
		args := []string{"--pretend"}
		if dp.WipeTable || t.Corrupt {
			args = append(args, "--zap-all", "--clear")
		}
		args = append(args, pretend...)
		for _, n := range infos {
			args = append(args, "--info="+strconv.Itoa(n))
		}
		args = append(args, node)
		res, err := p.run.Run(ctx, command.Cmd{Name: "sgdisk", Args: args, Quiet: true})
		if err != nil {
			return nil, fmt.Errorf("disk %s: working out partition positions: %w", d.Device, err)
		}
		resolved, err = parseInfo(res.Stdout, infos)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.Device, err)
		}
	}
	// second pass: decide
	after := map[int]blockdev.Partition{}
	for _, ep := range existing.Partitions {
		after[ep.Number] = ep
	}
	for _, w := range ws {
		cp := w.cp
		pp := PartPlan{Number: cp.Number, Label: deref(cp.Label), Type: upper(cp.TypeGUID), GUID: upper(cp.GUID), Old: w.old}
		if w.shouldGone {
			switch {
			case w.old == nil:
				pp.Action, pp.Why = PartNothing, "absent, as asked"
			case w.deletable:
				pp.Action, pp.Why = PartDelete, "shouldExist is false"
				delete(after, cp.Number)
			default:
				return nil, fmt.Errorf("disk %s: partition %d exists, shouldExist is false, and wipePartitionEntry is not set", d.Device, cp.Number)
			}
			dp.Parts = append(dp.Parts, pp)
			continue
		}
		if r, ok := resolved[cp.Number]; ok {
			pp.Start, pp.Size = r.Start, r.Size
		} else if w.old != nil {
			pp.Start, pp.Size = w.old.Start, w.old.Size
			if w.start != nil && *w.start != 0 {
				pp.Start = *w.start
			}
			if w.size != nil && *w.size != 0 {
				pp.Size = *w.size
			}
		}
		if w.old == nil {
			pp.Action, pp.Why = PartCreate, "not there"
		} else {
			why := mismatch(pp, *w.old, ss)
			switch {
			case why == "":
				pp.Action, pp.Why = PartKeep, "matches"
				pp.Start, pp.Size = w.old.Start, w.old.Size
			case w.deletable:
				pp.Action, pp.Why = PartRecreate, why
			case isTrue(cp.Resize) && mismatch(PartPlan{Label: pp.Label, Type: pp.Type, GUID: pp.GUID, Start: pp.Start, Size: w.old.Size}, *w.old, ss) == "":
				if pp.Size < w.old.Size {
					return nil, fmt.Errorf("disk %s: partition %d: shrinking from %s to %s would lose data; refusing", d.Device, cp.Number, human(w.old.Size*ss), human(pp.Size*ss))
				}
				pp.Action, pp.Why = PartResize, why
			default:
				return nil, fmt.Errorf("disk %s: partition %d does not match the config (%s) and wipePartitionEntry is not set", d.Device, cp.Number, why)
			}
		}
		np := blockdev.Partition{Number: cp.Number, Start: pp.Start, Size: pp.Size, Label: pp.Label, Type: pp.Type, GUID: pp.GUID}
		if pp.Action == PartKeep || pp.Action == PartResize {
			if np.Label == "" && cp.Label == nil {
				np.Label = w.old.Label
			}
			if np.Type == "" {
				np.Type = w.old.Type
			}
			if np.GUID == "" {
				np.GUID = w.old.GUID
			}
		}
		if np.Type == "" {
			np.Type = linuxFilesystem
		}
		after[cp.Number] = np
		dp.Parts = append(dp.Parts, pp)
	}
	// overlaps are refused before anything is written
	var final []blockdev.Partition
	for _, ap := range after {
		final = append(final, ap)
	}
	sort.Slice(final, func(i, j int) bool { return final[i].Number < final[j].Number })
	for i := 1; i < len(final); i++ {
		a, b := final[i-1], final[i]
		if a.Start <= b.End() && b.Start <= a.End() {
			return nil, fmt.Errorf("disk %s: partitions %d and %d would overlap", d.Device, a.Number, b.Number)
		}
	}
	dp.After = existing
	dp.After.Partitions = final
	dp.Args = sgdiskArgs(dp)
	return dp, nil
}

const linuxFilesystem = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

func newSpec(n int, start, size *uint64) string {
	s, e := "0", "0"
	if start != nil && *start != 0 {
		s = strconv.FormatUint(*start, 10)
	}
	if size != nil && *size != 0 {
		e = "+" + strconv.FormatUint(*size, 10)
	}
	return fmt.Sprintf("%d:%s:%s", n, s, e)
}

// mismatch says how an existing partition differs from the plan's
// (only what the config specifies counts).
func mismatch(pp PartPlan, old blockdev.Partition, ss uint64) string {
	var d []string
	if pp.Start != 0 && pp.Start != old.Start {
		d = append(d, fmt.Sprintf("start %s, want %s", human(old.Start*ss), human(pp.Start*ss)))
	}
	if pp.Size != 0 && pp.Size != old.Size {
		d = append(d, fmt.Sprintf("size %s, want %s", human(old.Size*ss), human(pp.Size*ss)))
	}
	if pp.Label != "" && pp.Label != old.Label {
		d = append(d, fmt.Sprintf("label %q, want %q", old.Label, pp.Label))
	}
	if pp.Type != "" && pp.Type != old.Type {
		d = append(d, fmt.Sprintf("type %s, want %s", old.Type, pp.Type))
	}
	if pp.GUID != "" && pp.GUID != old.GUID {
		d = append(d, fmt.Sprintf("GUID %s, want %s", old.GUID, pp.GUID))
	}
	return strings.Join(d, "; ")
}

func human(b uint64) string {
	switch {
	case b%mib == 0:
		return fmt.Sprintf("%d MiB", b/mib)
	case b >= mib:
		return fmt.Sprintf("%.1f MiB", float64(b)/mib)
	}
	return fmt.Sprintf("%d bytes", b)
}

// parseInfo reads sgdisk --info output, one block per partition in order.
func parseInfo(out []byte, numbers []int) (map[int]blockdev.Partition, error) {
	res := map[int]blockdev.Partition{}
	i := -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	var cur blockdev.Partition
	flush := func() {
		if i >= 0 && i < len(numbers) {
			cur.Number = numbers[i]
			res[numbers[i]] = cur
		}
	}
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		field := func() string { f, _, _ := strings.Cut(v, " "); return f }
		switch k {
		case "Partition GUID code":
			flush()
			i++
			cur = blockdev.Partition{Type: field()}
		case "Partition unique GUID":
			cur.GUID = field()
		case "First sector":
			cur.Start, _ = strconv.ParseUint(field(), 10, 64)
		case "Last sector":
			last, _ := strconv.ParseUint(field(), 10, 64)
			cur.Size = last - cur.Start + 1
		}
	}
	flush()
	if len(res) != len(numbers) {
		return nil, fmt.Errorf("sgdisk --pretend described %d of %d partitions", len(res), len(numbers))
	}
	return res, nil
}

// sgdiskArgs is the one sgdisk command that turns the table into the
// plan's: deletions, then creations with their exact sectors.
func sgdiskArgs(dp *DiskPlan) []string {
	var args []string
	for _, pp := range dp.Parts {
		switch pp.Action {
		case PartDelete, PartRecreate, PartResize:
			args = append(args, "--delete="+strconv.Itoa(pp.Number))
		}
	}
	for _, pp := range dp.Parts {
		switch pp.Action {
		case PartCreate, PartRecreate, PartResize:
		default:
			continue
		}
		ap, _ := dp.After.Find(pp.Number)
		n := strconv.Itoa(pp.Number)
		args = append(args, fmt.Sprintf("--new=%d:%d:%d", pp.Number, ap.Start, ap.End()))
		if ap.Label != "" {
			args = append(args, "--change-name="+n+":"+ap.Label)
		}
		args = append(args, "--typecode="+n+":"+ap.Type)
		if ap.GUID != "" {
			args = append(args, "--partition-guid="+n+":"+ap.GUID)
		}
	}
	if args == nil {
		return nil
	}
	return append(args, dp.Node)
}
