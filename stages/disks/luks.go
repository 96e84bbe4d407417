package disks

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/blockdev"
	"github.com/ignition-go/ignition/internal/command"
	"github.com/ignition-go/ignition/resource"
)

// LuksPlan is one LUKS2 volume.
type LuksPlan struct {
	Name, Device, Node string
	Label, UUID        string
	Options            []string
	OpenOptions        []string
	Discard            bool
	Wipe               bool
	Clevis             config.Clevis
	Action             string      // "create" or "reuse"
	Tang               []TangCheck // each tang server's advertisement, checked
	Why                string
	Have               Probe
	// key is the volume's key (fetched from the config's keyFile, or
	// random); it never reaches a log, an error or the printed plan.
	key       []byte
	generated bool
	deferred  bool   // on a device this run makes: checked when it is there
	size      uint64 // of the partition this run makes for it (0: read from the device)
}

// checkArgs refuses what cryptsetup would refuse or silently cut: a label
// longer than LUKS2 keeps, control characters, options that name another
// device or a file (a detached header, a key file).
func (l *LuksPlan) checkArgs() error {
	labels := []string{l.Label}
	for i, o := range l.Options { // a --label in options is made too
		if v, ok := strings.CutPrefix(o, "--label="); ok {
			labels = append(labels, v)
		} else if o == "--label" && i+1 < len(l.Options) {
			labels = append(labels, l.Options[i+1])
		}
	}
	for _, label := range labels {
		if label == "" {
			continue
		}
		if err := plainText(label); err != nil {
			return fmt.Errorf("LUKS %s: label %q: %w", l.Name, label, err)
		}
		if len(label) > luksLabelMax {
			return fmt.Errorf("LUKS %s: label %q is %d bytes; LUKS2 keeps at most %d", l.Name, label, len(label), luksLabelMax)
		}
	}
	for _, opts := range [][]string{l.Options, l.OpenOptions} {
		if err := checkOptions("cryptsetup", opts); err != nil {
			return fmt.Errorf("LUKS %s: %w", l.Name, err)
		}
	}
	return nil
}

// checkSize refuses a device with no room for data after the LUKS2
// header (unless the options size the header themselves).
func (l *LuksPlan) checkSize(size uint64) error {
	if size == 0 {
		return nil
	}
	for _, o := range []string{"--offset", "-o", "--luks2-metadata-size", "--luks2-keyslots-size", "--reduce-device-size"} {
		if hasOption(l.Options, o) {
			return nil
		}
	}
	if size < luksMinSize {
		return fmt.Errorf("LUKS %s: %s is %s; the LUKS2 header alone takes 16 MiB, leaving no room for data", l.Name, l.Device, sizeText(size))
	}
	return nil
}

// Path is where the opened volume appears.
func (l *LuksPlan) Path() string { return "/dev/mapper/" + l.Name }

// Key is what the files stage needs of a volume: /etc/crypttab's line and,
// for a volume without clevis, its key file /etc/luks/<name>.
type Key struct {
	Name    string `json:"name"`
	UUID    string `json:"uuid"`
	KeyFile []byte `json:"keyFile,omitempty"` // nil: unlocked by clevis
	NetDev  bool   `json:"netDev,omitempty"`
}

func hasClevis(c config.Clevis) bool {
	return len(c.Tang) > 0 || isTrue(c.Tpm2) || c.Custom.Pin != nil
}

