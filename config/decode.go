package config

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	json "github.com/coreos/go-json"
)

// jnode is a parsed JSON value with its byte offsets (from coreos/go-json).
// Objects hold map[string]json.Node, arrays []json.Node, numbers float64.
type jnode json.Node

// offsetOf finds where the deepest existing node on p starts; with atKey and
// a full match, where the last key starts. Objects and arrays start just
// inside their bracket, as in Ignition's reports.
func (n *jnode) offsetOf(p Path, atKey bool) int {
	cur := json.Node(*n)
	for i, s := range p.s[:p.n] {
		if s.Key != "" {
			m, ok := cur.Value.(map[string]json.Node)
			if !ok {
				break
			}
			child, ok := lookupKey(m, s.Key)
			if !ok {
				break
			}
			if atKey && i == p.n-1 {
				return child.KeyStart
			}
			cur = child
		} else {
			a, ok := cur.Value.([]json.Node)
			if !ok || s.Index < 0 || s.Index >= len(a) {
				break
			}
			cur = a[s.Index]
		}
	}
	return cur.Start
}

// lookupKey finds a key as encoding/json does: exactly, else ignoring case
// (the last such key in the document wins).
func lookupKey(m map[string]json.Node, k string) (json.Node, bool) {
	if c, ok := m[k]; ok {
		return c, true
	}
	var best json.Node
	found := false
	for mk, c := range m {
		if strings.EqualFold(mk, k) && (!found || c.KeyStart > best.KeyStart) {
			best, found = c, true
		}
	}
	return best, found
}

type fieldInfo struct {
	name   string
	index  []int
	since  Version
	legacy []string // keys of the element that exist in 3.0.0, when restricted
}

type structInfo struct {
	fields []fieldInfo
	byName map[string]int
}

var structCache sync.Map // reflect.Type -> *structInfo

func infoFor(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]int{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			if f.Anonymous {
				walk(f.Type, idx)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fi := fieldInfo{name: name, index: idx, since: V3_0}
			if s := f.Tag.Get("since"); s != "" {
				v, _, ok := ParseVersion(s)
				if !ok {
					panic("config: bad since tag on " + t.Name() + "." + f.Name)
				}
				fi.since = v
			}
			if l := f.Tag.Get("legacy"); l != "" {
				fi.legacy = strings.Split(l, ",")
			}
			si.byName[fi.name] = len(si.fields)
			si.fields = append(si.fields, fi)
		}
	}
	walk(t, nil)
	actual, _ := structCache.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// decoder fills the type tree straight from the JSON text, recording type
// mismatches and unknown keys instead of stopping at the first one. The
// text has already passed go-json's syntax check, so the scanner here only
// walks well-formed JSON; it keeps no tree, which keeps 100,000-file configs
// fast and small. Keys are handled in document order and matched like
// encoding/json (exactly, else ignoring case; a later duplicate wins).
type decoder struct {
	raw     []byte
	pos     int
	version Version
	report  Report   // type errors, in document order
	unknown Report   // unknown-key warnings, reported last
	typeErr []string // paths with a type error: validation there is noise
}

