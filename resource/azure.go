package resource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Azure Blob storage is fetched over https like any URL; on Azure the
// request first carries a managed-identity token for the storage account,
// from the cloud the host name belongs to (public, China, US Government),
// and falls back to an anonymous request (public containers) when there is
// no identity or it is refused. Ignition recognises only the public
// cloud's hosts and always asks public-cloud credentials.

type azureCloud struct {
	suffix string
	name   string
	config cloud.Configuration
}

var azureClouds = []azureCloud{
	{".blob.core.windows.net", "AzurePublicCloud", cloud.AzurePublic},
	{".blob.core.chinacloudapi.cn", "AzureChinaCloud", cloud.AzureChina},
	{".blob.core.usgovcloudapi.net", "AzureUSGovernmentCloud", cloud.AzureGovernment},
}

// azureBlobCloud tells which Azure cloud serves a blob host name.
func azureBlobCloud(host string) (azureCloud, bool) {
	h := strings.ToLower(host)
	for _, c := range azureClouds {
		if strings.HasSuffix(h, c.suffix) && len(h) > len(c.suffix) {
			return c, true
		}
	}
	return azureCloud{}, false
}

// azureStorageVersion is the Blob service API version sent with tokens
// (bearer tokens need 2017-11-09 or newer).
const azureStorageVersion = "2021-08-06"

func (f *Fetcher) fetchAzureBlob(ctx context.Context, u *url.URL, ac azureCloud, az AzureBlobOptions, w io.Writer, o Options) error {
	// The account's own audience is accepted in every cloud.
	audience := "https://" + strings.ToLower(u.Hostname())
	tok, err := f.azureToken(ctx, ac, audience)
	if err != nil {
		f.logf("Azure Blob %s: no managed-identity token from %s (%v); fetching anonymously", u.Host, ac.name, err)
		return f.fetchHTTP(ctx, u, w, o)
	}
	vm := ""
	if az.Cloud != "" && az.Cloud != ac.name {
		vm = " (the VM is in " + az.Cloud + ")"
	}
	f.logf("Azure Blob %s: %s%s, managed identity, audience %s", u.Host, ac.name, vm, audience)
	prep := func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("x-ms-version", azureStorageVersion)
		return nil
	}
	err = f.fetchHTTPWith(ctx, u, w, o, prep)
	var se *statusError
	if errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden) {
		f.logf("Azure Blob %s: the managed identity was refused (%s); trying anonymously", u.Host, se.status)
		return f.fetchHTTP(ctx, u, w, o)
	}
	return err
}

// azureToken asks the VM's managed identity (through IMDS) for a token,
// with the settings of the blob's cloud. Tokens are cached by the SDK.
func (f *Fetcher) azureToken(ctx context.Context, ac azureCloud, audience string) (string, error) {
	f.mu.Lock()
	if f.azCreds == nil {
		f.azCreds = map[string]azcore.TokenCredential{}
	}
	cred := f.azCreds[ac.name]
	f.mu.Unlock()
	if cred == nil {
		c, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     ac.config,
				Transport: f.client(),
			},
		})
		if err != nil {
			return "", err
		}
		cred = c
		f.mu.Lock()
		f.azCreds[ac.name] = cred
		f.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{audience + "/.default"}})
	if err != nil {
		return "", errors.New(firstLine(err.Error()))
	}
	return t.Token, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