// planLuks fetches or makes the key (before anything is written) and
// applies the reuse rules: no wipeVolume, an existing LUKS2 volume whose
// label, UUID and key match a config with a key file and no clevis is
// opened as it is; anything else there is refused.
func (p *planner) planLuks(ctx context.Context, l config.Luks, fut map[string]future, raids map[string]bool, f *resource.Fetcher) (*LuksPlan, error) {
	lp := &LuksPlan{Name: l.Name, Device: deref(l.Device), Label: deref(l.Label), UUID: deref(l.UUID),
		Options: l.Options, OpenOptions: l.OpenOptions, Discard: isTrue(l.Discard), Wipe: isTrue(l.WipeVolume), Clevis: l.Clevis}
	if isTrue(l.Cex.Enabled) {
		return nil, fmt.Errorf("LUKS %s: IBM CEX keys: %w", l.Name, ErrNotSupported)
	}
	if err := lp.checkArgs(); err != nil {
		return nil, err
	}
	if src := deref(l.KeyFile.Source); src != "" {
		if f == nil {
			return nil, fmt.Errorf("LUKS %s: no fetcher for the key file", l.Name)
		}
		o := resource.FromResource(l.KeyFile)
		o.MaxSize = 8 << 20
		key, err := f.FetchBytes(ctx, src, o)
		if err != nil {
			return nil, fmt.Errorf("LUKS %s: key file: %w", l.Name, err)
		}
		lp.key = key
	} else {
		lp.key = make([]byte, 4096)
		if _, err := rand.Read(lp.key); err != nil {
			return nil, err
		}
		lp.generated = true
	}
	switch {
	case raids[lp.Device]:
		lp.Node, lp.deferred = lp.Device, true
		lp.Action, lp.Why = "create", "on a RAID array this run makes (checked once it is there)"
		return lp, lp.checkTang(ctx, f)
	case fut[lp.Device].node != "" && (fut[lp.Device].fresh || !exists(fut[lp.Device].node)):
		n := fut[lp.Device]
		lp.Node = n.node
		ss := uint64(n.disk.Before.SectorSize)
		lp.size = n.part.Size * ss
		have, err := p.probe(ctx, n.disk.Node, n.part.Start*ss, n.part.Size*ss)
		if err != nil {
			return nil, err
		}
		lp.Have = have
	default:
		node := fut[lp.Device].node // a kept partition of a planned disk
		var err error
		if node == "" {
			if node, err = p.device(ctx, lp.Device); err != nil {
				return nil, fmt.Errorf("LUKS %s: %w", l.Name, err)
			}
		}
		lp.Node = node
		if lp.Have, err = p.probe(ctx, node, 0, 0); err != nil {
			return nil, err
		}
	}
	fresh := fut[lp.Device].node != "" && (fut[lp.Device].fresh || !exists(fut[lp.Device].node))
	if err := p.decideLuks(ctx, lp, !fresh); err != nil {
		return nil, err
	}
	p.recordVolumeSize(lp)
	return lp, lp.checkTang(ctx, f)
}

// recordVolumeSize notes the size the opened volume will have (the device
// less the 16 MiB LUKS2 header), so that a filesystem on it is checked in
// the plan too; not when the options size the header.
func (p *planner) recordVolumeSize(lp *LuksPlan) {
	if lp.Action != "create" || lp.checkSize(1) == nil {
		return
	}
	size := lp.size
	if size == 0 && lp.Node != "" {
		size = deviceSize(p.sys, lp.Node)
	}
	if size <= 16*mib {
		return
	}
	if p.volumeSizes == nil {
		p.volumeSizes = map[string]uint64{}
	}
	for _, path := range []string{lp.Path(), "/dev/disk/by-id/dm-name-" + lp.Name} {
		p.volumeSizes[path] = size - 16*mib
	}
}

// checkTang checks the tang servers' advertisements against the
// thumbprints of a volume this run binds, before anything is written.
func (lp *LuksPlan) checkTang(ctx context.Context, f *resource.Fetcher) error {
	if lp.Action != "create" || lp.Clevis.Custom.Pin != nil || len(lp.Clevis.Tang) == 0 {
		return nil
	}
	var err error
	lp.Tang, err = checkTang(ctx, lp.Name, lp.Clevis.Tang, f)
	return err
}

