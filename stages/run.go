package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/rootfs"
	"github.com/ignition-go/ignition/resource"
	"github.com/ignition-go/ignition/stages/disks"
	"github.com/ignition-go/ignition/stages/files"
)

// Stage is one step of a first boot, as a value: Plan works out what the
// stage will do and changes nothing; the plan prints itself for -dry-run
// and carries itself out with Apply.
type Stage struct {
	Name string
	// NeedsConfig stages read the config the fetch stages cached.
	NeedsConfig bool
	Plan        func(ctx context.Context, e *Engine, cfg config.Config) (Plan, error)
}

// Plan is what a stage will do.
type Plan interface {
	// Print describes the plan for -dry-run, without secrets.
	Print(w io.Writer)
	// Apply carries it out.
	Apply(ctx context.Context, e *Engine) error
}

// Table lists the stages in the order a boot runs them.
var Table = []Stage{
	{Name: "fetch-offline", Plan: planFetch(true)},
	{Name: "fetch", Plan: planFetch(false)},
	{Name: "kargs", NeedsConfig: true, Plan: planKargs},
	{Name: "disks", NeedsConfig: true, Plan: planDisks},
	{Name: "mount", NeedsConfig: true, Plan: planMount},
	{Name: "files", NeedsConfig: true, Plan: planFiles},
	{Name: "umount", NeedsConfig: true, Plan: planUmount},
}

// Names lists the stages in the order a boot runs them.
func Names() []string {
	var n []string
	for _, s := range Table {
		n = append(n, s.Name)
	}
	return n
}

