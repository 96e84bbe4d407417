package config

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

func TestMerge(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	flag := func(b bool) *bool { return &b }
	const v = "3.4.0"
	ign := Ignition{Version: v}
	file := func(path string, mode int) File { return File{Node: Node{Path: path}, Mode: num(mode)} }
	dir := func(path string) Directory { return Directory{Node: Node{Path: path}} }
	link := func(path, target string) Link { return Link{Node: Node{Path: path}, Target: str(target)} }
	hdr := func(name, value string) HTTPHeader { return HTTPHeader{Name: name, Value: str(value)} }
	res := func(source string) Resource { return Resource{Source: str(source)} }

	tests := []struct {
		name                string
		parent, child, want Config
	}{
		{
			name: "absent pointer inherits the parent's value",
			parent: Config{
				Ignition: Ignition{Version: v, Timeouts: Timeouts{HTTPResponseHeaders: num(10), HTTPTotal: num(30)}},
				Passwd:   Passwd{Users: []PasswdUser{{Name: "core", Shell: str("/bin/zsh"), System: flag(true), UID: num(1000)}}},
			},
			child: Config{
				Ignition: Ignition{Version: v, Timeouts: Timeouts{HTTPTotal: num(60)}},
				Passwd:   Passwd{Users: []PasswdUser{{Name: "core", HomeDir: str("/var/home/core")}}},
			},
			want: Config{
				Ignition: Ignition{Version: v, Timeouts: Timeouts{HTTPResponseHeaders: num(10), HTTPTotal: num(60)}},
				Passwd:   Passwd{Users: []PasswdUser{{Name: "core", HomeDir: str("/var/home/core"), Shell: str("/bin/zsh"), System: flag(true), UID: num(1000)}}},
			},
		},
		{
			name: "explicit false, empty string and zero override",
			parent: Config{Ignition: ign, Passwd: Passwd{Users: []PasswdUser{{
				Name: "core", Shell: str("/bin/zsh"), NoCreateHome: flag(true), UID: num(1000),
			}}}},
			child: Config{Ignition: ign, Passwd: Passwd{Users: []PasswdUser{{
				Name: "core", Shell: str(""), NoCreateHome: flag(false), UID: num(0),
			}}}},
			want: Config{Ignition: ign, Passwd: Passwd{Users: []PasswdUser{{
				Name: "core", Shell: str(""), NoCreateHome: flag(false), UID: num(0),
			}}}},
		},
		{
			name:   "scalar takes the child's value",
			parent: Config{Ignition: Ignition{Version: "3.0.0"}},
			child:  Config{Ignition: Ignition{Version: "3.4.0"}},
			want:   Config{Ignition: Ignition{Version: "3.4.0"}},
		},
		{
			name:   "scalar zero value overrides",
			parent: Config{Ignition: Ignition{Version: v, Timeouts: Timeouts{HTTPTotal: num(30)}}},
			child:  Config{Ignition: Ignition{Proxy: Proxy{HTTPProxy: str("http://proxy:3128")}}},
			want: Config{Ignition: Ignition{
				Version:  "",
				Proxy:    Proxy{HTTPProxy: str("http://proxy:3128")},
				Timeouts: Timeouts{HTTPTotal: num(30)},
			}},
		},
		{
			name:   "zero child struct keeps the parent's",
			parent: Config{Ignition: Ignition{Version: v, Timeouts: Timeouts{HTTPTotal: num(30)}}},
			child:  Config{Storage: Storage{Files: []File{file("/etc/a", 420)}}},
			want: Config{
				Ignition: Ignition{Version: v, Timeouts: Timeouts{HTTPTotal: num(30)}},
				Storage:  Storage{Files: []File{file("/etc/a", 420)}},
			},
		},
		{
			// A header without a value would remove, not be added, if the
			// child's struct were merged rather than taken as it is.
			name:   "zero parent struct takes the child's as it is",
			parent: Config{Ignition: ign},
			child: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Replace: Resource{
				Source: str("https://example.com/r.ign"), HTTPHeaders: []HTTPHeader{{Name: "X-Gone"}},
			}}}},
			want: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Replace: Resource{
				Source: str("https://example.com/r.ign"), HTTPHeaders: []HTTPHeader{{Name: "X-Gone"}},
			}}}},
		},
		{
			name: "non-zero structs merge recursively",
			parent: Config{Ignition: Ignition{
				Version: v,
				Proxy:   Proxy{HTTPProxy: str("http://a:3128")},
				Security: Security{TLS: TLS{CertificateAuthorities: []Resource{{
					Source: str("https://example.com/ca.pem"), Verification: Verification{Hash: str("sha512-aa")},
				}}}},
			}},
			child: Config{Ignition: Ignition{
				Version: v,
				Proxy:   Proxy{HTTPSProxy: str("http://b:3128")},
				Security: Security{TLS: TLS{CertificateAuthorities: []Resource{{
					Source: str("https://example.com/ca.pem"), Compression: str("gzip"),
				}}}},
			}},
			want: Config{Ignition: Ignition{
				Version: v,
				Proxy:   Proxy{HTTPProxy: str("http://a:3128"), HTTPSProxy: str("http://b:3128")},
				Security: Security{TLS: TLS{CertificateAuthorities: []Resource{{
					Source: str("https://example.com/ca.pem"), Compression: str("gzip"), Verification: Verification{Hash: str("sha512-aa")},
				}}}},
			}},
		},
		{
			name: "files with the same path merge field by field",
			parent: Config{Ignition: ign, Storage: Storage{Files: []File{{
				Node:     Node{Path: "/etc/a", Overwrite: flag(true), User: NodeUser{Name: str("core")}},
				Contents: Resource{Source: str("data:,a"), Verification: Verification{Hash: str("sha512-aa")}},
				Mode:     num(420),
			}}}},
			child: Config{Ignition: ign, Storage: Storage{Files: []File{{
				Node:     Node{Path: "/etc/a", Group: NodeGroup{ID: num(10)}},
				Contents: Resource{Source: str("data:,b"), Compression: str("")},
				Mode:     num(384),
			}}}},
			want: Config{Ignition: ign, Storage: Storage{Files: []File{{
				Node:     Node{Path: "/etc/a", Overwrite: flag(true), User: NodeUser{Name: str("core")}, Group: NodeGroup{ID: num(10)}},
				Contents: Resource{Source: str("data:,b"), Compression: str(""), Verification: Verification{Hash: str("sha512-aa")}},
				Mode:     num(384),
			}}}},
		},
		{
			name:   "new child entries are appended in the child's order",
			parent: Config{Ignition: ign, Storage: Storage{Files: []File{file("/a", 420), file("/b", 420)}}},
			child:  Config{Ignition: ign, Storage: Storage{Files: []File{file("/d", 384), file("/b", 384), file("/c", 384)}}},
			want: Config{Ignition: ign, Storage: Storage{Files: []File{
				file("/a", 420), file("/b", 384), file("/d", 384), file("/c", 384),
			}}},
		},
		{
			name:   "child link replaces the parent's file at the same path",
			parent: Config{Ignition: ign, Storage: Storage{Files: []File{file("/a", 420), file("/b", 420)}}},
			child:  Config{Ignition: ign, Storage: Storage{Links: []Link{link("/a", "/b")}}},
			want: Config{Ignition: ign, Storage: Storage{
				Files: []File{file("/b", 420)},
				Links: []Link{link("/a", "/b")},
			}},
		},
		{
			name: "child directory replaces a link, child file replaces a directory",
			parent: Config{Ignition: ign, Storage: Storage{
				Directories: []Directory{dir("/y"), dir("/z")},
				Links:       []Link{link("/x", "/z")},
			}},
			child: Config{Ignition: ign, Storage: Storage{
				Directories: []Directory{dir("/x")},
				Files:       []File{file("/y", 420)},
			}},
			want: Config{Ignition: ign, Storage: Storage{
				Directories: []Directory{dir("/z"), dir("/x")},
				Files:       []File{file("/y", 420)},
			}},
		},
		{
			name: "kernel arguments share one key space",
			parent: Config{Ignition: ign, KernelArguments: KernelArguments{
				ShouldExist: []string{"a", "b"}, ShouldNotExist: []string{"c"},
			}},
			child: Config{Ignition: ign, KernelArguments: KernelArguments{
				ShouldExist: []string{"c", "d", "b"}, ShouldNotExist: []string{"a"},
			}},
			want: Config{Ignition: ign, KernelArguments: KernelArguments{
				ShouldExist: []string{"b", "c", "d"}, ShouldNotExist: []string{"a"},
			}},
		},
		{
			name: "header without a value removes the parent's header",
			parent: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Merge: []Resource{
				{Source: str("https://example.com/1.ign"), HTTPHeaders: []HTTPHeader{hdr("A", "1"), hdr("B", "2")}},
				{Source: str("https://example.com/2.ign"), HTTPHeaders: []HTTPHeader{hdr("A", "1")}},
			}}}},
			child: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Merge: []Resource{
				{Source: str("https://example.com/1.ign"), HTTPHeaders: []HTTPHeader{{Name: "A"}, {Name: "Z"}}},
				{Source: str("https://example.com/2.ign"), HTTPHeaders: []HTTPHeader{{Name: "A"}}},
			}}}},
			want: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Merge: []Resource{
				{Source: str("https://example.com/1.ign"), HTTPHeaders: []HTTPHeader{hdr("B", "2")}},
				{Source: str("https://example.com/2.ign")},
			}}}},
		},
		{
			name: "header value overrides, new headers are appended",
			parent: Config{Ignition: ign, Storage: Storage{Files: []File{{
				Node: Node{Path: "/a"}, Contents: Resource{Source: str("https://example.com/a"), HTTPHeaders: []HTTPHeader{hdr("A", "1"), hdr("B", "2")}},
			}}}},
			child: Config{Ignition: ign, Storage: Storage{Files: []File{{
				Node: Node{Path: "/a"}, Contents: Resource{HTTPHeaders: []HTTPHeader{hdr("C", "4"), hdr("B", "3")}},
			}}}},
			want: Config{Ignition: ign, Storage: Storage{Files: []File{{
				Node: Node{Path: "/a"}, Contents: Resource{Source: str("https://example.com/a"), HTTPHeaders: []HTTPHeader{hdr("A", "1"), hdr("B", "3"), hdr("C", "4")}},
			}}}},
		},
		{
			name: "plain-appended lists keep every item",
			parent: Config{Ignition: ign, Storage: Storage{
				Files:       []File{{Node: Node{Path: "/a"}, Append: []Resource{res("data:,1")}}},
				Filesystems: []Filesystem{{Device: "/dev/vda1", Options: []string{"-a"}, MountOptions: []string{"ro"}}},
				Raid:        []Raid{{Name: "md0", Options: []string{"--x"}}},
				Luks:        []Luks{{Name: "root", Options: []string{"--y"}}},
			}},
			child: Config{Ignition: ign, Storage: Storage{
				Files:       []File{{Node: Node{Path: "/a"}, Append: []Resource{res("data:,1"), res("data:,2")}}},
				Filesystems: []Filesystem{{Device: "/dev/vda1", Options: []string{"-a", "-b"}, MountOptions: []string{"ro"}}},
				Raid:        []Raid{{Name: "md0", Options: []string{"--x"}}},
				Luks:        []Luks{{Name: "root", Options: []string{"--z", "--y"}}},
			}},
			want: Config{Ignition: ign, Storage: Storage{
				Files:       []File{{Node: Node{Path: "/a"}, Append: []Resource{res("data:,1"), res("data:,1"), res("data:,2")}}},
				Filesystems: []Filesystem{{Device: "/dev/vda1", Options: []string{"-a", "-a", "-b"}, MountOptions: []string{"ro", "ro"}}},
				Raid:        []Raid{{Name: "md0", Options: []string{"--x", "--x"}}},
				Luks:        []Luks{{Name: "root", Options: []string{"--y", "--z", "--y"}}},
			}},
		},
		{
			name: "partitions keyed by number",
			parent: Config{Ignition: ign, Storage: Storage{Disks: []Disk{{Device: "/dev/sda", WipeTable: flag(true), Partitions: []Partition{
				{Number: 1, Label: str("root"), SizeMiB: num(100)},
				{Number: 2, Label: str("data")},
			}}}}},
			child: Config{Ignition: ign, Storage: Storage{Disks: []Disk{{Device: "/dev/sda", Partitions: []Partition{
				{Number: 3, Label: str("swap")},
				{Number: 1, SizeMiB: num(200), Resize: flag(true)},
			}}}}},
			want: Config{Ignition: ign, Storage: Storage{Disks: []Disk{{Device: "/dev/sda", WipeTable: flag(true), Partitions: []Partition{
				{Number: 1, Label: str("root"), SizeMiB: num(200), Resize: flag(true)},
				{Number: 2, Label: str("data")},
				{Number: 3, Label: str("swap")},
			}}}}},
		},
		{
			name: "partitions without a number keyed by label",
			parent: Config{Ignition: ign, Storage: Storage{Disks: []Disk{{Device: "/dev/sda", Partitions: []Partition{
				{Label: str("a"), SizeMiB: num(10)},
				{Label: str("b")},
			}}}}},
			child: Config{Ignition: ign, Storage: Storage{Disks: []Disk{{Device: "/dev/sda", Partitions: []Partition{
				{Label: str("a"), TypeGUID: str("linux")},
				{Number: 1, Label: str("b")},
			}}}}},
			want: Config{Ignition: ign, Storage: Storage{Disks: []Disk{{Device: "/dev/sda", Partitions: []Partition{
				{Label: str("a"), SizeMiB: num(10), TypeGUID: str("linux")},
				{Label: str("b")},
				{Number: 1, Label: str("b")},
			}}}}},
		},
		{
			name: "string lists keep parent items and append new child strings",
			parent: Config{
				Ignition: Ignition{Version: v, Proxy: Proxy{NoProxy: []string{"a", "b"}}},
				Passwd:   Passwd{Users: []PasswdUser{{Name: "core", Groups: []string{"wheel"}, SSHAuthorizedKeys: []string{"k1", "k2"}}}},
				Storage: Storage{
					Raid: []Raid{{Name: "md0", Devices: []string{"/dev/sda", "/dev/sdb"}}},
					Luks: []Luks{{Name: "root", OpenOptions: []string{"--allow-discards"}}},
				},
			},
			child: Config{
				Ignition: Ignition{Version: v, Proxy: Proxy{NoProxy: []string{"c", "b"}}},
				Passwd:   Passwd{Users: []PasswdUser{{Name: "core", Groups: []string{"docker", "wheel"}, SSHAuthorizedKeys: []string{"k2", "k3"}}}},
				Storage: Storage{
					Raid: []Raid{{Name: "md0", Devices: []string{"/dev/sdb", "/dev/sdc"}}},
					Luks: []Luks{{Name: "root", OpenOptions: []string{"--allow-discards", "--perf-no_read_workqueue"}}},
				},
			},
			want: Config{
				Ignition: Ignition{Version: v, Proxy: Proxy{NoProxy: []string{"a", "b", "c"}}},
				Passwd:   Passwd{Users: []PasswdUser{{Name: "core", Groups: []string{"wheel", "docker"}, SSHAuthorizedKeys: []string{"k1", "k2", "k3"}}}},
				Storage: Storage{
					Raid: []Raid{{Name: "md0", Devices: []string{"/dev/sda", "/dev/sdb", "/dev/sdc"}}},
					Luks: []Luks{{Name: "root", OpenOptions: []string{"--allow-discards", "--perf-no_read_workqueue"}}},
				},
			},
		},
		{
			name: "units and their dropins merged by name",
			parent: Config{Ignition: ign, Systemd: Systemd{Units: []Unit{
				{Name: "a.service", Enabled: flag(true), Dropins: []Dropin{{Name: "x.conf", Contents: str("x1")}, {Name: "y.conf", Contents: str("y1")}}},
				{Name: "b.service", Mask: flag(true)},
			}}},
			child: Config{Ignition: ign, Systemd: Systemd{Units: []Unit{
				{Name: "c.service", Enabled: flag(false)},
				{Name: "a.service", Contents: str("[Service]"), Dropins: []Dropin{{Name: "z.conf"}, {Name: "y.conf", Contents: str("y2")}}},
			}}},
			want: Config{Ignition: ign, Systemd: Systemd{Units: []Unit{
				{Name: "a.service", Enabled: flag(true), Contents: str("[Service]"), Dropins: []Dropin{
					{Name: "x.conf", Contents: str("x1")}, {Name: "y.conf", Contents: str("y2")}, {Name: "z.conf"},
				}},
				{Name: "b.service", Mask: flag(true)},
				{Name: "c.service", Enabled: flag(false)},
			}}},
		},
		{
			name: "users and groups keyed by name",
			parent: Config{Ignition: ign, Passwd: Passwd{
				Groups: []PasswdGroup{{Name: "g1", Gid: num(1001)}, {Name: "g2"}},
				Users:  []PasswdUser{{Name: "u1", UID: num(1001)}},
			}},
			child: Config{Ignition: ign, Passwd: Passwd{
				Groups: []PasswdGroup{{Name: "g2", ShouldExist: flag(false)}, {Name: "g3"}},
				Users:  []PasswdUser{{Name: "u2"}, {Name: "u1", Gecos: str("User One")}},
			}},
			want: Config{Ignition: ign, Passwd: Passwd{
				Groups: []PasswdGroup{{Name: "g1", Gid: num(1001)}, {Name: "g2", ShouldExist: flag(false)}, {Name: "g3"}},
				Users:  []PasswdUser{{Name: "u1", UID: num(1001), Gecos: str("User One")}, {Name: "u2"}},
			}},
		},
		{
			name: "disks and filesystems by device, raid and luks by name, tang by url",
			parent: Config{Ignition: ign, Storage: Storage{
				Disks:       []Disk{{Device: "/dev/sda", WipeTable: flag(true)}},
				Filesystems: []Filesystem{{Device: "/dev/sda1", Format: str("ext4"), Label: str("root")}},
				Raid:        []Raid{{Name: "md0", Level: str("raid1")}},
				Luks: []Luks{{Name: "root", Device: str("/dev/sda2"), Clevis: Clevis{Tpm2: flag(true), Tang: []Tang{
					{URL: "http://t1", Thumbprint: str("aa")},
				}}}},
			}},
			child: Config{Ignition: ign, Storage: Storage{
				Disks:       []Disk{{Device: "/dev/sdb"}, {Device: "/dev/sda", WipeTable: flag(false)}},
				Filesystems: []Filesystem{{Device: "/dev/sda1", Format: str("xfs")}},
				Raid:        []Raid{{Name: "md0", Spares: num(1)}, {Name: "md1"}},
				Luks: []Luks{{Name: "root", Clevis: Clevis{Threshold: num(2), Tang: []Tang{
					{URL: "http://t2"}, {URL: "http://t1", Advertisement: str("{}")},
				}}}},
			}},
			want: Config{Ignition: ign, Storage: Storage{
				Disks:       []Disk{{Device: "/dev/sda", WipeTable: flag(false)}, {Device: "/dev/sdb"}},
				Filesystems: []Filesystem{{Device: "/dev/sda1", Format: str("xfs"), Label: str("root")}},
				Raid:        []Raid{{Name: "md0", Level: str("raid1"), Spares: num(1)}, {Name: "md1"}},
				Luks: []Luks{{Name: "root", Device: str("/dev/sda2"), Clevis: Clevis{Tpm2: flag(true), Threshold: num(2), Tang: []Tang{
					{URL: "http://t1", Thumbprint: str("aa"), Advertisement: str("{}")}, {URL: "http://t2"},
				}}}},
			}},
		},
		{
			name: "resources keyed by source, a nil source is the empty key",
			parent: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Merge: []Resource{
				{Compression: str("gzip")},
				{Source: str("https://example.com/1.ign")},
			}}}},
			child: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Merge: []Resource{
				{Source: str("https://example.com/2.ign")},
				{Source: str("https://example.com/1.ign"), Verification: Verification{Hash: str("sha512-11")}},
				{Verification: Verification{Hash: str("sha512-00")}},
			}}}},
			want: Config{Ignition: Ignition{Version: v, Config: IgnitionConfig{Merge: []Resource{
				{Compression: str("gzip"), Verification: Verification{Hash: str("sha512-00")}},
				{Source: str("https://example.com/1.ign"), Verification: Verification{Hash: str("sha512-11")}},
				{Source: str("https://example.com/2.ign")},
			}}}},
		},
		{
			name: "both lists empty give nil",
			parent: Config{Ignition: ign, Storage: Storage{
				Files: []File{}, Disks: []Disk{{Device: "/dev/sda"}},
			}},
			child: Config{Ignition: ign, Storage: Storage{
				Files: []File{}, Links: []Link{}, Disks: []Disk{{Device: "/dev/sda", Partitions: []Partition{}}},
			}},
			want: Config{Ignition: ign, Storage: Storage{Disks: []Disk{{Device: "/dev/sda"}}}},
		},
		{
			name:   "empty child config keeps the parent",
			parent: Config{Ignition: ign, Storage: Storage{Files: []File{file("/a", 420)}}},
			child:  Config{},
			want:   Config{Ignition: ign, Storage: Storage{Files: []File{file("/a", 420)}}},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(tt.parent, tt.child)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Merge(%s, %s) = %s; want %s",
					mergeDump(tt.parent), mergeDump(tt.child), mergeDump(got), mergeDump(tt.want))
			}
		})
	}
}