func (p *planner) decideLuks(ctx context.Context, lp *LuksPlan, exists bool) error {
	have := lp.Have
	switch {
	case lp.Wipe:
		lp.Action, lp.Why = "create", "wipeVolume"
	case !have.found():
		lp.Action, lp.Why = "create", "nothing there"
	case have.Type != "crypto_LUKS":
		return fmt.Errorf("LUKS %s: %s holds %s; set wipeVolume to replace it", lp.Name, lp.Device, have)
	case lp.generated || hasClevis(lp.Clevis):
		return fmt.Errorf("LUKS %s: %s is a LUKS volume already; it is reused only with a key file and no clevis, else set wipeVolume", lp.Name, lp.Device)
	case lp.Label != "" && lp.Label != have.Label:
		return fmt.Errorf("LUKS %s: the volume's label is %q, not %q; set wipeVolume to replace it", lp.Name, have.Label, lp.Label)
	case lp.UUID != "" && !sameUUID(lp.UUID, have.UUID):
		return fmt.Errorf("LUKS %s: the volume's UUID is %s, not %s; set wipeVolume to replace it", lp.Name, have.UUID, lp.UUID)
	case !exists:
		lp.Action, lp.Why = "reuse", "a LUKS volume with a matching label and UUID"
	default:
		// the key must open it: checked without device mapper
		key, cleanup, err := keyFile(lp)
		if err != nil {
			return err
		}
		defer cleanup()
		if _, err := p.run.Run(ctx, command.Cmd{Name: "cryptsetup", Args: []string{"isLuks", "--type", "luks2", lp.Node}, Quiet: true}); err != nil {
			return fmt.Errorf("LUKS %s: %s is not a LUKS2 volume; set wipeVolume to replace it", lp.Name, lp.Device)
		}
		if _, err := p.run.Run(ctx, command.Cmd{Name: "cryptsetup", Args: []string{"open", "--test-passphrase", "--key-file", key, lp.Node}, Quiet: true}); err != nil {
			return fmt.Errorf("LUKS %s: the key file does not open the existing volume; set wipeVolume to replace it", lp.Name)
		}
		lp.Action, lp.Why = "reuse", "a LUKS2 volume the key opens"
	}
	if lp.Action == "create" {
		size := lp.size
		if size == 0 && lp.Node != "" {
			size = deviceSize(p.sys, lp.Node)
		}
		if err := lp.checkSize(size); err != nil {
			return err
		}
	}
	if lp.Action == "create" && exists && lp.Node != "" {
		if why, err := p.sys.InUse(lp.Node); err != nil {
			return err
		} else if why != "" {
			return fmt.Errorf("LUKS %s: refusing to change a device in use: %s", lp.Name, why)
		}
	}
	return nil
}

