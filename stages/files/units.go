package files

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/rootfs"
)

const (
	unitDir    = "/etc/systemd/system"
	presetFile = "/etc/systemd/system-preset/20-ignition.preset"
)

// units writes units and drop-ins, masks and unmasks, disables with
// systemctl --root, and records enable/disable in the preset file, which
// systemd applies on first boot (no running systemd or D-Bus needed).
func (a *Applier) units(ctx context.Context, p Plan) error {
	for _, u := range p.Units {
		done := a.o.Log.Op("unit %q", u.Name)
		err := a.unit(ctx, u)
		done(err)
		if err != nil {
			return fmt.Errorf("unit %q: %w", u.Name, err)
		}
	}
	if len(p.Presets) == 0 {
		return nil
	}
	var old []byte
	if b, err := a.Root.ReadFile(presetFile); err == nil {
		old = b
		if len(old) > 0 && old[len(old)-1] != '\n' {
			old = append(old, '\n')
		}
	}
	done := a.o.Log.Op("writing %s", presetFile)
	err := a.writeBytes(presetFile, append(old, []byte(strings.Join(p.Presets, "\n")+"\n")...), 0o644, 0, 0)
	done(err)
	return err
}

func (a *Applier) unit(ctx context.Context, u Unit) error {
	p := path.Join(unitDir, u.Name)
	if u.Contents != nil {
		if err := a.writeBytes(p, []byte(*u.Contents), 0o644, 0, 0); err != nil {
			return err
		}
	}
	for _, d := range u.Dropins {
		if d.Contents == nil {
			continue
		}
		if err := a.writeBytes(path.Join(unitDir, u.Name+".d", d.Name), []byte(*d.Contents), 0o644, 0, 0); err != nil {
			return err
		}
	}
	if u.Mask != nil {
		d, base, kind, err := a.entry(p)
		if err != nil {
			return err
		}
		defer d.Close()
		target := ""
		if kind == rootfs.Symlink {
			target, _ = d.Readlink(base)
		}
		switch {
		case *u.Mask:
			if kind == rootfs.Directory {
				// the plan refuses this; something made it since
				return fmt.Errorf("%s is a directory: %w", p, rootfs.ErrChanged)
			}
			a.written(p)
			if err := d.Symlink(base, "/dev/null", 0, 0); err != nil {
				return err
			}
		case kind == rootfs.Symlink && target == "/dev/null":
			if err := d.Unlink(base); err != nil {
				return err
			}
		}
	}
	if u.Enabled != nil && !*u.Enabled {
		root := a.Root.Path
		res, err := a.o.Runner.Run(ctx, command.Cmd{Name: "systemctl", Args: []string{"--root", root, "is-enabled", u.Name}, Quiet: true})
		if err != nil && command.ExitCode(err) < 0 {
			a.o.Log.Warnf("unit %q: systemctl could not be run to disable it; the preset will: %v", u.Name, err)
			return nil
		}
		if strings.TrimSpace(string(res.Stdout)) == "enabled" {
			if _, err := a.o.Runner.Run(ctx, command.Cmd{Name: "systemctl", Args: []string{"--root", root, "disable", u.Name}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// relabel restores SELinux labels on what was written.
func (a *Applier) relabel(ctx context.Context) error {
	return Relabel(ctx, a.Root, a.o.Runner, a.o.Log, a.Written)
}

// Relabel restores SELinux labels on paths (in-root; setfiles recurses
// into directories) when the target has SELinux; otherwise there is
// nothing to do. setfiles gets host paths, so each is resolved inside the
// root first and checked to stay there: a symlink in the image (say
// /etc -> /etc on the host) cannot send it out.
func Relabel(ctx context.Context, root *rootfs.Root, run command.Runner, log Logger, paths []string) error {
	cfg, err := root.ReadFile("/etc/selinux/config")
	if err != nil {
		log.Infof("the target has no SELinux configuration; no relabelling")
		return nil
	}
	mode, typ := "", ""
	sc := bufio.NewScanner(bytes.NewReader(cfg))
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch k {
		case "SELINUX":
			mode = strings.TrimSpace(v)
		case "SELINUXTYPE":
			typ = strings.TrimSpace(v)
		}
	}
	if mode == "disabled" || typ == "" {
		log.Infof("SELinux is disabled in the target; no relabelling")
		return nil
	}
	if strings.ContainsAny(typ, "/\x00") || typ == ".." || typ == "." {
		return fmt.Errorf("SELinux relabel: SELINUXTYPE %q is not a policy name", typ)
	}
	contexts, err := root.HostPath(path.Join("/etc/selinux", typ, "contexts/files/file_contexts"))
	if err != nil {
		return fmt.Errorf("SELinux relabel: %w", err)
	}
	var list bytes.Buffer
	seen := map[string]bool{}
	for _, p := range paths {
		hp, err := root.HostPath(p)
		if err != nil {
			return fmt.Errorf("SELinux relabel of %q: %w", p, err)
		}
		if seen[hp] {
			continue
		}
		seen[hp] = true
		list.WriteString(hp)
		list.WriteByte(0)
	}
	rootReal, err := root.HostPath("/")
	if err != nil {
		return err
	}
	_, err = run.Run(ctx, command.Cmd{Name: "setfiles", Args: []string{"-vF0", "-r", rootReal, contexts, "-f", "-"}, Stdin: &list})
	if err != nil {
		return fmt.Errorf("SELinux relabel of %d path(s): %w", len(seen), err)
	}
	return nil
}
