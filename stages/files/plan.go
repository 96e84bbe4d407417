// Package files is the files stage: users and groups, files, directories
// and links, SSH keys, and systemd units in the target root. It first turns
// the config into a plan (what -dry-run prints), then carries it out.
package files

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/resource"
)

// NodeKind is what a node becomes.
type NodeKind string

const (
	KindDirectory NodeKind = "directory"
	KindFile      NodeKind = "file"
	KindSymlink   NodeKind = "symlink"
	KindHardlink  NodeKind = "hard link"
)

// Node is one file, directory or link to put in place.
type Node struct {
	Kind      NodeKind
	Path      string
	Mode      *int // nil: the default (0644 files, 0755 directories) or the kept file's
	User      config.NodeUser
	Group     config.NodeGroup
	Overwrite bool
	Contents  *config.Resource // files only; nil: keep or create empty
	Append    []config.Resource
	Target    string // links
	From      string // where it comes from, for logs ("storage.files", "systemd unit x")
}

// Unit is a systemd unit's files and state.
type Unit struct {
	Name     string
	Contents *string
	Dropins  []config.Dropin
	Mask     *bool
	Enabled  *bool
}

// Plan is everything the files stage will do, in order.
type Plan struct {
	Groups  []config.PasswdGroup
	Users   []config.PasswdUser
	Nodes   []Node
	Units   []Unit
	Presets []string // lines of 20-ignition.preset
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// MakePlan orders the config's work: groups, then users, then nodes by
// depth (directories, files and symlinks together, hard links last), then
// units and their preset lines.
func MakePlan(cfg config.Config) Plan {
	p := Plan{Groups: cfg.Passwd.Groups, Users: cfg.Passwd.Users}
	var nodes, hard []Node
	for _, d := range cfg.Storage.Directories {
		nodes = append(nodes, Node{Kind: KindDirectory, Path: d.Path, Mode: d.Mode, User: d.User, Group: d.Group, Overwrite: isTrue(d.Overwrite), From: "storage.directories"})
	}
	for i := range cfg.Storage.Files {
		f := cfg.Storage.Files[i]
		n := Node{Kind: KindFile, Path: f.Path, Mode: f.Mode, User: f.User, Group: f.Group, Overwrite: isTrue(f.Overwrite), Append: f.Append, From: "storage.files"}
		if f.Contents.Source != nil {
			c := f.Contents
			n.Contents = &c
		}
		nodes = append(nodes, n)
	}
	for _, l := range cfg.Storage.Links {
		n := Node{Kind: KindSymlink, Path: l.Path, User: l.User, Group: l.Group, Overwrite: isTrue(l.Overwrite), Target: deref(l.Target), From: "storage.links"}
		if isTrue(l.Hard) {
			n.Kind = KindHardlink
			hard = append(hard, n)
			continue
		}
		nodes = append(nodes, n)
	}
	sort.SliceStable(nodes, func(i, j int) bool { return depth(nodes[i].Path) < depth(nodes[j].Path) })
	p.Nodes = append(nodes, hard...)

	instances := map[string][]string{} // template -> instances, for preset grouping
	var order []string
	for _, u := range cfg.Systemd.Units {
		p.Units = append(p.Units, Unit{Name: u.Name, Contents: u.Contents, Dropins: u.Dropins, Mask: u.Mask, Enabled: u.Enabled})
		if u.Enabled == nil {
			continue
		}
		verb := "disable"
		if *u.Enabled {
			verb = "enable"
		}
		if tmpl, inst, ok := instanceOf(u.Name); ok {
			key := verb + " " + tmpl
			if _, seen := instances[key]; !seen {
				order = append(order, key)
			}
			instances[key] = append(instances[key], inst)
			continue
		}
		order = append(order, verb+" "+u.Name)
	}
	for _, line := range order {
		if inst, ok := instances[line]; ok {
			line += " " + strings.Join(inst, " ")
		}
		p.Presets = append(p.Presets, line)
	}
	// sorted by unit, then verb, as Ignition writes them
	sort.SliceStable(p.Presets, func(i, j int) bool {
		vi, ui, _ := strings.Cut(p.Presets[i], " ")
		vj, uj, _ := strings.Cut(p.Presets[j], " ")
		if ui != uj {
			return ui < uj
		}
		return vi < vj
	})
	return p
}

// instanceOf splits "foo@bar.service" into "foo@.service" and "bar".
func instanceOf(name string) (string, string, bool) {
	at := strings.Index(name, "@")
	dot := strings.LastIndex(name, ".")
	if at <= 0 || dot <= at+1 {
		return "", "", false
	}
	return name[:at+1] + name[dot:], name[at+1 : dot], true
}

func isTrue(b *bool) bool { return b != nil && *b }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Print writes the plan for -dry-run. Sources are named, never their
// contents; password hashes are not shown.
func (p Plan) Print(w io.Writer) {
	for _, g := range p.Groups {
		fmt.Fprintf(w, "files: group %q%s\n", g.Name, idText(" gid", g.Gid, g.ShouldExist))
	}
	for _, u := range p.Users {
		extra := idText(" uid", u.UID, u.ShouldExist)
		if n := len(u.SSHAuthorizedKeys); n > 0 {
			extra += fmt.Sprintf(", %d SSH key(s)", n)
		}
		if u.PasswordHash != nil {
			extra += ", a password hash"
		}
		fmt.Fprintf(w, "files: user %q%s\n", u.Name, extra)
	}
	for _, n := range p.Nodes {
		line := fmt.Sprintf("files: %s %q", n.Kind, n.Path)
		if n.Mode != nil {
			line += fmt.Sprintf(" mode %04o", *n.Mode)
		}
		line += ownerText(n.User, n.Group)
		switch {
		case n.Kind == KindSymlink || n.Kind == KindHardlink:
			line += fmt.Sprintf(" -> %q", n.Target)
		case n.Contents != nil:
			line += " from " + sourceText(*n.Contents)
		}
		if len(n.Append) > 0 {
			line += fmt.Sprintf(", %d appended part(s)", len(n.Append))
		}
		if n.Overwrite {
			line += " (overwrite)"
		}
		fmt.Fprintln(w, line)
	}
	for _, u := range p.Units {
		var what []string
		if u.Contents != nil {
			what = append(what, "written")
		}
		if len(u.Dropins) > 0 {
			what = append(what, fmt.Sprintf("%d drop-in(s)", len(u.Dropins)))
		}
		if u.Mask != nil {
			what = append(what, map[bool]string{true: "masked", false: "unmasked"}[*u.Mask])
		}
		fmt.Fprintf(w, "files: unit %q: %s\n", u.Name, strings.Join(what, ", "))
	}
	for _, l := range p.Presets {
		fmt.Fprintf(w, "files: preset %q\n", l)
	}
}

func idText(label string, id *int, exist *bool) string {
	s := ""
	if id != nil {
		s = fmt.Sprintf("%s %d", label, *id)
	}
	if exist != nil && !*exist {
		s += " (delete)"
	}
	return s
}

func ownerText(u config.NodeUser, g config.NodeGroup) string {
	s := ""
	switch {
	case u.ID != nil:
		s += fmt.Sprintf(" uid %d", *u.ID)
	case u.Name != nil:
		s += fmt.Sprintf(" user %q", *u.Name)
	}
	switch {
	case g.ID != nil:
		s += fmt.Sprintf(" gid %d", *g.ID)
	case g.Name != nil:
		s += fmt.Sprintf(" group %q", *g.Name)
	}
	return s
}

func sourceText(r config.Resource) string {
	s := deref(r.Source)
	if strings.HasPrefix(s, "data:") {
		// the decoded size, as ignition-validate --explain gives it
		if b, err := config.DecodeDataURL(s); err == nil {
			return fmt.Sprintf("a data URL (%d bytes)", len(b))
		}
		return "a data URL that does not decode"
	}
	s = strconv.Quote(resource.Redact(s))
	if n := len(r.HTTPHeaders); n > 0 {
		s += fmt.Sprintf(" with %d header(s)", n)
	}
	return s
}
