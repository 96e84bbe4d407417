// Package log is the ignition command's logger: to the systemd journal
// when it runs (with structured fields), or to stdout with -log-to-stdout.
// Every side effect is an operation: "op(N): [started] what" when it
// starts and "op(N): [finished] what (12ms)" or "[failed]" when it ends.
package log

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/journal"
)

// Logger writes the log of one stage.
type Logger struct {
	mu      sync.Mutex
	stage   string
	out     io.Writer // nil: the journal
	buf     *bufio.Writer
	ops     int
	journal bool
	// Deferred are errors that end an operation without a failure (a
	// config the fetch-offline stage leaves to the fetch stage, for the
	// network): logged at INFO as "[deferred]", not CRITICAL.
	Deferred []error
}

// New makes a logger for a stage. With toStdout, or when the journal is not
// running, lines go to stdout (or to w when given).
func New(stage string, toStdout bool, w io.Writer) *Logger {
	l := &Logger{stage: stage}
	if !toStdout && journal.Enabled() {
		l.journal = true
		return l
	}
	if w == nil {
		w = os.Stdout
	}
	// Lines are buffered (thousands of file operations would otherwise
	// cost a write each) and flushed at every warning or error, at least
	// every 200 ms, and by Close.
	l.buf = bufio.NewWriterSize(w, 64<<10)
	l.out = l.buf
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			l.mu.Lock()
			l.buf.Flush()
			l.mu.Unlock()
		}
	}()
	return l
}

// Close flushes what is buffered.
func (l *Logger) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf != nil {
		l.buf.Flush()
	}
}

const (
	prioErr     = journal.PriErr
	prioWarning = journal.PriWarning
	prioInfo    = journal.PriInfo
	prioDebug   = journal.PriDebug
)

var prioNames = map[journal.Priority]string{prioErr: "CRITICAL", prioWarning: "WARNING", prioInfo: "INFO", prioDebug: "DEBUG"}

// oneLine escapes what could break a log line or forge another: control
// characters (a newline in a path from a config) and invalid UTF-8.
func oneLine(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n':
			b.WriteString("\\n")
		case r == '\r':
			b.WriteString("\\r")
		case r == '\t':
			b.WriteString("\\t")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (l *Logger) send(p journal.Priority, msg string, fields map[string]string) {
	msg = oneLine(msg)
	for k, v := range fields {
		fields[k] = oneLine(v)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.journal {
		vars := map[string]string{"SYSLOG_IDENTIFIER": "ignition", "IGNITION_STAGE": l.stage}
		for k, v := range fields {
			vars[k] = v
		}
		if journal.Send(msg, p, vars) == nil {
			return
		}
	}
	w := l.out
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "%s %-8s : %s\n", time.Now().Format("15:04:05.000"), prioNames[p], msg)
	if l.buf != nil && p <= prioWarning {
		l.buf.Flush()
	}
}

// Infof, Warnf, Errorf and Debugf log one line.
func (l *Logger) Infof(format string, args ...any) {
	l.send(prioInfo, fmt.Sprintf(format, args...), nil)
}
func (l *Logger) Warnf(format string, args ...any) {
	l.send(prioWarning, fmt.Sprintf(format, args...), nil)
}
func (l *Logger) Errorf(format string, args ...any) {
	l.send(prioErr, fmt.Sprintf(format, args...), nil)
}
func (l *Logger) Debugf(format string, args ...any) {
	l.send(prioDebug, fmt.Sprintf(format, args...), nil)
}

// Logf is Infof as a plain function value, for packages that take one.
func (l *Logger) Logf(format string, args ...any) { l.Infof(format, args...) }

// Op logs the start of an operation and returns the function that logs its
// end, with its duration and error:
//
//	done := log.Op("fetching config from %s", src)
//	err := fetch()
//	done(err)
func (l *Logger) Op(format string, args ...any) func(error) {
	what := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.ops++
	n := l.ops
	l.mu.Unlock()
	start := time.Now()
	l.send(prioInfo, fmt.Sprintf("op(%d): [started]  %s", n, what), map[string]string{"IGNITION_OP": what})
	return func(err error) {
		d := time.Since(start)
		fields := map[string]string{"IGNITION_OP": what, "IGNITION_DURATION_MS": strconv.FormatInt(d.Milliseconds(), 10)}
		for _, e := range l.Deferred {
			if err != nil && errors.Is(err, e) {
				l.send(prioInfo, fmt.Sprintf("op(%d): [deferred] %s (%v): %v", n, what, d.Round(time.Millisecond), err), fields)
				return
			}
		}
		if err != nil {
			fields["IGNITION_ERROR"] = err.Error()
			l.send(prioErr, fmt.Sprintf("op(%d): [failed]   %s (%v): %v", n, what, d.Round(time.Millisecond), err), fields)
			return
		}
		l.send(prioInfo, fmt.Sprintf("op(%d): [finished] %s (%v)", n, what, d.Round(time.Millisecond)), fields)
	}
}
