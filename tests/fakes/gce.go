// Package fakes holds small metadata servers written from the clouds'
// published API documentation, for platforms that have no emulator: GCE's
// metadata server and Azure's IMDS and wireserver.
package fakes

import (
	"net/http"
	"strings"
	"sync"
)

// GCE serves the instance attribute user-data as GCE's metadata server
// does: GET /computeMetadata/v1/instance/attributes/user-data, which
// requires the header Metadata-Flavor: Google (403 otherwise) and answers
// 404 when the attribute is not set.
type GCE struct {
	mu       sync.Mutex
	UserData []byte // nil: attribute not set
	// Values are other metadata entries by path under /computeMetadata/v1/
	// ("instance/hostname", "instance/attributes/ssh-keys",
	// "project/attributes/ssh-keys", ...); absent ones answer 404.
	Values   map[string]string
	requests int
}

func (g *GCE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
		return
	}
	w.Header().Set("Metadata-Flavor", "Google")
	if v, ok := g.Values[strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/")]; ok {
		w.Header().Set("Content-Type", "application/text")
		w.Write([]byte(v))
		return
	}
	if r.URL.Path != "/computeMetadata/v1/instance/attributes/user-data" || g.UserData == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/text")
	w.Write(g.UserData)
}

// Requests counts the requests served.
func (g *GCE) Requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}
