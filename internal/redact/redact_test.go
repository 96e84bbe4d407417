package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://tang.example", "http://tang.example"},
		{"http://user:pass@tang.example/?token=abc", "http://tang.example/?token=REDACTED"},
		{"https://h/p?a=1&b=2#frag", "https://h/p?a=REDACTED&b=REDACTED#REDACTED"},
		{"https://h/p?key", "https://h/p?REDACTED"},
		{"data:,secret", "data URL (12 bytes)"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"t":1,"pins":{"tang":[{"url":"http://u:pw@h:8080/x?token=tk","thp":"abc"}]}}`,
			`{"t":1,"pins":{"tang":[{"url":"http://h:8080/x?token=REDACTED","thp":"abc"}]}}`},
		// json.Marshal escapes "&": the second value must not leak
		{`{"url":"http://h/?a=1\u0026b=secret2"}`, `{"url":"http://h/?a=REDACTED"}`},
		{"curl: (22) http://u:pw@h/adv: 404", "curl: (22) http://h/adv: 404"},
		{"plain http://h/adv/x stays", "plain http://h/adv/x stays"},
		{"no url at all", "no url at all"},
	} {
		got := Text(c.in)
		if got != c.want {
			t.Errorf("Text(%q) = %q; want %q", c.in, got, c.want)
		}
		for _, secret := range []string{"pw", "tk", "secret2"} {
			if strings.Contains(got, secret) {
				t.Errorf("Text(%q) = %q; the secret %q is still there", c.in, got, secret)
			}
		}
	}
}
