package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/ignition-go/ignition/config"
)

// explain prints, in plain words, what a valid config asks for. Sources are
// described by scheme and size, never by their contents or credentials.
func explain(w io.Writer, res config.Result) {
	c := res.Config
	fmt.Fprintf(w, "  spec %s\n", res.Version)
	for _, m := range c.Ignition.Config.Merge {
		fmt.Fprintf(w, "  merges the config from %s\n", source(&m))
	}
	if c.Ignition.Config.Replace.Source != nil {
		fmt.Fprintf(w, "  is replaced by the config from %s\n", source(&c.Ignition.Config.Replace))
	}
	for _, ca := range c.Ignition.Security.TLS.CertificateAuthorities {
		fmt.Fprintf(w, "  trusts the certificate authorities from %s\n", source(&ca))
	}
	for _, d := range c.Storage.Disks {
		wipe := ""
		if d.WipeTable != nil && *d.WipeTable {
			wipe = " after wiping its partition table"
		}
		fmt.Fprintf(w, "  partitions %s%s: %d partition(s)\n", d.Device, wipe, len(d.Partitions))
		for _, p := range d.Partitions {
			fmt.Fprintf(w, "    partition %s\n", describePartition(p))
		}
	}
	for _, r := range c.Storage.Raid {
		fmt.Fprintf(w, "  builds RAID %s (%s) from %s\n", r.Name, deref(r.Level), strings.Join(r.Devices, ", "))
	}
	for _, l := range c.Storage.Luks {
		fmt.Fprintf(w, "  encrypts %s with LUKS as %s\n", deref(l.Device), l.Name)
	}
	for _, f := range c.Storage.Filesystems {
		at := ""
		if f.Path != nil {
			at = ", mounted at " + *f.Path
		}
		fmt.Fprintf(w, "  filesystem %s on %s%s\n", or(deref(f.Format), "(unchanged)"), f.Device, at)
	}
	for _, d := range c.Storage.Directories {
		fmt.Fprintf(w, "  directory %s mode %s%s\n", d.Path, mode(d.Mode, 0o755), owner(d.Node))
	}
	for _, f := range c.Storage.Files {
		what := "empty or kept as it is"
		if f.Contents.Source != nil {
			what = "from " + source(&f.Contents)
		}
		if len(f.Append) > 0 {
			what += fmt.Sprintf(", plus %d appended part(s)", len(f.Append))
		}
		fmt.Fprintf(w, "  file %s mode %s%s, %s\n", f.Path, mode(f.Mode, 0o644), owner(f.Node), what)
	}
	for _, l := range c.Storage.Links {
		kind := "symlink"
		if l.Hard != nil && *l.Hard {
			kind = "hard link"
		}
		fmt.Fprintf(w, "  %s %s -> %s\n", kind, l.Path, deref(l.Target))
	}
	for _, g := range c.Passwd.Groups {
		fmt.Fprintf(w, "  group %s%s\n", g.Name, gone(g.ShouldExist))
	}
	for _, u := range c.Passwd.Users {
		extra := ""
		if n := len(u.SSHAuthorizedKeys); n > 0 {
			extra += fmt.Sprintf(", %d SSH key(s)", n)
		}
		if u.PasswordHash != nil {
			extra += ", a password hash"
		}
		if len(u.Groups) > 0 {
			extra += ", groups " + strings.Join(u.Groups, ",")
		}
		fmt.Fprintf(w, "  user %s%s%s\n", u.Name, extra, gone(u.ShouldExist))
	}
	for _, u := range c.Systemd.Units {
		var acts []string
		if u.Contents != nil {
			acts = append(acts, "written")
		}
		if u.Enabled != nil {
			acts = append(acts, map[bool]string{true: "enabled", false: "disabled"}[*u.Enabled])
		}
		if u.Mask != nil && *u.Mask {
			acts = append(acts, "masked")
		}
		if len(u.Dropins) > 0 {
			acts = append(acts, fmt.Sprintf("%d drop-in(s)", len(u.Dropins)))
		}
		fmt.Fprintf(w, "  unit %s: %s\n", u.Name, or(strings.Join(acts, ", "), "no change"))
	}
	for _, a := range c.KernelArguments.ShouldExist {
		fmt.Fprintf(w, "  kernel argument %q must be present\n", a)
	}
	for _, a := range c.KernelArguments.ShouldNotExist {
		fmt.Fprintf(w, "  kernel argument %q must be absent\n", a)
	}
}

// source names where bytes come from without leaking them: data URLs are
// summarised by size, other URLs lose their query and user info.
func source(r *config.Resource) string {
	s := deref(r.Source)
	u, err := url.Parse(s)
	if err != nil {
		return "an unparseable URL"
	}
	desc := ""
	switch u.Scheme {
	case "data":
		// the decoded size, the count -dry-run and the log give too
		if data, err := config.DecodeDataURL(s); err == nil {
			desc = fmt.Sprintf("an inline data URL (%d bytes)", len(data))
		} else {
			desc = "an inline data URL that does not decode"
		}
	default:
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		desc = u.String()
	}
	if r.Compression != nil && *r.Compression != "" {
		desc += ", " + *r.Compression + "-compressed"
	}
	if r.Verification.Hash != nil {
		fn, _, _ := strings.Cut(*r.Verification.Hash, "-")
		desc += ", checked with " + fn
	}
	return desc
}

func describePartition(p config.Partition) string {
	var parts []string
	if p.Number != 0 {
		parts = append(parts, fmt.Sprintf("#%d", p.Number))
	}
	if p.Label != nil {
		parts = append(parts, fmt.Sprintf("%q", *p.Label))
	}
	if p.SizeMiB != nil {
		if *p.SizeMiB == 0 {
			parts = append(parts, "filling free space")
		} else {
			parts = append(parts, fmt.Sprintf("%d MiB", *p.SizeMiB))
		}
	}
	if p.ShouldExist != nil && !*p.ShouldExist {
		parts = append(parts, "deleted")
	}
	return strings.Join(parts, " ")
}

func mode(m *int, def int) string {
	if m == nil {
		return fmt.Sprintf("%04o (default)", def)
	}
	return fmt.Sprintf("%04o", *m)
}

func owner(n config.Node) string {
	var s []string
	if n.User.ID != nil {
		s = append(s, fmt.Sprintf("uid %d", *n.User.ID))
	} else if n.User.Name != nil {
		s = append(s, "user "+*n.User.Name)
	}
	if n.Group.ID != nil {
		s = append(s, fmt.Sprintf("gid %d", *n.Group.ID))
	} else if n.Group.Name != nil {
		s = append(s, "group "+*n.Group.Name)
	}
	if len(s) == 0 {
		return ""
	}
	return ", " + strings.Join(s, ", ")
}

func gone(b *bool) string {
	if b != nil && !*b {
		return " (deleted)"
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
