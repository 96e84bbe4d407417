package testnet

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
)

// StartTFTPD runs Debian's tftpd-hpa on a loopback port, serving dir, and
// stops it when the test ends; it returns the address it listens on.
func StartTFTPD(t *testing.T, dir string) string {
	t.Helper()
	bin, err := exec.LookPath("in.tftpd")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/in.tftpd"); err != nil {
			testenv.Skip(t, "tftpd-hpa is not installed (make test-deps installs it)")
		}
		bin = "/usr/sbin/in.tftpd"
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	cmd := exec.Command(bin, "--listen", "--foreground", "--address", addr, "--secure", "--user", "root", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// tftpd-hpa binds before it forks off; a short wait lets it, and an
	// early exit (a bad option) shows
	time.Sleep(200 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatalf("in.tftpd exited: %s", stderr.String())
	}
	return addr
}
