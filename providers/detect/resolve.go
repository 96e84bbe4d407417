package detect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sys/unix"
)

// Resolver turns the -platform flag into a platform id, once per stage,
// so that every stage of one boot agrees: an explicit id is taken as it
// is; "auto" takes the kernel command line's explicit
// ignition.platform.id, else the id an earlier stage of this boot found
// (CacheFile), else what Detect finds, which it then records in CacheFile.
type Resolver struct {
	// CmdlinePath is the kernel command line (/proc/cmdline).
	CmdlinePath string
	// CacheFile records the id detection found for the later stages of
	// the same boot (/run/ignition/platform); "" records nothing.
	CacheFile string
	// DryRun finds the platform but records nothing.
	DryRun bool
	// Valid says whether an id names a platform this build knows.
	Valid func(id string) bool
	Sources
}

// Resolve returns the platform for flag (an id, or "auto") and why it was
// chosen. took is how long detection took (0 when none ran). An error
// means the platform could not be settled (an unknown id on the command
// line); a failure to record the choice is returned as warn, the choice
// stands.
func (rv *Resolver) Resolve(flag string) (res Result, took time.Duration, warn error, err error) {
	if flag != Auto {
		return Result{flag, "-platform " + flag}, 0, nil, nil
	}
	if id, ok := cmdlineID(rv.CmdlinePath); ok && id != Auto {
		if id == "" {
			// as the dracut generator: a template's unset variable, not "detect"
			return Result{}, 0, nil, fmt.Errorf("kernel argument ignition.platform.id= is empty: name a platform, or auto")
		}
		if !rv.valid(id) {
			return Result{}, 0, nil, fmt.Errorf("kernel argument ignition.platform.id=%s: unknown platform", id)
		}
		return Result{id, "ignition.platform.id=" + id + " on the kernel command line"}, 0, nil, nil
	}
	if rv.CacheFile != "" {
		id, ev, rerr := readCache(rv.CacheFile)
		switch {
		case rerr == nil && Detectable(id) && rv.valid(id):
			return Result{id, ev + "; found by an earlier stage, " + rv.CacheFile}, 0, nil, nil
		case rerr == nil:
			warn = fmt.Errorf("ignoring the platform record %s: %q is not a platform detection finds", rv.CacheFile, id)
		case !errors.Is(rerr, fs.ErrNotExist):
			warn = fmt.Errorf("ignoring the platform record %s: %w", rv.CacheFile, rerr)
		}
	}
	start := time.Now()
	res = Detect(rv.Sources)
	took = time.Since(start)
	if rv.CacheFile != "" && !rv.DryRun {
		if werr := writeCache(rv.CacheFile, res); werr != nil {
			warn = errors.Join(warn, werr)
		}
	}
	return res, took, warn, nil
}

func (rv *Resolver) valid(id string) bool { return rv.Valid == nil || rv.Valid(id) }

// cmdlineID is the last ignition.platform.id= on the kernel command line,
// as the dracut generator reads it (double quotes removed, as the kernel
// does); found says whether there is one, id may then be "".
func cmdlineID(path string) (id string, found bool) {
	if path == "" {
		path = "/proc/cmdline"
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	for _, arg := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(strings.ReplaceAll(arg, `"`, ""), "ignition.platform.id="); ok {
			id, found = v, true
		}
	}
	return id, found
}

// Detectable says whether Detect can find id: the only ids a record of
// this boot may hold (a record of "file", say, was not written by us).
func Detectable(id string) bool {
	switch id {
	case "metal", "qemu", "nvidiabluefield":
		return true
	}
	for _, l := range append(openstackLabels, nocloudLabels...) {
		if l.platform == id {
			return true
		}
	}
	for _, rl := range append(rules, hypervisorRules...) {
		if rl.platform == id {
			return true
		}
	}
	return false
}

// The record holds two lines: the id and the evidence. It is read only
// when it is a regular file (not through a symlink, not a FIFO that would
// block), of at most 4 KiB; the evidence is logged, so control characters
// are dropped from it.
func readCache(path string) (id, evidence string, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if !fi.Mode().IsRegular() || fi.Size() > 4096 {
		return "", "", fmt.Errorf("not a regular file of at most 4 KiB (%v, %d bytes)", fi.Mode().Type(), fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", "", err
	}
	id, evidence, _ = strings.Cut(strings.TrimRight(string(b), "\n"), "\n")
	evidence = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, evidence)
	return id, evidence, nil
}

func writeCache(path string, res Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("recording the platform in %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".platform-*")
	if err != nil {
		return fmt.Errorf("recording the platform in %s: %w", path, err)
	}
	_, werr := fmt.Fprintf(tmp, "%s\n%s\n", res.Platform, strings.ReplaceAll(res.Evidence, "\n", " "))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("recording the platform in %s (a later stage detects it again): %w", path, werr)
	}
	return nil
}
