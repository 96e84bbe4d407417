package openstack

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSSHKeys(t *testing.T) {
	const a, b = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA a@x", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB b@y"
	cert := "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
	for _, c := range []struct{ name, doc, want string }{
		{"keys, x509 left out", `{"keys":[{"name":"b","type":"ssh","data":"` + b + `\n"},{"name":"c","type":"x509","data":"` + cert + `"},{"name":"a","type":"ssh","data":"` + a + `"}],
			"public_keys":{"b":"` + b + `\n"}}`, b + "|" + a},
		{"public_keys only (2012-08-10), by name", `{"public_keys":{"z":"` + b + `","a":"` + a + `\n","c":"` + cert + `"}}`, a + "|" + b},
		{"none", `{"hostname":"h"}`, ""},
	} {
		var d metaDoc
		if err := json.Unmarshal([]byte(c.doc), &d); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := strings.Join(d.sshKeys(), "|"); got != c.want {
			t.Errorf("%s: sshKeys() = %q; want %q", c.name, got, c.want)
		}
	}
}
