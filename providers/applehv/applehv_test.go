package applehv

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// The vsock connection is replaced at the transport boundary by one to a
// loopback server (vsock to a host needs Apple's hypervisor); the HTTP
// exchange over it is the real one.
func TestAppleHV(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	a := &AppleHV{Dial: dial}
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}}
	body = []byte(`{"ignition":{"version":"3.4.0"}}`)
	if got, err := a.Fetch(context.Background(), e); string(got) != string(body) || err != nil {
		t.Errorf("Fetch() = %q, %v; want the config", got, err)
	}
	body = nil
	if _, err := a.Fetch(context.Background(), e); !errors.Is(err, providers.ErrNoConfig) {
		t.Errorf("Fetch() on a 404 = %v; want ErrNoConfig", err)
	}
}
