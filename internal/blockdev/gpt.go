package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"unicode/utf16"
)

// Partition is one GPT entry. Start and Size are in logical sectors.
type Partition struct {
	Number int
	Start  uint64
	Size   uint64
	Type   string // GUID, upper case
	GUID   string // upper case
	Label  string
}

// End is the last sector of the partition.
func (p Partition) End() uint64 { return p.Start + p.Size - 1 }

// Table is a disk's GPT as read from the disk.
type Table struct {
	SectorSize  int
	Sectors     uint64 // of the whole disk
	FirstUsable uint64
	LastUsable  uint64
	Partitions  []Partition // by number
	// GPT is false when the disk has no valid GPT (nothing, or something
	// else); Corrupt says a GPT signature is there but its checksums fail,
	// or only the backup header is left.
	GPT     bool
	Corrupt bool
}

// Find returns the partition with number n.
func (t Table) Find(n int) (Partition, bool) {
	for _, p := range t.Partitions {
		if p.Number == n {
			return p, true
		}
	}
	return Partition{}, false
}

var errNoGPT = errors.New("no GPT")

// ReadTable reads the GPT of a disk (device or image file). The primary
// header is used when its checksums hold, else the backup one.
func ReadTable(dev string) (Table, error) {
	f, err := os.Open(dev)
	if err != nil {
		return Table{}, err
	}
	defer f.Close()
	t := Table{SectorSize: SectorSize(f)}
	size, err := Size(f)
	if err != nil {
		return t, err
	}
	t.Sectors = size / uint64(t.SectorSize)
	if t.Sectors < 3 {
		return t, nil
	}
	err = readGPT(f, &t, 1)
	if err == nil {
		t.GPT = true
		return t, nil
	}
	if errors.Is(err, errNoGPT) {
		// no primary header: a valid backup at the end alone is a GPT whose
		// primary was zeroed (the first sectors wiped), which sgdisk would
		// bring back, old partitions and all: a damaged table, not none
		backup := t
		if readGPT(f, &backup, t.Sectors-1) == nil {
			t.Corrupt = true
		}
		return t, nil
	}
	// the primary is damaged: try the backup at the last sector
	if err2 := readGPT(f, &t, t.Sectors-1); err2 == nil {
		t.GPT = true
		return t, nil
	}
	t.Corrupt = true
	return t, nil
}

func readGPT(f *os.File, t *Table, lba uint64) error {
	ss := uint64(t.SectorSize)
	hdr := make([]byte, ss)
	if _, err := f.ReadAt(hdr, int64(lba*ss)); err != nil {
		return fmt.Errorf("reading the GPT header: %w", err)
	}
	if string(hdr[:8]) != "EFI PART" {
		return errNoGPT
	}
	hsize := binary.LittleEndian.Uint32(hdr[12:16])
	if hsize < 92 || uint64(hsize) > ss {
		return errors.New("bad GPT header size")
	}
	h := append([]byte(nil), hdr[:hsize]...)
	want := binary.LittleEndian.Uint32(h[16:20])
	copy(h[16:20], []byte{0, 0, 0, 0})
	if crc32.ChecksumIEEE(h) != want {
		return errors.New("GPT header checksum mismatch")
	}
	t.FirstUsable = binary.LittleEndian.Uint64(hdr[40:48])
	t.LastUsable = binary.LittleEndian.Uint64(hdr[48:56])
	entriesLBA := binary.LittleEndian.Uint64(hdr[72:80])
	count := binary.LittleEndian.Uint32(hdr[80:84])
	esize := binary.LittleEndian.Uint32(hdr[84:88])
	if esize < 128 || count > 4096 {
		return errors.New("bad GPT entry array")
	}
	entries := make([]byte, int(count)*int(esize))
	if _, err := f.ReadAt(entries, int64(entriesLBA*ss)); err != nil && err != io.EOF {
		return fmt.Errorf("reading the GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(hdr[88:92]) {
		return errors.New("GPT entry array checksum mismatch")
	}
	t.Partitions = nil
	for i := 0; i < int(count); i++ {
		e := entries[i*int(esize) : (i+1)*int(esize)]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		first := binary.LittleEndian.Uint64(e[32:40])
		last := binary.LittleEndian.Uint64(e[40:48])
		name := make([]uint16, 36)
		for j := range name {
			name[j] = binary.LittleEndian.Uint16(e[56+2*j:])
		}
		label := string(utf16.Decode(name))
		if k := strings.IndexRune(label, 0); k >= 0 {
			label = label[:k]
		}
		t.Partitions = append(t.Partitions, Partition{
			Number: i + 1, Start: first, Size: last - first + 1,
			Type: guidString(e[0:16]), GUID: guidString(e[16:32]), Label: label,
		})
	}
	return nil
}

// guidString renders a GUID stored in GPT's mixed-endian layout.
func guidString(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%02X%02X-%X",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]),
		b[8], b[9], b[10:16])
}
