package modbus

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/plantwin/plantwin/twins"
)

// The protocol maxima of one read request (Modbus Application Protocol
// v1.1b3, FC 1-4).
const (
	maxReadRegisters = 125
	maxReadBits      = 2000
)

// Table is a Modbus data table.
type Table uint8

// The four data tables. The zero Table is invalid.
const (
	Coils            Table = iota + 1 // read/write bits, FC 1 / 5 / 15
	DiscreteInputs                    // read-only bits, FC 2
	HoldingRegisters                  // read/write 16-bit registers, FC 3 / 6 / 16
	InputRegisters                    // read-only 16-bit registers, FC 4
)

// ParseTable parses a table name as written in the configuration: "coil"
// or "coils", "discrete", "discrete_input" or "discrete_inputs",
// "holding", "holding_register" or "holding_registers", "input",
// "input_register" or "input_registers".
func ParseTable(s string) (Table, error) {
	switch s {
	case "coil", "coils":
		return Coils, nil
	case "discrete", "discrete_input", "discrete_inputs":
		return DiscreteInputs, nil
	case "holding", "holding_register", "holding_registers":
		return HoldingRegisters, nil
	case "input", "input_register", "input_registers":
		return InputRegisters, nil
	}
	return 0, fmt.Errorf("modbus: unknown table %q (want coil, coils, discrete, discrete_input, discrete_inputs, "+
		"holding, holding_register, holding_registers, input, input_register or input_registers)", s)
}

// String returns the canonical name of t: "coil", "discrete_input",
// "holding_register" or "input_register"; "table(N)" for an invalid Table.
func (t Table) String() string {
	switch t {
	case Coils:
		return "coil"
	case DiscreteInputs:
		return "discrete_input"
	case HoldingRegisters:
		return "holding_register"
	case InputRegisters:
		return "input_register"
	}
	return "table(" + strconv.Itoa(int(t)) + ")"
}

// IsBits reports whether t holds bits (coils and discrete inputs) rather
// than 16-bit registers.
func (t Table) IsBits() bool { return t == Coils || t == DiscreteInputs }

// Writable reports whether a client can write t (coils and holding
// registers).
func (t Table) Writable() bool { return t == Coils || t == HoldingRegisters }

// unit names what t counts in, for messages.
func (t Table) unit() string {
	if t.IsBits() {
		return "bits"
	}
	return "registers"
}

// Type is how a point's raw data is interpreted.
type Type uint8

// The point types. The zero Type is invalid.
const (
	Bool    Type = iota + 1 // a bit, or a register that is non-zero
	Int16                   // one register, two's complement
	Uint16                  // one register
	Int32                   // two registers, two's complement
	Uint32                  // two registers
	Float32                 // two registers, IEEE 754 binary32
	Float64                 // four registers, IEEE 754 binary64
	String                  // Point.Length registers, two bytes of UTF-8 each
)

var typeNames = [...]string{
	Bool:    "bool",
	Int16:   "int16",
	Uint16:  "uint16",
	Int32:   "int32",
	Uint32:  "uint32",
	Float32: "float32",
	Float64: "float64",
	String:  "string",
}