// TestMergeDoesNotAlias scribbles over every value reachable from a merge
// result and checks that the inputs did not change: the result must share no
// pointer or slice with them, whichever rule produced it.
func TestMergeDoesNotAlias(t *testing.T) {
	tests := []struct {
		name          string
		parent, child Config
	}{
		{"same keys, merged field by field", mergeFilled(0), mergeFilled(0)},
		{"different keys, appended", mergeFilled(0), mergeFilled(1000000)},
		{"zero child, parent copied", mergeFilled(0), Config{}},
		{"zero parent, child copied", Config{}, mergeFilled(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parentBefore, childBefore := mergeDump(tt.parent), mergeDump(tt.child)
			got := Merge(tt.parent, tt.child)
			gotBefore := mergeDump(got)
			mergeScribble(reflect.ValueOf(&got).Elem())
			if mergeDump(got) == gotBefore {
				t.Fatalf("scribbling did not change the result %s", gotBefore)
			}
			if after := mergeDump(tt.parent); after != parentBefore {
				t.Errorf("after Merge and a change to its result, parent = %s; want %s", after, parentBefore)
			}
			if after := mergeDump(tt.child); after != childBefore {
				t.Errorf("after Merge and a change to its result, child = %s; want %s", after, childBefore)
			}
		})
	}
}

