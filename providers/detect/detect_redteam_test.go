package detect

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test when f does not return within a minute (a read
// that blocks for ever), instead of hanging the test binary.
func within[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("%s blocked", what)
		panic("unreachable")
	}
}

// Fields that are not what sysfs gives: a FIFO whose writer never writes
// (opened non-blocking, a read of it still waits for data), a character
// device, a file far longer than a DMI string, a NUL inside the value.
// None blocks, none matches, and the next rule still decides.
func TestDetectHostileFields(t *testing.T) {
	s := tree(t, map[string]string{"product_name": "Google Compute Engine\n"})
	fifo := filepath.Join(s.DMIDir, "sys_vendor")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// a writer that holds the FIFO open and writes nothing
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	os.Symlink("/dev/zero", filepath.Join(s.DMIDir, "bios_version"))
	write(t, filepath.Join(s.DMIDir, "product_version"), strings.Repeat(" ", 600)+"amazon\n")
	write(t, filepath.Join(s.DMIDir, "chassis_asset_tag"), "OracleCloud.com\x00 trailing\n")
	got := within(t, "Detect()", func() Result { return Detect(s) })
	if got.Platform != "gcp" || got.Evidence != `product_name "Google Compute Engine"` {
		t.Errorf("Detect() = %s; want gcp by product_name", got)
	}
}

// Values as firmware writes them, and the subsets that order decides.
func TestDetectLookalikes(t *testing.T) {
	const azureTag = "7783-7084-3265-9085-8269-3286-77"
	hyperv := map[string]string{"sys_vendor": "Microsoft Corporation\n", "product_name": "Virtual Machine\n"}
	for _, c := range []struct {
		name string
		dmi  map[string]string
		sys  []string
		want string
	}{
		{"azure: hyper-v with the asset tag", merge(hyperv, "chassis_asset_tag", azureTag+"\n"), nil, "azure"},
		{"azure: tag padded with NULs and blanks", merge(hyperv, "chassis_asset_tag", " "+azureTag+"\x00\x00\n"), nil, "azure"},
		{"hyper-v without the tag", merge(hyperv, "chassis_asset_tag", "0000-0000-0000-0000-0000-0000-00\n"), nil, "hyperv"},
		{"hyper-v: odd case", map[string]string{"sys_vendor": "MICROSOFT CORPORATION\n", "product_name": "virtual machine"}, nil, "hyperv"},
		{"a near miss of the azure tag is hyper-v", merge(hyperv, "chassis_asset_tag", azureTag+"0\n"), nil, "hyperv"},
		{"a cloud on KVM with a fw_cfg entry: the cloud", map[string]string{"sys_vendor": "Hetzner\n", "product_name": "vServer\n"},
			[]string{"firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw", "{}", "bus/platform/devices/QEMU0002:00/", ""}, "hetzner"},
		{"openstack nova on KVM with fw_cfg: openstack", map[string]string{"sys_vendor": "OpenStack Foundation\n", "product_name": "OpenStack Nova\n"},
			[]string{"bus/platform/devices/QEMU0002:00/", ""}, "openstack"},
		{"SAP's OpenStack on VMware: openstack", map[string]string{"sys_vendor": "VMware, Inc.\n", "product_name": "VMware7,1\n", "chassis_asset_tag": "SAP CCloud VM\n"}, nil, "openstack"},
		{"plain VMware", map[string]string{"sys_vendor": "VMware, Inc.\n", "product_name": "VMware7,1\n", "chassis_asset_tag": "No Asset Tag\n"}, nil, "vmware"},
		{"plain QEMU, the module loaded, no entry: metal", map[string]string{"sys_vendor": "QEMU\n"}, []string{"firmware/qemu_fw_cfg/by_name/", ""}, "metal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Detect(tree(t, c.dmi, c.sys...)); got.Platform != c.want {
				t.Errorf("Detect() = %s; want %s", got, c.want)
			}
		})
	}
}

