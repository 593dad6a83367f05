package modbus

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/plantwin/plantwin/twins"
)

// Flags of the third byte of a FuzzDecode input.
const (
	fuzzLittleEndian = 1 << 0
	fuzzLowWordFirst = 1 << 1
	fuzzRaw          = 1 << 2 // data as given, any length, rather than exactly Quantity
	fuzzScaleShift   = 3      // bits 3-4: one of fuzzScales
	fuzzBadOrder     = 1 << 5 // an invalid byte order
	fuzzLastAddress  = 1 << 7 // address 65535: only one-register points fit
)

// fuzzScales are the scale and offset pairs a FuzzDecode input picks from.
var fuzzScales = [4][2]float64{{0, 0}, {0.1, -10}, {-3, 0}, {1e300, 0}}

// fuzzInput builds a point and its raw data from a fuzzer's bytes: table,
// type, flags and length from the first four bytes, the registers (two
// bytes each, big-endian) or bits (the low bit of each byte) from the rest.
func fuzzInput(data []byte) (Point, []uint16, []bool, bool) {
	if len(data) < 4 {
		return Point{}, nil, nil, false
	}
	flags := data[2]
	p := Point{
		UnitID: 1,
		Table:  Table(data[0] % 6), // 0 and 5 are invalid
		Type:   Type(data[1] % 10), // 0 and 9 are invalid
		Length: uint16(data[3]),    // 0 and over 125 are invalid
	}
	if flags&fuzzLittleEndian != 0 {
		p.ByteOrder = LittleEndian
	}
	if flags&fuzzLowWordFirst != 0 {
		p.WordOrder = LowWordFirst
	}
	if flags&fuzzBadOrder != 0 {
		p.ByteOrder += 2
	}
	if flags&fuzzLastAddress != 0 {
		p.Address = math.MaxUint16
	}
	s := fuzzScales[flags>>fuzzScaleShift&3]
	p.Scale, p.Offset = s[0], s[1]
	rest := data[4:]

	var regs []uint16
	var bits []bool
	if flags&fuzzRaw != 0 {
		if p.Table.IsBits() {
			for _, b := range rest {
				bits = append(bits, b&1 != 0)
			}
			return p, nil, bits, true
		}
		for i := 0; i+1 < len(rest); i += 2 {
			regs = append(regs, uint16(rest[i])<<8|uint16(rest[i+1]))
		}
		if len(rest)%2 == 1 { // data of the wrong kind as well
			bits = []bool{rest[len(rest)-1]&1 != 0}
		}
		return p, regs, bits, true
	}
	if p.Table.IsBits() {
		return p, nil, []bool{len(rest) > 0 && rest[0]&1 != 0}, true
	}
	regs = make([]uint16, p.Quantity())
	for i := range regs {
		if 2*i+1 < len(rest) {
			regs[i] = uint16(rest[2*i])<<8 | uint16(rest[2*i+1])
		}
	}
	return p, regs, nil, true
}

// fuzzSeed returns a FuzzDecode input.
func fuzzSeed(table Table, typ Type, flags, length byte, data ...byte) []byte {
	return append([]byte{byte(table), byte(typ), flags, length}, data...)
}

