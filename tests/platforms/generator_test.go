package platforms

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// genResult is what the dracut generator left: /run/ignition.env ("" when
// it wrote none), the units it pulled in, and its kernel log lines.
type genResult struct {
	env   string
	wants []string
	kmsg  string
}

// runGenerator runs dracut/30ignition-go/ignition-generator as systemd
// runs it in the initramfs, with cmdline as /proc/cmdline: in a mount
// namespace of its own where a file of the test is bind-mounted over
// /proc/cmdline and over /dev/kmsg, and /run is an empty tmpfs, so that
// nothing of the machine running the test is read or changed.
func runGenerator(t *testing.T, cmdline string) genResult {
	t.Helper()
	testenv.NeedRoot(t, "a mount namespace with /proc/cmdline bind-mounted")
	testenv.NeedTools(t, "unshare", "mount", "sh")
	gen, err := filepath.Abs("../../dracut/30ignition-go/ignition-generator")
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	for name, v := range map[string]string{"cmdline": cmdline + "\n", "kmsg": "", "out/.keep": ""} {
		os.MkdirAll(filepath.Dir(filepath.Join(d, name)), 0o755)
		if err := os.WriteFile(filepath.Join(d, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `set -e
mount --bind "$D/cmdline" /proc/cmdline
mount --bind "$D/kmsg" /dev/kmsg
mount -t tmpfs tmpfs-detect-redteam /run
sh "$GEN" "$D/out"
if [ -e /run/ignition.env ]; then cat /run/ignition.env; fi`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "D="+d, "GEN="+gen)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("generator with cmdline %q: %v\n%s", cmdline, err, out)
	}
	var wants []string
	filepath.WalkDir(filepath.Join(d, "out"), func(p string, e os.DirEntry, _ error) error {
		if e != nil && e.Type()&os.ModeSymlink != 0 {
			rel, _ := filepath.Rel(filepath.Join(d, "out"), p)
			wants = append(wants, rel)
		}
		return nil
	})
	k, _ := os.ReadFile(filepath.Join(d, "kmsg"))
	return genResult{env: string(out), wants: wants, kmsg: string(k)}
}

// The kernel command line reaches /run/ignition.env, which systemd reads
// as an EnvironmentFile= for the command line of every stage: whatever the
// command line holds, the file is one line PLATFORM_ID=<id> with an id of
// a-z, 0-9, "-" and "_". An id that cannot be a platform id (empty, a
// dash echo escape that would start a second line setting IGNITION_ARGS,
// shell syntax, upper case) becomes a marker the stages refuse with
// status 2, so that the first boot fails instead of running on another
// platform or with injected arguments. Quotes are read as the kernel
// reads them, and the last ignition.firstboot counts.
func TestGeneratorKernelArguments(t *testing.T) {
	const bad = "PLATFORM_ID=invalid-kernel-argument-ignition.platform.id\n"
	for _, c := range []struct {
		name, cmdline, env string
		firstboot          bool
	}{
		{"no platform: auto", `BOOT_IMAGE=/vmlinuz ro ignition.firstboot`, "PLATFORM_ID=auto\n", true},
		{"explicit", `ro ignition.firstboot ignition.platform.id=gcp`, "PLATFORM_ID=gcp\n", true},
		{"the last id counts", `ignition.platform.id=aws ignition.firstboot ignition.platform.id=azure`, "PLATFORM_ID=azure\n", true},
		{"an empty id then auto", `ignition.firstboot ignition.platform.id= ignition.platform.id=auto`, "PLATFORM_ID=auto\n", true},
		{"quoted value", `ignition.firstboot ignition.platform.id="aws"`, "PLATFORM_ID=aws\n", true},
		{"quoted argument", `"ignition.firstboot" "ignition.platform.id=aws"`, "PLATFORM_ID=aws\n", true},
		{"a glob is not expanded", `ignition.firstboot * /* ignition.platform.id=qemu`, "PLATFORM_ID=qemu\n", true},
		{"empty id", `ro ignition.firstboot ignition.platform.id=`, bad, true},
		{"echo escape adding a variable", `ignition.firstboot ignition.platform.id=aws\nIGNITION_ARGS=--config-cache=/sysroot/etc/x`, bad, true},
		{"echo escape cutting the line", `ignition.firstboot ignition.platform.id=aws\c`, bad, true},
		{"a backslash continuing the line", `ignition.firstboot ignition.platform.id=aws\`, bad, true},
		{"shell syntax", `ignition.firstboot ignition.platform.id=$(reboot);x`, bad, true},
		{"quotes for systemd", `ignition.firstboot ignition.platform.id=aws'x'`, bad, true},
		{"upper case", `ignition.firstboot ignition.platform.id=AUTO`, bad, true},
		{"a valid id after a bad one", `ignition.firstboot ignition.platform.id=$(x) ignition.platform.id=aws`, "PLATFORM_ID=aws\n", true},
		{"firstboot=0 after firstboot", `ignition.firstboot ignition.firstboot=0 ignition.platform.id=aws`, "", false},
		{"firstboot=1 after firstboot=0", `ignition.firstboot=0 ignition.firstboot=1`, "PLATFORM_ID=auto\n", true},
		{"not a first boot", `BOOT_IMAGE=/vmlinuz ro quiet`, "", false},
		{"firstboot=false", `ignition.firstboot=false`, "", false},
		{"a lookalike", `ignition.firstbootx xignition.firstboot`, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runGenerator(t, c.cmdline)
			if r.env != c.env {
				t.Errorf("/run/ignition.env = %q, want %q (kmsg %q)", r.env, c.env, r.kmsg)
			}
			pulled := strings.Contains(strings.Join(r.wants, " "), "initrd.target.wants/ignition-complete.target")
			if pulled != c.firstboot {
				t.Errorf("stages pulled in: %v, want %v (%v)", pulled, c.firstboot, r.wants)
			}
			if c.env == bad && !strings.Contains(r.kmsg, "<3>ignition-generator: kernel argument ignition.platform.id is empty or not a platform id") {
				t.Errorf("kmsg does not say why: %q", r.kmsg)
			}
			if !c.firstboot && !strings.Contains(r.kmsg, "not a first boot") {
				t.Errorf("kmsg does not say it is not a first boot: %q", r.kmsg)
			}
		})
	}

	// the marker is refused by the binary the unit runs, before any stage
	// work, with the exit status of a usage error
	t.Run("the stages refuse the marker", func(t *testing.T) {
		m := newMachine(t)
		r := m.run(strings.TrimSuffix(strings.TrimPrefix(bad, "PLATFORM_ID="), "\n"), "fetch-offline")
		if r.code != 2 || !strings.Contains(r.stderr, `invalid value "invalid-kernel-argument-ignition.platform.id" for flag -platform`) {
			t.Fatalf("exit %d, want 2 and the flag named\n%s%s", r.code, r.out, r.stderr)
		}
		if m.exists("ignition.json") {
			t.Errorf("a config was cached")
		}
	})
}

// runGrubSnippet runs grub/05_ignition-go as update-grub runs it, with
// /etc/default/ignition-go holding settings (in a mount namespace, over a
// tmpfs on /etc/default) and grub-probe and grub-mkrelpath replaced by
// scripts that describe /boot: its filesystem UUID and its path relative
// to the root of that filesystem ("/" for a /boot partition, "/boot" for
// /boot on the root filesystem). It returns grub.cfg's text, stderr and
// whether it succeeded.
func runGrubSnippet(t *testing.T, settings, uuid, rel string) (string, string, bool) {
	t.Helper()
	testenv.NeedRoot(t, "a mount namespace with /etc/default replaced")
	testenv.NeedTools(t, "unshare", "mount", "sh", "sed")
	if _, err := os.Stat("/usr/share/grub/grub-mkconfig_lib"); err != nil {
		testenv.Skip(t, "grub-mkconfig_lib (package grub-common) is not installed")
	}
	snippet, _ := filepath.Abs("../../grub/05_ignition-go")
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "settings"), []byte(settings), 0o644)
	os.WriteFile(filepath.Join(d, "probe"), []byte("#!/bin/sh\ncase \"$1\" in --target=fs_uuid) echo '"+uuid+"';; --target=fs) echo ext2;; --target=partmap) echo gpt;; esac\n"), 0o755)
	os.WriteFile(filepath.Join(d, "mkrelpath"), []byte("#!/bin/sh\necho '"+rel+"'\n"), 0o755)
	script := `set -e
mount -t tmpfs tmpfs-detect-redteam /etc/default
cp "$D/settings" /etc/default/ignition-go
exec sh "$SNIPPET" 2>"$D/stderr"`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "D="+d, "SNIPPET="+snippet, "grub_probe="+filepath.Join(d, "probe"), "grub_mkrelpath="+filepath.Join(d, "mkrelpath"))
	out, err := cmd.Output()
	stderr, _ := os.ReadFile(filepath.Join(d, "stderr"))
	return string(out), string(stderr), err == nil
}

// The GRUB snippet tests the very file the done unit removes
// (/boot/ignition.firstboot as the real root sees it), with /boot on its
// own partition and with /boot on the root filesystem; what it writes is
// valid GRUB script (grub-script-check); the settings reach the command
// line literally: a "$" or a '"' in IGNITION_FIRSTBOOT_ARGS is escaped
// for GRUB's double quotes (else GRUB would expand "$b" to nothing or end
// the string), and an IGNITION_PLATFORM_ID that is no platform id fails
// update-grub instead of writing a command line the initramfs refuses.
func TestGrubSnippetStamp(t *testing.T) {
	unit, err := os.ReadFile("../../firstboot/ignition-go-firstboot-done.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ConditionPathExists=/boot/ignition.firstboot\n", "ExecStart=/bin/rm -f /boot/ignition.firstboot\n",
		"ConditionPathExists=/run/ignition-go/firstboot-succeeded\n", "RequiresMountsFor=/boot\n",
		"After=systemd-remount-fs.service\n"} {
		if !strings.Contains(string(unit), want) {
			t.Fatalf("the done unit lacks %q", want)
		}
	}
	// a failed mount of the real root (emergency) must not keep the stamp
	// of a first boot whose stages succeeded
	for _, l := range strings.Split(string(unit), "\n") {
		if strings.HasPrefix(l, "After=") && strings.Contains(l, "local-fs.target") {
			t.Errorf("the done unit waits for local-fs.target: %s", l)
		}
	}
	for _, c := range []struct{ layout, rel, stamp string }{
		{"separate /boot", "/", "/ignition.firstboot"},
		{"/boot on the root filesystem", "/boot", "/boot/ignition.firstboot"},
		{"/boot in a btrfs subvolume", "/@/boot", "/@/boot/ignition.firstboot"},
	} {
		t.Run(c.layout, func(t *testing.T) {
			cfg, stderr, ok := runGrubSnippet(t, `IGNITION_FIRSTBOOT_ARGS='rd.neednet=1 ip=dhcp ignition.config.url=http://cfg.example/?a=1&b=$x"y'`+"\n"+`IGNITION_PLATFORM_ID="metal"`+"\n", "0b9f-4c1e", c.rel)
			if !ok {
				t.Fatalf("05_ignition-go failed: %s", stderr)
			}
			mustContain(t, "grub.cfg", cfg,
				`search --no-floppy --fs-uuid --set=ignition_boot 0b9f-4c1e`,
				`-f "(${ignition_boot})`+c.stamp+`" ]; then`,
				`set ignition_firstboot="ignition.firstboot ignition.platform.id=metal rd.neednet=1 ip=dhcp ignition.config.url=http://cfg.example/?a=1&b=\$x\"y"`)
			testenv.NeedTools(t, "grub-script-check")
			f := filepath.Join(t.TempDir(), "grub.cfg")
			os.WriteFile(f, []byte(cfg), 0o644)
			if out, err := exec.Command("grub-script-check", f).CombinedOutput(); err != nil {
				t.Errorf("grub-script-check: %v\n%s\n%s", err, out, cfg)
			}
		})
	}
	t.Run("no UUID for /boot: no first boot", func(t *testing.T) {
		cfg, stderr, ok := runGrubSnippet(t, "", "", "/boot")
		if !ok || strings.TrimSpace(cfg) != `set ignition_firstboot=""` || !strings.Contains(stderr, "cannot find the UUID") {
			t.Errorf("ok %v, grub.cfg %q, stderr %q", ok, cfg, stderr)
		}
	})
	t.Run("a platform id that is none", func(t *testing.T) {
		cfg, stderr, ok := runGrubSnippet(t, `IGNITION_PLATFORM_ID="aws ignition.config.url=http://x"`+"\n", "0b9f-4c1e", "/")
		if ok || !strings.Contains(stderr, "is not a platform id") || strings.Contains(cfg, "ignition.config.url") {
			t.Errorf("ok %v, grub.cfg %q, stderr %q; want update-grub to fail", ok, cfg, stderr)
		}
	})
}
