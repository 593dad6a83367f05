package twins

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValue(t *testing.T) {
	tests := []struct {
		name     string
		v        Value
		typ      Type
		str      string
		b        bool
		i        int64
		f        float64
		s        string
		wantZero bool
	}{
		{name: "zero", v: Value{}, typ: 0, str: "<none>", wantZero: true},
		{name: "true", v: Bool(true), typ: TypeBool, str: "true", b: true},
		{name: "false", v: Bool(false), typ: TypeBool, str: "false"},
		{name: "int", v: Int(42), typ: TypeInt, str: "42", i: 42, f: 42},
		{name: "negative int", v: Int(-7), typ: TypeInt, str: "-7", i: -7, f: -7},
		{name: "double", v: Double(73.5), typ: TypeDouble, str: "73.5", f: 73.5},
		{name: "string", v: String("text"), typ: TypeString, str: `"text"`, s: "text"},
		{name: "enum", v: Enum("running"), typ: TypeEnum, str: "running", s: "running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type view struct {
				Type   Type
				String string
				Zero   bool
				Bool   bool
				Int    int64
				Double float64
				Str    string
			}
			want := view{tt.typ, tt.str, tt.wantZero, tt.b, tt.i, tt.f, tt.s}
			got := view{tt.v.Type(), tt.v.String(), tt.v.IsZero(), tt.v.AsBool(), tt.v.AsInt(), tt.v.AsDouble(), tt.v.AsString()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !tt.v.Equal(tt.v) {
				t.Errorf("%v does not equal itself", tt.v)
			}
		})
	}
}

func TestValueEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b Value
		want bool
	}{
		{"same int", Int(1), Int(1), true},
		{"different int", Int(1), Int(2), false},
		{"int vs double", Int(1), Double(1), false},
		{"string vs enum", String("a"), Enum("a"), false},
		{"zero and minus zero", Double(0), Double(math.Copysign(0, -1)), true},
		{"NaN", Double(math.NaN()), Double(math.NaN()), false},
		{"zero values", Value{}, Value{}, true},
		{"zero vs false", Value{}, Bool(false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(tt.b); got != tt.want {
				t.Errorf("%v.Equal(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for typ := TypeBool; typ <= TypeEnum; typ++ {
		got, err := ParseType(typ.String())
		if err != nil || got != typ {
			t.Errorf("ParseType(%q) = %v, %v; want %v", typ.String(), got, err, typ)
		}
	}
	if _, err := ParseType("doubel"); err == nil {
		t.Error("ParseType(doubel) succeeded")
	}
}

func TestEnumStrings(t *testing.T) {
	got := []string{
		Type(0).String(), TypeBool.String(), TypeDouble.String(), Type(9).String(),
		QualityUnknown.String(), QualityGood.String(), QualityUncertain.String(), QualityBad.String(),
		ConnectivityUnknown.String(), ConnectivityOnline.String(), ConnectivityOffline.String(),
		FutureReject.String(), FutureClamp.String(),
	}
	want := []string{
		"none", "bool", "double", "type(9)",
		"unknown", "good", "uncertain", "bad",
		"unknown", "online", "offline",
		"reject", "clamp",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReasons(t *testing.T) {
	var got []string
	for _, r := range Reasons() {
		got = append(got, r.String())
	}
	want := []string{
		"unknown_twin", "unknown_property", "wrong_type", "out_of_range",
		"invalid_enum", "invalid_value", "future_time", "not_writable",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
