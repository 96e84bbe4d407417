// Package redact is the one place that decides what of a URL may be
// printed: every printer of a URL or an argv (plans, logs, errors, the
// command runner) goes through it, so a new printer cannot forget a
// password or a token.
package redact

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// URL renders a source for logs and errors: data URLs by size only,
// other URLs without user info (name and password), with every query value
// hidden (they carry signatures and tokens such as Azure SAS; a bare key
// is hidden whole) and without a fragment.
func URL(source string) string {
	if strings.HasPrefix(source, "data:") {
		return fmt.Sprintf("data URL (%d bytes)", len(source))
	}
	u, err := url.Parse(source)
	if err != nil {
		return "unparseable URL"
	}
	u.User = nil
	if u.Opaque != "" && strings.Contains(u.Opaque, "@") {
		// "http:user:pass@host" parses as an opaque URL: its user info is
		// not in User
		u.Opaque = "REDACTED"
	}
	if u.RawQuery != "" || u.ForceQuery {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			if k, _, ok := strings.Cut(p, "="); ok {
				parts[i] = k + "=REDACTED"
			} else if p != "" {
				parts[i] = "REDACTED"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = "REDACTED", ""
	}
	return u.String()
}

// inText finds URLs inside free text (an argument holding JSON, a
// program's stderr): a scheme, "://", then anything but white space and
// the characters a URL never holds unescaped (", <, >, `). A backslash is
// taken in, so a JSON escape (\u0026 for "&") does not end the match and
// leak the rest of a query; so is "'", which a password may hold as it is
// (a match ending there left "sec@host/?token=..." of "pw'sec" as text).
var inText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"<>` + "`" + `]+`)

// Text redacts every URL in s that carries user info, a query or a
// fragment (as URL does); the rest of s is left as it is.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return inText.ReplaceAllStringFunc(s, func(m string) string {
		if !strings.ContainsAny(m, "@?#") {
			return m
		}
		return URL(m)
	})
}
