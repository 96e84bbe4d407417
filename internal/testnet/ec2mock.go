package testnet

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
)

// repoRoot finds the module root (the directory holding go.mod).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// EC2MockBinary is AWS's IMDS emulator (amazon-ec2-metadata-mock), built by
// make test-deps into .cache/bin; without it the test skips (fails in CI).
func EC2MockBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), ".cache", "bin", "ec2-metadata-mock")
	if _, err := os.Stat(bin); err != nil {
		testenv.Skip(t, "amazon-ec2-metadata-mock is not built (make test-deps builds it into .cache/bin)")
	}
	return bin
}

// StartEC2Mock runs the emulator at 169.254.169.254:80 (call it inside
// InNetns) with IMDSv2 enforced, serving userData (nil: its default) and
// region (""; its default), and stops it when the test ends.
func StartEC2Mock(t *testing.T, userData []byte, region string) {
	t.Helper()
	bin := EC2MockBinary(t)
	dir := t.TempDir()
	args := []string{"-n", "169.254.169.254", "-p", "80", "-I"}
	if userData != nil || region != "" {
		cfg := map[string]any{}
		if userData != nil {
			cfg["userdata"] = map[string]any{"values": map[string]any{"userdata": base64.StdEncoding.EncodeToString(userData)}}
		}
		if region != "" {
			cfg["metadata"] = map[string]any{"values": map[string]any{"placement-region": region}}
		}
		b, _ := json.Marshal(cfg)
		os.WriteFile(filepath.Join(dir, "aemm.json"), b, 0o644)
		args = append(args, "-c", filepath.Join(dir, "aemm.json"))
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if !WaitTCP("169.254.169.254:80", 5*time.Second) {
		t.Fatalf("ec2-metadata-mock did not start: %s", out.String())
	}
}

// WaitTCP waits until something accepts connections at addr.
func WaitTCP(addr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}
