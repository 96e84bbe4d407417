// Package detect finds the platform a machine boots on when the kernel
// command line names none (ignition.platform.id absent or "auto"): from
// what the firmware says about the machine (SMBIOS/DMI in
// /sys/class/dmi/id), the Xen hypervisor UUID, platform devices, QEMU's
// fw_cfg and config drives, in a fixed order, with the evidence for the
// choice; a machine nothing identifies is "metal".
//
// It only reads small sysfs files (at most a few hundred bytes each,
// opened non-blocking) and, when no identifier matched, the first sectors
// of block devices for a config drive's label: it changes nothing.
package detect

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/providers/configdrive"
)

// Auto is the platform id that asks for detection.
const Auto = "auto"

// Where detection looks, unless Sources says otherwise.
const (
	dmiDir   = "/sys/class/dmi/id"
	sysDir   = "/sys"
	sysBlock = "/sys/class/block"
	devDir   = "/dev"
)

// Sources says where detection looks; an empty field means the real path.
// Tests point them at trees of their own.
type Sources struct {
	DMIDir      string // /sys/class/dmi/id
	SysDir      string // /sys: hypervisor/uuid, firmware/qemu_fw_cfg, bus/platform/devices
	SysBlockDir string // /sys/class/block: block devices listed for config drives
	DevDir      string // /dev: where they are opened, and disk/by-label
}

func (s Sources) dir(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Result is the platform found and what identified it, in words for the
// log: `sys_vendor "Amazon EC2"`.
type Result struct {
	Platform string
	Evidence string
}

func (r Result) String() string { return fmt.Sprintf("%s (%s)", r.Platform, r.Evidence) }

// maxField bounds each read of a sysfs file: DMI strings are at most 255
// bytes (SMBIOS 2.x string sets), UUIDs 37.
const maxField = 512

// readField reads a small sysfs file without blocking, returning its
// value with surrounding white space and NULs trimmed; "" when it is
// missing or unreadable (product_serial and product_uuid are readable by
// root only).
func readField(path string) string {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	// sysfs attributes are regular files: a FIFO with a writer that never
	// writes, or a device, would block or read without end
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(f, maxField))
	if err != nil {
		return ""
	}
	return strings.Trim(string(b), " \t\r\n\x00")
}

// facts reads each DMI field (and Xen's hypervisor UUID) the first time a
// rule asks for it, so that a machine the first rules identify reads one
// or two files.
type facts struct {
	dmiDir, sysDir string
	read           map[string]string
	probed         []probed // block devices with a filesystem label, once read
}

func newFacts(s Sources) *facts {
	return &facts{dmiDir: s.dir(s.DMIDir, dmiDir), sysDir: s.dir(s.SysDir, sysDir), read: map[string]string{}}
}

// get returns a field of /sys/class/dmi/id by its file name, or
// "hypervisor/uuid" under /sys.
func (f *facts) get(field string) string {
	if v, ok := f.read[field]; ok {
		return v
	}
	p := filepath.Join(f.dmiDir, field)
	if field == "hypervisor/uuid" {
		p = filepath.Join(f.sysDir, field)
	}
	v := readField(p)
	f.read[field] = v
	return v
}

// how a rule compares a value, always without regard to case
type how int

const (
	equal how = iota
	prefix
	suffix
	contains
)

// cond is one DMI field compared to one value.
type cond struct {
	field string
	how   how
	value string
}

func (c cond) match(f *facts) (string, bool) {
	v := f.get(c.field)
	if v == "" {
		return "", false
	}
	lv, lc := strings.ToLower(v), strings.ToLower(c.value)
	var ok bool
	switch c.how {
	case equal:
		ok = lv == lc
	case prefix:
		ok = strings.HasPrefix(lv, lc)
	case suffix:
		ok = strings.HasSuffix(lv, lc)
	case contains:
		ok = strings.Contains(lv, lc)
	}
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%s %q", c.field, v), true
}

// rule picks platform when all of its conditions match.
type rule struct {
	platform string
	all      []cond
}

func r(platform string, c ...cond) rule { return rule{platform, c} }
func is(field, v string) cond           { return cond{field, equal, v} }
func has(field, v string) cond          { return cond{field, contains, v} }
func starts(field, v string) cond       { return cond{field, prefix, v} }
func ends(field, v string) cond         { return cond{field, suffix, v} }

