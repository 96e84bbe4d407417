package files

import (
	"context"
	"os/exec"
	"path"
	"strings"

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
		done := a.Log.Op("unit %s", u.Name)
		err := a.unit(ctx, u)
		done(err)
		if err != nil {
			return err
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
	done := a.Log.Op("writing %s", presetFile)
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
		d, kind, err := a.entry(p)
		if err != nil {
			return err
		}
		target, _ := d.Readlink()
		switch {
		case *u.Mask:
			if kind == rootfs.Directory {
				if err := d.RemoveAll(); err != nil {
					return err
				}
			}
			a.Written = append(a.Written, p)
			if err := d.Symlink("/dev/null", 0, 0); err != nil {
				return err
			}
		case kind == rootfs.Symlink && target == "/dev/null":
			if err := d.RemoveAll(); err != nil {
				return err
			}
		}
	}
	if u.Enabled != nil && !*u.Enabled {
		if _, err := exec.LookPath("systemctl"); err != nil {
			a.Log.Warnf("unit %s: systemctl is not available to disable it; the preset will", u.Name)
			return nil
		}
		out, _ := exec.CommandContext(ctx, "systemctl", "--root", a.Root.Path, "is-enabled", u.Name).Output()
		if strings.TrimSpace(string(out)) == "enabled" {
			if _, err := a.run(ctx, "systemctl", "--root", a.Root.Path, "disable", u.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
