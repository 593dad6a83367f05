package query

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/twins"
)

// t0 is the source time of the fixture's samples.
var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

// pumpModel returns a hand-built model with one property of each type.
func pumpModel() *twins.Model {
	props := []twins.Property{
		{Name: "temperature", Type: twins.TypeDouble},
		{Name: "count", Type: twins.TypeInt},
		{Name: "running", Type: twins.TypeBool},
		{Name: "serial", Type: twins.TypeString},
		{Name: "mode", Type: twins.TypeEnum, Enum: []string{"auto", "manual"}},
		{Name: "pressure", Type: twins.TypeDouble}, // never reported
		{Name: "setpoint", Type: twins.TypeDouble, Writable: true},
	}
	for i := range props {
		props[i].Index = i
	}
	return &twins.Model{Name: "pump", Properties: props}
}

// pumpSpec returns a pump twin labelled line L2, below line-1.
func pumpSpec() *twins.Spec {
	return &twins.Spec{
		ID:        "pump-1",
		ModelName: "pump",
		Model:     pumpModel(),
		Labels:    map[string]string{"line": "L2", "site": "north"},
		Parent:    "line-1",
	}
}

// pumpState returns a state of pumpSpec with every property but pressure
// reported and a desired setpoint.
func pumpState() *twins.State {
	st := twins.NewState(pumpSpec())
	st.Version = 7
	st.Connectivity = twins.ConnectivityOnline
	st.ConnectivitySince = t0 - int64(time.Hour)
	rep := func(i int, v twins.Value, q twins.Quality) {
		st.Reported[i] = twins.Reported{Value: v, SourceTime: t0, ServerTime: t0 + int64(time.Second), Quality: q}
	}
	rep(0, twins.Double(85.5), twins.QualityGood)
	rep(1, twins.Int(3), twins.QualityGood)
	rep(2, twins.Bool(true), twins.QualityUncertain)
	rep(3, twins.String("SN-42"), twins.QualityBad)
	rep(4, twins.Enum("auto"), twins.QualityGood)
	st.Desired = make([]twins.Desired, len(st.Reported))
	st.Desired[6] = twins.Desired{Value: twins.Double(60), UpdateTime: t0}
	return st
}

func TestCompileErrors(t *testing.T) {
	type pos struct{ Line, Column int }
	tests := []struct {
		name    string
		expr    string
		want    pos
		wantMsg string // substring of Error.Msg
	}{
		{
			name:    "syntax error",
			expr:    `labels.line == "L2" &&`,
			want:    pos{1, 23},
			wantMsg: "Syntax error",
		},
		{
			name:    "syntax error mid expression",
			expr:    `version > > 3`,
			want:    pos{1, 11},
			wantMsg: "Syntax error",
		},
		{
			name:    "undeclared variable",
			expr:    `labels.line == "L2" && foo > 1`,
			want:    pos{1, 24},
			wantMsg: "undeclared reference to 'foo'",
		},
		{
			name:    "multi-line undeclared",
			expr:    "labels.line == \"L2\" &&\n  reported.temperature.value > 80 &&\n  bar",
			want:    pos{3, 3},
			wantMsg: "undeclared reference to 'bar'",
		},
		{
			name:    "multi-line syntax error",
			expr:    "version > 1 &&\n\tversion <",
			want:    pos{2, 11},
			wantMsg: "Syntax error",
		},
		{
			name:    "unknown function",
			expr:    `labels.line.frobnicate()`,
			want:    pos{1, 23},
			wantMsg: "undeclared reference to 'frobnicate'",
		},
		{
			name:    "wrong operand types",
			expr:    `version == "7"`,
			want:    pos{1, 9},
			wantMsg: "no matching overload for '_==_'",
		},
		{
			name:    "int result",
			expr:    `1 + 2`,
			want:    pos{1, 1},
			wantMsg: "filter must be a bool expression, not int",
		},
		{
			name:    "string result",
			expr:    `labels.line`,
			want:    pos{1, 1},
			wantMsg: "filter must be a bool expression, not string",
		},
		{
			name:    "result after a comment",
			expr:    "// the total\n  1 + 2",
			want:    pos{2, 3},
			wantMsg: "not int",
		},
		{
			name:    "bad constant regex",
			expr:    `labels.line.matches("[")`,
			wantMsg: "missing closing ]",
		},
		{
			name:    "too long",
			expr:    "version > 1" + strings.Repeat(" ", MaxExprLen),
			wantMsg: "limit is 4096",
		},
		{
			name:    "empty",
			expr:    "",
			wantMsg: "empty filter",
		},
		{
			name:    "blank",
			expr:    " \n\t",
			wantMsg: "empty filter",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error", tt.expr, f)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) error %T %v, want *Error", tt.expr, err, err)
			}
			if diff := cmp.Diff(tt.want, pos{e.Line, e.Column}); diff != "" {
				t.Errorf("Compile(%q) position (-want +got):\n%s\nerror: %v", tt.expr, diff, err)
			}
			if !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("Compile(%q) Msg = %q, want it to contain %q", tt.expr, e.Msg, tt.wantMsg)
			}
			if e.Expr != tt.expr {
				t.Errorf("Compile(%q) Expr = %q", tt.expr, e.Expr)
			}
			if strings.Contains(e.Msg, "<input>") || strings.Contains(e.Msg, "\n") {
				t.Errorf("Compile(%q) Msg = %q has position noise", tt.expr, e.Msg)
			}
		})
	}
}

