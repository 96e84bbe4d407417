package config

import (
	"strings"
	"testing"
)

// Names that become paths (/etc/systemd/system/<unit>, /dev/md/<raid>,
// /etc/luks/<volume>) must name one entry of their directory.
func TestNamesAreOneComponent(t *testing.T) {
	cases := []struct {
		cfg  string
		path string // "" = valid
	}{
		{`{"systemd":{"units":[{"name":"../../../tmp/x.service","mask":true}]}}`, "$.systemd.units.0.name"},
		{`{"systemd":{"units":[{"name":"a b.service"}]}}`, "$.systemd.units.0.name"},
		{`{"systemd":{"units":[{"name":"ok@x.service"}]}}`, ""},
		{`{"systemd":{"units":[{"name":"a.service","dropins":[{"name":"../x.conf"}]}]}}`, "$.systemd.units.0.dropins.0.name"},
		{`{"storage":{"luks":[{"name":"..","device":"/dev/vdb"}]}}`, "$.storage.luks.0.name"},
		{`{"storage":{"luks":[{"name":"a\nb","device":"/dev/vdb"}]}}`, "$.storage.luks.0.name"},
		{`{"storage":{"luks":[{"name":"data","device":"/dev/vdb"}]}}`, ""},
		{`{"storage":{"raid":[{"name":"../x","level":"raid1","devices":["/dev/vdb","/dev/vdc"]}]}}`, "$.storage.raid.0.name"},
		{`{"storage":{"raid":[{"name":"md-data","level":"raid1","devices":["/dev/vdb","/dev/vdc"]}]}}`, ""},
	}
	for _, c := range cases {
		cfg := `{"ignition":{"version":"3.4.0"},` + c.cfg[1:]
		res, err := Parse([]byte(cfg))
		var hit bool
		for _, e := range res.Report.Entries {
			if e.Severity == SeverityError && e.Path == c.path && strings.Contains(e.Message, "single file name") {
				hit = true
			}
		}
		if c.path == "" && err != nil {
			t.Errorf("Parse(%s) = %v\n%s; want valid", c.cfg, err, res.Report)
		}
		if c.path != "" && !hit {
			t.Errorf("Parse(%s): no name error at %s\n%s", c.cfg, c.path, res.Report)
		}
	}
}
