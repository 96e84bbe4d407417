package blockdev

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// FSSize reads how many bytes the filesystem of type typ (blkid's TYPE)
// that starts at offset of r spans, from its superblock; ok is false for
// a type whose size it does not know.
func FSSize(r io.ReaderAt, offset int64, typ string) (size uint64, ok bool, err error) {
	read := func(at int64, n int) ([]byte, error) {
		b := make([]byte, n)
		if _, err := r.ReadAt(b, offset+at); err != nil {
			return nil, fmt.Errorf("reading the %s superblock: %w", typ, err)
		}
		return b, nil
	}
	switch typ {
	case "ext2", "ext3", "ext4":
		sb, err := read(1024, 1024)
		if err != nil {
			return 0, false, err
		}
		le := binary.LittleEndian
		blocks := uint64(le.Uint32(sb[0x04:]))
		if le.Uint32(sb[0x60:])&0x80 != 0 { // 64bit
			blocks |= uint64(le.Uint32(sb[0x150:])) << 32
		}
		return blocks * (1024 << le.Uint32(sb[0x18:])), true, nil
	case "xfs":
		sb, err := read(0, 16)
		if err != nil {
			return 0, false, err
		}
		be := binary.BigEndian
		return be.Uint64(sb[8:]) * uint64(be.Uint32(sb[4:])), true, nil
	case "btrfs":
		sb, err := read(64<<10, 4096)
		if err != nil {
			return 0, false, err
		}
		// this device's item (dev_item at 0xc9): devid, then total_bytes
		return binary.LittleEndian.Uint64(sb[0xc9+8:]), true, nil
	case "swap":
		for _, page := range []int64{4096, 8192, 16384, 65536} {
			magic, err := read(page-10, 10)
			if err != nil {
				return 0, false, err
			}
			if bytes.Equal(magic, []byte("SWAPSPACE2")) {
				h, err := read(1024, 12)
				if err != nil {
					return 0, false, err
				}
				return (uint64(binary.LittleEndian.Uint32(h[4:])) + 1) * uint64(page), true, nil
			}
		}
		return 0, false, nil
	case "vfat":
		bpb, err := read(0, 36)
		if err != nil {
			return 0, false, err
		}
		le := binary.LittleEndian
		sectors := uint64(le.Uint16(bpb[19:]))
		if sectors == 0 {
			sectors = uint64(le.Uint32(bpb[32:]))
		}
		return sectors * uint64(le.Uint16(bpb[11:])), true, nil
	}
	return 0, false, nil
}
