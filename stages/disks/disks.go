// Package disks is the disks stage (GPT partitions and filesystems on real
// block devices, with Ignition's reuse rules) and the mount and umount
// stages. Like every stage it plans first, reading the disks as they are,
// and every refusal happens in the plan, before the first write; then it
// carries the plan out with the real tools (sgdisk, wipefs, mkfs.*,
// mount), each run through the one command runner.
package disks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/resource"
	"golang.org/x/sys/unix"
)

// Logger is what the stage logs through.
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Op(format string, args ...any) func(error)
}

// Options are what the stage works with besides the config.
type Options struct {
	Runner command.Runner
	Log    Logger
	Sys    blockdev.Sys
	// DeviceTimeout bounds the wait for each device the config names
	// (default DefaultDeviceTimeout).
	DeviceTimeout time.Duration
	// Fetcher fetches LUKS key files.
	Fetcher *resource.Fetcher
	// Relabel, when set, restores the SELinux labels of the mount points
	// the mount stage creates (in-root paths), before anything is mounted
	// on them.
	Relabel func(ctx context.Context, paths []string) error
}

// DefaultDeviceTimeout is how long a device the config names may take to
// appear.
const DefaultDeviceTimeout = 90 * time.Second

// ErrNotSupported is a part of the config this build cannot carry out.
var ErrNotSupported = errors.New("not supported by this build yet")

// Plan is everything the disks stage will do.
type Plan struct {
	Disks       []*DiskPlan
	Raids       []*RaidPlan
	Luks        []*LuksPlan
	Filesystems []*FSPlan
	// Aliases maps each device path of the config to its device node, for
	// the mount stage (udev may not have made /dev/disk links yet).
	Aliases map[string]string
	// Keys are what Apply made of the LUKS volumes, for the files stage.
	Keys []Key
	p    *planner
}

type planner struct {
	run  command.Runner
	sys  blockdev.Sys
	log  Logger
	wait time.Duration
}

// Empty says whether the config asks nothing of the disks stage.
func Empty(cfg config.Config) bool {
	s := cfg.Storage
	return len(s.Disks)+len(s.Raid)+len(s.Luks)+len(s.Filesystems) == 0
}

// MakePlan reads the disks the config names and works out what to do with
// each; it writes nothing. Any refusal (a mismatching partition, a
// filesystem of another type, a disk in use) is an error here.
func MakePlan(ctx context.Context, cfg config.Config, o Options) (*Plan, error) {
	s := cfg.Storage
	p := &planner{run: o.Runner, sys: o.Sys, log: o.Log, wait: o.DeviceTimeout}
	if p.wait == 0 {
		p.wait = DefaultDeviceTimeout
	}
	plan := &Plan{Aliases: map[string]string{}, p: p}
	seen := map[string]string{}
	for _, d := range s.Disks {
		node, err := p.device(ctx, d.Device)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[node]; dup {
			return nil, fmt.Errorf("disks %s and %s are the same device %s", other, d.Device, node)
		}
		seen[node] = d.Device
		dp, err := p.planDisk(ctx, d, node)
		if err != nil {
			return nil, err
		}
		if dp.Changes() {
			if why, err := p.sys.InUse(node); err != nil {
				return nil, fmt.Errorf("disk %s: %w", d.Device, err)
			} else if why != "" {
				return nil, fmt.Errorf("disk %s: refusing to change a disk in use: %s", d.Device, why)
			}
		}
		plan.Aliases[d.Device] = node
		plan.Disks = append(plan.Disks, dp)
	}
	future := p.futureDevices(plan)
	for k, v := range future {
		plan.Aliases[k] = v.node
	}
	deferred := map[string]bool{}
	raids := map[string]bool{}
	for _, r := range s.Raid {
		rp, err := p.planRaid(ctx, r, future)
		if err != nil {
			return nil, err
		}
		plan.Raids = append(plan.Raids, rp)
		raids[rp.Path()], deferred[rp.Path()] = true, true
	}
	for _, l := range s.Luks {
		lp, err := p.planLuks(ctx, l, future, raids, o.Fetcher)
		if err != nil {
			return nil, err
		}
		plan.Luks = append(plan.Luks, lp)
		deferred[lp.Path()], deferred["/dev/disk/by-id/dm-name-"+lp.Name] = true, true
		if lp.Label != "" {
			deferred["/dev/disk/by-label/"+lp.Label] = true
		}
		if lp.UUID != "" {
			deferred["/dev/disk/by-uuid/"+strings.ToLower(lp.UUID)] = true
		}
	}
	fsSeen := map[string]string{}
	for _, f := range s.Filesystems {
		fp, err := p.planFS(ctx, f, future, deferred)
		if err != nil {
			return nil, err
		}
		if other, dup := fsSeen[fp.Node]; dup {
			return nil, fmt.Errorf("filesystems on %s and %s are on the same device %s", other, f.Device, fp.Node)
		}
		fsSeen[fp.Node] = f.Device
		plan.Aliases[f.Device] = fp.Node
		plan.Filesystems = append(plan.Filesystems, fp)
	}
	return plan, nil
}