func merge(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// The record of this boot's choice is trusted only as what this package
// writes: a regular file naming a platform detection finds. A symlink, a
// FIFO (which would block the stage), a record of "file" or of an id
// detection never gives, an oversized file: each is ignored with a
// warning, detection runs again and its record replaces the bad one (a
// symlink is replaced, its target left alone). Control characters of a
// record's evidence never reach the log.
func TestResolveHostileRecord(t *testing.T) {
	aws := map[string]string{"sys_vendor": "Amazon EC2\n"}
	newRV := func(t *testing.T, cmdline string) *Resolver {
		d := t.TempDir()
		write(t, filepath.Join(d, "cmdline"), cmdline+"\n")
		os.MkdirAll(filepath.Join(d, "run"), 0o755)
		return &Resolver{CmdlinePath: filepath.Join(d, "cmdline"), CacheFile: filepath.Join(d, "run/platform"),
			Valid: func(id string) bool { return id != "bogus" }, Sources: tree(t, aws)}
	}
	redetected := func(t *testing.T, rv *Resolver, warnHas string) {
		t.Helper()
		type out struct {
			res       Result
			took      time.Duration
			warn, err error
		}
		o := within(t, "Resolve()", func() out { r, took, w, e := rv.Resolve(Auto); return out{r, took, w, e} })
		if o.err != nil || o.res.Platform != "aws" || o.took == 0 || o.warn == nil || !strings.Contains(o.warn.Error(), warnHas) {
			t.Fatalf("Resolve(auto) = %s (took %v), warn %v, %v; want aws detected again and a warning with %q", o.res, o.took, o.warn, o.err, warnHas)
		}
		fi, err := os.Lstat(rv.CacheFile)
		if err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("record after detection: %v, %v; want a regular file", fi, err)
		}
		if b, _ := os.ReadFile(rv.CacheFile); !strings.HasPrefix(string(b), "aws\n") {
			t.Errorf("record = %q; want aws", b)
		}
	}
	t.Run("symlink", func(t *testing.T) {
		rv := newRV(t, "")
		target := filepath.Join(t.TempDir(), "elsewhere")
		write(t, target, "gcp\nplanted\n")
		os.Symlink(target, rv.CacheFile)
		redetected(t, rv, "ignoring the platform record")
		if b, _ := os.ReadFile(target); string(b) != "gcp\nplanted\n" {
			t.Errorf("the symlink's target was changed: %q", b)
		}
	})
	t.Run("FIFO", func(t *testing.T) {
		rv := newRV(t, "")
		if err := syscall.Mkfifo(rv.CacheFile, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(rv.CacheFile, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		redetected(t, rv, "not a regular file")
	})
	for _, c := range []struct{ name, record string }{
		{"file", "file\nIGNITION_CONFIG_FILE\n"},
		{"a provider detection never gives", "azurestack\nplanted\n"},
		{"an unknown id", "bogus\n"},
		{"empty", ""},
		{"oversized", "gcp\n" + strings.Repeat("x", 5000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			rv := newRV(t, "")
			write(t, rv.CacheFile, c.record)
			redetected(t, rv, "ignoring the platform record")
		})
	}
	t.Run("evidence with control characters", func(t *testing.T) {
		rv := newRV(t, "")
		write(t, rv.CacheFile, "gcp\nproduct_name \"x\"\x1b[2J\rforged log line\n")
		res, _, warn, err := rv.Resolve(Auto)
		if err != nil || warn != nil || res.Platform != "gcp" || strings.ContainsAny(res.Evidence, "\x1b\r") {
			t.Errorf("Resolve(auto) = %q, %v, %v; want gcp from the record, no control characters", res.String(), warn, err)
		}
	})
	t.Run("no record: no warning", func(t *testing.T) {
		rv := newRV(t, "")
		if _, _, warn, err := rv.Resolve(Auto); warn != nil || err != nil {
			t.Errorf("Resolve(auto): warn %v, %v", warn, err)
		}
	})
	t.Run("dry run reads the record, writes none", func(t *testing.T) {
		rv := newRV(t, "")
		rv.DryRun = true
		write(t, rv.CacheFile, "file\n")
		res, _, warn, err := rv.Resolve(Auto)
		if err != nil || res.Platform != "aws" || warn == nil {
			t.Errorf("Resolve(auto) = %s, %v, %v; want aws and a warning", res, warn, err)
		}
		if b, _ := os.ReadFile(rv.CacheFile); string(b) != "file\n" {
			t.Errorf("a dry run changed the record: %q", b)
		}
	})
}

// ignition.platform.id as the generator reads it: the last counts,
// quotes removed, an empty one is an error (not detection), ids are
// lower case (AUTO is no id), auto after an explicit id detects.
func TestResolveKernelArgument(t *testing.T) {
	aws := map[string]string{"sys_vendor": "Amazon EC2\n"}
	valid := func(id string) bool { return id == "gcp" || id == "aws" || id == "metal" }
	for _, c := range []struct{ cmdline, want, err string }{
		{`ignition.platform.id="gcp"`, "gcp", ""},
		{`"ignition.platform.id=gcp"`, "gcp", ""},
		{`ignition.platform.id=gcp ignition.platform.id=metal`, "metal", ""},
		{`ignition.platform.id=gcp ignition.platform.id=auto`, "aws", ""},
		{`ignition.platform.id=`, "", "ignition.platform.id= is empty"},
		{`ignition.platform.id=gcp ignition.platform.id=`, "", "ignition.platform.id= is empty"},
		{`ignition.platform.id=""`, "", "ignition.platform.id= is empty"},
		{`ignition.platform.id=AUTO`, "", "ignition.platform.id=AUTO: unknown platform"},
		{`ignition.platform.id=GCP`, "", "ignition.platform.id=GCP: unknown platform"},
		{`xignition.platform.id=gcp`, "aws", ""},
	} {
		t.Run(c.cmdline, func(t *testing.T) {
			d := t.TempDir()
			write(t, filepath.Join(d, "cmdline"), c.cmdline+"\n")
			rv := &Resolver{CmdlinePath: filepath.Join(d, "cmdline"), CacheFile: filepath.Join(d, "platform"), Valid: valid, Sources: tree(t, aws)}
			res, _, _, err := rv.Resolve(Auto)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("Resolve(auto) = %s, %v; want an error with %q", res, err, c.err)
				}
				if _, serr := os.Stat(rv.CacheFile); !errors.Is(serr, os.ErrNotExist) {
					t.Errorf("a refused id left a record: %v", serr)
				}
				return
			}
			if err != nil || res.Platform != c.want {
				t.Errorf("Resolve(auto) = %s, %v; want %s", res, err, c.want)
			}
		})
	}
}

