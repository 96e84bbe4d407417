package config

import (
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	json "github.com/coreos/go-json"
)

// Messages shared with Ignition, so that scrapers of ignition-validate keep working.
const (
	msgDuplicate          = "duplicate entry defined"
	msgNoPath             = "path not specified"
	msgPathRelative       = "path not absolute"
	msgDirtyPath          = "path is not fully simplified"
	msgIllegalMode        = "illegal file mode"
	msgSpecialBits        = "setuid/setgid/sticky bits are not supported or functional in spec versions older than 3.6.0"
	msgOverwriteNoSource  = "overwrite must be false if source is unspecified"
	msgVerifyNoSource     = "source must be specified if verification is specified"
	msgCompression        = "invalid compression method"
	msgHashMalformed      = "malformed hash specifier"
	msgHashWrongSize      = "incorrect size for hash sum"
	msgHashUnknown        = "unrecognized hash function"
	msgInvalidURL         = "unable to parse url"
	msgInvalidScheme      = "invalid url scheme"
	msgS3VersionID        = "invalid S3 object VersionId"
	msgS3ARN              = "invalid S3 ARN format"
	msgSourceRequired     = "source is required"
	msgHeaderScheme       = "cannot use HTTP headers with this source scheme"
	msgHeaderNameEmpty    = "HTTP header name can't be empty"
	msgHeaderValueEmpty   = "unable to parse HTTP header"
	msgInvalidProxy       = "proxies must be http(s)"
	msgInsecureProxy      = "insecure plaintext HTTP proxy specified for HTTPS resources"
	msgBothIDAndName      = "cannot set both id and name"
	msgFileUnderLink      = "file path includes link in config"
	msgDirUnderLink       = "directory path includes link in config"
	msgLinkUnderLink      = "link path includes link in config"
	msgLinkTarget         = "link target is required"
	msgHardLinkDir        = "hard link target is a directory"
	msgHardLinkOwner      = "user/group ignored for hard link"
	msgPathConflictsUnit  = "path conflicts with systemd unit or dropin"
	msgPartsOverwritten   = "filesystem overwrites partitioned device"
	msgImplicitWipe       = "device matches disk with wipeTable enabled; filesystem will be wiped"
	msgDiskDevice         = "disk device is required"
	msgPartNumbers        = "partition numbers collide"
	msgPartOverlap        = "partitions overlap"
	msgZeroesNotExist     = "shouldExist is false for a partition and other partition(s) has start or size 0"
	msgDupLabels          = "cannot use the same partition label twice"
	msgNotExistWithOthers = "shouldExist specified false with other options also specified"
	msgLabelOrNumber      = "a partition number >= 1 or a label must be specified"
	msgPartLabelLong      = "partition labels may not exceed 36 characters"
	msgPartLabelColon     = "partition label will be truncated to text before the colon"
	msgGUID               = "doesn't match the form \"01234567-89AB-CDEF-EDCB-A98765432101\""
	msgFormatNeeded       = "format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified"
	msgFormatInvalid      = "invalid filesystem format"
	msgLabelNeedsFormat   = "filesystem must specify format if label is specified"
	msgRaidLevelRequired  = "raid level is required"
	msgRaidSpares         = "spares unsupported for linear and raid0 arrays"
	msgRaidLevel          = "unrecognized raid level"
	msgRaidDevices        = "raid devices required"
	msgLuksSlash          = "device names cannot contain slashes"
	msgLuksLabel          = "luks device labels cannot be longer than 47 characters"
	msgLuksKeyFile        = "invalid key-file source"
	msgClevisWithOthers   = "cannot use custom clevis config with tpm2, tang, or threshold"
	msgClevisPin          = "missing required custom clevis pin"
	msgClevisPinUnknown   = "unsupported clevis pin"
	msgClevisConfig       = "missing required custom clevis config"
	msgTangThumbprint     = "thumbprint is required"
	msgTangAdvertisement  = "advertisement is not valid JSON"
	msgCexWithClevis      = "cannot use cex with clevis"
	msgCexWithKeyFile     = "cannot use key file with cex"
	msgUnitExt            = "invalid systemd unit extension"
	msgNameComponent      = "name must be a single file name: no slash, no whitespace or control characters, not \".\" or \"..\""
	msgDropinExt          = "invalid systemd drop-in extension"
	msgVirtiofsTag        = "virtiofs tags cannot be longer than 36 bytes"
	msgVirtiofsOption     = "virtiofs filesystems cannot have a label, uuid, wipeFilesystem or options"
)

