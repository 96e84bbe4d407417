package config

import (
	"errors"
	"strings"
	"testing"
)

// TestOwnerIDRange: every user and group id must fit chown(2)'s uid_t and
// not be (uid_t)-1, and numbers beyond int64 must be type errors, never
// wrapped into range.
func TestOwnerIDRange(t *testing.T) {
	places := []struct {
		name, what, path string
		config           func(id string) string
	}{
		{"passwd user", "uid", "$.passwd.users.0.uid", func(id string) string {
			return `"passwd": {"users": [{"name": "u", "uid": ` + id + `}]}`
		}},
		{"passwd group", "gid", "$.passwd.groups.0.gid", func(id string) string {
			return `"passwd": {"groups": [{"name": "g", "gid": ` + id + `}]}`
		}},
		{"file user", "uid", "$.storage.files.0.user.id", func(id string) string {
			return `"storage": {"files": [{"path": "/f", "mode": 2541, "user": {"id": ` + id + `}}]}`
		}},
		{"file group", "gid", "$.storage.files.0.group.id", func(id string) string {
			return `"storage": {"files": [{"path": "/f", "group": {"id": ` + id + `}}]}`
		}},
		{"directory user", "uid", "$.storage.directories.0.user.id", func(id string) string {
			return `"storage": {"directories": [{"path": "/d", "user": {"id": ` + id + `}}]}`
		}},
		{"directory group", "gid", "$.storage.directories.0.group.id", func(id string) string {
			return `"storage": {"directories": [{"path": "/d", "group": {"id": ` + id + `}}]}`
		}},
		{"link user", "uid", "$.storage.links.0.user.id", func(id string) string {
			return `"storage": {"links": [{"path": "/l", "target": "/t", "user": {"id": ` + id + `}}]}`
		}},
		{"link group", "gid", "$.storage.links.0.group.id", func(id string) string {
			return `"storage": {"links": [{"path": "/l", "target": "/t", "group": {"id": ` + id + `}}]}`
		}},
	}
	values := []struct {
		id   string
		want string // message after "uid " or "gid "; "" means valid; a leading ":" a type error
	}{
		{"0", ""},
		{"1000", ""},
		{"65534", ""},
		{"4294967294", ""},
		{"4294967295", "4294967295 out of range (0 to 4294967294)"},
		{"4294967296", "4294967296 out of range (0 to 4294967294)"},
		{"-1", "-1 out of range (0 to 4294967294)"},
		{"-4294967296", "-4294967296 out of range (0 to 4294967294)"},
		{"9223372036854775807", "9223372036854775807 out of range (0 to 4294967294)"},
		{"-9223372036854775808", "-9223372036854775808 out of range (0 to 4294967294)"},
		{"9223372036854775808", ": expected an integer, got a number out of range (9223372036854775808)"},
		{"18446744073709551616", ": expected an integer, got a number out of range (18446744073709551616)"},
		{"-18446744073709551617", ": expected an integer, got a number out of range (-18446744073709551617)"},
		{"1e20", ": expected an integer, got a number with a fraction or exponent (1e20)"},
		{"4294967296.0", ": expected an integer, got a number with a fraction or exponent (4294967296.0)"},
		{`"0"`, ": expected an integer, got a string"},
	}
	for _, pl := range places {
		for _, v := range values {
			t.Run(pl.name+"/"+v.id, func(t *testing.T) {
				raw := `{"ignition": {"version": "3.6.0"}, ` + pl.config(v.id) + `}`
				res, err := Parse([]byte(raw))
				if v.want == "" {
					if err != nil || len(res.Report.Entries) != 0 {
						t.Fatalf("Parse(%s) = %v\n%s; want valid, no entries", raw, err, res.Report)
					}
					return
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("Parse(%s) err = %v; want ErrInvalid", raw, err)
				}
				key := pl.path[strings.LastIndexByte(pl.path, '.')+1:]
				want := pl.what + " " + v.want
				if strings.HasPrefix(v.want, ":") {
					want = key + v.want
				}
				if len(res.Report.Entries) != 1 {
					t.Fatalf("Parse(%s) report =\n%s\nwant one entry: error at %s: %s", raw, res.Report, pl.path, want)
				}
				e := res.Report.Entries[0]
				if e.Severity != SeverityError || e.Path != pl.path || e.Message != want {
					t.Errorf("Parse(%s) = %s; want error at %s: %s", raw, e, pl.path, want)
				}
				if at, _ := positionText(raw, e.Line, e.Column); !strings.HasPrefix(at, v.id) {
					t.Errorf("Parse(%s) entry at line %d col %d (%.20q); want it at %s", raw, e.Line, e.Column, at, v.id)
				}
			})
		}
	}
}
