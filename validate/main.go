// Command ignition-validate checks Ignition configs (spec 3.0.0 to
// 3.7.0-experimental) and reports every problem at once, with its JSON path,
// line and column. It is a drop-in for Ignition's ignition-validate: same
// positional use ("-" reads stdin), same report lines, and exit status 0
// when valid, 1 when invalid, 2 on a usage error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	json "github.com/coreos/go-json"

	"github.com/ignition-go/ignition/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "v0.1.0-dev"

const usage = `Usage:
  ignition-validate [--strict] [--format text|json] [--explain] FILE... | -

Checks Ignition configs (spec %s) and prints every problem found,
one per line: "error at $.storage.files.0.path, line 8 col 17: path not absolute".
"-" reads the config from standard input.

Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error.

Flags (one or two dashes):
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

type fileEntry struct {
	File string `json:"file,omitempty"`
	config.Entry
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ignition-validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "treat warnings (unknown keys, ...) as errors")
	format := fs.String("format", "text", "output format: text or json")
	showVersion := fs.Bool("version", false, "print the version of ignition-validate")
	doExplain := fs.Bool("explain", false, "also describe, in plain words, what each valid config does (text format)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, config.SupportedVersions[0].String()+" to "+config.Newest.String())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "ignition-validate %s (Ignition-compatible; config spec %s to %s)\n",
			version, config.SupportedVersions[0], config.Newest)
		return 0
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "ignition-validate: --format must be text or json, not %q\n", *format)
		return 2
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return 2
	}
	multi := len(files) > 1
	status := 0
	all := []fileEntry{}
	explained := []explanation{}
	// A report can have a line per file of a 100,000-file config: buffer
	// them, and flush after each config so that its lines on stdout and
	// stderr still come out in order.
	out := bufio.NewWriterSize(stdout, 64<<10)
	stdout = out
	flush := func() {
		if err := out.Flush(); err != nil {
			// said once: what follows goes nowhere
			fmt.Fprintf(stderr, "ignition-validate: writing the report: %v\n", err)
			status = 1
			out.Reset(io.Discard)
		}
	}
	for _, name := range files {
		flush()
		raw, err := readInput(name, stdin, config.MaxConfigSize)
		if err != nil {
			if *format == "json" {
				all = append(all, fileEntry{File: name, Entry: config.Entry{Severity: config.SeverityError, Path: "$", Message: err.Error()}})
			} else {
				fmt.Fprintf(stderr, "ignition-validate: %v\n", err)
			}
			status = 1
			continue
		}
		// Keep the heap near what the config needs: a soft limit of 32 MiB,
		// or 16 bytes per input byte for very large configs.
		debug.SetMemoryLimit(max(32<<20, 16*int64(len(raw))))
		res, perr := config.Parse(raw)
		rep := res.Report
		if perr != nil && looksLikeButane(raw) {
			// the most common first mistake: a Butane file is YAML, not a config
			for i := range rep.Entries {
				if rep.Entries[i].Severity == config.SeverityError {
					rep.Entries[i].Message = butaneHint + " (" + rep.Entries[i].Message + ")"
					break
				}
			}
		}
		if *strict {
			rep.Strict()
		}
		if rep.IsFatal() || perr != nil {
			status = 1
		}
		prefix := ""
		if multi {
			prefix = name + ": "
		}
		for _, e := range rep.Entries {
			if *format == "json" {
				fe := fileEntry{Entry: e}
				if multi {
					fe.File = name
				}
				all = append(all, fe)
				continue
			}
			if isUnparseable(perr) {
				// Ignition prints these to stderr as "couldn't parse config: ...".
				fmt.Fprintf(stderr, "%scouldn't parse config: %s%s\n", prefix, e.Message, where(e))
				continue
			}
			fmt.Fprintf(stdout, "%s%s\n", prefix, e)
		}
		if *doExplain && *format == "json" {
			ex := explanation{File: name, Valid: perr == nil && !rep.IsFatal(), Errors: rep.Errors(), Warnings: rep.Warnings(), Problems: []config.Entry{}}
			ex.Problems = append(ex.Problems, rep.Entries...)
			if ex.Valid {
				ex.Explanation = explainLines(res)
			}
			explained = append(explained, ex)
		}
		if *doExplain && *format == "text" {
			if perr != nil || rep.IsFatal() {
				fmt.Fprintf(stdout, "%s: invalid (%d error(s), %d warning(s))\n", name, rep.Errors(), rep.Warnings())
			} else {
				fmt.Fprintf(stdout, "%s: valid (%d warning(s))\n", name, rep.Warnings())
				explain(stdout, res)
			}
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var v any = all
		if *doExplain {
			v = explained
		}
		if err := enc.Encode(v); err != nil {
			fmt.Fprintf(stderr, "ignition-validate: %v\n", err)
			return 1
		}
	}
	flush()
	return status
}

// explanation is one config's report and, when it is valid, what it does
// in plain words: what --explain --format json prints, one per file.
type explanation struct {
	File        string         `json:"file"`
	Valid       bool           `json:"valid"`
	Errors      int            `json:"errors"`
	Warnings    int            `json:"warnings"`
	Problems    []config.Entry `json:"problems"`
	Explanation []string       `json:"explanation,omitempty"`
}

// explainLines is explain's text, a line each, without the indentation
// every line has.
func explainLines(res config.Result) []string {
	var b strings.Builder
	explain(&b, res)
	var out []string
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		out = append(out, strings.TrimPrefix(l, "  "))
	}
	return out
}

const butaneHint = "this looks like Butane YAML, not an Ignition config: translate it with butane first (butane --pretty --strict < config.bu > config.ign)"

// looksLikeButane says whether raw is YAML with Butane's top-level
// variant and version keys.
func looksLikeButane(raw []byte) bool {
	variant, version := false, false
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimRight(l, "\r ")
		switch {
		case strings.HasPrefix(l, "variant:"):
			variant = true
		case strings.HasPrefix(l, "version:"):
			version = true
		}
	}
	return variant && version
}

func isUnparseable(err error) bool {
	return errors.Is(err, config.ErrEmpty) || errors.Is(err, config.ErrInvalidVersion) || errors.Is(err, config.ErrUnknownVersion)
}

func where(e config.Entry) string {
	if e.Line == 0 {
		return ""
	}
	return fmt.Sprintf(" (at %s, line %d col %d)", e.Path, e.Line, e.Column)
}

// readInput reads a config from a file or, for "-", from stdin, refusing
// one larger than limit bytes: a regular file over the limit is refused
// before it is read, and anything else is read to at most limit+1 bytes, so
// that an endless stream costs about limit in memory.
func readInput(name string, stdin io.Reader, limit int64) ([]byte, error) {
	src, r, size := "standard input", stdin, int64(-1)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		defer f.Close()
		src, r = name, f
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	var b []byte
	err := errTooLarge
	if size <= limit {
		b, err = readLimited(r, limit, size)
	}
	switch {
	case errors.Is(err, errTooLarge):
		return nil, fmt.Errorf("%s: config larger than %s, the cap on a config; not read further", src, sizeString(limit))
	case err != nil && name == "-":
		return nil, fmt.Errorf("reading standard input: %w", err)
	case err != nil:
		return nil, fmt.Errorf("reading config %s: %w", name, err)
	}
	return b, nil
}

var errTooLarge = errors.New("too large")

// readLimited reads r to its end, or fails with errTooLarge once it has read
// more than limit bytes. It reads into chunks and joins them only when the
// whole fits, so a refused stream never costs more than limit+1 bytes plus
// a chunk. size, when known (not negative), sizes the first chunk, so that a
// regular file is read into one buffer without copying.
func readLimited(r io.Reader, limit, size int64) ([]byte, error) {
	const maxChunk = 4 << 20
	r = io.LimitReader(r, limit+1)
	next := int64(512)
	if size >= 0 {
		next = min(size+1, limit+1)
	}
	var chunks [][]byte
	total := int64(0)
	for {
		c := make([]byte, next)
		n, err := io.ReadFull(r, c)
		chunks = append(chunks, c[:n])
		total += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		next = min(max(next*2, 512), maxChunk)
	}
	if total > limit {
		return nil, errTooLarge
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	b := make([]byte, 0, total)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b, nil
}

// sizeString renders a byte count in MiB when it is a whole number of them.
func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	}
	return fmt.Sprintf("%d bytes", n)
}
