// Package compat checks our config library against what CoreOS Ignition's
// own ignition-validate (v2.26.0) printed for the same configs. The corpus,
// ignition-v2.26.0.jsonl, holds hand-written cases (cases/*.ign, among them
// the examples of the reference study) and generated ones; record.sh
// re-records it from the real Ignition. Entries must match in severity,
// path, message, line and column, and come in the same order (unknown-key
// warnings aside: Ignition lists those in map order).
package compat

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ignition-go/ignition/config"
)

type record struct {
	Name   string `json:"name"`
	Config string `json:"config"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Exit   int    `json:"exit"`
}

func loadCorpus(t *testing.T) []record {
	t.Helper()
	f, err := os.Open("ignition-v2.26.0.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if len(out) < 1000 {
		t.Fatalf("corpus has %d records; want the full recorded corpus", len(out))
	}
	return out
}

var lineRE = regexp.MustCompile(`^(error|warning|info) at (?:(\$[^,]*)(?:, )?)?(?:line (\d+) col (\d+))?: (.*)$`)

type entry struct {
	sev, path, msg string
	line, col      string
}

func (e entry) String() string {
	return fmt.Sprintf("%s at %s (line %s col %s): %s", e.sev, e.path, e.line, e.col, e.msg)
}

func ignitionEntries(stdout string) (out []entry) {
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if l == "" {
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			out = append(out, entry{sev: "?", msg: l})
			continue
		}
		// Ignition artefact for null objects; not a problem of the config.
		if strings.HasPrefix(m[5], "context tree does not match content tree") {
			continue
		}
		out = append(out, entry{sev: m[1], path: m[2], line: m[3], col: m[4], msg: m[5]})
	}
	return out
}

// comparable message: ours may add an explanation after Ignition's words.
func sameMessage(ign, ours string) bool {
	if strings.HasPrefix(ours, ign) {
		return true
	}
	// data URL errors: Ignition prints the decoder's error bare.
	return strings.TrimPrefix(ours, "invalid data URL: ") == ign
}

// Where we differ from Ignition v2.26.0 on purpose.
var divergences = map[string]string{
	// Ignition cannot find a key spelled in another case when it places an
	// entry, so it points at the enclosing object and does not look inside;
	// we point at the key itself and warn about every such key.
	"case-insensitive-keys": "positions of case-mismatched keys",
}

// dropIDRange removes our errors for user and group ids outside 0 to
// 4294967294, which Ignition accepts (docs/differences.md), and reports
// whether there were any.
func dropIDRange(r *config.Report) bool {
	kept := r.Entries[:0]
	for _, e := range r.Entries {
		if !strings.HasSuffix(e.Message, " out of range (0 to 4294967294)") {
			kept = append(kept, e)
		}
	}
	dropped := len(kept) != len(r.Entries)
	r.Entries = kept
	return dropped
}

// virtiofs joined 3.7.0-experimental after v2.26.0 (reference §2.1).
func usesVirtiofs(cfg string) bool {
	return strings.Contains(cfg, `"3.7.0-experimental"`) && strings.Contains(cfg, `"virtiofs"`)
}

func TestMatchesIgnition(t *testing.T) {
	corpus := loadCorpus(t)
	var typeErrs, compared int
	for _, r := range corpus {
		if usesVirtiofs(r.Config) {
			continue
		}
		res, err := config.Parse([]byte(r.Config))
		if errors.Is(err, config.ErrInvalid) && dropIDRange(&res.Report) && !res.Report.IsFatal() {
			err = nil
		}
		ignValid := r.Exit == 0
		if ignValid != (err == nil) {
			t.Errorf("%s: Parse() err = %v; Ignition exit %d\nconfig: %s\nignition: %s%s\nours:\n%s", r.Name, err, r.Exit, r.Config, r.Stdout, r.Stderr, res.Report)
			continue
		}
		if strings.HasPrefix(r.Stderr, "couldn't parse config: ") {
			want := map[string]error{
				"not a config (empty)":                    config.ErrEmpty,
				"invalid config version (couldn't parse)": config.ErrInvalidVersion,
				"unsupported config version":              config.ErrUnknownVersion,
			}[strings.TrimSpace(strings.TrimPrefix(r.Stderr, "couldn't parse config: "))]
			if !errors.Is(err, want) {
				t.Errorf("%s: Parse() err = %v; want %v (Ignition: %s)", r.Name, err, want, r.Stderr)
			}
			continue
		}
		ign := ignitionEntries(r.Stdout)
		if len(ign) == 1 && ign[0].path == "" && strings.HasPrefix(ign[0].msg, "json: cannot unmarshal") {
			// Ignition stops at the first type mismatch; we must report at least one.
			typeErrs++
			found := false
			for _, e := range res.Report.Entries {
				if e.Severity == config.SeverityError && strings.Contains(e.Message, ": expected ") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no type error reported; Ignition: %s\nours:\n%s", r.Name, r.Stdout, res.Report)
			}
			continue
		}
		compared++
		var ours []entry
		for _, e := range res.Report.Entries {
			p := e.Path
			if p == "$" {
				p = ""
			}
			ours = append(ours, entry{sev: e.Severity.String(), path: p, msg: e.Message, line: fmt.Sprint(e.Line), col: fmt.Sprint(e.Column)})
		}
		if _, ok := divergences[r.Name]; ok {
			continue
		}
		if diff := diffEntries(ign, ours); diff != "" {
			t.Errorf("%s: reports differ:\n%s\nconfig: %s", r.Name, diff, r.Config)
		}
	}
	t.Logf("%d records: %d compared entry by entry, %d type mismatches", len(corpus), compared, typeErrs)
}

// diffEntries matches Ignition's entries to ours by severity, path and
// message, then checks the line and column of each pair.
func diffEntries(ign, ours []entry) string {
	used := make([]bool, len(ours))
	var b strings.Builder
	last := -1 // entries other than unknown keys come in Ignition's order
	for _, ie := range ign {
		match := -1
		for j, oe := range ours {
			if !used[j] && oe.sev == ie.sev && oe.path == ie.path && sameMessage(ie.msg, oe.msg) {
				match = j
				break
			}
		}
		if match < 0 {
			fmt.Fprintf(&b, "  missing: %s\n", ie)
			continue
		}
		used[match] = true
		if !strings.HasPrefix(ie.msg, "unused key") {
			if match < last {
				fmt.Fprintf(&b, "  order: %s comes earlier in ours\n", ie)
			}
			last = match
		}
		if ie.line != "" && ie.line != "0" && (ie.line != ours[match].line || ie.col != ours[match].col) {
			// For JSON syntax errors Ignition points one byte past the
			// offending character; we point at the character.
			if ie.path == "" && ie.line == ours[match].line && ie.col == fmt.Sprint(atoi(ours[match].col)+1) {
				continue
			}
			fmt.Fprintf(&b, "  position: Ignition %s; ours line %s col %s\n", ie, ours[match].line, ours[match].col)
		}
	}
	var extra []string
	for j, oe := range ours {
		if !used[j] {
			extra = append(extra, "  extra: "+oe.String())
		}
	}
	sort.Strings(extra)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}
