package fakes

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// UserData is the user-data endpoint of one cloud's metadata service,
// written from that cloud's public documentation (the path, the headers it
// requires, how it encodes the data, what it answers without user data).
// FailFirst makes it answer FailStatus (default 503) to that many requests
// first, as a service still starting up.
type UserData struct {
	Cloud string
	Path  string
	// Check refuses a request the real service would refuse (a missing
	// header, a source port): it returns the status, 0 to serve.
	Check func(r *http.Request) int
	// Encode turns the config into what the service serves (base64).
	Encode func(b []byte) []byte

	mu         sync.Mutex
	data       []byte // nil: not set, 404
	FailFirst  int
	FailStatus int
	requests   int
}

// Set sets the user data (nil: none).
func (u *UserData) Set(b []byte) { u.mu.Lock(); u.data = b; u.requests = 0; u.mu.Unlock() }

// Fail makes the next n requests fail with status.
func (u *UserData) Fail(n, status int) {
	u.mu.Lock()
	u.FailFirst, u.FailStatus, u.requests = n, status, 0
	u.mu.Unlock()
}

// Requests counts the requests served since Set or Fail.
func (u *UserData) Requests() int { u.mu.Lock(); defer u.mu.Unlock(); return u.requests }

func (u *UserData) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.requests++
	n, data, fail, st := u.requests, u.data, u.FailFirst, u.FailStatus
	u.mu.Unlock()
	if u.Check != nil {
		if code := u.Check(r); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
	}
	if n <= fail {
		if st == 0 {
			st = http.StatusServiceUnavailable
		}
		http.Error(w, http.StatusText(st), st)
		return
	}
	if data == nil {
		http.NotFound(w, r)
		return
	}
	if u.Encode != nil {
		data = u.Encode(data)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(data)
}

func b64(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }

// Gzip compresses b (Akamai's user data may be gzipped before base64).
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Aliyun: GET http://100.100.100.200/latest/user-data, 404 without user data.
func Aliyun() *UserData { return &UserData{Cloud: "aliyun", Path: "/latest/user-data"} }

// DigitalOcean: GET /metadata/v1/user-data, 404 without user data.
func DigitalOcean() *UserData {
	return &UserData{Cloud: "digitalocean", Path: "/metadata/v1/user-data"}
}

// Exoscale: GET /1.0/user-data (the CloudStack-style API).
func Exoscale() *UserData { return &UserData{Cloud: "exoscale", Path: "/1.0/user-data"} }

// Hetzner: GET /hetzner/v1/userdata.
func Hetzner() *UserData { return &UserData{Cloud: "hetzner", Path: "/hetzner/v1/userdata"} }

// UpCloud: GET /metadata/v1/user_data.
func UpCloud() *UserData { return &UserData{Cloud: "upcloud", Path: "/metadata/v1/user_data"} }

// Vultr: GET /user-data/user-data.
func Vultr() *UserData { return &UserData{Cloud: "vultr", Path: "/user-data/user-data"} }

// OpenStack: GET /openstack/latest/user_data (nova's metadata service).
func OpenStack() *UserData {
	return &UserData{Cloud: "openstack", Path: "/openstack/latest/user_data"}
}

// CloudStack: the virtual router's GET /latest/user-data.
func CloudStack() *UserData { return &UserData{Cloud: "cloudstack", Path: "/latest/user-data"} }

// Packet: Equinix Metal's GET https://metadata.packet.net/userdata.
func Packet() *UserData { return &UserData{Cloud: "packet", Path: "/userdata"} }

// Oracle: OCI IMDS v2 GET /opc/v2/instance/metadata/user_data, which
// refuses requests without "Authorization: Bearer Oracle" (401) and serves
// the user data base64 encoded, as the instance metadata holds it.
func Oracle() *UserData {
	return &UserData{Cloud: "oraclecloud", Path: "/opc/v2/instance/metadata/user_data",
		Check: func(r *http.Request) int {
			if r.Header.Get("Authorization") != "Bearer Oracle" {
				return http.StatusUnauthorized
			}
			return 0
		},
		Encode: b64}
}

// Scaleway: GET http://169.254.42.42/user_data/cloud-init, answered only to
// connections from a privileged source port (403 otherwise).
func Scaleway() *UserData {
	return &UserData{Cloud: "scaleway", Path: "/user_data/cloud-init",
		Check: func(r *http.Request) int {
			_, p, _ := net.SplitHostPort(r.RemoteAddr)
			if port, _ := strconv.Atoi(p); port >= 1024 {
				return http.StatusForbidden
			}
			return 0
		}}
}

// Akamai is Linode's Metadata service: PUT /v1/token with the header
// Metadata-Token-Expiry-Seconds returns a token; GET /v1/user-data needs it
// in Metadata-Token (401 otherwise) and serves the user data base64
// encoded.
type Akamai struct {
	*UserData
	Token string
}

// NewAkamai returns the fake with its token.
func NewAkamai() *Akamai {
	a := &Akamai{Token: "tok-3f1c"}
	a.UserData = &UserData{Cloud: "akamai", Path: "/v1/user-data", Encode: b64,
		Check: func(r *http.Request) int {
			if r.Header.Get("Metadata-Token") != a.Token {
				return http.StatusUnauthorized
			}
			return 0
		}}
	return a
}

// TokenHandler serves PUT /v1/token.
func (a *Akamai) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.Header.Get("Metadata-Token-Expiry-Seconds") == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		w.Write([]byte(a.Token))
	})
}

// PacketStates records the user state events Equinix Metal's metadata
// service receives at its user_state_url, and serves GET /metadata naming
// that URL.
type PacketStates struct {
	mu     sync.Mutex
	URL    string
	Events []map[string]any
}

func (p *PacketStates) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/metadata" && r.Method == http.MethodGet:
		json.NewEncoder(w).Encode(map[string]any{"id": "a1b2", "user_state_url": p.URL})
	case r.URL.Path == "/events" && r.Method == http.MethodPost:
		var ev map[string]any
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.Events = append(p.Events, ev)
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// Received returns the events so far.
func (p *PacketStates) Received() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.Events...)
}

// IMDS is AWS's instance metadata service as its docs describe IMDSv2:
// PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds returns
// a session token, and every GET needs it in X-aws-ec2-metadata-token
// (401 otherwise). Paths maps a path to its body; Serve, when set, serves
// the paths it knows (for large generated bodies). Anything else is 404.
type IMDS struct {
	Paths map[string]string
	Serve func(w http.ResponseWriter, path string) bool

	mu    sync.Mutex
	gets  map[string]int
	total int
}

const imdsToken = "AQAEAFakeIMDSv2Token=="

func (m *IMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "missing ttl", http.StatusBadRequest)
			return
		}
		w.Write([]byte(imdsToken))
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != imdsToken {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	m.mu.Lock()
	if m.gets == nil {
		m.gets = map[string]int{}
	}
	m.gets[r.URL.Path]++
	m.total++
	m.mu.Unlock()
	if v, ok := m.Paths[r.URL.Path]; ok {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(v))
		return
	}
	if m.Serve != nil && m.Serve(w, r.URL.Path) {
		return
	}
	http.NotFound(w, r)
}

// Gets counts the GET requests whose path matches match (all with nil).
func (m *IMDS) Gets(match func(path string) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if match == nil {
		return m.total
	}
	n := 0
	for p, c := range m.gets {
		if match(p) {
			n += c
		}
	}
	return n
}
