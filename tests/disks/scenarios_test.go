package disks

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Partition GUIDs and filesystem UUIDs the scenarios set and look for.
const (
	g1 = "5A3F1C2E-0001-4E6B-9D1A-6C0F4B2E7A01"
	g2 = "5A3F1C2E-0002-4E6B-9D1A-6C0F4B2E7A02"
	g3 = "5A3F1C2E-0003-4E6B-9D1A-6C0F4B2E7A03"
	u1 = "0f3c6c5e-1111-4a4a-9999-000000000001"
	u2 = "0f3c6c5e-2222-4a4a-9999-000000000002"
	u3 = "0f3c6c5e-3333-4a4a-9999-000000000003"
	u4 = "0f3c6c5e-4444-4a4a-9999-000000000004"
)

func cfg(storage string) string {
	return `{"ignition": {"version": "3.4.0"}, "storage": ` + storage + `}`
}

// dataDisk is a 64 MiB disk whose partition 1 "data" (1 MiB + 32 MiB,
// GUID g1) holds an ext4 filesystem DATA (u1) with /keep.txt.
func dataDisk() disk {
	return disk{SizeMiB: 64, Parts: []part{{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 32,
		FS: &fsys{Format: "ext4", Label: "DATA", UUID: u1, Files: map[string]string{"/keep.txt": "old data"}}}}}
}

// dataKept is dataDisk, untouched.
func dataKept() disk {
	return disk{Parts: []part{{Num: 1, Label: "data", Type: typeLinux, GUID: g1, StartMiB: 1, SizeMiB: 32,
		FS: &fsys{Format: "ext4", Label: "DATA", UUID: u1, Files: map[string]string{"/keep.txt": "old data"}}}}}
}

// bigDataDisk is dataDisk with room for btrfs: 200 MiB, partition 1 of 128 MiB.
func bigDataDisk() disk {
	return disk{SizeMiB: 200, Parts: []part{{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 128,
		FS: &fsys{Format: "ext4", Label: "DATA", UUID: u1, Files: map[string]string{"/keep.txt": "old data"}}}}}
}

// twoParts is a 64 MiB disk with "one" (1+16, g1) and "two" (17+16, g2).
func twoParts() disk {
	return disk{SizeMiB: 64, Parts: []part{
		{Num: 1, Label: "one", GUID: g1, StartMiB: 1, SizeMiB: 16},
		{Num: 2, Label: "two", GUID: g2, StartMiB: 17, SizeMiB: 16}}}
}