// Lookup finds a stage by name.
func Lookup(name string) (Stage, bool) {
	for _, s := range Table {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// Run runs one stage: platform setup, the plan, then (unless dry-run) the
// plan carried out.
func (e *Engine) Run(ctx context.Context, name string) error {
	s, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("unknown stage %q", name)
	}
	done := e.Log.Op("%s platform setup", e.Platform)
	err := e.Provider.Init(ctx, e.providerEnv())
	done(err)
	if err != nil {
		return err
	}
	var cfg config.Config
	if s.NeedsConfig {
		if cfg, err = e.LoadConfig(); err != nil {
			return err
		}
	}
	p, err := s.Plan(ctx, e, cfg)
	if err != nil {
		return err
	}
	if e.DryRun {
		p.Print(e.out())
		return nil
	}
	return p.Apply(ctx, e)
}

func (e *Engine) out() io.Writer {
	if e.Out == nil {
		return os.Stdout
	}
	return e.Out
}

func (e *Engine) runner() command.Runner {
	if e.Runner == nil {
		return &command.Exec{Log: e.Log}
	}
	return e.Runner
}

// nothing is the plan of a stage with nothing to do.
type nothing struct{ stage, why string }

func (n nothing) Print(w io.Writer) { fmt.Fprintf(w, "%s: nothing to do (%s)\n", n.stage, n.why) }
func (n nothing) Apply(ctx context.Context, e *Engine) error {
	e.Log.Infof("%s: nothing to do (%s)", n.stage, n.why)
	return nil
}

// fetchPlan is what a fetch stage found: the config to cache, and whether
// applying it needs the network.
type fetchPlan struct {
	stage    string
	user     config.Config
	st       State
	needNet  bool // the config, or fetching it, needs the network
	flag     string
	cache    bool // there is a config to cache
	merged   config.Config
	fragment []string // what the platform fragment holds, for the plan
}

func planFetch(offline bool) func(ctx context.Context, e *Engine, _ config.Config) (Plan, error) {
	stage := "fetch"
	if offline {
		stage = "fetch-offline"
	}
	return func(ctx context.Context, e *Engine, _ config.Config) (Plan, error) {
		if !offline && !e.DryRun {
			if _, err := os.Stat(e.ConfigCache); err == nil {
				return nothing{stage, "the config is already cached at " + e.ConfigCache + " by fetch-offline"}, nil
			}
		}
		p := &fetchPlan{stage: stage, flag: e.NeedNetFile}
		base, err := e.BaseConfig(&p.st)
		if err != nil {
			return nil, err
		}
		user, err := e.Acquire(ctx, &p.st)
		if offline && errors.Is(err, resource.ErrNeedNet) {
			e.Log.Infof("the config needs the network: %v", err)
			p.needNet = true
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		frag, err := e.platformFragment(ctx)
		if offline && errors.Is(err, resource.ErrNeedNet) {
			// the platform's host name and keys need the network: the
			// fetch stage gets the config and them together
			e.Log.Infof("the platform's host name and SSH keys need the network")
			p.needNet = true
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		if frag != nil {
			p.st.FragmentUsers = files.FragmentOnly(frag.cfg, e.fragmentUser(), base, user)
			user = frag.under(user)
			p.fragment = frag.summary
			p.st.FetchedConfigs = append(p.st.FetchedConfigs, FetchedConfig{Kind: "platform", Source: "platform " + e.Platform + " metadata (host name, SSH keys)"})
		}
		p.user, p.cache = user, true
		p.merged = config.Merge(base, user)
		p.needNet = offline && NeedsNetwork(p.merged)
		return p, nil
	}
}

func (p *fetchPlan) Print(w io.Writer) {
	for _, f := range p.fragment {
		fmt.Fprintf(w, "%s: platform fragment under the user config: %s\n", p.stage, f)
	}
	if p.cache {
		fmt.Fprintf(w, "%s: would cache the config (user config provided: %v)\n", p.stage, p.st.UserConfigProvided)
		explain(w, p.merged)
	}
	if p.needNet {
		fmt.Fprintf(w, "%s: would write %s (the network is needed)\n", p.stage, p.flag)
	}
}

func (p *fetchPlan) Apply(ctx context.Context, e *Engine) error {
	if p.cache {
		done := e.Log.Op("writing the config cache %s", e.ConfigCache)
		err := e.WriteCache(p.user)
		done(err)
		if err != nil {
			return err
		}
		if err := e.SaveState(p.st); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
	}
	if p.needNet {
		e.Log.Infof("applying the config needs the network: writing %s", e.NeedNetFile)
		return writeAtomic(e.NeedNetFile, nil, 0o644)
	}
	return nil
}

// kargsPlan hands the kernel arguments to the distro's helper. In an
// initrd it first mounts the boot filesystem at /boot (unless something is
// mounted there), and when the helper changed a Boot Loader Specification
// entry there it asks systemd for a reboot and waits for it, so that no
// later stage runs on the old kernel arguments; the first boot then runs
// again and finds the arguments in place.
type kargsPlan struct {
	helper string
	args   []string
	// bootDev is mounted at bootDir for the helper; "" leaves bootDir as
	// it is (not in an initrd, or mounted already).
	bootDev string
	bootDir string
}

// DefaultKargsHelper is the program the kargs stage hands kernel arguments to.
const DefaultKargsHelper = "/usr/sbin/ignition-kargs-helper"

// The boot filesystem the kargs stage mounts in an initrd: found by its
// label, as on Fedora CoreOS, and mounted where the helper looks.
const (
	kargsBootDevice = "/dev/disk/by-label/boot"
	kargsBootDir    = "/boot"
	initrdRelease   = "/etc/initrd-release" // what the stage units test too
)

func planKargs(ctx context.Context, e *Engine, cfg config.Config) (Plan, error) {
	ka := cfg.KernelArguments
	if len(ka.ShouldExist) == 0 && len(ka.ShouldNotExist) == 0 {
		return nothing{"kargs", "no kernel arguments to change"}, nil
	}
	p := &kargsPlan{helper: e.KargsHelper, bootDir: kargsBootDir}
	if p.helper == "" {
		p.helper = DefaultKargsHelper
	}
	for _, a := range ka.ShouldExist {
		p.args = append(p.args, "--should-exist", a)
	}
	for _, a := range ka.ShouldNotExist {
		p.args = append(p.args, "--should-not-exist", a)
	}
	if _, err := os.Stat(initrdRelease); err == nil {
		if mounted, err := (blockdev.Sys{}).IsMountPoint(kargsBootDir); err == nil && !mounted {
			p.bootDev = kargsBootDevice
		}
	}
	return p, nil
}

func (p *kargsPlan) Print(w io.Writer) {
	if p.bootDev != "" {
		fmt.Fprintf(w, "kargs: would mount %s at %s\n", p.bootDev, p.bootDir)
	}
	fmt.Fprintf(w, "kargs: would run %s\n", command.Cmd{Name: p.helper, Args: p.args})
	if p.bootDev != "" {
		fmt.Fprintf(w, "kargs: would reboot if an entry in %s changed\n", filepath.Join(p.bootDir, "loader", "entries"))
	}
}

func (p *kargsPlan) Apply(ctx context.Context, e *Engine) error {
	run := e.runner()
	if p.bootDev != "" {
		node, err := blockdev.Wait(ctx, p.bootDev, time.Minute, e.Log.Infof)
		if err != nil {
			return fmt.Errorf("kargs: the boot filesystem: %w", err)
		}
		if err := os.MkdirAll(p.bootDir, 0o755); err != nil {
			return fmt.Errorf("kargs: %w", err)
		}
		if _, err := run.Run(ctx, command.Cmd{Name: "mount", Args: []string{node, p.bootDir}}); err != nil {
			return fmt.Errorf("kargs: mounting the boot filesystem: %w", err)
		}
	}
	before := bootEntries(p.bootDir)
	res, err := run.Run(ctx, command.Cmd{Name: p.helper, Args: p.args})
	if out := strings.TrimSpace(string(res.Stdout)); out != "" {
		e.Log.Infof("kargs helper: %s", out)
	}
	if p.bootDev == "" {
		return err
	}
	changed := err == nil && bootEntries(p.bootDir) != before
	if _, uerr := run.Run(context.WithoutCancel(ctx), command.Cmd{Name: "umount", Args: []string{p.bootDir}}); uerr != nil && err == nil {
		err = fmt.Errorf("kargs: unmounting the boot filesystem: %w", uerr)
	}
	if err != nil || !changed {
		return err
	}
	e.Log.Infof("kargs: the boot entries changed; rebooting so that the new kernel arguments take effect")
	if _, err := run.Run(ctx, command.Cmd{Name: "systemctl", Args: []string{"reboot"}}); err != nil {
		return fmt.Errorf("kargs: asking for a reboot: %w", err)
	}
	// the later stages wait for this one: they never run on this boot
	<-ctx.Done()
	return fmt.Errorf("kargs: stopped while waiting for the reboot: %w", ctx.Err())
}

// bootEntries is the contents of every Boot Loader Specification entry
// under dir, to tell whether the helper changed one.
func bootEntries(dir string) string {
	paths, _ := filepath.Glob(filepath.Join(dir, "loader", "entries", "*.conf"))
	var b strings.Builder
	for _, p := range paths {
		c, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "%s\x00%s\x00", p, c)
	}
	return b.String()
}

func (e *Engine) diskOptions() disks.Options {
	return disks.Options{Runner: e.runner(), Log: e.Log, Relabel: func(ctx context.Context, paths []string) error {
		// opened again for each call: what was mounted since is seen through
		root, err := rootfs.Open(e.Root)
		if err != nil {
			return err
		}
		defer root.Close()
		return files.Relabel(ctx, root, e.runner(), e.Log, paths)
	}}
}

// contentFetcher fetches what a config's files and key files name, with
// the config's own timeouts, proxy and certificate authorities.
func (e *Engine) contentFetcher(ctx context.Context, cfg config.Config) (*resource.Fetcher, error) {
	f := e.Fetcher.With(cfg.Ignition.Timeouts, cfg.Ignition.Proxy)
	f.TotalTimeout = 0 // contents are bounded by httpTotal, not -fetch-timeout
	if err := f.AddCAs(ctx, cfg.Ignition.Security.TLS.CertificateAuthorities); err != nil {
		return nil, err
	}
	return f, nil
}

// disksPlan partitions disks and makes filesystems.
type disksPlan struct{ plan *disks.Plan }

func planDisks(ctx context.Context, e *Engine, cfg config.Config) (Plan, error) {
	if disks.Empty(cfg) {
		return nothing{"disks", "no disks, RAID, LUKS or filesystems"}, nil
	}
	o := e.diskOptions()
	if len(cfg.Storage.Luks) > 0 && !e.DryRun {
		f, err := e.contentFetcher(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("disks stage: %w", err)
		}
		o.Fetcher = f
	} else if len(cfg.Storage.Luks) > 0 {
		o.Fetcher = e.Fetcher.With(cfg.Ignition.Timeouts, cfg.Ignition.Proxy)
	}
	p, err := disks.MakePlan(ctx, cfg, o)
	if err != nil {
		return nil, fmt.Errorf("disks stage: %w", err)
	}
	return disksPlan{p}, nil
}

func (p disksPlan) Print(w io.Writer) { p.plan.Print(w) }

func (p disksPlan) Apply(ctx context.Context, e *Engine) error {
	// the log narrates the plan: what is kept, made, resized or wiped
	var b strings.Builder
	p.plan.Print(&b)
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		e.Log.Infof("plan: %s", strings.TrimPrefix(l, "disks: "))
	}
	if err := p.plan.Apply(ctx, e.diskOptions()); err != nil {
		return fmt.Errorf("disks stage: %w", err)
	}
	st, err := e.LoadState()
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	st.DevAliases = p.plan.Aliases
	st.LuksKeys = p.plan.Keys
	return e.SaveState(st)
}

// mountPlan mounts the config's filesystems under the root.
type mountPlan struct{ plan *disks.MountPlan }

func planMount(ctx context.Context, e *Engine, cfg config.Config) (Plan, error) {
	st, err := e.LoadState()
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	mp, err := disks.PlanMounts(cfg, e.Root, st.DevAliases)
	if err != nil {
		return nil, fmt.Errorf("mount stage: %w", err)
	}
	if len(mp.Mounts) == 0 {
		return nothing{"mount", "no filesystems to mount"}, nil
	}
	return mountPlan{mp}, nil
}

func (p mountPlan) Print(w io.Writer) { p.plan.Print(w) }

func (p mountPlan) Apply(ctx context.Context, e *Engine) error {
	st, err := e.LoadState()
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	created, err := p.plan.Apply(ctx, e.diskOptions(), func(m []disks.Mounted) error {
		st.Mounts = m
		return e.SaveState(st)
	})
	if len(created) > 0 {
		st.MountPoints = append(st.MountPoints, created...)
		if serr := e.SaveState(st); err == nil {
			err = serr
		}
	}
	return err
}

// umountPlan undoes what the mount stage mounted, from the state.
type umountPlan struct{ mounts []disks.Mounted }

func planUmount(ctx context.Context, e *Engine, cfg config.Config) (Plan, error) {
	st, err := e.LoadState()
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	if len(st.Mounts) == 0 {
		return nothing{"umount", "nothing was mounted"}, nil
	}
	return umountPlan{st.Mounts}, nil
}

func (p umountPlan) Print(w io.Writer) {
	for i := len(p.mounts) - 1; i >= 0; i-- {
		fmt.Fprintf(w, "umount: would unmount %s\n", p.mounts[i].Host)
	}
}

func (p umountPlan) Apply(ctx context.Context, e *Engine) error {
	if err := disks.Unmount(ctx, p.mounts, e.diskOptions()); err != nil {
		return err
	}
	st, err := e.LoadState()
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	st.Mounts = nil
	return e.SaveState(st)
}

// fragmentUser is the distro's user for the platform's keys (platform.conf).
func (e *Engine) fragmentUser() string {
	s, _ := e.fragmentSettings()
	return s.user
}

// filesPlan writes users, files, directories, links and units into the
// target root, then the result file.
type filesPlan struct {
	cfg  config.Config
	plan files.Plan
}

func planFiles(ctx context.Context, e *Engine, cfg config.Config) (Plan, error) {
	return &filesPlan{cfg: cfg, plan: files.MakePlan(cfg)}, nil
}

func (p *filesPlan) Print(w io.Writer) {
	p.plan.Print(w)
	fmt.Fprintln(w, "files: would write /etc/.ignition-result.json")
}

func (p *filesPlan) Apply(ctx context.Context, e *Engine) error {
	cfg := p.cfg
	f, err := e.contentFetcher(ctx, cfg)
	if err != nil {
		return err
	}
	st, err := e.LoadState()
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	res := &files.Result{ProvisioningDate: time.Now().UTC().Format(time.RFC3339), UserConfigProvided: st.UserConfigProvided}
	if id, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		res.ProvisioningBootID = strings.TrimSpace(string(id))
	}
	var vols []files.CryptVolume
	for _, k := range st.LuksKeys {
		vols = append(vols, files.CryptVolume{Name: k.Name, UUID: k.UUID, KeyFile: k.KeyFile, NetDev: k.NetDev})
	}
	if len(cfg.Storage.Luks) != len(vols) {
		return fmt.Errorf("the config has %d LUKS volume(s) but the disks stage recorded %d: run the disks stage first", len(cfg.Storage.Luks), len(vols))
	}
	return files.Apply(ctx, cfg, files.Options{
		Root: e.Root, Fetcher: f, Log: e.Log, Runner: e.runner(),
		KeysToAuthorizedKeys: e.KeysToAuthorizedKeys, Result: res, Crypttab: vols, MountPoints: st.MountPoints,
		FragmentUsers: st.FragmentUsers,
	})
}

// explain prints the essentials of a config for dry runs.
func explain(w io.Writer, c config.Config) {
	fmt.Fprintf(w, "  files: %d, directories: %d, links: %d, units: %d, users: %d, groups: %d\n",
		len(c.Storage.Files), len(c.Storage.Directories), len(c.Storage.Links), len(c.Systemd.Units), len(c.Passwd.Users), len(c.Passwd.Groups))
	fmt.Fprintf(w, "  disks: %d, raid: %d, luks: %d, filesystems: %d, kernel arguments: %d to add, %d to remove\n",
		len(c.Storage.Disks), len(c.Storage.Raid), len(c.Storage.Luks), len(c.Storage.Filesystems),
		len(c.KernelArguments.ShouldExist), len(c.KernelArguments.ShouldNotExist))
	for _, f := range c.Storage.Files {
		fmt.Fprintf(w, "  file %q\n", f.Path)
	}
	for _, u := range c.Systemd.Units {
		fmt.Fprintf(w, "  unit %q\n", u.Name)
	}
}
