package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
// keys, as KeyList reads them. A field of another shape is left out with
// a warning: the rest is still rendered.
func DocIdentity(ctx context.Context, e *providers.Env, url, keysField string) (providers.Identity, error) {
	var doc map[string]json.RawMessage
	var id providers.Identity
	if _, err := JSON(ctx, e, url, &doc); err != nil {
		return id, err
	}
	id.Hostname = String(e, url, doc, "hostname")
	if raw, ok := doc[keysField]; ok {
		keys, ok := KeyList(raw)
		if !ok {
			e.Log.Warnf("%s: %s is neither a key nor a list of keys; no keys from it", url, keysField)
		}
		id.Keys = keys
	}
	return id, nil
}

// String reads a string member of a metadata document; another shape is
// left out with a warning.
func String(e *providers.Env, where string, doc map[string]json.RawMessage, name string) string {
	var v string
	if raw, ok := doc[name]; ok && string(raw) != "null" && json.Unmarshal(raw, &v) != nil {
		e.Log.Warnf("%s: %s is not a string; left out", where, name)
	}
	return v
}

// KeyList reads public keys given as a string (authorized_keys lines), a
// list of strings, or an object mapping names to either (in name order),
// as clouds and their generators give them; null is none. ok is false for
// any other shape.
func KeyList(raw json.RawMessage) (keys []string, ok bool) {
	var one string
	var list []*string
	var named map[string]json.RawMessage
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, true
	case json.Unmarshal(raw, &one) == nil:
		return providers.KeyLines(one), true
	case json.Unmarshal(raw, &list) == nil:
		for _, k := range list {
			if k != nil {
				keys = append(keys, providers.KeyLines(*k)...)
			}
		}
		return keys, true
	case json.Unmarshal(raw, &named) == nil:
		names := make([]string, 0, len(named))
		for n := range named {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			k, ok := KeyList(named[n])
			if !ok {
				return nil, false
			}
			keys = append(keys, k...)
		}
		return keys, true
	}
	return nil, false
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
