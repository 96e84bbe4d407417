package detect

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
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
		if !rv.valid(id) {
			return Result{}, 0, nil, fmt.Errorf("kernel argument ignition.platform.id=%s: unknown platform", id)
		}
		return Result{id, "ignition.platform.id=" + id + " on the kernel command line"}, 0, nil, nil
	}
	if rv.CacheFile != "" {
		if id, ev, ok := readCache(rv.CacheFile); ok && rv.valid(id) {
			return Result{id, ev + "; found by an earlier stage, " + rv.CacheFile}, 0, nil, nil
		}
	}
	start := time.Now()
	res = Detect(rv.Sources)
	took = time.Since(start)
	if rv.CacheFile != "" && !rv.DryRun {
		warn = writeCache(rv.CacheFile, res)
	}
	return res, took, warn, nil
}

func (rv *Resolver) valid(id string) bool { return rv.Valid == nil || rv.Valid(id) }

// cmdlineID is the last ignition.platform.id= on the kernel command line,
// as the dracut generator reads it.
func cmdlineID(path string) (string, bool) {
	if path == "" {
		path = "/proc/cmdline"
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	id, found := "", false
	for _, arg := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(arg, "ignition.platform.id="); ok {
			id, found = v, true
		}
	}
	return id, found && id != ""
}

// The cache holds two lines: the id and the evidence.
func readCache(path string) (id, evidence string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 4096 {
		return "", "", false
	}
	id, evidence, _ = strings.Cut(strings.TrimRight(string(b), "\n"), "\n")
	return id, evidence, id != ""
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
		return fmt.Errorf("recording the platform in %s: %w", path, werr)
	}
	return nil
}
