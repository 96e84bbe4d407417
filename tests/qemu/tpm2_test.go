package qemu

// LUKS2 volumes bound with clevis to a TPM 2.0, in a guest: swtpm runs on
// the host as the TPM of QEMU's tpm-tis device (the Debian kernel has the
// TIS driver built in, so the guest gets /dev/tpmrm0 without modules), and
// the guest runs Debian's clevis tpm2 pin (bash scripts over tpm2-tools)
// copied from the host, as the tang test does.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// tpm2Bins are what clevis-encrypt-tpm2 and clevis-decrypt-tpm2 run
// besides clevisBins: tpm2-tools is one program that looks at its name,
// so each tpm2_* is a copy of it; tpm2_clear is the test's own.
var tpm2Bins = []string{
	"clevis-encrypt-tpm2", "clevis-decrypt-tpm2",
	"tpm2_createprimary", "tpm2_flushcontext", "tpm2_create", "tpm2_load", "tpm2_unseal", "tpm2_clear",
}

// tctiDevice is the TCTI library tpm2-tools loads with dlopen for
// TPM2TOOLS_TCTI=device:/dev/tpmrm0 (clevis's setting): ldd does not list
// it. Its own libraries (libtss2-mu, libc) come with tpm2-tools.
const tctiDevice = "/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0"

// startSwtpm runs swtpm as a TPM 2.0 with a fresh state in a temp dir,
// its control channel on a unix socket, and returns QEMU's arguments for
// a tpm-tis device on it. swtpm exits when QEMU closes the connection
// (--terminate); cleanup kills it by pid in case QEMU never came.
func startSwtpm(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	sock, logFile := filepath.Join(dir, "swtpm.sock"), filepath.Join(dir, "swtpm.log")
	cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+dir,
		"--ctrl", "type=unixio,path="+sock, "--log", "level=1,file="+logFile, "--terminate")
	out, err := os.Create(filepath.Join(dir, "swtpm.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("swtpm: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			o, _ := os.ReadFile(out.Name())
			t.Logf("swtpm log:\n%s%s", b, o)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("swtpm exited before it made %s: %v\n%s", sock, err, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("swtpm made no %s in 10 s", sock)
		}
	}
	return []string{"-chardev", "socket,id=chrtpm,path=" + sock,
		"-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"}
}

// luksSlots reads cryptsetup luksDump: the key slots in use and the key
// slot of the clevis token ("" without one).
func luksSlots(dump string) (slots []string, clevis string) {
	for _, m := range regexp.MustCompile(`(?m)^\s+(\d+): luks2$`).FindAllStringSubmatch(dump, -1) {
		slots = append(slots, m[1])
	}
	if m := regexp.MustCompile(`(?m)^Tokens:\n\s+\d+: clevis\n\s+Keyslot:\s+(\d+)`).FindStringSubmatch(dump); m != nil {
		clevis = m[1]
	}
	return slots, clevis
}

// sssPolicy reads clevis luks list's one line for a volume ("1: sss
// '{"t":1,"pins":{"tpm2":[...]}}'"): the slot, the threshold and the pins,
// sorted.
func sssPolicy(list string) (slot string, threshold int, pins []string, err error) {
	m := regexp.MustCompile(`(?m)^(\d+): sss '(.*)'$`).FindStringSubmatch(list)
	if m == nil {
		return "", 0, nil, fmt.Errorf("no sss binding listed")
	}
	var cfg struct {
		T    int                        `json:"t"`
		Pins map[string]json.RawMessage `json:"pins"`
	}
	if err := json.Unmarshal([]byte(m[2]), &cfg); err != nil {
		return m[1], 0, nil, err
	}
	for p := range cfg.Pins {
		pins = append(pins, p)
	}
	sort.Strings(pins)
	return m[1], cfg.T, pins, nil
}

