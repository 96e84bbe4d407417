package platforms

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ignition-go/ignition/internal/testenv"
)

// Without -log-to-stdout the binary logs to the journal with structured
// fields. The test runs in a mount namespace of its own where a tmpfs over
// /run/systemd/journal holds a socket the test reads the entries from.
func TestJournal(t *testing.T) {
	const env = "IGNITION_TEST_MOUNTNS"
	if os.Getenv(env) != t.Name() {
		if os.Geteuid() != 0 {
			testenv.Skip(t, "needs root for a mount namespace")
		}
		cmd := exec.Command("unshare", "-m", "--propagation", "private", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), env+"="+t.Name())
		out, err := cmd.CombinedOutput()
		t.Logf("in a new mount namespace:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	os.MkdirAll("/run/systemd/journal", 0o755)
	if err := unix.Mount("tmpfs", "/run/systemd/journal", "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/run/systemd/journal/socket", Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	entries := make(chan map[string]string, 100)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(entries)
				return
			}
			e := map[string]string{}
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					e[k] = v
				}
			}
			entries <- e
		}
	}()

	m := newMachine(t)
	m.write(m.conf, `{"ignition":{"version":"3.4.0"}}`)
	cmd := execIgnition("-platform", "file", "-stage", "fetch-offline", "-root", m.root,
		"-config-cache", m.state+"/ignition.json", "-state-file", m.state+"/state", "-neednet", m.state+"/neednet")
	cmd.Env = append(os.Environ(), m.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ignition: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "op(") {
		t.Errorf("the log went to stdout, not the journal:\n%s", out)
	}
	var finished map[string]string
	deadline := time.After(5 * time.Second)
	for finished == nil {
		select {
		case e := <-entries:
			if strings.Contains(e["MESSAGE"], "[finished] writing the config cache") {
				finished = e
			}
		case <-deadline:
			t.Fatal("no journal entry for the cache write")
		}
	}
	for k, want := range map[string]string{"SYSLOG_IDENTIFIER": "ignition", "IGNITION_STAGE": "fetch-offline", "PRIORITY": "6"} {
		if finished[k] != want {
			t.Errorf("journal field %s = %q; want %q (entry %v)", k, finished[k], want, finished)
		}
	}
	if !strings.HasPrefix(finished["IGNITION_OP"], "writing the config cache") || finished["IGNITION_DURATION_MS"] == "" {
		t.Errorf("journal entry lacks the operation and its duration: %v", finished)
	}
}