// TestMergeCoversTypeTree checks that every list in the type tree has a rule
// (a key or plain append), that the tree holds only kinds the merge copies
// deeply, and that the rule tables name real fields.
func TestMergeCoversTypeTree(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(st reflect.Type) {
		if seen[st] {
			return
		}
		seen[st] = true
		for i := 0; i < st.NumField(); i++ {
			f := st.Field(i)
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				_, keyed := mergeKey(reflect.Zero(ft.Elem()))
				if !keyed && !mergeAppendOnly[mergeField{st, f.Name}] {
					t.Errorf("%s.%s: list of %s has no merge key and is not plain-appended", st.Name(), f.Name, ft.Elem())
				}
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				walk(ft)
			case reflect.String, reflect.Int, reflect.Bool:
			default:
				t.Errorf("%s.%s: kind %s is not deep-copied by mergeCopy", st.Name(), f.Name, ft.Kind())
			}
		}
	}
	walk(reflect.TypeFor[Config]())

	for f := range mergeAppendOnly {
		if _, ok := f.owner.FieldByName(f.name); !ok {
			t.Errorf("mergeAppendOnly names %s.%s, which does not exist", f.owner.Name(), f.name)
		}
	}
	for owner, groups := range mergeSharedKeys {
		for _, group := range groups {
			for _, name := range group {
				if f, ok := owner.FieldByName(name); !ok || f.Type.Kind() != reflect.Slice {
					t.Errorf("mergeSharedKeys names %s.%s, which is not a list field", owner.Name(), name)
				}
			}
		}
	}
}

