package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

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
	for i, s := range p {
		if s.Key != "" {
			m, ok := cur.Value.(map[string]json.Node)
			if !ok {
				break
			}
			child, ok := lookupKey(m, s.Key)
			if !ok {
				break
			}
			if atKey && i == len(p)-1 {
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
	hint   string
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
			fi := fieldInfo{name: f.Tag.Get("json"), index: idx, since: V3_0}
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
			if fi.name == "mode" {
				fi.hint = " such as 420 (0644)"
			}
			si.byName[fi.name] = len(si.fields)
			si.fields = append(si.fields, fi)
		}
	}
	walk(t, nil)
	actual, _ := structCache.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// decoder fills the type tree from the node tree, recording type mismatches
// and unknown keys instead of stopping at the first one.
type decoder struct {
	raw     []byte
	version Version
	report  Report   // type errors, in document order
	unknown Report   // unknown-key warnings, reported last
	typeErr []string // paths with a type error: validation there is noise
	depth   int
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case string:
		return "a string"
	case float64:
		_ = v
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

func (d *decoder) mismatch(n *json.Node, p Path, want string) {
	name := "value"
	for i := len(p) - 1; i >= 0; i-- {
		if p[i].Key != "" {
			name = p[i].Key
			if i < len(p)-1 {
				name += "." + strconv.Itoa(p[i+1].Index)
			}
			break
		}
	}
	d.report.addAt(SeverityError, p, n.Start, name+": expected "+want+", got "+jsonKind(n.Value))
	d.typeErr = append(d.typeErr, p.String())
}

type keyed struct {
	key  string
	node json.Node
}

func sortedKeys(m map[string]json.Node, buf []keyed) []keyed {
	buf = buf[:0]
	for k, n := range m {
		buf = append(buf, keyed{k, n})
	}
	sort.Slice(buf, func(i, j int) bool { return buf[i].node.KeyStart < buf[j].node.KeyStart })
	return buf
}

func (d *decoder) decode(n *json.Node, v reflect.Value, p Path, legacy []string) {
	if n.Value == nil { // null leaves the field unset, as encoding/json does
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		before := len(d.report.Entries)
		d.decode(n, nv.Elem(), p, legacy)
		if len(d.report.Entries) == before {
			v.Set(nv)
		}
	case reflect.String:
		s, ok := n.Value.(string)
		if !ok {
			d.mismatch(n, p, "a string")
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := n.Value.(bool)
		if !ok {
			d.mismatch(n, p, "true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int:
		hint := ""
		if len(p) > 0 && p[len(p)-1].Key == "mode" {
			hint = " such as 420 (0644)"
		}
		if _, ok := n.Value.(float64); !ok {
			d.mismatch(n, p, "an integer"+hint)
			return
		}
		// Read the literal itself: float64 would lose large integers, and
		// encoding/json rejects 1.0 and 1e3 for integer fields.
		lit := string(d.raw[n.Start : n.End+1])
		i, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			what := "a whole number"
			if strings.ContainsAny(lit, ".eE") {
				what = "a number with a fraction or exponent"
			} else {
				what = "a number out of range"
			}
			name := p[len(p)-1].Key
			d.report.addAt(SeverityError, p, n.Start, name+": expected an integer"+hint+", got "+what+" ("+lit+")")
			d.typeErr = append(d.typeErr, p.String())
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		a, ok := n.Value.([]json.Node)
		if !ok {
			d.mismatch(n, p, "a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(a), len(a))
		for i := range a {
			d.decode(&a[i], s.Index(i), p.idx(i), legacy)
		}
		v.Set(s)
	case reflect.Struct:
		m, ok := n.Value.(map[string]json.Node)
		if !ok {
			d.mismatch(n, p, "an object")
			return
		}
		d.depth++
		defer func() { d.depth-- }()
		si := infoFor(v.Type())
		var buf [16]keyed
		for _, kn := range sortedKeys(m, buf[:0]) {
			fi, exact := si.lookup(kn.key)
			if fi != nil && (d.version.Less(fi.since) || (legacy != nil && d.version == V3_0 && !hasString(legacy, fi.name))) {
				fi = nil
			}
			if fi == nil {
				d.unknownKey(si, v.Type(), p, kn)
				continue
			}
			if !exact {
				d.unknown.addAt(SeverityWarning, p.key(kn.key), kn.node.KeyStart,
					"unused key "+kn.key+" (Ignition reads it as \""+fi.name+"\" because JSON keys match case-insensitively; spell it \""+fi.name+"\")")
			}
			child := kn.node
			d.decode(&child, v.FieldByIndex(fi.index), p.key(fi.name), fi.legacy)
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

func (d *decoder) unknownKey(si *structInfo, t reflect.Type, p Path, kn keyed) {
	msg := "unused key " + kn.key
	if i, ok := si.byName[kn.key]; ok {
		f := si.fields[i]
		if d.version.Less(f.since) {
			msg += " (added in spec " + f.since.String() + "; this config is " + d.version.String() + ")"
		} else {
			msg += " (not available here in spec 3.0.0; added in 3.1.0)"
		}
	} else if s := suggest(si, kn.key, d.version); s != "" {
		msg += " (did you mean \"" + s + "\"?)"
	} else if where := elsewhere(kn.key); where != "" {
		msg += " (\"" + kn.key + "\" belongs in " + where + ")"
	}
	d.unknown.addAt(SeverityWarning, p.key(kn.key), kn.node.KeyStart, msg)
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
	return strings.Join(h, " or ")
}