// validator walks the tree in Ignition's order (each object's own checks,
// then its fields in declaration order), then the duplicate checks.
type validator struct {
	v    Version
	r    *Report
	tree *lazyTree // the parsed JSON, for the few checks that depend on presence

}

// present reports whether the config spells out the object at p (3.2.0
// distinguishes an empty clevis custom object from an absent one).
func (c *validator) present(p Path) bool {
	root := c.tree.get()
	if root == nil {
		return false
	}
	cur := json.Node(*root)
	for _, s := range p.s[:p.n] {
		if s.Key != "" {
			m, ok := cur.Value.(map[string]json.Node)
			if !ok {
				return false
			}
			if cur, ok = lookupKey(m, s.Key); !ok {
				return false
			}
		} else {
			a, ok := cur.Value.([]json.Node)
			if !ok || s.Index >= len(a) {
				return false
			}
			cur = a[s.Index]
		}
	}
	return cur.Value != nil
}

func (c *validator) err(p Path, msg string)  { c.r.errorf(p, msg) }
func (c *validator) warn(p Path, msg string) { c.r.warnf(p, msg) }

func (c *validator) config(cfg *Config) {
	var p Path
	// files, directories and links may not take the path of a unit or drop-in with contents
	unitPaths := map[string]struct{}{}
	for _, u := range cfg.Systemd.Units {
		if notEmpty(u.Contents) {
			unitPaths["/etc/systemd/system/"+u.Name] = struct{}{}
		}
		for _, d := range u.Dropins {
			if notEmpty(d.Contents) {
				unitPaths["/etc/systemd/system/"+u.Name+".d/"+d.Name] = struct{}{}
			}
		}
	}
	if len(unitPaths) > 0 {
		st := p.key("storage")
		for i, f := range cfg.Storage.Files {
			if _, ok := unitPaths[f.Path]; ok {
				c.err(st.key("files").idx(i).key("path"), msgPathConflictsUnit)
			}
		}
		for i, d := range cfg.Storage.Directories {
			if _, ok := unitPaths[d.Path]; ok {
				c.err(st.key("directories").idx(i).key("path"), msgPathConflictsUnit)
			}
		}
		for i, l := range cfg.Storage.Links {
			if _, ok := unitPaths[l.Path]; ok {
				c.err(st.key("links").idx(i).key("path"), msgPathConflictsUnit)
			}
		}
	}
	c.ignition(&cfg.Ignition, p.key("ignition"))
	c.passwd(&cfg.Passwd, p.key("passwd"))
	c.storage(&cfg.Storage, p.key("storage"))
	c.systemd(&cfg.Systemd, p.key("systemd"))
}

func (c *validator) ignition(ig *Ignition, p Path) {
	cp := p.key("config")
	for i := range ig.Config.Merge {
		c.requiredSource(&ig.Config.Merge[i], cp.key("merge").idx(i))
	}
	for i := range ig.Config.Merge {
		c.configRef(&ig.Config.Merge[i], cp.key("merge").idx(i))
	}
	c.configRef(&ig.Config.Replace, cp.key("replace"))
	c.proxyURL(ig.Proxy.HTTPProxy, p.key("proxy").key("httpProxy"), true)
	c.proxyURL(ig.Proxy.HTTPSProxy, p.key("proxy").key("httpsProxy"), false)
	tp := p.key("security").key("tls").key("certificateAuthorities")
	cas := ig.Security.TLS.CertificateAuthorities
	if c.v.requiresRefSource() {
		for i := range cas {
			c.requiredSource(&cas[i], tp.idx(i))
		}
	}
	for i := range cas {
		if !c.v.requiresRefSource() {
			// 3.0.0 certificate authorities always have a source string
			s := ""
			if cas[i].Source != nil {
				s = *cas[i].Source
			}
			if msg := c.url(s); msg != "" {
				c.err(tp.idx(i).key("source"), msg)
			}
			c.verification(&cas[i].Verification, tp.idx(i).key("verification"))
			continue
		}
		c.resource(&cas[i], tp.idx(i))
	}
}

