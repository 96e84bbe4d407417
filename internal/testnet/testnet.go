// Package testnet lets tests run inside a network namespace of their own,
// where fake metadata servers listen at the real link-local addresses
// (169.254.169.254, Azure's 168.63.129.16) without touching the host's
// network. The namespace dies with the test process that made it.
package testnet

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
)

const envVar = "IGNITION_TEST_NETNS"

// InNetns runs the calling test again inside a new network namespace
// (unshare -n) whose loopback also carries addrs. It returns true in the
// namespace, where the test goes on; in the parent it logs the child's
// output, fails if the child failed, and returns false.
func InNetns(t *testing.T, addrs ...string) bool {
	t.Helper()
	if os.Getenv(envVar) == t.Name() {
		cmds := [][]string{{"link", "set", "lo", "up"}}
		for _, a := range addrs {
			cmds = append(cmds, []string{"addr", "add", a + "/32", "dev", "lo"})
		}
		for _, args := range cmds {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return true
	}
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root to create a network namespace (unshare -n)")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s is not installed", tool)
		}
	}
	args := []string{"-n", os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), envVar+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a new network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in network namespace failed: %v", err)
	}
	return false
}
