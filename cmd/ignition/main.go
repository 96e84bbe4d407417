// Command ignition provisions a machine on its first boot, from the
// initramfs: it is run once per stage (fetch-offline, fetch, kargs, disks,
// mount, files, umount) with the command line of CoreOS Ignition.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/internal/log"
	"github.com/ignition-go/ignition/providers"
	_ "github.com/ignition-go/ignition/providers/all"
	"github.com/ignition-go/ignition/providers/detect"
	"github.com/ignition-go/ignition/providers/rmcfg"
	"github.com/ignition-go/ignition/resource"
	"github.com/ignition-go/ignition/stages"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "v0.1.0-dev"

// Exit statuses, as Ignition's.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitSetup  = 3
)

func main() {
	// installed also as ignition-rmcfg (a link): delete the config from
	// the platforms that keep it readable after the first boot
	if filepath.Base(os.Args[0]) == "ignition-rmcfg" {
		os.Exit(rmcfg.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type choice struct {
	value   string
	allowed []string
}

func (c *choice) String() string { return c.value }
func (c *choice) Set(v string) error {
	for _, a := range c.allowed {
		if v == a {
			c.value = v
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(c.allowed, " "))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ignition", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// "auto": found from the firmware (platform.go)
	platform := &choice{allowed: append(providers.Names(), detect.Auto)}
	stage := &choice{allowed: stages.Names()}
	fs.Var(platform, "platform", "current platform. "+fmt.Sprint(platform.allowed))
	fs.Var(stage, "stage", "execution stage. "+fmt.Sprint(stage.allowed))
	root := fs.String("root", "/", "root of the filesystem")
	cache := fs.String("config-cache", "/run/ignition.json", "where to cache the config")
	state := fs.String("state-file", "/run/ignition/state", "where to store internal state")
	neednet := fs.String("neednet", "/run/ignition/neednet", "flag file to write from fetch-offline if networking is needed")
	fetchTimeout := fs.Duration("fetch-timeout", 2*time.Minute, "initial duration for which to wait for config")
	toStdout := fs.Bool("log-to-stdout", false, "log to stdout instead of the system log when set")
	showVersion := fs.Bool("version", false, "print the version and exit")
	dryRun := fs.Bool("dry-run", false, "print what the stage would do and change nothing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintf(stdout, "ignition-go %s (Ignition-compatible; config spec %s to %s)\n", version, config.SupportedVersions[0], config.Newest)
		return exitOK
	}
	if platform.value == "" || stage.value == "" {
		fmt.Fprintln(stderr, "ignition: -platform and -stage are required")
		fs.Usage()
		return exitUsage
	}

	logger := log.New(stage.value, *toStdout, stdout)
	defer logger.Close()
	if stage.value == "fetch-offline" {
		// a config that needs the network is the fetch stage's job, not a failure
		logger.Deferred = []error{resource.ErrNeedNet}
	}
	if platform.value == detect.Auto {
		id, code := resolvePlatform(*state, *dryRun, logger, stderr)
		if code != exitOK {
			return code
		}
		platform.value = id
	}
	logger.Infof("ignition-go %s, stage %s, platform %s", version, stage.value, platform.value)
	prov, _ := providers.Get(platform.value)
	fetcher := &resource.Fetcher{
		Log:          logger.Logf,
		Offline:      stage.value == "fetch-offline",
		UserAgent:    "Ignition/" + version,
		TotalTimeout: *fetchTimeout,
	}
	e := &stages.Engine{
		Platform:    platform.value,
		Provider:    prov,
		Log:         logger,
		Fetcher:     fetcher,
		Root:        *root,
		ConfigCache: *cache,
		StateFile:   *state,
		NeedNetFile: *neednet,
		CmdlinePath: envOr("IGNITION_KERNEL_CMDLINE_PATH", "/proc/cmdline"),
		SystemDirs: []string{
			envOr("IGNITION_SYSTEM_RUNTIME_CONFIG_DIR", "/run/ignition"),
			envOr("IGNITION_SYSTEM_LOCAL_CONFIG_DIR", "/etc/ignition"),
			envOr("IGNITION_SYSTEM_CONFIG_DIR", "/usr/lib/ignition"),
		},
		DryRun:               *dryRun,
		Out:                  stdout,
		Runner:               &command.Exec{Log: logger},
		KargsHelper:          envOr("IGNITION_KARGS_HELPER", stages.DefaultKargsHelper),
		KeysToAuthorizedKeys: os.Getenv("IGNITION_WRITE_AUTHORIZED_KEYS_FRAGMENT") == "false",
		// where block devices are listed and opened, for the config-drive
		// and CD-ROM platforms (tests point these at empty directories so
		// that no device of the machine running them is opened)
		ProviderEnv: providers.Env{SysBlockDir: os.Getenv("IGNITION_SYS_BLOCK_DIR"), DevDir: os.Getenv("IGNITION_DEV_DIR")},
	}
	if _, err := e.LoadState(); err != nil {
		logger.Errorf("loading the state file %s: %v", *state, err)
		return exitSetup
	}
	// SIGTERM or SIGINT (systemd stopping the unit) cancels the stage while
	// it plans and prepares (the files stage then removes its temp files and
	// fails without changing the root); a commit that has started runs to
	// its end, and the disks stage stops between its steps.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	start := time.Now()
	err := e.Run(ctx, stage.value)
	report, canReport := prov.(providers.Reporter)
	env := &providers.Env{Fetcher: &resource.Fetcher{Log: logger.Logf, TotalTimeout: time.Minute}, Log: logger}
	if err != nil {
		// The report says what failed; the config is never printed.
		logger.Errorf("%s failed after %v: %v", stage.value, time.Since(start).Round(time.Millisecond), err)
		fmt.Fprintf(stderr, "ignition: %s failed: %v\n", stage.value, err)
		if canReport && !*dryRun && !errors.Is(err, resource.ErrNeedNet) {
			if rerr := report.Report(context.WithoutCancel(ctx), env, false, fmt.Sprintf("ignition %s stage failed: %v", stage.value, err)); rerr != nil {
				logger.Warnf("could not report the failure to the platform: %v", rerr)
			}
		}
		return exitFailed
	}
	logger.Infof("%s done in %v", stage.value, time.Since(start).Round(time.Millisecond))
	if stage.value == "files" && canReport && !*dryRun {
		if rerr := report.Report(ctx, env, true, ""); rerr != nil {
			logger.Errorf("could not report success to the platform: %v", rerr)
			return exitFailed
		}
	}
	return exitOK
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