// configRef checks a merged or replacing config reference. In 3.0.0 these
// have only a source and a hash, and a hash without a source is allowed.
func (c *validator) configRef(res *Resource, p Path) {
	if c.v.requiresRefSource() {
		c.resource(res, p)
		return
	}
	if notEmpty(res.Source) {
		if msg := c.url(*res.Source); msg != "" {
			c.err(p.key("source"), msg)
		}
	}
	c.verification(&res.Verification, p.key("verification"))
}

// requiredSource is the check on merged configs and CAs (3.1.0 and newer).
func (c *validator) requiredSource(res *Resource, p Path) {
	if !c.v.requiresRefSource() {
		return
	}
	if isEmpty(res.Source) {
		c.err(p, msgSourceRequired)
		return
	}
	if msg := c.url(*res.Source); msg != "" {
		c.err(p, msg)
	}
}

func (c *validator) resource(res *Resource, p Path) {
	if res.Compression != nil && *res.Compression != "" && *res.Compression != "gzip" {
		c.err(p.key("compression"), msgCompression)
	}
	if res.Verification.Hash != nil && res.Source == nil {
		c.err(p.key("verification").key("hash"), msgVerifyNoSource)
	}
	if notEmpty(res.Source) {
		if msg := c.url(*res.Source); msg != "" {
			c.err(p.key("source"), msg)
		}
	}
	if len(res.HTTPHeaders) > 0 {
		if isEmpty(res.Source) {
			c.err(p.key("httpHeaders"), msgInvalidURL)
		} else if u, err := url.Parse(*res.Source); err != nil {
			c.err(p.key("httpHeaders"), msgInvalidURL)
		} else if u.Scheme != "http" && u.Scheme != "https" {
			c.err(p.key("httpHeaders"), msgHeaderScheme)
		}
	}
	for i, h := range res.HTTPHeaders {
		hp := p.key("httpHeaders").idx(i)
		if h.Name == "" {
			c.err(hp.key("name"), msgHeaderNameEmpty)
		}
		if h.Value != nil && *h.Value == "" {
			c.err(hp.key("value"), msgHeaderValueEmpty)
		}
	}
	c.verification(&res.Verification, p.key("verification"))
}

func (c *validator) verification(v *Verification, p Path) {
	if v.Hash == nil {
		return
	}
	p = p.key("hash")
	fn, sum, ok := strings.Cut(*v.Hash, "-")
	if !ok {
		c.err(p, msgHashMalformed)
		return
	}
	var size int
	switch {
	case fn == "sha512":
		size = 128
	case fn == "sha256" && c.v.hasSHA256():
		size = 64
	default:
		c.err(p, msgHashUnknown)
		return
	}
	if len(sum) != size {
		c.err(p, msgHashWrongSize)
	}
}

// url checks a resource URL as this spec version allows; "" means valid.
func (c *validator) url(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return msgInvalidURL
	}
	switch u.Scheme {
	case "http", "https", "tftp":
		return ""
	case "gs":
		if c.v.hasGS() {
			return ""
		}
	case "s3":
		if v, ok := u.Query()["versionId"]; ok && (len(v) == 0 || v[0] == "") {
			return msgS3VersionID
		}
		return ""
	case "arn":
		if !c.v.hasARN() {
			break
		}
		return checkS3ARN(u)
	case "data":
		if err := checkDataURL(s); err != nil {
			return "invalid data URL: " + err.Error()
		}
		return ""
	}
	return msgInvalidScheme
}

// checkS3ARN accepts arn:<partition>:s3:<region>:<account>:<bucket>/<key> and
// arn:<partition>:s3:<region>:<account>:accesspoint/<name>/object/<key>.
func checkS3ARN(u *url.URL) string {
	full := "arn:" + u.Opaque
	if strings.Count(full, ":") < 5 {
		return msgS3ARN
	}
	sections := strings.SplitN(full, ":", 6)
	if sections[2] != "s3" {
		return msgS3ARN
	}
	slashes := strings.Count(full, "/")
	if strings.HasPrefix(sections[5], "accesspoint/") {
		if slashes < 2 {
			return msgS3ARN
		}
	} else if slashes < 1 {
		return msgS3ARN
	}
	if v, ok := u.Query()["versionId"]; ok && (len(v) == 0 || v[0] == "") {
		return msgS3VersionID
	}
	return ""
}