// ParseType parses a type name as written in the configuration: "bool",
// "int16", "uint16", "int32", "uint32", "float32", "float64" or "string".
func ParseType(s string) (Type, error) {
	for t := Bool; t <= String; t++ {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("modbus: unknown type %q (want bool, int16, uint16, int32, uint32, float32, float64 or string)", s)
}

// String returns the configuration name of t, "type(N)" for an invalid
// Type.
func (t Type) String() string {
	if t >= Bool && t <= String {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ByteOrder is the order of the two bytes inside each 16-bit register.
//
// Take a float32 1.0, bits 0x3F800000. With BigEndian (the Modbus
// standard) and HighWordFirst its registers are [0x3F80, 0x0000]; with
// LittleEndian each register has its bytes swapped: [0x803F, 0x0000]. The
// byte order applies to every register-table type: an int16 -2 (0xFFFE) is
// [0xFFFE] big-endian and [0xFEFF] little-endian, and a bool written as 1
// is [0x0001] or [0x0100]. For a String, BigEndian means the first
// character of each pair is the high byte of the register: "AB" is
// [0x4142] big-endian and [0x4241] little-endian.
type ByteOrder uint8

// The byte orders. The zero ByteOrder is the Modbus standard, big-endian.
const (
	BigEndian    ByteOrder = iota // high byte first: 0x3F80 is sent as 3F 80
	LittleEndian                  // bytes swapped inside each register
)

// ParseByteOrder parses a byte order as written in the configuration:
// "big" or "big_endian", "little" or "little_endian"; "" means BigEndian.
func ParseByteOrder(s string) (ByteOrder, error) {
	switch s {
	case "", "big", "big_endian":
		return BigEndian, nil
	case "little", "little_endian":
		return LittleEndian, nil
	}
	return 0, fmt.Errorf("modbus: unknown byte order %q (want big, big_endian, little or little_endian)", s)
}

// String returns "big_endian" or "little_endian", "byte_order(N)" for an
// invalid ByteOrder.
func (o ByteOrder) String() string {
	switch o {
	case BigEndian:
		return "big_endian"
	case LittleEndian:
		return "little_endian"
	}
	return "byte_order(" + strconv.Itoa(int(o)) + ")"
}

// WordOrder is the order of the registers of a 32- or 64-bit value.
//
// Take a float32 1.0, bits 0x3F800000. With HighWordFirst (and BigEndian)
// its registers are [0x3F80, 0x0000]; with LowWordFirst they are
// [0x0000, 0x3F80]. For the four registers of a Float64 LowWordFirst
// reverses all four: 1.5 (0x3FF8000000000000) is [0x3FF8, 0, 0, 0] high
// word first and [0, 0, 0, 0x3FF8] low word first. Word order and byte
// order combine: LittleEndian with LowWordFirst gives [0x0000, 0x803F] for
// the float32 1.0. The word order does not apply to one-register types nor
// to strings, whose registers are always in character order.
type WordOrder uint8

// The word orders. The zero WordOrder is high word first, the most common.
const (
	HighWordFirst WordOrder = iota // most significant register at the lowest address
	LowWordFirst                   // least significant register at the lowest address
)

// ParseWordOrder parses a word order as written in the configuration:
// "high_first", "high_word_first" or "big", "low_first", "low_word_first"
// or "little"; "" means HighWordFirst.
func ParseWordOrder(s string) (WordOrder, error) {
	switch s {
	case "", "high_first", "high_word_first", "big":
		return HighWordFirst, nil
	case "low_first", "low_word_first", "little":
		return LowWordFirst, nil
	}
	return 0, fmt.Errorf("modbus: unknown word order %q (want high_first, high_word_first, big, low_first, low_word_first or little)", s)
}

// String returns "high_word_first" or "low_word_first", "word_order(N)"
// for an invalid WordOrder.
func (o WordOrder) String() string {
	switch o {
	case HighWordFirst:
		return "high_word_first"
	case LowWordFirst:
		return "low_word_first"
	}
	return "word_order(" + strconv.Itoa(int(o)) + ")"
}

// Point is one value in a device's address space.
type Point struct {
	// UnitID is the Modbus unit (slave) identifier.
	UnitID uint8
	// Table is the data table the point lives in.
	Table Table
	// Address is the 0-based protocol address of the point's first
	// register or bit (register 40001 in the 1-based convention is
	// HoldingRegisters address 0).
	Address uint16
	// Type is how the raw data is interpreted: Bool for the bit tables;
	// any type for the register tables, where Bool means register != 0.
	Type Type
	// ByteOrder is the order of the bytes in each register; the zero
	// value is the standard big-endian.
	ByteOrder ByteOrder
	// WordOrder is the order of the registers of 32- and 64-bit types;
	// the zero value is high word first.
	WordOrder WordOrder
	// Length is, for String only, the number of registers (two bytes of
	// UTF-8 each), 1 to 125; it is ignored for the other types.
	Length uint16
	// Scale and Offset make a numeric value from the raw one:
	// value = raw*Scale + Offset. Scale 0 means 1. Non-default values make
	// an integer point decode to a double. They do not apply to Bool and
	// String.
	Scale  float64
	Offset float64
}

// Validate checks that p is consistent: a known table, type and orders, a
// Bool type on the bit tables, a String length of 1 to 125 registers (what
// one read returns), a finite scale and offset used only by numeric types,
// and a point that ends within the 65,536 addresses of its table.
func (p Point) Validate() error {
	if err := p.check(); err != nil {
		return fmt.Errorf("modbus: point %s: %w", p.where(), err)
	}
	return nil
}

// check is Validate without the location.
func (p Point) check() error {
	switch {
	case p.Table < Coils || p.Table > InputRegisters:
		return fmt.Errorf("invalid table %d", uint8(p.Table))
	case p.Type < Bool || p.Type > String:
		return fmt.Errorf("invalid type %d", uint8(p.Type))
	case p.ByteOrder > LittleEndian:
		return fmt.Errorf("invalid byte order %d", uint8(p.ByteOrder))
	case p.WordOrder > LowWordFirst:
		return fmt.Errorf("invalid word order %d", uint8(p.WordOrder))
	case p.Table.IsBits() && p.Type != Bool:
		return fmt.Errorf("type %s on a %s: the bit tables hold only bool", p.Type, p.Table)
	case p.Type == String && p.Length == 0:
		return errors.New("string without a length (registers, two characters each)")
	case p.Type == String && p.Length > maxReadRegisters:
		return fmt.Errorf("string length %d registers exceeds the %d one read can return", p.Length, maxReadRegisters)
	case math.IsNaN(p.Scale) || math.IsInf(p.Scale, 0):
		return fmt.Errorf("scale %v is not a finite number", p.Scale)
	case math.IsNaN(p.Offset) || math.IsInf(p.Offset, 0):
		return fmt.Errorf("offset %v is not a finite number", p.Offset)
	case (p.Type == Bool || p.Type == String) && p.scaled():
		return fmt.Errorf("scale %v and offset %v apply only to numeric types, not %s", p.Scale, p.Offset, p.Type)
	}
	if end := int(p.Address) + int(p.Quantity()); end > 1<<16 {
		return fmt.Errorf("%d %s from address %d overflow the 65536 addresses of the table", p.Quantity(), p.Table.unit(), p.Address)
	}
	return nil
}

// where locates p in messages: "unit 1 holding_register 100 float32".
func (p Point) where() string {
	return fmt.Sprintf("unit %d %s %d %s", p.UnitID, p.Table, p.Address, p.Type)
}

// Quantity returns how many registers (or bits) p spans: 1 on the bit
// tables; on the register tables 1 for Bool, Int16 and Uint16, 2 for
// Int32, Uint32 and Float32, 4 for Float64 and Length for String. It
// returns 0 for an invalid table or type.
func (p Point) Quantity() uint16 {
	switch p.Table {
	case Coils, DiscreteInputs:
		return 1
	case HoldingRegisters, InputRegisters:
	default:
		return 0
	}
	switch p.Type {
	case Bool, Int16, Uint16:
		return 1
	case Int32, Uint32, Float32:
		return 2
	case Float64:
		return 4
	case String:
		return p.Length
	}
	return 0
}

// scaled reports whether Scale or Offset differ from the identity.
func (p Point) scaled() bool { return (p.Scale != 0 && p.Scale != 1) || p.Offset != 0 }

// scale returns Scale with 0 meaning 1.
func (p Point) scale() float64 {
	if p.Scale == 0 {
		return 1
	}
	return p.Scale
}

// checkLen checks that regs and bits are exactly the data of p.
func (p Point) checkLen(regs []uint16, bits []bool) error {
	if p.Table.IsBits() {
		if len(bits) != 1 || len(regs) != 0 {
			return fmt.Errorf("got %d bits and %d registers, want 1 bit", len(bits), len(regs))
		}
		return nil
	}
	if q := int(p.Quantity()); len(regs) != q || len(bits) != 0 {
		return fmt.Errorf("got %d registers and %d bits, want %d registers", len(regs), len(bits), q)
	}
	return nil
}

// swapBytes swaps the two bytes of a register.
func swapBytes(w uint16) uint16 { return w<<8 | w>>8 }

// join assembles the registers of an integer or float into its bits,
// applying the byte and word orders.
func (p Point) join(regs []uint16) uint64 {
	n := len(regs)
	var u uint64
	for i := range n {
		j := i
		if p.WordOrder == LowWordFirst {
			j = n - 1 - i
		}
		w := regs[j]
		if p.ByteOrder == LittleEndian {
			w = swapBytes(w)
		}
		u = u<<16 | uint64(w)
	}
	return u
}

// split is the inverse of join: the n registers holding the low 16n bits
// of u.
func (p Point) split(u uint64, n int) []uint16 {
	regs := make([]uint16, n)
	for i := range n {
		w := uint16(u >> (16 * (n - 1 - i)))
		if p.ByteOrder == LittleEndian {
			w = swapBytes(w)
		}
		j := i
		if p.WordOrder == LowWordFirst {
			j = n - 1 - i
		}
		regs[j] = w
	}
	return regs
}

// Decode turns the data of p into a value: regs holds exactly Quantity()
// registers for a register table, bits exactly one bit for a bit table,
// and the other slice is empty.
//
// Integers become twins.Int, or twins.Double when Scale or Offset are not
// the defaults (raw*Scale + Offset). Floats become twins.Double; a NaN or
// infinite float is an error (the device sent garbage), and so is a
// scaled value that overflows. A String becomes twins.String with its
// trailing NULs and spaces trimmed; invalid UTF-8 is an error. Bool
// becomes twins.Bool: the bit, or whether the register is non-zero.
//
// An invalid point or wrong lengths are errors, never panics.
func Decode(p Point, regs []uint16, bits []bool) (twins.Value, error) {
	v, err := decode(p, regs, bits)
	if err != nil {
		return twins.Value{}, fmt.Errorf("modbus: decode %s: %w", p.where(), err)
	}
	return v, nil
}

func decode(p Point, regs []uint16, bits []bool) (twins.Value, error) {
	if err := p.check(); err != nil {
		return twins.Value{}, err
	}
	if err := p.checkLen(regs, bits); err != nil {
		return twins.Value{}, err
	}
	if p.Table.IsBits() {
		return twins.Bool(bits[0]), nil
	}
	switch p.Type {
	case Bool:
		return twins.Bool(regs[0] != 0), nil
	case String:
		return decodeString(p, regs)
	case Float32, Float64:
		u := p.join(regs)
		var f float64
		if p.Type == Float32 {
			f = float64(math.Float32frombits(uint32(u)))
		} else {
			f = math.Float64frombits(u)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return twins.Value{}, fmt.Errorf("registers %#04x hold %v, not a finite number", regs, f)
		}
		if !p.scaled() {
			return twins.Double(f), nil
		}
		return p.scaleRaw(f)
	}
	u := p.join(regs)
	var raw int64
	switch p.Type {
	case Int16:
		raw = int64(int16(u))
	case Uint16:
		raw = int64(uint16(u))
	case Int32:
		raw = int64(int32(uint32(u)))
	case Uint32:
		raw = int64(uint32(u))
	}
	if !p.scaled() {
		return twins.Int(raw), nil
	}
	return p.scaleRaw(float64(raw))
}

// scaleRaw returns raw*Scale + Offset, an error if it overflows.
func (p Point) scaleRaw(raw float64) (twins.Value, error) {
	f := raw*p.scale() + p.Offset
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return twins.Value{}, fmt.Errorf("raw value %v with scale %v and offset %v overflows", raw, p.Scale, p.Offset)
	}
	return twins.Double(f), nil
}

func decodeString(p Point, regs []uint16) (twins.Value, error) {
	b := make([]byte, 2*len(regs))
	for i, w := range regs {
		if p.ByteOrder == LittleEndian {
			w = swapBytes(w)
		}
		b[2*i], b[2*i+1] = byte(w>>8), byte(w)
	}
	b = bytes.TrimRight(b, "\x00 ")
	if !utf8.Valid(b) {
		return twins.Value{}, fmt.Errorf("registers %#04x are not valid UTF-8", regs)
	}
	return twins.String(string(b)), nil
}

// Encode is the inverse of Decode, for writes: it returns the registers
// (register tables) or the one bit (bit tables) that hold v.
//
// Bool points take a twins.Bool and write it as 1 or 0 (in the point's
// byte order) to a register. Numeric points take a twins.Int or a
// twins.Double; a double, or any value of a point with a non-default Scale
// or Offset, is first unscaled ((v-Offset)/Scale) and, for integer types,
// rounded half away from zero. A value out of the range of the type, or
// not finite, is an error. String points take a twins.String of valid
// UTF-8 that fits in Length registers, padded with NULs.
//
// Encode does not check Table.Writable: simulated devices use it to fill
// their read-only tables too.
func Encode(p Point, v twins.Value) (regs []uint16, bits []bool, err error) {
	regs, bits, err = encode(p, v)
	if err != nil {
		return nil, nil, fmt.Errorf("modbus: encode %v for %s: %w", v, p.where(), err)
	}
	return regs, bits, nil
}

func encode(p Point, v twins.Value) ([]uint16, []bool, error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	switch p.Type {
	case Bool:
		if v.Type() != twins.TypeBool {
			return nil, nil, fmt.Errorf("want a bool value, got %s", v.Type())
		}
		if p.Table.IsBits() {
			return nil, []bool{v.AsBool()}, nil
		}
		var u uint64
		if v.AsBool() {
			u = 1
		}
		return p.split(u, 1), nil, nil
	case String:
		if v.Type() != twins.TypeString {
			return nil, nil, fmt.Errorf("want a string value, got %s", v.Type())
		}
		regs, err := encodeString(p, v.AsString())
		return regs, nil, err
	}
	if v.Type() != twins.TypeInt && v.Type() != twins.TypeDouble {
		return nil, nil, fmt.Errorf("want an int or double value, got %s", v.Type())
	}
	var u uint64
	switch p.Type {
	case Float32:
		f, err := p.unscale(v.AsDouble())
		if err != nil {
			return nil, nil, err
		}
		if math.Abs(f) > math.MaxFloat32 {
			return nil, nil, fmt.Errorf("%v out of range for float32", f)
		}
		u = uint64(math.Float32bits(float32(f)))
	case Float64:
		f, err := p.unscale(v.AsDouble())
		if err != nil {
			return nil, nil, err
		}
		u = math.Float64bits(f)
	default:
		raw, err := p.encodeInt(v)
		if err != nil {
			return nil, nil, err
		}
		u = uint64(raw)
	}
	return p.split(u, int(p.Quantity())), nil, nil
}

// unscale returns (f-Offset)/Scale, an error if f or the result is not
// finite.
func (p Point) unscale(f float64) (float64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%v is not a finite number", f)
	}
	if !p.scaled() {
		return f, nil
	}
	raw := (f - p.Offset) / p.scale()
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 0, fmt.Errorf("%v with scale %v and offset %v unscales to %v", f, p.Scale, p.Offset, raw)
	}
	return raw, nil
}

