package zvm

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// The reader is faked at the transport boundary: chccwdev and vmur (z/VM
// is needed for the real ones).
func TestZVM(t *testing.T) {
	listing := "ORIGINID FILE CLASS RECORDS  CPY HOLD DATE  TIME     NAME      TYPE     DIST\nLINUX1   0042 A PUN 00000003 001 NONE 03/01 10:00:00 IGNITION  CONFIG   LINUX1\n"
	fake := &command.Fake{Answer: func(c command.Cmd) (command.Result, error) {
		if c.Name == "vmur" && c.Args[0] == "li" {
			return command.Result{Stdout: []byte(listing)}, nil
		}
		if c.Name == "vmur" && c.Args[0] == "re" {
			return command.Result{}, os.WriteFile(c.Args[3], []byte(`{"ignition":{}}`), 0o600)
		}
		return command.Result{}, nil
	}}
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}, Runner: fake}
	got, err := zvm{}.Fetch(context.Background(), e)
	if string(got) != `{"ignition":{}}` || err != nil {
		t.Fatalf("Fetch() = %q, %v; want the spool file", got, err)
	}
	if l := fake.Lines(); len(l) != 4 || l[1] != "chccwdev -e 0.0.000c" || l[3][:15] != "vmur re -f 0042" {
		t.Errorf("ran %q; want cio_ignore, chccwdev, vmur li, vmur re -f 0042", l)
	}
	listing = "ORIGINID FILE CLASS RECORDS  CPY HOLD DATE  TIME     NAME      TYPE     DIST\n"
	if _, err := (zvm{}).Fetch(context.Background(), e); !errors.Is(err, providers.ErrNoConfig) {
		t.Errorf("Fetch() of an empty reader = %v; want ErrNoConfig", err)
	}
}
