package query

import (
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"github.com/plantwin/plantwin/twins"
)

// activation resolves the variables of a filter lazily from one twin: a
// value is built only when the expression reads it. It is used for a single
// evaluation by a single goroutine.
type activation struct {
	spec   *twins.Spec
	st     *twins.State // nil when only the spec is known (MatchSpec)
	active bool
}

// ResolveName implements [interpreter.Activation].
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varID:
		return types.String(a.spec.ID), true
	case varModel:
		return types.String(a.spec.ModelName), true
	case varParent:
		return types.String(a.spec.Parent), true
	case varLabels:
		return labelsMap{a.spec.Labels}, true
	}
	if a.st == nil {
		return nil, false
	}
	switch name {
	case varVersion:
		return types.Int(a.st.Version), true
	case varActive:
		return types.Bool(a.active), true
	case varConnectivity:
		return connectivityVal(a.st.Connectivity), true
	case varConnectivitySince:
		return timestampVal(a.st.ConnectivitySince), true
	case varReported:
		return lazyMap[reportedSource]{reportedSource{a.st}}, true
	case varDesired:
		return lazyMap[desiredSource]{desiredSource{a.st}}, true
	}
	return nil, false
}

// Parent implements [interpreter.Activation].
func (a *activation) Parent() interpreter.Activation { return nil }

// mapSource supplies the entries of a [lazyMap]. Implementations are a
// single pointer, so boxing a lazyMap into a ref.Val does not allocate.
type mapSource interface {
	// find returns the value of key, or false if the map has no such key.
	find(key string) (ref.Val, bool)
	// next returns the first key at position pos or later and the position
	// after it, or false when there is none. Positions start at 0.
	next(pos int) (key string, after int, ok bool)
}

// lazyMap is a read-only CEL map(string, dyn) whose values are computed on
// lookup from the twin instead of being copied into a Go map.
type lazyMap[S mapSource] struct{ src S }

var _ traits.Mapper = lazyMap[reportedSource]{}

// Find implements [traits.Mapper]. A key that is not a string is not found.
func (m lazyMap[S]) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return nil, false
	}
	return m.src.find(string(k))
}

// Get implements [traits.Indexer].
func (m lazyMap[S]) Get(key ref.Val) ref.Val {
	v, ok := m.Find(key)
	if !ok {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements [traits.Container]: the `in` operator.
func (m lazyMap[S]) Contains(key ref.Val) ref.Val {
	v, ok := m.Find(key)
	if !ok && v != nil {
		return v // unknown or error key
	}
	return types.Bool(ok)
}

// Size implements [traits.Sizer].
func (m lazyMap[S]) Size() ref.Val {
	n := 0
	for pos := 0; ; n++ {
		var ok bool
		if _, pos, ok = m.src.next(pos); !ok {
			return types.Int(n)
		}
	}
}

// Iterator implements [traits.Iterable]: it yields the keys in a stable
// order (model order for properties).
func (m lazyMap[S]) Iterator() traits.Iterator {
	return &keyIterator[S]{src: m.src}
}

// ConvertToNative implements [ref.Val]. Maps of twin state never leave CEL
// (a filter's result is a bool), so no native conversion is offered.
func (m lazyMap[S]) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("query: no conversion of a twin map to %v", typeDesc)
}

// ConvertToType implements [ref.Val].
func (m lazyMap[S]) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.MapType, typeVal)
}

// Equal implements [ref.Val] with CEL map equality: same keys, equal values.
func (m lazyMap[S]) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if m.Size() != o.Size() {
		return types.False
	}
	for pos := 0; ; {
		key, after, ok := m.src.next(pos)
		if !ok {
			return types.True
		}
		pos = after
		v, _ := m.src.find(key)
		ov, found := o.Find(types.String(key))
		if !found {
			return types.False
		}
		if eq := types.Equal(v, ov); eq != types.True {
			return eq
		}
	}
}

// Type implements [ref.Val].
func (m lazyMap[S]) Type() ref.Type { return types.MapType }

// Value implements [ref.Val]: the map itself, as there is no Go map behind it.
func (m lazyMap[S]) Value() any { return m }

// keyIterator walks the keys of a lazyMap.
type keyIterator[S mapSource] struct {
	src S
	pos int
}

