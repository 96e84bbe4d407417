// Package azure reads the user data of an Azure VM from IMDS
// (169.254.169.254/metadata/instance/compute/userData, base64) and, when
// that is empty, the custom data on the provisioning CD-ROM (UDF with
// ovf-env.xml: CustomData.bin); it reports Ready or NotReady to the
// wireserver (168.63.129.16) so that Azure does not time the VM out.
package azure

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/cdrom"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("azure", func() providers.Provider { return &azure{} }) }

const (
	imds       = "http://169.254.169.254/metadata/instance/compute/"
	apiVersion = "api-version=2021-01-01"
	// Wireserver is the fabric's address (DHCP option 245 names it too).
	Wireserver    = "168.63.129.16"
	wireVersion   = "2012-11-30"
	agentName     = "ignition-go"
	maxDescLength = 512
	cdromWait     = 5 * time.Minute
)

type azure struct {
	// ovfEnv is the provisioning CD's ovf-env.xml when Fetch read the CD
	ovfEnv []byte
}

func strp(s string) *string { return &s }

// IMDS answers 404, 410 and 429 while it warms up: retry those as well.
func imdsRetry(code int) bool { return code == 404 || code == 410 || code == 429 }

// maxUserData caps IMDS userData: the base64 of a config of
// config.MaxConfigSize (4/3 of it), rounded up to a MiB.
const maxUserData = (config.MaxConfigSize/3*4 + 1<<20 - 1) &^ (1<<20 - 1)

func imdsGet(ctx context.Context, e *providers.Env, what string, o resource.Options) ([]byte, error) {
	o.Headers = []config.HTTPHeader{{Name: "Metadata", Value: strp("true")}}
	o.RetryStatus = imdsRetry
	return e.Fetcher.FetchBytes(ctx, imds+what+"?"+apiVersion+"&format=text", o)
}

// Init turns on managed-identity blob fetches and records the cloud IMDS
// reports.
func (a *azure) Init(ctx context.Context, e *providers.Env) error {
	e.Fetcher.SetAzureBlob(resource.AzureBlobOptions{ManagedIdentity: true})
	if e.Fetcher.Offline {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	env, err := imdsGet(ictx, e, "azEnvironment", resource.Options{MaxSize: 4 << 10})
	if err != nil {
		e.Log.Warnf("Azure: cloud unknown from IMDS: %v", err)
		return nil
	}
	cloud := strings.TrimSpace(string(env))
	e.Fetcher.SetAzureBlob(resource.AzureBlobOptions{ManagedIdentity: true, Cloud: cloud})
	e.Log.Infof("Azure: cloud %s", cloud)
	return nil
}

func (a *azure) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	if e.Fetcher.Offline {
		return nil, resource.ErrNeedNet
	}
	done := e.Log.Op("fetching user data from Azure IMDS")
	b, err := imdsGet(ctx, e, "userData", resource.Options{Config: true, MaxSize: maxUserData})
	done(err)
	if err != nil {
		return nil, err
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		data, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("IMDS userData is not base64: %w", err)
		}
		if len(data) > config.MaxConfigSize {
			return nil, fmt.Errorf("IMDS userData: config is larger than the %d MiB limit", config.MaxConfigSize>>20)
		}
		return data, nil
	}
	wait := cdromWait
	if t := e.Fetcher.TotalTimeout; t > 0 && t < wait {
		wait = t // the fetch timeout bounds the whole wait for a config
	}
	e.Log.Infof("IMDS userData is empty; looking for custom data on the provisioning CD-ROM (up to %v)", wait)
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := cdrom.ReadMedia(cctx, e, "udf")
	a.ovfEnv = m.OvfEnv
	if err == nil && m.CustomData == nil {
		return nil, providers.ErrNoConfig
	}
	return m.CustomData, err
}

// goalState is the part of the wireserver's goal state a health report names.
type goalState struct {
	Incarnation string `xml:"Incarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Roles       []struct {
			InstanceID string `xml:"InstanceId"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

func wireHeaders() []config.HTTPHeader {
	return []config.HTTPHeader{{Name: "x-ms-agent-name", Value: strp(agentName)}, {Name: "x-ms-version", Value: strp(wireVersion)}}
}

// Report tells the wireserver Ready, or NotReady with what failed.
func (a *azure) Report(ctx context.Context, e *providers.Env, ok bool, detail string) error {
	state := "Ready"
	if !ok {
		state = "NotReady"
	}
	done := e.Log.Op("reporting %s to the Azure wireserver", state)
	err := report(ctx, e, ok, detail)
	done(err)
	return err
}

func report(ctx context.Context, e *providers.Env, ok bool, detail string) error {
	base := "http://" + Wireserver
	v, err := e.Fetcher.FetchBytes(ctx, base+"/?comp=versions", resource.Options{})
	if err != nil {
		return fmt.Errorf("wireserver versions: %w", err)
	}
	if !strings.Contains(string(v), wireVersion) {
		return fmt.Errorf("wireserver does not support protocol %s", wireVersion)
	}
	gsXML, err := e.Fetcher.FetchBytes(ctx, base+"/machine/?comp=goalstate", resource.Options{Headers: wireHeaders()})
	if err != nil {
		return fmt.Errorf("wireserver goal state: %w", err)
	}
	var gs goalState
	if err := xml.Unmarshal(gsXML, &gs); err != nil || gs.Container.ContainerID == "" || len(gs.Container.Roles) == 0 {
		return errors.New("wireserver goal state: no container or role instance")
	}
	body := healthXML(gs, ok, detail)
	h := append(wireHeaders(), config.HTTPHeader{Name: "Content-Type", Value: strp("text/xml; charset=utf-8")})
	_, err = e.Fetcher.FetchBytes(ctx, base+"/machine?comp=health", resource.Options{
		Method: http.MethodPost, Body: body, Headers: h,
		RetryStatus: func(code int) bool { return code == 429 },
	})
	if err != nil {
		return fmt.Errorf("wireserver health report: %w", err)
	}
	return nil
}

func healthXML(gs goalState, ok bool, detail string) []byte {
	esc := func(s string) string {
		var b strings.Builder
		xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	state := "<State>Ready</State>"
	if !ok {
		if len(detail) > maxDescLength {
			detail = detail[:maxDescLength]
		}
		state = "<State>NotReady</State><Details><SubStatus>ProvisioningFailed</SubStatus><Description>" + esc(detail) + "</Description></Details>"
	}
	return []byte(`<?xml version="1.0" encoding="utf-8"?>` +
		`<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
		`<GoalStateIncarnation>` + esc(gs.Incarnation) + `</GoalStateIncarnation>` +
		`<Container><ContainerId>` + esc(gs.Container.ContainerID) + `</ContainerId><RoleInstanceList><Role>` +
		`<InstanceId>` + esc(gs.Container.Roles[0].InstanceID) + `</InstanceId><Health>` + state + `</Health>` +
		`</Role></RoleInstanceList></Container></Health>`)
}