// keyFile writes the key to a file only root can read, in /run (tmpfs),
// for cryptsetup and clevis.
func keyFile(lp *LuksPlan) (string, func(), error) {
	dir, err := os.MkdirTemp("/run", "ignition-luks-")
	if err != nil {
		return "", nil, err
	}
	os.Chmod(dir, 0o700)
	p := filepath.Join(dir, "key")
	if err := os.WriteFile(p, lp.key, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return p, func() { os.RemoveAll(dir) }, nil
}

// clevisPin is the pin and its JSON config: sss over the tang servers and
// the TPM2 with the threshold, or the custom pin as given.
func (l *LuksPlan) clevisPin() (string, string) {
	c := l.Clevis
	if c.Custom.Pin != nil {
		return *c.Custom.Pin, deref(c.Custom.Config)
	}
	pins := map[string]any{}
	var tang []map[string]any
	for i, t := range c.Tang {
		e := map[string]any{"url": t.URL}
		if t.Thumbprint != nil {
			e["thp"] = *t.Thumbprint
		}
		// the advertisement the plan checked: clevis binds with it and
		// does not ask the server again
		if i < len(l.Tang) && l.Tang[i].URL == t.URL && l.Tang[i].adv != nil {
			e["adv"] = l.Tang[i].adv
		} else if t.Advertisement != nil {
			var adv any
			if json.Unmarshal([]byte(*t.Advertisement), &adv) == nil {
				e["adv"] = adv
			}
		}
		tang = append(tang, e)
	}
	if len(tang) > 0 {
		pins["tang"] = tang
	}
	if isTrue(c.Tpm2) {
		pins["tpm2"] = map[string]any{}
	}
	t := 1
	if c.Threshold != nil {
		t = *c.Threshold
	}
	b, _ := json.Marshal(map[string]any{"t": t, "pins": pins})
	return "sss", string(b)
}

func (l *LuksPlan) netDev() bool {
	if len(l.Clevis.Tang) > 0 {
		return true
	}
	return isTrue(l.Clevis.Custom.NeedsNetwork)
}

// apply formats (or reuses) and opens the volume, binds clevis, and
// returns what the files stage writes for it.
func (l *LuksPlan) apply(ctx context.Context, p *planner, o Options) (Key, error) {
	if err := waitPath(ctx, l.Node, 30*time.Second, o); err != nil {
		return Key{}, fmt.Errorf("LUKS %s: %w", l.Name, err)
	}
	if l.deferred {
		have, err := p.probe(ctx, l.Node, 0, 0)
		if err != nil {
			return Key{}, err
		}
		l.Have = have
		if err := p.decideLuks(ctx, l, true); err != nil {
			return Key{}, err
		}
	}
	key, cleanup, err := keyFile(l)
	if err != nil {
		return Key{}, err
	}
	defer cleanup()
	run := func(name string, args ...string) error {
		_, err := o.Runner.Run(ctx, command.Cmd{Name: name, Args: args})
		if err != nil {
			return fmt.Errorf("LUKS %s: %w", l.Name, err)
		}
		return nil
	}
	if l.Action == "create" {
		if l.Wipe || l.Have.found() {
			if err := run("wipefs", "-a", l.Node); err != nil {
				return Key{}, err
			}
		}
		args := []string{"luksFormat", "--type", "luks2", "--batch-mode", "--key-file", key}
		if l.Label != "" {
			args = append(args, "--label", l.Label)
		}
		if l.UUID != "" {
			args = append(args, "--uuid", l.UUID)
		}
		args = append(args, l.Options...)
		if err := run("cryptsetup", append(args, l.Node)...); err != nil {
			return Key{}, err
		}
	}
	open, err := openOn(l.Name, l.Node, o.Sys)
	if err != nil {
		return Key{}, fmt.Errorf("LUKS %s: %w", l.Name, err)
	}
	if open && l.Action == "reuse" {
		o.Log.Infof("LUKS %s: open already on %s", l.Name, l.Node)
	} else {
		args := []string{"luksOpen", l.Node, l.Name, "--key-file", key, "--persistent"}
		if l.Discard {
			args = append(args, "--allow-discards")
		}
		if err := run("cryptsetup", append(args, l.OpenOptions...)...); err != nil {
			return Key{}, err
		}
	}
	k := Key{Name: l.Name, NetDev: l.netDev()}
	if l.Action == "create" && hasClevis(l.Clevis) {
		pin, cfg := l.clevisPin()
		if err := run("clevis", "luks", "bind", "-f", "-k", key, "-d", l.Node, pin, cfg); err != nil {
			return Key{}, err
		}
		if l.generated {
			if err := run("cryptsetup", "luksRemoveKey", l.Node, key); err != nil {
				return Key{}, err
			}
		}
	}
	// a volume clevis opens keeps no key file in the target (crypttab says
	// none): a key file on the disk next to the volume would open it
	// without the tang server or the TPM, as Ignition also has it
	if !hasClevis(l.Clevis) {
		k.KeyFile = l.key
	}
	res, err := o.Runner.Run(ctx, command.Cmd{Name: "cryptsetup", Args: []string{"luksUUID", l.Node}, Quiet: true})
	if err != nil {
		return Key{}, fmt.Errorf("LUKS %s: %w", l.Name, err)
	}
	k.UUID = strings.TrimSpace(string(res.Stdout))
	if err := waitPath(ctx, l.Path(), 30*time.Second, o); err != nil {
		return Key{}, fmt.Errorf("LUKS %s: %w", l.Name, err)
	}
	return k, nil
}

// openOn says whether the volume is open already as name, on node; a
// mapping of that name on another device is an error.
func openOn(name, node string, sys blockdev.Sys) (bool, error) {
	if _, err := os.Stat("/dev/mapper/" + name); err != nil {
		return false, nil
	}
	dm, err := sys.Name("/dev/mapper/" + name)
	if err != nil {
		return false, err
	}
	under, err := sys.Name(node)
	if err != nil {
		return false, err
	}
	slaves, _ := os.ReadDir(filepath.Join(sys.Block(), dm, "slaves"))
	for _, s := range slaves {
		if s.Name() == under {
			return true, nil
		}
	}
	return false, fmt.Errorf("/dev/mapper/%s is open already on another device", name)
}

func waitPath(ctx context.Context, path string, timeout time.Duration, o Options) error {
	_, err := blockdev.Wait(ctx, path, timeout, o.Log.Infof)
	return err
}
