package resource

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/ignition-go/ignition/internal/testnet"
)

// gs:// is fetched from fake-gcs-server, served over TLS as
// storage.googleapis.com; on GCE the token comes from a small metadata
// server (written from GCE's documented token endpoint) listening at the
// real 169.254.169.254 inside a network namespace the test makes.
func TestGCS(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		InitialObjects: []fakestorage.Object{
			{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "configs", Name: "roles/worker.ign"}, Content: []byte(`{"ignition":{"version":"3.2.0"}}`)},
			{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "configs", Name: "with space+plus.ign"}, Content: []byte("odd name")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, reqs := publicEndpoint(t, gcs.HTTPHandler(), "storage.googleapis.com")

	var tokenCalls atomic.Int32
	metaL, err := net.Listen("tcp", "169.254.169.254:80")
	if err != nil {
		t.Fatal(err)
	}
	meta := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/token" {
			http.Error(w, "bad request", http.StatusForbidden)
			return
		}
		tokenCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"ya29.TOKEN","expires_in":3599,"token_type":"Bearer"}`))
	})}
	go meta.Serve(metaL)
	defer meta.Close()
	storageDial := f.DialContext
	f.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "169.254.169.254:80" { // the real address, in this namespace
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		return storageDial(ctx, network, addr)
	}

	cases := []struct {
		name, source, want string
		onGCE              bool
		err                error
		path               string
	}{
		{name: "anonymous off GCE", source: "gs://configs/roles/worker.ign", want: `{"ignition":{"version":"3.2.0"}}`, path: "/storage/v1/b/configs/o/roles%2Fworker.ign"},
		{name: "token on GCE", source: "gs://configs/roles/worker.ign", onGCE: true, want: `{"ignition":{"version":"3.2.0"}}`},
		{name: "escaped object name", source: "gs://configs/with%20space+plus.ign", want: "odd name", path: "/storage/v1/b/configs/o/with%20space+plus.ign"},
		{name: "missing object", source: "gs://configs/nope.ign", err: ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs.reset()
			f.SetGCS(GCSOptions{ServiceAccount: c.onGCE})
			got, err := f.FetchBytes(context.Background(), c.source, Options{})
			if !errors.Is(err, c.err) {
				t.Fatalf("FetchBytes(%s) err = %v; want %v", c.source, err, c.err)
			}
			if c.err != nil {
				return
			}
			if string(got) != c.want {
				t.Fatalf("FetchBytes(%s) = %q; want %q", c.source, got, c.want)
			}
			last := reqs.all()[len(reqs.all())-1]
			if last.Host != "storage.googleapis.com" || last.URL.Query().Get("alt") != "media" {
				t.Errorf("request went to %s%s; want storage.googleapis.com with alt=media", last.Host, last.URL)
			}
			if c.path != "" && last.URL.EscapedPath() != c.path {
				t.Errorf("request path = %s; want %s", last.URL.EscapedPath(), c.path)
			}
			auth := last.Header.Get("Authorization")
			if c.onGCE != (auth == "Bearer ya29.TOKEN") || (!c.onGCE && auth != "") {
				t.Errorf("Authorization = %q on GCE=%v", auth, c.onGCE)
			}
		})
	}
	// the token is cached
	f.SetGCS(GCSOptions{ServiceAccount: true})
	for i := 0; i < 3; i++ {
		if _, err := f.FetchBytes(context.Background(), "gs://configs/roles/worker.ign", Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := tokenCalls.Load(); n != 1 {
		t.Errorf("metadata token asked %d times; want once (cached)", n)
	}
	if _, err := f.FetchBytes(context.Background(), "gs://configs", Options{}); err == nil || !strings.Contains(err.Error(), "bucket and an object") {
		t.Errorf("FetchBytes(gs://configs) err = %v; want a clear error", err)
	}
}