// HasNext implements [traits.Iterator].
func (it *keyIterator[S]) HasNext() ref.Val {
	_, _, ok := it.src.next(it.pos)
	return types.Bool(ok)
}

// Next implements [traits.Iterator].
func (it *keyIterator[S]) Next() ref.Val {
	key, after, ok := it.src.next(it.pos)
	if !ok {
		return types.NewErr("query: iterator past the last key")
	}
	it.pos = after
	return types.String(key)
}

// ConvertToNative implements [ref.Val]; iterators are not convertible.
func (it *keyIterator[S]) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("query: no conversion of an iterator to %v", typeDesc)
}

// ConvertToType implements [ref.Val]; iterators are not convertible.
func (it *keyIterator[S]) ConvertToType(typeVal ref.Type) ref.Val {
	return types.NewErr("type conversion error from iterator to '%s'", typeVal)
}

// Equal implements [ref.Val]; iterators are never equal.
func (it *keyIterator[S]) Equal(ref.Val) ref.Val { return types.False }

// Type implements [ref.Val].
func (it *keyIterator[S]) Type() ref.Type { return types.IteratorType }

// Value implements [ref.Val].
func (it *keyIterator[S]) Value() any { return nil }

// labelsMap is the `labels` map. The interpreter could read a
// map[string]string itself, but it would box each value twice; lookups here
// box once. A nil map reads as empty.
type labelsMap struct{ m map[string]string }

var _ traits.Mapper = labelsMap{}

// Find implements [traits.Mapper]. A key that is not a string is not found.
func (l labelsMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return nil, false
	}
	v, ok := l.m[string(k)]
	if !ok {
		return nil, false
	}
	return types.String(v), true
}

