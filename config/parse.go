package config

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"

	json "github.com/coreos/go-json"
)

// Errors returned by Parse. The report says more: where, and why.
var (
	ErrEmpty          = errors.New("not a config (empty)")
	ErrInvalidVersion = errors.New("invalid config version (couldn't parse)")
	ErrUnknownVersion = errors.New("unsupported config version")
	ErrInvalid        = errors.New("config is not valid")
)

// Result is everything Parse learns about a config.
type Result struct {
	// Config is the config translated to the newest spec: fields of the
	// config's version filled in, per-version semantics applied (mode bits
	// 07000 dropped before 3.6.0), and Ignition.Version set to the newest.
	Config Config
	// Version is the spec version the config declared.
	Version Version
	// Report lists every problem found, errors and warnings, each with its
	// JSON path, line and column.
	Report Report
}

// Parse reads a config of any supported version, validates it, and
// translates it to the newest type tree. The error is nil when the config
// can be used (warnings may remain in the report); otherwise it is one of
// ErrEmpty, ErrInvalidVersion, ErrUnknownVersion or ErrInvalid.
func Parse(raw []byte) (Result, error) {
	tree := &lazyTree{raw: raw}
	res, err := parse(raw, tree)
	res.Report.finish(raw, tree)
	if err != nil {
		return res, err
	}
	translate(&res.Config, res.Version)
	return res, nil
}

// lazyTree is go-json's offset-keeping parse of the config, built only when
// an entry has to be placed or a presence check needs it.
type lazyTree struct {
	raw  []byte
	root *jnode
	done bool
}

func (t *lazyTree) get() *jnode {
	if !t.done {
		t.done = true
		var n json.Node
		if json.Unmarshal(t.raw, &n) == nil {
			t.root = (*jnode)(&n)
		}
	}
	return t.root
}

var versionPath = pathOf(Seg{Key: "ignition"}, Seg{Key: "version"})

func parse(raw []byte, tree *lazyTree) (res Result, err error) {
	if len(raw) == 0 {
		res.Report.addAt(SeverityError, Path{}, -1, "not a config (empty): the input has no bytes; an Ignition config is a JSON object such as {\"ignition\": {\"version\": \""+NewestStable.String()+"\"}}")
		return res, ErrEmpty
	}
	// One go-json pass checks the syntax and finds ignition.version, the way
	// encoding/json does for Ignition (keys match case-insensitively).
	var stub struct {
		Ignition json.Node
	}
	start := len(raw) - len(bytes.TrimLeft(raw, " \t\r\n"))
	if e := json.Unmarshal(raw, &stub); e != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(e, &te) && te.Field == "":
			// a list, string, number or boolean at the top level
			res.Report.addAt(SeverityError, Path{}, start, "config: expected a JSON object such as {\"ignition\": {\"version\": \""+
				NewestStable.String()+"\"}}, got "+(&decoder{raw: raw}).kindAt(start)+"; supported versions: "+supportedList())
		case errors.As(e, &se):
			off := int(se.Offset) - 1 // Offset counts the offending byte; point at it
			if off < 0 || strings.Contains(e.Error(), "unexpected end of JSON input") {
				off = len(raw)
			}
			res.Report.addAt(SeverityError, Path{}, off, e.Error())
		default:
			res.Report.addAt(SeverityError, Path{}, -1, e.Error())
		}
		return res, ErrInvalid
	}
	if raw[start] == 'n' { // "null": Ignition sees no version at all
		res.Report.addAt(SeverityError, versionPath, start,
			"invalid config version (couldn't parse): the config is null; it must be a JSON object whose ignition.version is one of "+supportedList())
		return res, ErrInvalidVersion
	}
	version, vOff := "", start+1
	if ign := stub.Ignition; ign.Value != nil {
		m, ok := ign.Value.(map[string]json.Node)
		if !ok {
			res.Report.addAt(SeverityError, pathOf(Seg{Key: "ignition"}), ign.Start, "ignition: expected an object, got "+jsonKind(ign.Value))
			return res, ErrInvalid
		}
		vOff = ign.Start
		if vn, ok := lookupKey(m, "version"); ok && vn.Value != nil {
			s, ok := vn.Value.(string)
			if !ok {
				res.Report.addAt(SeverityError, versionPath, vn.Start, "version: expected a string such as \""+NewestStable.String()+"\", got "+jsonKind(vn.Value))
				return res, ErrInvalid
			}
			version, vOff = s, vn.Start
		}
	}
	v, isSemver, supported := ParseVersion(version)
	switch {
	case version == "":
		res.Report.addAt(SeverityError, versionPath, vOff, "invalid config version (couldn't parse): ignition.version is missing; supported versions: "+supportedList())
		return res, ErrInvalidVersion
	case !isSemver:
		res.Report.addAt(SeverityError, versionPath, vOff, "invalid config version (couldn't parse): "+strconv.Quote(version)+" is not a version; supported versions: "+supportedList())
		return res, ErrInvalidVersion
	case !supported:
		res.Report.addAt(SeverityError, versionPath, vOff, "unsupported config version "+strconv.Quote(version)+"; supported versions: "+supportedList())
		return res, ErrUnknownVersion
	}
	res.Version = v

	d := decoder{raw: raw, version: v}
	d.decode(reflect.ValueOf(&res.Config).Elem(), Path{}, nil)
	res.Report = d.report

	val := validator{v: v, r: &Report{}, tree: tree}
	val.config(&res.Config)
	val.dups(&res.Config)
	if len(d.typeErr) == 0 {
		res.Report.Entries = append(res.Report.Entries, val.r.Entries...)
	} else if len(val.r.Entries) > 0 {
		typeErrs := newTypeErrIndex(d.typeErr)
		for _, e := range val.r.Entries {
			if !typeErrs.covers(e.path) {
				res.Report.Entries = append(res.Report.Entries, e)
			}
		}
	}
	sort.SliceStable(d.unknown.Entries, func(i, j int) bool { return d.unknown.Entries[i].offset < d.unknown.Entries[j].offset })
	res.Report.Entries = append(res.Report.Entries, d.unknown.Entries...)
	if res.Report.IsFatal() {
		return res, ErrInvalid
	}
	return res, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []json.Node:
		return "a list"
	case map[string]json.Node:
		return "an object"
	}
	return "null"
}

