package detect

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tree writes a fake sysfs: DMI fields under class/dmi/id, other paths
// (hypervisor/uuid, firmware/..., bus/platform/devices/...) under the
// root; a value ending in "/" makes a directory.
func tree(t testing.TB, dmi map[string]string, sys ...string) Sources {
	t.Helper()
	d := t.TempDir()
	s := Sources{DMIDir: filepath.Join(d, "sys/class/dmi/id"), SysDir: filepath.Join(d, "sys"),
		SysBlockDir: filepath.Join(d, "sys/class/block"), DevDir: filepath.Join(d, "dev")}
	for _, p := range []string{s.DMIDir, s.SysBlockDir, s.DevDir} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range dmi {
		write(t, filepath.Join(s.DMIDir, k), v)
	}
	for i := 0; i+1 < len(sys); i += 2 {
		write(t, filepath.Join(s.SysDir, sys[i]), sys[i+1])
	}
	return s
}

func write(t testing.TB, p, v string) {
	t.Helper()
	if strings.HasSuffix(v, "/") {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(v), 0o444); err != nil {
		t.Fatal(err)
	}
}

// Every platform with a documented identifier, as its firmware shows it
// (values with the kernel's trailing newline), and the shapes that must
// not confuse detection.
func TestDetect(t *testing.T) {
	qemuPC := map[string]string{"sys_vendor": "QEMU\n", "product_name": "Standard PC (Q35 + ICH9, 2009)\n", "bios_vendor": "SeaBIOS\n"}
	hyperv := map[string]string{"sys_vendor": "Microsoft Corporation\n", "product_name": "Virtual Machine\n", "chassis_asset_tag": "0000-0000-0000-0000-0000-0000-00\n"}
	tests := []struct {
		name     string
		dmi      map[string]string
		sys      []string
		platform string
		evidence string
	}{
		{"aws nitro", map[string]string{"sys_vendor": "Amazon EC2\n", "product_name": "m5.large\n", "bios_vendor": "Amazon EC2\n"}, nil, "aws", `sys_vendor "Amazon EC2"`},
		{"aws xen", map[string]string{"sys_vendor": "Xen\n", "product_name": "HVM domU\n", "bios_version": "4.2.amazon\n", "product_version": "4.2.amazon\n"}, nil, "aws", `bios_version "4.2.amazon"`},
		{"aws xen, hypervisor uuid only", map[string]string{"sys_vendor": "Xen\n", "product_name": "HVM domU\n"}, []string{"hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n"}, "aws", `hypervisor/uuid "ec2e1916-9099-7caf-fd21-012345abcdef"`},
		{"azure", map[string]string{"sys_vendor": "Microsoft Corporation\n", "product_name": "Virtual Machine\n", "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77\n"}, nil, "azure", `chassis_asset_tag "7783-7084-3265-9085-8269-3286-77"`},
		{"hyper-v without azure's tag", hyperv, nil, "hyperv", `sys_vendor "Microsoft Corporation", product_name "Virtual Machine"`},
		{"microsoft, not a VM", map[string]string{"sys_vendor": "Microsoft Corporation\n", "product_name": "Surface Laptop 5\n"}, nil, "metal", `sys_vendor "Microsoft Corporation"`},
		{"gcp", map[string]string{"sys_vendor": "Google\n", "product_name": "Google Compute Engine\n", "bios_vendor": "Google\n"}, nil, "gcp", `product_name "Google Compute Engine"`},
		{"gcp by serial", map[string]string{"product_serial": "GoogleCloud-808A9ACA519E93147E70C3753FB65C86\n"}, nil, "gcp", `product_serial "GoogleCloud-808A9ACA519E93147E70C3753FB65C86"`},
		{"digitalocean", map[string]string{"sys_vendor": "DigitalOcean\n", "product_name": "Droplet\n"}, nil, "digitalocean", `sys_vendor "DigitalOcean"`},
		{"hetzner", map[string]string{"sys_vendor": "Hetzner\n", "product_name": "vServer\n"}, nil, "hetzner", `sys_vendor "Hetzner"`},
		{"oracle", map[string]string{"sys_vendor": "QEMU\n", "chassis_asset_tag": "OracleCloud.com\n"}, nil, "oraclecloud", `chassis_asset_tag "OracleCloud.com"`},
		{"alibaba", map[string]string{"sys_vendor": "Alibaba Cloud\n", "product_name": "Alibaba Cloud ECS\n"}, nil, "aliyun", `product_name "Alibaba Cloud ECS"`},
		{"exoscale", map[string]string{"product_name": "Exoscale Compute Platform\n"}, nil, "exoscale", `product_name "Exoscale Compute Platform"`},
		{"scaleway", map[string]string{"sys_vendor": "Scaleway\n"}, nil, "scaleway", `sys_vendor "Scaleway"`},
		{"vultr", map[string]string{"sys_vendor": "Vultr\n", "product_name": "VC2\n"}, nil, "vultr", `sys_vendor "Vultr"`},
		{"upcloud", map[string]string{"sys_vendor": "UpCloud\n", "product_name": "Cloud Server\n"}, nil, "upcloud", `sys_vendor "UpCloud"`},
		{"linode", map[string]string{"sys_vendor": "Linode\n"}, nil, "akamai", `sys_vendor "Linode"`},
		{"akamai", map[string]string{"sys_vendor": "Akamai\n"}, nil, "akamai", `sys_vendor "Akamai"`},
		{"cloudstack", map[string]string{"product_name": "CloudStack KVM Hypervisor\n"}, nil, "cloudstack", `product_name "CloudStack KVM Hypervisor"`},
		{"openstack nova", map[string]string{"sys_vendor": "OpenStack Foundation\n", "product_name": "OpenStack Nova\n"}, nil, "openstack", `product_name "OpenStack Nova"`},
		{"openstack rdo", map[string]string{"product_name": "OpenStack Compute\n"}, nil, "openstack", `product_name "OpenStack Compute"`},
		{"open telekom cloud (xen)", map[string]string{"sys_vendor": "Xen\n", "product_name": "HVM domU\n", "chassis_asset_tag": "OpenTelekomCloud\n"}, nil, "openstack", `chassis_asset_tag "OpenTelekomCloud"`},
		{"sap converged cloud on vmware", map[string]string{"sys_vendor": "VMware, Inc.\n", "product_name": "VMware Virtual Platform\n", "chassis_asset_tag": "SAP CCloud VM\n"}, nil, "openstack", `chassis_asset_tag "SAP CCloud VM"`},
		{"huawei cloud", map[string]string{"chassis_asset_tag": "HUAWEICLOUD\n"}, nil, "openstack", `chassis_asset_tag "HUAWEICLOUD"`},
		{"brightbox", map[string]string{"product_name": "OpenStack Nova\n", "product_serial": "srv-abcde.gb1.brightbox.com\n"}, nil, "brightbox", `product_serial "srv-abcde.gb1.brightbox.com"`},
		{"kubevirt", map[string]string{"sys_vendor": "KubeVirt\n", "product_name": "None\n", "product_family": "KubeVirt\n"}, nil, "kubevirt", `sys_vendor "KubeVirt"`},
		{"kubevirt, manufacturer changed", map[string]string{"sys_vendor": "Example Corp\n", "product_family": "KubeVirt\n"}, nil, "kubevirt", `product_family "KubeVirt"`},
		{"vmware", map[string]string{"sys_vendor": "VMware, Inc.\n", "product_name": "VMware7,1\n"}, nil, "vmware", `sys_vendor "VMware, Inc."`},
		{"virtualbox", map[string]string{"sys_vendor": "innotek GmbH\n", "product_name": "VirtualBox\n"}, nil, "virtualbox", `product_name "VirtualBox"`},
		{"bluefield", nil, []string{"bus/platform/devices/MLNXBF04:00/", "/"}, "nvidiabluefield", "platform device MLNXBF04:00"},

		// odd shapes
		{"trailing spaces and NULs", map[string]string{"sys_vendor": "  DigitalOcean  \x00\n"}, nil, "digitalocean", `sys_vendor "DigitalOcean"`},
		{"mixed case", map[string]string{"sys_vendor": "AMAZON ec2\n"}, nil, "aws", `sys_vendor "AMAZON ec2"`},
		{"no DMI at all", nil, nil, "metal", "no cloud or hypervisor identified; no DMI data"},
		{"a vendor that only contains a cloud's name", map[string]string{"sys_vendor": "Not Hetzner Ltd\n"}, nil, "metal", `sys_vendor "Not Hetzner Ltd"`},
		{"bare metal server", map[string]string{"sys_vendor": "Dell Inc.\n", "product_name": "PowerEdge R650\n", "chassis_asset_tag": "\n"}, nil, "metal", `sys_vendor "Dell Inc.", product_name "PowerEdge R650"`},

		// KVM guests without a cloud: QEMU's fw_cfg decides
		{"kvm guest, no fw_cfg", qemuPC, nil, "metal", `sys_vendor "QEMU"`},
		{"kvm guest, fw_cfg with the config entry", qemuPC, []string{"firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw", "{}"}, "qemu", "QEMU fw_cfg entry opt/com.coreos/config"},
		{"kvm guest, fw_cfg without the entry", qemuPC, []string{"firmware/qemu_fw_cfg/by_name/etc/boot-menu-wait/raw", "x"}, "metal", `sys_vendor "QEMU"`},
		{"kvm guest, fw_cfg device, module not loaded", qemuPC, []string{"bus/platform/devices/QEMU0002:00/", "/"}, "qemu", "QEMU fw_cfg device QEMU0002:00 (module qemu_fw_cfg not loaded)"},
		{"arm guest, fw_cfg device", nil, []string{"bus/platform/devices/9020000.fw-cfg/", "/"}, "qemu", "QEMU fw_cfg device 9020000.fw-cfg"},
		{"a cloud on KVM with fw_cfg", map[string]string{"sys_vendor": "Hetzner\n", "product_name": "vServer\n"}, []string{"firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw", "{}"}, "hetzner", `sys_vendor "Hetzner"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Detect(tree(t, tt.dmi, tt.sys...))
			if got.Platform != tt.platform || !strings.Contains(got.Evidence, tt.evidence) {
				t.Errorf("Detect() = %s; want %s with evidence containing %s", got, tt.platform, tt.evidence)
			}
		})
	}
}

// Files that cannot be read count as absent, and nothing blocks: a FIFO
// with no writer (opened non-blocking), a directory where a file should
// be, a file only its owner may read.
func TestDetectUnreadable(t *testing.T) {
	s := tree(t, map[string]string{"product_name": "Google Compute Engine\n"})
	if err := syscall.Mkfifo(filepath.Join(s.DMIDir, "sys_vendor"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(s.DMIDir, "chassis_asset_tag"), 0o755)
	write(t, filepath.Join(s.DMIDir, "product_serial"), "")
	os.Chmod(filepath.Join(s.DMIDir, "product_serial"), 0)
	done := make(chan Result, 1)
	go func() { done <- Detect(s) }()
	select {
	case got := <-done:
		if got.Platform != "gcp" {
			t.Errorf("Detect() = %s; want gcp", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("Detect() blocked on a FIFO")
	}
}

// Config drives: by the label udev published, else by the label read from
// the block device (here a file holding the filesystem's first sectors).
func TestDetectConfigDrive(t *testing.T) {
	t.Run("by-label link", func(t *testing.T) {
		s := tree(t, map[string]string{"sys_vendor": "QEMU\n"})
		os.MkdirAll(filepath.Join(s.DevDir, "disk/by-label"), 0o755)
		os.Symlink("../../sr0", filepath.Join(s.DevDir, "disk/by-label/config-2"))
		if got := Detect(s); got.Platform != "openstack" || !strings.Contains(got.Evidence, "config drive labelled config-2") {
			t.Errorf("Detect() = %s; want openstack from the config-2 link", got)
		}
	})
	for _, tt := range []struct {
		name, platform, evidence string
		image                    []byte
	}{
		{"iso9660 config-2", "openstack", "config drive labelled config-2", iso9660("config-2")},
		{"iso9660 CONFIG-2", "openstack", "config drive labelled CONFIG-2", iso9660("CONFIG-2")},
		{"vfat cidata", "proxmoxve", "config drive labelled cidata", fat16("cidata")},
		{"vfat, another label", "metal", "no cloud", fat16("DATA")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tree(t, map[string]string{"sys_vendor": "QEMU\n"})
			if tt.platform == "proxmoxve" {
				// a Proxmox VE guest: QEMU's fw_cfg device too, module not loaded; the drive decides
				write(t, filepath.Join(s.SysDir, "bus/platform/devices/QEMU0002:00/modalias"), "acpi:QEMU0002:\n")
			}
			write(t, filepath.Join(s.SysBlockDir, "vda/size"), "41943040\n")
			write(t, filepath.Join(s.DevDir, "vda"), string(make([]byte, 40000)))
			write(t, filepath.Join(s.SysBlockDir, "sr0/size"), "0\n") // an empty drive is not opened
			write(t, filepath.Join(s.SysBlockDir, "vdb/size"), "2048\n")
			write(t, filepath.Join(s.DevDir, "vdb"), string(tt.image))
			if got := Detect(s); got.Platform != tt.platform || !strings.Contains(got.Evidence, tt.evidence) {
				t.Errorf("Detect() = %s; want %s (%s)", got, tt.platform, tt.evidence)
			}
		})
	}
}

// iso9660 returns the first 34 KiB of an iso9660 filesystem labelled label:
// the primary volume descriptor at 32 KiB.
func iso9660(label string) []byte {
	b := make([]byte, 32768+2048)
	pvd := b[32768:]
	pvd[0] = 1
	copy(pvd[1:6], "CD001")
	copy(pvd[40:72], label+strings.Repeat(" ", 32-len(label)))
	return b
}

// fat16 returns a FAT16 boot sector with the volume label label.
func fat16(label string) []byte {
	b := make([]byte, 512)
	b[38] = 0x29
	copy(b[43:54], label+strings.Repeat(" ", 11-len(label)))
	copy(b[54:62], "FAT16   ")
	b[510], b[511] = 0x55, 0xAA
	return b
}

// Rules name only platforms this build has, in lower case.
func TestRulesNamePlatforms(t *testing.T) {
	for _, rl := range rules {
		if rl.platform != strings.ToLower(rl.platform) || len(rl.all) == 0 {
			t.Errorf("rule %+v", rl)
		}
	}
}

func TestResolve(t *testing.T) {
	aws := map[string]string{"sys_vendor": "Amazon EC2\n"}
	valid := func(id string) bool { return id != "bogus" && id != "auto" }
	newRV := func(t *testing.T, cmdline string, dmi map[string]string) *Resolver {
		d := t.TempDir()
		write(t, filepath.Join(d, "cmdline"), cmdline+"\n")
		return &Resolver{CmdlinePath: filepath.Join(d, "cmdline"), CacheFile: filepath.Join(d, "run/platform"), Valid: valid, Sources: tree(t, dmi)}
	}
	t.Run("explicit id wins", func(t *testing.T) {
		rv := newRV(t, "ignition.platform.id=gcp", aws)
		if res, _, _, err := rv.Resolve("metal"); err != nil || res.Platform != "metal" {
			t.Errorf("Resolve(metal) = %s, %v; want metal", res, err)
		}
		if _, err := os.Stat(rv.CacheFile); err == nil {
			t.Errorf("an explicit id was recorded in %s", rv.CacheFile)
		}
	})
	t.Run("explicit kernel argument wins over detection", func(t *testing.T) {
		rv := newRV(t, "ro ignition.platform.id=auto ignition.platform.id=gcp", aws)
		if res, _, _, err := rv.Resolve(Auto); err != nil || res.Platform != "gcp" || !strings.Contains(res.Evidence, "kernel command line") {
			t.Errorf("Resolve(auto) = %s, %v; want gcp from the command line", res, err)
		}
	})
	t.Run("unknown kernel argument", func(t *testing.T) {
		rv := newRV(t, "ignition.platform.id=bogus", aws)
		if res, _, _, err := rv.Resolve(Auto); err == nil || !strings.Contains(err.Error(), "ignition.platform.id=bogus") {
			t.Errorf("Resolve(auto) = %s, %v; want an error naming the argument", res, err)
		}
	})
	t.Run("detected once, then every stage agrees", func(t *testing.T) {
		rv := newRV(t, "ro ignition.platform.id=auto", aws)
		res, took, warn, err := rv.Resolve(Auto)
		if err != nil || warn != nil || res.String() != `aws (sys_vendor "Amazon EC2")` || took <= 0 {
			t.Fatalf("Resolve(auto) = %s, %v, %v, %v; want aws by sys_vendor", res, took, warn, err)
		}
		// the machine now looks different (a late drive, a changed field): the boot keeps its platform
		os.WriteFile(filepath.Join(rv.DMIDir, "sys_vendor"), []byte("DigitalOcean\n"), 0o644)
		res, took, _, err = rv.Resolve(Auto)
		if err != nil || res.Platform != "aws" || took != 0 || !strings.Contains(res.Evidence, `sys_vendor "Amazon EC2"; found by an earlier stage`) {
			t.Errorf("second Resolve(auto) = %s (took %v), %v; want aws from the record", res, took, err)
		}
	})
	t.Run("dry run records nothing", func(t *testing.T) {
		rv := newRV(t, "", aws)
		rv.DryRun = true
		if res, _, _, err := rv.Resolve(Auto); err != nil || res.Platform != "aws" {
			t.Errorf("Resolve(auto) = %s, %v; want aws", res, err)
		}
		if _, err := os.Stat(rv.CacheFile); err == nil {
			t.Errorf("a dry run recorded the platform in %s", rv.CacheFile)
		}
	})
	t.Run("a record of an unknown id is not trusted", func(t *testing.T) {
		rv := newRV(t, "", aws)
		write(t, rv.CacheFile, "bogus\nsomething\n")
		if res, _, _, err := rv.Resolve(Auto); err != nil || res.Platform != "aws" {
			t.Errorf("Resolve(auto) = %s, %v; want aws detected again", res, err)
		}
	})
	t.Run("record cannot be written", func(t *testing.T) {
		rv := newRV(t, "", aws)
		rv.CacheFile = filepath.Join(rv.CmdlinePath, "platform") // under a regular file
		res, _, warn, err := rv.Resolve(Auto)
		if err != nil || res.Platform != "aws" || warn == nil {
			t.Errorf("Resolve(auto) = %s, warn %v, %v; want aws and a warning", res, warn, err)
		}
	})
}

// BenchmarkDetect: the whole table on a machine nothing identifies (the
// slowest path: every rule, fw_cfg, the drive scan), and on AWS.
func BenchmarkDetect(b *testing.B) {
	metal := tree(b, map[string]string{"sys_vendor": "Dell Inc.\n", "product_name": "PowerEdge R650\n", "bios_vendor": "Dell Inc.\n", "chassis_asset_tag": "\n"})
	for _, dev := range []string{"sda", "sda1", "sda2", "nvme0n1", "sr0"} {
		write(b, filepath.Join(metal.SysBlockDir, dev, "size"), "2048\n")
		write(b, filepath.Join(metal.DevDir, dev), string(make([]byte, 36000)))
	}
	aws := tree(b, map[string]string{"sys_vendor": "Amazon EC2\n", "product_name": "m5.large\n"})
	for _, c := range []struct {
		name string
		s    Sources
	}{{"metal", metal}, {"aws", aws}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Detect(c.s)
			}
		})
	}
}
