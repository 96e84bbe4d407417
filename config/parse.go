package config

import (
	"errors"
	"reflect"
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
	res, root, err := parse(raw)
	res.Report.finish(raw, root)
	if err != nil {
		return res, err
	}
	translate(&res.Config, res.Version)
	return res, nil
}

func parse(raw []byte) (res Result, root *jnode, err error) {
	if len(raw) == 0 {
		res.Report.addAt(SeverityError, nil, -1, "not a config (empty): the input has no bytes; an Ignition config is a JSON object such as {\"ignition\": {\"version\": \""+NewestStable.String()+"\"}}")
		return res, nil, ErrEmpty
	}
	var n json.Node
	if e := json.Unmarshal(raw, &n); e != nil {
		var te *json.UnmarshalTypeError
		if errors.As(e, &te) {
			// a bare string, number or boolean at the top level
			start := len(raw) - len(strings.TrimLeft(string(raw), " \t\r\n"))
			res.Report.addAt(SeverityError, nil, start, "config: expected a JSON object such as {\"ignition\": {\"version\": \""+
				NewestStable.String()+"\"}}, got "+te.Value+"; supported versions: "+supportedList())
			return res, nil, ErrInvalid
		}
		var se *json.SyntaxError
		off := -1
		msg := e.Error()
		if errors.As(e, &se) {
			// Offset counts the offending byte; point at it.
			off = int(se.Offset) - 1
			if off < 0 {
				off = 0
			}
			if strings.Contains(msg, "unexpected end of JSON input") {
				off = len(raw)
			}
		}
		res.Report.addAt(SeverityError, nil, off, msg)
		return res, nil, ErrInvalid
	}
	root = (*jnode)(&n)
	top, ok := n.Value.(map[string]json.Node)
	if !ok {
		if n.Value == nil { // "null": Ignition sees no version at all
			res.Report.addAt(SeverityError, Path{{Key: "ignition"}, {Key: "version"}}, n.Start,
				"invalid config version (couldn't parse): the config is null; it must be a JSON object whose ignition.version is one of "+supportedList())
			return res, root, ErrInvalidVersion
		}
		res.Report.addAt(SeverityError, nil, n.Start, "config: expected a JSON object such as {\"ignition\": {\"version\": \""+
			NewestStable.String()+"\"}}, got "+jsonKind(n.Value)+"; supported versions: "+supportedList())
		return res, root, ErrInvalid
	}

	// Find ignition.version the way encoding/json would.
	vp := Path{{Key: "ignition"}, {Key: "version"}}
	version := ""
	vOff := n.Start
	if ign, ok := lookupKey(top, "ignition"); ok && ign.Value != nil {
		m, ok := ign.Value.(map[string]json.Node)
		if !ok {
			res.Report.addAt(SeverityError, vp[:1], ign.Start, "ignition: expected an object, got "+jsonKind(ign.Value))
			return res, root, ErrInvalid
		}
		vOff = ign.Start
		if vn, ok := lookupKey(m, "version"); ok && vn.Value != nil {
			s, ok := vn.Value.(string)
			if !ok {
				res.Report.addAt(SeverityError, vp, vn.Start, "version: expected a string such as \""+NewestStable.String()+"\", got "+jsonKind(vn.Value))
				return res, root, ErrInvalid
			}
			version, vOff = s, vn.Start
		}
	}
	v, isSemver, supported := ParseVersion(version)
	switch {
	case version == "":
		res.Report.addAt(SeverityError, vp, vOff, "invalid config version (couldn't parse): ignition.version is missing; supported versions: "+supportedList())
		return res, root, ErrInvalidVersion
	case !isSemver:
		res.Report.addAt(SeverityError, vp, vOff, "invalid config version (couldn't parse): "+strconv.Quote(version)+" is not a version; supported versions: "+supportedList())
		return res, root, ErrInvalidVersion
	case !supported:
		res.Report.addAt(SeverityError, vp, vOff, "unsupported config version "+strconv.Quote(version)+"; supported versions: "+supportedList())
		return res, root, ErrUnknownVersion
	}
	res.Version = v

	d := decoder{raw: raw, version: v}
	d.decode(&n, reflect.ValueOf(&res.Config).Elem(), make(Path, 0, 16), nil)
	res.Report = d.report

	val := validator{v: v, r: &Report{}, root: root}
	val.config(&res.Config)
	val.dups(&res.Config)
	for _, e := range val.r.Entries {
		if !d.underTypeError(e.path) {
			res.Report.Entries = append(res.Report.Entries, e)
		}
	}
	res.Report.Entries = append(res.Report.Entries, d.unknown.Entries...)
	if res.Report.IsFatal() {
		return res, root, ErrInvalid
	}
	return res, root, nil
}

// underTypeError is true for paths at or below a value of the wrong type:
// whatever validation says there only repeats the type error.
func (d *decoder) underTypeError(p Path) bool {
	if len(d.typeErr) == 0 {
		return false
	}
	s := p.String()
	for _, t := range d.typeErr {
		if s == t || strings.HasPrefix(s, t+".") || strings.HasPrefix(t, s+".") {
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
