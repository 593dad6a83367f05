package modbus

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/plantwin/plantwin/twins"
)

// valueComparer compares twins.Values by type and printed form, so that
// -0 and 0 differ and the diff shows the value.
var valueComparer = cmp.Comparer(func(a, b twins.Value) bool {
	return a.Type() == b.Type() && a.String() == b.String()
})

func TestParseTable(t *testing.T) {
	tests := []struct {
		in      string
		want    Table
		wantStr string
	}{
		{"coil", Coils, "coil"},
		{"coils", Coils, "coil"},
		{"discrete", DiscreteInputs, "discrete_input"},
		{"discrete_input", DiscreteInputs, "discrete_input"},
		{"discrete_inputs", DiscreteInputs, "discrete_input"},
		{"holding", HoldingRegisters, "holding_register"},
		{"holding_register", HoldingRegisters, "holding_register"},
		{"holding_registers", HoldingRegisters, "holding_register"},
		{"input", InputRegisters, "input_register"},
		{"input_register", InputRegisters, "input_register"},
		{"input_registers", InputRegisters, "input_register"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTable(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]any{tt.want, tt.wantStr}, []any{got, got.String()}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if back, err := ParseTable(got.String()); err != nil || back != got {
				t.Errorf("ParseTable(%q) = %v, %v; want %v", got.String(), back, err, got)
			}
		})
	}
	for _, bad := range []string{"", "Coil", "holding register", "register"} {
		_, err := ParseTable(bad)
		if err == nil || !strings.Contains(err.Error(), "holding_register") {
			t.Errorf("ParseTable(%q) = %v, want an error listing the names", bad, err)
		}
	}
	if got := Table(9).String(); got != "table(9)" {
		t.Errorf("Table(9).String() = %q", got)
	}
}