var scenarios = []scenario{
	// ---- creating partitions ----
	{
		name:   "create/all-fields-explicit",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "data", "typeGuid": "` + typeHome + `", "guid": "` + g1 + `", "startMiB": 1, "sizeMiB": 32}]}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "data", Type: typeHome, GUID: g1, StartMiB: 1, SizeMiB: 32}}}},
	},
	{
		name: "create/number-0-takes-next-free-number-and-largest-block",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "a", GUID: g1, StartMiB: 1, SizeMiB: 8},
			{Num: 3, Label: "c", GUID: g3, StartMiB: 20, SizeMiB: 8}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 0, "label": "new", "sizeMiB": 4}]}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, Label: "a", GUID: g1, StartMiB: 1, SizeMiB: 8},
			{Num: 2, Label: "new", Type: typeLinux, StartMiB: 28, SizeMiB: 4},
			{Num: 3, Label: "c", GUID: g3, StartMiB: 20, SizeMiB: 8}}}},
	},
	{
		name: "create/start-0-is-largest-block-not-first-fitting",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "a", GUID: g1, StartMiB: 4, SizeMiB: 8},
			{Num: 2, Label: "b", GUID: g2, StartMiB: 12, SizeMiB: 8}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 3, "label": "c", "startMiB": 0, "sizeMiB": 2}]}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, GUID: g1, StartMiB: 4, SizeMiB: 8},
			{Num: 2, GUID: g2, StartMiB: 12, SizeMiB: 8},
			{Num: 3, Label: "c", StartMiB: 20, SizeMiB: 2}}}},
	},
	{
		name:   "create/size-0-to-end-of-disk",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "all", "startMiB": 1, "sizeMiB": 0}]}]}`),
		after:  []disk{{Parts: []part{{Num: 1, Label: "all", StartMiB: 1, ToEnd: true}}}},
	},
	{
		name:   "create/start-and-size-unspecified-fill-the-disk",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "root"}]}]}`),
		after:  []disk{{Parts: []part{{Num: 1, Label: "root", Type: typeLinux, StartMiB: 1, ToEnd: true}}}},
	},
	{
		name: "create/start-0-size-0-fills-the-largest-gap",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "a", GUID: g1, StartMiB: 1, SizeMiB: 8},
			{Num: 2, Label: "b", GUID: g2, StartMiB: 40, SizeMiB: 8}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 3, "label": "gap", "startMiB": 0, "sizeMiB": 0}]}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, GUID: g1, StartMiB: 1, SizeMiB: 8},
			{Num: 2, GUID: g2, StartMiB: 40, SizeMiB: 8},
			{Num: 3, Label: "gap", StartMiB: 9, SizeMiB: 31}}}},
	},
	{
		name: "create/explicit-start-size-0-ends-at-its-block",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "a", GUID: g1, StartMiB: 1, SizeMiB: 8},
			{Num: 2, Label: "b", GUID: g2, StartMiB: 40, SizeMiB: 8}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 3, "label": "mid", "startMiB": 12, "sizeMiB": 0}]}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, GUID: g1}, {Num: 2, GUID: g2},
			{Num: 3, Label: "mid", StartMiB: 12, SizeMiB: 28}}}},
	},
	{
		name:   "create/several-in-config-order",
		before: []disk{{SizeMiB: 128}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "EFI-SYSTEM", "typeGuid": "` + typeESP + `", "sizeMiB": 16},
			{"number": 2, "label": "boot", "sizeMiB": 32},
			{"number": 3, "label": "root", "typeGuid": "` + typeVar + `"}]}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, Label: "EFI-SYSTEM", Type: typeESP, StartMiB: 1, SizeMiB: 16},
			{Num: 2, Label: "boot", Type: typeLinux, StartMiB: 17, SizeMiB: 32},
			{Num: 3, Label: "root", Type: typeVar, StartMiB: 49, ToEnd: true}}}},
	},
	{
		name:   "create/two-disks",
		before: []disk{{SizeMiB: 64}, {SizeMiB: 64}},
		config: cfg(`{"disks": [
			{"device": "$disk0", "partitions": [{"number": 1, "label": "a", "sizeMiB": 16}]},
			{"device": "$disk1", "partitions": [{"number": 1, "label": "b", "guid": "` + g2 + `"}]}],
			"filesystems": [{"device": "$disk1p1", "format": "ext4", "label": "B", "path": "/data"}]}`),
		after: []disk{
			{Parts: []part{{Num: 1, Label: "a", StartMiB: 1, SizeMiB: 16}}},
			{Parts: []part{{Num: 1, Label: "b", GUID: g2, StartMiB: 1, ToEnd: true, FS: &fsys{Format: "ext4", Label: "B"}}}}},
		mounts: []mnt{{Path: "/data", Dev: "$disk1p1"}},
	},

	{
		name: "untouched/disk-the-config-does-not-name",
		before: []disk{twoParts(), {SizeMiB: 64, Parts: []part{{Num: 1, Label: "other", GUID: g3, StartMiB: 1, SizeMiB: 32,
			FS: &fsys{Format: "ext4", Label: "OTHER", Files: map[string]string{"/mine": "m"}}}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [{"number": 1, "label": "root"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "ROOT", "path": "/"}],
			"files": [{"path": "/etc/motd", "contents": {"source": "data:,m"}}]}`),
		after: []disk{
			{Parts: []part{{Num: 1, Label: "root", StartMiB: 1, ToEnd: true, FS: &fsys{Format: "ext4", Label: "ROOT", Files: map[string]string{"/etc/motd": "m"}}}}},
			{Parts: []part{{Num: 1, Label: "other", GUID: g3, FS: &fsys{Format: "ext4", Label: "OTHER", Files: map[string]string{"/mine": "m"}}}}}},
		mounts: []mnt{{Path: "/", Dev: "$disk0p1"}},
		same:   []int{1},
	},

	// ---- keeping partitions that match ----
	{
		name:   "keep/exact-match-keeps-entry-and-data",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "data", "typeGuid": "` + typeLinux + `", "guid": "` + g1 + `", "startMiB": 1, "sizeMiB": 32}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4"}]}`),
		after: []disk{dataKept()},
		same:  []int{0},
	},
	{
		name:   "keep/unspecified-start-and-size-take-the-existing-ones",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data"}]}]}`),
		after:  []disk{dataKept()},
		same:   []int{0},
	},
	{
		name: "keep/number-0-matches-by-label",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "root", GUID: g1, StartMiB: 1, SizeMiB: 16},
			{Num: 2, Label: "var", GUID: g2, StartMiB: 17, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "VAR", Files: map[string]string{"/lib/state": "s"}}}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 0, "label": "var"}]}],
			"filesystems": [{"device": "$disk0p2", "format": "ext4", "label": "VAR"}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, Label: "root", GUID: g1, StartMiB: 1, SizeMiB: 16},
			{Num: 2, Label: "var", GUID: g2, StartMiB: 17, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "VAR", Files: map[string]string{"/lib/state": "s"}}}}}},
	},
	{
		name: "keep/size-0-matches-a-partition-that-fills-the-disk",
		before: []disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "root", GUID: g1, StartMiB: 1, SizeMiB: -1,
			FS: &fsys{Format: "ext4", Label: "ROOT", UUID: u1, Files: map[string]string{"/etc/os": "x"}}}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "root", "startMiB": 0, "sizeMiB": 0}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "ROOT", "uuid": "` + u1 + `"}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "root", GUID: g1, StartMiB: 1, ToEnd: true,
			FS: &fsys{Format: "ext4", Label: "ROOT", UUID: u1, Files: map[string]string{"/etc/os": "x"}}}}}},
	},
	{
		name:   "keep/matching-entry-with-wipePartitionEntry-is-not-recreated",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "data", "startMiB": 1, "sizeMiB": 32, "wipePartitionEntry": true}]}]}`),
		after: []disk{dataKept()},
	},

	// ---- replacing, resizing and deleting partitions ----
	{
		name:   "wipe-entry/size-mismatch-recreated",
		before: []disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "old", GUID: g1, StartMiB: 1, SizeMiB: 16}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "new", "sizeMiB": 32, "wipePartitionEntry": true}]}]}`),
		after:  []disk{{Parts: []part{{Num: 1, Label: "new", StartMiB: 1, SizeMiB: 32, GUIDNot: g1}}}},
	},
	{
		name:   "wipe-entry/type-mismatch-recreated",
		before: []disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "esp", GUID: g1, StartMiB: 1, SizeMiB: 16}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "esp", "typeGuid": "` + typeESP + `", "startMiB": 1, "sizeMiB": 16, "wipePartitionEntry": true}]}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "esp", Type: typeESP, StartMiB: 1, SizeMiB: 16, GUIDNot: g1}}}},
	},
	{
		name:   "resize/grow-keeps-guid-and-data",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "sizeMiB": 48, "resize": true}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA"}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 48,
			FS: &fsys{Format: "ext4", Label: "DATA", UUID: u1, Files: map[string]string{"/keep.txt": "old data"}}}}}},
	},
	{
		name:   "resize/size-0-grows-to-the-end",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "sizeMiB": 0, "resize": true}]}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "data", GUID: g1, StartMiB: 1, ToEnd: true,
			FS: &fsys{Format: "ext4", UUID: u1, Files: map[string]string{"/keep.txt": "old data"}}}}}},
	},
	{
		name:   "delete/shouldExist-false-with-wipePartitionEntry",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "shouldExist": false, "wipePartitionEntry": true}]}]}`),
		after:  []disk{{Parts: []part{{Num: 1, Label: "one", GUID: g1, StartMiB: 1, SizeMiB: 16}}}},
	},
	{
		name:   "delete/shouldExist-false-on-missing-partition-is-a-no-op",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 5, "shouldExist": false}]}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, Label: "one", GUID: g1, StartMiB: 1, SizeMiB: 16},
			{Num: 2, Label: "two", GUID: g2, StartMiB: 17, SizeMiB: 16}}}},
		same: []int{0},
	},
	{
		name:   "delete/shouldExist-false-with-wipe-on-missing-partition-is-a-no-op",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 3, "shouldExist": false, "wipePartitionEntry": true}]}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, Label: "one", GUID: g1, StartMiB: 1, SizeMiB: 16},
			{Num: 2, Label: "two", GUID: g2, StartMiB: 17, SizeMiB: 16}}}},
	},
	{
		name:   "wipe-table/old-partitions-replaced",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [{"number": 1, "label": "fresh", "sizeMiB": 8}]}]}`),
		after:  []disk{{Parts: []part{{Num: 1, Label: "fresh", StartMiB: 1, SizeMiB: 8, GUIDNot: g1}}}},
	},
	{
		name:   "wipe-table/no-partitions-left",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "wipeTable": true}]}`),
		after:  []disk{{}},
	},

	// ---- making filesystems ----
	{
		name:   "mkfs/ext4-label-uuid-mounted-and-written",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "var"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "VAR", "uuid": "` + u1 + `", "path": "/var"}],
			"files": [{"path": "/var/lib/hello", "contents": {"source": "data:,hi"}}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "var", StartMiB: 1, ToEnd: true,
			FS: &fsys{Format: "ext4", Label: "VAR", UUID: u1, Files: map[string]string{"/lib/hello": "hi"}}}}}},
		mounts:   []mnt{{Path: "/var", Dev: "$disk0p1"}},
		rootGone: []string{"/var/lib/hello"},
	},
	{
		name:   "mkfs/xfs-label-uuid",
		before: []disk{{SizeMiB: 400}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "srv", "sizeMiB": 320}]}],
			"filesystems": [{"device": "$disk0p1", "format": "xfs", "label": "SRV", "uuid": "` + u2 + `", "path": "/srv"}],
			"files": [{"path": "/srv/data.txt", "contents": {"source": "data:,xfs"}}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "srv", StartMiB: 1, SizeMiB: 320,
			FS: &fsys{Format: "xfs", Label: "SRV", UUID: u2, Files: map[string]string{"/data.txt": "xfs"}}}}}},
		mounts: []mnt{{Path: "/srv", Dev: "$disk0p1"}},
	},
	{
		name:   "mkfs/btrfs-label-uuid",
		before: []disk{{SizeMiB: 200}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "btrfs", "label": "BT", "uuid": "` + u3 + `", "path": "/data"}],
			"files": [{"path": "/data/x", "contents": {"source": "data:,btrfs"}}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "data",
			FS: &fsys{Format: "btrfs", Label: "BT", UUID: u3, Files: map[string]string{"/x": "btrfs"}}}}}},
		mounts: []mnt{{Path: "/data", Dev: "$disk0p1"}},
	},
	{
		name:   "mkfs/swap-label-uuid",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "swap", "typeGuid": "` + typeSwap + `", "sizeMiB": 32}]}],
			"filesystems": [{"device": "$disk0p1", "format": "swap", "label": "SWAP", "uuid": "` + u4 + `"}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "swap", Type: typeSwap, SizeMiB: 32,
			FS: &fsys{Format: "swap", Label: "SWAP", UUID: u4}}}}},
	},
	{
		name:   "mkfs/vfat-label-volume-id",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "EFI-SYSTEM", "typeGuid": "` + typeESP + `", "sizeMiB": 32}]}],
			"filesystems": [{"device": "$disk0p1", "format": "vfat", "label": "EFI", "uuid": "1234-ABCD"}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "EFI-SYSTEM", Type: typeESP, SizeMiB: 32,
			FS: &fsys{Format: "vfat", Label: "EFI", UUID: "1234-ABCD"}}}}},
	},
	{
		name:   "mkfs/format-none-on-a-blank-partition",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "raw", "sizeMiB": 16}]}],
			"filesystems": [{"device": "$disk0p1", "format": "none"}]}`),
		after: []disk{{Parts: []part{{Num: 1, Label: "raw", SizeMiB: 16, FS: &fsys{Format: "none"}}}}},
	},
	{
		name:   "mkfs/ext4-on-a-whole-device",
		before: []disk{{SizeMiB: 64, Raw: true}},
		config: cfg(`{"filesystems": [{"device": "$disk0", "format": "ext4", "label": "WHOLE", "path": "/mnt/whole"}],
			"files": [{"path": "/mnt/whole/f", "contents": {"source": "data:,whole"}}]}`),
		after:  []disk{{Raw: true, FS: &fsys{Format: "ext4", Label: "WHOLE", Files: map[string]string{"/f": "whole"}}}},
		mounts: []mnt{{Path: "/mnt/whole", Dev: "$disk0"}},
	},

	// ---- reusing filesystems ----
	{
		name:   "reuse/ext4-on-a-whole-device-keeps-files",
		before: []disk{{SizeMiB: 64, Raw: true, FS: &fsys{Format: "ext4", Label: "WHOLE", UUID: u1, Files: map[string]string{"/old": "o"}}}},
		config: cfg(`{"filesystems": [{"device": "$disk0", "format": "ext4", "label": "WHOLE"}]}`),
		after:  []disk{{Raw: true, FS: &fsys{Format: "ext4", Label: "WHOLE", UUID: u1, Files: map[string]string{"/old": "o"}}}},
	},
	{
		name:   "reuse/same-format-label-uuid-keeps-files",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "uuid": "` + u1 + `"}]}`),
		after:  []disk{dataKept()},
		same:   []int{0},
	},
	{
		name:   "reuse/unspecified-label-and-uuid-need-not-match",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4"}]}`),
		after:  []disk{dataKept()},
		same:   []int{0},
	},
	{
		name: "reuse/btrfs-keeps-files",
		before: []disk{{SizeMiB: 200, Parts: []part{{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 128,
			FS: &fsys{Format: "btrfs", Label: "B", UUID: u3, Files: map[string]string{"/keep": "k"}}}}}},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "btrfs", "label": "B"}]}`),
		after: []disk{{Parts: []part{{Num: 1, GUID: g1, StartMiB: 1, SizeMiB: 128,
			FS: &fsys{Format: "btrfs", Label: "B", UUID: u3, Files: map[string]string{"/keep": "k"}}}}}},
	},
	{
		name: "reuse/vfat-keeps-files",
		before: []disk{{SizeMiB: 64, Parts: []part{{Num: 1, Label: "EFI-SYSTEM", Type: typeESP, GUID: g1, StartMiB: 1, SizeMiB: 32,
			FS: &fsys{Format: "vfat", Label: "EFI", UUID: "1234-ABCD", Files: map[string]string{"/BOOT.TXT": "boot"}}}}}},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "vfat", "label": "EFI"}]}`),
		after: []disk{{Parts: []part{{Num: 1, GUID: g1,
			FS: &fsys{Format: "vfat", Label: "EFI", UUID: "1234-ABCD", Files: map[string]string{"/BOOT.TXT": "boot"}}}}}},
		same: []int{0},
	},
	{
		name: "reuse/xfs-keeps-files-and-is-mounted",
		before: []disk{{SizeMiB: 400, Parts: []part{{Num: 1, Label: "srv", GUID: g1, StartMiB: 1, SizeMiB: 320,
			FS: &fsys{Format: "xfs", Label: "SRV", UUID: u2, Files: map[string]string{"/old/data": "d"}}}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "srv", "sizeMiB": 320}]}],
			"filesystems": [{"device": "$disk0p1", "format": "xfs", "uuid": "` + u2 + `", "path": "/srv"}],
			"files": [{"path": "/srv/new", "contents": {"source": "data:,n"}}]}`),
		after: []disk{{Parts: []part{{Num: 1, GUID: g1, StartMiB: 1, SizeMiB: 320,
			FS: &fsys{Format: "xfs", Label: "SRV", UUID: u2, Files: map[string]string{"/old/data": "d", "/new": "n"}}}}}},
		mounts: []mnt{{Path: "/srv", Dev: "$disk0p1"}},
	},
	{
		name:   "wipe-fs/whole-device-ext4-to-xfs",
		before: []disk{{SizeMiB: 320, Raw: true, FS: &fsys{Format: "ext4", Label: "OLD", UUID: u1, Files: map[string]string{"/old": "o"}}}},
		config: cfg(`{"filesystems": [{"device": "$disk0", "format": "xfs", "label": "NEW", "uuid": "` + u2 + `", "wipeFilesystem": true}]}`),
		after:  []disk{{Raw: true, FS: &fsys{Format: "xfs", Label: "NEW", UUID: u2, Gone: []string{"/old"}}}},
	},
	{
		name:   "wipe-fs/different-format-recreated",
		before: []disk{bigDataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "btrfs", "label": "NEW", "wipeFilesystem": true}]}`),
		after: []disk{{Parts: []part{{Num: 1, GUID: g1, StartMiB: 1, SizeMiB: 128,
			FS: &fsys{Format: "btrfs", Label: "NEW", UUIDNot: u1, Gone: []string{"/keep.txt"}}}}}},
	},
	{
		name:   "wipe-fs/same-format-new-label-recreated",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "NEW", "wipeFilesystem": true}]}`),
		after: []disk{{Parts: []part{{Num: 1, GUID: g1,
			FS: &fsys{Format: "ext4", Label: "NEW", UUIDNot: u1, Gone: []string{"/keep.txt"}}}}}},
	},
	{
		name:   "wipe-fs/format-none-erases-the-signature",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "none", "wipeFilesystem": true}]}`),
		after:  []disk{{Parts: []part{{Num: 1, GUID: g1, StartMiB: 1, SizeMiB: 32, FS: &fsys{Format: "none"}}}}},
	},

	// ---- mounting ----
	{
		name:   "mount/nested-paths-mount-by-depth",
		before: []disk{{SizeMiB: 256}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "root", "sizeMiB": 64}, {"number": 2, "label": "var", "sizeMiB": 64}, {"number": 3, "label": "log"}]}],
			"filesystems": [
				{"device": "$disk0p3", "format": "ext4", "label": "LOG", "path": "/var/log"},
				{"device": "$disk0p1", "format": "ext4", "label": "ROOT", "path": "/"},
				{"device": "$disk0p2", "format": "ext4", "label": "VAR", "path": "/var"}],
			"files": [
				{"path": "/etc/motd", "contents": {"source": "data:,m"}},
				{"path": "/var/v", "contents": {"source": "data:,v"}},
				{"path": "/var/log/l", "contents": {"source": "data:,l"}}]}`),
		after: []disk{{Parts: []part{
			{Num: 1, Label: "root", StartMiB: 1, SizeMiB: 64, FS: &fsys{Format: "ext4", Label: "ROOT", Files: map[string]string{"/etc/motd": "m"}, Gone: []string{"/var/v"}}},
			{Num: 2, Label: "var", StartMiB: 65, SizeMiB: 64, FS: &fsys{Format: "ext4", Label: "VAR", Files: map[string]string{"/v": "v"}, Gone: []string{"/log/l"}}},
			{Num: 3, Label: "log", StartMiB: 129, ToEnd: true, FS: &fsys{Format: "ext4", Label: "LOG", Files: map[string]string{"/l": "l"}}}}}},
		mounts:   []mnt{{Path: "/", Dev: "$disk0p1"}, {Path: "/var", Dev: "$disk0p2"}, {Path: "/var/log", Dev: "$disk0p3"}},
		rootGone: []string{"/etc/motd", "/var/v"},
	},
	{
		name:   "mount/mountOptions-noatime",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "var"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "path": "/var", "mountOptions": ["noatime"]}],
			"files": [{"path": "/var/f", "contents": {"source": "data:,f"}}]}`),
		after:  []disk{{Parts: []part{{Num: 1, FS: &fsys{Format: "ext4", Files: map[string]string{"/f": "f"}}}}}},
		mounts: []mnt{{Path: "/var", Dev: "$disk0p1", Opts: []string{"noatime"}}},
	},
	{
		name:   "mount/missing-mount-point-created",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "deep"}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "path": "/srv/a/b/c"}],
			"files": [{"path": "/srv/a/b/c/f", "contents": {"source": "data:,deep"}}]}`),
		after:    []disk{{Parts: []part{{Num: 1, FS: &fsys{Format: "ext4", Files: map[string]string{"/f": "deep"}}}}}},
		mounts:   []mnt{{Path: "/srv/a/b/c", Dev: "$disk0p1"}},
		rootGone: []string{"/srv/a/b/c/f"},
	},
	{
		name:   "mount/reused-filesystem-gets-new-files-and-keeps-old",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "path": "/var"}],
			"files": [{"path": "/var/new.txt", "contents": {"source": "data:,new"}}, {"path": "/etc/hostname", "contents": {"source": "data:,host"}}]}`),
		after: []disk{{Parts: []part{{Num: 1, GUID: g1, StartMiB: 1, SizeMiB: 32,
			FS: &fsys{Format: "ext4", Label: "DATA", UUID: u1, Files: map[string]string{"/keep.txt": "old data", "/new.txt": "new"}}}}}},
		mounts:   []mnt{{Path: "/var", Dev: "$disk0p1"}},
		rootHas:  map[string]string{"/etc/hostname": "host"},
		rootGone: []string{"/var/new.txt"},
	},

	// ---- running twice ----
	{
		name:   "rerun/second-run-keeps-user-data",
		before: []disk{{SizeMiB: 64}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "var", "guid": "` + g1 + `", "sizeMiB": 0}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "VAR", "uuid": "` + u1 + `", "path": "/var"}],
			"files": [{"path": "/var/app.conf", "overwrite": true, "contents": {"source": "data:,v1"}}]}`),
		between: map[string]map[string]string{"$disk0p1": {"/user.txt": "mine", "/app.conf": "edited"}},
		after: []disk{{Parts: []part{{Num: 1, Label: "var", GUID: g1, StartMiB: 1, ToEnd: true,
			FS: &fsys{Format: "ext4", Label: "VAR", UUID: u1, Files: map[string]string{"/user.txt": "mine", "/app.conf": "v1"}}}}}},
		mounts: []mnt{{Path: "/var", Dev: "$disk0p1"}},
	},
	{
		name:   "rerun/second-run-keeps-partitions-and-vfat",
		before: []disk{{SizeMiB: 128}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "EFI-SYSTEM", "typeGuid": "` + typeESP + `", "sizeMiB": 32},
			{"number": 2, "label": "root"}]}],
			"filesystems": [
				{"device": "$disk0p1", "format": "vfat", "label": "EFI"},
				{"device": "$disk0p2", "format": "ext4", "label": "ROOT", "path": "/"}],
			"files": [{"path": "/etc/motd", "overwrite": true, "contents": {"source": "data:,hello"}}]}`),
		between: map[string]map[string]string{"$disk0p1": {"/USER.TXT": "u"}, "$disk0p2": {"/home/me/notes": "n"}},
		after: []disk{{Parts: []part{
			{Num: 1, Label: "EFI-SYSTEM", Type: typeESP, StartMiB: 1, SizeMiB: 32, FS: &fsys{Format: "vfat", Label: "EFI", Files: map[string]string{"/USER.TXT": "u"}}},
			{Num: 2, Label: "root", StartMiB: 33, ToEnd: true, FS: &fsys{Format: "ext4", Label: "ROOT", Files: map[string]string{"/home/me/notes": "n", "/etc/motd": "hello"}}}}}},
		mounts: []mnt{{Path: "/", Dev: "$disk0p2"}},
	},

	// ---- dry runs: a plan printed, nothing changed ----
	{
		name: "dry-run/create-keep-delete-mkfs",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "data", GUID: g1, StartMiB: 1, SizeMiB: 16, FS: &fsys{Format: "ext4", Label: "DATA"}},
			{Num: 2, Label: "old", GUID: g2, StartMiB: 17, SizeMiB: 8}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [
			{"number": 1, "label": "data"},
			{"number": 2, "shouldExist": false, "wipePartitionEntry": true},
			{"number": 3, "label": "new", "sizeMiB": 8}]}],
			"filesystems": [{"device": "$disk0p3", "format": "ext4", "label": "NEW", "path": "/var"}]}`),
		dryRun: []string{`\$disk0`, `creat`, `keep|kept`, `delet|remov`, `mkfs\.ext4`},
	},
	{
		name:   "dry-run/resize-and-wipe-filesystem",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "sizeMiB": 48, "resize": true}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "NEW", "wipeFilesystem": true}]}`),
		dryRun: []string{`\$disk0p1`, `resiz|grow`, `wip`, `mkfs\.ext4`},
	},

	// ---- failures: the run stops and every disk is byte-for-byte unchanged ----
	{
		name:   "refuse/partition-size-mismatch-without-wipe",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "sizeMiB": 16}]}]}`),
		fail:   "disks",
		why:    `partition 1\b.*size`,
	},
	{
		name:   "refuse/partition-label-mismatch-without-wipe",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "other"}]}]}`),
		fail:   "disks",
		why:    `partition 1\b.*label`,
	},
	{
		name:   "refuse/partition-type-mismatch-without-wipe",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "typeGuid": "` + typeESP + `"}]}]}`),
		fail:   "disks",
		why:    `partition 1\b.*type`,
	},
	{
		name:   "refuse/partition-guid-mismatch-without-wipe",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "data", "guid": "` + g3 + `"}]}]}`),
		fail:   "disks",
		why:    `partition 1\b.*guid`,
	},
	{
		name:   "refuse/resize-when-more-than-size-differs",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 1, "label": "renamed", "sizeMiB": 48, "resize": true}]}]}`),
		fail:   "disks",
		why:    `partition 1\b.*label`,
	},
	{
		name:   "refuse/shouldExist-false-without-wipe-on-existing-partition",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "shouldExist": false}]}]}`),
		fail:   "disks",
		why:    `partition 2\b.*(shouldExist|wipePartitionEntry)`,
	},
	{
		name:   "refuse/new-partition-overlaps-an-existing-one",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 3, "label": "x", "startMiB": 8, "sizeMiB": 8}]}]}`),
		fail:   "disks",
		why:    `partition 3\b`,
	},
	{
		name:   "refuse/partition-larger-than-the-disk",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 3, "label": "huge", "sizeMiB": 100}]}]}`),
		fail:   "disks",
		why:    `partition 3\b`,
	},
	{
		name: "refuse/size-0-with-start-outside-the-largest-block",
		before: []disk{{SizeMiB: 64, Parts: []part{
			{Num: 1, Label: "a", GUID: g1, StartMiB: 1, SizeMiB: 8},
			{Num: 2, Label: "b", GUID: g2, StartMiB: 20, SizeMiB: 4}}}},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 3, "label": "c", "startMiB": 10, "sizeMiB": 0}]}]}`),
		fail:   "disks",
		why:    `partition 3\b`,
	},
	{
		name:   "refuse/number-0-with-shouldExist-false-on-the-same-disk",
		before: []disk{twoParts()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 0, "label": "x", "sizeMiB": 4}, {"number": 2, "shouldExist": false, "wipePartitionEntry": true}]}]}`),
		fail:   "any",
		why:    `shouldExist`,
	},
	{
		name:   "refuse/filesystem-of-another-format-without-wipe",
		before: []disk{bigDataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "btrfs"}]}`),
		fail:   "disks",
		why:    `\$disk0p1.*ext4.*btrfs|\$disk0p1.*btrfs.*ext4`,
	},
	{
		name:   "refuse/format-none-over-a-filesystem-without-wipe",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "none"}]}`),
		fail:   "disks",
		why:    `\$disk0p1.*(none.*ext4|ext4.*none)`,
	},
	{
		name:   "refuse/filesystem-label-mismatch-without-wipe",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "OTHER"}]}`),
		fail:   "disks",
		why:    `\$disk0p1.*(DATA.*OTHER|OTHER.*DATA)`,
	},
	{
		name:   "refuse/filesystem-uuid-mismatch-without-wipe",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "uuid": "` + u2 + `"}]}`),
		fail:   "disks",
		why:    `\$disk0p1.*0f3c6c5e-2222`,
	},
	{
		name:   "refuse/whole-device-filesystem-of-another-format-without-wipe",
		before: []disk{{SizeMiB: 64, Raw: true, FS: &fsys{Format: "ext4", Label: "WHOLE"}}},
		config: cfg(`{"filesystems": [{"device": "$disk0", "format": "swap"}]}`),
		fail:   "disks",
		why:    `\$disk0\b.*(swap.*ext4|ext4.*swap)`,
	},
	{
		name:       "refuse/disk-with-a-mounted-partition",
		before:     []disk{dataDisk()},
		mountFirst: "$disk0p1",
		config:     cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "more", "sizeMiB": 8}]}]}`),
		fail:       "disks",
		why:        `\$disk0\b.*(mounted|in use|busy)`,
	},
	{
		// the disk is kept as it is, but the filesystem on its mounted
		// partition would be wiped: refused in the plan
		name:       "refuse/wipe-of-a-mounted-kept-partition",
		before:     []disk{dataDisk(), {SizeMiB: 64}},
		mountFirst: "$disk0p1",
		config: cfg(`{"disks": [{"device": "$disk1", "partitions": [{"number": 1, "label": "new", "sizeMiB": 8}]},
			{"device": "$disk0", "partitions": [{"number": 1}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4", "wipeFilesystem": true}]}`),
		fail: "disks",
		why:  `\$disk0p1\b.*(mounted|in use|busy)`,
	},
	{
		name:   "refuse/second-disk-mismatch-leaves-the-first-disk-alone",
		before: []disk{{SizeMiB: 64}, dataDisk()},
		config: cfg(`{"disks": [
			{"device": "$disk0", "partitions": [{"number": 1, "label": "fine", "sizeMiB": 16}]},
			{"device": "$disk1", "partitions": [{"number": 1, "label": "data", "sizeMiB": 8}]}],
			"filesystems": [{"device": "$disk0p1", "format": "ext4"}]}`),
		fail: "disks",
		why:  `\$disk1\b.*partition 1\b`,
	},
	{
		name:   "refuse/filesystem-mismatch-after-a-valid-partition-change",
		before: []disk{dataDisk()},
		config: cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "more", "sizeMiB": 8}]}],
			"filesystems": [{"device": "$disk0p2", "format": "ext4"}, {"device": "$disk0p1", "format": "xfs"}]}`),
		fail: "disks",
		why:  `\$disk0p1.*(xfs.*ext4|ext4.*xfs)`,
	},
	{
		name:   "refuse/read-only-mount-makes-files-fail",
		before: []disk{dataDisk()},
		config: cfg(`{"filesystems": [{"device": "$disk0p1", "format": "ext4", "label": "DATA", "path": "/var", "mountOptions": ["ro"]}],
			"files": [{"path": "/var/x", "contents": {"source": "data:,x"}}]}`),
		fail: "files",
		why:  `read-only`,
	},
}

func TestScenarios(t *testing.T) {
	requireRoot(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runScenario(t, sc)
		})
	}
}

func runScenario(t *testing.T, sc scenario) {
	w := newWorld(t)
	w.build(sc.before)
	own := map[string]bool{} // mounts the test made on purpose
	if sc.mountFirst != "" {
		dir, err := os.MkdirTemp(w.dir, "busy-")
		if err != nil {
			t.Fatal(err)
		}
		w.cmd("mount", "-o", "ro", w.subst(sc.mountFirst), dir)
		own[dir] = true
	}
	if err := os.WriteFile(w.conf, []byte(w.subst(sc.config)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := w.hashes()
	var log string
	defer func() {
		if t.Failed() || os.Getenv("DISKS_TEST_LOGS") != "" {
			t.Logf("config:\n%s\nlog:\n%s", w.subst(sc.config), log)
		}
	}()
	unchanged := func(disks ...int) {
		t.Helper()
		after := w.hashes()
		if disks == nil {
			for i := range before {
				disks = append(disks, i)
			}
		}
		for _, i := range disks {
			if before[i] != after[i] {
				t.Errorf("$disk%d (%s) changed: sha256 %s before, %s after; want it byte-for-byte unchanged", i, w.loops[i], before[i][:12], after[i][:12])
			}
		}
	}
	nothingMounted := func() {
		t.Helper()
		for _, mi := range w.ourMounts() {
			if !own[mi.point] {
				t.Errorf("still mounted after the run: %s (%s)", mi.point, mi.source)
			}
		}
	}

	if sc.dryRun != nil {
		r := w.stage("fetch-offline")
		log = "==== fetch-offline\n" + r.out + r.stderr
		if r.code != 0 {
			t.Fatalf("fetch-offline: exit %d", r.code)
		}
		r = w.stage("disks", "-dry-run")
		log += "==== disks -dry-run\n" + r.out + r.stderr
		if r.code != 0 {
			t.Errorf("disks -dry-run: exit %d; want 0", r.code)
		}
		for _, re := range sc.dryRun {
			re = w.subst(re)
			if !regexp.MustCompile(`(?i)` + re).MatchString(r.out + r.stderr) {
				t.Errorf("disks -dry-run output does not match %q", re)
			}
		}
		unchanged()
		nothingMounted()
		return
	}

	failed, failedOut, l := w.sequence(func() { w.checkMounts(sc.mounts) })
	log = l
	nothingMounted()
	if sc.fail != "" {
		switch {
		case failed == "":
			t.Errorf("the run succeeded; want stage %s to fail", sc.fail)
		case sc.fail != "any" && failed != sc.fail:
			t.Errorf("stage %s failed; want stage %s to fail", failed, sc.fail)
		}
		if sc.why != "" && failed != "" {
			if re := w.subst(sc.why); !regexp.MustCompile(`(?i)` + re).MatchString(failedOut) {
				t.Errorf("stage %s failed, but its output does not match %q: the failure is not the one the scenario is about", failed, re)
			}
		}
		unchanged()
		return
	}
	if failed != "" {
		t.Fatalf("stage %s failed; want success", failed)
	}
	if sc.between != nil {
		for dev, files := range sc.between {
			d := w.subst(dev)
			w.writeFiles(d, blkid(d)["TYPE"], files)
		}
		failed, _, l = w.sequence(func() { w.checkMounts(sc.mounts) })
		log += "==== second run\n" + l
		nothingMounted()
		if failed != "" {
			t.Fatalf("second run: stage %s failed; want success", failed)
		}
	}
	if sc.same != nil {
		unchanged(sc.same...)
	}
	w.checkDisks(sc.after)
	for p, c := range sc.rootHas {
		b, err := os.ReadFile(filepath.Join(w.root, p))
		if err != nil || string(b) != c {
			t.Errorf("<root>%s = %q, %v; want %q", p, b, err, c)
		}
	}
	for _, p := range sc.rootGone {
		if _, err := os.Lstat(filepath.Join(w.root, p)); err == nil {
			t.Errorf("<root>%s is in the bare root; want it only in its filesystem", p)
		}
	}
}
