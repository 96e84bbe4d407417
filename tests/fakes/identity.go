package fakes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// NovaMetaData is an instance's openstack/latest/meta_data.json as nova
// documents it (https://docs.openstack.org/nova/latest/user/metadata.html):
// the host name, the server's name, and each keypair twice, in "keys" with
// its type and in "public_keys" by name, with the trailing newline nova
// leaves on the key.
func NovaMetaData(hostname, name string, keypairs map[string]string) []byte {
	type key struct {
		Data string `json:"data"`
		Type string `json:"type"`
		Name string `json:"name"`
	}
	doc := map[string]any{
		"uuid": "d8e02d56-2648-49a3-bf97-6be8f1204f38", "availability_zone": "nova",
		"hostname": hostname, "name": name, "launch_index": 0,
		"project_id": "f7ac731cc11f40efbc03a9f9e1d1d21f", "meta": map[string]string{"role": "webserver"},
	}
	if len(keypairs) > 0 {
		names := make([]string, 0, len(keypairs))
		for n := range keypairs {
			names = append(names, n)
		}
		sort.Strings(names)
		var keys []key
		pub := map[string]string{}
		for _, n := range names {
			keys = append(keys, key{Data: keypairs[n] + "\n", Type: "ssh", Name: n})
			pub[n] = keypairs[n] + "\n"
		}
		doc["keys"], doc["public_keys"] = keys, pub
	}
	b, _ := json.Marshal(doc)
	return b
}

// AkamaiInstance is the instance data of Akamai's Metadata service
// (https://techdocs.akamai.com/cloud-computing/docs/metadata-service-api):
// GET /v1/instance and GET /v1/ssh-keys, each refused without the token
// (401) and answered as text/plain ("label: x", "users.root: key") unless
// the request asks for application/json.
type AkamaiInstance struct {
	Akamai *Akamai
	Label  string
	// Users maps a user name (root, or a Linode account user) to keys.
	Users map[string][]string
}

func (a *AkamaiInstance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata-Token") != a.Akamai.Token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	asJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	var doc any
	var text []string
	switch r.URL.Path {
	case "/v1/instance":
		doc = map[string]any{"id": 532754976, "host_uuid": "123abc456def789ghi", "label": a.Label, "region": "us-iad",
			"type": "g6-standard-1", "tags": []string{}, "specs": map[string]int{"vcpus": 1, "memory": 2048, "disk": 51200, "transfer": 2000, "gpus": 0},
			"backups": map[string]any{"enabled": false, "status": nil}}
		text = []string{"backups.enabled: false", "id: 532754976", "label: " + a.Label, "region: us-iad"}
	case "/v1/ssh-keys":
		users := map[string][]string{}
		for u, ks := range a.Users {
			users[u] = ks
			for _, k := range ks {
				text = append(text, fmt.Sprintf("users.%s: %s", u, k))
			}
		}
		doc = map[string]any{"users": users}
	default:
		http.NotFound(w, r)
		return
	}
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	sort.Strings(text)
	fmt.Fprintln(w, strings.Join(text, "\n"))
}
