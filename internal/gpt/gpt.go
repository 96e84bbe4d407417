// Package gpt writes GUID partition tables the way sgdisk 1.0.9 does, so
// the disks stage can partition without a program that sleeps a second
// after each write. For the same disk and the same operations (sgdisk's
// --zap-all, --delete, --new, --typecode, --change-name,
// --partition-guid), it produces the same bytes: protective MBR (boot code
// and disk signature kept), primary and backup headers and entry arrays,
// CRCs, and the same placement of a start or end left to the default
// (sgdisk --pretend). The differential tests in this package and in
// tests/disks prove it against the real sgdisk.
//
// What it reads and writes is raw: entries keep their attribute bits and
// names byte for byte, and a table of another entry count keeps it.
package gpt

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// GUID is a GUID in GPT's on-disk (mixed-endian) byte order.
type GUID [16]byte

// ParseGUID reads the text form (any case).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("GUID %q: not in the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", s)
	}
	var b [16]byte
	for i := range b {
		hi, ok1 := unhex(h[2*i])
		lo, ok2 := unhex(h[2*i+1])
		if !ok1 || !ok2 {
			return g, fmt.Errorf("GUID %q: not hexadecimal", s)
		}
		b[i] = hi<<4 | lo
	}
	// the first three groups are little-endian on disk
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	return g, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String is the upper-case text form, as sgdisk and blockdev print it.
func (g GUID) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%02X%02X-%X",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]), binary.LittleEndian.Uint16(g[6:8]),
		g[8], g[9], g[10:16])
}

// IsZero says whether g is all zero (an unused entry's type).
func (g GUID) IsZero() bool { return g == GUID{} }

// RandomGUID is a random (version 4) GUID, as sgdisk makes for a new
// table's disk GUID and a new partition's unique GUID.
func RandomGUID() (GUID, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return GUID{}, err
	}
	b[6] = b[6]&0x0f | 0x40 // version 4, in the big-endian text order
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var g GUID
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	return g, nil
}

// LinuxFilesystem is sgdisk's default type for a new partition (8300).
var LinuxFilesystem = mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// Entry is one partition entry as stored (the first 128 bytes; a larger
// entry's tail is kept in Rest).
type Entry struct {
	Type, GUID  GUID
	First, Last uint64 // inclusive, in logical sectors
	Attrs       uint64
	Name        [72]byte // UTF-16LE, NUL padded
	Rest        []byte
}

// Used says whether the entry holds a partition.
func (e Entry) Used() bool { return !e.Type.IsZero() }

// Size is the partition's length in sectors.
func (e Entry) Size() uint64 { return e.Last - e.First + 1 }

