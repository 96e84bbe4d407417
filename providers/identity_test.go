package providers

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
)

// Real keys made by ssh-keygen (OpenSSH 9.2) for these tests.
const (
	testEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPCHJYef4VGjuFpg8gg6EykkjnAEBBvsvLo+52vb3Jik ed@test"
	testRSA2048 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC9+ILePiSAPgeLcv5qy9Kf6LDXy4vRF4mmg1FurhjFcvSHVXhlSD9IYd7UJgCUNZlNQf8dAg9QSwFUuARVHvYPYciTJIaXEsGX5Js5msAhcLQUN7+pw2IxbXD5y0yK8vji7P0SX3y/u1AWvtAdgGCR2fH6FhnfsT0bsupUjWY+dOmOkwUR9YLfMqZ+7QQg/xOpHcjFIVRIJgbmsJ7KDr6gky4BdJzAnZeqwfFtopJO+c2NtYoHciXfWsgW+kJqDDrmhlfG8XAyFwmH6VEmlDgVk7BaaBGlEYUo6j/7JtFLkvCeSuzaWfl+65LjzyefvN53UdMd19uH5FLAyxPhJo5P rsa@test"
	testRSA1024 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCu98n8hZsdrgsCbOaXQ99cE0msj8LZzpIF4qNIZ79Omtjd4ArHKEDLFT8dknAnm+4wI3FTIRLQFz+QkZBodO6toSQ/UlSqzFruSQNv0FylaoorTJUwuw5pqCKlOu8S26TM+uAXF9qKtnrLjR1UhKvP9HnyX/G1EjI0HDFvpeoURQ=="
	testP256    = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNESLvfaZ2YohLp9Dgy0PooW8JxAP+qIRvBlaU52Rx1eXj6PwJeD9wjqTgM+V4lPphvnFT6Bxhym4GIBSbTe6X8= p256"
	testP384    = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCS9eVutJWK0vUqduXKb60+UEVLFKHvc1Cz1bTjeIuxrWsrE79oUJNtpSpdVqa4roAtP4hva8Dq+TYHWEyuIfDo08aAWafwSMNY6lAX/aIv47WTVVepDTFwyOnwFNGpA1A=="
	testP521    = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBADmnL2hYC2Zdf/xBzGgMOUyp7RTyeXHAUyR7jGJJtbsrdkEer+6eB+yBesUdajY02tyGOas+RBPqoILeYo+rTG/ZgCWtnjFKRXGUb708ZQlxuL+glhip2aahuM7Vnb33aZsu/RVbcROYvB1BonBSR9Xf506xP54rY7ghH2j+OCpVBdLFA== p521"
	testDSA     = "ssh-dss AAAAB3NzaC1kc3MAAACBALL3dv0/AFJWmVwaKOZ4k9wAo366XdlryPmGipp3iJ3ROqpvsIsmglE/D0Xou/h/qj97KwfF+9H/JuyBZTG/HyOqE0KjpGJXxtaxKJAxuLqL0zDE9V57lnaV6mRpddJDDxlMymMNX9hRoq8ivgH/Wudp0DR+AJZKorR5vX7vG7jzAAAAFQDlMoZ88TPrI6uREN1WzA7k42Fx1QAAAIEAiVx99u5OLVvmwjYceLSHqsfN4LcMToLczByFW2SNtgYcWxVkZPw9uMQlqHKyqvqioJjjf2ZXWdDrOynI/+ND35x0YELXoUl13iD4/S1pd0Y72gCn2R+TViw/OPvy3wboxDd7hoWZlUtnu/cjVUm4UJktKH6AQqVNw6ce6zFjAygAAACAaKDi2kt1xMY3ece78obSGqBlanEn6pnPMir4Ys9Ur6WTlO0TsLNUbGWZBqWUpRQRk6ulvDPJMABmCnBVpgcVgBNqmEkXh+tVmNKJsSV1ZTacbzeadxLom+ewahY30BNo7SWkxeLkQwFo3enrPpSGlFIGNKVcTkTcdhQrHTr5p2s= dsa"
	// the key AWS's IMDS emulator serves: one base64 character too many
	aemmKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC/JxGByvHDHgQAU+0nRFWdvMPi22OgNUn9ansrI8QN1ZJGxD1ML8DRnJ3Q3zFKqqjGucfNWW0xpVib+ttkIBp8G9P/EOcX9C3FF63O3SnnIUHJsp5faRAZsTJPx0G5HUbvhBvnAcCtSqQgmr02c1l582vAWx48pOmeXXMkl9qe9V/s7K3utmeZkRLo9DqnbsDlg5GWxLC/rWKYaZR66CnMEyZ7yBy3v3abKaGGRovLkHNAgWjSSgmUTI1nT5/S2OLxxuDnsC7+BiABLPaqlIE70SzcWZ0swx68Bo2AY9T9ymGqeAM/1T4yRtg0sPB98TpT7WrY5A3iia2UVtLO/xcTt test"
)

