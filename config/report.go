package config

import (
	"sort"
	"strconv"
	"strings"
)

// Severity of a report entry.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
	SeverityInfo
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	default:
		return "info"
	}
}

// MarshalJSON writes the severity as its name.
func (s Severity) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Seg is one step of a JSON path: an object key, or an array index when Key is empty.
type Seg struct {
	Key   string
	Index int
}

// maxPathDepth bounds paths: the deepest field of the spec is 7 steps down.
const maxPathDepth = 10

// Path is a JSON path from the root of the config. It is a value (no heap
// allocation) so that walking 100,000 files costs no garbage.
type Path struct {
	s [maxPathDepth]Seg
	n int
}

func pathOf(segs ...Seg) Path {
	var p Path
	for _, s := range segs {
		p = p.with(s)
	}
	return p
}

func (p Path) with(s Seg) Path {
	if p.n < maxPathDepth {
		p.s[p.n] = s
		p.n++
	}
	return p
}

func (p Path) key(k string) Path { return p.with(Seg{Key: k}) }
func (p Path) idx(i int) Path    { return p.with(Seg{Index: i}) }

// Segs lists the steps of the path.
func (p Path) Segs() []Seg { return append([]Seg(nil), p.s[:p.n]...) }

// Len is the number of steps.
func (p Path) Len() int { return p.n }

// String renders the path as Ignition does: $.storage.files.0.path.
func (p Path) String() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range p.s[:p.n] {
		b.WriteByte('.')
		if s.Key != "" {
			b.WriteString(s.Key)
		} else {
			b.WriteString(strconv.Itoa(s.Index))
		}
	}
	return b.String()
}

// Entry is one problem found in a config.
type Entry struct {
	Severity Severity `json:"severity"`
	Path     string   `json:"path"`
	Line     int      `json:"line"`   // 1-based; 0 when unknown
	Column   int      `json:"column"` // 1-based byte column; 0 when unknown
	Message  string   `json:"message"`

	path   Path
	offset int  // byte offset in the source, -1 when not yet known
	atKey  bool // position the entry at the last segment's key, not its value
}

// String renders the entry in Ignition's shape:
// "error at $.storage.files.0.path, line 8 col 17: path not absolute".
func (e Entry) String() string {
	var b strings.Builder
	b.WriteString(e.Severity.String())
	switch {
	case e.Line > 0 && e.Path != "" && e.Path != "$":
		b.WriteString(" at " + e.Path + ", line " + strconv.Itoa(e.Line) + " col " + strconv.Itoa(e.Column))
	case e.Line > 0:
		b.WriteString(" at line " + strconv.Itoa(e.Line) + " col " + strconv.Itoa(e.Column))
	case e.Path != "" && e.Path != "$":
		b.WriteString(" at " + e.Path)
	}
	b.WriteString(": " + e.Message)
	return b.String()
}

// Report holds every problem found, in a stable order.
type Report struct {
	Entries []Entry
}

// IsFatal reports whether any entry is an error.
func (r *Report) IsFatal() bool {
	for _, e := range r.Entries {
		if e.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors and Warnings count the entries of each severity.
func (r *Report) Errors() int   { return r.count(SeverityError) }
func (r *Report) Warnings() int { return r.count(SeverityWarning) }

func (r *Report) count(s Severity) int {
	n := 0
	for _, e := range r.Entries {
		if e.Severity == s {
			n++
		}
	}
	return n
}

// Strict turns every warning into an error (ignition-validate --strict).
func (r *Report) Strict() {
	for i := range r.Entries {
		if r.Entries[i].Severity == SeverityWarning {
			r.Entries[i].Severity = SeverityError
		}
	}
}

func (r Report) String() string {
	var b strings.Builder
	for _, e := range r.Entries {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (r *Report) add(sev Severity, p Path, msg string) {
	r.Entries = append(r.Entries, Entry{Severity: sev, path: p, offset: -1, Message: msg})
}

func (r *Report) errorf(p Path, msg string) { r.add(SeverityError, p, msg) }
func (r *Report) warnf(p Path, msg string)  { r.add(SeverityWarning, p, msg) }

// addAt records an entry whose byte offset is already known.
func (r *Report) addAt(sev Severity, p Path, offset int, msg string) {
	r.Entries = append(r.Entries, Entry{Severity: sev, path: p, offset: offset, Message: msg})
}

// finish renders paths and turns byte offsets into lines and columns, in one
// pass over the source however many entries there are.
func (r *Report) finish(raw []byte, tree *lazyTree) {
	for i := range r.Entries {
		e := &r.Entries[i]
		e.Path = e.path.String()
		if e.offset < 0 && e.path.n > 0 {
			if root := tree.get(); root != nil {
				e.offset = root.offsetOf(e.path, e.atKey)
			}
		}
	}
	idx := make([]int, 0, len(r.Entries))
	for i, e := range r.Entries {
		if e.offset >= 0 {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return r.Entries[idx[a]].offset < r.Entries[idx[b]].offset })
	line, col, pos := 1, 1, 0
	for _, i := range idx {
		off := r.Entries[i].offset
		if off > len(raw) {
			off = len(raw)
		}
		for ; pos < off; pos++ {
			if raw[pos] == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		r.Entries[i].Line, r.Entries[i].Column = line, col
	}
}
