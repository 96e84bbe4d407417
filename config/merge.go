package config

import (
	"reflect"
	"strconv"
)

// Merging follows Ignition's rules, which are the same for every 3.x spec:
//
//   - Structs merge field by field. A zero child struct keeps the parent's,
//     a zero parent struct takes the child's.
//   - A non-pointer scalar (string, int, bool) always takes the child's
//     value, even the zero value.
//   - A pointer takes the child's value only when the child sets it: nil
//     inherits, an explicit false, "" or 0 overrides.
//   - Keyed lists merge entries with equal keys in the parent entry's place
//     and append the child's new entries in the child's order (see
//     mergeKey for the keys). Files, directories and links share one key
//     space, as do kernelArguments.shouldExist and shouldNotExist: a child
//     entry in one list drops the parent's entry with the same key from the
//     others.
//   - A child HTTP header without a value removes the parent's header of
//     that name.
//   - A few lists are plain-appended (see mergeAppendOnly).
//
// The merge walks the type tree by reflection, so a field added to types.go
// is merged without changes here; a new list field needs a key in mergeKey
// or an entry in mergeAppendOnly (TestMergeCoversTypeTree checks this).

// Merge returns parent with child merged over it. Neither input is modified,
// and the result shares no pointers or slices with them: everything it keeps
// is deep-copied. The result has no empty non-nil slices; an empty list is
// nil.
func Merge(parent, child Config) Config {
	out := mergeValue(reflect.ValueOf(parent), reflect.ValueOf(child))
	return out.Interface().(Config)
}

// Replace returns the config that takes the place of cfg once the config
// named by cfg.Ignition.Config.Replace has been fetched and parsed as
// replacement. Ignition does not merge a replacement: it supersedes cfg
// entirely, and nothing of cfg is kept, so the result is simply (a deep copy
// of) replacement. When cfg names no replacement (its source is nil) there
// is nothing to replace and the result is a deep copy of cfg.
func Replace(cfg, replacement Config) Config {
	if cfg.Ignition.Config.Replace.Source == nil {
		return mergeCopy(reflect.ValueOf(cfg)).Interface().(Config)
	}
	return mergeCopy(reflect.ValueOf(replacement)).Interface().(Config)
}

// mergeField names one field of one struct type.
type mergeField struct {
	owner reflect.Type
	name  string
}

func mergeFieldOf[T any](name string) mergeField {
	return mergeField{reflect.TypeFor[T](), name}
}

// mergeAppendOnly lists the fields whose lists are plain-appended: parent
// items, then child items, without keys or deduplication.
var mergeAppendOnly = map[mergeField]bool{
	mergeFieldOf[File]("Append"):             true,
	mergeFieldOf[Filesystem]("Options"):      true,
	mergeFieldOf[Filesystem]("MountOptions"): true,
	mergeFieldOf[Raid]("Options"):            true,
	mergeFieldOf[Luks]("Options"):            true,
}

// mergeSharedKeys lists, per struct type, the groups of list fields that
// share one key space.
var mergeSharedKeys = map[reflect.Type][][]string{
	reflect.TypeFor[Storage]():         {{"Files", "Directories", "Links"}},
	reflect.TypeFor[KernelArguments](): {{"ShouldExist", "ShouldNotExist"}},
}

// mergeKey returns the key of an entry of a keyed list; ok is false for an
// element type that has no key.
func mergeKey(v reflect.Value) (key string, ok bool) {
	switch e := v.Interface().(type) {
	case string: // noProxy, sshAuthorizedKeys, user groups, raid devices, luks openOptions, kernel arguments
		return e, true
	case Resource: // ignition.config.merge, certificateAuthorities
		if e.Source == nil {
			return "", true
		}
		return *e.Source, true
	case HTTPHeader:
		return e.Name, true
	case Disk:
		return e.Device, true
	case Partition:
		switch {
		case e.Number != 0:
			return "number:" + strconv.Itoa(e.Number), true
		case e.Label != nil:
			return "label:" + *e.Label, true
		}
		return "", true
	case Filesystem:
		return e.Device, true
	case Raid:
		return e.Name, true
	case Luks:
		return e.Name, true
	case Tang:
		return e.URL, true
	case File:
		return e.Path, true
	case Directory:
		return e.Path, true
	case Link:
		return e.Path, true
	case PasswdUser:
		return e.Name, true
	case PasswdGroup:
		return e.Name, true
	case Unit:
		return e.Name, true
	case Dropin:
		return e.Name, true
	}
	return "", false
}

// mergeRemoves reports whether a child entry removes the parent's entry of
// the same key instead of merging over it: an HTTP header without a value.
func mergeRemoves(v reflect.Value) bool {
	h, ok := v.Interface().(HTTPHeader)
	return ok && h.Value == nil
}

// mergeValue merges child over parent for a value that is not a list (lists
// need to know their field, see mergeStruct).
func mergeValue(parent, child reflect.Value) reflect.Value {
	switch parent.Kind() {
	case reflect.Struct:
		return mergeStruct(parent, child)
	case reflect.Pointer:
		return mergePointer(parent, child)
	default:
		return mergeScalar(parent, child)
	}
}

// mergeScalar: the child's value always wins, even the zero value.
func mergeScalar(_, child reflect.Value) reflect.Value {
	return child
}

