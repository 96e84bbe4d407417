// Package command runs the external programs the stages need (shadow-utils,
// systemctl, setfiles, mount, modprobe, the kargs helper, the disk tools)
// in one way: the argv is logged with secrets and URL credentials hidden,
// the run is bound to a context, and a failure says the exit status and
// what the program wrote to stderr. Tests swap in a Fake.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/ignition-go/ignition/internal/redact"
)

// Cmd is one program to run.
type Cmd struct {
	Name string
	Args []string
	// Secret lists indexes into Args whose values are never logged or put
	// in an error (password hashes, keys).
	Secret []int
	// Stdin, when set, is what the program reads.
	Stdin io.Reader
	// Quiet runs a probe (systemctl is-enabled, ...) without an operation
	// log line of its own.
	Quiet bool
}

// String renders the argv for logs, secrets hidden, every URL in an
// argument redacted (redact.Text: no password, no query value) and every
// argument quoted when it holds anything but plain characters.
func (c Cmd) String() string {
	parts := make([]string, 0, len(c.Args)+1)
	parts = append(parts, quote(c.Name))
	for i, a := range c.Args {
		if c.secret(i) {
			parts = append(parts, "<hidden>")
			continue
		}
		parts = append(parts, quote(redact.Text(a)))
	}
	return strings.Join(parts, " ")
}

func (c Cmd) secret(i int) bool {
	for _, s := range c.Secret {
		if s == i {
			return true
		}
	}
	return false
}

func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '\\' || r == '\'' || r > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}

// Result is what a program printed.
type Result struct {
	Stdout []byte
	Stderr []byte
	// ExitCode is the exit status (-1 when it did not start or was killed).
	ExitCode int
}

// Error is a program that failed: its argv (secrets hidden), its exit
// status and the end of its stderr.
type Error struct {
	Cmd      string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *Error) Error() string {
	s := e.Cmd + ": "
	if e.ExitCode >= 0 {
		s += "exit status " + strconv.Itoa(e.ExitCode)
	} else {
		s += e.Err.Error()
	}
	if e.Stderr != "" {
		s += ": " + e.Stderr
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns the exit status of a failed program, or -1.
func ExitCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.ExitCode
	}
	return -1
}

// Logger is where the runner narrates.
type Logger interface {
	Op(format string, args ...any) func(error)
}

// Runner runs programs.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// Exec runs programs for real.
type Exec struct {
	Log Logger
	// Env, when set, is the environment of every program (else this
	// process's).
	Env []string
}

// maxStderr bounds what of a program's stderr goes into an error.
const maxStderr = 4 << 10

// Run runs c, logging its start and end; the error is an *Error.
func (x *Exec) Run(ctx context.Context, c Cmd) (Result, error) {
	var done func(error)
	if x.Log != nil && !c.Quiet {
		done = x.Log.Op("running %s", c.String())
	}
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = x.Env
	cmd.Stdin = c.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if err != nil {
		// a program may echo a URL it was given (curl under clevis)
		msg := redact.Text(strings.TrimSpace(stderr.String()))
		if len(msg) > maxStderr {
			msg = "…" + msg[len(msg)-maxStderr:]
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			res.ExitCode = -1
		}
		err = &Error{Cmd: c.String(), ExitCode: res.ExitCode, Stderr: msg, Err: err}
	}
	if done != nil {
		done(err)
	}
	return res, err
}

// Fake records the programs it is asked to run and answers from a script,
// for tests.
type Fake struct {
	mu  sync.Mutex
	Ran []Cmd
	// Answer, when set, decides each run's result; nil answers success
	// with no output.
	Answer func(c Cmd) (Result, error)
}

// Run records c and answers it.
func (f *Fake) Run(ctx context.Context, c Cmd) (Result, error) {
	f.mu.Lock()
	f.Ran = append(f.Ran, c)
	answer := f.Answer
	f.mu.Unlock()
	if answer == nil {
		return Result{}, nil
	}
	return answer(c)
}

// Lines returns what was run, one rendered argv a line.
func (f *Fake) Lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.Ran {
		out = append(out, c.String())
	}
	return out
}
