package disks

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/gpt"
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
	Dev       uint64 // its device number
	WipeTable bool
	Before    blockdev.Table
	Parts     []PartPlan
	// After is the table the disk will have; Ops the operations that make
	// it, after the zap when WipeTable (nil: nothing to write): deletions,
	// then new partitions with their exact sectors, type, GUID and name.
	After blockdev.Table
	Ops   []gpt.Op
	// Sync: the table stays, but the kernel sees other partitions (a run
	// stopped after the table was written): the kernel is told the table.
	Sync bool
}

// Changes says whether the plan writes to the disk.
func (d *DiskPlan) Changes() bool { return d.WipeTable || d.Ops != nil }

// oneMiB is a mebibyte in bytes.
const oneMiB uint64 = 1 << 20

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
// docs/disks.md): read the disk, check what sgdisk would refuse, give
// numbers, work out start and size by a dry run on the disk itself
// (gpt.Pretend, or sgdisk --pretend with IGNITION_GPT_WRITER=sgdisk),
// decide each partition's fate, then check the table that results.
func (p *planner) planDisk(ctx context.Context, d config.Disk, node string) (*DiskPlan, error) {
	dp, existing, err := p.readDisk(ctx, d, node)
	if err != nil {
		return nil, err
	}
	if len(d.Partitions) == 0 && !dp.WipeTable {
		return dp, nil
	}
	if err := checkFields(d, dp.Before); err != nil {
		return nil, fmt.Errorf("disk %s: %w", d.Device, err)
	}
	parts, err := numberPartitions(d.Partitions, existing)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", d.Device, err)
	}
	ws := wants(parts, existing, uint64(dp.Before.SectorSize))
	resolved, err := p.positions(ctx, dp, ws)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", d.Device, err)
	}
	after := map[int]blockdev.Partition{}
	for _, ep := range existing.Partitions {
		after[ep.Number] = ep
	}
	for _, w := range ws {
		pp, err := decidePart(w, resolved, uint64(dp.Before.SectorSize))
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.Device, err)
		}
		switch pp.Action {
		case PartDelete:
			delete(after, pp.Number)
		case PartNothing:
		default:
			after[pp.Number] = newEntry(pp, w)
		}
		dp.Parts = append(dp.Parts, pp)
	}
	final, err := checkLayout(after)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", d.Device, err)
	}
	dp.After = existing
	dp.After.Partitions = final
	dp.Ops = diskOps(dp)
	return dp, nil
}

// readDisk reads the disk's table and refuses a damaged one, or a disk
// without a GPT that holds something else, unless wipeTable; existing is
// the table the plan starts from (empty when it is wiped).
func (p *planner) readDisk(ctx context.Context, d config.Disk, node string) (*DiskPlan, blockdev.Table, error) {
	t, err := blockdev.ReadTable(node)
	if err != nil {
		return nil, t, fmt.Errorf("disk %s: reading its partition table: %w", d.Device, err)
	}
	dp := &DiskPlan{Device: d.Device, Node: node, WipeTable: isTrue(d.WipeTable), Before: t, After: t}
	if t.Corrupt && !dp.WipeTable {
		return nil, t, fmt.Errorf("disk %s: its partition table is damaged; set wipeTable to replace it", d.Device)
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
			return nil, t, fmt.Errorf("disk %s: %w", d.Device, err)
		}
		if have.Type != "" || have.PTType != "" {
			return nil, t, fmt.Errorf("disk %s holds %s, not a GPT; set wipeTable to replace it", d.Device, have)
		}
	}
	return dp, existing, nil
}

// checkFields refuses beforehand what sgdisk would refuse halfway: a
// label with a NUL or another control character, a start or size that is
// negative or beyond the disk (which would also overflow in sectors).
func checkFields(d config.Disk, t blockdev.Table) error {
	diskMiB := t.Sectors * uint64(t.SectorSize) / oneMiB
	for _, cp := range d.Partitions {
		name := partName(cp)
		if cp.Label != nil {
			for _, r := range *cp.Label {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
					return fmt.Errorf("%s: the label %q holds a control character, which a GPT name cannot hold", name, *cp.Label)
				}
			}
		}
		for _, f := range []struct {
			what string
			v    *int
		}{{"start", cp.StartMiB}, {"size", cp.SizeMiB}} {
			if f.v == nil {
				continue
			}
			if *f.v < 0 || uint64(*f.v) > diskMiB {
				return fmt.Errorf("%s: %s %d MiB is beyond the disk (%d MiB)", name, f.what, *f.v, diskMiB)
			}
		}
	}
	return nil
}

