package openstack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/providers"
)

type warnLog struct{ warned []string }

func (l *warnLog) Infof(string, ...any) {}
func (l *warnLog) Warnf(f string, a ...any) {
	l.warned = append(l.warned, fmt.Sprintf(f, a...))
}
func (l *warnLog) Op(string, ...any) func(error) { return func(error) {} }

func TestSSHKeys(t *testing.T) {
	const a, b = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA a@x", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB b@y"
	cert := "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
	for _, c := range []struct {
		name, doc, want string
		warn            bool
	}{
		{"keys, x509 left out", `{"keys":[{"name":"b","type":"ssh","data":"` + b + `\n"},{"name":"c","type":"x509","data":"` + cert + `"},{"name":"a","type":"ssh","data":"` + a + `"}],
			"public_keys":{"b":"` + b + `\n"}}`, b + "|" + a, false},
		{"public_keys only (2012-08-10), by name", `{"public_keys":{"z":"` + b + `","a":"` + a + `\n","c":"` + cert + `"}}`, a + "|" + b, false},
		{"none", `{"hostname":"h"}`, "", false},
		{"nulls", `{"keys":null,"public_keys":{"a":null}}`, "", false},
		// generators other than nova: other shapes are read, or left out
		// with a warning, never failing the boot
		{"public_keys as a list", `{"public_keys":["` + a + `","` + b + `"]}`, a + "|" + b, false},
		{"public_keys as a string", `{"public_keys":"` + a + `\n` + b + `"}`, a + "|" + b, false},
		{"public_keys as a number", `{"public_keys":5}`, "", true},
		{"keys as an object", `{"keys":{"a":"x"},"public_keys":{"a":"` + a + `"}}`, a, true},
		{"a keypair's data as a number", `{"keys":[{"type":"ssh","data":5},{"type":"ssh","data":"` + b + `"}]}`, b, true},
	} {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.doc), &doc); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		l := &warnLog{}
		got := strings.Join(sshKeys(&providers.Env{Log: l}, doc), "|")
		if got != c.want {
			t.Errorf("%s: sshKeys() = %q; want %q", c.name, got, c.want)
		}
		if (len(l.warned) > 0) != c.warn {
			t.Errorf("%s: warnings %q; want a warning: %v", c.name, l.warned, c.warn)
		}
	}
}