// Every id a record may hold is one the table, the devices or the
// fallback give, and no other.
func TestDetectable(t *testing.T) {
	for _, id := range []string{"aws", "azure", "gcp", "openstack", "proxmoxve", "qemu", "metal", "nvidiabluefield", "vmware", "hyperv", "kubevirt"} {
		if !Detectable(id) {
			t.Errorf("Detectable(%q) = false", id)
		}
	}
	for _, id := range []string{"", "file", "azurestack", "ibmcloud", "packet", "auto", "AWS"} {
		if Detectable(id) {
			t.Errorf("Detectable(%q) = true", id)
		}
	}
}

// A config drive among hypervisors: an OpenStack config drive (config-2)
// on VMware or plain Hyper-V whose firmware names no cloud (OpenStack's
// VMware and Hyper-V drivers) is openstack, not the hypervisor, whose
// provider would find no config; a NoCloud drive (cidata) there stays
// with the hypervisor (on VMware most often cloud-init's, the config in
// guestinfo); a QEMU fw_cfg entry, asked for on purpose, wins over a
// drive. Each device is read once, however many label sets are looked for.
func TestDetectDriveOnHypervisors(t *testing.T) {
	vmware := map[string]string{"sys_vendor": "VMware, Inc.\n", "product_name": "VMware7,1\n"}
	hyperv := map[string]string{"sys_vendor": "Microsoft Corporation\n", "product_name": "Virtual Machine\n", "chassis_asset_tag": "0000-0000\n"}
	for _, c := range []struct {
		name  string
		dmi   map[string]string
		sys   []string
		image []byte
		want  string
	}{
		{"vmware + config-2", vmware, nil, iso9660("config-2"), "openstack"},
		{"hyper-v + CONFIG-2", hyperv, nil, iso9660("CONFIG-2"), "openstack"},
		{"vmware + cidata", vmware, nil, fat16("cidata"), "vmware"},
		{"vmware, no drive", vmware, nil, fat16("DATA"), "vmware"},
		{"qemu fw_cfg entry + config-2", map[string]string{"sys_vendor": "QEMU\n"}, []string{"firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw", "{}"}, iso9660("config-2"), "qemu"},
		{"qemu + cidata, nothing else", map[string]string{"sys_vendor": "QEMU\n"}, nil, fat16("cidata"), "proxmoxve"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := tree(t, c.dmi, c.sys...)
			write(t, filepath.Join(s.SysBlockDir, "sda/size"), "2048\n")
			write(t, filepath.Join(s.DevDir, "sda"), string(c.image))
			if got := Detect(s); got.Platform != c.want {
				t.Errorf("Detect() = %s; want %s", got, c.want)
			}
		})
	}
	t.Run("by-label link on vmware", func(t *testing.T) {
		s := tree(t, vmware)
		os.MkdirAll(filepath.Join(s.DevDir, "disk/by-label"), 0o755)
		os.Symlink("../../sr0", filepath.Join(s.DevDir, "disk/by-label/config-2"))
		if got := Detect(s); got.Platform != "openstack" {
			t.Errorf("Detect() = %s; want openstack", got)
		}
	})
	t.Run("each device read once", func(t *testing.T) {
		s := tree(t, map[string]string{"sys_vendor": "Dell Inc.\n"})
		write(t, filepath.Join(s.SysBlockDir, "sda/size"), "2048\n")
		write(t, filepath.Join(s.DevDir, "sda"), string(fat16("DATA")))
		f := newFacts(s)
		first := f.drives(s)
		os.Remove(filepath.Join(s.DevDir, "sda"))
		if len(first) != 1 || len(f.drives(s)) != 1 {
			t.Errorf("drives: %v then %v; want the one probe kept", first, f.drives(s))
		}
	})
}
