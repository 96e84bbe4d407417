package config

import (
	"fmt"
	"strings"
	"testing"
)

// ruleCase is one validation rule, tried on every supported version: from
// `from` to `until` (inclusive; zero = newest) the rule must report an entry
// of the given severity, path and message whose line and column point at
// `at` in the source; on other versions (where the fields exist) it must not.
type ruleCase struct {
	name     string
	body     string // the config after "ignition", one or more lines
	from     Version
	until    Version // zero: no upper bound
	needs    Version // oldest version whose schema has the fields used
	sev      Severity
	path     string
	msg      string
	at       string // text found at the reported line and column ("{" = just inside an object)
	ignition string // extra keys inside "ignition", optional
}

var ruleCases = []ruleCase{
	{name: "relative file path", body: `"storage": {"files": [
  {"path": "etc/hostname"}]}`, sev: SeverityError, path: "$.storage.files.0.path", msg: "path not absolute", at: `"etc/hostname"`},
	{name: "unclean file path", body: `"storage": {"files": [{"path": "/etc/../x"}]}`, sev: SeverityError, path: "$.storage.files.0.path", msg: "path is not fully simplified", at: `"/etc/../x"`},
	{name: "missing file path", body: `"storage": {"files": [{"mode": 420}]}`, sev: SeverityError, path: "$.storage.files.0.path", msg: "path not specified", at: "{"},
	{name: "relative directory path", body: `"storage": {"directories": [{"path": "var/x"}]}`, sev: SeverityError, path: "$.storage.directories.0.path", msg: "path not absolute", at: `"var/x"`},
	{name: "relative link path", body: `"storage": {"links": [{"path": "l", "target": "/x"}]}`, sev: SeverityError, path: "$.storage.links.0.path", msg: "path not absolute", at: `"l"`},
	{name: "mode too large", body: `"storage": {"files": [{"path": "/a",
    "mode": 4607}]}`, sev: SeverityError, path: "$.storage.files.0.mode", msg: "illegal file mode", at: "4607"},
	{name: "negative directory mode", body: `"storage": {"directories": [{"path": "/a", "mode": -1}]}`, sev: SeverityError, path: "$.storage.directories.0.mode", msg: "illegal file mode", at: "-1"},
	{name: "setuid dropped before 3.6", body: `"storage": {"files": [{"path": "/a", "mode": 2541}]}`, until: V3_5, sev: SeverityWarning, path: "$.storage.files.0.mode", msg: "setuid/setgid/sticky", at: "2541"},
	{name: "sticky dir dropped before 3.6", body: `"storage": {"directories": [{"path": "/a", "mode": 1023}]}`, until: V3_5, sev: SeverityWarning, path: "$.storage.directories.0.mode", msg: "setuid/setgid/sticky", at: "1023"},
	{name: "overwrite without source", body: `"storage": {"files": [{"path": "/a", "overwrite": true}]}`, sev: SeverityError, path: "$.storage.files.0.overwrite", msg: "overwrite must be false", at: "true"},
	{name: "both uid and user name", body: `"storage": {"files": [{"path": "/a", "user": {"id": 1, "name": "x"}}]}`, sev: SeverityError, path: "$.storage.files.0.user", msg: "cannot set both id and name", at: "{"},
	{name: "uid out of range", body: `"passwd": {"users": [{"name": "a", "uid": 4294967296}]}`, sev: SeverityError, path: "$.passwd.users.0.uid", msg: "uid 4294967296 out of range (0 to 4294967294)", at: "4294967296"},
	{name: "owner gid -1", body: `"storage": {"directories": [{"path": "/a", "group": {"id": -1}}]}`, sev: SeverityError, path: "$.storage.directories.0.group.id", msg: "gid -1 out of range (0 to 4294967294)", at: "-1"},
	{name: "hash without source", body: `"storage": {"files": [{"path": "/a", "contents": {"verification": {"hash": "sha512-` + strings.Repeat("a", 128) + `"}}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.verification.hash", msg: "source must be specified", at: `"sha512-`},
	{name: "hash malformed", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "data:,x", "verification": {"hash": "sha512"}}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.verification.hash", msg: "malformed hash specifier", at: `"sha512"`},
	{name: "hash unknown function", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "data:,x", "verification": {"hash": "md5-00"}}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.verification.hash", msg: "unrecognized hash function", at: `"md5-00"`},
	{name: "hash wrong size", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "data:,x", "verification": {"hash": "sha512-00"}}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.verification.hash", msg: "incorrect size for hash sum", at: `"sha512-00"`},
	{name: "sha256 only from 3.1", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "data:,x", "verification": {"hash": "sha256-` + strings.Repeat("a", 64) + `"}}}]}`, until: V3_0, sev: SeverityError, path: "$.storage.files.0.contents.verification.hash", msg: "unrecognized hash function", at: `"sha256-`},
	{name: "bad compression", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "data:,x", "compression": "xz"}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.compression", msg: "invalid compression method", at: `"xz"`},
	{name: "ftp scheme", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "ftp://h/x"}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.source", msg: "invalid url scheme", at: `"ftp://h/x"`},
	{name: "gs only from 3.2", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "gs://b/o"}}]}`, until: V3_1, sev: SeverityError, path: "$.storage.files.0.contents.source", msg: "invalid url scheme", at: `"gs://b/o"`},
	{name: "arn only from 3.4", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "arn:aws:s3:::b/k"}}]}`, until: V3_3, sev: SeverityError, path: "$.storage.files.0.contents.source", msg: "invalid url scheme", at: `"arn:`},
	{name: "arn not s3", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "arn:aws:iam::1:role/x"}}]}`, from: V3_4, sev: SeverityError, path: "$.storage.files.0.contents.source", msg: "invalid S3 ARN format", at: `"arn:`},
	{name: "access point without object", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "arn:aws:s3:us-east-1:1:accesspoint/ap"}}]}`, from: V3_4, sev: SeverityError, path: "$.storage.files.0.contents.source", msg: "invalid S3 ARN format", at: `"arn:`},
	{name: "empty s3 versionId", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "s3://b/k?versionId="}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.source", msg: "invalid S3 object VersionId", at: `"s3://`},
	{name: "bad data url", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "data:;base64,!!"}}]}`, sev: SeverityError, path: "$.storage.files.0.contents.source", msg: "invalid data URL", at: `"data:`},
	{name: "headers on s3", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "s3://b/k", "httpHeaders": [{"name": "A", "value": "b"}]}}]}`, needs: V3_1, sev: SeverityError, path: "$.storage.files.0.contents.httpHeaders", msg: "cannot use HTTP headers with this source scheme", at: "["},
	{name: "header without name", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "https://h/x", "httpHeaders": [{"value": "b"}]}}]}`, needs: V3_1, sev: SeverityError, path: "$.storage.files.0.contents.httpHeaders.0.name", msg: "HTTP header name can't be empty", at: "{"},
	{name: "header with empty value", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "https://h/x", "httpHeaders": [{"name": "A", "value": ""}]}}]}`, needs: V3_1, sev: SeverityError, path: "$.storage.files.0.contents.httpHeaders.0.value", msg: "unable to parse HTTP header", at: `""`},
	{name: "duplicate header", body: `"storage": {"files": [{"path": "/a", "contents": {"source": "https://h/x", "httpHeaders": [{"name": "A"}, {"name": "A"}]}}]}`, needs: V3_1, sev: SeverityError, path: "$.storage.files.0.contents.httpHeaders.1", msg: "duplicate entry defined", at: "{"},
	{name: "merge without source", body: `"passwd": {}`, ignition: `, "config": {"merge": [{}]}`, from: V3_1, sev: SeverityError, path: "$.ignition.config.merge.0", msg: "source is required", at: "{"},
	{name: "CA without source", body: `"passwd": {}`, ignition: `, "security": {"tls": {"certificateAuthorities": [{}]}}`, from: V3_1, sev: SeverityError, path: "$.ignition.security.tls.certificateAuthorities.0", msg: "source is required", at: "{"},
	{name: "3.0 CA without source", body: `"passwd": {}`, ignition: `, "security": {"tls": {"certificateAuthorities": [{}]}}`, until: V3_0, sev: SeverityError, path: "$.ignition.security.tls.certificateAuthorities.0.source", msg: "invalid url scheme", at: "{"},
	{name: "socks proxy", body: `"passwd": {}`, ignition: `, "proxy": {"httpProxy": "socks5://p"}`, needs: V3_1, sev: SeverityError, path: "$.ignition.proxy.httpProxy", msg: "proxies must be http(s)", at: `"socks5://p"`},
	{name: "plain http proxy for https", body: `"passwd": {}`, ignition: `, "proxy": {"httpsProxy": "http://p"}`, needs: V3_1, sev: SeverityWarning, path: "$.ignition.proxy.httpsProxy", msg: "insecure plaintext HTTP proxy", at: `"http://p"`},
	{name: "duplicate noProxy", body: `"passwd": {}`, ignition: `, "proxy": {"noProxy": ["a", "a"]}`, needs: V3_1, sev: SeverityError, path: "$.ignition.proxy.noProxy.1", msg: "duplicate entry defined", at: `"a"]`},
	{name: "duplicate file", body: `"storage": {"files": [{"path": "/a"},
  {"path": "/a"}]}`, sev: SeverityError, path: "$.storage.files.1", msg: "duplicate entry defined", at: "{"},
	{name: "file and link share a key", body: `"storage": {"files": [{"path": "/a"}], "links": [{"path": "/a", "target": "/b"}]}`, sev: SeverityError, path: "$.storage.links.0", msg: "duplicate entry defined", at: "{"},
	{name: "file under a link", body: `"storage": {"files": [{"path": "/l/f"}], "links": [{"path": "/l", "target": "/b"}]}`, sev: SeverityError, path: "$.storage.files.0", msg: "file path includes link in config", at: "{"},
	{name: "directory under a link", body: `"storage": {"directories": [{"path": "/l/d"}], "links": [{"path": "/l", "target": "/b"}]}`, sev: SeverityError, path: "$.storage.directories.0", msg: "directory path includes link in config", at: "{"},
	{name: "link under a link", body: `"storage": {"links": [{"path": "/l/m", "target": "/c"}, {"path": "/l", "target": "/b"}]}`, sev: SeverityError, path: "$.storage.links.0", msg: "link path includes link in config", at: "{"},
	{name: "link target required from 3.3", body: `"storage": {"links": [{"path": "/l"}]}`, from: V3_3, sev: SeverityError, path: "$.storage.links.0.target", msg: "link target is required", at: "{"},
	{name: "hard link to a directory", body: `"storage": {"links": [{"path": "/l", "target": "/d", "hard": true}], "directories": [{"path": "/d"}]}`, sev: SeverityError, path: "$.storage.links.0", msg: "hard link target is a directory", at: "{"},
	{name: "owner on a hard link", body: `"storage": {"links": [{"path": "/l", "target": "/f", "hard": true, "user": {"id": 0}}]}`, sev: SeverityWarning, path: "$.storage.links.0.user.id", msg: "user/group ignored for hard link", at: "0"},
	{name: "file on a unit path", body: `"storage": {"files": [{"path": "/etc/systemd/system/a.service"}]}, "systemd": {"units": [{"name": "a.service", "contents": "[Service]\n"}]}`, sev: SeverityError, path: "$.storage.files.0.path", msg: "path conflicts with systemd unit or dropin", at: `"/etc/systemd/system/a.service"`},
	{name: "disk without device", body: `"storage": {"disks": [{"wipeTable": true}]}`, sev: SeverityError, path: "$.storage.disks.0.device", msg: "disk device is required", at: "{"},
	{name: "partition numbers collide", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"number": 1}, {"number": 1}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.1", msg: "partition numbers collide", at: "{"},
	{name: "partitions overlap", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"number": 1, "startMiB": 10, "sizeMiB": 10}, {"number": 2, "startMiB": 15, "sizeMiB": 10}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.1", msg: "partitions overlap", at: "{"},
	{name: "partition label colon", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"label": "a:b"}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.0.label", msg: "truncated to text before the colon", at: `"a:b"`},
	{name: "partition label too long", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"label": "` + strings.Repeat("x", 37) + `"}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.0.label", msg: "may not exceed 36 characters", at: `"xxx`},
	{name: "partition without number or label", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"sizeMiB": 5}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.0", msg: "a partition number >= 1 or a label", at: "{"},
	{name: "deleted partition with options", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"number": 1, "shouldExist": false, "sizeMiB": 5}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.0", msg: "shouldExist specified false with other options", at: "{"},
	{name: "bad type GUID", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"number": 1, "typeGuid": "nope"}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.0.typeGuid", msg: "doesn't match the form", at: `"nope"`},
	{name: "duplicate partition labels", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"number": 1, "label": "x"}, {"number": 2, "label": "x"}]}]}`, sev: SeverityError, path: "$.storage.disks.0.partitions.1", msg: "cannot use the same partition label twice", at: "{"},
	{name: "format none only from 3.3", body: `"storage": {"filesystems": [{"device": "/dev/a", "format": "none"}]}`, until: V3_2, sev: SeverityError, path: "$.storage.filesystems.0.format", msg: "invalid filesystem format", at: `"none"`},
	{name: "unknown format", body: `"storage": {"filesystems": [{"device": "/dev/a", "format": "zfs"}]}`, sev: SeverityError, path: "$.storage.filesystems.0.format", msg: "invalid filesystem format", at: `"zfs"`},
	{name: "path without format", body: `"storage": {"filesystems": [{"device": "/dev/a", "path": "/var"}]}`, sev: SeverityError, path: "$.storage.filesystems.0.format", msg: "format cannot be empty", at: "{"},
	{name: "mount options without format", body: `"storage": {"filesystems": [{"device": "/dev/a", "mountOptions": ["ro"]}]}`, needs: V3_1, sev: SeverityError, path: "$.storage.filesystems.0.format", msg: "format cannot be empty", at: "{"},
	{name: "xfs label too long", body: `"storage": {"filesystems": [{"device": "/dev/a", "format": "xfs", "label": "thirteen-char"}]}`, sev: SeverityError, path: "$.storage.filesystems.0.label", msg: "longer than 12 characters when using xfs", at: `"thirteen-char"`},
	{name: "vfat label too long", body: `"storage": {"filesystems": [{"device": "/dev/a", "format": "vfat", "label": "twelve-chars"}]}`, sev: SeverityError, path: "$.storage.filesystems.0.label", msg: "longer than 11 characters when using vfat", at: `"twelve-chars"`},
	{name: "filesystem on a partitioned disk", body: `"storage": {"disks": [{"device": "/dev/a", "partitions": [{"number": 1}]}], "filesystems": [{"device": "/dev/a", "format": "ext4"}]}`, sev: SeverityWarning, path: "$.storage.filesystems.0.device", msg: "filesystem overwrites partitioned device", at: `"/dev/a"`},
	{name: "filesystem wiped with the table", body: `"storage": {"disks": [{"device": "/dev/a", "wipeTable": true}], "filesystems": [{"device": "/dev/a", "format": "ext4"}]}`, sev: SeverityWarning, path: "$.storage.filesystems.0.device", msg: "will be wiped", at: `"/dev/a"`},
	{name: "raid spares on raid0", body: `"storage": {"raid": [{"name": "md0", "level": "raid0", "spares": 1, "devices": ["/dev/a"]}]}`, sev: SeverityError, path: "$.storage.raid.0.level", msg: "spares unsupported for linear and raid0", at: `"raid0"`},
	{name: "raid level unknown", body: `"storage": {"raid": [{"name": "md0", "level": "raid7", "devices": ["/dev/a"]}]}`, sev: SeverityError, path: "$.storage.raid.0.level", msg: "unrecognized raid level", at: `"raid7"`},
	{name: "raid level required from 3.3", body: `"storage": {"raid": [{"name": "md0", "devices": ["/dev/a"]}]}`, from: V3_3, sev: SeverityError, path: "$.storage.raid.0.level", msg: "raid level is required", at: "{"},
	{name: "raid level empty before 3.3", body: `"storage": {"raid": [{"name": "md0", "devices": ["/dev/a"]}]}`, until: V3_2, sev: SeverityError, path: "$.storage.raid.0.level", msg: "unrecognized raid level", at: "{"},
	{name: "raid without devices", body: `"storage": {"raid": [{"name": "md0", "level": "raid1"}]}`, sev: SeverityError, path: "$.storage.raid.0.devices", msg: "raid devices required", at: "{"},
	{name: "raid duplicate device", body: `"storage": {"raid": [{"name": "md0", "level": "raid1", "devices": ["/dev/a", "/dev/a"]}]}`, sev: SeverityError, path: "$.storage.raid.0.devices.1", msg: "duplicate entry defined", at: `"/dev/a"]`},
	{name: "luks name with slash", body: `"storage": {"luks": [{"name": "a/b", "device": "/dev/a"}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.name", msg: "device names cannot contain slashes", at: `"a/b"`},
	{name: "luks without device", body: `"storage": {"luks": [{"name": "x"}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.device", msg: "disk device is required", at: "{"},
	{name: "luks label too long", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "label": "` + strings.Repeat("L", 48) + `"}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.label", msg: "cannot be longer than 47", at: `"LLL`},
	{name: "luks bad key file", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "keyFile": {"source": "ftp://k"}}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.keys", msg: "invalid key-file source", at: "{"},
	{name: "clevis custom with tpm2", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "clevis": {"tpm2": true, "custom": {"pin": "tpm2", "config": "{}"}}}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.clevis", msg: "cannot use custom clevis config with tpm2", at: "{"},
	{name: "clevis custom pin restricted before 3.6", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "clevis": {"custom": {"pin": "mine", "config": "{}"}}}]}`, needs: V3_2, until: V3_5, sev: SeverityError, path: "$.storage.luks.0.clevis.custom.pin", msg: "unsupported clevis pin", at: `"mine"`},
	{name: "clevis custom config required", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "clevis": {"custom": {"pin": "tpm2"}}}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.clevis.custom.config", msg: "missing required custom clevis config", at: "{"},
	{name: "tang thumbprint required", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "clevis": {"tang": [{"url": "http://t"}]}}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.clevis.tang.0.thumbprint", msg: "thumbprint is required", at: "{"},
	{name: "tang ftp url", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "clevis": {"tang": [{"url": "ftp://t", "thumbprint": "t"}]}}]}`, needs: V3_2, sev: SeverityError, path: "$.storage.luks.0.clevis.tang.0.url", msg: "invalid url scheme", at: `"ftp://t"`},
	{name: "tang advertisement not JSON", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "clevis": {"tang": [{"url": "http://t", "thumbprint": "t", "advertisement": "nope"}]}}]}`, needs: V3_4, sev: SeverityError, path: "$.storage.luks.0.clevis.tang.0.advertisement", msg: "advertisement is not valid JSON", at: `"nope"`},
	{name: "cex with key file", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "cex": {"enabled": true}, "keyFile": {"source": "data:,k"}}]}`, needs: V3_5, sev: SeverityError, path: "$.storage.luks.0.cex", msg: "cannot use key file with cex", at: "{"},
	{name: "cex with clevis", body: `"storage": {"luks": [{"name": "x", "device": "/dev/a", "cex": {"enabled": true}, "clevis": {"tpm2": true}}]}`, needs: V3_5, sev: SeverityError, path: "$.storage.luks.0.cex", msg: "cannot use cex with clevis", at: "{"},
	{name: "unit extension", body: `"systemd": {"units": [{"name": "bar.conf"}]}`, sev: SeverityError, path: "$.systemd.units.0.name", msg: "invalid systemd unit extension", at: `"bar.conf"`},
	{name: "unit contents unparseable", body: `"systemd": {"units": [{"name": "a.service", "contents": "[Unit\nx"}]}`, sev: SeverityError, path: "$.systemd.units.0.contents", msg: "invalid unit content", at: `"[Unit`},
	{name: "enabled unit without install", body: `"systemd": {"units": [{"name": "a.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n"}]}`, sev: SeverityWarning, path: "$.systemd.units.0.contents", msg: "has no install section", at: `"[Service]`},
	{name: "template without install", body: `"systemd": {"units": [{"name": "w@.service", "contents": "[Service]\n"}, {"name": "w@a.service", "enabled": true}]}`, sev: SeverityWarning, path: "$.systemd.units.1.contents", msg: "template unit \"w@.service\"", at: "{"},
	{name: "dropin extension", body: `"systemd": {"units": [{"name": "a.service", "dropins": [{"name": "x.txt"}]}]}`, sev: SeverityError, path: "$.systemd.units.0.dropins.0.name", msg: "invalid systemd drop-in extension", at: `"x.txt"`},
	{name: "duplicate unit", body: `"systemd": {"units": [{"name": "a.service"}, {"name": "a.service"}]}`, sev: SeverityError, path: "$.systemd.units.1", msg: "duplicate entry defined", at: "{"},
	{name: "duplicate user", body: `"passwd": {"users": [{"name": "a"}, {"name": "a"}]}`, sev: SeverityError, path: "$.passwd.users.1", msg: "duplicate entry defined", at: "{"},
	{name: "duplicate SSH key", body: `"passwd": {"users": [{"name": "a", "sshAuthorizedKeys": ["k", "k"]}]}`, sev: SeverityError, path: "$.passwd.users.0.sshAuthorizedKeys.1", msg: "duplicate entry defined", at: `"k"]`},
	{name: "kernel argument in both lists", body: `"kernelArguments": {"shouldExist": ["a"], "shouldNotExist": ["a"]}`, needs: V3_3, sev: SeverityError, path: "$.kernelArguments.shouldNotExist.0", msg: "duplicate entry defined", at: `"a"]}`},
	{name: "unknown key", body: `"storage": {"files": [{"path": "/a", "contnets": {}}]}`, sev: SeverityWarning, path: "$.storage.files.0.contnets", msg: "unused key contnets (did you mean \"contents\"?)", at: `"contnets"`},
	{name: "field newer than the config", body: `"storage": {"luks": [{"name": "x"}]}`, until: V3_1, sev: SeverityWarning, path: "$.storage.luks", msg: "unused key luks (added in spec 3.2.0", at: `"luks"`},
	{name: "kernelArguments before 3.3", body: `"kernelArguments": {"shouldExist": ["a"]}`, until: V3_2, sev: SeverityWarning, path: "$.kernelArguments", msg: "unused key kernelArguments", at: `"kernelArguments"`},
	{name: "compression on merged config in 3.0", body: `"passwd": {}`, ignition: `, "config": {"merge": [{"source": "https://h/c", "compression": "gzip"}]}`, until: V3_0, sev: SeverityWarning, path: "$.ignition.config.merge.0.compression", msg: "unused key compression", at: `"compression"`},
	{name: "type mismatch", body: `"storage": {"files": [{"path": "/a",
      "mode": "0644"}]}`, sev: SeverityError, path: "$.storage.files.0.mode", msg: "mode: expected an integer such as 420 (0644), got a string", at: `"0644"`},
	{name: "fractional integer", body: `"passwd": {"users": [{"name": "a", "uid": 1.5}]}`, sev: SeverityError, path: "$.passwd.users.0.uid", msg: "uid: expected an integer, got a number with a fraction", at: "1.5"},
}

