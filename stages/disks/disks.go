// Package disks is the disks stage (GPT partitions and filesystems on real
// block devices, with Ignition's reuse rules) and the mount and umount
// stages. Like every stage it plans first, reading the disks as they are,
// and every refusal happens in the plan, before the first write; then it
// carries the plan out: partition tables written by internal/gpt (or
// sgdisk, see WriterEnv), filesystems and mounts with the real tools
// (wipefs, mkfs.*, mount), each run through the one command runner.
package disks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/gpt"
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
	// GPTWriter is what writes partition tables: WriterGo or
	// WriterSgdisk; "": the WriterEnv variable, read once by MakePlan,
	// else WriterGo.
	GPTWriter string
}

// The partition-table writers. WriterSgdisk (placement by sgdisk
// --pretend, the write by sgdisk, the kernel told by sgdisk and udevadm
// settle) is the way of the releases before internal/gpt, kept for one
// release behind WriterEnv.
const (
	WriterGo     = "go"
	WriterSgdisk = "sgdisk"
	// WriterEnv is the environment variable that chooses the writer.
	WriterEnv = "IGNITION_GPT_WRITER"
)

// KillAfterWriteEnv is a test hook, for tests only: when it names a file
// that does not exist, the stage creates it and kills itself (SIGKILL)
// right after a partition table is written, before the kernel is told, as
// a power cut there would (tests/disks TestKilledRunIsCompletedByTheNext).
const KillAfterWriteEnv = "IGNITION_TEST_KILL_AFTER_GPT_WRITE"

// partitionNodeTimeout bounds the wait for the device nodes of a table
// the kernel was told.
const partitionNodeTimeout = 30 * time.Second