// TestMergeManyFiles merges two configs of 20,000 files each; a quadratic
// key lookup would make it take minutes.
func TestMergeManyFiles(t *testing.T) {
	const n = 20000
	mode := func(m int) *int { return &m }
	var parent, child Config
	for i := 0; i < n; i++ {
		parent.Storage.Files = append(parent.Storage.Files, File{Node: Node{Path: "/f/" + strconv.Itoa(i)}, Mode: mode(420)})
		child.Storage.Files = append(child.Storage.Files, File{Node: Node{Path: "/f/" + strconv.Itoa(i+n/2)}, Mode: mode(384)})
	}
	child.Storage.Links = []Link{{Node: Node{Path: "/f/0"}}}

	got := Merge(parent, child)
	files := got.Storage.Files
	if len(files) != n+n/2-1 || len(got.Storage.Links) != 1 {
		t.Fatalf("Merge(%d files, %d files and a link) = %d files and %d links; want %d files and 1 link",
			n, n, len(files), len(got.Storage.Links), n+n/2-1)
	}
	if files[0].Path != "/f/1" || *files[0].Mode != 420 || files[n-1].Path != "/f/"+strconv.Itoa(n) ||
		*files[n/2].Mode != 384 || files[len(files)-1].Path != "/f/"+strconv.Itoa(n+n/2-1) {
		t.Errorf("Merge(%d files, %d files) = files in the wrong order or with wrong modes", n, n)
	}
}

