package twins

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const stateTestConfig = `
models:
  - name: turbine
    properties:
      - {name: power, type: double, unit: kW, min: 0, max: 5000}
      - {name: state, type: enum, values: [running, stopped, fault]}
      - {name: setpoint, type: double, unit: kW, writable: true, min: 0, max: 5000}
      - {name: blade_count, type: int, min: 1, max: 5}
      - {name: online, type: bool}
      - {name: serial, type: string, writable: true}
      - {name: mode, type: enum, values: [auto, manual], writable: true}
twins:
  - id: t1
    model: turbine
`

// Property indices of the test model.
const (
	pPower = iota
	pState
	pSetpoint
	pBladeCount
	pOnline
	pSerial
	pMode
)

const (
	sec = int64(time.Second)
	now = 1_000_000 * sec
)

func testSpec(t testing.TB) *Spec {
	t.Helper()
	c, err := ParseConfig("state_test.yaml", []byte(stateTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := c.Twin("t1")
	if !ok {
		t.Fatal("twin t1 missing")
	}
	return s
}

// ignoreSpec leaves the shared, immutable Spec out of State comparisons.
var ignoreSpec = cmp.Options{cmpopts.IgnoreFields(State{}, "Spec"), cmpopts.IgnoreUnexported(State{})}

// decideApply decides cmd and applies the resulting events.
func decideApply(t *testing.T, s *State, cmd any, at int64) Decision {
	t.Helper()
	d, err := s.Decide(cmd, at)
	if err != nil {
		t.Fatalf("Decide(%#v): %v", cmd, err)
	}
	for _, ev := range d.Events {
		s.Apply(ev)
	}
	return d
}

func telemetry(samples ...Sample) ApplyTelemetry {
	return ApplyTelemetry{Samples: samples, Policy: DefaultIngestPolicy()}
}

func applied(samples ...AppliedSample) []Event {
	return []Event{TelemetryApplied{Samples: samples, ServerTime: now}}
}

func rejected(i int, prop string, r Reason, detail string) Rejection {
	return Rejection{Index: i, Property: prop, Reason: r, Detail: detail}
}

func TestDecideTelemetry(t *testing.T) {
	good := QualityGood
	tests := []struct {
		name  string
		setup []Sample // applied first, at time now
		cmd   ApplyTelemetry
		want  Decision
	}{
		{
			name: "double accepts double",
			cmd:  telemetry(Sample{Property: "power", Value: Double(73.5), SourceTime: now - sec}),
			want: Decision{Events: applied(AppliedSample{Property: pPower, Value: Double(73.5), SourceTime: now - sec, Quality: good})},
		},
		{
			name: "double accepts int as double",
			cmd:  telemetry(Sample{Property: "power", Value: Int(42), SourceTime: now}),
			want: Decision{Events: applied(AppliedSample{Property: pPower, Value: Double(42), SourceTime: now, Quality: good})},
		},
		{
			name: "double rejects string",
			cmd:  telemetry(Sample{Property: "power", Value: String("42")}),
			want: Decision{Rejected: []Rejection{rejected(0, "power", ReasonWrongType, `value "42" is string, want double`)}},
		},
		{
			name: "int accepts int",
			cmd:  telemetry(Sample{Property: "blade_count", Value: Int(3), SourceTime: now}),
			want: Decision{Events: applied(AppliedSample{Property: pBladeCount, Value: Int(3), SourceTime: now, Quality: good})},
		},
		{
			name: "int rejects double",
			cmd:  telemetry(Sample{Property: "blade_count", Value: Double(3)}),
			want: Decision{Rejected: []Rejection{rejected(0, "blade_count", ReasonWrongType, "value 3 is double, want int")}},
		},
		{
			name: "bool accepts bool",
			cmd:  telemetry(Sample{Property: "online", Value: Bool(true), SourceTime: now}),
			want: Decision{Events: applied(AppliedSample{Property: pOnline, Value: Bool(true), SourceTime: now, Quality: good})},
		},
		{
			name: "bool rejects int",
			cmd:  telemetry(Sample{Property: "online", Value: Int(1)}),
			want: Decision{Rejected: []Rejection{rejected(0, "online", ReasonWrongType, "value 1 is int, want bool")}},
		},
		{
			name: "string accepts string",
			cmd:  telemetry(Sample{Property: "serial", Value: String("SN-1"), SourceTime: now}),
			want: Decision{Events: applied(AppliedSample{Property: pSerial, Value: String("SN-1"), SourceTime: now, Quality: good})},
		},
		{
			name: "string rejects enum",
			cmd:  telemetry(Sample{Property: "serial", Value: Enum("SN-1")}),
			want: Decision{Rejected: []Rejection{rejected(0, "serial", ReasonWrongType, "value SN-1 is enum, want string")}},
		},
		{
			name: "enum accepts enum",
			cmd:  telemetry(Sample{Property: "state", Value: Enum("running"), SourceTime: now}),
			want: Decision{Events: applied(AppliedSample{Property: pState, Value: Enum("running"), SourceTime: now, Quality: good})},
		},
		{
			name: "enum accepts string as enum",
			cmd:  telemetry(Sample{Property: "state", Value: String("fault"), SourceTime: now}),
			want: Decision{Events: applied(AppliedSample{Property: pState, Value: Enum("fault"), SourceTime: now, Quality: good})},
		},
		{
			name: "enum rejects unknown symbol",
			cmd:  telemetry(Sample{Property: "state", Value: Enum("exploded")}),
			want: Decision{Rejected: []Rejection{rejected(0, "state", ReasonInvalidEnum, `"exploded" is not one of running, stopped, fault`)}},
		},
		{
			name: "enum rejects int",
			cmd:  telemetry(Sample{Property: "state", Value: Int(1)}),
			want: Decision{Rejected: []Rejection{rejected(0, "state", ReasonWrongType, "value 1 is int, want enum")}},
		},
		{
			name: "zero value is wrong type",
			cmd:  telemetry(Sample{Property: "power"}),
			want: Decision{Rejected: []Rejection{rejected(0, "power", ReasonWrongType, "no value, want double")}},
		},
		{
			name: "above max",
			cmd:  telemetry(Sample{Property: "power", Value: Double(7200)}),
			want: Decision{Rejected: []Rejection{rejected(0, "power", ReasonOutOfRange, "value 7200 above max 5000 kW")}},
		},
		{
			name: "below min",
			cmd:  telemetry(Sample{Property: "power", Value: Int(-1)}),
			want: Decision{Rejected: []Rejection{rejected(0, "power", ReasonOutOfRange, "value -1 below min 0 kW")}},
		},
		{
			name: "int above max without unit",
			cmd:  telemetry(Sample{Property: "blade_count", Value: Int(9)}),
			want: Decision{Rejected: []Rejection{rejected(0, "blade_count", ReasonOutOfRange, "value 9 above max 5")}},
		},
		{
			name: "bounds are inclusive",
			cmd: telemetry(
				Sample{Property: "power", Value: Double(5000), SourceTime: now},
				Sample{Property: "blade_count", Value: Int(1), SourceTime: now},
			),
			want: Decision{Events: applied(
				AppliedSample{Property: pPower, Value: Double(5000), SourceTime: now, Quality: good},
				AppliedSample{Property: pBladeCount, Value: Int(1), SourceTime: now, Quality: good},
			)},
		},
		{
			name: "NaN and infinities",
			cmd: telemetry(
				Sample{Property: "power", Value: Double(math.NaN())},
				Sample{Property: "power", Value: Double(math.Inf(1))},
				Sample{Property: "power", Value: Double(math.Inf(-1))},
			),
			want: Decision{Rejected: []Rejection{
				rejected(0, "power", ReasonInvalidValue, "value NaN is not a finite number"),
				rejected(1, "power", ReasonInvalidValue, "value +Inf is not a finite number"),
				rejected(2, "power", ReasonInvalidValue, "value -Inf is not a finite number"),
			}},
		},
		{
			name: "unknown property",
			cmd:  telemetry(Sample{Property: "rpm", Value: Double(12)}),
			want: Decision{Rejected: []Rejection{rejected(0, "rpm", ReasonUnknownProperty, `model turbine has no property "rpm"`)}},
		},
		{
			name: "quality zero means good, others kept",
			cmd: telemetry(
				Sample{Property: "power", Value: Double(1), SourceTime: now},
				Sample{Property: "state", Value: Enum("fault"), SourceTime: now, Quality: QualityBad},
				Sample{Property: "online", Value: Bool(false), SourceTime: now, Quality: QualityUncertain},
			),
			want: Decision{Events: applied(
				AppliedSample{Property: pPower, Value: Double(1), SourceTime: now, Quality: good},
				AppliedSample{Property: pState, Value: Enum("fault"), SourceTime: now, Quality: QualityBad},
				AppliedSample{Property: pOnline, Value: Bool(false), SourceTime: now, Quality: QualityUncertain},
			)},
		},
		{
			name: "undefined quality",
			cmd:  telemetry(Sample{Property: "power", Value: Double(1), Quality: 9}),
			want: Decision{Rejected: []Rejection{rejected(0, "power", ReasonInvalidValue, "unknown quality 9")}},
		},
		{
			name: "source time zero means now",
			cmd:  telemetry(Sample{Property: "power", Value: Double(1)}),
			want: Decision{Events: applied(AppliedSample{Property: pPower, Value: Double(1), SourceTime: now, Quality: good})},
		},
		{
			name: "future within skew",
			cmd:  telemetry(Sample{Property: "power", Value: Double(1), SourceTime: now + 300*sec}),
			want: Decision{Events: applied(AppliedSample{Property: pPower, Value: Double(1), SourceTime: now + 300*sec, Quality: good})},
		},
		{
			name: "future beyond skew rejected",
			cmd:  telemetry(Sample{Property: "power", Value: Double(1), SourceTime: now + 301*sec}),
			want: Decision{Rejected: []Rejection{rejected(0, "power", ReasonFutureTime, "source time 5m1s ahead of server time, max skew 5m0s")}},
		},
		{
			name: "future beyond skew clamped",
			cmd: ApplyTelemetry{
				Samples: []Sample{{Property: "power", Value: Double(1), SourceTime: now + 3600*sec}},
				Policy:  IngestPolicy{MaxFutureSkew: time.Second, Future: FutureClamp},
			},
			want: Decision{Events: applied(AppliedSample{Property: pPower, Value: Double(1), SourceTime: now, Quality: good})},
		},
		{
			name: "zero policy is the default policy",
			cmd: ApplyTelemetry{Samples: []Sample{
				{Property: "power", Value: Double(1), SourceTime: now + 300*sec},
				{Property: "state", Value: Enum("running"), SourceTime: now + 301*sec},
			}},
			want: Decision{
				Events:   applied(AppliedSample{Property: pPower, Value: Double(1), SourceTime: now + 300*sec, Quality: good}),
				Rejected: []Rejection{rejected(1, "state", ReasonFutureTime, "source time 5m1s ahead of server time, max skew 5m0s")},
			},
		},
		{
			name: "far future does not overflow",
			cmd:  telemetry(Sample{Property: "power", Value: Double(1), SourceTime: math.MaxInt64}),
			want: Decision{Rejected: []Rejection{rejected(0, "power", ReasonFutureTime,
				"source time "+time.Duration(math.MaxInt64-now).String()+" ahead of server time, max skew 5m0s")}},
		},
		{
			name:  "older than reported is stale",
			setup: []Sample{{Property: "power", Value: Double(10), SourceTime: now - 10*sec}},
			cmd: telemetry(
				Sample{Property: "power", Value: Double(9), SourceTime: now - 20*sec},
				Sample{Property: "state", Value: Enum("running"), SourceTime: now - 20*sec},
			),
			want: Decision{Events: applied(
				AppliedSample{Property: pPower, Value: Double(9), SourceTime: now - 20*sec, Quality: good, Stale: true},
				AppliedSample{Property: pState, Value: Enum("running"), SourceTime: now - 20*sec, Quality: good},
			)},
		},
		{
			name:  "same time as reported is not stale",
			setup: []Sample{{Property: "power", Value: Double(10), SourceTime: now - 10*sec}},
			cmd:   telemetry(Sample{Property: "power", Value: Double(11), SourceTime: now - 10*sec}),
			want:  Decision{Events: applied(AppliedSample{Property: pPower, Value: Double(11), SourceTime: now - 10*sec, Quality: good})},
		},
		{
			name: "older than earlier sample in batch is stale",
			cmd: telemetry(
				Sample{Property: "power", Value: Double(1), SourceTime: now - 5*sec},
				Sample{Property: "power", Value: Double(2), SourceTime: now - 8*sec},
				Sample{Property: "power", Value: Double(3), SourceTime: now - 4*sec},
			),
			want: Decision{Events: applied(
				AppliedSample{Property: pPower, Value: Double(1), SourceTime: now - 5*sec, Quality: good},
				AppliedSample{Property: pPower, Value: Double(2), SourceTime: now - 8*sec, Quality: good, Stale: true},
				AppliedSample{Property: pPower, Value: Double(3), SourceTime: now - 4*sec, Quality: good},
			)},
		},
		{
			name: "negative source time on never reported property is not stale",
			cmd:  telemetry(Sample{Property: "power", Value: Double(1), SourceTime: -5}),
			want: Decision{Events: applied(AppliedSample{Property: pPower, Value: Double(1), SourceTime: -5, Quality: good})},
		},
		{
			name: "rejections keep sample indices",
			cmd: telemetry(
				Sample{Property: "rpm", Value: Double(1)},
				Sample{Property: "power", Value: Double(2), SourceTime: now},
				Sample{Property: "power", Value: Double(-2)},
			),
			want: Decision{
				Events: applied(AppliedSample{Property: pPower, Value: Double(2), SourceTime: now, Quality: good}),
				Rejected: []Rejection{
					rejected(0, "rpm", ReasonUnknownProperty, `model turbine has no property "rpm"`),
					rejected(2, "power", ReasonOutOfRange, "value -2 below min 0 kW"),
				},
			},
		},
		{
			name: "no samples",
			cmd:  telemetry(),
			want: Decision{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(testSpec(t))
			if len(tt.setup) > 0 {
				decideApply(t, s, telemetry(tt.setup...), now)
			}
			before := snapshot(s)
			got, err := s.Decide(tt.cmd, now)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, s, ignoreSpec); diff != "" {
				t.Errorf("Decide mutated the state (-before +after):\n%s", diff)
			}
			// The pointer form decides the same.
			got2, err := s.Decide(&tt.cmd, now)
			if err != nil {
				t.Fatalf("Decide(pointer): %v", err)
			}
			if diff := cmp.Diff(got, got2, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide(pointer) differs (-value +pointer):\n%s", diff)
			}
		})
	}
}

// snapshot deep-copies s.
func snapshot(s *State) *State {
	c := *s
	c.Reported = append([]Reported(nil), s.Reported...)
	if s.Desired != nil {
		c.Desired = append([]Desired(nil), s.Desired...)
	}
	return &c
}

func TestApplyTelemetry(t *testing.T) {
	s := NewState(testSpec(t))
	decideApply(t, s, telemetry(
		Sample{Property: "power", Value: Double(100), SourceTime: now - 10*sec},
		Sample{Property: "state", Value: String("running"), SourceTime: now - 30*sec, Quality: QualityUncertain},
	), now)
	// Second batch, a minute later: power goes back in time (stale, history
	// only) and forward; state is newer.
	later := now + 60*sec
	decideApply(t, s, telemetry(
		Sample{Property: "power", Value: Double(50), SourceTime: now - 20*sec},
		Sample{Property: "state", Value: Enum("fault"), SourceTime: later},
		Sample{Property: "blade_count", Value: Int(3), SourceTime: now - 40*sec},
	), later)
	// A batch that is rejected entirely produces no event.
	if d := decideApply(t, s, telemetry(Sample{Property: "power", Value: Double(-1)}), later); len(d.Events) != 0 {
		t.Errorf("rejected batch produced events: %v", d.Events)
	}

	want := &State{
		Version:     2,
		Reported:    make([]Reported, 7),
		Watermark:   later,
		WatermarkAt: later,
	}
	want.Reported[pPower] = Reported{Value: Double(100), SourceTime: now - 10*sec, ServerTime: now, Quality: QualityGood}
	want.Reported[pState] = Reported{Value: Enum("fault"), SourceTime: later, ServerTime: later, Quality: QualityGood}
	want.Reported[pBladeCount] = Reported{Value: Int(3), SourceTime: now - 40*sec, ServerTime: later, Quality: QualityGood}
	if diff := cmp.Diff(want, s, ignoreSpec); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

func TestApplyRechecksStaleness(t *testing.T) {
	s := NewState(testSpec(t))
	// Events decided against an older state: both claim to be fresh, but
	// the second is older than what the first applied.
	s.Apply(TelemetryApplied{ServerTime: now, Samples: []AppliedSample{{Property: pPower, Value: Double(2), SourceTime: now, Quality: QualityGood}}})
	s.Apply(&TelemetryApplied{ServerTime: now, Samples: []AppliedSample{
		{Property: pPower, Value: Double(1), SourceTime: now - sec, Quality: QualityGood},
		{Property: pState, Value: Enum("running"), SourceTime: now + sec, Quality: QualityGood, Stale: true},
		{Property: 99, Value: Double(1), SourceTime: now, Quality: QualityGood}, // out of range: skipped
	}})
	want := &State{Version: 2, Reported: make([]Reported, 7), Watermark: now + sec, WatermarkAt: now}
	want.Reported[pPower] = Reported{Value: Double(2), SourceTime: now, ServerTime: now, Quality: QualityGood}
	if diff := cmp.Diff(want, s, ignoreSpec); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

func TestConnectivity(t *testing.T) {
	tests := []struct {
		name      string
		start     Connectivity
		set       Connectivity
		wantEvent bool
	}{
		{"unknown to online", ConnectivityUnknown, ConnectivityOnline, true},
		{"online to offline", ConnectivityOnline, ConnectivityOffline, true},
		{"online to online", ConnectivityOnline, ConnectivityOnline, false},
		{"offline to unknown", ConnectivityOffline, ConnectivityUnknown, true},
		{"unknown to unknown", ConnectivityUnknown, ConnectivityUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(testSpec(t))
			if tt.start != ConnectivityUnknown {
				s.Apply(ConnectivityChanged{Connectivity: tt.start, Time: now - sec})
			}
			version := s.Version
			d := decideApply(t, s, SetConnectivity{Connectivity: tt.set}, now)
			var want Decision
			wantState := ConnectivityChanged{Connectivity: tt.start, Time: now - sec}
			if tt.start == ConnectivityUnknown {
				wantState.Time = 0
			}
			if tt.wantEvent {
				want.Events = []Event{ConnectivityChanged{Connectivity: tt.set, Time: now}}
				wantState = ConnectivityChanged{Connectivity: tt.set, Time: now}
				version++
			}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			got := ConnectivityChanged{Connectivity: s.Connectivity, Time: s.ConnectivitySince}
			if diff := cmp.Diff(wantState, got); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
			if s.Version != version {
				t.Errorf("Version = %d, want %d", s.Version, version)
			}
		})
	}
	s := NewState(testSpec(t))
	if _, err := s.Decide(SetConnectivity{Connectivity: 7}, now); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Decide(connectivity 7) = %v, want ErrInvalidValue", err)
	}
}

func TestSetDesired(t *testing.T) {
	tests := []struct {
		name    string
		cmd     SetDesired
		want    Decision
		wantErr error
		errText string
	}{
		{
			name: "double",
			cmd:  SetDesired{Property: "setpoint", Value: Double(2500)},
			want: Decision{Events: []Event{DesiredSet{Property: pSetpoint, Value: Double(2500), Time: now}}},
		},
		{
			name: "int coerced to double",
			cmd:  SetDesired{Property: "setpoint", Value: Int(2500), ExpectedVersion: 3},
			want: Decision{Events: []Event{DesiredSet{Property: pSetpoint, Value: Double(2500), Time: now}}},
		},
		{
			name: "string coerced to enum",
			cmd:  SetDesired{Property: "mode", Value: String("manual")},
			want: Decision{Events: []Event{DesiredSet{Property: pMode, Value: Enum("manual"), Time: now}}},
		},
		{
			name:    "version conflict",
			cmd:     SetDesired{Property: "setpoint", Value: Double(1), ExpectedVersion: 2},
			wantErr: ErrVersionConflict,
			errText: "expected version 2, actual 3",
		},
		{
			name:    "unknown property",
			cmd:     SetDesired{Property: "rpm", Value: Double(1)},
			wantErr: ErrUnknownProperty,
			errText: `"rpm"`,
		},
		{
			name:    "not writable",
			cmd:     SetDesired{Property: "power", Value: Double(1)},
			wantErr: ErrNotWritable,
			errText: "power on twin t1",
		},
		{
			name:    "out of range",
			cmd:     SetDesired{Property: "setpoint", Value: Double(7200)},
			wantErr: ErrInvalidValue,
			errText: "value 7200 above max 5000 kW",
		},
		{
			name:    "NaN",
			cmd:     SetDesired{Property: "setpoint", Value: Double(math.NaN())},
			wantErr: ErrInvalidValue,
			errText: "not a finite number",
		},
		{
			name:    "wrong type",
			cmd:     SetDesired{Property: "serial", Value: Int(1)},
			wantErr: ErrInvalidValue,
			errText: "want string",
		},
		{
			name:    "invalid enum",
			cmd:     SetDesired{Property: "mode", Value: Enum("turbo")},
			wantErr: ErrInvalidValue,
			errText: `"turbo" is not one of auto, manual`,
		},
		{
			name:    "conflict is checked first",
			cmd:     SetDesired{Property: "rpm", ExpectedVersion: 1},
			wantErr: ErrVersionConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(testSpec(t))
			for range 3 { // Version 3
				decideApply(t, s, telemetry(Sample{Property: "online", Value: Bool(true)}), now)
			}
			got, err := s.Decide(tt.cmd, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decide error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", err, tt.errText)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyDesired(t *testing.T) {
	s := NewState(testSpec(t))
	if s.Desired != nil {
		t.Fatal("Desired allocated before the first desired value")
	}
	decideApply(t, s, SetDesired{Property: "setpoint", Value: Double(1000)}, now)
	decideApply(t, s, SetDesired{Property: "setpoint", Value: Double(1200), ExpectedVersion: 1}, now+sec)
	decideApply(t, s, SetDesired{Property: "mode", Value: Enum("auto"), ExpectedVersion: 2}, now+2*sec)
	want := make([]Desired, 7)
	want[pSetpoint] = Desired{Value: Double(1200), UpdateTime: now + sec}
	want[pMode] = Desired{Value: Enum("auto"), UpdateTime: now + 2*sec}
	if diff := cmp.Diff(want, s.Desired); diff != "" {
		t.Errorf("Desired (-want +got):\n%s", diff)
	}
	if s.Version != 3 {
		t.Errorf("Version = %d, want 3", s.Version)
	}
}

func TestDecideUnknownCommand(t *testing.T) {
	s := NewState(testSpec(t))
	for _, cmd := range []any{nil, "stop", 42, (*ApplyTelemetry)(nil), (*SetDesired)(nil), (*SetConnectivity)(nil)} {
		if _, err := s.Decide(cmd, now); !errors.Is(err, ErrUnknownCommand) {
			t.Errorf("Decide(%#v) error = %v, want ErrUnknownCommand", cmd, err)
		}
	}
}

func TestVersionCountsEvents(t *testing.T) {
	s := NewState(testSpec(t))
	events := []Event{
		TelemetryApplied{ServerTime: now},
		ConnectivityChanged{Connectivity: ConnectivityOnline, Time: now},
		ConnectivityChanged{Connectivity: ConnectivityOnline, Time: now}, // no-op, still counted
		DesiredSet{Property: pSetpoint, Value: Double(1), Time: now},
		&DesiredSet{Property: 99, Value: Double(1), Time: now}, // out of range, still counted
	}
	for i, ev := range events {
		s.Apply(ev)
		if s.Version != int64(i+1) {
			t.Errorf("after event %d Version = %d, want %d", i, s.Version, i+1)
		}
	}
}

// TestDeterminism drives a state with a scripted run of commands, then
// replays its events on two fresh states: all three must be equal.
func TestDeterminism(t *testing.T) {
	spec := testSpec(t)
	live := NewState(spec)
	var log []Event
	at := now
	for i := range 200 {
		at += sec
		var cmd any
		switch i % 5 {
		case 0, 1:
			cmd = telemetry(
				Sample{Property: "power", Value: Double(float64(i * 10 % 6000)), SourceTime: at - int64(i%7)*sec},
				Sample{Property: "state", Value: String([]string{"running", "stopped", "fault", "bogus"}[i%4])},
				Sample{Property: "blade_count", Value: Int(int64(i % 7)), SourceTime: at - int64(i%3)*10*sec},
			)
		case 2:
			cmd = SetConnectivity{Connectivity: Connectivity(i % 3)}
		case 3:
			cmd = SetDesired{Property: "setpoint", Value: Int(int64(i)), ExpectedVersion: live.Version}
		case 4:
			cmd = telemetry(Sample{Property: "online", Value: Bool(i%2 == 0), SourceTime: at + int64(i)*sec})
		}
		d, err := live.Decide(cmd, at)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		for _, ev := range d.Events {
			live.Apply(ev)
			log = append(log, ev)
		}
	}
	a, b := NewState(spec), NewState(spec)
	for _, ev := range log {
		a.Apply(ev)
		b.Apply(ev)
	}
	if diff := cmp.Diff(a, b, ignoreSpec); diff != "" {
		t.Errorf("replays differ (-a +b):\n%s", diff)
	}
	if diff := cmp.Diff(live, a, ignoreSpec); diff != "" {
		t.Errorf("replay differs from live state (-live +replay):\n%s", diff)
	}
	if live.Version != int64(len(log)) || live.Version < 100 {
		t.Errorf("Version = %d, events = %d", live.Version, len(log))
	}
}

// TestHandBuiltModel checks that a Model not built by ParseConfig works.
func TestHandBuiltModel(t *testing.T) {
	m := &Model{Name: "m", Properties: []Property{{Name: "a", Type: TypeInt}, {Name: "b", Type: TypeBool, Writable: true}}}
	s := NewState(&Spec{ID: "x", ModelName: "m", Model: m})
	d := decideApply(t, s, telemetry(Sample{Property: "b", Value: Bool(true), SourceTime: now}), now)
	want := Decision{Events: applied(AppliedSample{Property: 1, Value: Bool(true), SourceTime: now, Quality: QualityGood})}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("Decide (-want +got):\n%s", diff)
	}
	if p, ok := m.Property("b"); !ok || p.Name != "b" {
		t.Errorf("Property(b) = %v, %v", p, ok)
	}
	if _, ok := m.Command("stop"); ok {
		t.Error("Command(stop) found")
	}
}

func BenchmarkDecideApply(b *testing.B) {
	const cfg = `
models:
  - name: m
    properties:
      - {name: p0, type: double, unit: kW, min: 0, max: 5000}
      - {name: p1, type: double}
      - {name: p2, type: double}
      - {name: p3, type: int, min: 0, max: 100}
      - {name: p4, type: int}
      - {name: p5, type: bool}
      - {name: p6, type: bool}
      - {name: p7, type: enum, values: [running, stopped, fault]}
      - {name: p8, type: string}
      - {name: p9, type: double}
twins:
  - {id: t, model: m}
`
	c, err := ParseConfig("bench.yaml", []byte(cfg))
	if err != nil {
		b.Fatal(err)
	}
	spec, _ := c.Twin("t")
	all := []Sample{
		{Property: "p0", Value: Double(1200.5)},
		{Property: "p1", Value: Double(1)},
		{Property: "p2", Value: Int(2)},
		{Property: "p3", Value: Int(42)},
		{Property: "p4", Value: Int(-4)},
		{Property: "p5", Value: Bool(true)},
		{Property: "p6", Value: Bool(false)},
		{Property: "p7", Value: Enum("running")},
		{Property: "p8", Value: String("SN-1")},
		{Property: "p9", Value: Double(9.5)},
	}
	for _, n := range []int{1, 10} {
		b.Run("samples="+strconv.Itoa(n), func(b *testing.B) {
			s := NewState(spec)
			cmd := ApplyTelemetry{Samples: all[:n], Policy: DefaultIngestPolicy()}
			at := now
			b.ReportAllocs()
			for b.Loop() {
				at += sec
				for i := range cmd.Samples {
					cmd.Samples[i].SourceTime = at
				}
				d, err := s.Decide(cmd, at)
				if err != nil || len(d.Events) != 1 {
					b.Fatalf("Decide = %v, %v", d, err)
				}
				s.Apply(d.Events[0])
			}
		})
	}
}

func TestExpandTemplate(t *testing.T) {
	got, err := ExpandTemplate("turbine-{008..011}")
	if err != nil {
		t.Fatal(err)
	}
	want := []Expansion{{"turbine-008", "008"}, {"turbine-009", "009"}, {"turbine-010", "010"}, {"turbine-011", "011"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if got, err := ExpandTemplate("plc-1"); err != nil || len(got) != 1 || got[0] != (Expansion{ID: "plc-1"}) {
		t.Fatalf("plain id: %v %v", got, err)
	}
	for _, bad := range []string{"x-{5..1}", "x-{1..2}-{3..4}", "", "x-{a..b}"} {
		if _, err := ExpandTemplate(bad); err == nil {
			t.Errorf("ExpandTemplate(%q) accepted", bad)
		}
	}
}