// positionText returns the source at a 1-based line and byte column.
func positionText(raw string, line, col int) (string, bool) {
	lines := strings.SplitAfter(raw, "\n")
	if line < 1 || line > len(lines) || col < 1 || col > len(lines[line-1])+1 {
		return "", false
	}
	off := 0
	for _, l := range lines[:line-1] {
		off += len(l)
	}
	return raw[off+col-1:], true
}

func TestRulesOnEveryVersion(t *testing.T) {
	for _, rc := range ruleCases {
		for _, v := range SupportedVersions {
			if v.Less(rc.needs) {
				continue // the fields do not exist yet: covered by the unknown-key cases
			}
			applies := v.AtLeast(rc.from) && (rc.until == Version{} || !rc.until.Less(v))
			raw := fmt.Sprintf("{\n  \"ignition\": {\"version\": %q%s},\n  %s\n}\n", v.String(), rc.ignition, rc.body)
			t.Run(rc.name+"/"+v.String(), func(t *testing.T) {
				res, err := Parse([]byte(raw))
				var got *Entry
				for i, e := range res.Report.Entries {
					if e.Path == rc.path && strings.Contains(e.Message, rc.msg) {
						got = &res.Report.Entries[i]
						break
					}
				}
				if !applies {
					if got != nil {
						t.Fatalf("Parse() reported %q on %s; want nothing there\n%s", got, v, raw)
					}
					return
				}
				if got == nil {
					t.Fatalf("Parse() report =\n%s\nwant %s at %s: %s\nconfig:\n%s", res.Report, rc.sev, rc.path, rc.msg, raw)
				}
				if got.Severity != rc.sev {
					t.Errorf("Parse() severity = %s; want %s", got.Severity, rc.sev)
				}
				if (rc.sev == SeverityError) != (err != nil) && !res.Report.IsFatal() {
					t.Errorf("Parse() err = %v with report %s", err, res.Report)
				}
				rest, ok := positionText(raw, got.Line, got.Column)
				switch {
				case !ok:
					t.Errorf("Parse() position = line %d col %d; outside the config", got.Line, got.Column)
				case rc.at == "{" || rc.at == "[":
					before, _ := positionText(raw, got.Line, got.Column-1)
					if got.Column < 2 || !strings.HasPrefix(before, rc.at) {
						t.Errorf("Parse() position = line %d col %d (%.20q); want just inside %q", got.Line, got.Column, rest, rc.at)
					}
				case !strings.HasPrefix(rest, rc.at):
					t.Errorf("Parse() position = line %d col %d (%.20q); want %q there", got.Line, got.Column, rest, rc.at)
				}
			})
		}
	}
}
