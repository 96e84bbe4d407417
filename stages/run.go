package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
	"github.com/ignition-go/ignition/stages/files"
)

// Names lists the stages in the order a boot runs them.
var Names = []string{"fetch-offline", "fetch", "kargs", "disks", "mount", "files", "umount"}

// KargsHelper is the program the kargs stage hands kernel arguments to;
// IGNITION_KARGS_HELPER overrides it.
var KargsHelper = "/usr/sbin/ignition-kargs-helper"

// DryRunOut receives the plan in dry-run mode.
var DryRunOut io.Writer = os.Stdout

// ErrNotImplemented is a stage asked to do work this build cannot do yet;
// it fails before touching anything.
var ErrNotImplemented = errors.New("not supported by this build yet")

// Run runs one stage.
func (e *Engine) Run(ctx context.Context, stage string) error {
	env := &providers.Env{Fetcher: e.Fetcher, Log: e.Log}
	done := e.Log.Op("%s platform setup", e.Platform)
	err := e.Provider.Init(ctx, env)
	done(err)
	if err != nil {
		return err
	}
	switch stage {
	case "fetch-offline", "fetch":
		return e.fetchStage(ctx, stage)
	case "kargs":
		return e.kargs(ctx)
	case "disks", "mount", "files", "umount":
		return e.laterStage(ctx, stage)
	}
	return fmt.Errorf("unknown stage %q", stage)
}

func (e *Engine) fetchStage(ctx context.Context, stage string) error {
	if stage == "fetch" && !e.DryRun {
		if _, err := os.Stat(e.ConfigCache); err == nil {
			e.Log.Infof("config already cached at %s by fetch-offline; nothing to fetch", e.ConfigCache)
			return nil
		}
	}
	var st State
	base, err := e.BaseConfig(&st)
	if err != nil {
		return err
	}
	user, err := e.Acquire(ctx, &st)
	if stage == "fetch-offline" && errors.Is(err, resource.ErrNeedNet) {
		e.Log.Infof("the config needs the network: %v", err)
		return e.flagNeedNet()
	}
	if err != nil {
		return err
	}
	if e.DryRun {
		fmt.Fprintf(DryRunOut, "%s: would cache the config at %s (user config provided: %v)\n", stage, e.ConfigCache, st.UserConfigProvided)
		explain(DryRunOut, config.Merge(base, user))
		if stage == "fetch-offline" && NeedsNetwork(config.Merge(base, user)) {
			return e.flagNeedNet()
		}
		return nil
	}
	done := e.Log.Op("writing the config cache %s", e.ConfigCache)
	err = e.WriteCache(user)
	done(err)
	if err != nil {
		return err
	}
	if err := e.SaveState(st); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if stage == "fetch-offline" && NeedsNetwork(config.Merge(base, user)) {
		e.Log.Infof("applying the config needs the network")
		return e.flagNeedNet()
	}
	return nil
}

func (e *Engine) flagNeedNet() error {
	if e.DryRun {
		fmt.Fprintf(DryRunOut, "fetch-offline: would write %s (the network is needed)\n", e.NeedNetFile)
		return nil
	}
	return writeAtomic(e.NeedNetFile, nil, 0o644)
}

func (e *Engine) kargs(ctx context.Context) error {
	cfg, err := e.LoadConfig()
	if err != nil {
		return err
	}
	ka := cfg.KernelArguments
	if len(ka.ShouldExist) == 0 && len(ka.ShouldNotExist) == 0 {
		e.Log.Infof("no kernel arguments to change")
		return nil
	}
	helper := KargsHelper
	if h := os.Getenv("IGNITION_KARGS_HELPER"); h != "" {
		helper = h
	}
	var args []string
	for _, a := range ka.ShouldExist {
		args = append(args, "--should-exist", a)
	}
	for _, a := range ka.ShouldNotExist {
		args = append(args, "--should-not-exist", a)
	}
	if e.DryRun {
		fmt.Fprintf(DryRunOut, "kargs: would run %s %s\n", helper, strings.Join(args, " "))
		return nil
	}
	done := e.Log.Op("running %s %s", helper, strings.Join(args, " "))
	out, err := exec.CommandContext(ctx, helper, args...).CombinedOutput()
	if len(out) > 0 {
		e.Log.Infof("%s: %s", filepath.Base(helper), strings.TrimSpace(string(out)))
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", helper, err)
	}
	done(err)
	return err
}