func TestTableKinds(t *testing.T) {
	type kinds struct{ Bits, Writable bool }
	tests := []struct {
		table Table
		want  kinds
	}{
		{Coils, kinds{Bits: true, Writable: true}},
		{DiscreteInputs, kinds{Bits: true}},
		{HoldingRegisters, kinds{Writable: true}},
		{InputRegisters, kinds{}},
		{0, kinds{}},
	}
	for _, tt := range tests {
		t.Run(tt.table.String(), func(t *testing.T) {
			got := kinds{tt.table.IsBits(), tt.table.Writable()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for typ := Bool; typ <= String; typ++ {
		got, err := ParseType(typ.String())
		if err != nil || got != typ {
			t.Errorf("ParseType(%q) = %v, %v; want %v", typ.String(), got, err, typ)
		}
	}
	names := []string{}
	for typ := Bool; typ <= String; typ++ {
		names = append(names, typ.String())
	}
	want := []string{"bool", "int16", "uint16", "int32", "uint32", "float32", "float64", "string"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("type names (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "int", "double", "Float32", "int64"} {
		if _, err := ParseType(bad); err == nil || !strings.Contains(err.Error(), "float64") {
			t.Errorf("ParseType(%q) = %v, want an error listing the names", bad, err)
		}
	}
	if got := Type(0).String(); got != "type(0)" {
		t.Errorf("Type(0).String() = %q", got)
	}
}

func TestParseOrders(t *testing.T) {
	byteTests := []struct {
		in      string
		want    ByteOrder
		wantErr bool
	}{
		{"", BigEndian, false},
		{"big", BigEndian, false},
		{"big_endian", BigEndian, false},
		{"little", LittleEndian, false},
		{"little_endian", LittleEndian, false},
		{"high_first", 0, true},
		{"BIG", 0, true},
	}
	for _, tt := range byteTests {
		got, err := ParseByteOrder(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseByteOrder(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	wordTests := []struct {
		in      string
		want    WordOrder
		wantErr bool
	}{
		{"", HighWordFirst, false},
		{"high_first", HighWordFirst, false},
		{"high_word_first", HighWordFirst, false},
		{"big", HighWordFirst, false},
		{"low_first", LowWordFirst, false},
		{"low_word_first", LowWordFirst, false},
		{"little", LowWordFirst, false},
		{"little_endian", 0, true},
		{"swapped", 0, true},
	}
	for _, tt := range wordTests {
		got, err := ParseWordOrder(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseWordOrder(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	// String round trips.
	for _, o := range []ByteOrder{BigEndian, LittleEndian} {
		if got, err := ParseByteOrder(o.String()); err != nil || got != o {
			t.Errorf("ParseByteOrder(%q) = %v, %v", o.String(), got, err)
		}
	}
	for _, o := range []WordOrder{HighWordFirst, LowWordFirst} {
		if got, err := ParseWordOrder(o.String()); err != nil || got != o {
			t.Errorf("ParseWordOrder(%q) = %v, %v", o.String(), got, err)
		}
	}
}

func TestPointValidate(t *testing.T) {
	hr := func(typ Type) Point { return Point{UnitID: 1, Table: HoldingRegisters, Address: 100, Type: typ} }
	with := func(p Point, f func(*Point)) Point { f(&p); return p }
	tests := []struct {
		name    string
		p       Point
		wantErr string // "" = valid
	}{
		{"coil bool", Point{Table: Coils, Type: Bool}, ""},
		{"discrete bool", Point{Table: DiscreteInputs, Type: Bool, Address: 65535}, ""},
		{"holding float64", hr(Float64), ""},
		{"input string", Point{Table: InputRegisters, Type: String, Length: 125}, ""},
		{"register bool", hr(Bool), ""},
		{"scaled int16", with(hr(Int16), func(p *Point) { p.Scale, p.Offset = 0.1, -10 }), ""},
		{"scale 1 on bool", with(hr(Bool), func(p *Point) { p.Scale = 1 }), ""},
		{"length ignored for int32", with(hr(Int32), func(p *Point) { p.Length = 500 }), ""},
		{"last register", with(hr(Uint16), func(p *Point) { p.Address = 65535 }), ""},
		{"last float64", with(hr(Float64), func(p *Point) { p.Address = 65532 }), ""},

		{"zero point", Point{}, "invalid table 0"},
		{"bad table", Point{Table: 5, Type: Bool}, "invalid table 5"},
		{"bad type", hr(0), "invalid type 0"},
		{"bad type 9", hr(9), "invalid type 9"},
		{"bad byte order", with(hr(Int32), func(p *Point) { p.ByteOrder = 2 }), "invalid byte order 2"},
		{"bad word order", with(hr(Int32), func(p *Point) { p.WordOrder = 7 }), "invalid word order 7"},
		{"coil float32", Point{Table: Coils, Type: Float32}, "type float32 on a coil: the bit tables hold only bool"},
		{"discrete string", Point{Table: DiscreteInputs, Type: String, Length: 2}, "only bool"},
		{"string without length", hr(String), "string without a length"},
		{"string too long", with(hr(String), func(p *Point) { p.Length = 126 }), "string length 126 registers exceeds the 125"},
		{"NaN scale", with(hr(Int16), func(p *Point) { p.Scale = math.NaN() }), "scale NaN is not a finite number"},
		{"infinite offset", with(hr(Int16), func(p *Point) { p.Offset = math.Inf(-1) }), "offset -Inf is not a finite number"},
		{"scale on bool", with(hr(Bool), func(p *Point) { p.Scale = 2 }), "apply only to numeric types, not bool"},
		{"offset on string", with(hr(String), func(p *Point) { p.Length, p.Offset = 2, 1 }), "not string"},
		{"uint32 past the end", with(hr(Uint32), func(p *Point) { p.Address = 65535 }), "2 registers from address 65535 overflow"},
		{"float64 past the end", with(hr(Float64), func(p *Point) { p.Address = 65533 }), "4 registers from address 65533 overflow"},
		{"string past the end", with(hr(String), func(p *Point) { p.Address, p.Length = 65500, 40 }), "40 registers from address 65500 overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "modbus: point ") {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPointQuantity(t *testing.T) {
	tests := []struct {
		name string
		p    Point
		want uint16
	}{
		{"coil", Point{Table: Coils, Type: Bool}, 1},
		{"discrete", Point{Table: DiscreteInputs, Type: Bool}, 1},
		{"bool register", Point{Table: HoldingRegisters, Type: Bool}, 1},
		{"int16", Point{Table: HoldingRegisters, Type: Int16}, 1},
		{"uint16", Point{Table: InputRegisters, Type: Uint16}, 1},
		{"int32", Point{Table: HoldingRegisters, Type: Int32}, 2},
		{"uint32", Point{Table: HoldingRegisters, Type: Uint32}, 2},
		{"float32", Point{Table: InputRegisters, Type: Float32}, 2},
		{"float64", Point{Table: HoldingRegisters, Type: Float64}, 4},
		{"string", Point{Table: HoldingRegisters, Type: String, Length: 10}, 10},
		{"length ignored", Point{Table: HoldingRegisters, Type: Int16, Length: 10}, 1},
		{"invalid table", Point{Type: Int16}, 0},
		{"invalid type", Point{Table: HoldingRegisters}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Quantity(); got != tt.want {
				t.Errorf("Quantity() = %d, want %d", got, tt.want)
			}
		})
	}
}

// codecVector is a value and its raw form, checked in both directions.
type codecVector struct {
	name       string
	p          Point
	regs       []uint16
	bits       []bool
	v          twins.Value
	decodeOnly bool // the raw form is not what Encode writes (padding, non-canonical)
}

// hrPoint returns a holding register point of type typ.
func hrPoint(typ Type, bo ByteOrder, wo WordOrder) Point {
	return Point{UnitID: 1, Table: HoldingRegisters, Address: 10, Type: typ, ByteOrder: bo, WordOrder: wo}
}

// Known vectors for every type in every byte and word order, written by
// hand: the registers are what a device sends, in address order.
var codecVectors = []codecVector{
	// Bool on the bit tables.
	{name: "coil true", p: Point{Table: Coils, Type: Bool}, bits: []bool{true}, v: twins.Bool(true)},
	{name: "coil false", p: Point{Table: Coils, Type: Bool}, bits: []bool{false}, v: twins.Bool(false)},
	{name: "discrete true", p: Point{Table: DiscreteInputs, Type: Bool, Address: 7}, bits: []bool{true}, v: twins.Bool(true)},
	// Bool on a register: non-zero is true; Encode writes 1.
	{name: "bool/big/high", p: hrPoint(Bool, BigEndian, HighWordFirst), regs: []uint16{0x0001}, v: twins.Bool(true)},
	{name: "bool/big/low", p: hrPoint(Bool, BigEndian, LowWordFirst), regs: []uint16{0x0001}, v: twins.Bool(true)},
	{name: "bool/little/high", p: hrPoint(Bool, LittleEndian, HighWordFirst), regs: []uint16{0x0100}, v: twins.Bool(true)},
	{name: "bool/little/low", p: hrPoint(Bool, LittleEndian, LowWordFirst), regs: []uint16{0x0100}, v: twins.Bool(true)},
	{name: "bool false", p: hrPoint(Bool, BigEndian, HighWordFirst), regs: []uint16{0x0000}, v: twins.Bool(false)},
	{name: "bool from 0x8000", p: hrPoint(Bool, BigEndian, HighWordFirst), regs: []uint16{0x8000}, v: twins.Bool(true), decodeOnly: true},
	{name: "bool input register", p: Point{Table: InputRegisters, Type: Bool}, regs: []uint16{0x0002}, v: twins.Bool(true), decodeOnly: true},
	// int16 -1 = 0xFFFF; -300 = 0xFED4.
	{name: "int16 -1", p: hrPoint(Int16, BigEndian, HighWordFirst), regs: []uint16{0xFFFF}, v: twins.Int(-1)},
	{name: "int16/big/high", p: hrPoint(Int16, BigEndian, HighWordFirst), regs: []uint16{0xFED4}, v: twins.Int(-300)},
	{name: "int16/big/low", p: hrPoint(Int16, BigEndian, LowWordFirst), regs: []uint16{0xFED4}, v: twins.Int(-300)},
	{name: "int16/little/high", p: hrPoint(Int16, LittleEndian, HighWordFirst), regs: []uint16{0xD4FE}, v: twins.Int(-300)},
	{name: "int16/little/low", p: hrPoint(Int16, LittleEndian, LowWordFirst), regs: []uint16{0xD4FE}, v: twins.Int(-300)},
	{name: "int16 min", p: hrPoint(Int16, BigEndian, HighWordFirst), regs: []uint16{0x8000}, v: twins.Int(-32768)},
	// uint16 0x1234 = 4660.
	{name: "uint16/big/high", p: hrPoint(Uint16, BigEndian, HighWordFirst), regs: []uint16{0x1234}, v: twins.Int(4660)},
	{name: "uint16/big/low", p: hrPoint(Uint16, BigEndian, LowWordFirst), regs: []uint16{0x1234}, v: twins.Int(4660)},
	{name: "uint16/little/high", p: hrPoint(Uint16, LittleEndian, HighWordFirst), regs: []uint16{0x3412}, v: twins.Int(4660)},
	{name: "uint16/little/low", p: hrPoint(Uint16, LittleEndian, LowWordFirst), regs: []uint16{0x3412}, v: twins.Int(4660)},
	{name: "uint16 max", p: hrPoint(Uint16, BigEndian, HighWordFirst), regs: []uint16{0xFFFF}, v: twins.Int(65535)},
	// int32 -2 = 0xFFFFFFFE.
	{name: "int32/big/high", p: hrPoint(Int32, BigEndian, HighWordFirst), regs: []uint16{0xFFFF, 0xFFFE}, v: twins.Int(-2)},
	{name: "int32/big/low", p: hrPoint(Int32, BigEndian, LowWordFirst), regs: []uint16{0xFFFE, 0xFFFF}, v: twins.Int(-2)},
	{name: "int32/little/high", p: hrPoint(Int32, LittleEndian, HighWordFirst), regs: []uint16{0xFFFF, 0xFEFF}, v: twins.Int(-2)},
	{name: "int32/little/low", p: hrPoint(Int32, LittleEndian, LowWordFirst), regs: []uint16{0xFEFF, 0xFFFF}, v: twins.Int(-2)},
	{name: "int32 min", p: hrPoint(Int32, BigEndian, HighWordFirst), regs: []uint16{0x8000, 0x0000}, v: twins.Int(math.MinInt32)},
	{name: "int32 max", p: hrPoint(Int32, BigEndian, LowWordFirst), regs: []uint16{0xFFFF, 0x7FFF}, v: twins.Int(math.MaxInt32)},
	// uint32 0x12345678 = 305419896.
	{name: "uint32/big/high", p: hrPoint(Uint32, BigEndian, HighWordFirst), regs: []uint16{0x1234, 0x5678}, v: twins.Int(0x12345678)},
	{name: "uint32/big/low", p: hrPoint(Uint32, BigEndian, LowWordFirst), regs: []uint16{0x5678, 0x1234}, v: twins.Int(0x12345678)},
	{name: "uint32/little/high", p: hrPoint(Uint32, LittleEndian, HighWordFirst), regs: []uint16{0x3412, 0x7856}, v: twins.Int(0x12345678)},
	{name: "uint32/little/low", p: hrPoint(Uint32, LittleEndian, LowWordFirst), regs: []uint16{0x7856, 0x3412}, v: twins.Int(0x12345678)},
	{name: "uint32 max", p: hrPoint(Uint32, BigEndian, HighWordFirst), regs: []uint16{0xFFFF, 0xFFFF}, v: twins.Int(math.MaxUint32)},
	// float32 1.0 = 0x3F800000 (the example of the ByteOrder doc).
	{name: "float32/big/high", p: hrPoint(Float32, BigEndian, HighWordFirst), regs: []uint16{0x3F80, 0x0000}, v: twins.Double(1)},
	{name: "float32/big/low", p: hrPoint(Float32, BigEndian, LowWordFirst), regs: []uint16{0x0000, 0x3F80}, v: twins.Double(1)},
	{name: "float32/little/high", p: hrPoint(Float32, LittleEndian, HighWordFirst), regs: []uint16{0x803F, 0x0000}, v: twins.Double(1)},
	{name: "float32/little/low", p: hrPoint(Float32, LittleEndian, LowWordFirst), regs: []uint16{0x0000, 0x803F}, v: twins.Double(1)},
	// float32 -2.5 = 0xC0200000; 0.1 = 0x3DCCCCCD (not exact in binary).
	{name: "float32 -2.5", p: hrPoint(Float32, BigEndian, HighWordFirst), regs: []uint16{0xC020, 0x0000}, v: twins.Double(-2.5)},
	{name: "float32 0.1/little/low", p: hrPoint(Float32, LittleEndian, LowWordFirst), regs: []uint16{0xCDCC, 0xCC3D}, v: twins.Double(float64(float32(0.1)))},
	{name: "float32 -0", p: hrPoint(Float32, BigEndian, HighWordFirst), regs: []uint16{0x8000, 0x0000}, v: twins.Double(math.Copysign(0, -1))},
	{name: "float32 max", p: hrPoint(Float32, BigEndian, HighWordFirst), regs: []uint16{0x7F7F, 0xFFFF}, v: twins.Double(math.MaxFloat32)},
	// float64 1.5 = 0x3FF8000000000000.
	{name: "float64/big/high", p: hrPoint(Float64, BigEndian, HighWordFirst), regs: []uint16{0x3FF8, 0, 0, 0}, v: twins.Double(1.5)},
	{name: "float64/big/low", p: hrPoint(Float64, BigEndian, LowWordFirst), regs: []uint16{0, 0, 0, 0x3FF8}, v: twins.Double(1.5)},
	{name: "float64/little/high", p: hrPoint(Float64, LittleEndian, HighWordFirst), regs: []uint16{0xF83F, 0, 0, 0}, v: twins.Double(1.5)},
	{name: "float64/little/low", p: hrPoint(Float64, LittleEndian, LowWordFirst), regs: []uint16{0, 0, 0, 0xF83F}, v: twins.Double(1.5)},
	// float64 pi = 0x400921FB54442D18: four distinct words show the order.
	{name: "float64 pi/big/high", p: hrPoint(Float64, BigEndian, HighWordFirst), regs: []uint16{0x4009, 0x21FB, 0x5444, 0x2D18}, v: twins.Double(math.Pi)},
	{name: "float64 pi/big/low", p: hrPoint(Float64, BigEndian, LowWordFirst), regs: []uint16{0x2D18, 0x5444, 0x21FB, 0x4009}, v: twins.Double(math.Pi)},
	{name: "float64 pi/little/high", p: hrPoint(Float64, LittleEndian, HighWordFirst), regs: []uint16{0x0940, 0xFB21, 0x4454, 0x182D}, v: twins.Double(math.Pi)},
	{name: "float64 pi/little/low", p: hrPoint(Float64, LittleEndian, LowWordFirst), regs: []uint16{0x182D, 0x4454, 0xFB21, 0x0940}, v: twins.Double(math.Pi)},
	{name: "float64 -0", p: hrPoint(Float64, BigEndian, HighWordFirst), regs: []uint16{0x8000, 0, 0, 0}, v: twins.Double(math.Copysign(0, -1))},
	// Strings: the word order does not apply.
	{name: "string/big/high", p: withLength(hrPoint(String, BigEndian, HighWordFirst), 2), regs: []uint16{0x4142, 0x2043}, v: twins.String("AB C")},
	{name: "string/big/low", p: withLength(hrPoint(String, BigEndian, LowWordFirst), 2), regs: []uint16{0x4142, 0x2043}, v: twins.String("AB C")},
	{name: "string/little/high", p: withLength(hrPoint(String, LittleEndian, HighWordFirst), 2), regs: []uint16{0x4241, 0x4320}, v: twins.String("AB C")},
	{name: "string/little/low", p: withLength(hrPoint(String, LittleEndian, LowWordFirst), 2), regs: []uint16{0x4241, 0x4320}, v: twins.String("AB C")},
	{name: "string NUL padded", p: withLength(hrPoint(String, BigEndian, HighWordFirst), 3), regs: []uint16{0x4142, 0x4300, 0x0000}, v: twins.String("ABC")},
	{name: "string empty", p: withLength(hrPoint(String, BigEndian, HighWordFirst), 2), regs: []uint16{0, 0}, v: twins.String("")},
	{name: "string utf-8", p: withLength(hrPoint(String, BigEndian, HighWordFirst), 2), regs: []uint16{0x68C3, 0xA900}, v: twins.String("hé")},
	{name: "string space padded", p: withLength(hrPoint(String, BigEndian, HighWordFirst), 3), regs: []uint16{0x4142, 0x2020, 0x2000}, v: twins.String("AB"), decodeOnly: true},
	{name: "string inner NUL kept", p: withLength(hrPoint(String, BigEndian, HighWordFirst), 2), regs: []uint16{0x4100, 0x4200}, v: twins.String("A\x00B")},
}

func withLength(p Point, n uint16) Point { p.Length = n; return p }

func TestDecodeVectors(t *testing.T) {
	for _, tt := range codecVectors {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.p, tt.regs, tt.bits)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.v, got, valueComparer); diff != "" {
				t.Errorf("Decode(%#04x, %v) (-want +got):\n%s", tt.regs, tt.bits, diff)
			}
		})
	}
}

func TestEncodeVectors(t *testing.T) {
	for _, tt := range codecVectors {
		if tt.decodeOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			regs, bits, err := Encode(tt.p, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.regs, regs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Encode(%v) registers (-want +got):\n%s", tt.v, diff)
			}
			if diff := cmp.Diff(tt.bits, bits, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Encode(%v) bits (-want +got):\n%s", tt.v, diff)
			}
			if tt.p.Table.IsBits() && regs != nil || !tt.p.Table.IsBits() && bits != nil {
				t.Errorf("Encode(%v) = %v, %v: the slice of the other kind of table is not nil", tt.v, regs, bits)
			}
		})
	}
}

func TestScale(t *testing.T) {
	scaled := func(typ Type, scale, offset float64) Point {
		p := hrPoint(typ, BigEndian, HighWordFirst)
		p.Scale, p.Offset = scale, offset
		return p
	}
	tests := []struct {
		name string
		p    Point
		regs []uint16
		want twins.Value
		// enc is the value Encode is given, when not want; wantRegs what it
		// writes, when not regs.
		enc      *twins.Value
		wantRegs []uint16
	}{
		{name: "uint16 scale and offset", p: scaled(Uint16, 0.1, -10), regs: []uint16{1234}, want: twins.Double(113.4)},
		{name: "int16 negative scaled", p: scaled(Int16, 0.5, 0), regs: []uint16{0xFFFD}, want: twins.Double(-1.5)},
		{name: "offset only", p: scaled(Int32, 0, 100), regs: []uint16{0xFFFF, 0xFFFF}, want: twins.Double(99)},
		{name: "scale 1 stays int", p: scaled(Uint16, 1, 0), regs: []uint16{1234}, want: twins.Int(1234)},
		{name: "scale 0 means 1", p: scaled(Uint16, 0, 0), regs: []uint16{1234}, want: twins.Int(1234)},
		{name: "negative scale", p: scaled(Uint32, -2, 0), regs: []uint16{0, 21}, want: twins.Double(-42)},
		{name: "float32 scaled", p: scaled(Float32, 10, 1), regs: []uint16{0x3FC0, 0}, want: twins.Double(16)},
		{name: "float64 offset", p: scaled(Float64, 0, -273.15), regs: []uint16{0x4072, 0x5266, 0x6666, 0x6666}, want: twins.Double(20)},
		{
			name: "int encodes through the scale", p: scaled(Uint16, 0.1, -10), regs: []uint16{1234}, want: twins.Double(113.4),
			enc: ptr(twins.Int(113)), wantRegs: []uint16{1230},
		},
		{
			name: "rounds to nearest", p: scaled(Uint16, 0.1, 0), regs: []uint16{3}, want: twins.Double(0.30000000000000004),
			enc: ptr(twins.Double(0.349)), wantRegs: []uint16{3},
		},
		{
			name: "rounds half away from zero", p: scaled(Int16, 0.5, 0), regs: []uint16{0xFFFF}, want: twins.Double(-0.5),
			enc: ptr(twins.Double(-0.75)), wantRegs: []uint16{0xFFFE},
		},
		{
			name: "unscaled double rounds", p: hrPoint(Int16, BigEndian, HighWordFirst), regs: []uint16{3}, want: twins.Int(3),
			enc: ptr(twins.Double(2.5)), wantRegs: []uint16{3},
		},
		{
			name: "int to float32", p: hrPoint(Float32, BigEndian, HighWordFirst), regs: []uint16{0x4040, 0}, want: twins.Double(3),
			enc: ptr(twins.Int(3)),
		},
	}
	approx := cmp.Options{cmpopts.EquateApprox(0, 1e-9)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.p, tt.regs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type() != tt.want.Type() {
				t.Fatalf("Decode = %v (%s), want %v (%s)", got, got.Type(), tt.want, tt.want.Type())
			}
			if diff := cmp.Diff(tt.want.AsDouble(), got.AsDouble(), approx); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			enc, wantRegs := tt.want, tt.regs
			if tt.enc != nil {
				enc = *tt.enc
			}
			if tt.wantRegs != nil {
				wantRegs = tt.wantRegs
			}
			regs, _, err := Encode(tt.p, enc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantRegs, regs); diff != "" {
				t.Errorf("Encode(%v) (-want +got):\n%s", enc, diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeErrors(t *testing.T) {
	f32 := hrPoint(Float32, BigEndian, HighWordFirst)
	f64 := hrPoint(Float64, BigEndian, HighWordFirst)
	coil := Point{Table: Coils, Type: Bool}
	huge := hrPoint(Float64, BigEndian, HighWordFirst)
	huge.Scale = 10
	tests := []struct {
		name    string
		p       Point
		regs    []uint16
		bits    []bool
		wantErr string
	}{
		{"float32 NaN", f32, []uint16{0x7FC0, 0}, nil, "not a finite number"},
		{"float32 signalling NaN", f32, []uint16{0x7F80, 1}, nil, "not a finite number"},
		{"float32 +Inf", f32, []uint16{0x7F80, 0}, nil, "not a finite number"},
		{"float32 -Inf little-endian", Point{Table: InputRegisters, Type: Float32, ByteOrder: LittleEndian}, []uint16{0x80FF, 0}, nil, "not a finite number"},
		{"float64 NaN", f64, []uint16{0x7FF8, 0, 0, 0}, nil, "not a finite number"},
		{"float64 -Inf", f64, []uint16{0xFFF0, 0, 0, 0}, nil, "not a finite number"},
		{"scaled overflow", huge, []uint16{0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF}, nil, "overflows"},
		{"invalid UTF-8", withLength(hrPoint(String, BigEndian, HighWordFirst), 1), []uint16{0xC328}, nil, "not valid UTF-8"},
		{"int32 with 1 register", hrPoint(Int32, BigEndian, HighWordFirst), []uint16{1}, nil, "got 1 registers and 0 bits, want 2 registers"},
		{"int32 with 3 registers", hrPoint(Int32, BigEndian, HighWordFirst), []uint16{1, 2, 3}, nil, "want 2 registers"},
		{"float64 with none", f64, nil, nil, "got 0 registers"},
		{"string short", withLength(hrPoint(String, BigEndian, HighWordFirst), 4), []uint16{0x4142}, nil, "want 4 registers"},
		{"register point given bits", hrPoint(Uint16, BigEndian, HighWordFirst), []uint16{1}, []bool{true}, "1 bits, want 1 registers"},
		{"coil with no bit", coil, nil, nil, "got 0 bits"},
		{"coil with two bits", coil, nil, []bool{true, false}, "got 2 bits"},
		{"coil given registers", coil, []uint16{1}, []bool{true}, "1 registers, want 1 bit"},
		{"invalid point", Point{Table: Coils, Type: Int16}, nil, []bool{true}, "only bool"},
		{"zero point", Point{}, nil, nil, "invalid table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode(tt.p, tt.regs, tt.bits)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "modbus: decode ") {
				t.Fatalf("Decode = %v, %v; want an error containing %q", v, err, tt.wantErr)
			}
			if !v.IsZero() {
				t.Errorf("Decode returned %v with its error", v)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	scaled := hrPoint(Int16, BigEndian, HighWordFirst)
	scaled.Scale = 0.001
	tiny := hrPoint(Float64, BigEndian, HighWordFirst)
	tiny.Scale = 1e-300
	tests := []struct {
		name    string
		p       Point
		v       twins.Value
		wantErr string
	}{
		{"int16 70000", hrPoint(Int16, BigEndian, HighWordFirst), twins.Int(70000), "70000 out of range for int16 [-32768, 32767]"},
		{"int16 -32769", hrPoint(Int16, BigEndian, HighWordFirst), twins.Int(-32769), "out of range for int16"},
		{"int16 double rounds past max", hrPoint(Int16, BigEndian, HighWordFirst), twins.Double(32767.5), "32768 out of range for int16"},
		{"uint16 -1", hrPoint(Uint16, LittleEndian, HighWordFirst), twins.Int(-1), "-1 out of range for uint16 [0, 65535]"},
		{"uint16 double -0.6", hrPoint(Uint16, BigEndian, HighWordFirst), twins.Double(-0.6), "out of range for uint16"},
		{"int32 min-1", hrPoint(Int32, BigEndian, HighWordFirst), twins.Int(math.MinInt32 - 1), "out of range for int32"},
		{"uint32 max+1", hrPoint(Uint32, BigEndian, LowWordFirst), twins.Int(math.MaxUint32 + 1), "out of range for uint32"},
		{"uint32 huge int64", hrPoint(Uint32, BigEndian, HighWordFirst), twins.Int(math.MaxInt64), "out of range for uint32"},
		{"scaled out of range", scaled, twins.Double(1000), "raw value 1e+06 (scale 0.001, offset 0) out of range for int16"},
		{"int NaN", hrPoint(Int32, BigEndian, HighWordFirst), twins.Double(math.NaN()), "NaN is not a finite number"},
		{"float32 NaN", hrPoint(Float32, BigEndian, HighWordFirst), twins.Double(math.NaN()), "not a finite number"},
		{"float64 +Inf", hrPoint(Float64, BigEndian, HighWordFirst), twins.Double(math.Inf(1)), "not a finite number"},
		{"float32 1e39", hrPoint(Float32, BigEndian, HighWordFirst), twins.Double(1e39), "out of range for float32"},
		{"unscale overflows", tiny, twins.Double(1e10), "unscales to +Inf"},
		{"string to int16", hrPoint(Int16, BigEndian, HighWordFirst), twins.String("1"), "want an int or double value, got string"},
		{"bool to int16", hrPoint(Int16, BigEndian, HighWordFirst), twins.Bool(true), "got bool"},
		{"int to coil", Point{Table: Coils, Type: Bool}, twins.Int(1), "want a bool value, got int"},
		{"int to bool register", hrPoint(Bool, BigEndian, HighWordFirst), twins.Int(0), "want a bool value"},
		{"no value", hrPoint(Float64, BigEndian, HighWordFirst), twins.Value{}, "got none"},
		{"enum to string", withLength(hrPoint(String, BigEndian, HighWordFirst), 2), twins.Enum("on"), "want a string value, got enum"},
		{"string too long", withLength(hrPoint(String, BigEndian, HighWordFirst), 2), twins.String("ABCDE"), "5 bytes do not fit in 2 registers"},
		{"string invalid UTF-8", withLength(hrPoint(String, BigEndian, HighWordFirst), 2), twins.String("A\xff"), "not valid UTF-8"},
		{"invalid point", Point{Table: HoldingRegisters, Type: String}, twins.String("A"), "string without a length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			regs, bits, err := Encode(tt.p, tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "modbus: encode ") {
				t.Fatalf("Encode = %v, %v, %v; want an error containing %q", regs, bits, err, tt.wantErr)
			}
			if regs != nil || bits != nil {
				t.Errorf("Encode returned %v, %v with its error", regs, bits)
			}
		})
	}
}

// TestEncodeReadOnly checks that Encode serves the read-only tables too,
// for simulated devices.
func TestEncodeReadOnly(t *testing.T) {
	regs, _, err := Encode(Point{Table: InputRegisters, Type: Uint16}, twins.Int(7))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint16{7}, regs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_, bits, err := Encode(Point{Table: DiscreteInputs, Type: Bool}, twins.Bool(true))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{true}, bits); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