// Two LUKS2 volumes on vdb bound to the TPM. "tpmonly" has no key file:
// the disks stage makes a random key, binds clevis (sss, threshold 1,
// over the tpm2 pin) and removes the random key, so only the TPM opens
// it; ext4 on it holds a file the files stage writes. "tpmkey" has a key
// file, whose key slot stays next to the binding, but which is not
// written into the target (as Ignition: a bound volume's key file would
// open a stolen disk without the TPM). /etc/crypttab says "none" for
// both, neither with _netdev (the TPM needs no network). The guest closes both and opens them again with
// clevis luks unlock, through the TPM, and reads the file back. Then
// TPM2_Clear (tpm2_clear) gives the TPM a new storage seed, as a
// replaced TPM has: clevis can no longer open "tpmonly", while tpmkey's
// key file still opens its volume.
func TestDisksLUKS2TPM2(t *testing.T) {
	bins := append(append(append([]string{"ln"}, diskBins...), clevisBins...), tpm2Bins...)
	needDiskHost(t, append(bins, "swtpm")...)
	spare, target := &vdisk{serial: "spare", mib: 16}, &vdisk{serial: "tpm2", mib: 300}
	disks := []*vdisk{spare, target}
	qargs := append(makeDisks(t, disks...), startSwtpm(t)...)
	const key = "a key file next to the tpm2 binding"
	fast := []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}
	tpm2 := map[string]any{"tpm2": true}
	cfg := map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"disks": []any{map[string]any{"device": "/dev/vdb", "wipeTable": true, "partitions": []any{
				map[string]any{"number": 1, "label": "tpmonly", "sizeMiB": 100},
				map[string]any{"number": 2, "label": "tpmkey", "sizeMiB": 100},
			}}},
			"luks": []any{
				map[string]any{"name": "tpmonly", "device": "/dev/vdb1", "options": fast, "clevis": tpm2},
				map[string]any{"name": "tpmkey", "device": "/dev/vdb2", "options": fast, "clevis": tpm2,
					"keyFile": map[string]any{"source": dataURL(key)}},
			},
			"filesystems": []any{
				map[string]any{"device": "/dev/mapper/tpmonly", "format": "ext4", "label": "tpmfs", "path": "/var/tpm"},
			},
			"files": []any{file("/var/tpm/hello", "on ext4 on luks2 bound to the tpm")},
		},
	}

	var s script
	s.prelude(disks...)
	// bash's process substitution, in clevis-encrypt-tpm2, needs /dev/fd
	s.add("ln -s /proc/self/fd /dev/fd")
	tpmVersion := s.add("@cat /sys/class/tpm/tpm0/tpm_version_major")
	run := s.stages("/run/ignition.json", "/run/state")
	vols := []struct {
		name, dev string
		keyFile   bool // in the config, and kept next to the binding
		// the results of the guest's checks of the volume
		dump, list, uuid, key, close, unlock, status int
	}{{name: "tpmonly", dev: "/dev/vdb1"}, {name: "tpmkey", dev: "/dev/vdb2", keyFile: true}}
	for i := range vols {
		v := &vols[i]
		v.dump, v.list = s.add("cryptsetup luksDump "+v.dev), s.add("clevis luks list -d "+v.dev)
		v.uuid, v.key = s.add("cryptsetup luksUUID "+v.dev), s.add("@cat /sysroot/etc/luks/"+v.name)
		// closed, and opened again by clevis through the TPM
		v.close = s.add("cryptsetup close " + v.name)
		v.unlock = s.add(fmt.Sprintf("clevis luks unlock -d %s -n %s", v.dev, v.name))
		v.status = s.add("cryptsetup status " + v.name)
	}
	crypttab := s.add("@cat /sysroot/etc/crypttab")
	mnt := s.add("@mkdir /mnt/tpm", "mount -t ext4 /dev/mapper/tpmonly /mnt/tpm")
	cat := s.add("@cat /mnt/tpm/hello")
	umnt := s.add("umount /mnt/tpm")
	// a TPM with a new storage seed, as a replaced one has
	closeAgain, clearTPM := s.add("cryptsetup close tpmonly"), s.add("tpm2_clear")
	unlockCleared, statusCleared := s.add("clevis luks unlock -d /dev/vdb1 -n tpmonly"), s.add("cryptsetup status tpmonly")
	keyOK := s.add("cryptsetup open --test-passphrase --key-file /key /dev/vdb2")

	mods := append([]string{"dm_mod", "dm_crypt", "xts", "aesni_intel", "algif_skcipher"}, diskMods...)
	files := hostFiles(t, map[string]string{"etc/passwd": clevisPasswd, "key": key}, append([]string{tctiDevice}, clevisFiles...)...)
	r := bootScript(t, guest{mods: mods, hostBins: bins, qemuArgs: qargs, files: files}, s, disks, cfg)

	if v := strings.TrimSpace(r.ok(tpmVersion)); v != "2" {
		t.Fatalf("the guest's TPM is version %q; want 2 (swtpm --tpm2 on tpm-tis)", v)
	}
	for _, st := range []string{"fetch-offline", "disks", "mount", "files", "umount"} {
		if out := r.stageOK(run[st]); strings.Contains(out, key) {
			t.Errorf("the %s stage logged the key:\n%s", st, out)
		}
	}
	var want strings.Builder
	for _, v := range vols {
		// the disks stage bound the volume: a clevis token on a key slot
		// of its own, an sss policy over the tpm2 pin alone; the random
		// key removed, a key file kept
		slots, tokenSlot := luksSlots(r.ok(v.dump))
		wantSlots := 1
		if v.keyFile {
			wantSlots = 2
		}
		if tokenSlot == "" || len(slots) != wantSlots || (!v.keyFile && slots[0] != tokenSlot) {
			t.Errorf("%s: key slots %v, a clevis token on slot %q; want %d slot(s), one of them clevis's\n%s",
				r.s[v.dump], slots, tokenSlot, wantSlots, r.get(v.dump).out)
		}
		slot, threshold, pins, err := sssPolicy(r.ok(v.list))
		if err != nil || slot != tokenSlot || threshold != 1 || strings.Join(pins, ",") != "tpm2" {
			t.Errorf("%s: slot %s, sss threshold %d over %v (%v); want slot %s, threshold 1 over [tpm2]\n%s",
				r.s[v.list], slot, threshold, pins, err, tokenSlot, r.get(v.list).out)
		}
		// /etc/crypttab: none, and no _netdev; no key file in the target
		// for a clevis-bound volume, even one whose config has a key
		// file (its slot stays in the header): a stolen disk must not
		// carry what opens it without the TPM
		if c := r.get(v.key); c.rc == 0 {
			t.Errorf("/etc/luks/%s exists (%d bytes); want no key file for a clevis-bound volume", v.name, len(c.out))
		}
		fmt.Fprintf(&want, "%s UUID=%s none luks,x-initrd.attach\n", v.name, strings.TrimSpace(r.ok(v.uuid)))
		r.ok(v.close)
		r.ok(v.unlock)
		if out := r.ok(v.status); !strings.Contains(out, "is active") {
			t.Errorf("%s after clevis luks unlock:\n%s", r.s[v.status], out)
		}
	}
	if got := r.ok(crypttab); strings.TrimSpace(got) != strings.TrimSpace(want.String()) {
		t.Errorf("/etc/crypttab in the target =\n%s\nwant\n%s", got, want.String())
	}
	r.ok(mnt)
	if got := strings.TrimSpace(r.ok(cat)); got != "on ext4 on luks2 bound to the tpm" {
		t.Errorf("/mnt/tpm/hello = %q; want the file the files stage wrote", got)
	}
	r.ok(umnt)
	// a new storage seed: the sealed key no longer loads, the key file
	// still opens its volume
	r.ok(closeAgain)
	r.ok(clearTPM)
	if c := r.get(unlockCleared); c.rc == 0 || !strings.Contains(c.out, "Loading jwk to TPM2 failed") {
		t.Errorf("%s: rc %d after tpm2_clear; want clevis-decrypt-tpm2 to fail to load the sealed key\n%s", c.line, c.rc, c.out)
	}
	if c := r.get(statusCleared); c.rc == 0 {
		t.Errorf("%s: rc 0 after the failed unlock; want it inactive\n%s", c.line, c.out)
	}
	r.ok(keyOK)
}
