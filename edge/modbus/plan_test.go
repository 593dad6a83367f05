package modbus

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/plantwin/plantwin/twins"
)

// hr returns a holding register point of unit 1.
func hr(addr uint16, typ Type) Point {
	return Point{UnitID: 1, Table: HoldingRegisters, Address: addr, Type: typ}
}

// run returns n consecutive points of one table, starting at addr.
func run(n int, table Table, typ Type, addr uint16) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{UnitID: 1, Table: table, Address: addr + uint16(i)*Point{Table: table, Type: typ}.Quantity(), Type: typ}
	}
	return pts
}

// indexes returns [from, to).
func indexes(from, to int) []int {
	var is []int
	for i := from; i < to; i++ {
		is = append(is, i)
	}
	return is
}

func TestPlan(t *testing.T) {
	def := DefaultLimits()
	gap := func(n uint16) Limits { l := DefaultLimits(); l.MaxGap = n; return l }
	tests := []struct {
		name   string
		points []Point
		lim    Limits
		want   []Request
	}{
		{name: "empty", lim: def, want: nil},
		{
			name:   "adjacent points coalesce",
			points: []Point{hr(0, Uint16), hr(1, Int16), hr(2, Float32), hr(4, Float64)},
			lim:    def,
			want:   []Request{{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 8, Points: []int{0, 1, 2, 3}}},
		},
		{
			name:   "a gap splits",
			points: []Point{hr(0, Uint16), hr(2, Uint16)},
			lim:    def,
			want: []Request{
				{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 1, Points: []int{0}},
				{UnitID: 1, Table: HoldingRegisters, Address: 2, Quantity: 1, Points: []int{1}},
			},
		},
		{
			name:   "MaxGap joins",
			points: []Point{hr(0, Uint16), hr(2, Uint16), hr(6, Float32)},
			lim:    gap(3),
			want:   []Request{{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 8, Points: []int{0, 1, 2}}},
		},
		{
			name:   "a gap one more than MaxGap splits",
			points: []Point{hr(0, Float32), hr(5, Uint16)},
			lim:    gap(2),
			want: []Request{
				{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 2, Points: []int{0}},
				{UnitID: 1, Table: HoldingRegisters, Address: 5, Quantity: 1, Points: []int{1}},
			},
		},
		{
			name:   "130 registers split 125+5",
			points: run(130, HoldingRegisters, Uint16, 1000),
			lim:    def,
			want: []Request{
				{UnitID: 1, Table: HoldingRegisters, Address: 1000, Quantity: 125, Points: indexes(0, 125)},
				{UnitID: 1, Table: HoldingRegisters, Address: 1125, Quantity: 5, Points: indexes(125, 130)},
			},
		},
		{
			name:   "a value is never split across requests",
			points: run(63, InputRegisters, Float32, 0), // 126 registers
			lim:    def,
			want: []Request{
				{UnitID: 1, Table: InputRegisters, Address: 0, Quantity: 124, Points: indexes(0, 62)},
				{UnitID: 1, Table: InputRegisters, Address: 124, Quantity: 2, Points: []int{62}},
			},
		},
		{
			name:   "the gap counts toward the limit",
			points: []Point{hr(0, Uint16), hr(120, Float32), hr(124, Uint16), hr(125, Uint16)},
			lim:    gap(200),
			want: []Request{
				{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 125, Points: []int{0, 1, 2}},
				{UnitID: 1, Table: HoldingRegisters, Address: 125, Quantity: 1, Points: []int{3}},
			},
		},
		{
			name:   "a lower MaxRegisters",
			points: run(10, HoldingRegisters, Uint16, 0),
			lim:    Limits{MaxRegisters: 4},
			want: []Request{
				{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 4, Points: indexes(0, 4)},
				{UnitID: 1, Table: HoldingRegisters, Address: 4, Quantity: 4, Points: indexes(4, 8)},
				{UnitID: 1, Table: HoldingRegisters, Address: 8, Quantity: 2, Points: indexes(8, 10)},
			},
		},
		{
			name: "units and tables never merge",
			points: []Point{
				{UnitID: 2, Table: HoldingRegisters, Address: 1, Type: Uint16},
				{UnitID: 1, Table: InputRegisters, Address: 1, Type: Uint16},
				{UnitID: 1, Table: HoldingRegisters, Address: 0, Type: Uint16},
				{UnitID: 1, Table: Coils, Address: 1, Type: Bool},
				{UnitID: 1, Table: DiscreteInputs, Address: 0, Type: Bool},
				{UnitID: 1, Table: HoldingRegisters, Address: 1, Type: Uint16},
			},
			lim: gap(10),
			want: []Request{
				{UnitID: 1, Table: Coils, Address: 1, Quantity: 1, Points: []int{3}},
				{UnitID: 1, Table: DiscreteInputs, Address: 0, Quantity: 1, Points: []int{4}},
				{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 2, Points: []int{2, 5}},
				{UnitID: 1, Table: InputRegisters, Address: 1, Quantity: 1, Points: []int{1}},
				{UnitID: 2, Table: HoldingRegisters, Address: 1, Quantity: 1, Points: []int{0}},
			},
		},
		{
			name:   "2001 coils split 2000+1",
			points: run(2001, Coils, Bool, 0),
			lim:    def,
			want: []Request{
				{UnitID: 1, Table: Coils, Address: 0, Quantity: 2000, Points: indexes(0, 2000)},
				{UnitID: 1, Table: Coils, Address: 2000, Quantity: 1, Points: []int{2000}},
			},
		},
		{
			name:   "bits with a gap",
			points: []Point{{UnitID: 1, Table: DiscreteInputs, Address: 10, Type: Bool}, {UnitID: 1, Table: DiscreteInputs, Address: 16, Type: Bool}},
			lim:    gap(5),
			want:   []Request{{UnitID: 1, Table: DiscreteInputs, Address: 10, Quantity: 7, Points: []int{0, 1}}},
		},
		{
			name: "overlapping views share a request",
			points: []Point{
				hr(11, Uint16), // low word of the float
				hr(10, Float32),
				hr(10, Uint16), // high word of the float
				hr(10, Bool),
				hr(12, Int16),
			},
			lim:  def,
			want: []Request{{UnitID: 1, Table: HoldingRegisters, Address: 10, Quantity: 3, Points: []int{1, 2, 3, 0, 4}}},
		},
		{
			name:   "a point inside a longer one does not shorten the request",
			points: []Point{{UnitID: 1, Table: HoldingRegisters, Address: 0, Type: String, Length: 10}, hr(3, Uint16), hr(10, Uint16)},
			lim:    def,
			want:   []Request{{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 11, Points: []int{0, 1, 2}}},
		},
		{
			name:   "unsorted input comes out by address",
			points: []Point{hr(3, Uint16), hr(2, Uint16), hr(1, Uint16), hr(0, Uint16)},
			lim:    def,
			want:   []Request{{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 4, Points: []int{3, 2, 1, 0}}},
		},
		{
			name:   "the end of the address space",
			points: []Point{hr(65534, Uint16), hr(65535, Uint16), hr(65532, Float32)},
			lim:    gap(65535),
			want:   []Request{{UnitID: 1, Table: HoldingRegisters, Address: 65532, Quantity: 4, Points: []int{2, 0, 1}}},
		},
		{
			name:   "zero limits mean the protocol maxima",
			points: run(126, HoldingRegisters, Uint16, 0),
			lim:    Limits{},
			want: []Request{
				{UnitID: 1, Table: HoldingRegisters, Address: 0, Quantity: 125, Points: indexes(0, 125)},
				{UnitID: 1, Table: HoldingRegisters, Address: 125, Quantity: 1, Points: []int{125}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.points, tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	long := Point{UnitID: 1, Table: HoldingRegisters, Type: String, Length: 20}
	tests := []struct {
		name    string
		points  []Point
		lim     Limits
		wantErr string
	}{
		{"point larger than MaxRegisters", []Point{hr(0, Uint16), long}, Limits{MaxRegisters: 10}, "point 1 (unit 1 holding_register 0 string): spans 20 registers, more than the 10 of one request"},
		{"float64 larger than MaxRegisters", []Point{hr(0, Float64)}, Limits{MaxRegisters: 3}, "spans 4 registers"},
		{"MaxRegisters above the protocol", nil, Limits{MaxRegisters: 126}, "max registers 126 exceeds the protocol maximum 125"},
		{"MaxBits above the protocol", nil, Limits{MaxBits: 2001}, "max bits 2001 exceeds the protocol maximum 2000"},
		{"invalid point", []Point{hr(0, Uint16), {Table: Coils, Type: Int32}}, DefaultLimits(), "point 1 (unit 0 coil 0 int32): type int32 on a coil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := Plan(tt.points, tt.lim)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "modbus: plan: ") {
				t.Fatalf("Plan = %v, %v; want an error containing %q", reqs, err, tt.wantErr)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	if diff := cmp.Diff(Limits{MaxRegisters: 125, MaxBits: 2000, MaxGap: 0}, DefaultLimits()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSlice(t *testing.T) {
	points := []Point{hr(10, Float32), hr(11, Uint16), hr(13, Int16), {UnitID: 1, Table: HoldingRegisters, Address: 14, Type: String, Length: 2}}
	reqs, err := Plan(points, Limits{MaxGap: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 {
		t.Fatalf("Plan = %v, want one request", reqs)
	}
	// The response of holding registers 10..15.
	resp := []uint16{0x3F80, 0x0000, 0xDEAD, 0xFFFE, 0x4142, 0x4300}
	tests := []struct {
		name string
		i    int
		regs []uint16
		v    twins.Value
	}{
		{"float32 at the start", 0, []uint16{0x3F80, 0x0000}, twins.Double(1)},
		{"uint16 inside the float", 1, []uint16{0x0000}, twins.Int(0)},
		{"int16 after the gap", 2, []uint16{0xFFFE}, twins.Int(-2)},
		{"string at the end", 3, []uint16{0x4142, 0x4300}, twins.String("ABC")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			regs, bits, err := Slice(reqs[0], points[tt.i], resp, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.regs, regs); diff != "" {
				t.Errorf("Slice registers (-want +got):\n%s", diff)
			}
			if bits != nil {
				t.Errorf("Slice bits = %v, want nil", bits)
			}
			if cap(regs) != len(regs) {
				t.Errorf("cap = %d, want %d: an append would overwrite the next point", cap(regs), len(regs))
			}
			v, err := Decode(points[tt.i], regs, bits)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.v, v, valueComparer); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("bits", func(t *testing.T) {
		coils := []Point{{UnitID: 3, Table: Coils, Address: 5, Type: Bool}, {UnitID: 3, Table: Coils, Address: 7, Type: Bool}}
		reqs, err := Plan(coils, Limits{MaxGap: 1})
		if err != nil {
			t.Fatal(err)
		}
		resp := []bool{false, true, true}
		want := []bool{false, true}
		for i, p := range coils {
			regs, bits, err := Slice(reqs[0], p, nil, resp)
			if err != nil {
				t.Fatal(err)
			}
			if regs != nil || len(bits) != 1 || bits[0] != want[i] {
				t.Errorf("Slice(coil %d) = %v, %v; want [%t]", p.Address, regs, bits, want[i])
			}
		}
	})
}

func TestSliceErrors(t *testing.T) {
	req := Request{UnitID: 1, Table: HoldingRegisters, Address: 10, Quantity: 4, Points: []int{0}}
	resp := []uint16{1, 2, 3, 4}
	tests := []struct {
		name    string
		req     Request
		p       Point
		regs    []uint16
		bits    []bool
		wantErr string
	}{
		{"other unit", req, Point{UnitID: 2, Table: HoldingRegisters, Address: 10, Type: Uint16}, resp, nil, "not in the request for unit 1 holding_register"},
		{"other table", req, Point{UnitID: 1, Table: InputRegisters, Address: 10, Type: Uint16}, resp, nil, "not in the request"},
		{"before the request", req, hr(9, Uint16), resp, nil, "1 registers not within the request for 10..13"},
		{"past the end", req, hr(12, Float64), resp, nil, "4 registers not within the request for 10..13"},
		{"short response", req, hr(10, Uint16), resp[:3], nil, "response has 3 registers and 0 bits, want 4 registers"},
		{"long response", req, hr(10, Uint16), append(resp, 5), nil, "response has 5 registers"},
		{"bits for registers", req, hr(10, Uint16), resp, []bool{true}, "and 1 bits"},
		{"short bit response", Request{UnitID: 1, Table: Coils, Quantity: 3}, Point{UnitID: 1, Table: Coils, Type: Bool}, nil, []bool{true}, "response has 1 bits and 0 registers, want 3 bits"},
		{"invalid point", req, Point{UnitID: 1, Table: HoldingRegisters, Address: 10}, resp, nil, "invalid type 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			regs, bits, err := Slice(tt.req, tt.p, tt.regs, tt.bits)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "modbus: slice ") {
				t.Fatalf("Slice = %v, %v, %v; want an error containing %q", regs, bits, err, tt.wantErr)
			}
		})
	}
}

// TestPlanRandom plans random point sets and checks the invariants: every
// point in exactly one request that covers it, requests within the limits
// and of one unit and table, in order, and no two consecutive requests
// that could have been one.
func TestPlanRandom(t *testing.T) {
	const seed = 20250601
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	types := []Type{Bool, Int16, Uint16, Int32, Uint32, Float32, Float64, String}
	for iter := range 300 {
		lim := Limits{
			MaxRegisters: uint16(1 + rng.IntN(125)),
			MaxBits:      uint16(1 + rng.IntN(2000)),
			MaxGap:       uint16(rng.IntN(8)),
		}
		points := make([]Point, rng.IntN(60))
		for i := range points {
			p := Point{UnitID: uint8(rng.IntN(3)), Table: Table(1 + rng.IntN(4)), Address: uint16(rng.IntN(300))}
			p.Type = Bool
			if !p.Table.IsBits() {
				p.Type = types[rng.IntN(len(types))]
				if p.Type == String {
					p.Length = uint16(1 + rng.IntN(int(lim.MaxRegisters)))
				}
				if int(p.Quantity()) > int(lim.MaxRegisters) {
					p.Type = Uint16
				}
			}
			points[i] = p
		}
		reqs, err := Plan(points, lim)
		if err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		checkPlan(t, points, lim, reqs)
		if t.Failed() {
			t.Fatalf("iteration %d: limits %+v, points %+v, requests %+v", iter, lim, points, reqs)
		}
	}
}

func checkPlan(t *testing.T, points []Point, lim Limits, reqs []Request) {
	t.Helper()
	var covered []int
	for ri, r := range reqs {
		limit := int(lim.MaxRegisters)
		if r.Table.IsBits() {
			limit = int(lim.MaxBits)
		}
		if r.Quantity == 0 || int(r.Quantity) > limit || int(r.Address)+int(r.Quantity) > 1<<16 {
			t.Errorf("request %d %+v: quantity out of 1..%d", ri, r, limit)
		}
		if ri > 0 {
			prev := reqs[ri-1]
			key := func(r Request) int { return int(r.UnitID)<<24 | int(r.Table)<<16 | int(r.Address) }
			if key(prev) >= key(r) {
				t.Errorf("requests %d and %d out of order", ri-1, ri)
			}
			// Greedy: the first point of r could not have joined prev.
			p := points[r.Points[0]]
			prevEnd, pEnd := int(prev.Address)+int(prev.Quantity), int(p.Address)+int(p.Quantity())
			if prev.UnitID == r.UnitID && prev.Table == r.Table &&
				int(p.Address) <= prevEnd+int(lim.MaxGap) && max(prevEnd, pEnd)-int(prev.Address) <= limit {
				t.Errorf("requests %d and %d could have been one", ri-1, ri)
			}
		}
		lastAddr := -1
		for _, i := range r.Points {
			p := points[i]
			covered = append(covered, i)
			if p.Address < r.Address || int(p.Address)+int(p.Quantity()) > int(r.Address)+int(r.Quantity) || p.UnitID != r.UnitID || p.Table != r.Table {
				t.Errorf("request %d %+v does not cover point %d %+v", ri, r, i, p)
			}
			if int(p.Address) < lastAddr {
				t.Errorf("request %d: points not ascending by address", ri)
			}
			lastAddr = int(p.Address)
			resp := make([]uint16, r.Quantity)
			var bits []bool
			if r.Table.IsBits() {
				resp, bits = nil, make([]bool, r.Quantity)
			}
			if _, _, err := Slice(r, p, resp, bits); err != nil {
				t.Errorf("Slice: %v", err)
			}
		}
	}
	if diff := cmp.Diff(indexes(0, len(points)), covered, cmpopts.SortSlices(func(a, b int) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("points covered (-want +got):\n%s", diff)
	}
}