// intRange returns the range of an integer type.
func intRange(t Type) (lo, hi int64) {
	switch t {
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint16:
		return 0, math.MaxUint16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Uint32:
		return 0, math.MaxUint32
	}
	return 0, 0
}

// encodeInt returns the raw integer of v for an integer point, masked to
// the width of the type.
func (p Point) encodeInt(v twins.Value) (int64, error) {
	lo, hi := intRange(p.Type)
	mask := int64(math.MaxUint16)
	if p.Type == Int32 || p.Type == Uint32 {
		mask = math.MaxUint32
	}
	if v.Type() == twins.TypeInt && !p.scaled() {
		// Exact, without going through float64.
		i := v.AsInt()
		if i < lo || i > hi {
			return 0, fmt.Errorf("%d out of range for %s [%d, %d]", i, p.Type, lo, hi)
		}
		return i & mask, nil
	}
	f, err := p.unscale(v.AsDouble())
	if err != nil {
		return 0, err
	}
	r := math.Round(f)
	if !(r >= float64(lo) && r <= float64(hi)) {
		if p.scaled() {
			return 0, fmt.Errorf("raw value %v (scale %v, offset %v) out of range for %s [%d, %d]", r, p.Scale, p.Offset, p.Type, lo, hi)
		}
		return 0, fmt.Errorf("%v out of range for %s [%d, %d]", r, p.Type, lo, hi)
	}
	return int64(r) & mask, nil
}

func encodeString(p Point, s string) ([]uint16, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%q is not valid UTF-8", s)
	}
	n := int(p.Length)
	if len(s) > 2*n {
		return nil, fmt.Errorf("%d bytes do not fit in %d registers (at most %d bytes)", len(s), n, 2*n)
	}
	b := make([]byte, 2*n) // NUL padded
	copy(b, s)
	regs := make([]uint16, n)
	for i := range regs {
		w := uint16(b[2*i])<<8 | uint16(b[2*i+1])
		if p.ByteOrder == LittleEndian {
			w = swapBytes(w)
		}
		regs[i] = w
	}
	return regs, nil
}