// gptWriter is the writer o asks for.
func gptWriter(o Options) (string, error) {
	w := o.GPTWriter
	if w == "" {
		w = os.Getenv(WriterEnv)
	}
	switch w {
	case "", WriterGo:
		return WriterGo, nil
	case WriterSgdisk:
		return WriterSgdisk, nil
	}
	return "", fmt.Errorf("%s=%q: want %q or %q", WriterEnv, w, WriterGo, WriterSgdisk)
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
	// volumeSizes are the sizes of the LUKS volumes this run opens, by
	// the paths that will name them (see luks.go)
	volumeSizes map[string]uint64
	// writer is WriterGo or WriterSgdisk
	writer string
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
	writer, err := gptWriter(o)
	if err != nil {
		return nil, err
	}
	p := &planner{run: o.Runner, sys: o.Sys, log: o.Log, wait: o.DeviceTimeout, writer: writer}
	if p.wait == 0 {
		p.wait = DefaultDeviceTimeout
	}
	plan := &Plan{Aliases: map[string]string{}, p: p}
	if err := p.planDisks(ctx, s.Disks, plan); err != nil {
		return nil, err
	}
	future, err := p.futureDevices(plan, configDevices(s))
	if err != nil {
		return nil, err
	}
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
		if f, ok := future[rp.Path()]; ok {
			return nil, fmt.Errorf("RAID %s: %s is also the name of partition %d of %s; refusing to guess which the config means", rp.Name, rp.Path(), f.part.Number, f.disk.Device)
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
		key := fp.Node // one device, whatever node names it (/dev/mapper/x and /dev/dm-0)
		if dev, err := blockdev.DevNum(fp.Node); err == nil {
			key = fmt.Sprint(dev)
		}
		if other, dup := fsSeen[key]; dup {
			return nil, fmt.Errorf("filesystems on %s and %s are on the same device %s", other, f.Device, fp.Node)
		}
		fsSeen[key] = f.Device
		if err := p.fitsPartition(fp, future[f.Device]); err != nil {
			return nil, err
		}
		plan.Aliases[f.Device] = fp.Node
		plan.Filesystems = append(plan.Filesystems, fp)
	}
	if err := nestedDevices(plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// nestedDevices refuses a RAID member, LUKS volume or filesystem on a
// whole disk that the config also gives partitions (writing it would overwrite
// the table the plan writes, or the plan's table would cut it), and a
// disk of the config that is a partition of another one whose table the
// plan changes (it was read where the partition is now, not where it
// will be).
func nestedDevices(plan *Plan) error {
	partitioned := map[uint64]*DiskPlan{}
	for _, dp := range plan.Disks {
		if len(dp.After.Partitions) > 0 && (dp.Changes() || len(dp.Parts) > 0) {
			partitioned[dp.Dev] = dp
		}
	}
	check := func(what, node string) error {
		dev, err := blockdev.DevNum(node)
		if err != nil {
			return nil // not there yet: made by this run, on a partition or volume
		}
		if dp, ok := partitioned[dev]; ok {
			return fmt.Errorf("%s: %s is the whole disk %s, which this config partitions; name one of its partitions", what, node, dp.Device)
		}
		return nil
	}
	for _, r := range plan.Raids {
		for i, n := range r.Nodes {
			if err := check(fmt.Sprintf("RAID %s member %s", r.Name, r.Devices[i]), n); err != nil {
				return err
			}
		}
	}
	for _, l := range plan.Luks {
		if err := check(fmt.Sprintf("LUKS %s on %s", l.Name, l.Device), l.Node); err != nil {
			return err
		}
	}
	for _, f := range plan.Filesystems {
		if err := check("filesystem on "+f.Device, f.Node); err != nil {
			return err
		}
	}
	for _, dp := range plan.Disks {
		parent, n, ok := blockdev.PartitionOf(dp.Dev)
		if !ok {
			continue
		}
		for _, other := range plan.Disks {
			if other != dp && other.Dev == parent && other.Changes() {
				return fmt.Errorf("disk %s is partition %d of %s, whose table this config changes", dp.Device, n, other.Device)
			}
		}
	}
	return nil
}

// planDisks plans each disk the config names, resolved once to its node
// and device number (two names of one disk are refused), and refuses a
// disk the plan writes while anything holds it or one of its partitions.
func (p *planner) planDisks(ctx context.Context, disks []config.Disk, plan *Plan) error {
	seen := map[uint64]string{}
	for _, d := range disks {
		if _, err := p.device(ctx, d.Device); err != nil {
			return err
		}
		dev, err := blockdev.Resolve(d.Device)
		if err != nil {
			return fmt.Errorf("disk %s: %w", d.Device, err)
		}
		if other, dup := seen[dev.Dev]; dup {
			return fmt.Errorf("disks %s and %s are the same device %s", other, d.Device, dev.Node)
		}
		seen[dev.Dev] = d.Device
		dp, err := p.planDisk(ctx, d, dev.Node)
		if err != nil {
			return err
		}
		dp.Dev = dev.Dev
		if err := p.checkKernelView(dp); err != nil {
			return err
		}
		if dp.Changes() || dp.Sync {
			if why, err := p.sys.InUse(dev.Node); err != nil {
				return fmt.Errorf("disk %s: %w", d.Device, err)
			} else if why != "" {
				return fmt.Errorf("disk %s: refusing to change a disk in use: %s", d.Device, why)
			}
		}
		plan.Aliases[d.Device] = dev.Node
		plan.Disks = append(plan.Disks, dp)
	}
	return sharedGUIDs(plan.Disks)
}

// checkKernelView marks a disk whose table the plan keeps, but whose
// partitions the kernel sees otherwise (a run killed after the write, before
// the kernel was told), to be synced: the next run completes the last.
func (p *planner) checkKernelView(dp *DiskPlan) error {
	if dp.Changes() || !dp.Before.GPT {
		return nil
	}
	if err := p.sys.Matches(dp.Node, dp.After); err != nil {
		p.log.Infof("disk %s: %v; the kernel will be told the table", dp.Device, err)
		dp.Sync = true
	}
	return nil
}

// sharedGUIDs refuses a partition GUID the plan writes that another
// planned disk's partition has.
func sharedGUIDs(disks []*DiskPlan) error {
	owner := map[string]string{}
	for _, dp := range disks {
		for _, ap := range dp.After.Partitions {
			if ap.GUID != "" {
				owner[ap.GUID+"@"+dp.Node] = fmt.Sprintf("partition %d of %s", ap.Number, dp.Device)
			}
		}
	}
	for _, dp := range disks {
		for _, pp := range dp.Parts {
			if pp.GUID == "" || (pp.Action != PartCreate && pp.Action != PartRecreate) {
				continue
			}
			for _, other := range disks {
				if other == dp {
					continue
				}
				if o, ok := owner[pp.GUID+"@"+other.Node]; ok {
					return fmt.Errorf("disk %s: partition %d: GUID %s is the GUID of %s", dp.Device, pp.Number, pp.GUID, o)
				}
			}
		}
	}
	return nil
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

// configDevices are the device paths the config's RAID arrays, LUKS
// volumes and filesystems name.
func configDevices(s config.Storage) []string {
	var out []string
	for _, r := range s.Raid {
		out = append(out, r.Devices...)
	}
	for _, l := range s.Luks {
		if l.Device != nil {
			out = append(out, *l.Device)
		}
	}
	for _, f := range s.Filesystems {
		out = append(out, f.Device)
	}
	return out
}

// futureDevices maps each partition of the planned disks, by its node,
// and each device path of the config that names one of them, to that
// partition as it will be.
func (p *planner) futureDevices(plan *Plan, names []string) (map[string]future, error) {
	m := map[string]future{}
	for _, dp := range plan.Disks {
		if !dp.planned() {
			continue
		}
		for _, ap := range dp.After.Partitions {
			f := dp.future(ap.Number)
			m[f.node] = f
		}
	}
	for _, name := range names {
		if _, done := m[name]; done {
			continue
		}
		f, ok, err := partitionNamed(name, plan.Disks)
		if err != nil {
			return nil, err
		}
		if ok {
			m[name] = f
		}
	}
	return m, nil
}

// planned says whether the plan knows the disk's partitions: it has a GPT
// or gets one.
func (dp *DiskPlan) planned() bool { return dp.Before.GPT || dp.Changes() }

// future is partition n of the disk as the plan leaves it.
func (dp *DiskPlan) future(n int) future {
	ap, _ := dp.After.Find(n)
	fresh := dp.WipeTable
	for _, pp := range dp.Parts {
		if pp.Number == n && (pp.Action == PartCreate || pp.Action == PartRecreate || pp.Action == PartResize) {
			fresh = true
		}
	}
	return future{node: blockdev.PartitionPath(dp.Node, n), disk: dp, part: ap, fresh: fresh}
}

var partSuffix = regexp.MustCompile(`^(.+)-part([0-9]+)$`)

// partitionNamed says which partition of a planned disk a config path
// names, if any, as it will be after the plan: a by-partlabel or
// by-partuuid link by the table the plan writes (refused when two
// partitions would answer to it); a path that exists by the device it is
// now (a partition of a planned disk by its disk and number, refused when
// the plan deletes it); a path that does not exist yet by the names udev
// and the kernel give partitions (<disk link>-partN, the disk node's
// N or pN, an md array's /dev/md/<name>N or pN). A digit appended to any
// other link is never a partition: it is another device's name.
func partitionNamed(name string, disks []*DiskPlan) (future, bool, error) {
	label, byLabel := strings.CutPrefix(name, "/dev/disk/by-partlabel/")
	guid, byGUID := strings.CutPrefix(name, "/dev/disk/by-partuuid/")
	content := ""
	switch {
	case byLabel:
		content = label
	case byGUID:
		content = guid
	}
	now, errNow := blockdev.Resolve(name)
	if content != "" {
		var found []future
		for _, dp := range disks {
			if !dp.planned() {
				continue
			}
			for _, ap := range dp.After.Partitions {
				if (byLabel && ap.Label == label) || (byGUID && strings.EqualFold(ap.GUID, guid)) {
					found = append(found, dp.future(ap.Number))
				}
			}
		}
		if len(found) > 1 {
			var where []string
			for _, f := range found {
				where = append(where, fmt.Sprintf("partition %d of %s", f.part.Number, f.disk.Device))
			}
			return future{}, false, fmt.Errorf("%s: %s would name several partitions (%s); refusing to guess", name, content, strings.Join(where, ", "))
		}
		if len(found) == 1 {
			if errNow == nil && onOtherDisk(now, disks) {
				return future{}, false, fmt.Errorf("%s: %s names partition %d of %s and %s now; refusing to guess", name, content, found[0].part.Number, found[0].disk.Device, now.Node)
			}
			return found[0], true, nil
		}
	}
	if errNow == nil {
		return partitionNow(name, now, content != "", disks)
	}
	for _, dp := range disks {
		if !dp.planned() {
			continue
		}
		for _, pp := range dp.Parts {
			if !dp.kernelName(name, pp.Number) {
				continue
			}
			if _, ok := dp.After.Find(pp.Number); !ok {
				return future{}, false, fmt.Errorf("%s is partition %d of %s, which this config deletes", name, pp.Number, dp.Device)
			}
			return dp.future(pp.Number), true, nil
		}
		for _, ap := range dp.After.Partitions {
			if dp.kernelName(name, ap.Number) {
				return dp.future(ap.Number), true, nil
			}
		}
	}
	if m := partSuffix.FindStringSubmatch(name); m != nil {
		base, err := blockdev.Resolve(m[1])
		n, _ := strconv.Atoi(m[2])
		if err == nil {
			for _, dp := range disks {
				if dp.Dev != base.Dev || !dp.planned() {
					continue
				}
				if _, ok := dp.After.Find(n); !ok {
					return future{}, false, fmt.Errorf("%s: %s has no partition %d once this config is applied", name, dp.Device, n)
				}
				return dp.future(n), true, nil
			}
		}
	}
	return future{}, false, nil
}

// kernelName says whether name is what the kernel, or udev for an md
// array named by its /dev/md/ link, calls partition n of the disk:
// /dev/vdb1, /dev/nvme0n1p1, /dev/md127p1; /dev/md/data1 for an array
// /dev/md/data, /dev/md/vol1p1 for /dev/md/vol1 (mdadm's udev rules follow
// the kernel's: a p when the name ends in a digit).
func (dp *DiskPlan) kernelName(name string, n int) bool {
	if name == blockdev.PartitionPath(dp.Node, n) {
		return true
	}
	return strings.HasPrefix(dp.Device, "/dev/md/") && name == blockdev.PartitionPath(dp.Device, n)
}

// partitionNow maps a path that exists to the partition it is now, when
// that is a partition of a planned disk.
func partitionNow(name string, now blockdev.Device, byContent bool, disks []*DiskPlan) (future, bool, error) {
	diskDev, n, ok := blockdev.PartitionOf(now.Dev)
	if !ok {
		return future{}, false, nil
	}
	for _, dp := range disks {
		if dp.Dev != diskDev || !dp.planned() {
			continue
		}
		if _, ok := dp.After.Find(n); !ok {
			return future{}, false, fmt.Errorf("%s is partition %d of %s, which this config deletes", name, n, dp.Device)
		}
		if byContent {
			return future{}, false, fmt.Errorf("%s is partition %d of %s now, which this config gives another label or GUID", name, n, dp.Device)
		}
		return dp.future(n), true, nil
	}
	return future{}, false, nil
}

// onOtherDisk says whether a device is something else than a partition of
// a planned disk.
func onOtherDisk(d blockdev.Device, disks []*DiskPlan) bool {
	diskDev, _, ok := blockdev.PartitionOf(d.Dev)
	for _, dp := range disks {
		if ok && dp.Dev == diskDev {
			return false
		}
	}
	return true
}

// fitsPartition refuses to keep a filesystem larger than the partition
// this run (re)creates for it: the filesystem would run past the
// partition's end, over the next partition.
func (p *planner) fitsPartition(fp *FSPlan, n future) error {
	if fp.Action != FSKeep || n.disk == nil || !n.fresh {
		return nil
	}
	f, err := os.Open(n.disk.Node)
	if err != nil {
		return fmt.Errorf("filesystem on %s: %w", fp.Device, err)
	}
	defer f.Close()
	ss := uint64(n.disk.Before.SectorSize)
	size, ok, err := blockdev.FSSize(f, int64(n.part.Start*ss), fp.Have.Type)
	if err != nil {
		return fmt.Errorf("filesystem on %s: %w", fp.Device, err)
	}
	if ok && size > n.part.Size*ss {
		return fmt.Errorf("filesystem on %s: the %s there spans %s, more than partition %d's %s once recreated; set wipeFilesystem or keep the partition's size",
			fp.Device, fp.Have.Type, human(size), n.part.Number, human(n.part.Size*ss))
	}
	return nil
}

// Apply carries the plan out: partition tables first (each followed by
// making the kernel see it), then filesystems, several at a time.
//
// Once it has started writing it does not stop for ctx (a mkfs or a table
// write killed halfway leaves a worse disk than one finished): ctx is checked
// between the steps, and programs run to their end.
func (pl *Plan) Apply(ctx context.Context, o Options) error {
	stop := ctx
	ctx = context.WithoutCancel(ctx)
	for _, dp := range pl.Disks {
		if err := stop.Err(); err != nil {
			return err
		}
		if !dp.Changes() {
			if err := syncDisk(ctx, dp, o, pl.p.writer); err != nil {
				return err
			}
			continue
		}
		if err := applyDisk(ctx, dp, o, pl.p.writer); err != nil {
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

func applyDisk(ctx context.Context, dp *DiskPlan, o Options, writer string) error {
	var err error
	if writer == WriterSgdisk {
		err = sgdiskWrite(ctx, dp, o)
	} else {
		err = goWrite(dp, o)
	}
	if err != nil {
		return fmt.Errorf("disk %s: %w", dp.Device, err)
	}
	if f := os.Getenv(KillAfterWriteEnv); f != "" {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			os.WriteFile(f, nil, 0o600)
			unix.Kill(os.Getpid(), unix.SIGKILL)
		}
	}
	t, err := blockdev.ReadTable(dp.Node)
	if err != nil {
		return fmt.Errorf("disk %s: reading the new table: %w", dp.Device, err)
	}
	if err := sameLayout(t, dp.After); err != nil {
		return fmt.Errorf("disk %s: the table written is not the one planned: %w", dp.Device, err)
	}
	return syncDisk(ctx, dp, o, writer)
}

// goWrite writes the disk's table with internal/gpt: the zap and the
// operations in one go, one fsync. The disk is opened exclusively (no
// filesystem mounted from it, nothing else holding it open exclusively),
// and closed before anything else (mkfs) opens it.
func goWrite(dp *DiskPlan, o Options) error {
	f, err := os.OpenFile(dp.Node, os.O_RDWR|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening it to write the partition table: %w", err)
	}
	what := describeWrite(dp)
	switch {
	case dp.WipeTable && what == "":
		what = "wipe it"
	case dp.WipeTable:
		what = "wipe it; " + what
	}
	done := o.Log.Op("writing the partition table of %s: %s", dp.Node, what)
	_, err = gpt.Apply(f, gpt.Change{Zap: dp.WipeTable, Ops: dp.Ops})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", dp.Node, cerr)
	}
	done(err)
	return err
}

// sgdiskWrite writes the disk's table with sgdisk (WriterSgdisk).
func sgdiskWrite(ctx context.Context, dp *DiskPlan, o Options) error {
	if dp.WipeTable {
		if _, err := o.Runner.Run(ctx, command.Cmd{Name: "sgdisk", Args: []string{"--zap-all", dp.Node}}); err != nil {
			// sgdisk exits 2 when it had to fix a damaged table on the way;
			// a second run succeeds (as Ignition does)
			if _, err := o.Runner.Run(ctx, command.Cmd{Name: "sgdisk", Args: []string{"--zap-all", dp.Node}}); err != nil {
				return err
			}
		}
	}
	if args := dp.SgdiskArgs(); args != nil {
		if _, err := o.Runner.Run(ctx, command.Cmd{Name: "sgdisk", Args: args}); err != nil {
			return err
		}
	}
	return nil
}

// syncDisk makes the kernel see the disk's table as planned, whether or
// not this run wrote it (a run killed after the write leaves a table the
// kernel does not know yet), then waits for the partitions' device nodes;
// a kernel that sees it already is left alone. With WriterSgdisk, sgdisk
// told the kernel itself, and udev is waited for (udevadm settle).
func syncDisk(ctx context.Context, dp *DiskPlan, o Options, writer string) error {
	if !dp.planned() {
		return nil
	}
	if o.Sys.Matches(dp.Node, dp.After) == nil {
		switch {
		case dp.Changes() && writer == WriterSgdisk:
			settle(ctx, o) // the kernel re-read the table sgdisk wrote: udev's events
		case dp.Changes():
			announce(dp, o)
		}
		return nil
	}
	done := o.Log.Op("making the kernel see the partitions of %s", dp.Node)
	var err error
	if writer == WriterSgdisk {
		err = o.Sys.SyncPartitions(dp.Node, dp.After)
	} else {
		err = tellRetrying(ctx, dp, o)
	}
	if err != nil && strings.Contains(dp.Node, "/loop") && errors.Is(err, unix.EINVAL) {
		err = fmt.Errorf("%w (a loop device needs partition scanning: losetup --partscan)", err)
	}
	done(err)
	if err != nil {
		return fmt.Errorf("disk %s: %w", dp.Device, err)
	}
	if writer == WriterSgdisk {
		settle(ctx, o)
	} else if dp.Changes() {
		announce(dp, o)
	}
	return nil
}

// tellRetrying tells the kernel the table the Go writer wrote. Closing
// the disk after the write wakes udev's watch on it, which re-reads the
// table and probes the partitions itself, and while it does the kernel
// answers EBUSY (found in a QEMU guest, a wipeTable rerun over a
// partition the first boot made). Then the kernel's view is read again
// (udev's re-read may have made it right) and the telling retried, until
// partitionNodeTimeout; any other error ends it at once.
func tellRetrying(ctx context.Context, dp *DiskPlan, o Options) error {
	deadline := time.Now().Add(partitionNodeTimeout)
	for tries := 1; ; tries++ {
		err := gpt.Tell(ctx, o.Sys, dp.Node, dp.After, partitionNodeTimeout)
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		if tries == 1 {
			o.Log.Infof("disk %s: the kernel's partitions are busy (udev re-reading or probing them): %v; trying again until %s", dp.Device, err, partitionNodeTimeout)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// announce asks udev to probe the disk and each of its partitions again,
// a "change" uevent for each (as udevadm trigger sends), without waiting
// for it: a partition whose sectors the new table keeps is neither
// re-read nor re-added by the kernel, yet its label and GUID, by which
// udev names /dev/disk/by-partlabel and by-partuuid links, may have
// changed (sgdisk's own re-read made udev see them).
func announce(dp *DiskPlan, o Options) {
	name, err := o.Sys.Name(dp.Node)
	if err != nil {
		o.Log.Warnf("disk %s: telling udev about the new table: %v", dp.Device, err)
		return
	}
	parts, err := o.Sys.Partitions(dp.Node)
	if err != nil {
		o.Log.Warnf("disk %s: telling udev about the new table: %v", dp.Device, err)
		return
	}
	names := []string{name}
	for p := range parts {
		names = append(names, p)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(o.Sys.Block(), n, "uevent"), []byte("change"), 0); err != nil {
			o.Log.Warnf("disk %s: telling udev about %s: %v", dp.Device, n, err)
		}
	}
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
