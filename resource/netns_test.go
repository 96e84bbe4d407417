package resource

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// inNetns runs the calling test again inside a new network namespace
// (unshare -n) whose loopback also carries the given link-local
// addresses, so that a fake metadata server can listen at the real
// 169.254.169.254 without touching the host's network. It returns true in
// the namespace, where the test goes on; in the parent it reports the
// child's result and returns false. The namespace dies with the child.
func inNetns(t *testing.T, addrs ...string) bool {
	t.Helper()
	if os.Getenv("IGNITION_TEST_NETNS") == t.Name() {
		for _, args := range append([][]string{{"link", "set", "lo", "up"}}, addrCmds(addrs)...) {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (unshare -n)")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	args := []string{"-n", os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), "IGNITION_TEST_NETNS="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a new network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in network namespace failed: %v", err)
	}
	return false
}

func addrCmds(addrs []string) [][]string {
	var cmds [][]string
	for _, a := range addrs {
		cmds = append(cmds, []string{"addr", "add", a + "/32", "dev", "lo"})
	}
	return cmds
}
