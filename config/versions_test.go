package config

import (
	"regexp"
	"testing"

	gosemver "github.com/coreos/go-semver/semver"
)

var versionSeeds = []string{"3.0.0", "3.6.0", "3.7.0-experimental", "3.6.0-experimental", "3.0", "3", "",
	"v3.0.0", "03.0.0", "3.0.0+meta", "3.0.0-", "3.0.0+", "3.0.0-a..b", "3.0.0-a.b-c+d.e", "3.0.0-é",
	"3.0.0.0", " 3.0.0", "3.0.0 ", "+3.0.0", "3.+0.0", "3.0.-0", "99999999999999999999.0.0", "3.0.0-exp+x-y"}

// parseSemver must agree with the semver library Ignition uses.
func sameSemver(t *testing.T, s string) {
	t.Helper()
	got, ok := parseSemver(s)
	want, err := gosemver.NewVersion(s)
	if ok != (err == nil) {
		t.Fatalf("parseSemver(%q) ok = %v; go-semver err = %v", s, ok, err)
	}
	if ok && (got.major != want.Major || got.minor != want.Minor || got.patch != want.Patch || got.pre != string(want.PreRelease) || got.meta != want.Metadata) {
		t.Fatalf("parseSemver(%q) = %+v; want %+v", s, got, *want)
	}
}

func TestParseSemverMatchesGoSemver(t *testing.T) {
	for _, s := range versionSeeds {
		sameSemver(t, s)
	}
}

func FuzzParseSemver(f *testing.F) {
	for _, s := range versionSeeds {
		f.Add(s)
	}
	f.Fuzz(sameSemver)
}

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in                string
		semver, supported bool
		want              Version
	}{
		{"3.0.0", true, true, V3_0},
		{"3.6.0", true, true, V3_6},
		{"3.7.0-experimental", true, true, V3_7},
		{"3.6.0-experimental", true, false, Version{}},
		{"3.9.0", true, false, Version{}},
		{"2.3.0", true, false, Version{}},
		{"3.0.0+meta", true, false, Version{}},
		{"three", false, false, Version{}},
		{"3.0", false, false, Version{}},
	}
	for _, c := range cases {
		v, isSemver, supported := ParseVersion(c.in)
		if isSemver != c.semver || supported != c.supported || v != c.want {
			t.Errorf("ParseVersion(%q) = %v, %v, %v; want %v, %v, %v", c.in, v, isSemver, supported, c.want, c.semver, c.supported)
		}
	}
}

var instanceRE = regexp.MustCompile(`^(.+?)@(.+?)\.service$`)

// templateOf must pick the template Ignition's pattern picks.
func sameTemplate(t *testing.T, name string) {
	t.Helper()
	got, ok := templateOf(name)
	m := instanceRE.FindStringSubmatch(name)
	if ok != (m != nil) || (ok && got != m[1]+"@.service") {
		t.Fatalf("templateOf(%q) = %q, %v; want match %q", name, got, ok, m)
	}
}

var templateSeeds = []string{"foo@bar.service", "foo@.service", "@bar.service", "@@x.service", "a@b@c.service",
	"foo@bar.socket", "foo.service", "f@.service.service", "a\n@b.service", "a@b\n.service", "x@y.service\n", "é@ü.service"}

func TestTemplateOf(t *testing.T) {
	for _, s := range templateSeeds {
		sameTemplate(t, s)
	}
}

func FuzzTemplateOf(f *testing.F) {
	for _, s := range templateSeeds {
		f.Add(s)
	}
	f.Fuzz(sameTemplate)
}
