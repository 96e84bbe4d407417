package gpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Op is one of the operations the disks stage asks of sgdisk: --delete=N,
// or --new=N:start:end with its --typecode, --change-name and
// --partition-guid.
type Op struct {
	Delete bool
	Number int
	// Start is the first sector; 0: the start of the largest free block.
	// Either is moved to the alignment boundary when the free space
	// around it allows (as sgdisk does).
	Start uint64
	// End is the last sector, or Size the length in sectors; both 0:
	// to the end of the free block Start is in.
	End, Size uint64
	Type      string // "": Linux filesystem (8300)
	GUID      string // "": random
	Name      string // "": none
}

// Change is what the disks stage does to one disk: sgdisk --zap-all
// (Zap), then, when there are Ops, one sgdisk run with them in order.
type Change struct {
	Zap bool
	// DiskGUID is the disk GUID of a table made new (after a zap or on a
	// disk without one); "": random. A table that stays keeps its own.
	DiskGUID string
	Ops      []Op
}

// ErrForeignMBR says the disk's sector 0 is an MBR with partitions and
// no 0xEE record: with no GPT, sgdisk would convert them; with a GPT too,
// sgdisk refuses (the kernel reads the MBR's). We refuse both (the stage
// asks for wipeTable).
var ErrForeignMBR = errors.New("the disk has an MBR partition table, not a GPT")

// Prepare works out the table a Change leaves, without writing: what
// sgdisk --pretend shows. zap is what Apply zeroes first (nil: nothing);
// t is nil when nothing is written after the zap (no Ops).
func Prepare(r io.ReaderAt, sectorSize int, sectors uint64, c Change) (t *Table, zap [][2]uint64, err error) {
	old, err := Read(r, sectorSize, sectors)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoTable):
		old = nil
	case c.Zap && errors.Is(err, ErrDamaged):
		old = nil
	default:
		return nil, nil, err
	}
	mbr := make([]byte, sectorSize)
	if !c.Zap && old != nil && foreignMBR(old.MBR) && !hybridMBR(old.MBR) {
		// MBR partitions (no 0xEE record) over a GPT: the kernel reads the
		// MBR's; sgdisk refuses ("Invalid partition data!")
		return nil, nil, fmt.Errorf("%w (a GPT is there too, but sector 0 holds no protective record)", ErrForeignMBR)
	}
	if c.Zap {
		zap = ZapRanges(old, sectorSize, sectors)
		old = nil
	} else if old == nil {
		if _, err := r.ReadAt(mbr, 0); err != nil {
			return nil, nil, fmt.Errorf("reading sector 0: %w", err)
		}
		if foreignMBR(mbr) {
			return nil, nil, ErrForeignMBR
		}
	}
	if len(c.Ops) == 0 {
		return nil, zap, nil
	}
	t = old
	if t == nil {
		g, err := diskGUID(c.DiskGUID)
		if err != nil {
			return nil, nil, err
		}
		if t, err = New(sectorSize, sectors, g, mbr); err != nil {
			return nil, nil, err
		}
	}
	for _, op := range c.Ops {
		if err := t.Do(op); err != nil {
			return nil, nil, err
		}
	}
	return t, zap, nil
}

func diskGUID(s string) (GUID, error) {
	if s == "" {
		return RandomGUID()
	}
	return ParseGUID(s)
}

// foreignMBR says whether sector 0 is an MBR with a partition that is not
// GPT's protective one.
func foreignMBR(m []byte) bool {
	if len(m) < 512 || m[510] != 0x55 || m[511] != 0xAA {
		return false
	}
	for i := 0; i < 4; i++ {
		rec := m[446+16*i : 462+16*i]
		if rec[4] != 0 && rec[4] != 0xEE && binary.LittleEndian.Uint32(rec[12:16]) != 0 {
			return true
		}
	}
	return false
}

