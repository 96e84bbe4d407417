package redact

import (
	"strings"
	"testing"
)

// URLs a first pass did not try: a quote in the password (a sub-delim,
// valid unescaped), an IPv6 host with a zone, a user with no password,
// percent-encoded user info, a URL quoted in a Go error, characters that
// end the authority early.
func TestTextRedTeam(t *testing.T) {
	for _, in := range []string{
		`{"url":"http://u:pw'sec@h/?token=tk"}`,
		`clevis: 'http://u:pw@h/?token=tk' failed`,
		`http://u:pw@[fe80::1%25eth0]:8080/adv?token=tk`,
		`http://tk@[::1]/adv`,
		`http://u:p%40w%3Asec@h/`,
		`Get "http://u:***@h/?token=tk": dial tcp 127.0.0.1:1: connect: connection refused`,
		`http://u:p#wsec@h/?token=tk`,
		`http://u:p/wsec@h/?token=tk`,
		`{\"url\":\"http://u:pw@h/?token=tk\"}`,
	} {
		got := Text(in)
		for _, secret := range []string{"pw", "tk", "sec"} {
			if strings.Contains(got, secret) {
				t.Errorf("Text(%q) = %q; the secret %q is still there", in, got, secret)
			}
		}
	}
}

// A URL with no "//" keeps its user info in the opaque part.
func TestURLOpaque(t *testing.T) {
	if got := URL("http:u:pw@h/?token=tk"); strings.Contains(got, "pw") || strings.Contains(got, "tk") {
		t.Errorf("URL(%q) = %q; the password or token is still there", "http:u:pw@h/?token=tk", got)
	}
	if got := URL("urn:isbn:1234"); got != "urn:isbn:1234" {
		t.Errorf("URL(urn:isbn:1234) = %q; want it as it is", got)
	}
}
