package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestSchemaUpToDate(t *testing.T) {
	for _, v := range SupportedVersions {
		t.Run(v.String(), func(t *testing.T) {
			got, err := Schema(v)
			if err != nil {
				t.Fatalf("Schema(%s): got error %v; want none", v, err)
			}
			name := "ignition-" + v.String() + ".json"
			want, err := os.ReadFile(filepath.Join("..", "docs", "schema", name))
			if err != nil {
				t.Fatalf("docs/schema/%s is out of date; run: go generate ./config (%v)", name, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("docs/schema/%s is out of date; run: go generate ./config", name)
			}
		})
	}
}

func TestSchemaDeterministic(t *testing.T) {
	for _, v := range SupportedVersions {
		a, errA := Schema(v)
		b, errB := Schema(v)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("Schema(%s) twice: got different output or an error (%v, %v); want identical bytes", v, errA, errB)
		}
	}
}

func TestSchemaUnsupportedVersion(t *testing.T) {
	for _, v := range []Version{{2, 3, false}, {3, 6, true}, {3, 8, false}} {
		if b, err := Schema(v); err == nil {
			t.Errorf("Schema(%s): got %d bytes and no error; want an error", v, len(b))
		}
	}
}

// schemaDecode returns Schema(v) decoded, failing the test on any error.
func schemaDecode(t *testing.T, v Version) map[string]any {
	t.Helper()
	b, err := Schema(v)
	if err != nil {
		t.Fatalf("Schema(%s): got error %v; want none", v, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("Schema(%s): got invalid JSON (%v); want a JSON object", v, err)
	}
	return doc
}

// schemaResolve follows a "$ref" into "$defs", and "items" of arrays, so
// that a path of keys can step from a property to its object.
func schemaResolve(doc, s map[string]any) map[string]any {
	for s != nil {
		if items, ok := s["items"].(map[string]any); ok {
			s = items
			continue
		}
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		defs, _ := doc["$defs"].(map[string]any)
		s, _ = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	}
	return nil
}

// schemaLookup finds the schema of a dotted key path such as "storage.luks.cex",
// stepping through arrays; nil when some key is absent.
func schemaLookup(doc map[string]any, path string) map[string]any {
	s := doc
	for _, k := range strings.Split(path, ".") {
		obj := schemaResolve(doc, s)
		props, _ := obj["properties"].(map[string]any)
		next, ok := props[k].(map[string]any)
		if !ok {
			return nil
		}
		s = next
	}
	return s
}

// schemaObjectOf is the object schema at path (after refs and items); nil if absent.
func schemaObjectOf(doc map[string]any, path string) map[string]any {
	s := schemaLookup(doc, path)
	if s == nil {
		return nil
	}
	return schemaResolve(doc, s)
}

func schemaKeys(obj map[string]any) []string {
	props, _ := obj["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func schemaStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestSchemaVersionView(t *testing.T) {
	// Keys that exist from a spec version on, and not before.
	present := []struct {
		path  string
		since Version
	}{
		{"ignition.version", V3_0},
		{"storage.files.contents.source", V3_0},
		{"kernelArguments", V3_3},
		{"kernelArguments.shouldExist", V3_3},
		{"ignition.proxy", V3_1},
		{"storage.luks", V3_2},
		{"storage.luks.clevis.tang.url", V3_2},
		{"storage.luks.discard", V3_4},
		{"storage.luks.openOptions", V3_4},
		{"storage.luks.clevis.tang.advertisement", V3_4},
		{"storage.luks.cex", V3_5},
		{"storage.luks.cex.enabled", V3_5},
		{"storage.files.contents.httpHeaders", V3_1},
		{"storage.files.append.httpHeaders.name", V3_1},
		{"ignition.config.merge.httpHeaders", V3_1},
		{"ignition.config.merge.compression", V3_1},
		{"ignition.config.replace.httpHeaders", V3_1},
		{"ignition.security.tls.certificateAuthorities.compression", V3_1},
		{"storage.filesystems.mountOptions", V3_1},
		{"storage.disks.partitions.resize", V3_2},
		{"passwd.users.shouldExist", V3_2},
		{"passwd.groups.shouldExist", V3_2},
	}
	// Required keys of an object, from a spec version on.
	required := []struct {
		object, key string
		since       Version
	}{
		{"", "ignition", V3_0},
		{"ignition", "version", V3_0},
		{"storage.links", "path", V3_0},
		{"storage.links", "target", V3_3},
		{"storage.raid", "level", V3_0},
		{"ignition.config.merge", "source", V3_1},
		{"ignition.security.tls.certificateAuthorities", "source", V3_0},
	}
	for _, v := range SupportedVersions {
		doc := schemaDecode(t, v)
		for _, c := range present {
			want := v.AtLeast(c.since)
			if got := schemaLookup(doc, c.path) != nil; got != want {
				t.Errorf("Schema(%s) has %s: got %v; want %v", v, c.path, got, want)
			}
		}
		for _, c := range required {
			s := doc
			if c.object != "" {
				s = schemaLookup(doc, c.object)
			}
			if s == nil {
				t.Errorf("Schema(%s) has %s: got false; want true", v, c.object)
				continue
			}
			// A "required" next to a $ref (merge and CA entries) counts too.
			reqs := schemaStrings(s["required"])
			if items, ok := s["items"].(map[string]any); ok {
				reqs = append(reqs, schemaStrings(items["required"])...)
			}
			reqs = append(reqs, schemaStrings(schemaResolve(doc, s)["required"])...)
			want := v.AtLeast(c.since)
			if got := slices.Contains(reqs, c.key); got != want {
				t.Errorf("Schema(%s) %s requires %q: got %v; want %v", v, c.object, c.key, got, want)
			}
		}

		if got := schemaLookup(doc, "ignition.version")["const"]; got != v.String() {
			t.Errorf("Schema(%s) ignition.version const: got %v; want %q", v, got, v.String())
		}
		if got, want := doc["$id"], "https://ignition-go.github.io/schema/ignition-"+v.String()+".json"; got != want {
			t.Errorf("Schema(%s) $id: got %v; want %q", v, got, want)
		}

		// In 3.0.0 config references have only a source and a hash.
		for _, p := range []string{"ignition.config.merge", "ignition.config.replace", "ignition.security.tls.certificateAuthorities"} {
			got := strings.Join(schemaKeys(schemaObjectOf(doc, p)), ",")
			want := "compression,httpHeaders,source,verification"
			if v == V3_0 {
				want = "source,verification"
			}
			if got != want {
				t.Errorf("Schema(%s) %s keys: got %s; want %s", v, p, got, want)
			}
		}
		// ... while file contents keep all keys of their version.
		got := strings.Join(schemaKeys(schemaObjectOf(doc, "storage.files.contents")), ",")
		want := "compression,httpHeaders,source,verification"
		if v == V3_0 {
			want = "compression,source,verification"
		}
		if got != want {
			t.Errorf("Schema(%s) storage.files.contents keys: got %s; want %s", v, got, want)
		}

		formats := schemaStrings(schemaLookup(doc, "storage.filesystems.format")["enum"])
		if got, want := slices.Contains(formats, "none"), v.AtLeast(V3_3); got != want {
			t.Errorf("Schema(%s) format enum has none: got %v; want %v", v, got, want)
		}
		if got, want := slices.Contains(formats, "virtiofs"), v.AtLeast(V3_7); got != want {
			t.Errorf("Schema(%s) format enum has virtiofs: got %v; want %v", v, got, want)
		}
		pattern, _ := schemaLookup(doc, "storage.files.contents.verification.hash")["pattern"].(string)
		if got, want := strings.Contains(pattern, "sha256-"), v.AtLeast(V3_1); got != want {
			t.Errorf("Schema(%s) hash pattern %q allows sha256: got %v; want %v", v, pattern, got, want)
		}
		if got := schemaLookup(doc, "storage.files.mode")["maximum"]; got != float64(4095) {
			t.Errorf("Schema(%s) storage.files.mode maximum: got %v; want 4095", v, got)
		}
		if v.AtLeast(V3_2) {
			if got := schemaLookup(doc, "storage.luks.label")["maxLength"]; got != float64(47) {
				t.Errorf("Schema(%s) storage.luks.label maxLength: got %v; want 47", v, got)
			}
		}
		if got := schemaLookup(doc, "storage.disks.partitions.label")["maxLength"]; got != float64(36) {
			t.Errorf("Schema(%s) storage.disks.partitions.label maxLength: got %v; want 36", v, got)
		}
	}
}

func TestSchemaIsValidJSON(t *testing.T) {
	for _, v := range SupportedVersions {
		b, err := Schema(v)
		if err != nil {
			t.Errorf("Schema(%s): got error %v; want none", v, err)
			continue
		}
		if !json.Valid(b) {
			t.Errorf("Schema(%s) is valid JSON: got false; want true", v)
			continue
		}
		if !bytes.HasSuffix(b, []byte("}\n")) || !bytes.HasPrefix(b, []byte("{\n  \"")) {
			t.Errorf("Schema(%s) layout: got %.20q...; want an object indented by two spaces ending in a newline", v, b)
		}
		doc := schemaDecode(t, v)
		if got := doc["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("Schema(%s) $schema: got %v; want draft 2020-12", v, got)
		}
		desc, _ := doc["description"].(string)
		if !strings.Contains(desc, "strict") || !strings.Contains(desc, "warning") {
			t.Errorf("Schema(%s) description: got %q; want it to say the schema is strict and Ignition only warns", v, desc)
		}
		defs, _ := doc["$defs"].(map[string]any)
		// Every $ref resolves and every object is closed.
		var walk func(path string, n any)
		walk = func(path string, n any) {
			switch n := n.(type) {
			case map[string]any:
				if ref, ok := n["$ref"].(string); ok {
					name, ok := strings.CutPrefix(ref, "#/$defs/")
					if _, found := defs[name]; !ok || !found {
						t.Errorf("Schema(%s) %s $ref: got %q; want a name in $defs", v, path, ref)
					}
				}
				if n["type"] == "object" {
					if got := n["additionalProperties"]; got != false {
						t.Errorf("Schema(%s) %s additionalProperties: got %v; want false", v, path, got)
					}
					if _, ok := n["properties"].(map[string]any); !ok {
						t.Errorf("Schema(%s) %s properties: got none; want an object", v, path)
					}
				}
				for k, c := range n {
					walk(path+"/"+k, c)
				}
			case []any:
				for _, c := range n {
					walk(path+"/[]", c)
				}
			}
		}
		walk("#", doc)
	}
}