// typeErrIndex tells whether a validation entry only repeats a type error:
// its path is at, below or above a value of the wrong type. Paths are
// compared as rendered ($.storage.files.0.mode) and their prefixes are cut
// at dots, so each question costs one rendering and at most maxPathDepth+2
// map lookups, however many type errors there are: comparing every entry
// with every type error took 12 s for 16,000 broken files.
type typeErrIndex struct {
	at     map[string]struct{} // paths with a type error
	above  map[string]struct{} // their proper ancestors
	probes int                 // map lookups so far (tests check it stays linear)
}

func newTypeErrIndex(paths []string) *typeErrIndex {
	x := &typeErrIndex{
		at:    make(map[string]struct{}, len(paths)),
		above: make(map[string]struct{}),
	}
	for _, t := range paths {
		x.at[t] = struct{}{}
		for i := len(t) - 1; i >= 0; i-- {
			if t[i] != '.' {
				continue
			}
			if _, ok := x.above[t[:i]]; ok {
				break // and so are all its ancestors
			}
			x.above[t[:i]] = struct{}{}
		}
	}
	return x
}

// covers is true for paths at, below or above a type error.
func (x *typeErrIndex) covers(p Path) bool {
	s := p.String()
	x.probes++
	if _, ok := x.above[s]; ok {
		return true
	}
	for i := len(s); i >= 0; i-- {
		if i < len(s) && s[i] != '.' {
			continue
		}
		x.probes++
		if _, ok := x.at[s[:i]]; ok {
			return true
		}
	}
	return false
}

// translate applies the semantic differences of older versions, so that the
// runtime only ever deals with the newest spec.
func translate(c *Config, v Version) {
	if !v.honoursSpecialModeBits() {
		for i := range c.Storage.Files {
			if m := c.Storage.Files[i].Mode; m != nil {
				*m &^= 0o7000
			}
		}
		for i := range c.Storage.Directories {
			if m := c.Storage.Directories[i].Mode; m != nil {
				*m &^= 0o7000
			}
		}
	}
	c.Ignition.Version = Newest.String()
}