// Label is the name as text, up to the first NUL.
func (e Entry) Label() string {
	u := make([]uint16, 0, 36)
	for i := 0; i < 72; i += 2 {
		c := binary.LittleEndian.Uint16(e.Name[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// SetLabel stores s as UTF-16LE, cut at 36 code units as sgdisk does.
func (e *Entry) SetLabel(s string) {
	e.Name = [72]byte{}
	u := utf16.Encode([]rune(s))
	if len(u) > 36 {
		u = u[:36]
	}
	for i, c := range u {
		binary.LittleEndian.PutUint16(e.Name[2*i:], c)
	}
}

// Table is a disk's GPT in memory, with what of the disk it needs to be
// written back.
type Table struct {
	SectorSize int
	Sectors    uint64 // of the whole disk
	DiskGUID   GUID
	// FirstUsable and LastUsable bound the partitions. LastUsable is the
	// loaded header's until the table is written: sgdisk places
	// partitions within it, then moves the backup to the disk's end
	// (a grown disk) when it writes.
	FirstUsable, LastUsable uint64
	EntriesLBA              uint64 // of the primary array (2)
	EntrySize               int    // 128
	Entries                 []Entry
	// MBR is sector 0 as it was (boot code and disk signature are kept;
	// the partition records become the protective one).
	MBR []byte
	// Align is sgdisk's alignment in sectors for new partitions: 1 MiB,
	// less when existing partitions start off that boundary.
	Align uint64
}

// ErrNoTable says the disk holds no GPT, not even a damaged one.
var ErrNoTable = errors.New("no GPT")

// ErrDamaged says a GPT signature is there but neither header (or its
// entry array) passes its checksum.
var ErrDamaged = errors.New("the GPT is damaged (both headers fail their checksums)")

// DefaultEntries is the entry count of a new table.
const DefaultEntries = 128

// entrySectors is the length of an entry array in sectors.
func entrySectors(count, size, ss int) uint64 {
	return uint64((count*size + ss - 1) / ss)
}

// New is the table sgdisk makes on a disk without one: 128 entries after
// the primary header, the backup at the disk's end, alignment 1 MiB.
// mbr is the disk's sector 0 (nil: zero).
func New(sectorSize int, sectors uint64, diskGUID GUID, mbr []byte) (*Table, error) {
	es := entrySectors(DefaultEntries, 128, sectorSize)
	if sectors < 2*es+3 {
		return nil, fmt.Errorf("a disk of %d sectors is too small for a GPT", sectors)
	}
	t := &Table{
		SectorSize: sectorSize, Sectors: sectors, DiskGUID: diskGUID,
		FirstUsable: 2 + es, LastUsable: sectors - 2 - es,
		EntriesLBA: 2, EntrySize: 128, Entries: make([]Entry, DefaultEntries),
		MBR: make([]byte, sectorSize),
	}
	copy(t.MBR, mbr)
	t.Align = t.computeAlign()
	return t, nil
}

// Read reads the GPT of a disk of the given geometry: the primary header
// when it and its array pass their checksums, else the backup one at the
// last sector. ErrNoTable: no signature at either place; ErrDamaged: a
// signature but no valid copy.
func Read(r io.ReaderAt, sectorSize int, sectors uint64) (*Table, error) {
	mbr := make([]byte, sectorSize)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("reading sector 0: %w", err)
	}
	t, err1 := readAt(r, sectorSize, sectors, 1)
	if err1 == nil {
		t.MBR = mbr
		return t, nil
	}
	t, err2 := readAt(r, sectorSize, sectors, sectors-1)
	if err2 == nil {
		t.MBR = mbr
		return t, nil
	}
	if errors.Is(err1, ErrNoTable) && errors.Is(err2, ErrNoTable) {
		return nil, ErrNoTable
	}
	return nil, fmt.Errorf("%w: %v; backup: %v", ErrDamaged, err1, err2)
}

func readAt(r io.ReaderAt, ss int, sectors, lba uint64) (*Table, error) {
	hdr := make([]byte, ss)
	if _, err := r.ReadAt(hdr, int64(lba)*int64(ss)); err != nil {
		return nil, fmt.Errorf("reading the header at sector %d: %w", lba, err)
	}
	if string(hdr[:8]) != "EFI PART" {
		return nil, ErrNoTable
	}
	hsize := binary.LittleEndian.Uint32(hdr[12:16])
	if hsize < 92 || int(hsize) > ss {
		return nil, fmt.Errorf("header at sector %d: size %d", lba, hsize)
	}
	h := append([]byte(nil), hdr[:hsize]...)
	want := binary.LittleEndian.Uint32(h[16:20])
	copy(h[16:20], []byte{0, 0, 0, 0})
	if crc32.ChecksumIEEE(h) != want {
		return nil, fmt.Errorf("header at sector %d: checksum mismatch", lba)
	}
	count := int(binary.LittleEndian.Uint32(hdr[80:84]))
	esize := int(binary.LittleEndian.Uint32(hdr[84:88]))
	if esize < 128 || esize%8 != 0 || count < 1 || count > 4096 {
		return nil, fmt.Errorf("header at sector %d: %d entries of %d bytes", lba, count, esize)
	}
	t := &Table{
		SectorSize: ss, Sectors: sectors,
		FirstUsable: binary.LittleEndian.Uint64(hdr[40:48]),
		LastUsable:  binary.LittleEndian.Uint64(hdr[48:56]),
		EntrySize:   esize,
	}
	copy(t.DiskGUID[:], hdr[56:72])
	arrayLBA := binary.LittleEndian.Uint64(hdr[72:80])
	raw := make([]byte, count*esize)
	if _, err := r.ReadAt(raw, int64(arrayLBA)*int64(ss)); err != nil {
		return nil, fmt.Errorf("reading the entries at sector %d: %w", arrayLBA, err)
	}
	if crc32.ChecksumIEEE(raw) != binary.LittleEndian.Uint32(hdr[88:92]) {
		return nil, fmt.Errorf("entries at sector %d: checksum mismatch", arrayLBA)
	}
	if lba == 1 {
		t.EntriesLBA = arrayLBA
	} else {
		t.EntriesLBA = 2 // a table read from its backup gets its primary back at the usual place
	}
	if t.FirstUsable < t.EntriesLBA+entrySectors(count, esize, ss) || t.LastUsable < t.FirstUsable || t.LastUsable >= sectors {
		return nil, fmt.Errorf("header at sector %d: usable sectors %d-%d do not fit the disk", lba, t.FirstUsable, t.LastUsable)
	}
	t.Entries = make([]Entry, count)
	for i := range t.Entries {
		b := raw[i*esize : (i+1)*esize]
		e := &t.Entries[i]
		copy(e.Type[:], b[0:16])
		copy(e.GUID[:], b[16:32])
		e.First = binary.LittleEndian.Uint64(b[32:40])
		e.Last = binary.LittleEndian.Uint64(b[40:48])
		e.Attrs = binary.LittleEndian.Uint64(b[48:56])
		copy(e.Name[:], b[56:128])
		if esize > 128 {
			e.Rest = append([]byte(nil), b[128:]...)
		}
	}
	t.Align = t.computeAlign()
	return t, nil
}

// Clone is a deep copy (for a dry run).
func (t *Table) Clone() *Table {
	c := *t
	c.Entries = make([]Entry, len(t.Entries))
	for i, e := range t.Entries {
		e.Rest = append([]byte(nil), e.Rest...)
		c.Entries[i] = e
	}
	c.MBR = append([]byte(nil), t.MBR...)
	return &c
}

// arraySectors is the length of the entry array in sectors.
func (t *Table) arraySectors() uint64 {
	return entrySectors(len(t.Entries), t.EntrySize, t.SectorSize)
}

// Bytes are what Write writes, by sector: the protective MBR at 0, the
// primary header and array, the backup array and header at the disk's
// end. Writing them also settles LastUsable for a grown disk.
type Bytes struct {
	MBR, Primary, PrimaryArray, BackupArray, Backup []byte
	PrimaryArrayLBA, BackupArrayLBA, BackupLBA      uint64
}

// Marshal lays the table out as sgdisk writes it: the backup at the last
// sector, its array just before, the last usable sector just before that.
func (t *Table) Marshal() Bytes {
	ss := t.SectorSize
	as := t.arraySectors()
	backupLBA := t.Sectors - 1
	backupArray := backupLBA - as
	t.LastUsable = backupArray - 1
	raw := make([]byte, int(as)*ss)
	for i, e := range t.Entries {
		b := raw[i*t.EntrySize:]
		copy(b[0:16], e.Type[:])
		copy(b[16:32], e.GUID[:])
		binary.LittleEndian.PutUint64(b[32:40], e.First)
		binary.LittleEndian.PutUint64(b[40:48], e.Last)
		binary.LittleEndian.PutUint64(b[48:56], e.Attrs)
		copy(b[56:128], e.Name[:])
		copy(b[128:t.EntrySize], e.Rest)
	}
	arrayCRC := crc32.ChecksumIEEE(raw[:len(t.Entries)*t.EntrySize])
	header := func(self, other, array uint64) []byte {
		h := make([]byte, ss)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:12], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:16], 92)
		binary.LittleEndian.PutUint64(h[24:32], self)
		binary.LittleEndian.PutUint64(h[32:40], other)
		binary.LittleEndian.PutUint64(h[40:48], t.FirstUsable)
		binary.LittleEndian.PutUint64(h[48:56], t.LastUsable)
		copy(h[56:72], t.DiskGUID[:])
		binary.LittleEndian.PutUint64(h[72:80], array)
		binary.LittleEndian.PutUint32(h[80:84], uint32(len(t.Entries)))
		binary.LittleEndian.PutUint32(h[84:88], uint32(t.EntrySize))
		binary.LittleEndian.PutUint32(h[88:92], arrayCRC)
		binary.LittleEndian.PutUint32(h[16:20], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	return Bytes{
		MBR:             t.protectiveMBR(),
		Primary:         header(1, backupLBA, t.EntriesLBA),
		PrimaryArray:    raw,
		BackupArray:     raw,
		Backup:          header(backupLBA, 1, backupArray),
		PrimaryArrayLBA: t.EntriesLBA, BackupArrayLBA: backupArray, BackupLBA: backupLBA,
	}
}

// protectiveMBR is sector 0 with its boot code and disk signature kept and
// one partition record of type 0xEE covering the disk from sector 1 (at
// most 2^32-1 sectors), CHS as a 255-head, 63-sector geometry gives it.
func (t *Table) protectiveMBR() []byte {
	m := make([]byte, t.SectorSize)
	copy(m, t.MBR)
	if hybridMBR(m) {
		return m // sgdisk keeps a hybrid MBR as it is
	}
	if len(m) >= 512 && (m[510] != 0x55 || m[511] != 0xAA) {
		// no MBR there: sgdisk keeps the boot code area but not what
		// would be the disk signature
		for i := 440; i < 446; i++ {
			m[i] = 0
		}
	}
	for i := 446; i < 510; i++ {
		m[i] = 0
	}
	size := t.Sectors - 1
	if size > 0xFFFFFFFF {
		size = 0xFFFFFFFF
	}
	rec := m[446:462]
	copy(rec[1:4], chs(1))
	rec[4] = 0xEE
	copy(rec[5:8], chs(size))
	binary.LittleEndian.PutUint32(rec[8:12], 1)
	binary.LittleEndian.PutUint32(rec[12:16], uint32(size))
	m[510], m[511] = 0x55, 0xAA
	return m
}

// chs is an LBA in the MBR's head, sector|cylinder-high, cylinder-low
// bytes; beyond 1024 cylinders, 0xFF 0xFF 0xFF (as sgdisk writes).
func chs(lba uint64) []byte {
	const heads, spt = 255, 63
	c := lba / (heads * spt)
	if c > 1023 {
		return []byte{0xFF, 0xFF, 0xFF}
	}
	h := (lba / spt) % heads
	s := lba%spt + 1
	return []byte{byte(h), byte(s) | byte(c>>8)<<6, byte(c)}
}

// WriterAt is what Write needs of the disk.
type WriterAt interface {
	WriteAt(p []byte, off int64) (int, error)
}

// Write writes the table: the backup array and header first, then the
// primary array and header, then the MBR. When w can Sync (an *os.File),
// the backup is synced before the primary is written, so a write cut
// short (power lost) leaves a valid copy, the old primary or the new
// backup, whatever order the kernel writes dirty sectors back in; the
// caller syncs at the end.
func (t *Table) Write(w WriterAt) error {
	b := t.Marshal()
	ss := int64(t.SectorSize)
	for _, p := range []struct {
		what string
		data []byte
		lba  uint64
	}{
		{"backup entry array", b.BackupArray, b.BackupArrayLBA},
		{"backup header", b.Backup, b.BackupLBA},
		{"", nil, 0}, // the barrier
		{"primary entry array", b.PrimaryArray, b.PrimaryArrayLBA},
		{"primary header", b.Primary, 1},
		{"protective MBR", b.MBR, 0},
	} {
		if p.data == nil {
			if s, ok := w.(interface{ Sync() error }); ok {
				if err := s.Sync(); err != nil {
					return fmt.Errorf("syncing the backup table: %w", err)
				}
			}
			continue
		}
		if _, err := w.WriteAt(p.data, int64(p.lba)*ss); err != nil {
			return fmt.Errorf("writing the %s: %w", p.what, err)
		}
	}
	return nil
}

// ZapRanges are the sectors sgdisk --zap-all zeroes on a disk whose
// table (nil: none readable) has the given array length: sector 0 to the
// last sector of the primary array (never the first usable sector after
// it: a partition may start there), and the backup array and header at
// the disk's end.
func ZapRanges(old *Table, sectorSize int, sectors uint64) [][2]uint64 {
	as := entrySectors(DefaultEntries, 128, sectorSize)
	first := uint64(2)
	if old != nil {
		as = old.arraySectors()
		first = old.EntriesLBA
	}
	head := first + as - 1 // the primary array's last sector
	n := 1 + as            // the backup array and header
	if sectors < n {
		n = sectors
	}
	return [][2]uint64{{0, head}, {sectors - n, sectors - 1}}
}

// Zap zeroes what sgdisk --zap-all zeroes (see ZapRanges).
func Zap(w WriterAt, old *Table, sectorSize int, sectors uint64) error {
	for _, r := range ZapRanges(old, sectorSize, sectors) {
		zero := make([]byte, (r[1]-r[0]+1)*uint64(sectorSize))
		if _, err := w.WriteAt(zero, int64(r[0])*int64(sectorSize)); err != nil {
			return fmt.Errorf("zeroing sectors %d-%d: %w", r[0], r[1], err)
		}
	}
	return nil
}

// hybridMBR says whether sector 0 is a hybrid MBR: a GPT's 0xEE record
// beside records of other types (made by sgdisk -h, gdisk's "h", or
// tools for old BIOS boot). sgdisk writes it back unchanged; a zap
// zeroes it.
func hybridMBR(m []byte) bool {
	if len(m) < 512 || m[510] != 0x55 || m[511] != 0xAA {
		return false
	}
	ee, other := false, false
	for i := 0; i < 4; i++ {
		rec := m[446+16*i : 462+16*i]
		switch {
		case rec[4] == 0xEE:
			ee = true
		case rec[4] != 0 && binary.LittleEndian.Uint32(rec[12:16]) != 0:
			other = true
		}
	}
	return ee && other
}
