package fakes

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// AzureIMDS serves the instance metadata Ignition-like agents read, as
// documented for Azure IMDS: GET /metadata/instance/compute/<field>
// ?api-version=…&format=text with the header Metadata: true (400
// otherwise). userData is returned base64-encoded, empty when unset.
// WarmUp makes the first requests fail with 410 then 429, as IMDS does
// while it starts.
type AzureIMDS struct {
	mu          sync.Mutex
	UserData    []byte
	Environment string // azEnvironment, e.g. AzureChinaCloud
	// The osProfile and publicKeys the portal or CLI was given
	// (compute/osProfile/adminUsername and computerName as text,
	// compute/publicKeys as JSON); empty: not served.
	AdminUsername, ComputerName string
	PublicKeys                  []string
	WarmUp                      int
	served                      int
}

func (m *AzureIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("api-version") == "" {
		http.Error(w, `{"error":"Bad request. Required metadata header not specified"}`, http.StatusBadRequest)
		return
	}
	if m.WarmUp > 0 {
		m.WarmUp--
		if m.WarmUp%2 == 0 {
			w.WriteHeader(http.StatusGone)
		} else {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		return
	}
	m.served++
	switch r.URL.Path {
	case "/metadata/instance/compute/userData":
		w.Write([]byte(base64.StdEncoding.EncodeToString(m.UserData)))
	case "/metadata/instance/compute/azEnvironment":
		w.Write([]byte(m.Environment))
	case "/metadata/instance/compute/osProfile/adminUsername":
		w.Write([]byte(m.AdminUsername))
	case "/metadata/instance/compute/osProfile/computerName":
		w.Write([]byte(m.ComputerName))
	case "/metadata/instance/compute/publicKeys":
		if r.URL.Query().Get("format") != "json" {
			http.Error(w, `{"error":"publicKeys is a JSON list: format=json"}`, http.StatusBadRequest)
			return
		}
		var keys []map[string]string
		for _, k := range m.PublicKeys {
			keys = append(keys, map[string]string{"keyData": k, "path": "/home/" + m.AdminUsername + "/.ssh/authorized_keys"})
		}
		b, _ := json.Marshal(keys)
		if keys == nil {
			b = []byte("[]")
		}
		w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

// Wireserver is the fabric endpoint at 168.63.129.16, as documented for
// guest agents: GET /?comp=versions, GET /machine/?comp=goalstate (with
// x-ms-version), POST /machine?comp=health. It records health reports.
type Wireserver struct {
	mu      sync.Mutex
	reports []Health
}

// Health is one recorded health report.
type Health struct {
	Incarnation, ContainerID, InstanceID, State, SubStatus, Description string
}

const (
	containerID = "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"
	instanceID  = "896f9f8b-0f9a-4b9b-9e8b-0e1c1f9d0e8b._vm0"
)

func (s *Wireserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && r.URL.Query().Get("comp") == "versions":
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?><Versions><Preferred><Version>2015-04-05</Version></Preferred>`+
			`<Supported><Version>2015-04-05</Version><Version>2012-11-30</Version><Version>2012-09-15</Version></Supported></Versions>`)
	case r.URL.Path == "/machine/" && r.URL.Query().Get("comp") == "goalstate":
		if r.Header.Get("x-ms-version") == "" {
			http.Error(w, "missing x-ms-version", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><GoalState><Version>2012-11-30</Version><Incarnation>1</Incarnation>`+
			`<Machine><ExpectedState>Started</ExpectedState></Machine><Container><ContainerId>%s</ContainerId>`+
			`<RoleInstanceList><RoleInstance><InstanceId>%s</InstanceId><State>Started</State></RoleInstance></RoleInstanceList>`+
			`</Container></GoalState>`, containerID, instanceID)
	case r.Method == http.MethodPost && r.URL.Path == "/machine" && r.URL.Query().Get("comp") == "health":
		body, _ := io.ReadAll(r.Body)
		var doc struct {
			Incarnation string `xml:"GoalStateIncarnation"`
			Container   struct {
				ContainerID string `xml:"ContainerId"`
				Role        struct {
					InstanceID string `xml:"InstanceId"`
					Health     struct {
						State   string `xml:"State"`
						Details struct {
							SubStatus   string `xml:"SubStatus"`
							Description string `xml:"Description"`
						} `xml:"Details"`
					} `xml:"Health"`
				} `xml:"RoleInstanceList>Role"`
			} `xml:"Container"`
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") || xml.Unmarshal(body, &doc) != nil ||
			doc.Container.ContainerID != containerID || doc.Container.Role.InstanceID != instanceID {
			http.Error(w, "bad health report", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.reports = append(s.reports, Health{Incarnation: doc.Incarnation, ContainerID: doc.Container.ContainerID, InstanceID: doc.Container.Role.InstanceID,
			State: doc.Container.Role.Health.State, SubStatus: doc.Container.Role.Health.Details.SubStatus, Description: doc.Container.Role.Health.Details.Description})
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

// Reports returns the health reports received so far.
func (s *Wireserver) Reports() []Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Health(nil), s.reports...)
}
