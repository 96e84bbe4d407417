package platforms

import (
	"net/http"
	"testing"

	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// userSetsHostAndKeys is a user config that writes /etc/hostname and gives
// core bob's key: it wins over the fragment's host name and keys.
const userSetsHostAndKeys = `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["` + keyBob + `"]}]},
  "storage":{"files":[{"path":"/etc/hostname","overwrite":true,"contents":{"source":"data:,chosen"}}]}}`

// OpenStack's metadata service and Akamai's: each publishes a host name and
// keys for no named user. (OpenStack's config drive alone is read in a QEMU
// guest, tests/qemu: this kernel mounts neither iso9660 nor vfat.)
func TestPlatformFragmentOpenStackAkamai(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	both := map[string]string{"alice": keyAlice, "bob": keyBob}
	var userData, metaData []byte // OpenStack's service: nil is a 404
	akamai := fakes.NewAkamai()
	instance := &fakes.AkamaiInstance{Akamai: akamai}
	mux := http.NewServeMux()
	mux.HandleFunc("/openstack/", func(w http.ResponseWriter, r *http.Request) {
		b := map[string][]byte{"/openstack/latest/user_data": userData, "/openstack/latest/meta_data.json": metaData}[r.URL.Path]
		if b == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	mux.Handle("/v1/token", akamai.TokenHandler())
	mux.Handle("/v1/user-data", akamai.UserData)
	mux.Handle("/v1/instance", instance)
	mux.Handle("/v1/ssh-keys", instance)
	serveAt(t, "169.254.169.254:80", mux)

	t.Run("openstack: metadata service, no user config", func(t *testing.T) {
		userData, metaData = nil, fakes.NovaMetaData("os-1.novalocal", "os-1", both)
		wantBothKeysForCore(t, "openstack", "os-1.novalocal")
		wantBothKeysForCore(t, "brightbox", "os-1.novalocal")
	})
	t.Run("openstack: the user config wins", func(t *testing.T) {
		userData = []byte(userSetsHostAndKeys)
		wantUserConfigWins(t, "openstack")
	})
	t.Run("openstack: other shapes than nova's are read or left out, never failing the boot", func(t *testing.T) {
		userData, metaData = nil, []byte(`{"hostname":"os-3","public_keys":["`+keyAlice+`","`+keyBob+`"]}`)
		wantBothKeysForCore(t, "openstack", "os-3")
		metaData = []byte(`{"hostname":"os-4","keys":{"x":1},"public_keys":5,"name":"My Server"}`)
		wantOnlyHostname(t, "openstack", "os-4")
	})
	t.Run("openstack: no keys", func(t *testing.T) {
		userData, metaData = nil, fakes.NovaMetaData("os-2.novalocal", "os-2", nil)
		wantOnlyHostname(t, "openstack", "os-2.novalocal")
		metaData = fakes.NovaMetaData("", "", nil)
		wantNothing(t, "openstack")
	})
	t.Run("akamai: no user config", func(t *testing.T) {
		akamai.Set(nil)
		// root's keys and a Linode account user's, all for the distro's user
		instance.Label, instance.Users = "li-1", map[string][]string{"root": {keyAlice}, "jdoe": {keyBob}}
		wantBothKeysForCore(t, "akamai", "li-1")
	})
	t.Run("akamai: the user config wins", func(t *testing.T) {
		akamai.Set([]byte(userSetsHostAndKeys))
		wantUserConfigWins(t, "akamai")
	})
	t.Run("akamai: no keys", func(t *testing.T) {
		akamai.Set(nil)
		instance.Label, instance.Users = "li-2", map[string][]string{"root": {}}
		wantOnlyHostname(t, "akamai", "li-2")
		instance.Label = ""
		wantNothing(t, "akamai")
	})
}

// wantUserConfigWins runs the fetch stage on a platform whose user config
// is userSetsHostAndKeys and whose metadata publishes a host name and
// alice's key.
func wantUserConfigWins(t *testing.T, platform string) {
	t.Helper()
	m := newMachine(t)
	r := m.run(platform, "fetch")
	if r.code != 0 {
		t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	// the platform did publish a host name and a key: the fragment was
	// rendered, and lost to the user config
	mustContain(t, "log", r.out, "platform fragment from "+platform+`: hostname "`)
	c, _ := m.cache()
	users, host := fragmentOf(c)
	if len(users["core"]) != 1 || users["core"][0] != keyBob || len(users) != 1 {
		t.Errorf("users = %v; want core with the user config's key only", users)
	}
	if host != "data:,chosen" {
		t.Errorf("/etc/hostname source = %q; want the user config's", host)
	}
}

// wantOnlyHostname: a platform that publishes a host name and no keys
// renders /etc/hostname and no user.
func wantOnlyHostname(t *testing.T, platform, host string) {
	t.Helper()
	m := newMachine(t)
	r := m.run(platform, "fetch")
	c, _ := m.cache()
	if users, got := fragmentOf(c); r.code != 0 || len(users) != 0 || got != "data:,"+host+"%0A" {
		t.Errorf("exit %d, users %v, hostname %q; want no user, %s\n%s%s", r.code, users, got, host, r.out, r.stderr)
	}
}

// wantNothing: a platform that publishes neither renders nothing.
func wantNothing(t *testing.T, platform string) {
	t.Helper()
	m := newMachine(t)
	r := m.run(platform, "fetch")
	c, _ := m.cache()
	if users, host := fragmentOf(c); r.code != 0 || len(users) != 0 || host != "" {
		t.Errorf("exit %d, users %v, hostname %q; want nothing\n%s%s", r.code, users, host, r.out, r.stderr)
	}
	mustContain(t, "log", r.out, "publishes no host name or SSH keys")
}