// wire builds an SSH wire-format blob of strings.
func wire(fields ...[]byte) []byte {
	var b []byte
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func line(typ string, blob []byte) string {
	return typ + " " + base64.StdEncoding.EncodeToString(blob) + " made"
}

func blobOf(t *testing.T, l string) []byte {
	b, err := base64.StdEncoding.DecodeString(strings.Fields(l)[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each key must be an OpenSSH public key: a known type, then base64 of a
// blob of that type with every field well formed; anything else (an HTML
// page, a type the blob contradicts, cut base64, a huge line) is refused
// with a reason that does not quote the key.
func TestParseKey(t *testing.T) {
	ed := blobOf(t, testEd25519)
	pk := ed[len(ed)-32:]
	p256 := blobOf(t, testP256)
	point := p256[len(p256)-65:]
	n768 := append([]byte{0}, append([]byte{0xc1}, make([]byte, 95)...)...)
	n768[96] = 1
	for _, c := range []struct {
		name, line string
		ok         bool
		why        string
	}{
		{"ed25519", testEd25519, true, ""},
		{"ed25519, no comment, tabs", "ssh-ed25519\t" + strings.Fields(testEd25519)[1], true, ""},
		{"rsa 2048", testRSA2048, true, ""},
		{"rsa 1024", testRSA1024, true, ""},
		{"ecdsa p256", testP256, true, ""},
		{"ecdsa p384", testP384, true, ""},
		{"ecdsa p521", testP521, true, ""},
		{"sk-ssh-ed25519", line("sk-ssh-ed25519@openssh.com", wire([]byte("sk-ssh-ed25519@openssh.com"), pk, []byte("ssh:"))), true, ""},
		{"sk-ecdsa", line("sk-ecdsa-sha2-nistp256@openssh.com", wire([]byte("sk-ecdsa-sha2-nistp256@openssh.com"), []byte("nistp256"), point, []byte("ssh:"))), true, ""},
		{"google-ssh comment", testEd25519 + ` google-ssh {"userName":"a@b.c","expireOn":"2099-01-01T00:00:00+0000"}`, true, ""},

		{"html page line", "<!DOCTYPE html><html><body>Service Unavailable</body></html>", false, "not a known key type"},
		{"html body text", "  <title>404 Not Found</title>", false, "not a known key type"},
		{"dsa", testDSA, false, "DSA"},
		{"type the blob contradicts", "ssh-rsa " + strings.Fields(testEd25519)[1], false, "names another type"},
		{"ed25519 claimed for an ecdsa blob", "ssh-ed25519 " + strings.Fields(testP256)[1], false, "names another type"},
		{"truncated base64", testEd25519[:62], false, "not base64"},
		{"base64 cut at a multiple of 4", testEd25519[:60], false, "truncated"},
		{"base64 cut at a quantum", "ssh-ed25519 " + base64.StdEncoding.EncodeToString(ed[:40]), false, "truncated"},
		{"the AWS emulator's key", aemmKey, false, "not base64"},
		{"unpadded base64", "ecdsa-sha2-nistp256 " + strings.TrimRight(strings.Fields(testP256)[1], "="), false, "not base64"},
		{"no blob", "ssh-ed25519", false, "no key"},
		{"options", `command="/bin/sh" ` + testEd25519, false, "not a known key type"},
		{"certificate", "ssh-ed25519-cert-v01@openssh.com " + strings.Fields(testEd25519)[1], false, "not a known key type"},
		{"trailing bytes", line("ssh-ed25519", append(ed, 0, 0, 0, 0)), false, "after the key"},
		{"short ed25519", line("ssh-ed25519", wire([]byte("ssh-ed25519"), pk[:31])), false, "31 bytes"},
		{"rsa 768", line("ssh-rsa", wire([]byte("ssh-rsa"), []byte{1, 0, 1}, n768)), false, "768 bits"},
		{"rsa even exponent", line("ssh-rsa", wire([]byte("ssh-rsa"), []byte{2}, blobOf(t, testRSA2048)[11+4+3+4:])), false, "exponent"},
		{"rsa negative modulus", line("ssh-rsa", wire([]byte("ssh-rsa"), []byte{1, 0, 1}, []byte{0x80, 1})), false, "truncated"},
		{"ecdsa on another curve", line("ecdsa-sha2-nistp256", wire([]byte("ecdsa-sha2-nistp256"), []byte("nistp384"), point)), false, "another curve"},
		{"ecdsa point off the curve", line("ecdsa-sha2-nistp256", wire([]byte("ecdsa-sha2-nistp256"), []byte("nistp256"), append([]byte{4}, make([]byte, 64)...))), false, "not a point"},
		{"sk without application", line("sk-ssh-ed25519@openssh.com", wire([]byte("sk-ssh-ed25519@openssh.com"), pk)), false, "truncated"},
		{"length past the end", line("ssh-ed25519", []byte{0xff, 0xff, 0xff, 0xff, 's'}), false, "truncated"},
		{"control character", testEd25519 + "\x1b[2J", false, "control"},
		{"carriage return", testEd25519 + "\r", false, "control"},
		{"not UTF-8", testEd25519 + " \xff", false, "UTF-8"},
		{"1 MiB line", "ssh-rsa " + strings.Repeat("A", 1<<20), false, "more than"},
		{"1 MiB blob within a line cap", "ssh-rsa " + strings.Repeat("A", 30000), false, "longer than"},
	} {
		k, err := ParseKey(c.line)
		if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: ParseKey() = %v; want ok %v (%q)", c.name, err, c.ok, c.why)
		}
		if f := strings.Fields(c.line); err != nil && len(f) > 1 && len(f[1]) > 16 && strings.Contains(err.Error(), f[1][4:16]) {
			t.Errorf("%s: the error quotes the key: %v", c.name, err)
		}
		if err == nil && k.ID() != strings.Join(strings.Fields(c.line)[:2], " ") {
			t.Errorf("%s: ID() = %q", c.name, k.ID())
		}
	}
}

// The budget hands out reads and bytes until either is spent, and warns
// once.
func TestBudget(t *testing.T) {
	b := NewBudget(100, 2)
	if l, ok, _ := b.Read(); !ok || l != 100 {
		t.Fatalf("Read() = %d, %v; want 100, true", l, ok)
	}
	b.Spend(60)
	if l, ok, _ := b.Read(); !ok || l != 40 {
		t.Fatalf("Read() = %d, %v; want 40, true", l, ok)
	}
	if _, ok, first := b.Read(); ok || !first {
		t.Errorf("third Read() = %v, first %v; want refused, first", ok, first)
	}
	if _, ok, first := b.Read(); ok || first {
		t.Errorf("fourth Read() = %v, first %v; want refused, not first", ok, first)
	}
	ctx := WithBudget(context.Background(), b)
	if BudgetOf(ctx) != b || BudgetOf(context.Background()) == nil {
		t.Errorf("BudgetOf does not return the context's budget, or a default")
	}
}
