package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/internal/testnet"
)

// azuriteBin finds Azurite (npm package azurite, installed by make test-deps
// under .cache/npm).
func azuriteBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AZURITE_BLOB"); p != "" {
		return p
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	p, _ := filepath.Abs("../.cache/npm/node_modules/.bin/azurite-blob")
	if _, err := os.Stat(p); err != nil {
		testenv.Skip(t, "Azurite is not installed (make test-deps installs it with npm into .cache/npm)")
	}
	return p
}

// fakeJWT makes a token Azurite's "basic" OAuth mode accepts: it checks the
// issuer, the audience and the validity times, not the signature.
func fakeJWT(issuer, audience string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	now := time.Now().Unix()
	p, _ := json.Marshal(map[string]any{"aud": audience, "iss": issuer, "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
		"oid": "00000000-0000-0000-0000-000000000001", "tid": "00000000-0000-0000-0000-0000000000aa"})
	return enc(h) + "." + enc(p) + "." + enc([]byte("signature"))
}

// fakeIMDS answers managed-identity token requests as Azure's IMDS does
// (GET /metadata/identity/oauth2/token?api-version=...&resource=..., header
// Metadata: true), and records which resources were asked for.
type fakeIMDS struct {
	mu        sync.Mutex
	resources []string
	refuse    bool
}

func (m *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metadata/identity/oauth2/token" || r.Header.Get("Metadata") != "true" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	res := r.URL.Query().Get("resource")
	m.mu.Lock()
	m.resources = append(m.resources, res)
	refuse := m.refuse
	m.mu.Unlock()
	if refuse {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_request","error_description":"Identity not found"}`))
		return
	}
	iss := "https://sts.windows.net/00000000-0000-0000-0000-0000000000aa/"
	if strings.Contains(res, "chinacloudapi.cn") {
		iss = "https://sts.chinacloudapi.cn/00000000-0000-0000-0000-0000000000aa/"
	}
	exp := time.Now().Add(time.Hour).Unix()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"client_id":"c","expires_in":"3599","expires_on":"%d","ext_expires_in":"3599","not_before":"%d","resource":%q,"token_type":"Bearer"}`,
		fakeJWT(iss, res), exp, time.Now().Unix(), res)
}

func (m *fakeIMDS) asked() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.resources...)
}

// The managed-identity token comes from a fake IMDS listening at the real
// 169.254.169.254, inside a network namespace the test makes; Azurite
// serves the storage accounts of all three clouds over TLS.
func TestAzureBlob(t *testing.T) {
	bin := azuriteBin(t)
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	dir := t.TempDir()
	tlsCfg, caPEM := newTestCA(t, "*.blob.core.windows.net", "*.blob.core.chinacloudapi.cn", "*.blob.core.usgovcloudapi.net", "localhost")
	leaf := tlsCfg.Certificates[0]
	keyDER, _ := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", filepath.Join(dir, "data"),
		"--silent", "--oauth", "basic", "--cert", filepath.Join(dir, "cert.pem"), "--key", filepath.Join(dir, "key.pem"), "--skipApiVersionCheck", "--loose")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	azurite := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", azurite); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("Azurite did not start: %s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	imds := &fakeIMDS{}
	imdsL, err := net.Listen("tcp", "169.254.169.254:80")
	if err != nil {
		t.Fatal(err)
	}
	imdsSrv := &http.Server{Handler: imds}
	go imdsSrv.Serve(imdsL)
	defer imdsSrv.Close()
	// IMDS is dialled for real, at its address in this namespace; the blob
	// hosts (no DNS here) go to Azurite.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != "169.254.169.254:80" {
			addr = azurite
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}

	// Put a private and a public container in place, as the account owner would.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	admin := &http.Client{Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	owner := fakeJWT("https://sts.windows.net/00000000-0000-0000-0000-0000000000aa/", "https://storage.azure.com")
	do := func(method, u, body string, hdr map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+owner)
		req.Header.Set("x-ms-version", azureStorageVersion)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s", method, u, resp.Status)
		}
	}
	base := "https://devstoreaccount1.blob.core.windows.net"
	do("PUT", base+"/private?restype=container", "", nil)
	do("PUT", base+"/public?restype=container", "", map[string]string{"x-ms-blob-public-access": "blob"})
	do("PUT", base+"/private/nodes/worker.ign", `{"ignition":{"version":"3.4.0"}}`, map[string]string{"x-ms-blob-type": "BlockBlob"})
	do("PUT", base+"/public/hello.txt", "public hello", map[string]string{"x-ms-blob-type": "BlockBlob"})

	cases := []struct {
		name, source, want string
		onAzure, refuse    bool
		resource           string // the audience asked of IMDS; "" = none
		cloud              string
		fails              bool
	}{
		// first: the SDK caches tokens process-wide, so a refusal must come before any grant
		{name: "no identity: anonymous fallback", source: base + "/public/hello.txt", onAzure: true, refuse: true, want: "public hello",
			resource: "https://devstoreaccount1.blob.core.windows.net"},
		{name: "public cloud, managed identity", source: base + "/private/nodes/worker.ign", onAzure: true, want: `{"ignition":{"version":"3.4.0"}}`,
			resource: "https://devstoreaccount1.blob.core.windows.net", cloud: "AzurePublicCloud"},
		{name: "Azure China host uses the China cloud", source: "https://devstoreaccount1.blob.core.chinacloudapi.cn/private/nodes/worker.ign", onAzure: true,
			want: `{"ignition":{"version":"3.4.0"}}`, resource: "https://devstoreaccount1.blob.core.chinacloudapi.cn", cloud: "AzureChinaCloud"},
		{name: "US Government host", source: "https://devstoreaccount1.blob.core.usgovcloudapi.net/private/nodes/worker.ign", onAzure: true,
			want: `{"ignition":{"version":"3.4.0"}}`, resource: "https://devstoreaccount1.blob.core.usgovcloudapi.net", cloud: "AzureUSGovernmentCloud"},
		{name: "public blob off Azure, anonymous", source: base + "/public/hello.txt", want: "public hello"},
		{name: "private blob off Azure fails", source: base + "/private/nodes/worker.ign", fails: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var log logRecorder
			f := &Fetcher{DialContext: dial, Log: log.logf, TotalTimeout: 15 * time.Second}
			f.SetAzureBlob(AzureBlobOptions{ManagedIdentity: c.onAzure})
			if err := f.AddCA(caPEM); err != nil {
				t.Fatal(err)
			}
			imds.mu.Lock()
			imds.resources, imds.refuse = nil, c.refuse
			imds.mu.Unlock()
			got, err := f.FetchBytes(context.Background(), c.source, Options{})
			if c.fails {
				if err == nil {
					t.Fatalf("FetchBytes(%s) = %q; want an error", c.source, got)
				}
				if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrFailed) {
					t.Errorf("FetchBytes(%s) err = %v; want not found or failed", c.source, err)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("FetchBytes(%s) = %q, %v; want %q\nlog:\n%s", c.source, got, err, c.want, log.String())
			}
			asked := imds.asked()
			if c.resource == "" && len(asked) > 0 || c.resource != "" && (len(asked) == 0 || asked[len(asked)-1] != c.resource) {
				t.Errorf("IMDS was asked for %v; want %q\nlog:\n%s", asked, c.resource, log.String())
			}
			if c.cloud != "" && !strings.Contains(log.String(), c.cloud) {
				t.Errorf("log = %q; want it to name %s", log.String(), c.cloud)
			}
		})
	}
}