func (c *validator) proxyURL(s *string, p Path, httpOK bool) {
	if s == nil {
		return
	}
	u, err := url.Parse(*s)
	if err != nil {
		c.err(p, msgInvalidURL)
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		c.err(p, msgInvalidProxy)
		return
	}
	if u.Scheme == "http" && !httpOK {
		c.warn(p, msgInsecureProxy)
	}
}

func checkPath(p string) string {
	switch {
	case p == "":
		return msgNoPath
	case !path.IsAbs(p):
		return msgPathRelative
	case path.Clean(p) != p:
		return msgDirtyPath
	}
	return ""
}

func (c *validator) path(s string, p Path) {
	if msg := checkPath(s); msg != "" {
		c.err(p, msg)
	}
}

func (c *validator) mode(m *int, p Path) {
	if m == nil {
		return
	}
	if *m < 0 || *m > 0o7777 {
		c.err(p, msgIllegalMode)
	}
	if !c.v.honoursSpecialModeBits() && uint32(*m)&0o7000 != 0 {
		c.warn(p, msgSpecialBits)
	}
}

// maxID is the largest usable user or group id: chown(2) reads the id as a
// 32-bit uid_t and takes 4294967295 ((uid_t)-1) as "leave unchanged", so a
// larger id would wrap (4294967296 to root) and that one would do nothing.
// Ignition accepts them all; we refuse them.
const maxID = 4294967294

// id checks a user or group id (what is "uid" or "gid").
func (c *validator) id(id *int, what string, p Path) {
	if id != nil && (*id < 0 || int64(*id) > maxID) {
		c.err(p, what+" "+itoa(*id)+" out of range (0 to 4294967294)")
	}
}

func (c *validator) passwd(pw *Passwd, p Path) {
	for i := range pw.Groups {
		c.id(pw.Groups[i].Gid, "gid", p.key("groups").idx(i).key("gid"))
	}
	for i := range pw.Users {
		c.id(pw.Users[i].UID, "uid", p.key("users").idx(i).key("uid"))
	}
}

func (c *validator) owner(n *Node, p Path) {
	c.id(n.User.ID, "uid", p.key("user").key("id"))
	c.id(n.Group.ID, "gid", p.key("group").key("id"))
	if n.Group.ID != nil && notEmpty(n.Group.Name) {
		c.err(p.key("group"), msgBothIDAndName)
	}
	if n.User.ID != nil && notEmpty(n.User.Name) {
		c.err(p.key("user"), msgBothIDAndName)
	}
}

func (c *validator) storage(s *Storage, p Path) {
	c.nodesUnderLinks(s, p)
	disks := make(map[string]*Disk, len(s.Disks))
	for i := range s.Disks {
		disks[s.Disks[i].Device] = &s.Disks[i]
	}
	for i, f := range s.Filesystems {
		if d, ok := disks[f.Device]; ok {
			if len(d.Partitions) > 0 {
				c.warn(p.key("filesystems").idx(i).key("device"), msgPartsOverwritten)
			} else if !isTrue(f.WipeFilesystem) && isTrue(d.WipeTable) {
				c.warn(p.key("filesystems").idx(i).key("device"), msgImplicitWipe)
			}
		}
	}
	for i := range s.Directories {
		d := &s.Directories[i]
		dp := p.key("directories").idx(i)
		c.path(d.Path, dp.key("path"))
		c.mode(d.Mode, dp.key("mode"))
		c.owner(&d.Node, dp)
	}
	for i := range s.Disks {
		c.disk(&s.Disks[i], p.key("disks").idx(i))
	}
	for i := range s.Files {
		f := &s.Files[i]
		fp := p.key("files").idx(i)
		c.path(f.Path, fp.key("path"))
		c.mode(f.Mode, fp.key("mode"))
		if isTrue(f.Overwrite) && f.Contents.Source == nil {
			c.err(fp.key("overwrite"), msgOverwriteNoSource)
		}
		c.owner(&f.Node, fp)
		for j := range f.Append {
			c.resource(&f.Append[j], fp.key("append").idx(j))
		}
		c.resource(&f.Contents, fp.key("contents"))
	}
	for i := range s.Filesystems {
		c.filesystem(&s.Filesystems[i], p.key("filesystems").idx(i))
	}
	for i := range s.Links {
		// links have only the node's own check: the path
		c.path(s.Links[i].Path, p.key("links").idx(i).key("path"))
		c.owner(&s.Links[i].Node, p.key("links").idx(i))
	}
	for i := range s.Luks {
		c.luks(&s.Luks[i], p.key("luks").idx(i))
	}
	for i := range s.Raid {
		c.raid(&s.Raid[i], p.key("raid").idx(i))
	}
}

