package disks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/resource"
)

var b64url = base64.RawURLEncoding

// ecJWK is the public JWK of k, with key_ops.
func ecJWK(k *ecdsa.PrivateKey, crv string, ops ...string) map[string]any {
	size := (k.Curve.Params().BitSize + 7) / 8
	return map[string]any{"kty": "EC", "crv": crv, "key_ops": ops,
		"x": b64url.EncodeToString(k.X.FillBytes(make([]byte, size))),
		"y": b64url.EncodeToString(k.Y.FillBytes(make([]byte, size)))}
}

// signedAdv is a tang-style advertisement of keys, signed by signer
// (ES512 over P-521, or ES256 over P-256), in flattened serialization
// unless general is set.
func signedAdv(t *testing.T, keys []map[string]any, signer *ecdsa.PrivateKey, general bool) string {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"keys": keys})
	alg, h := "ES512", crypto.SHA512
	if signer.Curve == elliptic.P256() {
		alg, h = "ES256", crypto.SHA256
	}
	prot := b64url.EncodeToString([]byte(`{"alg":"` + alg + `","cty":"jwk-set+json"}`))
	pl := b64url.EncodeToString(payload)
	d := h.New()
	d.Write([]byte(prot + "." + pl))
	r, s, err := ecdsa.Sign(rand.Reader, signer, d.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	size := (signer.Curve.Params().BitSize + 7) / 8
	sig := append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	one := map[string]any{"protected": prot, "signature": b64url.EncodeToString(sig)}
	var out []byte
	if general {
		out, _ = json.Marshal(map[string]any{"payload": pl, "signatures": []any{one}})
	} else {
		one["payload"] = pl
		out, _ = json.Marshal(one)
	}
	return string(out)
}

func thumb(t *testing.T, k map[string]any, h crypto.Hash) string {
	t.Helper()
	b, _ := json.Marshal(k)
	var j jwk
	json.Unmarshal(b, &j)
	s, err := j.thumbprint(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The advertisement is trusted only when a verify key with the config's
// thumbprint signed it and it holds an exchange key.
func TestTangAdvertisement(t *testing.T) {
	sign, other, exch := newKey(t, elliptic.P521()), newKey(t, elliptic.P521()), newKey(t, elliptic.P521())
	signJWK, exchJWK := ecJWK(sign, "P-521", "verify"), ecJWK(exch, "P-521", "deriveKey")
	good := signedAdv(t, []map[string]any{exchJWK, signJWK}, sign, false)
	thp := thumb(t, signJWK, crypto.SHA256)
	small := newKey(t, elliptic.P256())
	smallJWK := ecJWK(small, "P-256", "sign", "verify")
	for _, c := range []struct {
		name, adv, thp, want string // want: "" for trusted, else a part of the error
	}{
		{"flattened, S256", good, thp, ""},
		{"S1 thumbprint", good, thumb(t, signJWK, crypto.SHA1), ""},
		// clevis 19 tries S256 and S1 only: a bind with another would fail
		{"S512 thumbprint", good, thumb(t, signJWK, crypto.SHA512), "no signing key"},
		{"general serialization", signedAdv(t, []map[string]any{exchJWK, signJWK}, sign, true), thp, ""},
		{"ES256 signer", signedAdv(t, []map[string]any{exchJWK, smallJWK}, small, false), thumb(t, smallJWK, crypto.SHA256), ""},
		{"thumbprint of the exchange key", good, thumb(t, exchJWK, crypto.SHA256), "no signing key"},
		{"thumbprint of no key", good, thumb(t, ecJWK(other, "P-521", "verify"), crypto.SHA256), "no signing key"},
		// the listed key with the trusted thumbprint did not sign it
		{"signed by another key", signedAdv(t, []map[string]any{exchJWK, signJWK}, other, false), thp, "not signed by its key with thumbprint " + thp},
		// every verify key listed must have signed (clevis: jose jws ver -a)
		{"a second verify key that did not sign", signedAdv(t, []map[string]any{exchJWK, signJWK, ecJWK(other, "P-521", "verify")}, sign, false), thp, "not signed by its key"},
		{"use instead of key_ops", signedAdv(t, []map[string]any{{"kty": "EC", "crv": "P-521", "use": "enc", "x": exchJWK["x"], "y": exchJWK["y"]}, signJWK}, sign, false), thp, ""},
		// member names are exact, as jose reads them
		{"member names in capitals", strings.Replace(good, `"payload"`, `"PAYLOAD"`, 1), thp, "no payload"},
		{"both serializations", strings.Replace(good, `{`, `{"signatures":[],`, 1), thp, "both"},
		{"no exchange key", signedAdv(t, []map[string]any{signJWK}, sign, false), thp, "no exchange"},
		{"payload changed after signing", strings.Replace(good, `"payload":"`, `"payload":"e`, 1), thp, "not a"},
		{"not JSON", "<html>", thp, "not a JWS"},
		{"unsigned", `{"payload":"` + b64url.EncodeToString([]byte(`{"keys":[]}`)) + `"}`, thp, "not a signed JWS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := checkAdvertisement([]byte(c.adv), c.thp)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("trusted; want a refusal (%s)", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q; want it to say %q", err, c.want)
			}
		})
	}
}

