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
	"slices"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/resource"
)

// A tang binding is checked when the disks stage plans, before anything is
// written: the server's advertisement (the config's, or GET <url>/adv) must
// be a JWS over a JWK set, signed by a verify key whose thumbprint is the
// config's, and hold an exchange (deriveKey) key. Left to clevis, a wrong
// thumbprint is found by `clevis luks bind` after luksFormat, when the
// volume is formatted already and a generated key is lost.

// maxAdvertisement caps what is read from a tang server's /adv.
const maxAdvertisement = 1 << 20

// thumbprintHashes are the RFC 7638 thumbprint hashes clevis accepts
// (jose's S1, S224, S256, S384, S512): a config may carry any of them.
var thumbprintHashes = []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512}

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

func (k jwk) can(op string) bool { return slices.Contains(k.KeyOps, op) }

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
	x, err1 := base64.RawURLEncoding.DecodeString(k.X)
	y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
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
	Protected string `json:"protected"`
	Signature string `json:"signature"`
}

// checkAdvertisement checks that adv (a JWS in flattened or general JSON
// serialization, as tang serves it) is signed by a verify key with
// thumbprint thp and holds an exchange key. It returns the hash name the
// thumbprint matched with.
func checkAdvertisement(adv []byte, thp string) (string, error) {
	var jws struct {
		Payload    string         `json:"payload"`
		Signatures []jwsSignature `json:"signatures"`
		jwsSignature
	}
	if err := json.Unmarshal(adv, &jws); err != nil {
		return "", fmt.Errorf("the advertisement is not a JWS: %w", err)
	}
	if jws.Signature != "" {
		jws.Signatures = append(jws.Signatures, jws.jwsSignature)
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil || len(jws.Signatures) == 0 {
		return "", errors.New("the advertisement is not a signed JWS")
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(payload, &set); err != nil {
		return "", fmt.Errorf("the advertisement's payload is not a JWK set: %w", err)
	}
	var signer *jwk
	var hashName string
	exchange := false
	for i, k := range set.Keys {
		exchange = exchange || k.can("deriveKey")
		if !k.can("verify") || signer != nil {
			continue
		}
		for _, h := range thumbprintHashes {
			if t, err := k.thumbprint(h); err == nil && t == thp {
				signer, hashName = &set.Keys[i], h.String()
				break
			}
		}
	}
	if signer == nil {
		return "", fmt.Errorf("no signing key in the advertisement has thumbprint %s", thp)
	}
	if !exchange {
		return "", errors.New("the advertisement has no exchange (deriveKey) key")
	}
	var errs []error
	for _, s := range jws.Signatures {
		var hdr struct {
			Alg string `json:"alg"`
		}
		raw, err := base64.RawURLEncoding.DecodeString(s.Protected)
		if err == nil {
			err = json.Unmarshal(raw, &hdr)
		}
		sig, err2 := base64.RawURLEncoding.DecodeString(s.Signature)
		if err == nil {
			err = err2
		}
		if err == nil {
			err = signer.verify(hdr.Alg, s.Protected+"."+jws.Payload, sig)
		}
		if err == nil {
			return hashName, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("the advertisement is not signed by the key with thumbprint %s: %w", thp, errors.Join(errs...))
}

// TangCheck is what the plan says about one tang server.
type TangCheck struct {
	URL, Thumbprint, Hash string
	Offline               bool // the advertisement is the config's
}

// checkTang gets each server's advertisement and checks it against the
// thumbprint, before anything is written.
func checkTang(ctx context.Context, name string, tangs []config.Tang, f *resource.Fetcher) ([]TangCheck, error) {
	var out []TangCheck
	for _, t := range tangs {
		thp := deref(t.Thumbprint)
		if thp == "" {
			return nil, fmt.Errorf("LUKS %s: tang %s: no thumbprint to trust its advertisement by", name, t.URL)
		}
		c := TangCheck{URL: t.URL, Thumbprint: thp}
		var adv []byte
		if a := deref(t.Advertisement); a != "" {
			adv, c.Offline = []byte(a), true
		} else {
			if f == nil {
				return nil, fmt.Errorf("LUKS %s: tang %s: no fetcher for the advertisement", name, t.URL)
			}
			var err error
			adv, err = f.FetchBytes(ctx, strings.TrimRight(t.URL, "/")+"/adv", resource.Options{MaxSize: maxAdvertisement})
			if err != nil {
				return nil, fmt.Errorf("LUKS %s: tang %s: advertisement: %w", name, t.URL, err)
			}
		}
		h, err := checkAdvertisement(adv, thp)
		if err != nil {
			return nil, fmt.Errorf("LUKS %s: tang %s: %w", name, t.URL, err)
		}
		c.Hash = h
		out = append(out, c)
	}
	return out, nil
}
