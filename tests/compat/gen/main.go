// Command gen writes random Ignition configs, one JSON object per line
// ({"name": ..., "config": ...}), for the compatibility corpus. The configs
// lean towards almost-valid, so that each validation rule gets exercised on
// every spec version. Deterministic for a given -seed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"
)

var versions = []string{"3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0", "3.6.0", "3.7.0-experimental"}

type g struct{ r *rand.Rand }

func (g g) p(f float64) bool  { return g.r.Float64() < f }
func (g g) pick(l ...any) any { return l[g.r.Intn(len(l))] }

func (g g) path() any {
	return g.pick("/etc/hostname", "/etc/motd", "/etc/a", "/etc/a/b", "/var/lib/x", "/opt/bin/tool",
		"etc/relative", "/etc/../etc//x", "/etc/a/", "", "/etc/systemd/system/foo.service",
		"/etc/systemd/system/bar.service.d/10-x.conf", "/etc/link", "/etc/link/child", "/", 5)
}

func (g g) url() any {
	return g.pick("https://example.com/a", "http://example.com/b", "tftp://10.0.0.1/c", "s3://bucket/key",
		"s3://bucket/key?versionId=", "s3://bucket/key?versionId=abc", "gs://bucket/obj", "data:,hello",
		"data:;base64,aGVsbG8=", "data:;base64,!!!", "data:", "ftp://example.com/x", "arn:aws:s3:::bucket/key",
		"arn:aws:s3:us-east-1:123:accesspoint/ap/object/key", "arn:aws:s3:us-east-1:123:accesspoint/ap",
		"arn:aws:iam::123:role/x", "arn:aws:s3:::bucket", "arn:aws:s3:::bucket/key?versionId=", "%zz", "", "example.com/noscheme",
		"http://[::1", "HTTPS://EXAMPLE.COM/x")
}

func (g g) hash() any {
	return g.pick("sha512-"+strings.Repeat("ab", 64), "sha256-"+strings.Repeat("cd", 32), "sha512-abc", "md5-abc",
		"sha256", "sha1-"+strings.Repeat("a", 40), "sha256-"+strings.Repeat("c", 63), "")
}

func (g g) headers() any {
	var l []any
	for i := g.r.Intn(3); i > 0; i-- {
		h := map[string]any{"name": g.pick("Authorization", "X-A", "", "X-A")}
		if g.p(0.7) {
			h["value"] = g.pick("v", "", "secret")
		}
		l = append(l, h)
	}
	return l
}

func (g g) resource() map[string]any {
	m := map[string]any{}
	if g.p(0.8) {
		m["source"] = g.url()
	}
	if g.p(0.2) {
		m["compression"] = g.pick("gzip", "", "bzip2")
	}
	if g.p(0.25) {
		m["verification"] = map[string]any{"hash": g.hash()}
	}
	if g.p(0.15) {
		m["httpHeaders"] = g.headers()
	}
	return m
}

func (g g) resources(n int) []any {
	var l []any
	for i := g.r.Intn(n + 1); i > 0; i-- {
		l = append(l, g.resource())
	}
	return l
}

func (g g) owner() map[string]any {
	m := map[string]any{}
	if g.p(0.5) {
		m["id"] = g.pick(0, 1000, -1)
	}
	if g.p(0.5) {
		m["name"] = g.pick("root", "core", "")
	}
	return m
}

func (g g) node(m map[string]any) map[string]any {
	m["path"] = g.path()
	if g.p(0.3) {
		m["overwrite"] = g.pick(true, false)
	}
	if g.p(0.2) {
		m["user"] = g.owner()
	}
	if g.p(0.2) {
		m["group"] = g.owner()
	}
	return m
}

func (g g) mode() any { return g.pick(420, 493, 2541, 4607, 0, -1, 511, 4095, 4096, 1.5, "0644") }