// nodesUnderLinks reports files, directories and links whose path runs
// through a link the config creates. Linear: each node's ancestors are looked
// up in a set of link paths (Ignition compares every pair).
func (c *validator) nodesUnderLinks(s *Storage, p Path) {
	if len(s.Links) == 0 {
		return
	}
	links := make(map[string]int, len(s.Links))
	for _, l := range s.Links {
		links[l.Path]++
	}
	// under counts how many links are proper prefixes (path + "/") of x.
	under := func(x string) int {
		n := 0
		for i := len(x) - 1; i >= 0; i-- {
			if x[i] == '/' {
				n += links[x[:i]]
			}
		}
		return n
	}
	for i, d := range s.Directories {
		for range under(d.Path) {
			c.err(p.key("directories").idx(i), msgDirUnderLink)
		}
	}
	for i, f := range s.Files {
		for range under(f.Path) {
			c.err(p.key("files").idx(i), msgFileUnderLink)
		}
	}
	for i, l := range s.Links {
		lp := p.key("links").idx(i)
		for range under(l.Path) {
			c.err(lp, msgLinkUnderLink)
		}
		c.linkChecks(s, &s.Links[i], lp)
	}
}

func (c *validator) linkChecks(s *Storage, l *Link, lp Path) {
	target := ""
	if l.Target == nil || *l.Target == "" {
		if c.v.requiresLinkTarget() {
			c.err(lp.key("target"), msgLinkTarget)
			return
		}
	} else {
		target = *l.Target
	}
	if !isTrue(l.Hard) {
		return
	}
	t := path.Clean(target)
	if !path.IsAbs(t) {
		t = path.Join(l.Path, target)
	}
	for _, d := range s.Directories {
		if d.Path == t {
			c.err(lp, msgHardLinkDir)
		}
	}
	if l.User.ID != nil {
		c.warn(lp.key("user").key("id"), msgHardLinkOwner)
	}
	if l.User.Name != nil {
		c.warn(lp.key("user").key("name"), msgHardLinkOwner)
	}
	if l.Group.ID != nil {
		c.warn(lp.key("group").key("id"), msgHardLinkOwner)
	}
	if l.Group.Name != nil {
		c.warn(lp.key("group").key("name"), msgHardLinkOwner)
	}
}

func (c *validator) disk(d *Disk, p Path) {
	pp := p.key("partitions")
	parts := d.Partitions
	defer func() {
		for i := range parts {
			c.partition(&parts[i], pp.idx(i))
		}
	}()
	if d.Device == "" {
		c.err(p.key("device"), msgDiskDevice)
		return
	}
	c.path(d.Device, p.key("device"))
	// numbers collide: the second partition that reuses a number
	seen := map[int]bool{}
	for i, pt := range parts {
		if pt.Number != 0 {
			if seen[pt.Number] {
				c.err(pp.idx(i), msgPartNumbers)
				break
			}
			seen[pt.Number] = true
		}
	}
	if i, ok := overlap(parts); ok {
		c.err(pp.idx(i), msgPartOverlap)
	}
	hasZero, hasGone := false, false
	for _, pt := range parts {
		hasGone = hasGone || isFalse(pt.ShouldExist)
		hasZero = hasZero || pt.Number == 0
	}
	if hasZero && hasGone {
		c.err(pp, msgZeroesNotExist)
	}
	labels := map[string]bool{}
	for i, pt := range parts {
		if pt.Label != nil {
			if labels[*pt.Label] {
				c.err(pp.idx(i), msgDupLabels)
				break
			}
			labels[*pt.Label] = true
		}
	}
}

