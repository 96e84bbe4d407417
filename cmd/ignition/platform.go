package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/ignition-go/ignition/internal/log"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/detect"
)

// resolvePlatform turns -platform auto into the platform of this machine
// (docs/platforms.md, "Finding the platform"), once per boot: the first
// stage records what it found next to the state file, and the later
// stages take that, so that they all agree. It logs the choice and its
// evidence; an explicit id never reaches it.
func resolvePlatform(stateFile string, dryRun bool, logger *log.Logger, stderr io.Writer) (string, int) {
	rv := &detect.Resolver{
		CmdlinePath: envOr("IGNITION_KERNEL_CMDLINE_PATH", "/proc/cmdline"),
		CacheFile:   filepath.Join(filepath.Dir(stateFile), "platform"),
		DryRun:      dryRun,
		Valid:       func(id string) bool { return slices.Contains(providers.Names(), id) },
		Sources: detect.Sources{
			DMIDir:      os.Getenv("IGNITION_DMI_DIR"),
			SysDir:      os.Getenv("IGNITION_SYSFS_DIR"),
			SysBlockDir: os.Getenv("IGNITION_SYS_BLOCK_DIR"),
			DevDir:      os.Getenv("IGNITION_DEV_DIR"),
		},
	}
	res, took, warn, err := rv.Resolve(detect.Auto)
	if err != nil {
		logger.Errorf("finding the platform: %v", err)
		fmt.Fprintf(stderr, "ignition: %v\n", err)
		return "", exitUsage
	}
	if took > 0 {
		logger.Infof("platform: %s, found in %v", res, took)
	} else {
		logger.Infof("platform: %s", res)
	}
	if warn != nil {
		// a record this stage could not write (the next stage detects
		// again), or one it did not trust (detected again, and replaced)
		logger.Warnf("%v", warn)
	}
	return res.Platform, exitOK
}
