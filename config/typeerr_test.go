package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// coveredPairwise is the plain definition typeErrIndex must agree with: the
// path is at, below or above one of the type errors.
func coveredPairwise(p Path, typeErrs []string) bool {
	s := p.String()
	for _, t := range typeErrs {
		if s == t || strings.HasPrefix(s, t+".") || strings.HasPrefix(t, s+".") {
			return true
		}
	}
	return false
}

func TestTypeErrIndexMatchesPairwise(t *testing.T) {
	files := pathOf(Seg{Key: "storage"}, Seg{Key: "files"})
	typeErrs := []Path{
		files.idx(1).key("mode"),
		files.idx(10).key("contents").key("verification"),
		files.idx(2),
		pathOf(Seg{Key: "passwd"}, Seg{Key: "users"}, Seg{Key: "uid"}),
	}
	queries := []Path{
		{},
		pathOf(Seg{Key: "storage"}),
		files,
		files.idx(1),
		files.idx(1).key("mode"),
		files.idx(1).key("path"),
		files.idx(10),
		files.idx(10).key("contents"),
		files.idx(10).key("contents").key("source"),
		files.idx(10).key("contents").key("verification").key("hash"),
		files.idx(100).key("contents").key("verification"),
		files.idx(2),
		files.idx(2).key("path"),
		files.idx(20).key("path"),
		files.idx(0).key("mode"),
		pathOf(Seg{Key: "passwd"}, Seg{Key: "users"}, Seg{Key: "uid"}, Seg{Key: "x"}),
		pathOf(Seg{Key: "passwd"}, Seg{Key: "groups"}),
		pathOf(Seg{Key: "systemd"}, Seg{Key: "units"}, Seg{Index: 1}),
	}
	var all []string
	for _, te := range typeErrs {
		all = append(all, te.String())
	}
	for _, tes := range [][]string{nil, all[:1], all} {
		x := newTypeErrIndex(tes)
		for _, q := range queries {
			if got, want := x.covers(q), coveredPairwise(q, tes); got != want {
				t.Errorf("covers(%s) with type errors %v = %v; want %v", q, tes, got, want)
			}
		}
	}
}

// TestTypeErrIndexLinear counts map lookups, not seconds: each question must
// cost a bounded number of them however many type errors there are.
func TestTypeErrIndexLinear(t *testing.T) {
	const n = 16000
	files := pathOf(Seg{Key: "storage"}, Seg{Key: "files"})
	tes := make([]string, n)
	for i := range tes {
		tes[i] = files.idx(i).key("mode").String()
	}
	x := newTypeErrIndex(tes)
	for i := 0; i < n; i++ {
		if x.covers(files.idx(i).key("path")) {
			t.Fatalf("covers(%s) = true; want false", files.idx(i).key("path"))
		}
	}
	if limit := n * (maxPathDepth + 2); x.probes > limit {
		t.Errorf("%d questions cost %d map lookups; want at most %d", n, x.probes, limit)
	}
}

// TestParseBrokenFiles: 16,000 files each with a type error and a path error
// give exactly those 32,000 entries, type errors first, in document order.
func TestParseBrokenFiles(t *testing.T) {
	const n = 16000
	res, err := Parse(genBroken(n))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse(%d broken files) err = %v; want ErrInvalid", n, err)
	}
	if len(res.Report.Entries) != 2*n {
		t.Fatalf("Parse(%d broken files) = %d entries; want %d", n, len(res.Report.Entries), 2*n)
	}
	for i, e := range res.Report.Entries {
		var path, msg string
		var line int
		if i < n {
			path, msg, line = fmt.Sprintf("$.storage.files.%d.mode", i), "mode: expected an integer such as 420 (0644), got a string", i+2
		} else {
			path, msg, line = fmt.Sprintf("$.storage.files.%d.path", i-n), msgPathRelative, i-n+2
		}
		if e.Severity != SeverityError || e.Path != path || e.Message != msg || e.Line != line {
			t.Fatalf("entry %d = %s; want error at %s, line %d: %s", i, e, path, line, msg)
		}
	}
}

// A type error hides what validation says at, below and above it (the
// duplicate files.2), not beside it (files.0.contents.source).
func TestTypeErrorHidesValidation(t *testing.T) {
	raw := `{"ignition": {"version": "3.5.0"}, "storage": {"files": [
  {"path": "a", "contents": {"source": "ftp://x", "verification": "nope"}},
  {"path": "/c"}, {"path": "/c", "mode": "x"}, {"path": "/c"}]}}`
	res, _ := Parse([]byte(raw))
	want := []string{
		"error at $.storage.files.0.contents.verification, line 2 col 67: verification: expected an object, got a string",
		"error at $.storage.files.2.mode, line 3 col 42: mode: expected an integer such as 420 (0644), got a string",
		"error at $.storage.files.0.path, line 2 col 12: path not absolute",
		"error at $.storage.files.0.contents.source, line 2 col 40: invalid url scheme",
		"error at $.storage.files.3, line 3 col 49: duplicate entry defined",
	}
	if got := strings.TrimSpace(res.Report.String()); got != strings.Join(want, "\n") {
		t.Errorf("Parse() report =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}
