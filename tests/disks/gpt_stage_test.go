package disks

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

// A table rewritten with the partition's sectors kept but its label and
// GUID changed (wipeTable, same layout) gives the kernel nothing to
// re-read: the stage still sends a "change" uevent for the partition, so
// udev probes it again and its /dev/disk/by-partlabel and by-partuuid
// links follow the new table (sgdisk's own re-read did that before). The
// kernel's uevents are read with udevadm monitor --kernel, which needs no
// udev daemon.
func TestGPTWriteAnnouncesAKeptPartition(t *testing.T) {
	requireRoot(t)
	testenv.NeedTools(t, "udevadm")
	w := newWorld(t)
	w.build([]disk{dataDisk()})
	w.writeConfig("", cfg(`{"disks": [{"device": "$disk0", "wipeTable": true, "partitions": [
		{"number": 1, "label": "renamed", "startMiB": 1, "sizeMiB": 32, "guid": "`+g2+`"}]}]}`))
	mon := exec.Command("udevadm", "monitor", "--kernel", "--subsystem-match=block")
	out, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Process.Kill(); mon.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "KERNEL - ") {
		// the header: once it is printed, the monitor listens
	}
	if failed, out, log := w.sequence(nil); failed != "" {
		t.Fatalf("stage %s failed: %s\n%s", failed, out, log)
	}
	name := strings.TrimPrefix(w.subst("$disk0p1"), "/dev/")
	mon.Process.Kill()
	seen := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[1] == "change" && strings.HasSuffix(f[2], "/"+name) {
			seen = true
		}
	}
	if !seen {
		t.Errorf("no change uevent for %s; want one after its label and GUID changed in place", name)
	}
	w.checkDisks([]disk{{Parts: []part{{Num: 1, Label: "renamed", GUID: g2, StartMiB: 1, SizeMiB: 32}}}})
}