// Rules is the identifier table, first match wins. The order matters where
// one identifier is a subset of another: Azure's asset tag before plain
// Hyper-V, clouds that run on VMware (SAP's OpenStack) before VMware,
// Brightbox (OpenStack-based) before OpenStack, and every cloud built on
// QEMU/KVM before the fw_cfg check that means plain QEMU. The sources of
// each identifier are in docs/platforms.md ("Finding the platform").
var rules = []rule{
	// chassis asset tags: set on purpose by the cloud
	r("azure", is("chassis_asset_tag", "7783-7084-3265-9085-8269-3286-77")),
	r("oraclecloud", is("chassis_asset_tag", "OracleCloud.com")),
	r("brightbox", ends("product_serial", "brightbox.com")),
	r("openstack", is("chassis_asset_tag", "OpenTelekomCloud")),
	r("openstack", is("chassis_asset_tag", "SAP CCloud VM")),
	r("openstack", is("chassis_asset_tag", "HUAWEICLOUD")),
	r("openstack", is("chassis_asset_tag", "Samsung Cloud Platform")),
	r("openstack", is("chassis_asset_tag", "OpenStack Nova")),
	r("openstack", is("chassis_asset_tag", "OpenStack Compute")),
	// AWS: Nitro names itself; Xen instances carry "amazon" in the BIOS
	// version and a hypervisor UUID starting with ec2
	r("aws", is("sys_vendor", "Amazon EC2")),
	r("aws", has("bios_version", "amazon")),
	r("aws", has("product_version", "amazon")),
	r("aws", starts("hypervisor/uuid", "ec2")),
	r("gcp", is("product_name", "Google Compute Engine")),
	r("gcp", starts("product_serial", "GoogleCloud-")),
	r("gcp", is("bios_vendor", "Google")),
	r("digitalocean", is("sys_vendor", "DigitalOcean")),
	r("hetzner", is("sys_vendor", "Hetzner")),
	r("scaleway", is("sys_vendor", "Scaleway")),
	r("vultr", is("sys_vendor", "Vultr")),
	r("upcloud", is("sys_vendor", "UpCloud")),
	r("akamai", is("sys_vendor", "Linode")),
	r("akamai", is("sys_vendor", "Akamai")),
	r("aliyun", is("product_name", "Alibaba Cloud ECS")),
	r("exoscale", starts("product_name", "Exoscale")),
	r("cloudstack", starts("product_name", "CloudStack")),
	r("openstack", is("product_name", "OpenStack Nova")),
	r("openstack", is("product_name", "OpenStack Compute")),
	r("kubevirt", is("sys_vendor", "KubeVirt")),
	r("kubevirt", is("product_family", "KubeVirt")),
}

// hypervisors without a cloud: tried after the clouds' identifiers and
// after an OpenStack config drive (OpenStack on VMware or Hyper-V whose
// firmware names no cloud)
var hypervisorRules = []rule{
	r("hyperv", is("sys_vendor", "Microsoft Corporation"), is("product_name", "Virtual Machine")),
	r("vmware", has("sys_vendor", "VMware")),
	r("virtualbox", has("product_name", "VirtualBox")),
}

// match returns the first rule of rules all of whose conditions match.
func match(rules []rule, f *facts) (Result, bool) {
	for _, rl := range rules {
		var ev []string
		for _, c := range rl.all {
			e, ok := c.match(f)
			if !ok {
				ev = nil
				break
			}
			ev = append(ev, e)
		}
		if ev != nil {
			return Result{rl.platform, strings.Join(ev, ", ")}, true
		}
	}
	return Result{}, false
}

// Detect finds the platform. It never fails: what it cannot read counts
// as absent, and a machine nothing identifies is metal.
func Detect(s Sources) Result {
	f := newFacts(s)
	if res, ok := match(rules, f); ok {
		return res
	}
	sys := s.dir(s.SysDir, sysDir)
	// an NVIDIA BlueField DPU: the boot FIFO's platform device (ACPI MLNXBF04)
	if exists(filepath.Join(sys, "bus/platform/devices/MLNXBF04:00")) {
		return Result{"nvidiabluefield", "platform device MLNXBF04:00 (BlueField boot FIFO)"}
	}
	if res, ok := fwCfgEntry(sys); ok {
		return res
	}
	// an OpenStack config drive before the hypervisors: OpenStack on
	// VMware or Hyper-V whose firmware names no cloud
	if res, ok := drive(s, f, openstackLabels); ok {
		return res
	}
	if res, ok := match(hypervisorRules, f); ok {
		return res
	}
	// a NoCloud drive after them: on VMware, a cidata ISO is most often
	// cloud-init's, and the config is in VMware's guestinfo
	if res, ok := drive(s, f, nocloudLabels); ok {
		return res
	}
	if res, ok := fwCfgDevice(sys); ok {
		return res
	}
	return Result{"metal", "no cloud or hypervisor identified; " + summary(f)}
}