// device waits for a device the config names and returns its node.
func (p *planner) device(ctx context.Context, dev string) (string, error) {
	node, err := blockdev.Wait(ctx, dev, p.wait, p.log.Infof)
	if err != nil {
		return "", err
	}
	return node, nil
}

// future is a partition this run creates, changes or keeps, by the paths
// that will name it.
type future struct {
	node  string // partition node
	disk  *DiskPlan
	part  blockdev.Partition
	fresh bool // created, recreated or resized by this run
}

func (p *planner) futureDevices(plan *Plan) map[string]future {
	m := map[string]future{}
	for _, dp := range plan.Disks {
		fresh := map[int]bool{}
		for _, pp := range dp.Parts {
			fresh[pp.Number] = pp.Action == PartCreate || pp.Action == PartRecreate || pp.Action == PartResize
		}
		for _, ap := range dp.After.Partitions {
			f := future{node: blockdev.PartitionPath(dp.Node, ap.Number), disk: dp, part: ap, fresh: fresh[ap.Number] || dp.WipeTable}
			m[f.node] = f
			m[blockdev.PartitionPath(dp.Device, ap.Number)] = f
			if ap.Label != "" {
				m["/dev/disk/by-partlabel/"+ap.Label] = f
			}
			if ap.GUID != "" {
				m["/dev/disk/by-partuuid/"+strings.ToLower(ap.GUID)] = f
			}
		}
	}
	return m
}