// partName names a config partition in messages.
func partName(cp config.Partition) string {
	if cp.Number != 0 || cp.Label == nil {
		return fmt.Sprintf("partition %d", cp.Number)
	}
	return fmt.Sprintf("partition %q", *cp.Label)
}

// numberPartitions gives each partition its number: number 0 takes the
// existing partition of the same label (refused when two have it: which
// one the config means cannot be known), else the lowest number nobody
// uses. The result is in the order partitions are laid out, as Ignition
// does: the config's, with number 0 last.
func numberPartitions(cps []config.Partition, existing blockdev.Table) ([]config.Partition, error) {
	used := map[int]bool{}
	for _, ep := range existing.Partitions {
		used[ep.Number] = true
	}
	for _, cp := range cps {
		used[cp.Number] = true
	}
	var numbered, zero []config.Partition
	for _, cp := range cps {
		if cp.Number != 0 {
			numbered = append(numbered, cp)
			continue
		}
		if cp.Label != nil {
			var same []int
			for _, ep := range existing.Partitions {
				if ep.Label == *cp.Label {
					same = append(same, ep.Number)
				}
			}
			if len(same) > 1 {
				return nil, fmt.Errorf("partition %q: partitions %s all have that label; give the number", *cp.Label, joinInts(same))
			}
			if len(same) == 1 {
				cp.Number = same[0]
			}
		}
		if cp.Number == 0 {
			n := 1
			for used[n] {
				n++
			}
			cp.Number = n
		}
		used[cp.Number] = true
		zero = append(zero, cp)
	}
	return append(numbered, zero...), nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// want is what one config partition asks, in sectors: its start and size
// as given or as the existing partition has them.
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

func wants(parts []config.Partition, existing blockdev.Table, ss uint64) []*want {
	var ws []*want
	for _, cp := range parts {
		w := &want{cp: cp}
		if ep, ok := existing.Find(cp.Number); ok {
			w.old = &ep
		}
		wipe := isTrue(cp.WipePartitionEntry)
		w.shouldGone = cp.ShouldExist != nil && !*cp.ShouldExist
		w.deletable = w.old != nil && wipe
		if cp.StartMiB != nil {
			v := uint64(*cp.StartMiB) * oneMiB / ss
			w.start = &v
		} else if w.old != nil && !wipe {
			v := w.old.Start
			w.start = &v
		}
		if cp.SizeMiB != nil {
			v := uint64(*cp.SizeMiB) * oneMiB / ss
			w.size = &v
		} else if w.old != nil && !wipe {
			v := w.old.Size
			w.size = &v
		}
		kept := w.old != nil && !w.deletable && !w.shouldGone
		w.zero = kept && ((cp.StartMiB != nil && *cp.StartMiB == 0) || (cp.SizeMiB != nil && *cp.SizeMiB == 0))
		// a partition that may be resized is made again in the dry run too,
		// so that partitions after it are placed after its new end
		w.zero = w.zero || (kept && isTrue(cp.Resize) && w.size != nil && *w.size != w.old.Size)
		ws = append(ws, w)
	}
	return ws
}

// positions resolves the default starts and sizes by a dry run of the
// table write: every deletable partition deleted, every partition that is
// missing or deletable created, in layout order. gpt.Pretend places them
// as sgdisk does; with IGNITION_GPT_WRITER=sgdisk, sgdisk --pretend does.
func (p *planner) positions(ctx context.Context, dp *DiskPlan, ws []*want) (map[int]blockdev.Partition, error) {
	var ops []gpt.Op
	var infos []int
	for _, w := range ws {
		if w.deletable || w.zero {
			ops = append(ops, gpt.Op{Delete: true, Number: w.cp.Number})
		}
	}
	for _, w := range ws {
		if w.shouldGone || (w.old != nil && !w.deletable && !w.zero) {
			continue
		}
		if w.zero && w.cp.StartMiB == nil {
			w.start = &w.old.Start // only the size is to be worked out
		}
		op := gpt.Op{Number: w.cp.Number}
		if w.start != nil {
			op.Start = *w.start
		}
		if w.size != nil {
			op.Size = *w.size
		}
		ops = append(ops, op)
		infos = append(infos, w.cp.Number)
	}
	if len(infos) == 0 {
		return map[int]blockdev.Partition{}, nil
	}
	zap := dp.WipeTable || dp.Before.Corrupt
	if p.writer == WriterSgdisk {
		return p.sgdiskPositions(ctx, dp.Node, zap, ops, infos)
	}
	f, err := os.Open(dp.Node)
	if err != nil {
		return nil, fmt.Errorf("working out partition positions: %w", err)
	}
	defer f.Close()
	t, err := gpt.Pretend(f, gpt.Change{Zap: zap, Ops: ops})
	if err != nil {
		return nil, fmt.Errorf("working out partition positions: %w", err)
	}
	res := map[int]blockdev.Partition{}
	for _, n := range infos {
		e := t.Entries[n-1]
		res[n] = blockdev.Partition{Number: n, Start: e.First, Size: e.Size(), Type: e.Type.String(), GUID: e.GUID.String()}
	}
	return res, nil
}

// sgdiskPositions is positions by sgdisk --pretend (IGNITION_GPT_WRITER=sgdisk).
func (p *planner) sgdiskPositions(ctx context.Context, node string, zap bool, ops []gpt.Op, infos []int) (map[int]blockdev.Partition, error) {
	args := []string{"--pretend"}
	if zap {
		args = append(args, "--zap-all", "--clear")
	}
	for _, op := range ops {
		if op.Delete {
			args = append(args, "--delete="+strconv.Itoa(op.Number))
			continue
		}
		args = append(args, "--new="+newSpec(op.Number, op.Start, op.Size))
	}
	for _, n := range infos {
		args = append(args, "--info="+strconv.Itoa(n))
	}
	args = append(args, node)
	res, err := p.run.Run(ctx, command.Cmd{Name: "sgdisk", Args: args, Quiet: true})
	if err != nil {
		return nil, fmt.Errorf("working out partition positions: %w", err)
	}
	return parseInfo(res.Stdout, infos)
}

// decidePart applies the reuse rules to one partition: nothing, create,
// keep, delete, delete and recreate, resize (growing only), or refuse.
func decidePart(w *want, resolved map[int]blockdev.Partition, ss uint64) (PartPlan, error) {
	cp := w.cp
	pp := PartPlan{Number: cp.Number, Label: deref(cp.Label), Type: upper(cp.TypeGUID), GUID: upper(cp.GUID), Old: w.old}
	if w.shouldGone {
		switch {
		case w.old == nil:
			pp.Action, pp.Why = PartNothing, "absent, as asked"
		case w.deletable:
			pp.Action, pp.Why = PartDelete, "shouldExist is false"
		default:
			return pp, fmt.Errorf("partition %d exists, shouldExist is false, and wipePartitionEntry is not set", cp.Number)
		}
		return pp, nil
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
		return pp, nil
	}
	why := mismatch(pp, *w.old, ss)
	switch {
	case why == "":
		pp.Action, pp.Why = PartKeep, "matches"
		pp.Start, pp.Size = w.old.Start, w.old.Size
	case w.deletable:
		pp.Action, pp.Why = PartRecreate, why
	case isTrue(cp.Resize) && mismatch(PartPlan{Label: pp.Label, Type: pp.Type, GUID: pp.GUID, Start: pp.Start, Size: w.old.Size}, *w.old, ss) == "":
		if pp.Size < w.old.Size {
			return pp, fmt.Errorf("partition %d: shrinking from %s to %s would lose data; refusing", cp.Number, human(w.old.Size*ss), human(pp.Size*ss))
		}
		pp.Action, pp.Why = PartResize, why
	default:
		return pp, fmt.Errorf("partition %d does not match the config (%s) and wipePartitionEntry is not set", cp.Number, why)
	}
	return pp, nil
}

// newEntry is the table entry a created, kept or resized partition will
// have: what the config gives, the rest from the existing entry (kept or
// resized) or the default type.
func newEntry(pp PartPlan, w *want) blockdev.Partition {
	np := blockdev.Partition{Number: pp.Number, Start: pp.Start, Size: pp.Size, Label: pp.Label, Type: pp.Type, GUID: pp.GUID}
	if pp.Action == PartKeep || pp.Action == PartResize {
		if np.Label == "" && w.cp.Label == nil {
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
	return np
}

// checkLayout refuses, before anything is written, a table whose
// partitions overlap or share a unique GUID; it returns the table's
// partitions by number.
func checkLayout(after map[int]blockdev.Partition) ([]blockdev.Partition, error) {
	var final []blockdev.Partition
	for _, ap := range after {
		final = append(final, ap)
	}
	sort.Slice(final, func(i, j int) bool { return final[i].Number < final[j].Number })
	for i := 1; i < len(final); i++ {
		a, b := final[i-1], final[i]
		if a.Start <= b.End() && b.Start <= a.End() {
			return nil, fmt.Errorf("partitions %d and %d would overlap", a.Number, b.Number)
		}
	}
	guids := map[string]int{}
	for _, ap := range final {
		if ap.GUID == "" {
			continue
		}
		if n, dup := guids[ap.GUID]; dup {
			return nil, fmt.Errorf("partitions %d and %d would have the same GUID %s", n, ap.Number, ap.GUID)
		}
		guids[ap.GUID] = ap.Number
	}
	return final, nil
}

const linuxFilesystem = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

func newSpec(n int, start, size uint64) string {
	s, e := "0", "0"
	if start != 0 {
		s = strconv.FormatUint(start, 10)
	}
	if size != 0 {
		e = "+" + strconv.FormatUint(size, 10)
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
	case b%oneMiB == 0:
		return fmt.Sprintf("%d MiB", b/oneMiB)
	case b >= oneMiB:
		return fmt.Sprintf("%.1f MiB", float64(b)/float64(oneMiB))
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

// diskOps are the operations that turn the table into the plan's:
// deletions, then creations with their exact sectors, type, GUID (""
// random) and name.
func diskOps(dp *DiskPlan) []gpt.Op {
	var ops []gpt.Op
	for _, pp := range dp.Parts {
		switch pp.Action {
		case PartDelete, PartRecreate, PartResize:
			ops = append(ops, gpt.Op{Delete: true, Number: pp.Number})
		}
	}
	for _, pp := range dp.Parts {
		switch pp.Action {
		case PartCreate, PartRecreate, PartResize:
		default:
			continue
		}
		ap, _ := dp.After.Find(pp.Number)
		ops = append(ops, gpt.Op{Number: pp.Number, Start: ap.Start, End: ap.End(), Type: ap.Type, GUID: ap.GUID, Name: ap.Label})
	}
	return ops
}

// SgdiskArgs is the one sgdisk command that carries out the plan's Ops
// (after sgdisk --zap-all when WipeTable), as IGNITION_GPT_WRITER=sgdisk
// runs it; nil when there are none.
func (d *DiskPlan) SgdiskArgs() []string {
	var args []string
	for _, op := range d.Ops {
		n := strconv.Itoa(op.Number)
		if op.Delete {
			args = append(args, "--delete="+n)
			continue
		}
		args = append(args, fmt.Sprintf("--new=%d:%d:%d", op.Number, op.Start, op.End))
		if op.Name != "" {
			args = append(args, "--change-name="+n+":"+op.Name)
		}
		args = append(args, "--typecode="+n+":"+op.Type)
		if op.GUID != "" {
			args = append(args, "--partition-guid="+n+":"+op.GUID)
		}
	}
	if args == nil {
		return nil
	}
	return append(args, d.Node)
}