func TestReplaceInsteadOfMerge(t *testing.T) {
	str := func(s string) *string { return &s }
	cfg := Config{
		Ignition: Ignition{Version: "3.4.0", Config: IgnitionConfig{Replace: Resource{Source: str("https://example.com/r.ign")}}},
		Passwd:   Passwd{Users: []PasswdUser{{Name: "core"}}},
	}
	replacement := Config{
		Ignition: Ignition{Version: "3.2.0"},
		Storage:  Storage{Files: []File{{Node: Node{Path: "/a"}, Contents: Resource{Source: str("data:,x")}}}},
	}

	got := Replace(cfg, replacement)
	if !reflect.DeepEqual(got, replacement) {
		t.Errorf("Replace(%s, %s) = %s; want %s", mergeDump(cfg), mergeDump(replacement), mergeDump(got), mergeDump(replacement))
	}
	*got.Storage.Files[0].Contents.Source = "changed"
	if *replacement.Storage.Files[0].Contents.Source != "data:,x" {
		t.Errorf("Replace(...) result aliases the replacement: a change to it changed the replacement")
	}

	noReplace := Config{Ignition: Ignition{Version: "3.4.0"}, Passwd: Passwd{Users: []PasswdUser{{Name: "core"}}}}
	if got := Replace(noReplace, replacement); !reflect.DeepEqual(got, noReplace) {
		t.Errorf("Replace(%s, %s) = %s; want %s", mergeDump(noReplace), mergeDump(replacement), mergeDump(got), mergeDump(noReplace))
	}
}

