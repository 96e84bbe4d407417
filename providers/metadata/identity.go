package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// Text gets a small text value ("" when the service answers 404), with
// the headers the service wants.
func Text(ctx context.Context, e *providers.Env, url string, headers ...config.HTTPHeader) (string, error) {
	if e.Fetcher.Offline {
		return "", resource.ErrNeedNet
	}
	b, err := e.Fetcher.FetchBytes(ctx, url, resource.Options{MaxSize: 1 << 20, Headers: headers})
	if errors.Is(err, resource.ErrNotFound) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// Identity reads a host name and a list of public keys from two URLs of a
// metadata service; keys parses the list (nil: one key a line). The keys
// belong to no named user.
func Identity(ctx context.Context, e *providers.Env, hostnameURL, keysURL string, keys func(string) []string) (providers.Identity, error) {
	var id providers.Identity
	h, err := Text(ctx, e, hostnameURL)
	if err != nil {
		return id, err
	}
	id.Hostname = h
	k, err := Text(ctx, e, keysURL)
	if err != nil {
		return id, err
	}
	if keys == nil {
		keys = providers.KeyLines
	}
	id.Keys = keys(k)
	return id, nil
}

// YAMLKeyList reads a YAML list of keys ("- ssh-ed25519 AAAA… c"), as
// Hetzner serves them.
func YAMLKeyList(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "- ") {
			continue
		}
		l = strings.Trim(strings.TrimSpace(l[2:]), `"'`)
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// IndexedKeys reads EC2-style keys: a listing of indexes ("0=name" as
// AWS documents it, "0/" as some services and emulators serve it) under
// base, then base<n>/openssh-key each (AWS, Alibaba Cloud).
func IndexedKeys(ctx context.Context, e *providers.Env, base string, headers ...config.HTTPHeader) ([]string, error) {
	list, err := Text(ctx, e, base, headers...)
	if err != nil || list == "" {
		return nil, err
	}
	var keys []string
	for _, l := range strings.Split(list, "\n") {
		idx, _, _ := strings.Cut(strings.TrimSpace(l), "=")
		idx = strings.TrimSuffix(idx, "/")
		if idx == "" || strings.Trim(idx, "0123456789") != "" {
			continue
		}
		k, err := Text(ctx, e, base+idx+"/openssh-key", headers...)
		if err != nil {
			return nil, err
		}
		keys = append(keys, providers.KeyLines(k)...)
	}
	return keys, nil
}

// DocIdentity reads a host name and a list of keys from one JSON document
// (Vultr's /v1.json, UpCloud's /metadata/v1.json): keysField names the
// list, each entry an authorized_keys line (a string of newline-separated
// lines is taken too: older Vultr documents have one).
func DocIdentity(ctx context.Context, e *providers.Env, url, keysField string) (providers.Identity, error) {
	var doc map[string]json.RawMessage
	var id providers.Identity
	if _, err := JSON(ctx, e, url, &doc); err != nil {
		return id, err
	}
	var keys []string
	json.Unmarshal(doc["hostname"], &id.Hostname)
	if raw, ok := doc[keysField]; ok {
		var one string
		if err := json.Unmarshal(raw, &keys); err != nil {
			if json.Unmarshal(raw, &one) != nil {
				return id, fmt.Errorf("%s: %s is not a list of keys", url, keysField)
			}
			keys = []string{one}
		}
	}
	for _, k := range keys {
		id.Keys = append(id.Keys, providers.KeyLines(k)...)
	}
	return id, nil
}

// JSON gets a small JSON document into v (nil error and v untouched on a
// 404), with the headers given.
func JSON(ctx context.Context, e *providers.Env, url string, v any, headers ...config.HTTPHeader) (bool, error) {
	if e.Fetcher.Offline {
		return false, resource.ErrNeedNet
	}
	b, err := e.Fetcher.FetchBytes(ctx, url, resource.Options{MaxSize: 1 << 20, Headers: headers})
	if errors.Is(err, resource.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: not the documented JSON: %v", url, err)
	}
	return true, nil
}