// Get implements [traits.Indexer].
func (l labelsMap) Get(key ref.Val) ref.Val {
	v, ok := l.Find(key)
	if !ok {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements [traits.Container]: the `in` operator.
func (l labelsMap) Contains(key ref.Val) ref.Val {
	v, ok := l.Find(key)
	if !ok && v != nil {
		return v // unknown or error key
	}
	return types.Bool(ok)
}

// Size implements [traits.Sizer].
func (l labelsMap) Size() ref.Val { return types.Int(len(l.m)) }

// full returns the labels as CEL's own map, for the rarely used operations.
func (l labelsMap) full() traits.Mapper {
	return types.NewStringStringMap(types.DefaultTypeAdapter, l.m)
}

// Iterator implements [traits.Iterable].
func (l labelsMap) Iterator() traits.Iterator { return l.full().Iterator() }

// ConvertToNative implements [ref.Val].
func (l labelsMap) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return l.full().ConvertToNative(typeDesc)
}

// ConvertToType implements [ref.Val].
func (l labelsMap) ConvertToType(typeVal ref.Type) ref.Val {
	if typeVal == types.MapType {
		return l
	}
	return l.full().ConvertToType(typeVal)
}

// Equal implements [ref.Val].
func (l labelsMap) Equal(other ref.Val) ref.Val { return l.full().Equal(other) }

// Type implements [ref.Val].
func (l labelsMap) Type() ref.Type { return types.MapType }

// Value implements [ref.Val].
func (l labelsMap) Value() any { return l.m }

// reportedSource is the `reported` map: property name to a reportedEntry,
// for the properties that have been reported.
type reportedSource struct{ st *twins.State }

func (s reportedSource) find(key string) (ref.Val, bool) {
	m := s.st.Spec.Model
	if m == nil {
		return nil, false
	}
	p, ok := m.Property(key)
	if !ok || p.Index < 0 || p.Index >= len(s.st.Reported) {
		return nil, false
	}
	r := &s.st.Reported[p.Index]
	if r.Quality == twins.QualityUnknown {
		return nil, false
	}
	return lazyMap[reportedEntry]{reportedEntry{r}}, true
}

func (s reportedSource) next(pos int) (string, int, bool) {
	m := s.st.Spec.Model
	if m == nil {
		return "", 0, false
	}
	for i := pos; i < len(m.Properties); i++ {
		p := &m.Properties[i]
		if p.Index >= 0 && p.Index < len(s.st.Reported) && s.st.Reported[p.Index].Quality != twins.QualityUnknown {
			return p.Name, i + 1, true
		}
	}
	return "", 0, false
}

// desiredSource is the `desired` map: property name to a desiredEntry, for
// the properties that have a desired value.
type desiredSource struct{ st *twins.State }

func (s desiredSource) find(key string) (ref.Val, bool) {
	m := s.st.Spec.Model
	if m == nil || s.st.Desired == nil {
		return nil, false
	}
	p, ok := m.Property(key)
	if !ok || p.Index < 0 || p.Index >= len(s.st.Desired) {
		return nil, false
	}
	d := &s.st.Desired[p.Index]
	if d.Value.IsZero() {
		return nil, false
	}
	return lazyMap[desiredEntry]{desiredEntry{d}}, true
}

func (s desiredSource) next(pos int) (string, int, bool) {
	m := s.st.Spec.Model
	if m == nil || s.st.Desired == nil {
		return "", 0, false
	}
	for i := pos; i < len(m.Properties); i++ {
		p := &m.Properties[i]
		if p.Index >= 0 && p.Index < len(s.st.Desired) && !s.st.Desired[p.Index].Value.IsZero() {
			return p.Name, i + 1, true
		}
	}
	return "", 0, false
}

// The keys of the entries of `reported` and `desired`.
const (
	keyValue      = "value"
	keyQuality    = "quality"
	keySourceTime = "source_time"
	keyServerTime = "server_time"
	keyUpdateTime = "update_time"
)

// reportedEntry is one entry of `reported`:
// {value, quality, source_time, server_time}.
type reportedEntry struct{ r *twins.Reported }

func (e reportedEntry) find(key string) (ref.Val, bool) {
	switch key {
	case keyValue:
		v := valueVal(e.r.Value)
		return v, v != nil
	case keyQuality:
		return qualityVal(e.r.Quality), true
	case keySourceTime:
		return timestampVal(e.r.SourceTime), true
	case keyServerTime:
		return timestampVal(e.r.ServerTime), true
	}
	return nil, false
}

var reportedKeys = [...]string{keyValue, keyQuality, keySourceTime, keyServerTime}

func (e reportedEntry) next(pos int) (string, int, bool) {
	if pos == 0 && e.r.Value.IsZero() {
		pos = 1 // no value: skip the "value" key
	}
	if pos >= len(reportedKeys) {
		return "", 0, false
	}
	return reportedKeys[pos], pos + 1, true
}

// desiredEntry is one entry of `desired`: {value, update_time}.
type desiredEntry struct{ d *twins.Desired }

func (e desiredEntry) find(key string) (ref.Val, bool) {
	switch key {
	case keyValue:
		v := valueVal(e.d.Value)
		return v, v != nil
	case keyUpdateTime:
		return timestampVal(e.d.UpdateTime), true
	}
	return nil, false
}

var desiredKeys = [...]string{keyValue, keyUpdateTime}

func (e desiredEntry) next(pos int) (string, int, bool) {
	if pos >= len(desiredKeys) {
		return "", 0, false
	}
	return desiredKeys[pos], pos + 1, true
}

// valueVal returns v as a CEL value (an enum as its symbol), nil for the
// zero Value.
func valueVal(v twins.Value) ref.Val {
	switch v.Type() {
	case twins.TypeBool:
		return types.Bool(v.AsBool())
	case twins.TypeInt:
		return types.Int(v.AsInt())
	case twins.TypeDouble:
		return types.Double(v.AsDouble())
	case twins.TypeString, twins.TypeEnum:
		return types.String(v.AsString())
	}
	return nil
}

// qualityVal returns "good", "uncertain" or "bad" (constants, so boxing them
// does not allocate).
func qualityVal(q twins.Quality) ref.Val {
	switch q {
	case twins.QualityGood:
		return types.String("good")
	case twins.QualityUncertain:
		return types.String("uncertain")
	case twins.QualityBad:
		return types.String("bad")
	}
	return types.String(q.String())
}

// connectivityVal returns "online", "offline" or "unknown".
func connectivityVal(c twins.Connectivity) ref.Val {
	switch c {
	case twins.ConnectivityOnline:
		return types.String("online")
	case twins.ConnectivityOffline:
		return types.String("offline")
	}
	return types.String("unknown")
}

// timestampVal returns Unix nanoseconds as a CEL timestamp in UTC.
func timestampVal(ns int64) ref.Val {
	return types.Timestamp{Time: time.Unix(0, ns).UTC()}
}