// overlap finds the first pair of partitions with explicit, non-zero starts
// and sizes set whose ranges intersect, and returns the index of the second
// of the pair as Ignition reports it.
func overlap(parts []Partition) (int, bool) {
	end := func(pt *Partition) int {
		if *pt.SizeMiB == 0 {
			return *pt.StartMiB
		}
		return *pt.StartMiB + *pt.SizeMiB - 1
	}
	placed := func(pt *Partition) bool { return pt.StartMiB != nil && pt.SizeMiB != nil && *pt.StartMiB != 0 }
	for a := range parts {
		pa := &parts[a]
		if !placed(pa) {
			continue
		}
		for b := range parts {
			pb := &parts[b]
			if a == b || !placed(pb) {
				continue
			}
			s, e, os, oe := *pa.StartMiB, end(pa), *pb.StartMiB, end(pb)
			if (s >= os && s <= oe) || (e >= os && e <= oe) || (s < os && e > oe) {
				return b, true
			}
		}
	}
	return 0, false
}

func (c *validator) partition(pt *Partition, p Path) {
	if isFalse(pt.ShouldExist) && (pt.Label != nil || notEmpty(pt.TypeGUID) || notEmpty(pt.GUID) || pt.StartMiB != nil || pt.SizeMiB != nil) {
		c.err(p, msgNotExistWithOthers)
	}
	if pt.Number == 0 && pt.Label == nil {
		c.err(p, msgLabelOrNumber)
	}
	if pt.Label != nil {
		if len(*pt.Label) > 36 {
			c.err(p.key("label"), msgPartLabelLong)
		} else if strings.Contains(*pt.Label, ":") {
			c.err(p.key("label"), msgPartLabelColon)
		}
	}
	if pt.GUID != nil && !isGUID(*pt.GUID) {
		c.err(p.key("guid"), msgGUID)
	}
	if pt.TypeGUID != nil && !isGUID(*pt.TypeGUID) {
		c.err(p.key("typeGuid"), msgGUID)
	}
}

// isGUID accepts "" (unset) or 8-4-4-4-12 hex digits in either case.
func isGUID(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F') {
				return false
			}
		}
	}
	return true
}

var labelLimits = map[string]int{"ext4": 16, "btrfs": 256, "xfs": 12, "swap": 15, "vfat": 11}

func (c *validator) filesystem(f *Filesystem, p Path) {
	if f.Path != nil && *f.Path != "" {
		c.path(*f.Path, p.key("path"))
	}
	format := ""
	if f.Format != nil {
		format = *f.Format
	}
	virtiofs := format == "virtiofs" && c.v.hasFormatVirtiofs()
	if virtiofs {
		// the device is a virtiofs tag, not a path
		if f.Device == "" {
			c.err(p.key("device"), msgNoPath)
		} else if len(f.Device) > 36 {
			c.err(p.key("device"), msgVirtiofsTag)
		}
	} else {
		c.path(f.Device, p.key("device"))
	}
	if format == "" {
		if notEmpty(f.Path) || notEmpty(f.Label) || notEmpty(f.UUID) || isTrue(f.WipeFilesystem) ||
			(len(f.MountOptions) != 0 && c.v.mountOptionsNeedFormat()) || len(f.Options) != 0 {
			c.err(p.key("format"), msgFormatNeeded)
		}
	} else {
		switch format {
		case "ext4", "btrfs", "xfs", "swap", "vfat":
		case "none":
			if !c.v.hasFormatNone() {
				c.err(p.key("format"), msgFormatInvalid)
			}
		default:
			if !virtiofs {
				c.err(p.key("format"), msgFormatInvalid)
			}
		}
	}
	if notEmpty(f.Label) {
		if format == "" {
			c.err(p.key("label"), msgLabelNeedsFormat)
		} else if max, ok := labelLimits[format]; ok && len(*f.Label) > max {
			c.err(p.key("label"), "filesystem labels cannot be longer than "+itoa(max)+" characters when using "+format)
		}
	}
	if virtiofs && (notEmpty(f.Label) || notEmpty(f.UUID) || isTrue(f.WipeFilesystem) || len(f.Options) != 0) {
		c.err(p, msgVirtiofsOption)
	}
}