// Do carries out one operation on the table in memory.
func (t *Table) Do(op Op) error {
	if op.Number < 1 || op.Number > len(t.Entries) {
		return fmt.Errorf("partition %d: the table holds partitions 1 to %d", op.Number, len(t.Entries))
	}
	e := &t.Entries[op.Number-1]
	if op.Delete {
		if !e.Used() {
			return fmt.Errorf("partition %d: no such partition to delete", op.Number)
		}
		*e = Entry{Rest: make([]byte, len(e.Rest))}
		return nil
	}
	if e.Used() {
		return fmt.Errorf("partition %d: the number is in use", op.Number)
	}
	first, last, err := t.Place(op.Start, op.End, op.Size)
	if err != nil {
		return fmt.Errorf("could not create partition %d: %w", op.Number, err)
	}
	ne := Entry{Type: LinuxFilesystem, First: first, Last: last, Rest: make([]byte, len(e.Rest))}
	if op.Type != "" {
		if ne.Type, err = ParseGUID(op.Type); err != nil {
			return fmt.Errorf("partition %d: type: %w", op.Number, err)
		}
		if ne.Type.IsZero() {
			return fmt.Errorf("partition %d: the zero type GUID marks an unused entry", op.Number)
		}
	}
	if ne.GUID, err = diskGUID(op.GUID); err != nil {
		return fmt.Errorf("partition %d: %w", op.Number, err)
	}
	ne.SetLabel(op.Name)
	*e = ne
	return nil
}

// block is a run of free sectors, inclusive.
type block struct{ first, last uint64 }

// free lists the runs of usable sectors no partition holds, in order.
func (t *Table) free() []block {
	var out []block
	next := t.FirstUsable
	for {
		// the used entry that starts lowest at or after next, or holds next
		var lo *Entry
		for i := range t.Entries {
			e := &t.Entries[i]
			if !e.Used() || e.Last < next {
				continue
			}
			if lo == nil || e.First < lo.First {
				lo = e
			}
		}
		if lo == nil || lo.First > t.LastUsable {
			if next <= t.LastUsable {
				out = append(out, block{next, t.LastUsable})
			}
			return out
		}
		if lo.First > next {
			out = append(out, block{next, lo.First - 1})
		}
		next = lo.Last + 1
		if lo.Last >= t.LastUsable {
			return out
		}
	}
}

// blockOf is the free run holding sector s.
func (t *Table) blockOf(s uint64) (block, bool) {
	for _, b := range t.free() {
		if s >= b.first && s <= b.last {
			return b, true
		}
	}
	return block{}, false
}

// computeAlign is 1 MiB in sectors, halved until it divides the start of
// every partition there is (sgdisk keeps an existing table's alignment).
func (t *Table) computeAlign() uint64 {
	a := uint64(1<<20) / uint64(t.SectorSize)
	if a == 0 {
		a = 1
	}
	for _, e := range t.Entries {
		if !e.Used() {
			continue
		}
		for a > 1 && e.First%a != 0 {
			a /= 2
		}
	}
	return a
}

// align moves s, a free sector, to an alignment boundary: the one below
// when the sectors between are free, else the one above when they are,
// else leaves it.
func (t *Table) align(s uint64, b block) uint64 {
	a := t.Align
	if a <= 1 || s%a == 0 {
		return s
	}
	if down := s - s%a; down >= b.first {
		return down
	}
	if up := s - s%a + a; up <= b.last {
		return up
	}
	return s
}

// Place resolves a new partition's first and last sectors as sgdisk's
// --new does. Start 0 is the start of the largest free block (the first
// of equals), aligned. A start given is aligned after the end is worked
// out: Size counts from the start as given. End and Size 0 mean the end
// of the largest free block (not of the block the start is in: a start
// outside the largest block fails then, as with sgdisk). Every sector
// from the aligned start to the end must be free.
func (t *Table) Place(start, end, size uint64) (first, last uint64, err error) {
	var largest block
	found := false
	for _, b := range t.free() {
		if !found || b.last-b.first > largest.last-largest.first {
			largest, found = b, true
		}
	}
	if !found {
		return 0, 0, errors.New("no free space")
	}
	if start == 0 {
		start = t.align(largest.first, largest)
	}
	b, ok := t.blockOf(start)
	if !ok {
		return 0, 0, fmt.Errorf("sector %d is not free", start)
	}
	switch {
	case end != 0:
		last = end
	case size != 0:
		last = start + size - 1
	default:
		last = largest.last
	}
	first = t.align(start, b)
	if last < first || last > b.last {
		return 0, 0, fmt.Errorf("sectors %d to %d are not all free", first, last)
	}
	return first, last, nil
}