// laterStage runs the stages that act on disks and the target root. This
// build does their work only for configs that ask nothing of them; a config
// that does fails here, before anything is touched.
func (e *Engine) laterStage(ctx context.Context, stage string) error {
	cfg, err := e.LoadConfig()
	if err != nil {
		return err
	}
	s := cfg.Storage
	var asks []string
	switch stage {
	case "disks":
		if len(s.Disks)+len(s.Raid)+len(s.Luks)+len(s.Filesystems) > 0 {
			asks = append(asks, "disks, RAID, LUKS or filesystems")
		}
	case "mount":
		for _, f := range s.Filesystems {
			if f.Path != nil && *f.Path != "" {
				asks = append(asks, "mounting filesystems")
				break
			}
		}
	case "files":
		if len(s.Luks) > 0 {
			asks = append(asks, "LUKS key files and crypttab")
		}
	}
	if len(asks) > 0 {
		return fmt.Errorf("%s stage: the config asks for %s: %w", stage, strings.Join(asks, ", "), ErrNotImplemented)
	}
	if stage != "files" {
		e.Log.Infof("%s: nothing to do", stage)
		return nil
	}
	if err := e.filesStage(ctx, cfg); err != nil {
		return err
	}
	return e.writeResult()
}

// filesStage writes users, files, directories, links and units into the
// target root, fetching contents with the config's own network settings.
func (e *Engine) filesStage(ctx context.Context, cfg config.Config) error {
	if e.DryRun {
		files.MakePlan(cfg).Print(DryRunOut)
		return nil
	}
	f := e.Fetcher.With(cfg.Ignition.Timeouts, cfg.Ignition.Proxy)
	f.TotalTimeout = 0 // contents are bounded by httpTotal, not -fetch-timeout
	if err := f.AddCAs(ctx, cfg.Ignition.Security.TLS.CertificateAuthorities); err != nil {
		return err
	}
	return files.Apply(ctx, cfg, e.Root, f, e.Log)
}

// writeResult writes <root>/etc/.ignition-result.json as Ignition does.
func (e *Engine) writeResult() error {
	st, err := e.LoadState()
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	path := filepath.Join(e.Root, "etc", ".ignition-result.json")
	result := map[string]any{
		"provisioningDate":   time.Now().UTC().Format(time.RFC3339),
		"userConfigProvided": st.UserConfigProvided,
	}
	if id, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		result["provisioningBootID"] = strings.TrimSpace(string(id))
	}
	if prev, err := os.ReadFile(path); err == nil {
		var p any
		if json.Unmarshal(prev, &p) == nil {
			e.Log.Warnf("Ignition has already run on this system (%s exists)", path)
			result["previousReport"] = p
		}
	}
	if e.DryRun {
		fmt.Fprintf(DryRunOut, "files: would write %s\n", path)
		return nil
	}
	b, _ := json.Marshal(result)
	done := e.Log.Op("writing %s", path)
	err = writeAtomic(path, b, 0o600)
	done(err)
	return err
}

// explain prints the essentials of a config for dry runs.
func explain(w io.Writer, c config.Config) {
	fmt.Fprintf(w, "  files: %d, directories: %d, links: %d, units: %d, users: %d, groups: %d\n",
		len(c.Storage.Files), len(c.Storage.Directories), len(c.Storage.Links), len(c.Systemd.Units), len(c.Passwd.Users), len(c.Passwd.Groups))
	fmt.Fprintf(w, "  disks: %d, raid: %d, luks: %d, filesystems: %d, kernel arguments: %d to add, %d to remove\n",
		len(c.Storage.Disks), len(c.Storage.Raid), len(c.Storage.Luks), len(c.Storage.Filesystems),
		len(c.KernelArguments.ShouldExist), len(c.KernelArguments.ShouldNotExist))
	for _, f := range c.Storage.Files {
		fmt.Fprintf(w, "  file %s\n", f.Path)
	}
	for _, u := range c.Systemd.Units {
		fmt.Fprintf(w, "  unit %s\n", u.Name)
	}
}