// Thumbprints as jose (which clevis uses) computes them, for keys that
// tangd-keygen made.
func TestTangThumbprintsAsJose(t *testing.T) {
	testenv.NeedTools(t, "jose")
	keygen := "/usr/libexec/tangd-keygen"
	if _, err := os.Stat(keygen); err != nil {
		testenv.Skip(t, "%s is missing: the tang package is not installed (make test-deps installs it)", keygen)
	}
	dir := t.TempDir()
	if out, err := exec.Command(keygen, dir).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", keygen, err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jwk"))
	if len(files) != 2 {
		t.Fatalf("tangd-keygen made %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var k jwk
		if err := json.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		for alg, h := range map[string]crypto.Hash{"S1": crypto.SHA1, "S224": crypto.SHA224, "S256": crypto.SHA256, "S384": crypto.SHA384, "S512": crypto.SHA512} {
			out, err := exec.Command("jose", "jwk", "thp", "-a", alg, "-i", f).Output()
			if err != nil {
				t.Fatalf("jose jwk thp -a %s -i %s: %v", alg, f, err)
			}
			got, err := k.thumbprint(h)
			if want := strings.TrimSpace(string(out)); err != nil || got != want {
				t.Errorf("%s thumbprint of %s = %q (%v); jose says %q", alg, filepath.Base(f), got, err, want)
			}
		}
	}
}

// Without an advertisement in the config, the server's /adv is fetched
// (one GET) and checked; a server that does not answer fails the plan.
func TestCheckTangFetchesTheAdvertisement(t *testing.T) {
	sign, exch := newKey(t, elliptic.P521()), newKey(t, elliptic.P521())
	signJWK := ecJWK(sign, "P-521", "sign", "verify")
	adv := signedAdv(t, []map[string]any{ecJWK(exch, "P-521", "deriveKey"), signJWK}, sign, false)
	var gets []string
	thp := thumb(t, signJWK, crypto.SHA256)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets = append(gets, r.Method+" "+r.URL.Path)
		if r.URL.Path != "/tang/adv/"+thp {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jose+json")
		w.Write([]byte(adv))
	}))
	defer srv.Close()
	f := &resource.Fetcher{TotalTimeout: 5 * time.Second}
	ctx := context.Background()
	got, err := checkTang(ctx, "v", []config.Tang{{URL: srv.URL + "/tang/", Thumbprint: &thp}}, f)
	if err != nil || len(got) != 1 || got[0].Offline || got[0].Hash != "SHA-256" {
		t.Fatalf("checkTang = %+v, %v; want one server checked online with SHA-256", got, err)
	}
	if len(gets) != 1 || gets[0] != "GET /tang/adv/"+thp {
		t.Errorf("requests %q; want one GET /tang/adv/%s", gets, thp)
	}
	// the advertisement checked is the one clevis binds with
	lp := &LuksPlan{Clevis: config.Clevis{Tang: []config.Tang{{URL: srv.URL + "/tang/", Thumbprint: &thp}}}, Tang: got}
	if _, cfg := lp.clevisPin(); !strings.Contains(cfg, `"adv":{"payload"`) {
		t.Errorf("clevis config %s; want the checked advertisement in it", cfg)
	}
	// given in the config: no request
	gets = nil
	if _, err := checkTang(ctx, "v", []config.Tang{{URL: srv.URL + "/tang", Thumbprint: &thp, Advertisement: &adv}}, f); err != nil || len(gets) != 0 {
		t.Errorf("with the advertisement in the config: %v, requests %q; want no error and no request", err, gets)
	}
	// a server without that key (tang answers 404)
	if _, err := checkTang(ctx, "v", []config.Tang{{URL: srv.URL + "/none", Thumbprint: &thp}}, f); err == nil || !strings.Contains(err.Error(), "LUKS v: tang "+srv.URL+"/none: the server has no signing key with thumbprint "+thp) {
		t.Errorf("a server with no advertisement: %v; want the plan refused", err)
	}
	// a server that does not answer: refused when the wait ends
	defer func(d time.Duration) { tangTimeout = d }(tangTimeout)
	tangTimeout = 300 * time.Millisecond
	srv.Close()
	slow := &resource.Fetcher{} // no total timeout of its own, as the disks stage's
	if _, err := checkTang(ctx, "v", []config.Tang{{URL: srv.URL, Thumbprint: &thp}}, slow); err == nil || !strings.Contains(err.Error(), "advertisement") {
		t.Errorf("a server that is gone: %v; want the plan refused", err)
	}
}

// What the plan's check of one tang advertisement costs (tangd's shape:
// ES512 over P-521, one signing and one exchange key).
func BenchmarkCheckAdvertisement(b *testing.B) {
	t := &testing.T{}
	sign, exch := newKey(t, elliptic.P521()), newKey(t, elliptic.P521())
	signJWK := ecJWK(sign, "P-521", "sign", "verify")
	adv := []byte(signedAdv(t, []map[string]any{ecJWK(exch, "P-521", "deriveKey"), signJWK}, sign, false))
	thp := thumb(t, signJWK, crypto.SHA256)
	for b.Loop() {
		if _, err := checkAdvertisement(adv, thp); err != nil {
			b.Fatal(err)
		}
	}
}
