package azure

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/cdrom"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

// Identity reads what the portal or CLI asked for when the VM was made:
// IMDS compute.osProfile.adminUsername and computerName, and the
// compute.publicKeys the admin user gets.
func (a *azure) Identity(ctx context.Context, e *providers.Env) (providers.Identity, error) {
	var id providers.Identity
	if e.Fetcher.Offline {
		return id, resource.ErrNeedNet
	}
	get := func(what, format string) ([]byte, error) {
		return metadata.Get(ctx, e, imds+what+"?"+apiVersion+"&format="+format, resource.Options{
			Headers:     []config.HTTPHeader{{Name: "Metadata", Value: strp("true")}},
			RetryStatus: func(code int) bool { return code == 410 || code == 429 }, // warming up
		})
	}
	u, err := get("osProfile/adminUsername", "text")
	if err != nil {
		return id, err
	}
	h, err := get("osProfile/computerName", "text")
	if err != nil {
		return id, err
	}
	id.User, id.Hostname = strings.TrimSpace(string(u)), strings.TrimSpace(string(h))
	raw, err := get("publicKeys", "json")
	if err != nil {
		return id, err
	}
	if len(raw) > 0 {
		var keys []struct {
			KeyData string `json:"keyData"`
		}
		if err := json.Unmarshal(raw, &keys); err != nil {
			// best effort: the admin user and host name still count
			e.Log.Warnf("Azure: IMDS publicKeys is not the documented JSON list; no keys from it")
			keys = nil
		}
		for _, k := range keys {
			id.Keys = append(id.Keys, providers.KeyLines(k.KeyData)...)
		}
	}
	if id.User != "" || len(id.Keys) > 0 {
		return id, nil
	}
	// IMDS has none (Azure Stack Hub, older images): the provisioning CD's
	// ovf-env.xml says the same things
	ovf := a.ovfEnv
	if ovf == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := cdrom.ReadMedia(cctx, e, "udf")
		cancel()
		if err != nil {
			e.Log.Infof("Azure: IMDS names no admin user and there is no provisioning CD: %v", err)
			return id, nil
		}
		ovf = m.OvfEnv
	}
	o, err := parseOvfEnv(ovf)
	if err != nil {
		e.Log.Warnf("Azure: the provisioning CD's %v; no admin user or keys from it", err)
		return id, nil
	}
	if id.Hostname == "" {
		id.Hostname = o.HostName
	}
	id.User = o.UserName
	for _, k := range o.Keys {
		id.Keys = append(id.Keys, providers.KeyLines(k)...)
	}
	return id, nil
}

type ovfEnv struct {
	HostName, UserName string
	Keys               []string
}

// parseOvfEnv reads the Linux provisioning set of Azure's ovf-env.xml:
// HostName, UserName and SSH/PublicKeys/PublicKey/Value (the key
// itself; entries that only name a fingerprint are skipped).
func parseOvfEnv(b []byte) (ovfEnv, error) {
	var doc struct {
		Set struct {
			HostName string `xml:"HostName"`
			UserName string `xml:"UserName"`
			Keys     []struct {
				Value string `xml:"Value"`
			} `xml:"SSH>PublicKeys>PublicKey"`
		} `xml:"ProvisioningSection>LinuxProvisioningConfigurationSet"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return ovfEnv{}, errors.New("ovf-env.xml is not XML")
	}
	o := ovfEnv{HostName: strings.TrimSpace(doc.Set.HostName), UserName: strings.TrimSpace(doc.Set.UserName)}
	for _, k := range doc.Set.Keys {
		if v := strings.TrimSpace(k.Value); v != "" {
			o.Keys = append(o.Keys, v)
		}
	}
	return o, nil
}