func (c *validator) luks(l *Luks, p Path) {
	if strings.Contains(l.Name, "/") {
		c.err(p.key("name"), msgLuksSlash)
	} else if l.Name != "" && !oneComponent(l.Name) {
		c.err(p.key("name"), msgNameComponent)
	}
	if notEmpty(l.Label) && len(*l.Label) > 47 {
		c.err(p.key("label"), msgLuksLabel)
	}
	if isEmpty(l.Device) {
		c.err(p.key("device"), msgDiskDevice)
	} else {
		c.path(*l.Device, p.key("device"))
	}
	cl := &l.Clevis
	others := len(cl.Tang) > 0 || isTrue(cl.Tpm2) || (cl.Threshold != nil && *cl.Threshold != 0)
	customSet := notEmpty(cl.Custom.Pin)
	if c.v.clevisCustomIsPointer() {
		customSet = c.present(p.key("clevis").key("custom"))
	}
	if customSet && others {
		c.err(p.key("clevis"), msgClevisWithOthers)
	}
	if notEmpty(l.KeyFile.Source) && c.url(*l.KeyFile.Source) != "" {
		c.err(p.key("keys"), msgLuksKeyFile)
	}
	clevisPresent := notEmpty(cl.Custom.Pin) || others
	if c.v.checksCex() && isTrue(l.Cex.Enabled) {
		if clevisPresent {
			c.err(p.key("cex"), msgCexWithClevis)
		}
		if notEmpty(l.KeyFile.Source) {
			c.err(p.key("cex"), msgCexWithKeyFile)
		}
	}
	c.clevisCustom(&cl.Custom, p.key("clevis").key("custom"))
	for i := range cl.Tang {
		c.tang(&cl.Tang[i], p.key("clevis").key("tang").idx(i))
	}
	c.resource(&l.KeyFile, p.key("keyFile"))
}

func (c *validator) clevisCustom(cu *ClevisCustom, p Path) {
	if c.v.clevisCustomIsPointer() {
		// 3.2.0: pin and config are plain strings
		pin, cfg := deref(cu.Pin), deref(cu.Config)
		if pin == "" && cfg == "" {
			return
		}
		if pin != "tpm2" && pin != "tang" && pin != "sss" {
			c.err(p.key("pin"), msgClevisPinUnknown)
		}
		if cfg == "" {
			c.err(p.key("config"), msgClevisConfig)
		}
		return
	}
	if isEmpty(cu.Pin) && isEmpty(cu.Config) && !isTrue(cu.NeedsNetwork) {
		return
	}
	if isEmpty(cu.Pin) {
		c.err(p.key("pin"), msgClevisPin)
	} else if c.v.restrictsClevisPins() {
		switch *cu.Pin {
		case "tpm2", "tang", "sss":
		default:
			c.err(p.key("pin"), msgClevisPinUnknown)
		}
	}
	if isEmpty(cu.Config) {
		c.err(p.key("config"), msgClevisConfig)
	}
}

func (c *validator) tang(t *Tang, p Path) {
	if u, err := url.Parse(t.URL); err != nil {
		c.err(p.key("url"), msgInvalidURL)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		c.err(p.key("url"), msgInvalidScheme)
	}
	if isEmpty(t.Thumbprint) {
		c.err(p.key("thumbprint"), msgTangThumbprint)
	}
	if c.v.checksTangAdvertisement() && notEmpty(t.Advertisement) && !validJSONValue(*t.Advertisement) {
		c.err(p.key("advertisement"), msgTangAdvertisement)
	}
}

func (c *validator) raid(r *Raid, p Path) {
	if r.Name != "" && !oneComponent(r.Name) {
		c.err(p.key("name"), msgNameComponent)
	}
	lp := p.key("level")
	switch level := deref(r.Level); level {
	case "":
		if c.v.requiresRaidLevel() {
			c.err(lp, msgRaidLevelRequired)
		} else {
			c.err(lp, msgRaidLevel)
		}
	case "linear", "raid0", "0", "stripe":
		if r.Spares != nil && *r.Spares != 0 {
			c.err(lp, msgRaidSpares)
		}
	case "raid1", "1", "mirror", "raid4", "4", "raid5", "5", "raid6", "6", "raid10", "10":
	default:
		c.err(lp, msgRaidLevel)
	}
	if len(r.Devices) == 0 {
		c.err(p.key("devices"), msgRaidDevices)
	}
	for i, d := range r.Devices {
		c.path(d, p.key("devices").idx(i))
	}
}

