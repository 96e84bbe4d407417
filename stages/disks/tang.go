package disks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	_ "crypto/sha1" // thumbprints clevis may be given (S1)
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/redact"
	"github.com/ignition-go/ignition/resource"
)

// A tang binding is checked when the disks stage plans, before anything is
// written, as clevis-encrypt-tang checks it: the server's advertisement
// (the config's, or GET <url>/adv/<thumbprint>) must be a JWS over a JWK
// set that holds a verify key whose thumbprint is the config's and an
// exchange (deriveKey) key, signed by every verify key it lists. Left to
// clevis, a wrong thumbprint is found by `clevis luks bind` after
// luksFormat, when the volume is formatted already and a generated key is
// lost. The advertisement checked is the one clevis binds with (it goes
// into the pin's config), so the server is not asked twice.

// maxAdvertisement caps what is read from a tang server's /adv, and
// maxSignatures the signatures checked (tang signs with each of its
// signing keys: a few).
const (
	maxAdvertisement = 1 << 20
	maxSignatures    = 16
)

// tangTimeout bounds the fetch of one server's advertisement, retries
// included.
var tangTimeout = 90 * time.Second

// thumbprintHashes are the RFC 7638 thumbprint hashes clevis (19, as
// Debian 12 has it) tries: S256, then S1.
var thumbprintHashes = []crypto.Hash{crypto.SHA256, crypto.SHA1}

