package config

import "strconv"

// Duplicate checks, in the order Ignition makes them: every keyed list of
// every object, depth first. Files, directories and links share one key
// space, as do kernelArguments.shouldExist and shouldNotExist. Lists whose
// duplicates are meaningful (file append, filesystem and RAID and LUKS
// options) are not checked.

type dupSet map[string]struct{}

func (c *validator) dup(set dupSet, key string, p Path) {
	if _, ok := set[key]; ok {
		c.err(p, msgDuplicate)
		return
	}
	set[key] = struct{}{}
}

func (c *validator) dupStrings(l []string, p Path, set dupSet) {
	if len(l) == 0 {
		return
	}
	if set == nil {
		set = make(dupSet, len(l))
	}
	for i, s := range l {
		c.dup(set, s, p.idx(i))
	}
}

func sourceKey(r *Resource) string { return deref(r.Source) }

func (c *validator) dupResource(r *Resource, p Path) {
	if len(r.HTTPHeaders) == 0 {
		return
	}
	set := make(dupSet, len(r.HTTPHeaders))
	for i, h := range r.HTTPHeaders {
		c.dup(set, h.Name, p.key("httpHeaders").idx(i))
	}
}

func (c *validator) dupResources(l []Resource, p Path, checkList bool) {
	var set dupSet
	if checkList && len(l) > 0 {
		set = make(dupSet, len(l))
		for i := range l {
			c.dup(set, sourceKey(&l[i]), p.idx(i))
		}
	}
	for i := range l {
		c.dupResource(&l[i], p.idx(i))
	}
}

func partitionKey(pt *Partition) string {
	if pt.Number != 0 {
		return "number:" + strconv.Itoa(pt.Number)
	}
	if pt.Label != nil {
		return "label:" + *pt.Label
	}
	return ""
}

func (c *validator) dups(cfg *Config) {
	var p Path
	ig := p.key("ignition")
	c.dupResources(cfg.Ignition.Config.Merge, ig.key("config").key("merge"), true)
	c.dupResource(&cfg.Ignition.Config.Replace, ig.key("config").key("replace"))
	c.dupStrings(cfg.Ignition.Proxy.NoProxy, ig.key("proxy").key("noProxy"), nil)
	c.dupResources(cfg.Ignition.Security.TLS.CertificateAuthorities, ig.key("security").key("tls").key("certificateAuthorities"), true)

	ka := p.key("kernelArguments")
	kset := dupSet{}
	c.dupStrings(cfg.KernelArguments.ShouldExist, ka.key("shouldExist"), kset)
	c.dupStrings(cfg.KernelArguments.ShouldNotExist, ka.key("shouldNotExist"), kset)

	pw := p.key("passwd")
	if g := cfg.Passwd.Groups; len(g) > 0 {
		set := make(dupSet, len(g))
		for i := range g {
			c.dup(set, g[i].Name, pw.key("groups").idx(i))
		}
	}
	if u := cfg.Passwd.Users; len(u) > 0 {
		set := make(dupSet, len(u))
		for i := range u {
			c.dup(set, u[i].Name, pw.key("users").idx(i))
		}
	}
	for i := range cfg.Passwd.Users {
		u := &cfg.Passwd.Users[i]
		up := pw.key("users").idx(i)
		c.dupStrings(u.Groups, up.key("groups"), nil)
		c.dupStrings(u.SSHAuthorizedKeys, up.key("sshAuthorizedKeys"), nil)
	}

	st := p.key("storage")
	s := &cfg.Storage
	nodes := make(dupSet, len(s.Files)+len(s.Directories)+len(s.Links))
	for i := range s.Directories {
		c.dup(nodes, s.Directories[i].Path, st.key("directories").idx(i))
	}
	if len(s.Disks) > 0 {
		set := make(dupSet, len(s.Disks))
		for i := range s.Disks {
			c.dup(set, s.Disks[i].Device, st.key("disks").idx(i))
		}
	}
	for i := range s.Files {
		c.dup(nodes, s.Files[i].Path, st.key("files").idx(i))
	}
	if len(s.Filesystems) > 0 {
		set := make(dupSet, len(s.Filesystems))
		for i := range s.Filesystems {
			c.dup(set, s.Filesystems[i].Device, st.key("filesystems").idx(i))
		}
	}
	for i := range s.Links {
		c.dup(nodes, s.Links[i].Path, st.key("links").idx(i))
	}
	if len(s.Luks) > 0 {
		set := make(dupSet, len(s.Luks))
		for i := range s.Luks {
			c.dup(set, s.Luks[i].Name, st.key("luks").idx(i))
		}
	}
	if len(s.Raid) > 0 {
		set := make(dupSet, len(s.Raid))
		for i := range s.Raid {
			c.dup(set, s.Raid[i].Name, st.key("raid").idx(i))
		}
	}
	for i := range s.Disks {
		parts := s.Disks[i].Partitions
		if len(parts) == 0 {
			continue
		}
		set := make(dupSet, len(parts))
		for j := range parts {
			c.dup(set, partitionKey(&parts[j]), st.key("disks").idx(i).key("partitions").idx(j))
		}
	}
	for i := range s.Files {
		f := &s.Files[i]
		fp := st.key("files").idx(i)
		c.dupResources(f.Append, fp.key("append"), false)
		c.dupResource(&f.Contents, fp.key("contents"))
	}
	for i := range s.Luks {
		l := &s.Luks[i]
		lp := st.key("luks").idx(i)
		c.dupStrings(l.OpenOptions, lp.key("openOptions"), nil)
		if len(l.Clevis.Tang) > 0 {
			set := make(dupSet, len(l.Clevis.Tang))
			for j := range l.Clevis.Tang {
				c.dup(set, l.Clevis.Tang[j].URL, lp.key("clevis").key("tang").idx(j))
			}
		}
		c.dupResource(&l.KeyFile, lp.key("keyFile"))
	}
	for i := range s.Raid {
		c.dupStrings(s.Raid[i].Devices, st.key("raid").idx(i).key("devices"), nil)
	}

	units := cfg.Systemd.Units
	up := p.key("systemd").key("units")
	if len(units) > 0 {
		set := make(dupSet, len(units))
		for i := range units {
			c.dup(set, units[i].Name, up.idx(i))
		}
	}
	for i := range units {
		if len(units[i].Dropins) == 0 {
			continue
		}
		set := make(dupSet, len(units[i].Dropins))
		for j := range units[i].Dropins {
			c.dup(set, units[i].Dropins[j].Name, up.idx(i).key("dropins").idx(j))
		}
	}
}