// TestDocExamples compiles the filters shown in doc.go.
func TestDocExamples(t *testing.T) {
	for _, expr := range []string{
		`reported.temperature.value > 80 && labels.line == "L2"`,
		`has(reported.pressure) && reported.pressure.value > 2.5`,
		`"area" in labels && labels.area == "north"`,
		`!has(reported.temperature)`,
		`reported.temperature.source_time > timestamp('2024-05-01T00:00:00Z')`,
		`reported.power.server_time - reported.power.source_time > duration('5s')`,
		`connectivity == "offline" && connectivity_since < timestamp('2024-05-01T00:00:00Z')`,
		`labels.line == "L2"`,
		`model == "pump" && parent == "line-1"`,
		`reported.mode.value == "auto"`,
		`reported.running.value && reported.running.quality == "good"`,
		`reported.exists(p, reported[p].quality == "bad")`,
		`"setpoint" in desired && desired.setpoint.update_time > reported.power.source_time`,
		`active && connectivity == "online" && version > 100`,
	} {
		if _, err := Compile(expr); err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"with position", &Error{Line: 1, Column: 24, Msg: "undeclared reference to 'foo'"}, "line 1, column 24: undeclared reference to 'foo'"},
		{"without position", &Error{Msg: "empty filter"}, "empty filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	_, err := Compile(`labels.line == "L2" && foo > 1`)
	if got, want := err.Error(), "line 1, column 24: undeclared reference to 'foo'"; got != want {
		t.Errorf("Compile error = %q, want %q", got, want)
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, expr := range []string{
		`true`,
		`reported.count.value`, // dyn: checked at evaluation
		strings.Repeat(" ", MaxExprLen-len("true")) + "true",
	} {
		f, err := Compile(expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
			continue
		}
		if f.String() != expr {
			t.Errorf("String() = %q, want %q", f.String(), expr)
		}
	}
}

// matchTest is a filter evaluated on pumpState.
type matchTest struct {
	name    string
	expr    string
	state   func(*twins.State) // changes to the fixture, may be nil
	active  bool
	want    bool
	wantErr string // substring of the error; "" for none
}

var matchTests = []matchTest{
	// Reported values of each type.
	{name: "double above", expr: `reported.temperature.value > 80.0`, want: true},
	{name: "double below", expr: `reported.temperature.value < 80.0`, want: false},
	{name: "int equal", expr: `reported.count.value == 3`, want: true},
	{name: "bool", expr: `reported.running.value`, want: true},
	{name: "bool negated", expr: `!reported.running.value`, want: false},
	{name: "string", expr: `reported.serial.value == "SN-42"`, want: true},
	{name: "string function", expr: `reported.serial.value.startsWith("SN-")`, want: true},
	{name: "enum symbol", expr: `reported.mode.value == "auto"`, want: true},
	{name: "enum in list", expr: `reported.mode.value in ["manual", "off"]`, want: false},

	// Cross-type numeric comparisons.
	{name: "double against int literal", expr: `reported.temperature.value > 80`, want: true},
	{name: "double against int literal false", expr: `reported.temperature.value > 86`, want: false},
	{name: "int against double literal", expr: `reported.count.value > 2.5`, want: true},
	{name: "int against double literal false", expr: `reported.count.value >= 3.5`, want: false},
	{name: "int equals double", expr: `reported.count.value == 3.0`, want: true},
	{name: "desired double against int", expr: `desired.setpoint.value == 60`, want: true},

	// Quality and times.
	{name: "quality good", expr: `reported.temperature.quality == "good"`, want: true},
	{name: "quality uncertain", expr: `reported.running.quality == "uncertain"`, want: true},
	{name: "quality bad", expr: `reported.serial.quality == "bad"`, want: true},
	{name: "source time after", expr: `reported.temperature.source_time > timestamp('2024-01-01T00:00:00Z')`, want: true},
	{name: "source time equal", expr: `reported.temperature.source_time == timestamp('2024-01-02T03:04:05Z')`, want: true},
	{name: "source time before", expr: `reported.temperature.source_time < timestamp('2024-01-02T03:04:05Z')`, want: false},
	{name: "server time", expr: `reported.temperature.server_time - reported.temperature.source_time == duration('1s')`, want: true},
	{name: "timestamp accessor in UTC", expr: `reported.temperature.source_time.getHours() == 3`, want: true},

	// Missing properties and guards.
	{name: "never reported", expr: `reported.pressure.value > 1`, wantErr: "no such key: pressure"},
	{name: "not in model", expr: `reported.nope.value > 1`, wantErr: "no such key: nope"},
	{name: "has guard false", expr: `has(reported.pressure) && reported.pressure.value > 1`, want: false},
	{name: "has guard true", expr: `has(reported.temperature) && reported.temperature.value > 1`, want: true},
	{name: "not has", expr: `!has(reported.pressure)`, want: true},
	{name: "has entry field", expr: `has(reported.temperature.value) && !has(reported.temperature.unit)`, want: true},
	{name: "in reported", expr: `"temperature" in reported && !("pressure" in reported)`, want: true},
	{name: "index syntax", expr: `reported["count"].value == 3`, want: true},
	{name: "size reported", expr: `size(reported) == 5`, want: true},
	{name: "exists over reported", expr: `reported.exists(p, reported[p].quality == "bad")`, want: true},
	{name: "all over reported", expr: `reported.all(p, reported[p].quality == "good")`, want: false},
	{name: "exists over entry keys", expr: `reported.temperature.exists(k, k == "server_time")`, want: true},
	{name: "non-string key", expr: `!(dyn(1) in reported) && !(dyn(1) in labels)`, want: true},
	{name: "keys in model order", expr: `reported.map(p, p) == ["temperature", "count", "running", "serial", "mode"]`, want: true},
	{name: "entry keys", expr: `desired.setpoint.map(k, k) == ["value", "update_time"]`, want: true},
	{name: "reported entry equality", expr: `reported.mode == {"value": "auto", "quality": "good", "source_time": timestamp('2024-01-02T03:04:05Z'), "server_time": timestamp('2024-01-02T03:04:06Z')}`, want: true},
	{name: "map on the right of equality", expr: `{"value": 60.0, "update_time": timestamp('2024-01-02T03:04:05Z')} == desired.setpoint`, want: true},
	{name: "map type", expr: `type(reported) == map && type(reported.temperature) == map && type(labels) == map`, want: true},
	{name: "state shorter than model", expr: `size(reported) == 2 && !has(reported.mode) && reported.map(p, p) == ["temperature", "count"]`, state: func(st *twins.State) {
		st.Reported = st.Reported[:2]
		st.Desired = st.Desired[:2]
	}, want: true},
	{name: "no value key without value", expr: `size(reported.temperature) == 3`, state: func(st *twins.State) {
		st.Reported[0].Value = twins.Value{}
	}, want: true},

	// Labels and the rest of the spec.
	{name: "label", expr: `labels.line == "L2"`, want: true},
	{name: "label index", expr: `labels["site"] == "north"`, want: true},
	{name: "label other", expr: `labels.line == "L3"`, want: false},
	{name: "missing label", expr: `labels.area == "A"`, wantErr: "no such key: area"},
	{name: "missing label guarded", expr: `has(labels.area) && labels.area == "A"`, want: false},
	{name: "label in", expr: `"line" in labels`, want: true},
	{name: "labels iterate", expr: `labels.all(k, k in ["line", "site"]) && labels.exists_one(k, labels[k] == "north")`, want: true},
	{name: "labels equality", expr: `labels == {"line": "L2", "site": "north"} && {"site": "north", "line": "L2"} == labels`, want: true},
	{name: "labels inequality", expr: `labels == {"line": "L2"}`, want: false},
	{name: "nil labels", expr: `size(labels) == 0 && !has(labels.line)`, state: func(st *twins.State) {
		spec := *st.Spec
		spec.Labels = nil
		st.Spec = &spec
	}, want: true},
	{name: "id model parent", expr: `id == "pump-1" && model == "pump" && parent == "line-1"`, want: true},

	// Desired values.
	{name: "desired value", expr: `desired.setpoint.value == 60.0`, want: true},
	{name: "desired update time", expr: `desired.setpoint.update_time == timestamp('2024-01-02T03:04:05Z')`, want: true},
	{name: "desired absent", expr: `has(desired.temperature)`, want: false},
	{name: "desired size", expr: `size(desired) == 1`, want: true},
	{name: "desired map equality", expr: `desired.setpoint == {"value": 60.0, "update_time": timestamp('2024-01-02T03:04:05Z')}`, want: true},
	{name: "desired map inequality", expr: `desired.setpoint == {"value": 61.0, "update_time": timestamp('2024-01-02T03:04:05Z')}`, want: false},
	{name: "desired never set", expr: `size(desired) == 0 && !has(desired.setpoint)`, state: func(st *twins.State) {
		st.Desired = nil
	}, want: true},
	{name: "desired missing", expr: `desired.temperature.value > 1`, wantErr: "no such key: temperature"},

	// Connectivity, version, active.
	{name: "online", expr: `connectivity == "online"`, want: true},
	{name: "offline", expr: `connectivity == "offline"`, state: func(st *twins.State) {
		st.Connectivity = twins.ConnectivityOffline
	}, want: true},
	{name: "connectivity unknown", expr: `connectivity == "unknown"`, state: func(st *twins.State) {
		st.Connectivity = twins.ConnectivityUnknown
	}, want: true},
	{name: "connectivity since", expr: `connectivity_since == timestamp('2024-01-02T02:04:05Z')`, want: true},
	{name: "version", expr: `version == 7 && version > 5`, want: true},
	{name: "active", expr: `active`, active: true, want: true},
	{name: "inactive", expr: `active`, active: false, want: false},
	{name: "not active", expr: `!active && connectivity == "online"`, active: false, want: true},

	// Two clauses and evaluation errors.
	{name: "two clauses", expr: `reported.temperature.value > 80 && labels.line == "L2"`, want: true},
	{name: "error short-circuited", expr: `labels.line == "L2" || reported.pressure.value > 1`, want: true},
	{name: "type mismatch", expr: `reported.serial.value > 3`, wantErr: "no such overload"},
	{name: "dyn result not bool", expr: `reported.count.value`, wantErr: "result is int, want bool"},
	{name: "cost limit", expr: nestedLoops(), wantErr: "cost limit exceeded"},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			st := pumpState()
			if tt.state != nil {
				tt.state(st)
			}
			got, err := f.Match(st, tt.active)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Match(%q) = %v, %v; want false and an error containing %q", tt.expr, got, err, tt.wantErr)
				}
				if got {
					t.Errorf("Match(%q) = true with error %v, want false", tt.expr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Match(%q): %v", tt.expr, err)
			}
			if got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

// TestCostEstimate checks the bound withinCostLimit relies on: a filter
// without comprehensions costs no more than its static estimate plus one
// per node. It also checks that the common filters run without tracking.
func TestCostEstimate(t *testing.T) {
	env := environment()
	for _, tt := range matchTests {
		t.Run(tt.name, func(t *testing.T) {
			ast, iss := env.Compile(tt.expr)
			if err := iss.Err(); err != nil {
				t.Fatal(err)
			}
			est, err := env.EstimateCost(ast, noCostHints{})
			if err != nil {
				t.Fatal(err)
			}
			if !withinCostLimit(env, ast) {
				return // tracked at run time
			}
			bound := est.Max + uint64(celast.NodeCount(ast.NativeRep()))
			prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost))
			if err != nil {
				t.Fatal(err)
			}
			st := pumpState()
			if tt.state != nil {
				tt.state(st)
			}
			_, det, _ := prg.Eval(&activation{spec: st.Spec, st: st, active: tt.active})
			if got := *det.ActualCost(); got > bound || got > costLimit {
				t.Errorf("%q costs %d, above its bound %d", tt.expr, got, bound)
			}
		})
	}
	for _, tt := range []struct {
		expr string
		want bool
	}{
		{`labels.line == "L2"`, true},
		{`reported.temperature.value > 80 && labels.line == "L2"`, true},
		{`reported.temperature.source_time > timestamp('2024-01-01T00:00:00Z') || version > 3`, true},
		{`reported.exists(p, reported[p].quality == "bad")`, false},
		{`labels.exists(k, k == "line")`, false},
		{`labels.line.matches("^L[0-9]+$")`, false},
		{nestedLoops(), false},
	} {
		ast, iss := env.Compile(tt.expr)
		if err := iss.Err(); err != nil {
			t.Fatal(err)
		}
		if got := withinCostLimit(env, ast); got != tt.want {
			t.Errorf("withinCostLimit(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

// nestedLoops returns a filter of about 10^6 steps, far above the cost
// limit, that is well within MaxExprLen.
func nestedLoops() string {
	nums := make([]string, 100)
	for i := range nums {
		nums[i] = "0"
	}
	list := "[" + strings.Join(nums, ",") + "]"
	return list + ".all(a, " + list + ".all(b, " + list + ".all(c, a + b + c == 0)))"
}

func TestStatic(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want bool
	}{
		{"label", `labels.line == "L2"`, true},
		{"model and parent", `model == "pump" && parent == "line-1"`, true},
		{"id", `id.startsWith("pump-")`, true},
		{"comprehension over labels", `labels.exists(k, k == "line")`, true},
		{"constant", `true`, true},
		{"reported", `reported.temperature.value > 80`, false},
		{"has reported", `has(reported.temperature)`, false},
		{"desired", `size(desired) > 0`, false},
		{"version", `version > 3`, false},
		{"active", `active`, false},
		{"connectivity", `connectivity == "online"`, false},
		{"connectivity since", `connectivity_since > timestamp('2024-01-01T00:00:00Z')`, false},
		{"label and reported", `labels.line == "L2" && reported.temperature.value > 80`, false},
		{"state in short-circuited branch", `true || active`, false},
		{"shadowing local is conservative", `labels.exists(version, version == "line")`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			if got := f.Static(); got != tt.want {
				t.Errorf("Static(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestMatchSpec(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		want    bool
		wantErr string
	}{
		{name: "label", expr: `labels.line == "L2"`, want: true},
		{name: "label other", expr: `labels.line == "L1"`, want: false},
		{name: "model and parent", expr: `model == "pump" && parent == "line-1"`, want: true},
		{name: "id", expr: `id == "pump-2"`, want: false},
		{name: "missing label", expr: `labels.area == "A"`, wantErr: "no such key: area"},
		{name: "reported is not static", expr: `reported.temperature.value > 80`, wantErr: "not only the spec"},
		{name: "version is not static", expr: `version > 0`, wantErr: "not only the spec"},
		{name: "active is not static", expr: `active || labels.line == "L2"`, wantErr: "not only the spec"},
	}
	spec := pumpSpec()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			got, err := f.MatchSpec(spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || got {
					t.Fatalf("MatchSpec(%q) = %v, %v; want false and an error containing %q", tt.expr, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("MatchSpec(%q): %v", tt.expr, err)
			}
			if got != tt.want {
				t.Errorf("MatchSpec(%q) = %v, want %v", tt.expr, got, tt.want)
			}
			// A static filter decides the same on the whole state.
			if m, err := f.Match(pumpState(), true); err != nil || m != got {
				t.Errorf("Match(%q) = %v, %v; MatchSpec gave %v", tt.expr, m, err, got)
			}
		})
	}
}

// TestMatchConcurrent shares one filter and one read-only state between
// goroutines; run it with -race.
func TestMatchConcurrent(t *testing.T) {
	f, err := Compile(`reported.temperature.value > 80 && labels.line == "L2" && reported.exists(p, reported[p].quality == "bad")`)
	if err != nil {
		t.Fatal(err)
	}
	shared := pumpState()
	cold := pumpState()
	cold.Reported[0].Value = twins.Double(20)

	const goroutines, rounds = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			own := pumpState() // per goroutine, changed between rounds
			for i := range rounds {
				own.Reported[0].Value = twins.Double(float64(70 + i%20))
				for _, c := range []struct {
					st   *twins.State
					want bool
				}{
					{shared, true},
					{cold, false},
					{own, 70+i%20 > 80},
				} {
					got, err := f.Match(c.st, g%2 == 0)
					if err != nil || got != c.want {
						errs <- errors.New("concurrent Match gave a wrong result")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzCompile checks that Compile fails only with *Error, that a compiled
// filter evaluates without panicking, and that a static filter decides the
// same on the spec and on the state.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`labels.line == "L2"`,
		`reported.temperature.value > 80 && labels.line == "L2"`,
		`has(reported.pressure) || version > 3`,
		`reported.exists(p, reported[p].quality == "bad")`,
		`desired.setpoint == {"value": 60.0}`,
		`connectivity_since < timestamp('2025-01-01T00:00:00Z')`,
		`model == "pump" && parent == "line-1"`,
		"1 +",
		`size(reported.temperature) == 4`,
	} {
		f.Add(seed)
	}
	st := pumpState()
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Compile(expr)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) error %T, want *Error", expr, err)
			}
			return
		}
		got, err := flt.Match(st, true)
		if err != nil && got {
			t.Fatalf("Match(%q) = true with error %v", expr, err)
		}
		if flt.Static() {
			spec, errSpec := flt.MatchSpec(st.Spec)
			if spec != got || (err == nil) != (errSpec == nil) {
				t.Fatalf("static %q: MatchSpec = %v, %v; Match = %v, %v", expr, spec, errSpec, got, err)
			}
		}
	})
}

func TestHints(t *testing.T) {
	tests := []struct {
		expr string
		want Hints
	}{
		{`labels.line == "L2"`, Hints{Labels: map[string]string{"line": "L2"}}},
		{`"pump" == model && parent == "line-1" && reported.flow.value > 3`, Hints{Model: "pump", Parent: "line-1"}},
		{`labels["area"] == "north" && (id == "a" || id == "b")`, Hints{Labels: map[string]string{"area": "north"}}},
		{`id == "pump-1" && labels.line == "L1" && labels.zone == "z"`, Hints{ID: "pump-1", Labels: map[string]string{"line": "L1", "zone": "z"}}},
		{`labels.line == "L2" || model == "pump"`, Hints{}},
		{`!(model == "pump")`, Hints{}},
		{`reported.flow.value > 80`, Hints{}},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := Compile(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.Hints()); diff != "" {
				t.Errorf("hints (-want +got):\n%s", diff)
			}
		})
	}
}