// FuzzDecode checks that Decode never panics, that what it decodes has the
// type the point promises, and that Encode gives the registers back: the
// same registers for unscaled numbers and bits, the same value again for
// strings and register bools (Decode trims strings and reads any non-zero
// register as true).
func FuzzDecode(f *testing.F) {
	f.Add(fuzzSeed(HoldingRegisters, Float32, 0, 0, 0x3F, 0x80, 0x00, 0x00))
	f.Add(fuzzSeed(InputRegisters, Float64, fuzzLittleEndian|fuzzLowWordFirst, 0, 0x18, 0x2D, 0x44, 0x54, 0xFB, 0x21, 0x09, 0x40))
	f.Add(fuzzSeed(HoldingRegisters, Float32, 0, 0, 0x7F, 0xC0, 0x00, 0x00)) // NaN
	f.Add(fuzzSeed(HoldingRegisters, Float64, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0))
	f.Add(fuzzSeed(HoldingRegisters, Int32, fuzzLowWordFirst, 0, 0xFF, 0xFE, 0xFF, 0xFF))
	f.Add(fuzzSeed(HoldingRegisters, Uint32, fuzzLittleEndian, 0, 0x34, 0x12, 0x78, 0x56))
	f.Add(fuzzSeed(HoldingRegisters, Int16, 1<<fuzzScaleShift, 0, 0x04, 0xD2))
	f.Add(fuzzSeed(HoldingRegisters, Uint16, 3<<fuzzScaleShift, 0, 0xFF, 0xFF))
	f.Add(fuzzSeed(HoldingRegisters, String, 0, 2, 'A', 'B', ' ', 'C'))
	f.Add(fuzzSeed(HoldingRegisters, String, fuzzLittleEndian, 3, 'h', 0xC3, 0xA9, 0, 0xC3, 0x28))
	f.Add(fuzzSeed(HoldingRegisters, Bool, fuzzLittleEndian, 0, 0x01, 0x00))
	f.Add(fuzzSeed(Coils, Bool, 0, 0, 1))
	f.Add(fuzzSeed(DiscreteInputs, Bool, fuzzRaw, 0, 1, 0))
	f.Add(fuzzSeed(InputRegisters, Int32, fuzzRaw, 0, 1, 2, 3))
	f.Add(fuzzSeed(HoldingRegisters, Float64, fuzzLastAddress, 0, 1, 2, 3, 4, 5, 6, 7, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, regs, bits, ok := fuzzInput(data)
		if !ok {
			return
		}
		v, err := Decode(p, regs, bits)
		if err != nil {
			if !v.IsZero() {
				t.Fatalf("Decode returned %v with error %v", v, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid point: %v", err)
		}
		checkDecoded(t, p, v)

		regs2, bits2, err := Encode(p, v)
		if p.scaled() && !p.Table.IsBits() && p.Type != Bool && p.Type != String {
			// Scaling is not exact: only check that Encode does not panic
			// and that what it writes decodes.
			if err == nil {
				if _, err := Decode(p, regs2, bits2); err != nil {
					t.Fatalf("Decode(Encode(%v) = %#04x): %v", v, regs2, err)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(Decode(%#04x, %v) = %v): %v", regs, bits, v, err)
		}
		if p.Table.IsBits() || p.Type != Bool && p.Type != String {
			if diff := cmp.Diff(regs, regs2, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("Encode(%v) registers (-decoded +encoded):\n%s", v, diff)
			}
			if diff := cmp.Diff(bits, bits2, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("Encode(%v) bits (-decoded +encoded):\n%s", v, diff)
			}
			return
		}
		v2, err := Decode(p, regs2, bits2)
		if err != nil {
			t.Fatalf("Decode(Encode(%v) = %#04x): %v", v, regs2, err)
		}
		if diff := cmp.Diff(v, v2, valueComparer); diff != "" {
			t.Fatalf("Decode(Encode(v)) (-v +got):\n%s", diff)
		}
	})
}

// checkDecoded checks that v has the type and form p promises.
func checkDecoded(t *testing.T, p Point, v twins.Value) {
	t.Helper()
	want := twins.TypeDouble
	switch {
	case p.Type == Bool:
		want = twins.TypeBool
	case p.Type == String:
		want = twins.TypeString
	case p.Type != Float32 && p.Type != Float64 && !p.scaled():
		want = twins.TypeInt
	}
	if v.Type() != want {
		t.Fatalf("Decode = %v of type %s, want %s", v, v.Type(), want)
	}
	switch want {
	case twins.TypeDouble:
		if f := v.AsDouble(); math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("Decode = %v", v)
		}
	case twins.TypeInt:
		lo, hi := intRange(p.Type)
		if i := v.AsInt(); i < lo || i > hi {
			t.Fatalf("Decode = %v, out of range for %s", v, p.Type)
		}
	case twins.TypeString:
		s := v.AsString()
		if !utf8.ValidString(s) || strings.TrimRight(s, "\x00 ") != s || len(s) > 2*int(p.Length) {
			t.Fatalf("Decode = %q", s)
		}
	}
}
