package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, must return
// a report that explains every failure, and entries must carry positions
// inside the input.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*.ign")
	more, _ := filepath.Glob("../tests/compat/cases/*.ign")
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("{"))
	f.Add([]byte(strings.Repeat("[", 20000)))
	f.Add([]byte(`{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/a","mode":1e400}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := Parse(raw)
		if err != nil && len(res.Report.Entries) == 0 {
			t.Fatalf("Parse(%q) err = %v with an empty report", raw, err)
		}
		if err == nil && res.Report.IsFatal() {
			t.Fatalf("Parse(%q) err = nil with errors in the report:\n%s", raw, res.Report)
		}
		lines := strings.Count(string(raw), "\n") + 1
		for _, e := range res.Report.Entries {
			if e.Line > lines || e.Line < 0 || e.Message == "" {
				t.Fatalf("Parse(%q) entry %q: line %d of %d", raw, e, e.Line, lines)
			}
		}
	})
}

// Deep nesting is rejected by the JSON scanner (10,000 levels), not by the stack.
func TestDeepNesting(t *testing.T) {
	for _, depth := range []int{9000, 10001, 1 << 20} {
		raw := `{"ignition":{"version":"3.6.0"},"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}"
		res, err := Parse([]byte(raw))
		if depth <= 10000 {
			if err != nil {
				t.Errorf("Parse(depth %d) err = %v; want valid with a warning", depth, err)
			}
			continue
		}
		if err == nil || !strings.Contains(res.Report.String(), "exceeded max depth") {
			t.Errorf("Parse(depth %d) = %v, %s; want a max depth error", depth, err, res.Report)
		}
	}
}