func (g g) storage() map[string]any {
	s := map[string]any{}
	if g.p(0.6) {
		var files []any
		for i := g.r.Intn(4); i > 0; i-- {
			f := g.node(map[string]any{})
			if g.p(0.6) {
				f["contents"] = g.resource()
			}
			if g.p(0.2) {
				f["append"] = g.resources(2)
			}
			if g.p(0.4) {
				f["mode"] = g.mode()
			}
			files = append(files, f)
		}
		s["files"] = files
	}
	if g.p(0.4) {
		var dirs []any
		for i := g.r.Intn(3); i > 0; i-- {
			d := g.node(map[string]any{})
			if g.p(0.4) {
				d["mode"] = g.mode()
			}
			dirs = append(dirs, d)
		}
		s["directories"] = dirs
	}
	if g.p(0.4) {
		var links []any
		for i := g.r.Intn(3); i > 0; i-- {
			l := g.node(map[string]any{})
			if g.p(0.8) {
				l["target"] = g.pick("/etc/a", "../x", "/etc/a/b", "", "relative", "/var/lib/x")
			}
			if g.p(0.4) {
				l["hard"] = g.pick(true, false)
			}
			links = append(links, l)
		}
		s["links"] = links
	}
	if g.p(0.3) {
		var disks []any
		for i := g.r.Intn(3); i > 0; i-- {
			d := map[string]any{}
			if g.p(0.9) {
				d["device"] = g.pick("/dev/vdb", "/dev/vdc", "vdb", "/dev//vdb", "")
			}
			if g.p(0.3) {
				d["wipeTable"] = g.pick(true, false)
			}
			var parts []any
			for j := g.r.Intn(4); j > 0; j-- {
				p := map[string]any{}
				if g.p(0.7) {
					p["number"] = g.pick(0, 1, 2, 3)
				}
				if g.p(0.5) {
					p["label"] = g.pick("root", "data", "a:b", strings.Repeat("x", 37), "")
				}
				if g.p(0.4) {
					p["startMiB"] = g.pick(0, 1, 100, 150)
				}
				if g.p(0.4) {
					p["sizeMiB"] = g.pick(0, 100, 50)
				}
				if g.p(0.2) {
					p["typeGuid"] = g.pick("0FC63DAF-8483-4772-8E79-3D69D8477DE4", "bad", "", "0fc63daf-8483-4772-8e79-3d69d8477de4")
				}
				if g.p(0.1) {
					p["guid"] = g.pick("11111111-2222-3333-4444-555555555555", "nope")
				}
				if g.p(0.2) {
					p["shouldExist"] = g.pick(true, false)
				}
				if g.p(0.1) {
					p["resize"] = true
				}
				if g.p(0.1) {
					p["wipePartitionEntry"] = true
				}
				parts = append(parts, p)
			}
			if parts != nil {
				d["partitions"] = parts
			}
			disks = append(disks, d)
		}
		s["disks"] = disks
	}
	if g.p(0.3) {
		var fss []any
		for i := g.r.Intn(3); i > 0; i-- {
			f := map[string]any{"device": g.pick("/dev/vdb", "/dev/vdb1", "/dev/disk/by-label/x", "rel", "tag1", "")}
			if g.p(0.7) {
				f["format"] = g.pick("ext4", "xfs", "btrfs", "swap", "vfat", "none", "zfs", "", "virtiofs")
			}
			if g.p(0.4) {
				f["path"] = g.pick("/var", "/srv", "var", "")
			}
			if g.p(0.3) {
				f["label"] = g.pick("short", "exactly12chr", "thirteen-char", strings.Repeat("l", 17), "")
			}
			if g.p(0.2) {
				f["wipeFilesystem"] = g.pick(true, false)
			}
			if g.p(0.1) {
				f["uuid"] = "8d9d6bd8-3c8a-4a59-9a43-e3b0a3f0c1a2"
			}
			if g.p(0.15) {
				f["options"] = []any{"-m", "-m"}
			}
			if g.p(0.15) {
				f["mountOptions"] = []any{"ro", "ro"}
			}
			fss = append(fss, f)
		}
		s["filesystems"] = fss
	}
	if g.p(0.2) {
		var raids []any
		for i := g.r.Intn(3); i > 0; i-- {
			r := map[string]any{"name": g.pick("md0", "md1", "")}
			if g.p(0.8) {
				r["level"] = g.pick("raid1", "linear", "raid0", "5", "raid7", "")
			}
			if g.p(0.7) {
				r["devices"] = g.pick([]any{"/dev/vdb", "/dev/vdc"}, []any{}, []any{"/dev/vdb", "/dev/vdb"}, []any{"rel"})
			}
			if g.p(0.3) {
				r["spares"] = g.pick(0, 1)
			}
			if g.p(0.1) {
				r["options"] = []any{"--x", "--x"}
			}
			raids = append(raids, r)
		}
		s["raid"] = raids
	}
	if g.p(0.25) {
		var luks []any
		for i := g.r.Intn(3); i > 0; i-- {
			l := map[string]any{"name": g.pick("root", "a/b", "")}
			if g.p(0.8) {
				l["device"] = g.pick("/dev/vdb", "rel", "")
			}
			if g.p(0.2) {
				l["label"] = g.pick("ok", strings.Repeat("L", 48))
			}
			if g.p(0.3) {
				l["keyFile"] = g.resource()
			}
			if g.p(0.4) {
				c := map[string]any{}
				if g.p(0.4) {
					c["tpm2"] = g.pick(true, false)
				}
				if g.p(0.3) {
					c["threshold"] = g.pick(0, 1, 2)
				}
				if g.p(0.4) {
					var tangs []any
					for j := g.r.Intn(3); j > 0; j-- {
						t := map[string]any{"url": g.pick("http://tang", "https://tang", "ftp://tang", "")}
						if g.p(0.7) {
							t["thumbprint"] = g.pick("abc", "")
						}
						if g.p(0.3) {
							t["advertisement"] = g.pick(`{"payload":"x"}`, "not json", "")
						}
						tangs = append(tangs, t)
					}
					c["tang"] = tangs
				}
				if g.p(0.4) {
					cu := map[string]any{}
					if g.p(0.6) {
						cu["pin"] = g.pick("tpm2", "tang", "sss", "custom", "")
					}
					if g.p(0.6) {
						cu["config"] = g.pick(`{"a":1}`, "")
					}
					if g.p(0.3) {
						cu["needsNetwork"] = g.pick(true, false)
					}
					c["custom"] = cu
				}
				l["clevis"] = c
			}
			if g.p(0.2) {
				l["cex"] = map[string]any{"enabled": g.pick(true, false)}
			}
			if g.p(0.2) {
				l["openOptions"] = g.pick([]any{"--a"}, []any{"--a", "--a"})
			}
			if g.p(0.1) {
				l["options"] = []any{"--b", "--b"}
			}
			if g.p(0.1) {
				l["discard"] = true
			}
			if g.p(0.1) {
				l["wipeVolume"] = true
			}
			luks = append(luks, l)
		}
		s["luks"] = luks
	}
	return s
}

