// Command ignition-kargs-helper applies the kargs stage's kernel arguments
// to Boot Loader Specification entries (<boot>/loader/entries/*.conf): it
// adds every --should-exist argument missing from an entry's "options"
// line and removes every --should-not-exist one. The ignition command runs
// it as Ignition runs its helper. With --reboot it reboots when an entry
// changed, so that the new arguments take effect.
//
//	ignition-kargs-helper [--boot-dir /boot] [--reboot] --should-exist A ... --should-not-exist B ...
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ignition-kargs-helper", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var add, remove list
	fs.Var(&add, "should-exist", "kernel argument that must be present (repeatable)")
	fs.Var(&remove, "should-not-exist", "kernel argument that must be absent (repeatable)")
	boot := fs.String("boot-dir", envOr("IGNITION_BOOT_DIR", "/boot"), "where the loader/entries directory is")
	reboot := fs.Bool("reboot", false, "reboot (systemctl reboot) when an entry changed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	entries, err := filepath.Glob(filepath.Join(*boot, "loader", "entries", "*.conf"))
	if err != nil || len(entries) == 0 {
		fmt.Fprintf(stderr, "ignition-kargs-helper: no boot entries in %s\n", filepath.Join(*boot, "loader", "entries"))
		return 1
	}
	changed := 0
	for _, p := range entries {
		c, err := edit(p, add, remove)
		if err != nil {
			fmt.Fprintf(stderr, "ignition-kargs-helper: %s: %v\n", p, err)
			return 1
		}
		if c {
			changed++
			fmt.Fprintf(stdout, "updated %s\n", p)
		}
	}
	if changed == 0 {
		fmt.Fprintln(stdout, "kernel arguments already as wanted")
		return 0
	}
	if *reboot {
		fmt.Fprintln(stdout, "rebooting for the new kernel arguments")
		if out, err := exec.Command("systemctl", "reboot").CombinedOutput(); err != nil {
			fmt.Fprintf(stderr, "ignition-kargs-helper: systemctl reboot: %v: %s\n", err, out)
			return 1
		}
	}
	return 0
}

// edit rewrites one entry's options line; it reports whether it changed.
func edit(path string, add, remove []string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	lines := strings.Split(string(b), "\n")
	found := false
	changed := false
	for i, l := range lines {
		key, val, _ := strings.Cut(strings.TrimSpace(l), " ")
		if key != "options" {
			continue
		}
		found = true
		opts := strings.Fields(val)
		out := opts[:0:0]
		for _, o := range opts {
			if slices.Contains(remove, o) {
				changed = true
				continue
			}
			out = append(out, o)
		}
		for _, a := range add {
			if !slices.Contains(out, a) {
				out = append(out, a)
				changed = true
			}
		}
		lines[i] = "options " + strings.Join(out, " ")
	}
	if !found && len(add) > 0 {
		lines = append(lines[:len(lines)-1], "options "+strings.Join(add, " "), lines[len(lines)-1])
		changed = true
	}
	if !changed {
		return false, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	// a temp file, synced, renamed over the entry, the directory synced:
	// a reboot right after (the kargs stage asks for one) keeps the edit
	tmp := path + ".ignition-tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return false, err
	}
	_, err = f.WriteString(strings.Join(lines, "\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return false, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return true, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
