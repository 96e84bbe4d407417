package disks

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/rootfs"
)

// Mount is one filesystem to mount under the target root.
type Mount struct {
	Device  string // as the config names it
	Node    string // what the disks stage found or made there
	Path    string // inside the root
	Format  string
	Options []string
}

// Mounted is a mount the mount stage made, for the umount stage.
type Mounted struct {
	Path string `json:"path"` // inside the root
	Host string `json:"host"` // where it is on this machine
}

// MountPlan mounts filesystems by the depth of their path.
type MountPlan struct {
	Root   string
	Mounts []Mount
}

// PlanMounts lists the filesystems the config mounts (those with a path
// and a format other than none and swap), parents first. aliases are the
// device nodes the disks stage recorded.
func PlanMounts(cfg config.Config, root string, aliases map[string]string) (*MountPlan, error) {
	mp := &MountPlan{Root: root}
	seen := map[string]string{}
	for _, f := range cfg.Storage.Filesystems {
		format := deref(f.Format)
		if f.Path == nil || *f.Path == "" || format == "" || format == "none" || format == "swap" {
			continue
		}
		m := Mount{Device: f.Device, Node: f.Device, Path: path.Clean(*f.Path), Format: format, Options: f.MountOptions}
		if n, ok := aliases[f.Device]; ok {
			m.Node = n
		}
		if other, dup := seen[m.Path]; dup {
			return nil, fmt.Errorf("filesystems on %s and %s are both to be mounted at %s", other, f.Device, m.Path)
		}
		seen[m.Path] = f.Device
		mp.Mounts = append(mp.Mounts, m)
	}
	sort.SliceStable(mp.Mounts, func(i, j int) bool {
		return components(mp.Mounts[i].Path) < components(mp.Mounts[j].Path)
	})
	if len(mp.Mounts) == 0 {
		return mp, nil
	}
	r, err := rootfs.Open(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for _, m := range mp.Mounts {
		// what lies under another mount of this plan is in that
		// filesystem, not in the root as it is now: checked when mounting
		upto := m.Path
		for _, o := range mp.Mounts {
			if o.Path != m.Path && under(m.Path, o.Path) {
				upto = o.Path
			}
		}
		if upto == "/" && m.Path != "/" {
			continue
		}
		if err := checkNoSymlink(r, m.Path, upto); err != nil {
			return nil, err
		}
	}
	return mp, nil
}

// under says whether p is below dir (clean absolute paths).
func under(p, dir string) bool {
	return dir == "/" || strings.HasPrefix(p, dir+"/")
}

// checkNoSymlink refuses a mount path that goes through a symlink in the
// root, as Ignition does (it compares the path resolved inside the root
// with the path as written): a link is allowed only when it resolves to
// exactly the path it stands at. Mounting through a link would put the
// filesystem somewhere the config does not name (over the root itself for
// a link to /). Components are checked down to upto (a prefix of p, or
// p); a missing one ends the check, as what follows will be made as plain
// directories.
func checkNoSymlink(r *rootfs.Root, p, upto string) error {
	top, err := r.ResolvedHostPath("/")
	if err != nil {
		return err
	}
	cur := "/"
	for _, comp := range strings.Split(strings.TrimPrefix(upto, "/"), "/") {
		if comp == "" {
			break
		}
		next := path.Join(cur, comp)
		d, err := r.OpenDir(cur)
		if err != nil {
			return fmt.Errorf("mount path %s: %w", p, err)
		}
		kind, _, err := d.Lstat(comp)
		var target string
		if kind == rootfs.Symlink {
			target, _ = d.Readlink(comp)
		}
		d.Close()
		switch {
		case err != nil:
			return fmt.Errorf("mount path %s: %w", p, err)
		case kind == rootfs.Missing:
			return nil
		case kind == rootfs.Symlink:
			host, err := r.ResolvedHostPath(next)
			if err != nil || host != path.Join(top, next) {
				return fmt.Errorf("mount path %s goes through the symlink %s (to %s) in the root; mount paths through symlinks are refused, as Ignition refuses them: name the directory itself", p, next, target)
			}
		case kind != rootfs.Directory:
			return fmt.Errorf("mount path %s: %s is %s, not a directory", p, next, kind)
		}
		cur = next
	}
	return nil
}

// components counts a clean absolute path's components ("/" has none).
func components(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

func (m Mount) cmd(host string) command.Cmd {
	args := []string{"-t", m.Format}
	if len(m.Options) > 0 {
		args = append(args, "-o", strings.Join(m.Options, ","))
	}
	return command.Cmd{Name: "mount", Args: append(args, m.Node, host)}
}

// Print writes the plan for -dry-run.
func (mp *MountPlan) Print(w io.Writer) {
	if len(mp.Mounts) == 0 {
		fmt.Fprintln(w, "mount: nothing to mount")
	}
	for _, m := range mp.Mounts {
		fmt.Fprintf(w, "mount: would run %s\n", m.cmd(path.Join(mp.Root, m.Path)))
	}
}

// Apply mounts each filesystem at its path inside the root, creating
// missing mount points (0755, root) with in-root resolution; record is
// called after each mount so that a failure later can be undone. On a
// failure the mounts made so far are undone, in reverse.
func (mp *MountPlan) Apply(ctx context.Context, o Options, record func([]Mounted) error) ([]string, error) {
	var done []Mounted
	var created []string
	fail := func(err error) ([]string, error) {
		if uerr := Unmount(context.WithoutCancel(ctx), done, o); uerr != nil {
			o.Log.Warnf("undoing the mounts: %v", uerr)
		}
		record(nil)
		return created, err
	}
	for _, m := range mp.Mounts {
		if _, err := blockdev.Wait(ctx, m.Node, 30*time.Second, o.Log.Infof); err != nil {
			return fail(fmt.Errorf("mounting %s at %s: %w", m.Device, m.Path, err))
		}
		// the root is opened again for each mount: a filesystem mounted at
		// / (or above this path) must be seen through
		host, made, err := mountPoint(mp.Root, m.Path)
		created = append(created, made...)
		if err != nil {
			return fail(fmt.Errorf("mount point %s: %w", m.Path, err))
		}
		// relabelled while empty: once mounted, setfiles would recurse
		// into the filesystem
		if len(made) > 0 && o.Relabel != nil {
			if err := o.Relabel(ctx, made); err != nil {
				return fail(fmt.Errorf("mount point %s: %w", m.Path, err))
			}
		}
		if _, err := o.Runner.Run(ctx, m.cmd(host)); err != nil {
			return fail(fmt.Errorf("mounting %s at %s: %w", m.Device, m.Path, err))
		}
		done = append(done, Mounted{Path: m.Path, Host: host})
		if err := record(done); err != nil {
			return fail(err)
		}
	}
	return created, nil
}

// mountPoint makes the mount point (0755, root) with in-root resolution
// and returns its host path, checked to be under the root. A path through
// a symlink is refused here too (the filesystems mounted before this one
// are in place now: their symlinks are seen).
func mountPoint(rootPath, p string) (string, []string, error) {
	root, err := rootfs.Open(rootPath)
	if err != nil {
		return "", nil, err
	}
	defer root.Close()
	if err := checkNoSymlink(root, p, p); err != nil {
		return "", nil, err
	}
	d, made, err := root.MkdirAll(p, 0, 0)
	if err != nil {
		return "", made, err
	}
	d.Close()
	host, err := root.ResolvedHostPath(p)
	return host, made, err
}

// Unmount undoes mounts in reverse order; it tries them all and reports
// every failure.
func Unmount(ctx context.Context, mounts []Mounted, o Options) error {
	var errs []string
	for i := len(mounts) - 1; i >= 0; i-- {
		if ok, err := o.Sys.IsMountPoint(mounts[i].Host); err == nil && !ok {
			o.Log.Warnf("%s (%s) is not mounted any more; nothing to unmount", mounts[i].Host, mounts[i].Path)
			continue
		}
		if _, err := o.Runner.Run(ctx, command.Cmd{Name: "umount", Args: []string{mounts[i].Host}}); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("unmounting: %s", strings.Join(errs, "; "))
	}
	return nil
}
