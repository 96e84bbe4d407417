package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checkDataURL decides whether an RFC 2397 data URL is well formed, with the
// same verdicts and messages as the decoder Ignition uses
// (github.com/vincent-petithory/dataurl v1.0.0, which dataurl_test.go checks
// it against). It decodes nothing it does not have to, and it keeps that
// library, and the net/http it imports, out of our binaries.
//
//	data:[<type>/<subtype>][;<attr>=<value>]*[;base64],<data>
func checkDataURL(s string) error {
	if !strings.HasPrefix(s, "data:") {
		return errors.New("missing data prefix")
	}
	p := dataURLScanner{s: s, pos: len("data:")}
	return p.run()
}

type dataURLScanner struct {
	s         string
	pos       int
	unquote   bool // a quoted parameter value is pending
	dataStart int  // where the data begins, once found
	base64    bool
}

// DecodeDataURL returns the contents of a data URL: the same URLs are
// accepted as by validation, and the data is base64-decoded or
// %-unescaped.
func DecodeDataURL(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "data:") {
		return nil, errors.New("missing data prefix")
	}
	p := dataURLScanner{s: s, pos: len("data:")}
	if err := p.run(); err != nil {
		return nil, err
	}
	d := s[p.dataStart:]
	if p.base64 {
		return base64.StdEncoding.DecodeString(d)
	}
	out := make([]byte, 0, len(d))
	for i := 0; i < len(d); i++ {
		if d[i] == '%' {
			out = append(out, unhexByte(d[i+1])<<4|unhexByte(d[i+2]))
			i += 2
			continue
		}
		out = append(out, d[i])
	}
	return out, nil
}

func unhexByte(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

const eofByte = -1

func (p *dataURLScanner) next() int {
	if p.pos >= len(p.s) {
		return eofByte
	}
	c := p.s[p.pos]
	p.pos++
	return int(c)
}

func isTSpecial(c int) bool {
	return strings.IndexByte(`()<>@,;:\"/[]?=`, byte(c)) >= 0
}

// isToken: printable ASCII other than space and the MIME tspecials.
func isToken(c int) bool { return c > ' ' && c < 0x7f && !isTSpecial(c) }

func isURLChar(c int) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte("<>#\"{}|\\^[]`", byte(c)) < 0
}

func isBase64Char(c int) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '\n'
}

func (p *dataURLScanner) run() error {
	start := p.pos
	switch c := p.next(); {
	case c == ';':
		p.pos--
		return p.params()
	case c == ',':
		return p.data(false)
	case c == eofByte:
		return errors.New("missing comma before data")
	case c == 'x' || c == 'X':
		// the reference decoder takes the next character, whatever it is
		if p.pos < len(p.s) {
			r, w := utf8.DecodeRuneInString(p.s[p.pos:])
			p.pos += w
			if r == '-' {
				return p.mediaType(start, false)
			}
		}
		return p.mediaType(start, true)
	case isToken(c):
		return p.mediaType(start, true)
	default:
		return errors.New("invalid character after data prefix")
	}
}

// mediaType reads <type>/<subtype>; discrete types must start with one of
// the RFC 2046 type names (x- types need not).
func (p *dataURLScanner) mediaType(start int, discrete bool) error {
	for {
		switch c := p.next(); {
		case c == '/':
			t := p.s[start : p.pos-1]
			if discrete && !hasAnyPrefix(t, "text", "image", "audio", "video", "application", "message", "multipart") {
				return errors.New("invalid media type")
			}
			return p.subtype()
		case c == eofByte:
			return errors.New("missing media type slash")
		case !isToken(c):
			return errors.New("invalid character for media type")
		}
	}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, pre := range prefixes {
		if strings.HasPrefix(s, pre) {
			return true
		}
	}
	return false
}

func (p *dataURLScanner) subtype() error {
	for {
		switch c := p.next(); {
		case c == ';':
			p.pos--
			return p.params()
		case c == ',':
			return p.data(false)
		case c == eofByte:
			return errors.New("incomplete media type")
		case !isToken(c):
			return errors.New("invalid character for media subtype")
		}
	}
}