// mergeDump renders v as compact JSON without the null fields, so failure
// messages show only what is set. Empty lists stay visible as [].
func mergeDump(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return "<" + err.Error() + ">"
	}
	var prune func(any) any
	prune = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				if e = prune(e); e == nil {
					delete(x, k)
				} else {
					x[k] = e
				}
			}
			if len(x) == 0 {
				return nil
			}
		case []any:
			for i, e := range x {
				if e = prune(e); e == nil {
					e = map[string]any{}
				}
				x[i] = e
			}
		}
		return x
	}
	out, _ := json.Marshal(prune(tree))
	return string(out)
}

// mergeFilled returns a config with every pointer set and every list holding
// two entries, with keys and values numbered from seed.
func mergeFilled(seed int) Config {
	var cfg Config
	counter := seed
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		counter++
		switch v.Kind() {
		case reflect.String:
			v.SetString("s" + strconv.Itoa(counter))
		case reflect.Int:
			v.SetInt(int64(counter))
		case reflect.Bool:
			v.SetBool(counter%2 == 0)
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem())
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			fill(v.Index(0))
			fill(v.Index(1))
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				fill(v.Field(i))
			}
		}
	}
	fill(reflect.ValueOf(&cfg).Elem())
	return cfg
}

// mergeScribble changes, in place, every string, int and bool reachable from
// v through structs, pointers and slices.
func mergeScribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Int:
		v.SetInt(v.Int() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Pointer:
		if !v.IsNil() {
			mergeScribble(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			mergeScribble(v.Index(i))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			mergeScribble(v.Field(i))
		}
	}
}