// fwCfgEntry: a config passed with -fw_cfg name=opt/com.coreos/config,
// seen through the qemu_fw_cfg module: qemu.
func fwCfgEntry(sys string) (Result, bool) {
	if exists(filepath.Join(sys, "firmware/qemu_fw_cfg/by_name/opt/com.coreos/config")) {
		return Result{"qemu", "QEMU fw_cfg entry opt/com.coreos/config"}, true
	}
	return Result{}, false
}

// fwCfgDevice: QEMU's fw_cfg device while the qemu_fw_cfg module is not
// loaded yet, so that its entries cannot be seen: qemu, after the config
// drives (a Proxmox VE guest has both). The qemu provider loads the
// module, and no entry is an empty config there, as on metal. With the
// module loaded and no entry, the machine is not qemu.
func fwCfgDevice(sys string) (Result, bool) {
	if exists(filepath.Join(sys, "firmware/qemu_fw_cfg")) {
		return Result{}, false
	}
	// ACPI (x86, Arm with ACPI): QEMU0002; device tree (Arm virt): <address>.fw-cfg
	devs, _ := os.ReadDir(filepath.Join(sys, "bus/platform/devices"))
	for _, d := range devs {
		if n := d.Name(); strings.HasPrefix(n, "QEMU0002:") || strings.HasSuffix(n, ".fw-cfg") {
			return Result{"qemu", "QEMU fw_cfg device " + n + " (module qemu_fw_cfg not loaded)"}, true
		}
	}
	return Result{}, false
}

// The config-drive labels that name a platform: OpenStack's config drive,
// and a NoCloud drive, read as Proxmox VE reads it (user-data, else
// vendor-data, when it is an Ignition config).
type label struct{ label, platform string }

var (
	openstackLabels = []label{{"config-2", "openstack"}, {"CONFIG-2", "openstack"}}
	nocloudLabels   = []label{{"cidata", "proxmoxve"}, {"CIDATA", "proxmoxve"}}
)

// drive looks for a config drive with one of labels: first the labels
// udev published in /dev/disk/by-label, then the labels read from the
// block devices themselves (udev may not have probed them yet).
func drive(s Sources, f *facts, labels []label) (Result, bool) {
	dev := s.dir(s.DevDir, devDir)
	for _, l := range labels {
		if exists(filepath.Join(dev, "disk/by-label", l.label)) {
			return Result{l.platform, fmt.Sprintf("config drive labelled %s (%s)", l.label, filepath.Join(dev, "disk/by-label", l.label))}, true
		}
	}
	for _, d := range f.drives(s) {
		for _, l := range labels {
			if d.label == l.label {
				return Result{l.platform, fmt.Sprintf("config drive labelled %s (%s, %s)", d.label, d.path, d.fstype)}, true
			}
		}
	}
	return Result{}, false
}

type probed struct{ path, fstype, label string }

// drives reads the filesystem label of each block device once per
// detection, skipping loop and RAM disks and empty drives.
func (f *facts) drives(s Sources) []probed {
	if f.probed != nil {
		return f.probed
	}
	f.probed = []probed{}
	dev, sysb := s.dir(s.DevDir, devDir), s.dir(s.SysBlockDir, sysBlock)
	entries, _ := os.ReadDir(sysb)
	for _, ent := range entries {
		name := ent.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		if readField(filepath.Join(sysb, name, "size")) == "0" {
			continue
		}
		if fstype, label := configdrive.Probe(filepath.Join(dev, name)); fstype != "" {
			f.probed = append(f.probed, probed{filepath.Join(dev, name), fstype, label})
		}
	}
	return f.probed
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// summary names what was read, for the log of a metal choice.
func summary(f *facts) string {
	var parts []string
	for _, k := range []string{"sys_vendor", "product_name", "chassis_asset_tag"} {
		if v := f.get(k); v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", k, v))
		}
	}
	if len(parts) == 0 {
		return "no DMI data"
	}
	return strings.Join(parts, ", ")
}
