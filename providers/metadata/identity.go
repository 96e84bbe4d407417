package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// readStatus says what a budgeted read got.
type readStatus int

const (
	notFound readStatus = iota // 404, or the budget had no read left
	whole                      // the whole body
	cut                        // the body up to what the budget had left
)

// errOverBudget stops a body at the budget.
var errOverBudget = errors.New("over the platform fragment's read budget")

// capWriter keeps at most max bytes, then fails the copy with
// errOverBudget: the fetch stops reading the body there.
type capWriter struct {
	b   []byte
	max int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - int64(len(w.b)); int64(len(p)) > room {
		w.b = append(w.b, p[:room]...)
		return int(room), errOverBudget
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// read gets one metadata value within the budget of ctx (see
// providers.BudgetOf): one read of it, and as many bytes as it has left;
// a longer body is cut there, and the log says so. A 404 is notFound, as
// is a read the budget has no room for.
func read(ctx context.Context, e *providers.Env, url string, o resource.Options) ([]byte, readStatus, error) {
	if e.Fetcher.Offline {
		return nil, notFound, resource.ErrNeedNet
	}
	b := providers.BudgetOf(ctx)
	limit, ok, first := b.Read()
	if !ok {
		if first {
			e.Log.Warnf("platform fragment: the read budget (%d reads, %d bytes) is spent; %s and what follows are left out", providers.FragmentReads, providers.FragmentBytes, resource.Redact(url))
		}
		return nil, notFound, nil
	}
	w := &capWriter{max: limit}
	o.Rewind = func() error { w.b = w.b[:0]; return nil }
	err := e.Fetcher.Fetch(ctx, url, w, o)
	b.Spend(int64(len(w.b)))
	switch {
	case errors.Is(err, errOverBudget):
		e.Log.Warnf("platform fragment: %s is longer than the %d bytes the read budget has left; cut there", resource.Redact(url), limit)
		return w.b, cut, nil
	case errors.Is(err, resource.ErrNotFound):
		return nil, notFound, nil
	case err != nil:
		return nil, notFound, err
	}
	return w.b, whole, nil
}

// Text gets a small text value ("" when the service answers 404, or when
// it is longer than the read budget allows), with the headers the service
// wants.
func Text(ctx context.Context, e *providers.Env, url string, headers ...config.HTTPHeader) (string, error) {
	b, st, err := read(ctx, e, url, resource.Options{Headers: headers})
	if st != whole {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Get is Text with fetch options (headers, statuses to retry), as bytes:
// nil when not found or longer than the read budget allows.
func Get(ctx context.Context, e *providers.Env, url string, o resource.Options) ([]byte, error) {
	b, st, err := read(ctx, e, url, o)
	if st != whole {
		return nil, err
	}
	return b, nil
}

// Lines gets a list of lines (authorized_keys lines: blank lines and
// comments dropped), nil on a 404. A list longer than the read budget
// allows keeps its whole lines up to there.
func Lines(ctx context.Context, e *providers.Env, url string, headers ...config.HTTPHeader) ([]string, error) {
	b, st, err := read(ctx, e, url, resource.Options{Headers: headers})
	if err != nil {
		return nil, err
	}
	return providers.KeyLines(WholeLines(b, st == cut)), nil
}

// WholeLines is b as text, without a last line that was cut.
func WholeLines(b []byte, wasCut bool) string {
	if wasCut {
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	return string(b)
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
	b, st, err := read(ctx, e, keysURL, resource.Options{})
	if err != nil {
		return id, err
	}
	if keys == nil {
		keys = providers.KeyLines
	}
	id.Keys = keys(WholeLines(b, st == cut))
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
// base, then base<n>/openssh-key each (AWS, Alibaba Cloud). An index
// listed twice is read once; the listing and every key count against the
// read budget, which ends the list when it is spent.
func IndexedKeys(ctx context.Context, e *providers.Env, base string, headers ...config.HTTPHeader) ([]string, error) {
	lines, err := Lines(ctx, e, base, headers...)
	if err != nil || len(lines) == 0 {
		return nil, err
	}
	var keys []string
	seen := map[string]bool{}
	for _, l := range lines {
		idx, _, _ := strings.Cut(l, "=")
		idx = strings.TrimSuffix(idx, "/")
		if idx == "" || len(idx) > 9 || strings.Trim(idx, "0123456789") != "" || seen[idx] {
			continue
		}
		seen[idx] = true
		k, err := Lines(ctx, e, base+idx+"/openssh-key", headers...)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
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
// any other shape, an object of objects included: one level of names is
// all any cloud uses, and walking deeper nesting re-reads each level, so
// a 1 MiB document of nested objects took minutes of CPU.
func KeyList(raw json.RawMessage) (keys []string, ok bool) {
	if keys, ok := keyLines(raw); ok {
		return keys, true
	}
	var named map[string]json.RawMessage
	if json.Unmarshal(raw, &named) != nil {
		return nil, false
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k, ok := keyLines(named[n])
		if !ok {
			return nil, false
		}
		keys = append(keys, k...)
	}
	return keys, true
}

// keyLines reads keys given as a string of lines or a list of strings
// (null entries skipped); null is none.
func keyLines(raw json.RawMessage) (keys []string, ok bool) {
	var one string
	var list []*string
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
	}
	return nil, false
}

// JSON gets a small JSON document into v, within the read budget: nil
// error and v untouched on a 404, and also, with a warning, when the body
// is not JSON of v's shape or is longer than the budget allows (the
// fragment is best effort).
func JSON(ctx context.Context, e *providers.Env, url string, v any, headers ...config.HTTPHeader) (bool, error) {
	b, st, err := read(ctx, e, url, resource.Options{Headers: headers})
	switch {
	case err != nil || st == notFound:
		return false, err
	case st == cut:
		e.Log.Warnf("platform fragment: %s is cut, so not read", resource.Redact(url))
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		e.Log.Warnf("platform fragment: %s is not the documented JSON (%v); left out", resource.Redact(url), err)
		return false, nil
	}
	return true, nil
}