// mergePointer: the child's value wins when the child sets it (non-nil).
func mergePointer(parent, child reflect.Value) reflect.Value {
	if child.IsNil() {
		return mergeCopy(parent)
	}
	return mergeCopy(child)
}

// mergeStruct: a zero side yields the other side; otherwise field by field.
func mergeStruct(parent, child reflect.Value) reflect.Value {
	switch {
	case child.IsZero():
		return mergeCopy(parent)
	case parent.IsZero():
		return mergeCopy(child)
	}
	t := parent.Type()
	out := reflect.New(t).Elem()
	done := make(map[string]bool)
	for _, group := range mergeSharedKeys[t] {
		parents := make([]reflect.Value, len(group))
		children := make([]reflect.Value, len(group))
		for i, name := range group {
			parents[i] = parent.FieldByName(name)
			children[i] = child.FieldByName(name)
		}
		for i, merged := range mergeKeyedLists(parents, children) {
			out.FieldByName(group[i]).Set(merged)
			done[group[i]] = true
		}
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if done[f.Name] {
			continue
		}
		p, c := parent.Field(i), child.Field(i)
		if f.Type.Kind() == reflect.Slice {
			out.Field(i).Set(mergeList(mergeField{t, f.Name}, p, c))
		} else {
			out.Field(i).Set(mergeValue(p, c))
		}
	}
	return out
}

// mergeList merges the list field f: plain-appended or keyed.
func mergeList(f mergeField, parent, child reflect.Value) reflect.Value {
	if _, keyed := mergeKey(reflect.Zero(parent.Type().Elem())); !keyed || mergeAppendOnly[f] {
		return mergeAppend(parent, child)
	}
	return mergeKeyedLists([]reflect.Value{parent}, []reflect.Value{child})[0]
}

// mergeAppend returns copies of the parent's items followed by copies of
// the child's.
func mergeAppend(parent, child reflect.Value) reflect.Value {
	n := parent.Len() + child.Len()
	if n == 0 {
		return reflect.Zero(parent.Type())
	}
	out := reflect.MakeSlice(parent.Type(), 0, n)
	for _, l := range []reflect.Value{parent, child} {
		for i := 0; i < l.Len(); i++ {
			out = reflect.Append(out, mergeCopy(l.Index(i)))
		}
	}
	return out
}

// mergeKeyedLists merges keyed lists that share one key space: parents[i]
// and children[i] are the same list field of the parent and of the child.
//
// In list i, a parent entry whose key the child also has in list i is
// merged with the child's entry (with each of them in order, should the
// child repeat the key) and stays in its place; one whose key the child has
// only in another list of the group is dropped; any other is kept. The
// child's entries whose key the parent does not have in list i are then
// appended in the child's order. A removing child entry (mergeRemoves)
// drops the parent's entry and is not appended itself.
func mergeKeyedLists(parents, children []reflect.Value) []reflect.Value {
	childAt := make(map[string][]mergeAt)
	for l, c := range children {
		for i := 0; i < c.Len(); i++ {
			k, _ := mergeKey(c.Index(i))
			childAt[k] = append(childAt[k], mergeAt{l, i})
		}
	}

	out := make([]reflect.Value, len(parents))
	for l, p := range parents {
		c := children[l]
		list := reflect.MakeSlice(p.Type(), 0, p.Len()+c.Len())
		inParent := make(map[string]bool, p.Len())
		for i := 0; i < p.Len(); i++ {
			k, _ := mergeKey(p.Index(i))
			inParent[k] = true
			if entry, keep := mergeEntry(p.Index(i), children, childAt[k], l); keep {
				list = reflect.Append(list, entry)
			}
		}
		for i := 0; i < c.Len(); i++ {
			ce := c.Index(i)
			if k, _ := mergeKey(ce); !inParent[k] && !mergeRemoves(ce) {
				list = reflect.Append(list, mergeCopy(ce))
			}
		}
		if list.Len() == 0 {
			list = reflect.Zero(p.Type())
		}
		out[l] = list
	}
	return out
}

// mergeAt locates a child entry: children[list].Index(index).
type mergeAt struct{ list, index int }

// mergeEntry merges over the parent entry of list l the child's entries
// with the same key (ats). keep is false when the entry is dropped: removed
// by a removing entry, or superseded by the child's entry in another list.
func mergeEntry(parent reflect.Value, children []reflect.Value, ats []mergeAt, l int) (entry reflect.Value, keep bool) {
	entry, keep = mergeCopy(parent), true
	sameList, otherList := false, false
	for _, a := range ats {
		if a.list != l {
			otherList = true
			continue
		}
		sameList = true
		switch ce := children[l].Index(a.index); {
		case mergeRemoves(ce):
			keep = false
		case keep:
			entry = mergeValue(entry, ce)
		default:
			entry, keep = mergeCopy(ce), true
		}
	}
	if otherList && !sameList {
		return reflect.Value{}, false
	}
	return entry, keep
}

// mergeCopy deep-copies v: new pointers and new slices all the way down.
// Empty slices become nil.
func mergeCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(mergeCopy(v.Elem()))
		return p
	case reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			s.Index(i).Set(mergeCopy(v.Index(i)))
		}
		return s
	case reflect.Struct:
		s := reflect.New(v.Type()).Elem()
		for i := 0; i < v.NumField(); i++ {
			s.Field(i).Set(mergeCopy(v.Field(i)))
		}
		return s
	default: // string, int, bool: values
		return v
	}
}
