package config

import (
	"strconv"
	"strings"
)

// Version is a supported spec version.
type Version struct {
	Major, Minor int
	Experimental bool
}

// Supported spec versions, oldest first. Only the current experimental
// version is accepted, as in Ignition.
var (
	V3_0 = Version{3, 0, false}
	V3_1 = Version{3, 1, false}
	V3_2 = Version{3, 2, false}
	V3_3 = Version{3, 3, false}
	V3_4 = Version{3, 4, false}
	V3_5 = Version{3, 5, false}
	V3_6 = Version{3, 6, false}
	V3_7 = Version{3, 7, true}

	SupportedVersions = []Version{V3_0, V3_1, V3_2, V3_3, V3_4, V3_5, V3_6, V3_7}
	// NewestStable is the newest stable spec (what the Accept header advertises).
	NewestStable = V3_6
	// Newest is the newest spec accepted, the shape of the type tree.
	Newest = V3_7
)

func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + ".0"
	if v.Experimental {
		s += "-experimental"
	}
	return s
}

// Less orders versions; an experimental version sorts after the stable
// version of the same minor number, which never coexist anyway.
func (v Version) Less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return !v.Experimental && o.Experimental
}

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool { return !v.Less(o) }

// ParseVersion parses a spec version string. ok is false when the string is
// not semver at all; supported is false when it is semver but not accepted.
func ParseVersion(s string) (v Version, ok, supported bool) {
	sv, ok := parseSemver(s)
	if !ok {
		return Version{}, false, false
	}
	for _, c := range SupportedVersions {
		want := semver{major: int64(c.Major), minor: int64(c.Minor)}
		if c.Experimental {
			want.pre = "experimental"
		}
		if sv == want {
			return c, true, true
		}
	}
	return Version{}, true, false
}

type semver struct {
	major, minor, patch int64
	pre, meta           string
}

// parseSemver reads MAJOR.MINOR.PATCH[-PRE][+META] with the rules of the
// semver library Ignition uses (github.com/coreos/go-semver v0.3.1, checked
// against it in versions_test.go): the first "+" starts the metadata, the
// first "-" after that the pre-release, the numbers go through ParseInt.
func parseSemver(s string) (semver, bool) {
	var v semver
	s, v.meta, _ = cutOff(s, "+")
	s, v.pre, _ = cutOff(s, "-")
	parts := strings.SplitN(s, ".", 3)
	if len(parts) != 3 || !semverIdent(v.pre) || !semverIdent(v.meta) {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return v, false
		}
		*[]*int64{&v.major, &v.minor, &v.patch}[i] = n
	}
	return v, true
}

func cutOff(s, sep string) (before, after string, found bool) {
	before, after, found = strings.Cut(s, sep)
	if !found {
		return s, "", false
	}
	return before, after, true
}

// semverIdent: empty, or dot-separated non-empty runs of [0-9A-Za-z-].
func semverIdent(id string) bool {
	if id == "" {
		return true
	}
	for _, part := range strings.Split(id, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
	}
	return true
}

func supportedList() string {
	var b strings.Builder
	for i, v := range SupportedVersions {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// Semantic differences between versions that are not just added fields.
// Each is a predicate on the config's version, used by validation and by
// translation to the newest tree.
func (v Version) honoursSpecialModeBits() bool { return v.AtLeast(V3_6) } // setuid/setgid/sticky
func (v Version) hasSHA256() bool              { return v.AtLeast(V3_1) }
func (v Version) hasGS() bool                  { return v.AtLeast(V3_2) }
func (v Version) hasARN() bool                 { return v.AtLeast(V3_4) }
func (v Version) hasFormatNone() bool          { return v.AtLeast(V3_3) }
func (v Version) hasFormatVirtiofs() bool      { return v.AtLeast(V3_7) }
func (v Version) requiresLinkTarget() bool     { return v.AtLeast(V3_3) }
func (v Version) requiresRaidLevel() bool      { return v.AtLeast(V3_3) } // older: "" is an unrecognized level
func (v Version) requiresRefSource() bool      { return v.AtLeast(V3_1) } // merge/CA entries need a source
func (v Version) checksTangAdvertisement() bool {
	return v.AtLeast(V3_4)
}
func (v Version) checksCex() bool             { return v.AtLeast(V3_5) }
func (v Version) restrictsClevisPins() bool   { return !v.AtLeast(V3_6) } // tpm2, tang, sss only
func (v Version) clevisCustomIsPointer() bool { return !v.AtLeast(V3_3) } // 3.2: custom present at all
func (v Version) mountOptionsNeedFormat() bool {
	return v.AtLeast(V3_1)
}