// Apply carries the plan out: partition tables first (each followed by
// making the kernel see it), then filesystems, several at a time.
//
// Once it has started writing it does not stop for ctx (a mkfs or sgdisk
// killed halfway leaves a worse disk than one finished): ctx is checked
// between the steps, and programs run to their end.
func (pl *Plan) Apply(ctx context.Context, o Options) error {
	stop := ctx
	ctx = context.WithoutCancel(ctx)
	for _, dp := range pl.Disks {
		if err := stop.Err(); err != nil {
			return err
		}
		if !dp.Changes() {
			continue
		}
		if err := applyDisk(ctx, dp, o); err != nil {
			return err
		}
	}
	for _, r := range pl.Raids {
		if err := stop.Err(); err != nil {
			return err
		}
		if err := r.apply(ctx, o); err != nil {
			return err
		}
	}
	pl.Keys = nil
	for _, l := range pl.Luks {
		if err := stop.Err(); err != nil {
			return err
		}
		k, err := l.apply(ctx, pl.p, o)
		if err != nil {
			return err
		}
		pl.Keys = append(pl.Keys, k)
	}
	if err := stop.Err(); err != nil {
		return err
	}
	var fsJobs []*FSPlan
	for _, fp := range pl.Filesystems {
		if fp.Action != FSCreate && fp.Action != FSWipe {
			continue
		}
		if _, err := blockdev.Wait(ctx, fp.Node, 30*time.Second, o.Log.Infof); err != nil {
			return fmt.Errorf("filesystem on %s: %w", fp.Device, err)
		}
		if fp.deferred {
			have, err := pl.p.probe(ctx, fp.Node, 0, 0)
			if err != nil {
				return err
			}
			fp.Have = have
			if err := pl.p.decideFS(fp, false); err != nil {
				return err
			}
			if fp.Action != FSCreate && fp.Action != FSWipe {
				continue
			}
		}
		fsJobs = append(fsJobs, fp)
	}
	errs := make([]error, len(fsJobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, fp := range fsJobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, c := range fp.cmds() {
				if _, err := o.Runner.Run(ctx, c); err != nil {
					errs[i] = fmt.Errorf("filesystem on %s: %w", fp.Device, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(fsJobs) > 0 {
		settle(ctx, o)
	}
	return nil
}

func applyDisk(ctx context.Context, dp *DiskPlan, o Options) error {
	if dp.WipeTable {
		if _, err := o.Runner.Run(ctx, command.Cmd{Name: "sgdisk", Args: []string{"--zap-all", dp.Node}}); err != nil {
			// sgdisk exits 2 when it had to fix a damaged table on the way;
			// a second run succeeds (as Ignition does)
			if _, err := o.Runner.Run(ctx, command.Cmd{Name: "sgdisk", Args: []string{"--zap-all", dp.Node}}); err != nil {
				return fmt.Errorf("disk %s: %w", dp.Device, err)
			}
		}
	}
	if dp.Args != nil {
		if _, err := o.Runner.Run(ctx, command.Cmd{Name: "sgdisk", Args: dp.Args}); err != nil {
			return fmt.Errorf("disk %s: %w", dp.Device, err)
		}
	}
	t, err := blockdev.ReadTable(dp.Node)
	if err != nil {
		return fmt.Errorf("disk %s: reading the new table: %w", dp.Device, err)
	}
	if err := sameLayout(t, dp.After); err != nil {
		return fmt.Errorf("disk %s: the table written is not the one planned: %w", dp.Device, err)
	}
	done := o.Log.Op("making the kernel see the partitions of %s", dp.Node)
	err = o.Sys.SyncPartitions(dp.Node, t)
	if err != nil && strings.Contains(dp.Node, "/loop") && errors.Is(err, unix.EINVAL) {
		err = fmt.Errorf("%w (a loop device needs partition scanning: losetup --partscan)", err)
	}
	done(err)
	if err != nil {
		return fmt.Errorf("disk %s: %w", dp.Device, err)
	}
	settle(ctx, o)
	return nil
}

// sameLayout compares numbers, starts, sizes and labels.
func sameLayout(got, want blockdev.Table) error {
	if len(got.Partitions) != len(want.Partitions) {
		return fmt.Errorf("%d partition(s), want %d", len(got.Partitions), len(want.Partitions))
	}
	for i, g := range got.Partitions {
		w := want.Partitions[i]
		if g.Number != w.Number || g.Start != w.Start || g.Size != w.Size || (w.Label != "" && g.Label != w.Label) {
			return fmt.Errorf("partition %d at %d+%d %q, want %d at %d+%d %q", g.Number, g.Start, g.Size, g.Label, w.Number, w.Start, w.Size, w.Label)
		}
	}
	return nil
}

// settle waits for udev to process the events of what was just written,
// when udev runs.
func settle(ctx context.Context, o Options) {
	if _, err := os.Stat("/run/udev/control"); err != nil {
		return
	}
	o.Runner.Run(ctx, command.Cmd{Name: "udevadm", Args: []string{"settle", "--timeout=30"}})
}