// jwk is the part of a JSON Web Key tang uses (EC keys), with the members
// a thumbprint covers for RSA and OKP keys too.
type jwk struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Use    string   `json:"use,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
}

// thumbprint is the key's RFC 7638 thumbprint with hash h: the hash of
// its required members, in lexicographic order, as JSON with no spaces,
// base64url without padding.
func (k jwk) thumbprint(h crypto.Hash) (string, error) {
	var members [][2]string
	switch k.Kty {
	case "EC":
		members = [][2]string{{"crv", k.Crv}, {"kty", k.Kty}, {"x", k.X}, {"y", k.Y}}
	case "RSA":
		members = [][2]string{{"e", k.E}, {"kty", k.Kty}, {"n", k.N}}
	case "OKP":
		members = [][2]string{{"crv", k.Crv}, {"kty", k.Kty}, {"x", k.X}}
	default:
		return "", fmt.Errorf("key type %q", k.Kty)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range members {
		if m[1] == "" {
			return "", fmt.Errorf("%s key without %q", k.Kty, m[0])
		}
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(m[0])
		value, _ := json.Marshal(m[1])
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	d := h.New()
	d.Write([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(d.Sum(nil)), nil
}

// can says whether the key is for op: its key_ops, else its use ("sig"
// verifies, "enc" derives keys).
func (k jwk) can(op string) bool {
	if k.KeyOps != nil {
		return slices.Contains(k.KeyOps, op)
	}
	return (k.Use == "sig" && op == "verify") || (k.Use == "enc" && op == "deriveKey")
}

// ecCurves are the curves and signature algorithms of ES256, ES384, ES512.
var ecCurves = map[string]struct {
	curve elliptic.Curve
	hash  crypto.Hash
	alg   string
}{
	"P-256": {elliptic.P256(), crypto.SHA256, "ES256"},
	"P-384": {elliptic.P384(), crypto.SHA384, "ES384"},
	"P-521": {elliptic.P521(), crypto.SHA512, "ES512"},
}

// verify checks a JWS signature (ES256/384/512: r||s) over input.
func (k jwk) verify(alg, input string, sig []byte) error {
	c, ok := ecCurves[k.Crv]
	if k.Kty != "EC" || !ok {
		return fmt.Errorf("a %s %s key cannot be checked here", k.Kty, k.Crv)
	}
	if alg != c.alg {
		return fmt.Errorf("signed with %q, not %s", alg, c.alg)
	}
	size := (c.curve.Params().BitSize + 7) / 8
	x, err1 := b64(k.X)
	y, err2 := b64(k.Y)
	if err1 != nil || err2 != nil || len(x) > size || len(y) > size {
		return errors.New("malformed key coordinates")
	}
	point := make([]byte, 1+2*size)
	point[0] = 4
	copy(point[1+size-len(x):], x)
	copy(point[1+2*size-len(y):], y)
	pub, err := ecdsa.ParseUncompressedPublicKey(c.curve, point)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if len(sig) != 2*size {
		return fmt.Errorf("signature of %d bytes, want %d", len(sig), 2*size)
	}
	h := c.hash.New()
	h.Write([]byte(input))
	r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
	if !ecdsa.Verify(pub, h.Sum(nil), r, s) {
		return errors.New("bad signature")
	}
	return nil
}

// jwsSignature is one signature of a JWS in JSON serialization.
type jwsSignature struct {
	Protected, Signature string
}

// members reads a JSON object's members by their exact names (Go's
// decoder matches names without regard to case; jose does not).
func members(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func stringMember(m map[string]json.RawMessage, name string) (string, bool) {
	var v string
	raw, ok := m[name]
	return v, ok && json.Unmarshal(raw, &v) == nil
}

// b64 decodes base64url without padding, refusing the line breaks Go's
// decoder would skip.
func b64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64url")
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// checkAdvertisement checks that adv (a JWS in flattened or general JSON
// serialization, as tang serves it) holds a verify key with thumbprint thp
// and an exchange key, and is signed by every verify key it lists. It
// returns the hash the thumbprint matched with.
func checkAdvertisement(adv []byte, thp string) (string, error) {
	top, err := members(adv)
	if err != nil {
		return "", fmt.Errorf("the advertisement is not a JWS: %w", err)
	}
	payloadB64, ok := stringMember(top, "payload")
	payload, err := b64(payloadB64)
	if !ok || err != nil {
		return "", errors.New("the advertisement is not a JWS: no payload")
	}
	var sigs []jwsSignature
	_, general := top["signatures"]
	_, flat := top["signature"]
	switch {
	case general && flat:
		return "", errors.New("the advertisement is not a JWS: both signatures and signature")
	case flat:
		p, _ := stringMember(top, "protected")
		sg, _ := stringMember(top, "signature")
		sigs = append(sigs, jwsSignature{p, sg})
	case general:
		var list []json.RawMessage
		if err := json.Unmarshal(top["signatures"], &list); err != nil {
			return "", errors.New("the advertisement is not a JWS: signatures is not a list")
		}
		for _, raw := range list {
			m, err := members(raw)
			if err != nil {
				return "", errors.New("the advertisement is not a JWS: a signature is not an object")
			}
			p, _ := stringMember(m, "protected")
			sg, _ := stringMember(m, "signature")
			sigs = append(sigs, jwsSignature{p, sg})
		}
	}
	if len(sigs) == 0 {
		return "", errors.New("the advertisement is not a signed JWS")
	}
	if len(sigs) > maxSignatures {
		return "", fmt.Errorf("the advertisement has %d signatures; at most %d are checked", len(sigs), maxSignatures)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(payload, &set); err != nil {
		return "", fmt.Errorf("the advertisement's payload is not a JWK set: %w", err)
	}
	var verifiers []jwk
	hashName := ""
	exchange := false
	for _, k := range set.Keys {
		exchange = exchange || k.can("deriveKey")
		if !k.can("verify") {
			continue
		}
		verifiers = append(verifiers, k)
		for _, h := range thumbprintHashes {
			if t, err := k.thumbprint(h); err == nil && t == thp && hashName == "" {
				hashName = h.String()
			}
		}
	}
	if hashName == "" {
		return "", fmt.Errorf("no signing key in the advertisement has thumbprint %s (SHA-256 or SHA-1)", thp)
	}
	if !exchange {
		return "", errors.New("the advertisement has no exchange (deriveKey) key")
	}
	// as clevis (jose jws ver -a): every verify key listed must have signed
	for _, k := range verifiers {
		if err := signedBy(k, sigs, payloadB64); err != nil {
			t, _ := k.thumbprint(crypto.SHA256)
			return "", fmt.Errorf("the advertisement is not signed by its key with thumbprint %s: %w", t, err)
		}
	}
	return hashName, nil
}

// signedBy says whether one of sigs is k's signature over the payload.
func signedBy(k jwk, sigs []jwsSignature, payloadB64 string) error {
	var first error
	for _, s := range sigs {
		raw, err := b64(s.Protected)
		var hdr map[string]json.RawMessage
		if err == nil {
			hdr, err = members(raw)
		}
		alg, _ := stringMember(hdr, "alg")
		var sig []byte
		if err == nil {
			sig, err = b64(s.Signature)
		}
		if err == nil {
			if err = k.verify(alg, s.Protected+"."+payloadB64, sig); err == nil {
				return nil
			}
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// TangCheck is what the plan says about one tang server.
type TangCheck struct {
	URL, Thumbprint, Hash string
	Offline               bool // the advertisement is the config's
	adv                   json.RawMessage
}

// checkTang gets each server's advertisement and checks it against the
// thumbprint, before anything is written.
func checkTang(ctx context.Context, name string, tangs []config.Tang, f *resource.Fetcher) ([]TangCheck, error) {
	var out []TangCheck
	for _, t := range tangs {
		shown := redact.URL(t.URL) // the URL may carry a password or a token
		thp := deref(t.Thumbprint)
		if thp == "" {
			return nil, fmt.Errorf("LUKS %s: tang %s: no thumbprint to trust its advertisement by", name, shown)
		}
		c := TangCheck{URL: t.URL, Thumbprint: thp}
		var adv []byte
		if a := deref(t.Advertisement); a != "" {
			adv, c.Offline = []byte(a), true
		} else {
			if f == nil {
				return nil, fmt.Errorf("LUKS %s: tang %s: no fetcher for the advertisement", name, shown)
			}
			// what clevis would ask: the advertisement signed by that key
			u := strings.TrimRight(t.URL, "/") + "/adv/" + url.PathEscape(thp)
			fctx, cancel := context.WithTimeout(ctx, tangTimeout)
			var err error
			adv, err = f.FetchBytes(fctx, u, resource.Options{MaxSize: maxAdvertisement})
			cancel()
			if errors.Is(err, resource.ErrNotFound) {
				return nil, fmt.Errorf("LUKS %s: tang %s: the server has no signing key with thumbprint %s (%s: not found)", name, shown, thp, redact.URL(u))
			}
			if err != nil {
				return nil, fmt.Errorf("LUKS %s: tang %s: advertisement: %w", name, shown, err)
			}
		}
		h, err := checkAdvertisement(adv, thp)
		if err != nil {
			return nil, fmt.Errorf("LUKS %s: tang %s: %w", name, shown, err)
		}
		c.Hash, c.adv = h, adv
		out = append(out, c)
	}
	return out, nil
}