// templateOf returns "foo@.service" for an instance "foo@bar.service".
func templateOf(name string) (string, bool) {
	const ext = ".service"
	if !strings.HasSuffix(name, ext) || len(name) < 1 {
		return "", false
	}
	at := strings.IndexByte(name[1:], '@') + 1
	if at < 1 || at+1 >= len(name)-len(ext) || strings.Contains(name[:len(name)-len(ext)], "\n") {
		return "", false
	}
	return name[:at] + "@" + ext, true
}

func (c *validator) systemd(s *Systemd, p Path) {
	up := p.key("units")
	var byName map[string]*Unit
	for i := range s.Units {
		u := &s.Units[i]
		if !isTrue(u.Enabled) || !strings.Contains(u.Name, "@") {
			continue
		}
		tmpl, ok := templateOf(u.Name)
		if !ok {
			continue
		}
		if byName == nil {
			byName = make(map[string]*Unit, len(s.Units))
			for j := range s.Units {
				byName[s.Units[j].Name] = &s.Units[j]
			}
		}
		t, ok := byName[tmpl]
		if !ok || !notEmpty(t.Contents) {
			continue
		}
		opts, err := unit.DeserializeOptions(strings.NewReader(*t.Contents))
		if err == nil && !hasInstall(opts) {
			c.warn(up.idx(i).key("contents"), "template unit \""+tmpl+"\" for \""+u.Name+"\" doesn't have Install section")
		}
	}
	for i := range s.Units {
		u := &s.Units[i]
		ip := up.idx(i)
		if !validUnitExt(path.Ext(u.Name)) {
			c.err(ip.key("name"), msgUnitExt)
		}
		if u.Name != "" && !oneComponent(u.Name) {
			c.err(ip.key("name"), msgNameComponent)
		}
		if u.Contents != nil {
			opts, err := unit.DeserializeOptions(strings.NewReader(*u.Contents))
			if err != nil {
				c.err(ip.key("contents"), "invalid unit content: "+err.Error())
			} else if isTrue(u.Enabled) && *u.Contents != "" && !hasInstall(opts) {
				c.warn(ip.key("contents"), "unit \""+u.Name+"\" is enabled, but has no install section so enable does nothing")
			}
		}
		for j := range u.Dropins {
			d := &u.Dropins[j]
			dp := ip.key("dropins").idx(j)
			if d.Contents != nil {
				if _, err := unit.DeserializeOptions(strings.NewReader(*d.Contents)); err != nil {
					c.err(dp.key("contents"), "invalid unit content: "+err.Error())
				}
			}
			if path.Ext(d.Name) != ".conf" {
				c.err(dp.key("name"), msgDropinExt)
			}
			if d.Name != "" && !oneComponent(d.Name) {
				c.err(dp.key("name"), msgNameComponent)
			}
		}
	}
}

func hasInstall(opts []*unit.UnitOption) bool {
	for _, o := range opts {
		if o.Section == "Install" {
			return true
		}
	}
	return false
}

// oneComponent says whether a name (of a unit, drop-in, LUKS volume or
// RAID array) can only name one entry of its directory: a name with a
// slash or "..", used as a path under /etc/systemd/system, /dev/md or
// /etc/luks, would reach another directory.
func oneComponent(name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

func validUnitExt(ext string) bool {
	switch ext {
	case ".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer", ".snapshot", ".slice", ".scope":
		return true
	}
	return false
}

func isTrue(b *bool) bool     { return b != nil && *b }
func isFalse(b *bool) bool    { return b != nil && !*b }
func isEmpty(s *string) bool  { return s == nil || *s == "" }
func notEmpty(s *string) bool { return s != nil && *s != "" }
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func itoa(i int) string { return strconv.Itoa(i) }

// validJSONValue: the text decodes as a JSON value (numbers must fit a
// float64, as for Ignition's check).
func validJSONValue(s string) bool {
	var v any
	return json.Unmarshal([]byte(s), &v) == nil
}