func (g g) systemd() map[string]any {
	var units []any
	for i := g.r.Intn(4); i > 0; i-- {
		u := map[string]any{"name": g.pick("foo.service", "bar.service", "worker@.service", "worker@a.service", "x.timer", "bar.conf", "noext", "")}
		if g.p(0.6) {
			u["contents"] = g.pick("[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
				"[Service]\nExecStart=/bin/true\n", "[Unit\nbroken", "", "garbage without section\n")
		}
		if g.p(0.5) {
			u["enabled"] = g.pick(true, false)
		}
		if g.p(0.2) {
			u["mask"] = g.pick(true, false)
		}
		if g.p(0.3) {
			var ds []any
			for j := g.r.Intn(3); j > 0; j-- {
				d := map[string]any{"name": g.pick("10-x.conf", "20-y.conf", "bad.txt", "")}
				if g.p(0.7) {
					d["contents"] = g.pick("[Service]\nEnvironment=A=1\n", "[broken", "")
				}
				ds = append(ds, d)
			}
			u["dropins"] = ds
		}
		units = append(units, u)
	}
	return map[string]any{"units": units}
}

func (g g) config() map[string]any {
	ign := map[string]any{"version": versions[g.r.Intn(len(versions))]}
	if g.p(0.25) {
		c := map[string]any{}
		if g.p(0.6) {
			c["merge"] = g.resources(3)
		}
		if g.p(0.4) {
			c["replace"] = g.resource()
		}
		ign["config"] = c
	}
	if g.p(0.2) {
		p := map[string]any{}
		if g.p(0.6) {
			p["httpProxy"] = g.pick("http://proxy:3128", "https://proxy", "socks5://p", "%zz")
		}
		if g.p(0.6) {
			p["httpsProxy"] = g.pick("http://proxy:3128", "https://proxy", "socks5://p")
		}
		if g.p(0.4) {
			p["noProxy"] = g.pick([]any{"a.example.com", ".b"}, []any{"x", "x"})
		}
		ign["proxy"] = p
	}
	if g.p(0.2) {
		ign["security"] = map[string]any{"tls": map[string]any{"certificateAuthorities": g.resources(2)}}
	}
	if g.p(0.1) {
		ign["timeouts"] = map[string]any{"httpTotal": g.pick(0, 30), "httpResponseHeaders": g.pick(10, "x")}
	}
	c := map[string]any{"ignition": ign}
	if g.p(0.7) {
		c["storage"] = g.storage()
	}
	if g.p(0.4) {
		c["systemd"] = g.systemd()
	}
	if g.p(0.3) {
		var users []any
		for i := g.r.Intn(3); i > 0; i-- {
			u := map[string]any{"name": g.pick("core", "alice", "")}
			if g.p(0.5) {
				u["sshAuthorizedKeys"] = g.pick([]any{"ssh-ed25519 AAAA"}, []any{"k", "k"})
			}
			if g.p(0.2) {
				u["groups"] = g.pick([]any{"wheel"}, []any{"a", "a"})
			}
			if g.p(0.2) {
				u["shouldExist"] = false
			}
			if g.p(0.2) {
				u["uid"] = g.pick(1000, "1000")
			}
			users = append(users, u)
		}
		groups := []any{}
		if g.p(0.5) {
			groups = append(groups, map[string]any{"name": "g1", "gid": 2000}, map[string]any{"name": g.pick("g1", "g2")})
		}
		c["passwd"] = map[string]any{"users": users, "groups": groups}
	}
	if g.p(0.2) {
		c["kernelArguments"] = map[string]any{"shouldExist": g.pick([]any{"a", "b"}, []any{"a", "a"}), "shouldNotExist": g.pick([]any{"c"}, []any{"a"})}
	}
	if g.p(0.1) {
		c[g.pick("storge", "Storage", "extra").(string)] = map[string]any{}
	}
	return c
}

func main() {
	seed := flag.Int64("seed", 1, "random seed")
	n := flag.Int("n", 1000, "number of configs")
	flag.Parse()
	gen := g{rand.New(rand.NewSource(*seed))}
	enc := json.NewEncoder(os.Stdout)
	for i := 0; i < *n; i++ {
		raw, err := json.MarshalIndent(gen.config(), "", "  ")
		if err != nil {
			panic(err)
		}
		if err := enc.Encode(map[string]string{"name": fmt.Sprintf("random-%d-%04d", *seed, i), "config": string(raw)}); err != nil {
			panic(err)
		}
	}
}
