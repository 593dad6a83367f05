package twins

import (
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// Type is the data type of a property, a parameter or a [Value].
type Type uint8

// The property types. The zero Type means "no type" (the zero [Value]).
const (
	TypeBool Type = iota + 1
	TypeInt
	TypeDouble
	TypeString
	TypeEnum
)

var typeNames = [...]string{
	TypeBool:   "bool",
	TypeInt:    "int",
	TypeDouble: "double",
	TypeString: "string",
	TypeEnum:   "enum",
}

// String returns the configuration name of t: "bool", "int", "double",
// "string" or "enum"; "none" for the zero Type.
func (t Type) String() string {
	if t == 0 {
		return "none"
	}
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType parses a type name as written in the configuration.
func ParseType(s string) (Type, error) {
	for t := TypeBool; t <= TypeEnum; t++ {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("twins: unknown type %q (want bool, int, double, string or enum)", s)
}

// Value is a typed property value. It is small and comparable with Equal;
// the zero Value means "no value" and has Type 0.
//
// A Value is 24 bytes: a twin with ten properties holds ten of them, so
// strings are kept as a data pointer with their length in num instead of a
// 16-byte string header beside num.
type Value struct {
	ptr *byte  // string and enum: the string's bytes (nil when empty)
	num uint64 // bool (0/1), int64 bits, float64 bits, or the string's length
	typ Type
}

func stringValue(t Type, s string) Value {
	return Value{typ: t, ptr: unsafe.StringData(s), num: uint64(len(s))}
}

// str returns the string of a string or enum value.
func (v Value) str() string {
	if v.ptr == nil || (v.typ != TypeString && v.typ != TypeEnum) {
		return ""
	}
	return unsafe.String(v.ptr, int(v.num))
}

// Bool returns a bool Value.
func Bool(b bool) Value {
	v := Value{typ: TypeBool}
	if b {
		v.num = 1
	}
	return v
}

// Int returns an int Value.
func Int(i int64) Value { return Value{typ: TypeInt, num: uint64(i)} }

// Double returns a double Value.
func Double(f float64) Value { return Value{typ: TypeDouble, num: math.Float64bits(f)} }

// String returns a string Value.
func String(s string) Value { return stringValue(TypeString, s) }

// Enum returns an enum Value holding the symbol s.
func Enum(s string) Value { return stringValue(TypeEnum, s) }

// Type returns the type of v, 0 for the zero Value.
func (v Value) Type() Type { return v.typ }

// IsZero reports whether v is the zero Value (no value).
func (v Value) IsZero() bool { return v.typ == 0 }

// AsBool returns the bool held by v, false for other types.
func (v Value) AsBool() bool { return v.typ == TypeBool && v.num != 0 }

// AsInt returns the int held by v, 0 for other types.
func (v Value) AsInt() int64 {
	if v.typ != TypeInt {
		return 0
	}
	return int64(v.num)
}

// AsDouble returns the double held by v; an int is converted. It returns 0
// for other types.
func (v Value) AsDouble() float64 {
	switch v.typ {
	case TypeDouble:
		return math.Float64frombits(v.num)
	case TypeInt:
		return float64(int64(v.num))
	}
	return 0
}

// AsString returns the text of a string or the symbol of an enum, "" for
// other types.
func (v Value) AsString() string { return v.str() }

// Equal reports whether v and o have the same type and value. Doubles compare
// numerically (so 0 equals -0 and NaN equals nothing).
func (v Value) Equal(o Value) bool {
	if v.typ != o.typ {
		return false
	}
	if v.typ == TypeDouble {
		return math.Float64frombits(v.num) == math.Float64frombits(o.num)
	}
	if v.typ == TypeString || v.typ == TypeEnum {
		return v.str() == o.str()
	}
	return v.num == o.num
}

// String returns v in human form: true, 42, 73.5, "text" (quoted) or the bare
// enum symbol; "<none>" for the zero Value.
func (v Value) String() string {
	switch v.typ {
	case TypeBool:
		return strconv.FormatBool(v.num != 0)
	case TypeInt:
		return strconv.FormatInt(int64(v.num), 10)
	case TypeDouble:
		return strconv.FormatFloat(math.Float64frombits(v.num), 'g', -1, 64)
	case TypeString:
		return strconv.Quote(v.str())
	case TypeEnum:
		return v.str()
	case 0:
		return "<none>"
	}
	return "<" + v.typ.String() + ">"
}

// Quality is the quality of a reported value, as in OPC UA.
type Quality uint8

// The qualities. QualityUnknown in a [Reported] means "never reported"; in a
// [Sample] it means QualityGood.
const (
	QualityUnknown   Quality = 0
	QualityGood      Quality = 1
	QualityUncertain Quality = 2
	QualityBad       Quality = 3
)

// String returns "unknown", "good", "uncertain" or "bad".
func (q Quality) String() string {
	switch q {
	case QualityUnknown:
		return "unknown"
	case QualityGood:
		return "good"
	case QualityUncertain:
		return "uncertain"
	case QualityBad:
		return "bad"
	}
	return "quality(" + strconv.Itoa(int(q)) + ")"
}

// Connectivity is whether the device behind a twin is reachable.
type Connectivity uint8

// The connectivity states.
const (
	ConnectivityUnknown Connectivity = 0
	ConnectivityOnline  Connectivity = 1
	ConnectivityOffline Connectivity = 2
)

// String returns "unknown", "online" or "offline".
func (c Connectivity) String() string {
	switch c {
	case ConnectivityUnknown:
		return "unknown"
	case ConnectivityOnline:
		return "online"
	case ConnectivityOffline:
		return "offline"
	}
	return "connectivity(" + strconv.Itoa(int(c)) + ")"
}
