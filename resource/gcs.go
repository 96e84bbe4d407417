package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// gs://bucket/object is fetched from the GCS JSON API over https. On GCE
// the request carries a service-account token from the metadata server;
// elsewhere, or when the VM has no service account, it is anonymous.

// gceMetadata is the GCE metadata server, reached by address (no DNS needed
// in the initramfs); its host name is metadata.google.internal.
const gceMetadata = "http://169.254.169.254/computeMetadata/v1/"

func gcsURL(u *url.URL) (*url.URL, error) {
	bucket, object := u.Host, strings.TrimPrefix(u.Path, "/")
	if bucket == "" || object == "" {
		return nil, fmt.Errorf("%w: gs source needs a bucket and an object", ErrFailed)
	}
	return &url.URL{
		Scheme:   "https",
		Host:     "storage.googleapis.com",
		Path:     "/storage/v1/b/" + bucket + "/o/" + object,
		RawPath:  "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(object),
		RawQuery: "alt=media",
	}, nil
}

func (f *Fetcher) fetchGCS(ctx context.Context, u *url.URL, w io.Writer, o Options) error {
	target, err := gcsURL(u)
	if err != nil {
		return err
	}
	var prep func(*http.Request) error
	if f.gcsOptions().ServiceAccount {
		if tok, err := f.gceToken(ctx); err != nil {
			f.logf("GCS: no service-account token (%v); fetching anonymously", err)
		} else {
			prep = func(r *http.Request) error {
				r.Header.Set("Authorization", "Bearer "+tok)
				return nil
			}
		}
	}
	o.Headers = nil
	return f.fetchHTTPWith(ctx, target, w, o, prep)
}

type gceTokenCache struct {
	token   string
	expires time.Time
}

// gceToken returns the default service account's access token, cached
// until a minute before it expires.
func (f *Fetcher) gceToken(ctx context.Context) (string, error) {
	f.mu.Lock()
	c := f.gceTok
	f.mu.Unlock()
	if c.token != "" && time.Now().Before(c.expires) {
		return c.token, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gceMetadata+"instance/service-accounts/default/token", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := f.client().Do(req)
	if err != nil {
		return "", redactURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metadata server: HTTP %s", resp.Status)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("metadata server: unreadable token response")
	}
	f.mu.Lock()
	f.gceTok = gceTokenCache{token: t.AccessToken, expires: time.Now().Add(time.Duration(t.ExpiresIn)*time.Second - time.Minute)}
	f.mu.Unlock()
	return t.AccessToken, nil
}