func (d *decoder) ws() {
	for d.pos < len(d.raw) {
		switch d.raw[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// kindAt names the JSON type of the value starting at pos.
func (d *decoder) kindAt(pos int) string {
	switch c := d.raw[pos]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return "a number"
}

// str reads a string literal at pos and returns its value.
func (d *decoder) str() string {
	start := d.pos
	d.pos++
	plain := true
	for {
		c := d.raw[d.pos]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			d.pos++
		} else if c >= utf8.RuneSelf {
			plain = false
		}
		d.pos++
	}
	d.pos++
	if plain {
		return string(d.raw[start+1 : d.pos-1])
	}
	// escapes or non-ASCII: let go-json apply its exact rules
	var v string
	if err := json.Unmarshal(d.raw[start:d.pos], &v); err != nil {
		panic("config: string literal passed the syntax check but not the decoder: " + err.Error())
	}
	return v
}

// literal reads a number, true, false or null and returns its text.
func (d *decoder) literal() []byte {
	start := d.pos
	for d.pos < len(d.raw) {
		switch d.raw[d.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return d.raw[start:d.pos]
		}
		d.pos++
	}
	return d.raw[start:d.pos]
}

// skip passes over one value of any depth without recursion.
func (d *decoder) skip() {
	depth := 0
	for {
		d.ws()
		switch d.raw[d.pos] {
		case '"':
			d.str()
		case '{', '[':
			depth++
			d.pos++
		case '}', ']':
			depth--
			d.pos++
		case ',', ':':
			d.pos++
			continue
		default:
			d.literal()
		}
		if depth == 0 {
			return
		}
	}
}

func (d *decoder) mismatch(start int, p Path, want string) {
	name := "value"
	for i := p.n - 1; i >= 0; i-- {
		if p.s[i].Key != "" {
			name = p.s[i].Key
			if i < p.n-1 {
				name += "." + strconv.Itoa(p.s[i+1].Index)
			}
			break
		}
	}
	d.report.addAt(SeverityError, p, start, name+": expected "+want+", got "+d.kindAt(start))
	d.typeErr = append(d.typeErr, p.String())
	d.skip()
}

// decode reads the value at pos into v.
func (d *decoder) decode(v reflect.Value, p Path, legacy []string) {
	d.ws()
	start := d.pos
	c := d.raw[start]
	if c == 'n' { // null leaves the field unset, as encoding/json does
		d.literal()
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		before := len(d.report.Entries)
		d.decode(nv.Elem(), p, legacy)
		if len(d.report.Entries) == before {
			v.Set(nv)
		}
	case reflect.String:
		if c != '"' {
			d.mismatch(start, p, "a string")
			return
		}
		v.SetString(d.str())
	case reflect.Bool:
		if c != 't' && c != 'f' {
			d.mismatch(start, p, "true or false")
			return
		}
		v.SetBool(d.literal()[0] == 't')
	case reflect.Int:
		hint := ""
		if p.n > 0 && p.s[p.n-1].Key == "mode" {
			hint = " such as 420 (0644)"
		}
		if c != '-' && (c < '0' || c > '9') {
			d.mismatch(start, p, "an integer"+hint)
			return
		}
		// encoding/json rejects 1.0 and 1e3 for integer fields, and so do we
		lit := string(d.literal())
		i, err := strconv.ParseInt(lit, 10, 64)
		if err != nil || int64(int(i)) != i {
			what := "a number out of range"
			if strings.ContainsAny(lit, ".eE") {
				what = "a number with a fraction or exponent"
			}
			name := p.s[p.n-1].Key
			d.report.addAt(SeverityError, p, start, name+": expected an integer"+hint+", got "+what+" ("+lit+")")
			d.typeErr = append(d.typeErr, p.String())
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		if c != '[' {
			d.mismatch(start, p, "a list")
			return
		}
		d.pos++
		et := v.Type().Elem()
		s := reflect.MakeSlice(v.Type(), 0, 4)
		for i := 0; ; i++ {
			d.ws()
			if d.raw[d.pos] == ']' {
				d.pos++
				break
			}
			if d.raw[d.pos] == ',' {
				d.pos++
				d.ws()
			}
			s = reflect.Append(s, reflect.Zero(et))
			d.decode(s.Index(i), p.idx(i), legacy)
		}
		v.Set(s)
	case reflect.Struct:
		if c != '{' {
			d.mismatch(start, p, "an object")
			return
		}
		d.pos++
		si := infoFor(v.Type())
		for {
			d.ws()
			if d.raw[d.pos] == '}' {
				d.pos++
				return
			}
			if d.raw[d.pos] == ',' {
				d.pos++
				d.ws()
			}
			keyStart := d.pos
			key := d.str()
			d.ws()
			d.pos++ // ':'
			fi, exact := si.lookup(key)
			if fi != nil && (d.version.Less(fi.since) || (legacy != nil && d.version == V3_0 && !hasString(legacy, fi.name))) {
				fi = nil
			}
			if fi == nil {
				d.unknownKey(si, p, key, keyStart)
				d.skip()
				continue
			}
			if !exact {
				d.unknown.addAt(SeverityWarning, p.key(key), keyStart,
					"unused key "+key+" (Ignition reads it as \""+fi.name+"\" because JSON keys match case-insensitively; spell it \""+fi.name+"\")")
			}
			d.decode(v.FieldByIndex(fi.index), p.key(fi.name), fi.legacy)
		}
	default:
		panic("config: unsupported kind " + v.Kind().String())
	}
}

func (si *structInfo) lookup(k string) (*fieldInfo, bool) {
	if i, ok := si.byName[k]; ok {
		return &si.fields[i], true
	}
	for i := range si.fields {
		if strings.EqualFold(si.fields[i].name, k) {
			return &si.fields[i], false
		}
	}
	return nil, false
}

func hasString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) unknownKey(si *structInfo, p Path, key string, keyStart int) {
	msg := "unused key " + key
	if i, ok := si.byName[key]; ok {
		f := si.fields[i]
		if d.version.Less(f.since) {
			msg += " (added in spec " + f.since.String() + "; this config is " + d.version.String() + ")"
		} else {
			msg += " (not available here in spec 3.0.0; added in 3.1.0)"
		}
	} else if s := suggest(si, key, d.version); s != "" {
		msg += " (did you mean \"" + s + "\"?)"
	} else if where := elsewhere(key); where != "" {
		msg += " (\"" + key + "\" belongs at " + where + ")"
	}
	d.unknown.addAt(SeverityWarning, p.key(key), keyStart, msg)
}

// suggest returns the closest known key, if it is close enough to be a typo.
func suggest(si *structInfo, k string, v Version) string {
	best, bestD := "", 1<<30
	lk := strings.ToLower(k)
	for _, f := range si.fields {
		if v.Less(f.since) {
			continue
		}
		d := editDistance(lk, strings.ToLower(f.name))
		if d < bestD {
			best, bestD = f.name, d
		}
	}
	limit := 2
	if len(k) <= 4 {
		limit = 1
	}
	if bestD <= limit {
		return best
	}
	// abbreviations: "sshkeys" for "sshAuthorizedKeys"
	if len(lk) >= 4 {
		best = ""
		for _, f := range si.fields {
			lf := strings.ToLower(f.name)
			if !v.Less(f.since) && isSubsequence(lk, lf) && (best == "" || len(f.name) < len(best)) {
				best = f.name
			}
		}
	}
	return best
}

func isSubsequence(short, long string) bool {
	i := 0
	for j := 0; j < len(long) && i < len(short); j++ {
		if short[i] == long[j] {
			i++
		}
	}
	return i == len(short)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			// transposition counts as one edit
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				c = min(c, prev[j-2]+1)
			}
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	homesOnce sync.Once
	homes     map[string][]string
)

// elsewhere names where in the tree a key belongs, for keys nested at the
// wrong level (coreos/ignition#853).
func elsewhere(k string) string {
	homesOnce.Do(func() {
		homes = map[string][]string{}
		var walk func(t reflect.Type, at string)
		walk = func(t reflect.Type, at string) {
			for _, f := range infoFor(t).fields {
				full := f.name
				if at != "" {
					full = at + "." + f.name
				}
				homes[f.name] = append(homes[f.name], full)
				ft := t.FieldByIndex(f.index).Type
				for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					suffix := ""
					if t.FieldByIndex(f.index).Type.Kind() == reflect.Slice {
						suffix = "[]"
					}
					walk(ft, full+suffix)
				}
			}
		}
		walk(reflect.TypeOf(Config{}), "")
	})
	h := homes[k]
	if len(h) == 0 || len(h) > 3 {
		return ""
	}
	paths := make([]string, len(h))
	for i, p := range h {
		paths[i] = "$." + p
	}
	return strings.Join(paths, " or ")
}
