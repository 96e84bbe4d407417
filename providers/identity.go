package providers

import (
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"unicode/utf8"
)

// Identity is what a platform publishes about the instance for logging in:
// its host name, and public SSH keys for a user (User is empty when the
// platform names none: the distro's default user gets them).
type Identity struct {
	Hostname string
	User     string
	Keys     []string
	// UserKeys are keys the platform gives to named users (GCE's
	// "user:key" entries), in the order the platform lists them.
	UserKeys []UserKey
}

// UserKey is one key for one named user.
type UserKey struct{ User, Key string }

// Empty says whether there is nothing to render.
func (id Identity) Empty() bool {
	return id.Hostname == "" && len(id.Keys) == 0 && len(id.UserKeys) == 0
}

// IdentityProvider is a provider whose platform publishes an Identity.
// Offline it returns resource.ErrNeedNet when it needs the network.
type IdentityProvider interface {
	Identity(ctx context.Context, e *Env) (Identity, error)
}

// Fingerprint renders an authorized_keys line's key as ssh-keygen -l
// does (SHA256:<base64 of the blob's digest>), for logs: the key itself is
// not secret, but a fingerprint is what operators compare.
func Fingerprint(line string) string {
	fields := strings.Fields(line)
	for _, f := range fields {
		blob, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			blob, err = base64.RawStdEncoding.DecodeString(f)
		}
		if err != nil || len(blob) < 20 {
			continue
		}
		sum := sha256.Sum256(blob)
		return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	}
	// not a well-formed key: still name it without showing it
	if len(fields) >= 2 {
		sum := sha256.Sum256([]byte(fields[1]))
		return "text-SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	}
	return "(not a key)"
}

// KeyLines splits a list of authorized_keys lines, dropping blank lines
// and comments.
func KeyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// The platform fragment reads at most this much from metadata services in
// all (host name, key lists, documents, each key of a listing), and makes
// at most this many reads: what is past either is left out with a
// warning, never failing the boot. A thousand keys of the longest common
// kind (RSA 4096, about 750 bytes a line) fit.
// The fragment renders at most FragmentKeys keys in all (after dropping
// lines that are not keys, and duplicates).
const (
	FragmentBytes = 1 << 20
	FragmentReads = 1000
	FragmentKeys  = 1000
)

// Budget is what the platform fragment may still read from metadata
// services: bytes and reads left. It is shared by every read of one
// fragment (safe for concurrent use).
type Budget struct {
	mu          sync.Mutex
	bytes       int64
	reads       int
	warnedReads bool
}

// NewBudget returns a budget of n bytes and reads reads.
func NewBudget(n int64, reads int) *Budget { return &Budget{bytes: n, reads: reads} }

// Read reserves one read: it returns how many bytes that read may take,
// and false when no read or no byte is left (first says whether this is
// the first refusal for want of reads, to warn once).
func (b *Budget) Read() (limit int64, ok, first bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reads <= 0 || b.bytes <= 0 {
		first = !b.warnedReads
		b.warnedReads = true
		return 0, false, first
	}
	b.reads--
	return b.bytes, true, false
}

// Spend takes n bytes read off the budget.
func (b *Budget) Spend(n int64) {
	b.mu.Lock()
	b.bytes -= n
	b.mu.Unlock()
}

type budgetKey struct{}

// WithBudget returns a context whose metadata reads share b.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// BudgetOf returns the budget of ctx, or a new one of the fragment's
// defaults when it has none (each caller without one then gets its own).
func BudgetOf(ctx context.Context) *Budget {
	if b, ok := ctx.Value(budgetKey{}).(*Budget); ok && b != nil {
		return b
	}
	return NewBudget(FragmentBytes, FragmentReads)
}

// PublicKey is one checked line of authorized_keys without options:
// "type base64-blob [comment]".
type PublicKey struct {
	Type    string
	Blob    string // the base64 as given (canonical: strict standard base64)
	Comment string
}

// ID names the key itself, without its comment: two lines with the same
// ID are the same key.
func (k PublicKey) ID() string { return k.Type + " " + k.Blob }

// Limits of a key line, as OpenSSH's: a key blob of at most 16 KiB
// (SSH_MAX_PUBKEY_BYTES), RSA moduli of 1024 to 16384 bits.
const (
	MaxKeyLine    = 32 << 10
	maxKeyBlob    = 16 << 10
	minRSABits    = 1024
	maxRSABits    = 16384
	sshEd25519Len = 32
)

// keyCurves are the ECDSA key types with their curve, as named in the
// blob, and its point check.
var keyCurves = map[string]struct {
	name  string
	curve ecdh.Curve
}{
	"ecdsa-sha2-nistp256":                {"nistp256", ecdh.P256()},
	"ecdsa-sha2-nistp384":                {"nistp384", ecdh.P384()},
	"ecdsa-sha2-nistp521":                {"nistp521", ecdh.P521()},
	"sk-ecdsa-sha2-nistp256@openssh.com": {"nistp256", ecdh.P256()},
}

