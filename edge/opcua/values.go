package opcua

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

// ErrDataType is wrapped by conversions of values whose OPC UA data type
// has no twin counterpart (arrays, structures, byte strings, ...) or which
// do not fit the node's data type on a write.
var ErrDataType = errors.New("opcua: unsupported data type")

// FromVariant converts a scalar OPC UA value to a twin value: Boolean to
// bool; the integer types to int (UInt64 above MaxInt64 is refused);
// Float and Double to double; String, LocalizedText (its text) and
// DateTime (RFC 3339 with nanoseconds, UTC) to string. Anything else,
// arrays included, fails with ErrDataType naming the type.
func FromVariant(v *ua.Variant) (twins.Value, error) {
	if v == nil {
		return twins.Value{}, fmt.Errorf("%w: no value", ErrDataType)
	}
	if v.ArrayLength() > 0 || len(v.ArrayDimensions()) > 0 {
		return twins.Value{}, fmt.Errorf("%w: an array of %s (only scalars map to a property)", ErrDataType, typeName(v.Type()))
	}
	switch x := v.Value().(type) {
	case bool:
		return twins.Bool(x), nil
	case int8:
		return twins.Int(int64(x)), nil
	case uint8:
		return twins.Int(int64(x)), nil
	case int16:
		return twins.Int(int64(x)), nil
	case uint16:
		return twins.Int(int64(x)), nil
	case int32:
		return twins.Int(int64(x)), nil
	case uint32:
		return twins.Int(int64(x)), nil
	case int64:
		return twins.Int(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return twins.Value{}, fmt.Errorf("%w: UInt64 %d does not fit a 64-bit signed int", ErrDataType, x)
		}
		return twins.Int(int64(x)), nil
	case float32:
		return twins.Double(float64(x)), nil
	case float64:
		return twins.Double(x), nil
	case string:
		return twins.String(x), nil
	case *ua.LocalizedText:
		if x == nil {
			return twins.String(""), nil
		}
		return twins.String(x.Text), nil
	case time.Time:
		return twins.String(x.UTC().Format(time.RFC3339Nano)), nil
	}
	return twins.Value{}, fmt.Errorf("%w: %s", ErrDataType, typeName(v.Type()))
}

// typeName names an OPC UA built-in type for messages.
func typeName(t ua.TypeID) string {
	if s, ok := strings.CutPrefix(t.String(), "TypeID"); ok {
		return s
	}
	return "type " + strconv.Itoa(int(t))
}

// ToVariant converts a twin value for a write to a node of the OPC UA
// built-in data type dataType (a numeric node id in namespace 0, as the
// node's DataType attribute gives). Numbers are range-checked; a double
// written to an integer node must be whole. dataType 0 (unknown) picks the
// natural type: Boolean, Int64, Double or String.
func ToVariant(v twins.Value, dataType uint32) (*ua.Variant, error) {
	if dataType == 0 {
		switch v.Type() {
		case twins.TypeBool:
			dataType = id.Boolean
		case twins.TypeInt:
			dataType = id.Int64
		case twins.TypeDouble:
			dataType = id.Double
		default:
			dataType = id.String
		}
	}
	var out any
	switch dataType {
	case id.Boolean:
		if v.Type() != twins.TypeBool {
			return nil, fmt.Errorf("%w: %s value %s for a Boolean node", ErrDataType, v.Type(), v)
		}
		out = v.AsBool()
	case id.SByte, id.Byte, id.Int16, id.UInt16, id.Int32, id.UInt32, id.Int64, id.UInt64:
		i, err := wholeNumber(v)
		if err != nil {
			return nil, err
		}
		if out, err = fitInt(i, dataType); err != nil {
			return nil, err
		}
	case id.Float:
		f, err := realNumber(v)
		if err != nil {
			return nil, err
		}
		if math.Abs(f) > math.MaxFloat32 && !math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: %v is out of the Float range", ErrDataType, f)
		}
		out = float32(f)
	case id.Double:
		f, err := realNumber(v)
		if err != nil {
			return nil, err
		}
		out = f
	case id.String:
		switch v.Type() {
		case twins.TypeString, twins.TypeEnum:
			out = v.AsString()
		default:
			return nil, fmt.Errorf("%w: %s value %s for a String node", ErrDataType, v.Type(), v)
		}
	default:
		return nil, fmt.Errorf("%w: writing to a node of data type %s", ErrDataType, ua.NewNumericNodeID(0, dataType))
	}
	return ua.NewVariant(out)
}

func wholeNumber(v twins.Value) (int64, error) {
	switch v.Type() {
	case twins.TypeInt:
		return v.AsInt(), nil
	case twins.TypeDouble:
		f := v.AsDouble()
		if f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return 0, fmt.Errorf("%w: %v is not a whole number for an integer node", ErrDataType, f)
		}
		return int64(f), nil
	}
	return 0, fmt.Errorf("%w: %s value %s for an integer node", ErrDataType, v.Type(), v)
}

func realNumber(v twins.Value) (float64, error) {
	switch v.Type() {
	case twins.TypeInt:
		return float64(v.AsInt()), nil
	case twins.TypeDouble:
		return v.AsDouble(), nil
	}
	return 0, fmt.Errorf("%w: %s value %s for a floating-point node", ErrDataType, v.Type(), v)
}

func fitInt(i int64, dataType uint32) (any, error) {
	type bounds struct {
		lo, hi int64
		name   string
		conv   func(int64) any
	}
	b := map[uint32]bounds{
		id.SByte:  {math.MinInt8, math.MaxInt8, "SByte", func(i int64) any { return int8(i) }},
		id.Byte:   {0, math.MaxUint8, "Byte", func(i int64) any { return uint8(i) }},
		id.Int16:  {math.MinInt16, math.MaxInt16, "Int16", func(i int64) any { return int16(i) }},
		id.UInt16: {0, math.MaxUint16, "UInt16", func(i int64) any { return uint16(i) }},
		id.Int32:  {math.MinInt32, math.MaxInt32, "Int32", func(i int64) any { return int32(i) }},
		id.UInt32: {0, math.MaxUint32, "UInt32", func(i int64) any { return uint32(i) }},
		id.Int64:  {math.MinInt64, math.MaxInt64, "Int64", func(i int64) any { return i }},
		id.UInt64: {0, math.MaxInt64, "UInt64", func(i int64) any { return uint64(i) }},
	}[dataType]
	if i < b.lo || i > b.hi {
		return nil, fmt.Errorf("%w: %d is out of the %s range %d..%d", ErrDataType, i, b.name, b.lo, b.hi)
	}
	return b.conv(i), nil
}

// Quality maps an OPC UA status code to a sample quality by its severity
// bits: Good, Uncertain, or Bad.
func Quality(code ua.StatusCode) pb.Quality {
	switch uint32(code) >> 30 {
	case 0:
		return pb.Quality_QUALITY_GOOD
	case 1:
		return pb.Quality_QUALITY_UNCERTAIN
	}
	return pb.Quality_QUALITY_BAD
}

// SourceTime is the time of a data value: its source timestamp, else its
// server timestamp, else now.
func SourceTime(dv *ua.DataValue, now time.Time) time.Time {
	switch {
	case dv.EncodingMask&ua.DataValueSourceTimestamp != 0 && !dv.SourceTimestamp.IsZero():
		return dv.SourceTimestamp
	case dv.EncodingMask&ua.DataValueServerTimestamp != 0 && !dv.ServerTimestamp.IsZero():
		return dv.ServerTimestamp
	}
	return now
}
