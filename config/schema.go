package config

//go:generate go run ../internal/cmd/genschema -out ../docs/schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// schemaDraft is the JSON Schema dialect of the documents Schema returns.
const schemaDraft = "https://json-schema.org/draft/2020-12/schema"

// schemaID is the "$id" of the schema for spec v.
func schemaID(v Version) string {
	return "https://ignition-go.github.io/schema/ignition-" + v.String() + ".json"
}

// Schema returns a JSON Schema (draft 2020-12) for configs of spec v,
// generated from the Config type tree as spec v sees it: fields newer than v
// are absent, and in 3.0.0 the config references have only their 3.0.0 keys.
//
// The schema is strict, like `ignition-validate --strict`: it rejects keys the
// spec does not know, which Ignition itself only warns about. It describes the
// shape of a config and a few simple value rules; it does not replace
// validation (Parse), which checks URLs, paths and the rules between fields.
//
// The output is deterministic: keys sorted, indented by two spaces, with a
// trailing newline.
func Schema(v Version) ([]byte, error) {
	supported := false
	for _, s := range SupportedVersions {
		if s == v {
			supported = true
			break
		}
	}
	if !supported {
		return nil, fmt.Errorf("config: no schema for unsupported spec version %s (supported: %s)", v, supportedList())
	}
	g := &schemaGen{v: v, defs: map[string]any{}, names: map[defKey]string{}, taken: map[string]defKey{}}
	root, err := g.object(reflect.TypeOf(Config{}), nil)
	if err != nil {
		return nil, err
	}
	root["$schema"] = schemaDraft
	root["$id"] = schemaID(v)
	root["title"] = "Ignition config, spec " + v.String()
	root["description"] = "A machine config for Ignition spec " + v.String() + ". " +
		"This schema is strict, like ignition-validate --strict: it rejects keys that spec " + v.String() +
		" does not define, which Ignition only reports as warnings, and it matches keys exactly, " +
		"where Ignition also accepts them in another letter case. It also rejects JSON null, " +
		"which Ignition treats as an absent value. Rules between fields, URLs and paths are " +
		"checked by validation, not by this schema."
	root["$defs"] = g.defs

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// defKey identifies one view of a struct type: the type, and the keys kept
// when a legacy tag restricts it (empty for the full view).
type defKey struct {
	t      reflect.Type
	legacy string
}

type schemaGen struct {
	v     Version
	defs  map[string]any
	names map[defKey]string
	taken map[string]defKey
}

// legacyBase names restricted views of a type after what the 3.0.0 spec
// called them.
var legacyBase = map[string]string{"Resource": "ConfigReference"}

// defName picks a $defs name for a view, unique within one schema.
func (g *schemaGen) defName(k defKey) string {
	if n, ok := g.names[k]; ok {
		return n
	}
	name := k.t.Name()
	if k.legacy != "" {
		base, ok := legacyBase[name]
		if !ok {
			base = name + "Legacy"
		}
		name = base + "3_0" // legacy views exist only in 3.0.0
		if other, clash := g.taken[name]; clash && other != k {
			name += "_" + strings.ReplaceAll(k.legacy, ",", "_")
		}
	}
	g.names[k] = name
	g.taken[name] = k
	return name
}

// ref returns a $ref to the def for struct type t (restricted to legacy
// keys when legacy is not empty), generating the def on first use.
func (g *schemaGen) ref(t reflect.Type, legacy []string) (map[string]any, error) {
	k := defKey{t: t, legacy: strings.Join(legacy, ",")}
	name := g.defName(k)
	if _, done := g.defs[name]; !done {
		g.defs[name] = nil // placeholder against recursion
		def, err := g.object(t, legacy)
		if err != nil {
			return nil, err
		}
		g.defs[name] = def
	}
	return map[string]any{"$ref": "#/$defs/" + name}, nil
}

// schemaField is one JSON key of a struct, embedded structs flattened.
type schemaField struct {
	owner reflect.Type // the struct declaring the field
	f     reflect.StructField
	name  string
}

func structFields(t reflect.Type) []schemaField {
	var out []schemaField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, structFields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, schemaField{owner: t, f: f, name: name})
	}
	return out
}