// params reads ;attr=value pairs and an optional final ;base64.
func (p *dataURLScanner) params() error {
	for {
		p.pos++ // the ';'
		attrStart := p.pos
		switch c := p.next(); {
		case c == eofByte || c == '=' || c == ',':
			return errors.New("unterminated parameter sequence")
		case !isToken(c):
			return errors.New("invalid character for parameter attribute")
		}
	attr:
		for {
			switch c := p.next(); {
			case c == '=':
				break attr
			case c == ',':
				if a := p.s[attrStart : p.pos-1]; a != "base64" {
					return fmt.Errorf("expected base64, got %s", a)
				}
				return p.data(true)
			case c == eofByte:
				return errors.New("unterminated parameter sequence")
			case !isToken(c):
				return errors.New("invalid character for parameter attribute")
			}
		}
		end, err := p.value()
		if err != nil {
			return err
		}
		if end == ',' {
			return p.data(false)
		}
		p.pos-- // back to the ';'
	}
}

// value reads a parameter value, token or quoted string, checks it as the
// reference decoder does, and returns the ';' or ',' that ends it.
func (p *dataURLScanner) value() (int, error) {
	start := p.pos
	var val string
	switch c := p.next(); {
	case c == '"':
		p.unquote = true
		start = p.pos
		for {
			c := p.next()
			if c == '\\' {
				if c = p.next(); c > 0x7f {
					return 0, errors.New("invalid escaped character")
				}
				if c != eofByte {
					continue
				}
			}
			if c == eofByte {
				return 0, errors.New("unclosed quoted string")
			}
			if c == '"' {
				break
			}
			if c > 0x7f {
				return 0, errors.New("invalid character for parameter value")
			}
		}
		val = p.s[start : p.pos-1]
		if err := p.checkValue(val); err != nil {
			return 0, err
		}
		switch c := p.next(); c {
		case ';', ',':
			return c, nil
		case eofByte:
			return 0, errors.New("missing comma before data")
		default:
			return 0, errors.New("expected semicolon or comma")
		}
	case c == eofByte:
		return 0, errors.New("missing comma before data")
	case !isToken(c):
		return 0, errors.New("invalid character for parameter value")
	}
	for {
		switch c := p.next(); {
		case c == ';' || c == ',':
			if err := p.checkValue(p.s[start : p.pos-1]); err != nil {
				return 0, err
			}
			return c, nil
		case c == eofByte:
			return 0, errors.New("missing comma before data")
		case !isToken(c):
			return 0, errors.New("invalid character for parameter value")
		}
	}
}

// checkValue: a value after a quote is unquoted Go-style, others are
// %-unescaped. An empty quoted value leaves the quote pending for the next
// value, as in the reference decoder.
func (p *dataURLScanner) checkValue(val string) error {
	if val == "" {
		return nil
	}
	if p.unquote {
		p.unquote = false
		_, err := strconv.Unquote(`"` + val + `"`)
		return err
	}
	return unescapeCheck(val)
}

func (p *dataURLScanner) data(b64 bool) error {
	start := p.pos
	p.dataStart, p.base64 = start, b64
	for {
		c := p.next()
		if c == eofByte {
			break
		}
		if b64 && !isBase64Char(c) || !b64 && !isURLChar(c) {
			return errors.New("invalid data character")
		}
	}
	d := p.s[start:]
	if b64 {
		_, err := base64.StdEncoding.DecodeString(d)
		return err
	}
	return unescapeCheck(d)
}

// unescapeCheck accepts %XX escapes only (RFC 2396).
func unescapeCheck(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return errors.New("rfc2396: non-ASCII char detected")
		}
		if s[i] != '%' {
			continue
		}
		for k := 1; k <= 2; k++ {
			if i+k >= len(s) {
				return errors.New("rfc2396: unexpected end of unescape sequence")
			}
			if !isHexDigit(s[i+k]) {
				return errors.New("rfc2396: invalid char 0x25 in unescape sequence")
			}
		}
		i += 2
	}
	return nil
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