// ParseKey checks an authorized_keys line as a platform gives it: a known
// key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 and the
// FIDO sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com),
// then strict standard base64 of a blob of that same type whose fields
// are all there and well formed (the ed25519 key's 32 bytes, an RSA
// modulus of 1024 to 16384 bits, an ECDSA point on the named curve),
// then an optional comment. Options (command="...", from=...) are not
// taken from a platform, nor DSA keys (refused by OpenSSH's default since
// 2015, removed in 10.0), certificates, control characters or invalid
// UTF-8. The error says why, without the key.
func ParseKey(line string) (PublicKey, error) {
	var k PublicKey
	if len(line) > MaxKeyLine {
		return k, fmt.Errorf("a line of %d bytes (more than %d)", len(line), MaxKeyLine)
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return k, errors.New("control characters in the line")
		}
	}
	if !utf8.ValidString(line) {
		return k, errors.New("not UTF-8")
	}
	typ, rest := cutField(strings.TrimSpace(line))
	blob64, comment := cutField(rest)
	k = PublicKey{Type: typ, Blob: blob64, Comment: comment}
	switch {
	case typ == "ssh-dss":
		return k, errors.New("a DSA key (ssh-dss), which OpenSSH no longer accepts")
	case !knownKeyType(typ) && plainName(typ):
		return k, fmt.Errorf("not a known key type: %q", typ)
	case !knownKeyType(typ):
		return k, errors.New("not a known key type at the start of the line")
	case blob64 == "":
		return k, errors.New("no key after the type")
	case len(blob64) > base64.StdEncoding.EncodedLen(maxKeyBlob):
		return k, fmt.Errorf("a key blob longer than %d bytes", maxKeyBlob)
	}
	blob, err := base64.StdEncoding.Strict().DecodeString(blob64)
	if err != nil {
		return k, errors.New("the key is not base64")
	}
	if err := checkBlob(typ, blob); err != nil {
		return k, fmt.Errorf("not an %s key: %w", typ, err)
	}
	return k, nil
}

func knownKeyType(t string) bool {
	_, ecdsa := keyCurves[t]
	return ecdsa || t == "ssh-ed25519" || t == "ssh-rsa" || t == "sk-ssh-ed25519@openssh.com"
}

// plainName says whether s can be quoted as a key type in a message:
// short, of the characters of type names.
func plainName(s string) bool {
	if len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("@.-_", c) >= 0) {
			return false
		}
	}
	return true
}

// cutField splits off the first field of s (separated by spaces or tabs).
func cutField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// checkBlob checks the fields of a key blob of type typ (RFC 4253 6.6,
// RFC 5656 3.1, OpenSSH's PROTOCOL.u2f), and that nothing follows them.
func checkBlob(typ string, blob []byte) error {
	r := sshReader{b: blob}
	if name := r.str(); string(name) != typ {
		if r.bad {
			return errors.New("truncated")
		}
		return errors.New("the blob names another type")
	}
	switch typ {
	case "ssh-ed25519", "sk-ssh-ed25519@openssh.com":
		if pk := r.str(); !r.bad && len(pk) != sshEd25519Len {
			return fmt.Errorf("a public key of %d bytes, not %d", len(pk), sshEd25519Len)
		}
	case "ssh-rsa":
		e, n := r.mpint(), r.mpint()
		switch {
		case r.bad:
		case len(e) == 0 || e[len(e)-1]&1 == 0:
			return errors.New("an even or zero exponent")
		case bitLen(n) < minRSABits || bitLen(n) > maxRSABits:
			return fmt.Errorf("a modulus of %d bits (not %d to %d)", bitLen(n), minRSABits, maxRSABits)
		}
	default:
		c := keyCurves[typ]
		if name := r.str(); !r.bad && string(name) != c.name {
			return errors.New("another curve than its type's")
		}
		if q := r.str(); !r.bad {
			if _, err := c.curve.NewPublicKey(q); err != nil {
				return errors.New("not a point on its curve")
			}
		}
	}
	if strings.HasPrefix(typ, "sk-") {
		r.str() // the FIDO application ("ssh:" usually)
	}
	switch {
	case r.bad:
		return errors.New("truncated")
	case len(r.b) > 0:
		return fmt.Errorf("%d bytes after the key", len(r.b))
	}
	return nil
}

// sshReader reads the wire types of RFC 4251 5; bad sticks after the
// first read past the end.
type sshReader struct {
	b   []byte
	bad bool
}

func (r *sshReader) str() []byte {
	if r.bad || len(r.b) < 4 {
		r.bad = true
		return nil
	}
	n := binary.BigEndian.Uint32(r.b)
	if uint64(n) > uint64(len(r.b)-4) {
		r.bad = true
		return nil
	}
	s := r.b[4 : 4+n]
	r.b = r.b[4+n:]
	return s
}

// mpint reads a non-negative mpint, without its leading zero byte.
func (r *sshReader) mpint() []byte {
	m := r.str()
	switch {
	case r.bad:
		return nil
	case len(m) > 0 && m[0]&0x80 != 0: // negative
		r.bad = true
		return nil
	case len(m) > 1 && m[0] == 0 && m[1]&0x80 == 0: // not minimal
		r.bad = true
		return nil
	case len(m) > 0 && m[0] == 0:
		return m[1:]
	}
	return m
}

func bitLen(m []byte) int {
	if len(m) == 0 {
		return 0
	}
	return 8*(len(m)-1) + bits.Len8(m[0])
}