func tagVersion(sf schemaField, tag string) (Version, bool, error) {
	s := sf.f.Tag.Get(tag)
	if s == "" {
		return Version{}, false, nil
	}
	v, _, ok := ParseVersion(s)
	if !ok {
		return Version{}, false, fmt.Errorf("config: bad %s tag %q on %s.%s", tag, s, sf.owner.Name(), sf.f.Name)
	}
	return v, true, nil
}

// object builds the schema of struct type t as spec g.v sees it. When keep
// is not empty, only those keys exist (the 3.0.0 view of a legacy field).
func (g *schemaGen) object(t reflect.Type, keep []string) (map[string]any, error) {
	props := map[string]any{}
	required := []any{}
	for _, sf := range structFields(t) {
		if since, ok, err := tagVersion(sf, "since"); err != nil {
			return nil, err
		} else if ok && g.v.Less(since) {
			continue
		}
		if len(keep) > 0 && !slices.Contains(keep, sf.name) {
			continue
		}
		s, err := g.field(sf)
		if err != nil {
			return nil, err
		}
		props[sf.name] = s
		req := sf.f.Tag.Get("required") == "true"
		if since, ok, err := tagVersion(sf, "requiredSince"); err != nil {
			return nil, err
		} else if ok && g.v.AtLeast(since) {
			req = true
		}
		if req {
			required = append(required, sf.name)
		}
	}
	obj := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		obj["required"] = required
	}
	return obj, nil
}

// field builds the schema of one key, with its description and the value
// rules that the type tree does not carry.
func (g *schemaGen) field(sf schemaField) (map[string]any, error) {
	var legacy []string
	if l := sf.f.Tag.Get("legacy"); l != "" && g.v == V3_0 {
		legacy = strings.Split(l, ",")
	}
	s, err := g.value(sf.f.Type, legacy)
	if err != nil {
		return nil, fmt.Errorf("%w on %s.%s", err, sf.owner.Name(), sf.f.Name)
	}
	if d := sf.f.Tag.Get("doc"); d != "" {
		s["description"] = d
	}
	if e, ok := sf.f.Tag.Lookup("enum"); ok {
		s["enum"] = enumOf(strings.Split(e, ",")...)
	}
	g.extras(sf, s)
	return s, nil
}

// value maps a Go type to its schema; pointers mean optional and map like
// their element.
func (g *schemaGen) value(t reflect.Type, legacy []string) (map[string]any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.Slice:
		items, err := g.value(t.Elem(), legacy)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Struct:
		return g.ref(t, legacy)
	}
	return nil, fmt.Errorf("config: no schema for Go type %s", t)
}

// extras adds what the tags do not say: the version constant, enums and
// limits that depend on the spec version.
func (g *schemaGen) extras(sf schemaField, s map[string]any) {
	v := g.v
	switch sf.owner.Name() + "." + sf.name {
	case "Ignition.version":
		s["const"] = v.String()
	case "File.mode", "Directory.mode":
		s["minimum"] = 0
		s["maximum"] = 0o7777
	case "Filesystem.format":
		// "" is allowed and means no format, as for an absent key.
		formats := []string{"", "ext4", "btrfs", "xfs", "swap", "vfat"}
		if v.hasFormatNone() {
			formats = append(formats, "none")
		}
		if v.hasFormatVirtiofs() {
			formats = append(formats, "virtiofs")
		}
		s["enum"] = enumOf(formats...)
	case "Raid.level":
		s["enum"] = enumOf("linear", "raid0", "0", "stripe", "raid1", "1", "mirror",
			"raid4", "4", "raid5", "5", "raid6", "6", "raid10", "10")
	case "Partition.label":
		s["maxLength"] = 36
	case "Luks.label":
		s["maxLength"] = 47
	case "Verification.hash":
		p := "sha512-[0-9a-fA-F]{128}"
		if v.hasSHA256() {
			p = "(" + p + "|sha256-[0-9a-fA-F]{64})"
		}
		s["pattern"] = "^" + p + "$"
	case "IgnitionConfig.merge":
		// Merged configs need a source since 3.1.0.
		if v.requiresRefSource() {
			requireKey(s["items"], "source")
		}
	case "TLS.certificateAuthorities":
		// Certificate authorities always need a source.
		requireKey(s["items"], "source")
	}
}

// requireKey adds a required key next to a $ref, which draft 2020-12 allows.
func requireKey(s any, key string) {
	m := s.(map[string]any)
	m["required"] = []any{key}
}

func enumOf(vals ...string) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}
