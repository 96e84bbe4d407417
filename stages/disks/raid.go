package disks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
)

// RaidPlan is one software RAID array.
type RaidPlan struct {
	Name    string
	Level   string
	Devices []string // as the config names them
	Nodes   []string // their device nodes
	Spares  int
	Options []string
	Action  string // "create" or "keep"
	Why     string
}

// Path is where the array appears.
func (r *RaidPlan) Path() string { return "/dev/md/" + r.Name }

func (r *RaidPlan) cmd() command.Cmd {
	args := []string{"--create", r.Path(), "--force", "--run", "--homehost", "any",
		"--level", r.Level, "--raid-devices", strconv.Itoa(len(r.Nodes) - r.Spares)}
	if r.Spares > 0 {
		args = append(args, "--spare-devices", strconv.Itoa(r.Spares))
	}
	args = append(args, r.Options...)
	return command.Cmd{Name: "mdadm", Args: append(args, r.Nodes...)}
}

// planRaid keeps an array that is already assembled under the same name
// with the same members (Ignition always recreates it, losing its data);
// an array of that name with other members is refused; otherwise the
// array is created, its members checked not to be in use.
func (p *planner) planRaid(ctx context.Context, r config.Raid, fut map[string]future) (*RaidPlan, error) {
	rp := &RaidPlan{Name: r.Name, Level: deref(r.Level), Devices: r.Devices, Options: r.Options}
	if r.Spares != nil {
		rp.Spares = *r.Spares
	}
	if err := checkOptions("mdadm", r.Options); err != nil {
		return nil, fmt.Errorf("RAID %s: %w", r.Name, err)
	}
	if err := checkRaidDevices(rp.Level, len(r.Devices)-rp.Spares); err != nil {
		return nil, fmt.Errorf("RAID %s: %w", r.Name, err)
	}
	for _, d := range r.Devices {
		if f, ok := fut[d]; ok {
			rp.Nodes = append(rp.Nodes, f.node)
			continue
		}
		node, err := p.device(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("RAID %s: %w", r.Name, err)
		}
		rp.Nodes = append(rp.Nodes, node)
	}
	if members, ok := p.arrayMembers(rp.Path()); ok {
		want := make([]string, len(rp.Nodes))
		for i, n := range rp.Nodes {
			want[i] = filepath.Base(n)
		}
		slices.Sort(want)
		slices.Sort(members)
		if slices.Equal(members, want) {
			rp.Action, rp.Why = "keep", "assembled already with the same members"
			return rp, nil
		}
		return nil, fmt.Errorf("RAID %s: %s is assembled already with other members (%s)", r.Name, rp.Path(), strings.Join(members, ", "))
	}
	for i, n := range rp.Nodes {
		if _, ok := fut[rp.Devices[i]]; ok {
			continue
		}
		if why, err := p.sys.InUse(n); err != nil {
			return nil, fmt.Errorf("RAID %s: %w", r.Name, err)
		} else if why != "" {
			return nil, fmt.Errorf("RAID %s: refusing to use a device in use: %s", r.Name, why)
		}
	}
	rp.Action, rp.Why = "create", "not assembled"
	return rp, nil
}

// arrayMembers lists the member devices of an assembled array.
func (p *planner) arrayMembers(path string) ([]string, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, false
	}
	dir := filepath.Join(p.sys.Block(), filepath.Base(real), "md")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "dev-") {
			continue
		}
		if t, err := os.Readlink(filepath.Join(dir, e.Name(), "block")); err == nil {
			out = append(out, filepath.Base(t))
		}
	}
	return out, true
}

func (r *RaidPlan) apply(ctx context.Context, o Options) error {
	if r.Action != "create" {
		return nil
	}
	if _, err := o.Runner.Run(ctx, r.cmd()); err != nil {
		return fmt.Errorf("RAID %s: %w", r.Name, err)
	}
	if err := waitPath(ctx, r.Path(), 30*time.Second, o); err != nil {
		return fmt.Errorf("RAID %s: %w", r.Name, err)
	}
	return nil
}

// raidMinDevices are the active devices mdadm 4.2 wants per level: "at
// least 4 raid-devices needed for level 6", at least 2 for levels 4, 5
// and 10 (measured with --force, as the stage runs it; raid0, raid1 and
// linear take one).
var raidMinDevices = map[string]int{"4": 2, "5": 2, "6": 4, "10": 2}

// checkRaidDevices refuses an array mdadm --create would refuse for its
// number of active devices (the devices less the spares).
func checkRaidDevices(level string, active int) error {
	if active < 1 {
		return fmt.Errorf("no active device left once the spares are set aside")
	}
	if min := raidMinDevices[strings.TrimPrefix(level, "raid")]; active < min {
		return fmt.Errorf("level %s needs at least %d active devices, not %d", level, min, active)
	}
	return nil
}
