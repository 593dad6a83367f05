package scenario

import (
	"errors"
	"io/fs"
	"math"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/twins"
)

// testPlant is a plant for the tests: twins p1 and p2 of model press.
const testPlant = `models:
  - name: press
    properties:
      - {name: temp, type: double}
      - {name: speed, type: int}
      - {name: running, type: bool}
      - {name: mode, type: enum, values: [a, b]}
      - {name: sp, type: double, writable: true}
    commands: [{name: stop}]
    rules:
      - {name: overheat, when: temp > 90.0}
twins:
  - {id: "p{1..2}", model: press}
`

// testFS holds the files the test scenarios name.
var testFS = fstest.MapFS{
	"plant.yaml":   {Data: []byte(testPlant)},
	"broken.yaml":  {Data: []byte("models:\n  - name: m\n    propertes: []\n")},
	"flow.csv":     {Data: []byte("t,flow,other\n0,10,1\n60,12.5,2\n120,11,3\n")},
	"flow-01.csv":  {Data: []byte("t,flow\n0,1\n")},
	"flow-02.csv":  {Data: []byte("t,flow\n0,2\n")},
	"rfc.csv":      {Data: []byte("# recorded on site\nwhen,flow\n2024-03-01T08:00:00Z,1\n2024-03-01T08:01:30Z,4\n")},
	"badnum.csv":   {Data: []byte("t,flow\n0,1\n2,x\n")},
	"dec.csv":      {Data: []byte("t,flow\n0,1\n2,2\n1,3\n")},
	"fields.csv":   {Data: []byte("t,flow\n0,1\n2\n")},
	"empty.csv":    {Data: []byte("")},
	"header.csv":   {Data: []byte("t,flow\n")},
	"badtime.csv":  {Data: []byte("t,flow\nsoon,1\n")},
	"mixed.csv":    {Data: []byte("t,flow\n2024-03-01T08:00:00Z,1\n5,2\n")},
	"sub/s.csv":    {Data: []byte("t,v\n0,7\n")},
	"sub/pl.yaml":  {Data: []byte(testPlant)},
	"negtime.csv":  {Data: []byte("t,flow\n-1,1\n")},
	"timeonly.csv": {Data: []byte("flow\n1\n")},
}

func parseTest(t *testing.T, src string) *Scenario {
	t.Helper()
	sc, err := ParseFS(testFS, "s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestParse(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		sc := parseTest(t, "name: s\nduration: 1m\ndevices:\n  - {name: d, points: {a: {signal: {constant: 1}}}}\n")
		d, ok := sc.Device("d")
		if !ok || sc.Tick != time.Second || sc.Seed != 0 || sc.Plant != nil || d.Twin != "d" || d.Expose != ExposeDirect || d.N != "" {
			t.Errorf("got %+v, device %+v", sc, d)
		}
		if pt := d.Points[0]; pt.Type != twins.TypeDouble || pt.Address != nil || pt.Signal != (Constant{Value: 1}) {
			t.Errorf("point %+v", pt)
		}
	})
	t.Run("templates", func(t *testing.T) {
		sc := parseTest(t, `name: s
duration: 1m
devices:
  - name: m-{01..02}
    twin: twin-{n}
    expose: modbus
    points:
      flow:
        signal: {csv: {file: "flow-{n}.csv", column: flow}}
        address: {table: holding, address: 4, unit: "{n}", list: [1, "u{n}", true, 2.5, null]}
      other: {signal: {constant: 3}}
faults:
  - {at: 10s, device: "m-{01..02}", point: flow, stuck: {}}
`)
		var got [][3]string
		for _, d := range sc.Devices {
			got = append(got, [3]string{d.Name, d.Twin, d.N})
			if v := d.Points[0].Signal.At(0, nil); v != map[string]float64{"01": 1, "02": 2}[d.N] {
				t.Errorf("%s: flow %g", d.Name, v)
			}
			want := map[string]any{"table": "holding", "address": int64(4), "unit": d.N, "list": []any{int64(1), "u" + d.N, true, 2.5, nil}}
			if diff := cmp.Diff(want, d.Points[0].Address); diff != "" {
				t.Errorf("%s address (-want +got):\n%s", d.Name, diff)
			}
		}
		if diff := cmp.Diff([][3]string{{"m-01", "twin-01", "01"}, {"m-02", "twin-02", "02"}}, got); diff != "" {
			t.Errorf("devices (-want +got):\n%s", diff)
		}
		if sc.Devices[0].Points[1] != sc.Devices[1].Points[1] {
			t.Error("points without {n} are not shared")
		}
		if len(sc.Faults) != 2 || sc.Faults[0].Device != "m-01" || sc.Faults[1].Device != "m-02" || sc.Faults[1].Kind != FaultStuck || sc.Faults[1].For != 0 {
			t.Errorf("faults %+v", sc.Faults)
		}
	})
	t.Run("types from the plant", func(t *testing.T) {
		sc := parseTest(t, `name: s
duration: 1m
plant: plant.yaml
devices:
  - name: "p{1..2}"
    points:
      temp: {signal: {constant: 1}}
      speed: {signal: {constant: 1}}
      running: {signal: {constant: true}}
      sp: {signal: {constant: 1}, type: int}
`)
		var types []string
		for _, pt := range sc.Devices[1].Points {
			types = append(types, pt.Type.String())
		}
		if diff := cmp.Diff([]string{"double", "int", "bool", "int"}, types); diff != "" {
			t.Errorf("types (-want +got):\n%s", diff)
		}
	})
	t.Run("signals", func(t *testing.T) {
		sc := parseTest(t, `name: s
duration: 10m
devices:
  - name: d
    points:
      a: {signal: {sine: {amplitude: 2, period: 1m, phase: -15s}}}
      b: {signal: {square: {low: 1, high: 2, period: 10s}}}
      c: {signal: {random_walk: {start: 1, step: 0.5, max: 3}}}
      e: {signal: {csv: {file: rfc.csv, column: flow, time: when, interpolate: step}}}
      f: {signal: {expr: "a > 1.0"}}
      g: {signal: {step: {before: 0, after: 1, at: 0}}}
`)
		d := sc.Devices[0]
		want := []Signal{
			Sine{Amplitude: 2, Period: time.Minute, Phase: -15 * time.Second},
			Square{Low: 1, High: 2, Period: 10 * time.Second, Duty: 0.5},
			RandomWalk{Start: 1, Step: 0.5, Min: math.Inf(-1), Max: 3},
			&CSV{File: "rfc.csv", Column: "flow", Interpolate: InterpolateStep, Times: []time.Duration{0, 90 * time.Second}, Values: []float64{1, 4}},
		}
		for i, w := range want {
			if diff := cmp.Diff(w, d.Points[i].Signal, cmp.AllowUnexported(CSV{})); diff != "" {
				t.Errorf("%s (-want +got):\n%s", d.Points[i].Name, diff)
			}
		}
		if e := d.Points[4].Signal.(*Expr); e.Source != "a > 1.0" || !cmp.Equal(e.Deps, []string{"a"}) {
			t.Errorf("expr %+v", e)
		}
	})
	t.Run("reactions", func(t *testing.T) {
		sc := parseTest(t, `name: s
duration: 10m
devices:
  - name: d
    points:
      speed: {signal: {constant: 30}}
      temp: {signal: {constant: 60}}
      level: {signal: {constant: 0}}
    reacts:
      stop: {set: {speed: {ramp: {to: 0, over: 5s}}, temp: {decay: {to: 25, tau: 30s}}, level: 3}}
      start: {set: {speed: {ramp: {over: 5s}}}}
      sp: {lag: {point: level, tau: 10s}}
`)
		d := sc.Devices[0]
		stop, _ := d.Reaction("stop")
		want := &Reaction{Name: "stop", Set: []Transition{
			{Point: "speed", Kind: TransitionRamp, To: 0, Over: 5 * time.Second},
			{Point: "temp", Kind: TransitionDecay, To: 25, Tau: 30 * time.Second},
			{Point: "level", Kind: TransitionJump, To: 3},
		}}
		if diff := cmp.Diff(want, stop); diff != "" {
			t.Errorf("stop (-want +got):\n%s", diff)
		}
		start, _ := d.Reaction("start")
		if !start.Set[0].ToSignal {
			t.Error("ramp without to does not go back to the signal")
		}
		sp, _ := d.Reaction("sp")
		if diff := cmp.Diff(&Lag{Point: "level", Tau: 10 * time.Second}, sp.Lag); diff != "" {
			t.Errorf("lag (-want +got):\n%s", diff)
		}
	})
	t.Run("expectations", func(t *testing.T) {
		sc := parseTest(t, `name: s
duration: 10m
plant: plant.yaml
devices:
  - {name: p1, points: {temp: {signal: {constant: 1}}}}
expect:
  - {name: a, twin: p1, alarm: overheat, raised_within: [1m, 1m30s]}
  - {name: b, twin: p2, command: stop, status: timed_out, dispatched_within: [0, 10m]}
  - {name: c, twin: p1, property: temp, within: [-1, 1.5]}
  - {name: d, twin: p2, at_end: {running: false, speed: 3, temp: 2, mode: b, sp: 1.5}}
`)
		want := []*Expectation{
			{Name: "a", Kind: ExpectAlarm, Twin: "p1", Alarm: "overheat", RaisedWithin: &Interval{time.Minute, 90 * time.Second}, Line: 7},
			{Name: "b", Kind: ExpectCommand, Twin: "p2", Command: "stop", Status: twins.CommandTimedOut, DispatchedWithin: &Interval{0, 10 * time.Minute}, Line: 8},
			{Name: "c", Kind: ExpectBounds, Twin: "p1", Property: "temp", Min: -1, Max: 1.5, Line: 9},
			{Name: "d", Kind: ExpectEndState, Twin: "p2", Line: 10, AtEnd: map[string]twins.Value{
				"running": twins.Bool(false), "speed": twins.Int(3), "temp": twins.Double(2), "mode": twins.Enum("b"), "sp": twins.Double(1.5)}},
		}
		if diff := cmp.Diff(want, sc.Expect, cmp.Comparer(func(a, b twins.Value) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("expectations (-want +got):\n%s", diff)
		}
	})
	t.Run("inline plant", func(t *testing.T) {
		sc := parseTest(t, "name: s\nduration: 1m\nplant:\n"+indent(testPlant, "  ")+"devices:\n  - {name: p1, points: {speed: {signal: {constant: 1}}}}\n")
		if sc.Plant == nil || sc.PlantFile != "" || sc.Devices[0].Points[0].Type != twins.TypeInt {
			t.Errorf("plant %v, file %q", sc.Plant, sc.PlantFile)
		}
	})
	t.Run("files relative to the scenario", func(t *testing.T) {
		sc, err := ParseFS(testFS, "sub/s.yaml", []byte("name: s\nduration: 1m\nplant: pl.yaml\ndevices:\n  - {name: p1, points: {temp: {signal: {csv: {file: s.csv, column: v}}}}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if sc.PlantFile != "sub/pl.yaml" || sc.Devices[0].Points[0].Signal.At(0, nil) != 7 {
			t.Errorf("plant file %q", sc.PlantFile)
		}
	})
	t.Run("anchors and aliases", func(t *testing.T) {
		sc := parseTest(t, "name: s\nduration: 1m\ndevices:\n  - {name: a, points: &pts {x: {signal: &sig {constant: 2}}, y: {signal: *sig}}}\n  - {name: b, points: *pts}\n")
		if len(sc.Devices) != 2 || sc.Devices[1].Points[1].Signal != (Constant{Value: 2}) {
			t.Errorf("devices %+v", sc.Devices)
		}
	})
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// base is a valid scenario the error cases extend: lines 1 to 8.
const base = `name: s
duration: 10m
tick: 1s
devices:
  - name: d{1..2}
    points:
      temp: {signal: {sine: {mean: 60, amplitude: 5, period: 2m}}}
      speed: {signal: {constant: 30}}
`

// withPlant is base with the plant: lines 1 to 9.
const withPlant = `name: s
duration: 10m
plant: plant.yaml
devices:
  - name: d{1..2}
    twin: p{n}
    points:
      temp: {signal: {sine: {mean: 60, amplitude: 5, period: 2m}}}
      speed: {signal: {constant: 30}}
`

// errorCases are bad scenarios and the errors they give, whole lines.
var errorCases = []struct {
	name string
	yaml string
	want []string
}{
	// The document.
	{"empty", "", []string{"bad.yaml:1:1: empty scenario: want a mapping with name, duration and devices"}},
	{"only a comment", "# nothing\n", []string{"bad.yaml:1:1: empty scenario: want a mapping with name, duration and devices"}},
	{"not a mapping", "- a\n", []string{"bad.yaml:1:1: want a mapping, got a list"}},
	{"yaml syntax", "name: s\ndevices:\n  - a\n  b: c\n", []string{"bad.yaml:2: invalid YAML: did not find expected '-' indicator"}},
	{"unknown top-level key", base + "durration: 1m\n", []string{`bad.yaml:9:1: durration: unknown field "durration" (did you mean "duration"?)`}},
	{"missing fields", "description: x\n", []string{
		`bad.yaml:1:1: name: missing required field "name"`,
		`bad.yaml:1:1: duration: missing required field "duration" (the simulated horizon, e.g. 10m)`,
		`bad.yaml:1:1: devices: missing required field "devices" (a scenario simulates at least one device)`,
	}},
	{"duration without unit", "name: s\nduration: 10\ndevices: []\n", []string{`bad.yaml:2:11: duration: invalid duration "10" (want a Go duration such as 30s, 5m or 1h30m)`}},
	{"negative tick", "name: s\nduration: 10m\ntick: -1s\ndevices: []\n", []string{"bad.yaml:3:7: tick: must be positive, got -1s"}},
	{"tick beyond duration", "name: s\nduration: 10m\ntick: 11m\ndevices: []\n", []string{"bad.yaml:3:7: tick: tick 11m is longer than the duration 10m"}},
	{"too many ticks", "name: s\nduration: 1000h\ntick: 1us\ndevices: []\n", []string{"bad.yaml:3:7: tick: 1000h of 1µs ticks is 3600000000000 ticks, more than the limit of 100000000"}},
	{"negative seed", "name: s\nseed: -1\nduration: 1m\ndevices: []\n", []string{`bad.yaml:2:7: seed: want an integer from 0 to 18446744073709551615, got "-1"`}},
	{"merge key", base + "    <<: {x: 1}\n", []string{`bad.yaml:9:5: devices[0].<<: merge keys (<<) are not supported`}},

	// Signals.
	{"unknown signal kind", base + "      x: {signal: {sinus: {}}}\n", []string{`bad.yaml:9:20: devices[0].points.x.signal.sinus: unknown kind "sinus" (did you mean "sine"?) (want constant, sine, ramp, square, step, sawtooth, random_walk, noise, csv, expr)`}},
	{"two signal kinds", base + "      x: {signal: {constant: 1, sine: {}}}\n", []string{`bad.yaml:9:33: devices[0].points.x.signal: want one of constant, sine, ramp, square, step, sawtooth, random_walk, noise, csv, expr, got both constant and sine`}},
	{"no signal kind", base + "      x: {signal: {}}\n", []string{`bad.yaml:9:19: devices[0].points.x.signal: want one signal kind (constant, sine, ramp, square, step, sawtooth, random_walk, noise, csv, expr), got an empty mapping`}},
	{"missing signal", base + "      x: {type: int}\n", []string{`bad.yaml:9:10: devices[0].points.x.signal: missing required field "signal" (e.g. {constant: 30} or {sine: {mean: 60, amplitude: 5, period: 2m}})`}},
	{"missing parameter", base + "      x: {signal: {sine: {amplitude: 1}}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.sine.period: missing required parameter "period"`}},
	{"misspelt parameter", base + "      x: {signal: {sine: {amplitude: 1, perod: 1s}}}\n", []string{`bad.yaml:9:41: devices[0].points.x.signal.sine.perod: unknown field "perod" (did you mean "period"?)`}},
	{"negative period", base + "      x: {signal: {sine: {amplitude: 1, period: -2m}}}\n", []string{"bad.yaml:9:49: devices[0].points.x.signal.sine.period: must be positive, got -2m"}},
	{"zero period", base + "      x: {signal: {sawtooth: {min: 0, max: 1, period: 0s}}}\n", []string{"bad.yaml:9:55: devices[0].points.x.signal.sawtooth.period: must be positive, got 0s"}},
	{"bad duration", base + "      x: {signal: {ramp: {from: 0, to: 1, over: 5 minutes}}}\n", []string{`bad.yaml:9:49: devices[0].points.x.signal.ramp.over: invalid duration "5 minutes" (want a Go duration such as 30s, 5m or 1h30m)`}},
	{"not a number", base + "      x: {signal: {constant: high}}\n", []string{`bad.yaml:9:30: devices[0].points.x.signal.constant: want a number, got "high"`}},
	{"infinite number", base + "      x: {signal: {constant: .inf}}\n", []string{`bad.yaml:9:30: devices[0].points.x.signal.constant: want a finite number, got ".inf"`}},
	{"duty above 1", base + "      x: {signal: {square: {low: 0, high: 1, period: 1s, duty: 1.5}}}\n", []string{"bad.yaml:9:64: devices[0].points.x.signal.square.duty: duty 1.5 is outside (0, 1): the fraction of each period at high"}},
	{"duty 0", base + "      x: {signal: {square: {low: 0, high: 1, period: 1s, duty: 0}}}\n", []string{"bad.yaml:9:64: devices[0].points.x.signal.square.duty: duty 0 is outside (0, 1): the fraction of each period at high"}},
	{"sawtooth min above max", base + "      x: {signal: {sawtooth: {min: 5, max: 1, period: 1s}}}\n", []string{"bad.yaml:9:44: devices[0].points.x.signal.sawtooth.max: max 1 is below min 5"}},
	{"negative walk step", base + "      x: {signal: {random_walk: {start: 5, step: -1}}}\n", []string{"bad.yaml:9:50: devices[0].points.x.signal.random_walk.step: must not be negative, got -1"}},
	{"walk start outside bounds", base + "      x: {signal: {random_walk: {start: 5, step: 1, min: 0, max: 4}}}\n", []string{"bad.yaml:9:41: devices[0].points.x.signal.random_walk.start: start 5 is outside [min, max] = [0, 4]"}},
	{"negative stddev", base + "      x: {signal: {noise: {stddev: -1}}}\n", []string{"bad.yaml:9:36: devices[0].points.x.signal.noise.stddev: must not be negative, got -1"}},
	{"step beyond duration", base + "      x: {signal: {step: {before: 0, after: 1, at: 11m}}}\n", []string{"bad.yaml:9:52: devices[0].points.x.signal.step.at: 11m is beyond the scenario's duration 10m"}},
	{"csv unknown column", base + "      x: {signal: {csv: {file: flow.csv, column: flw}}}\n", []string{`bad.yaml:9:25: devices[0].points.x.signal.csv.column: CSV file "flow.csv" has no column "flw" (did you mean "flow"?)`}},
	{"csv unknown time column", base + "      x: {signal: {csv: {file: flow.csv, column: flow, time: tme}}}\n", []string{`bad.yaml:9:25: devices[0].points.x.signal.csv.time: CSV file "flow.csv" has no column "tme"`}},
	{"csv column is time", base + "      x: {signal: {csv: {file: flow.csv, column: t}}}\n", []string{`bad.yaml:9:25: devices[0].points.x.signal.csv.column: column "t" is the file's time column`}},
	{"csv unknown interpolation", base + "      x: {signal: {csv: {file: flow.csv, column: flow, interpolate: linaer}}}\n", []string{`bad.yaml:9:69: devices[0].points.x.signal.csv.interpolate: unknown interpolation "linaer" (did you mean "linear"?) (want linear or step)`}},
	{"csv missing file", base + "      x: {signal: {csv: {file: nope.csv, column: flow}}}\n", []string{`bad.yaml:9:32: devices[0].points.x.signal.csv.file: cannot read CSV file "nope.csv": open nope.csv: file does not exist`}},
	{"csv outside", base + "      x: {signal: {csv: {file: ../x.csv, column: flow}}}\n", []string{`bad.yaml:9:32: devices[0].points.x.signal.csv.file: cannot read CSV file "../x.csv": "../x.csv" is outside the scenario's file system`}},
	{"csv bad number", base + "      x: {signal: {csv: {file: badnum.csv, column: flow}}}\n", []string{`badnum.csv:3:3: column "flow": want a finite number, got "x"`}},
	{"csv decreasing time", base + "      x: {signal: {csv: {file: dec.csv, column: flow}}}\n", []string{`dec.csv:4:1: time "1" is not after the previous row's (times must increase)`}},
	{"csv short row", base + "      x: {signal: {csv: {file: fields.csv, column: flow}}}\n", []string{`fields.csv:3:1: invalid CSV: wrong number of fields`}},
	{"csv empty", base + "      x: {signal: {csv: {file: empty.csv, column: flow}}}\n", []string{`bad.yaml:9:32: devices[0].points.x.signal.csv.file: CSV file "empty.csv" is empty (want a header row, then rows)`}},
	{"csv no rows", base + "      x: {signal: {csv: {file: header.csv, column: flow}}}\n", []string{`bad.yaml:9:32: devices[0].points.x.signal.csv.file: CSV file "header.csv" has no rows after its header`}},
	{"csv bad time", base + "      x: {signal: {csv: {file: badtime.csv, column: flow}}}\n", []string{`badtime.csv:2:1: invalid time "soon" (want seconds from the start or an RFC 3339 time)`}},
	{"csv negative time", base + "      x: {signal: {csv: {file: negtime.csv, column: flow}}}\n", []string{`negtime.csv:2:1: time "-1": want seconds from the start, from 0 to about 292 years`}},
	{"csv mixed times", base + "      x: {signal: {csv: {file: mixed.csv, column: flow}}}\n", []string{`mixed.csv:3:1: time "5": want an RFC 3339 time like the first row's`}},
	{"csv {n} without range", "name: s\nduration: 1m\ndevices:\n  - {name: d, points: {x: {signal: {csv: {file: \"f{n}.csv\", column: a}}}}}\n", []string{`bad.yaml:4:24: devices[0].points.x: {n} is only allowed when the device's name has a {A..B} range`}},
	{"csv {n} file missing", "name: s\nduration: 1m\ndevices:\n  - {name: \"d{1..3}\", points: {x: {signal: {csv: {file: \"flow-0{n}.csv\", column: flow}}}}}\n", []string{`bad.yaml:4:57: devices[0].points.x.signal.csv.file: cannot read CSV file "flow-03.csv": open flow-03.csv: file does not exist`}},

	// Expressions.
	{"expr unknown point", base + "      x: {signal: {expr: \"spede * 2.0\"}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.expr: line 1, column 1: undeclared reference to 'spede' (did you mean "speed"?)`}},
	{"expr int and double", base + "      x: {signal: {expr: \"speed * 2\"}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.expr: line 1, column 7: found no matching overload for '_*_' applied to '(double, int)' (CEL does not mix int and double in arithmetic: write 2.0 rather than 2, or convert with double(x))`}},
	{"expr cycle", base + "      x: {signal: {expr: \"y * 2.0\"}}\n      y: {signal: {expr: \"z + 1.0\"}}\n      z: {signal: {expr: \"x - temp\"}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.expr: expression cycle: x -> y -> z -> x`}},
	{"expr reads itself", base + "      x: {signal: {expr: \"x + 1.0\"}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.expr: the expression of x reads x itself`}},
	{"expr gives a string", base + "      x: {signal: {expr: \"'a'\"}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.expr: an expression must give a number or a bool, not string`}},
	{"expr syntax", base + "      x: {signal: {expr: \"speed +\"}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.expr: line 1, column 8: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`}},
	{"expr empty", base + "      x: {signal: {expr: \" \"}}\n", []string{`bad.yaml:9:26: devices[0].points.x.signal.expr: empty expression`}},

	// Devices and points.
	{"invalid point name", base + "      Temp: {signal: {constant: 1}}\n", []string{`bad.yaml:9:7: devices[0].points.Temp: invalid point name "Temp" (want lowercase letters, digits and _, starting with a letter)`}},
	{"duplicate point", base + "      temp: {signal: {constant: 1}}\n", []string{`bad.yaml:9:7: devices[0].points.temp: duplicate key "temp" (first at line 7)`}},
	{"no points", "name: s\nduration: 1m\ndevices:\n  - {name: d, points: {}}\n", []string{`bad.yaml:4:23: devices[0].points: a device produces at least one point`}},
	{"missing points", "name: s\nduration: 1m\ndevices:\n  - {name: d}\n", []string{`bad.yaml:4:5: devices[0].points: missing required field "points" (a device produces at least one point)`}},
	{"unknown exposure", base + "    expose: opc\n", []string{`bad.yaml:9:13: devices[0].expose: unknown exposure "opc" (did you mean "opcua"?) (want direct, opcua, modbus or mqtt)`}},
	{"unknown point type", base + "      a: {signal: {constant: 1}, type: float}\n", []string{`bad.yaml:9:40: devices[0].points.a.type: unknown point type "float" (want double, int or bool)`}},
	{"duplicate device", base + "  - name: d2\n    points: {a: {signal: {constant: 1}}}\n", []string{`bad.yaml:9:11: devices[1].name: duplicate device "d2" (first declared at line 5)`}},
	{"template range reversed", base + "  - name: d{3..1}\n    points: {a: {signal: {constant: 1}}}\n", []string{`bad.yaml:9:11: devices[1].name: invalid template range {3..1}: 3 is above 1`}},
	{"template range bad", base + "  - name: d{a..b}\n    points: {a: {signal: {constant: 1}}}\n", []string{`bad.yaml:9:11: devices[1].name: invalid template range "{a..b}" in "d{a..b}" (want {A..B} with decimal A <= B, e.g. {001..500})`}},
	{"template too large", base + "  - name: x{1..200000}\n    points: {a: {signal: {constant: 1}}}\n", []string{`bad.yaml:9:11: devices[1].name: "x{1..200000}" expands to 200000 devices, more than the limit of 99998 left`}},
	{"invalid device name", base + "  - name: \"bad name\"\n    points: {a: {signal: {constant: 1}}}\n", []string{`bad.yaml:9:11: devices[1].name: invalid device name "bad name" (want 1 to 128 letters, digits and . _ : / -, starting with a letter or digit)`}},
	{"{n} without range", base + "  - name: x\n    twin: y{n}\n    points: {a: {signal: {constant: 1}}}\n", []string{`bad.yaml:10:11: devices[1].twin: {n} is only allowed when the name has a {A..B} range`}},
	{"range in twin", base + "  - name: x{1..2}\n    twin: \"y{1..2}\"\n    points: {a: {signal: {constant: 1}}}\n", []string{`bad.yaml:10:11: devices[1].twin: twin "y{1..2}" is one twin: the {A..B} range goes in the name, {n} in the twin`}},
	{"address on a direct device", base + "  - name: x\n    points: {a: {signal: {constant: 1}, address: {node_id: x}}}\n", []string{`bad.yaml:10:41: devices[1].points.a.address: a direct device's points take no address (addresses are for opcua, modbus and mqtt devices)`}},
	{"address not a mapping", base + "  - name: x\n    expose: opcua\n    points: {a: {signal: {constant: 1}, address: 5}}\n", []string{`bad.yaml:11:50: devices[1].points.a.address: want a mapping (for opcua, e.g. {node_id: "ns=2;s=Press1.Temperature"}), got "5"`}},

	// Reactions.
	{"reaction to unknown point", base + "    reacts:\n      stop: {set: {sped: 0}}\n", []string{`bad.yaml:10:20: devices[0].reacts.stop.set.sped: device has no point "sped" (did you mean "speed"?)`}},
	{"empty reaction", base + "    reacts:\n      stop: {}\n", []string{`bad.yaml:10:13: devices[0].reacts.stop: a reaction needs set (points to move) or lag (a point following the written value)`}},
	{"lag of unknown point", base + "    reacts:\n      sp: {lag: {point: x, tau: 1s}}\n", []string{`bad.yaml:10:25: devices[0].reacts.sp.lag.point: device has no point "x"`}},
	{"ramp without over", base + "    reacts:\n      stop: {set: {speed: {ramp: {to: 0}}}}\n", []string{`bad.yaml:10:34: devices[0].reacts.stop.set.speed.ramp.over: missing required parameter "over"`}},
	{"negative tau", base + "    reacts:\n      stop: {set: {speed: {decay: {to: 0, tau: -1s}}}}\n", []string{`bad.yaml:10:48: devices[0].reacts.stop.set.speed.decay.tau: must be positive, got -1s`}},
	{"unknown transition", base + "    reacts:\n      stop: {set: {speed: {hold: 1}}}\n", []string{`bad.yaml:10:28: devices[0].reacts.stop.set.speed.hold: unknown kind "hold" (want ramp, decay)`}},
	{"invalid reaction name", base + "    reacts:\n      Stop: {set: {speed: 0}}\n", []string{`bad.yaml:10:7: devices[0].reacts.Stop: invalid command or point name "Stop" (want lowercase letters, digits and _, starting with a letter)`}},

	// Faults.
	{"fault on unknown device", base + "faults:\n  - {at: 1m, device: d3, point: temp, spike: {value: 1}}\n", []string{`bad.yaml:10:22: faults[0].device: unknown device "d3" (did you mean "d1"?)`}},
	{"fault on unknown point", base + "faults:\n  - {at: 1m, device: d1, point: tmp, spike: {value: 1}}\n", []string{`bad.yaml:10:33: faults[0].point: device d1 has no point "tmp" (did you mean "temp"?)`}},
	{"fault template", base + "faults:\n  - {at: 1m, device: \"d{1..4}\", dropout: {}}\n", []string{`bad.yaml:10:22: faults[0].device: unknown device "d3" (did you mean "d1"?) (and 1 more)`}},
	{"fault beyond duration", base + "faults:\n  - {at: 11m, device: d1, point: temp, spike: {value: 1}}\n", []string{`bad.yaml:10:10: faults[0].at: 11m is beyond the scenario's duration 10m`}},
	{"fault without kind", base + "faults:\n  - {at: 1m, device: d1, point: temp}\n", []string{`bad.yaml:10:5: faults[0]: a fault needs a kind: one of spike, drift, stuck, dropout, noise_burst, endpoint_down, latency`}},
	{"fault with two kinds", base + "faults:\n  - {at: 1m, device: d1, point: temp, spike: {value: 1}, stuck: {}}\n", []string{`bad.yaml:10:58: faults[0]: a fault has one kind, got both spike and stuck`}},
	{"misspelt fault kind", base + "faults:\n  - {at: 1m, device: d1, point: temp, spik: {}}\n", []string{`bad.yaml:10:39: faults[0].spik: unknown field "spik" (did you mean "spike"?)`}},
	{"fault needs a point", base + "faults:\n  - {at: 1m, device: d1, spike: {value: 1}}\n", []string{`bad.yaml:10:5: faults[0].point: missing required field "point" (spike is a fault of one point)`}},
	{"fault takes no point", base + "faults:\n  - {at: 1m, device: d1, point: temp, endpoint_down: {}}\n", []string{`bad.yaml:10:26: faults[0].point: endpoint_down affects the whole device: remove point`}},
	{"negative fault length", base + "faults:\n  - {at: 1m, device: d1, dropout: {for: -1s}}\n", []string{`bad.yaml:10:41: faults[0].dropout.for: must be positive, got -1s`}},
	{"fault without at", base + "faults:\n  - {device: d1, dropout: {}}\n", []string{`bad.yaml:10:5: faults[0].at: missing required field "at" (when the fault starts, e.g. 2m)`}},
	{"latency without add", base + "faults:\n  - {at: 1m, device: d1, latency: {}}\n", []string{`bad.yaml:10:35: faults[0].latency.add: missing required parameter "add"`}},
	{"negative noise burst", base + "faults:\n  - {at: 1m, device: d1, point: temp, noise_burst: {stddev: -2}}\n", []string{`bad.yaml:10:61: faults[0].noise_burst.stddev: must not be negative, got -2`}},

	// Expectations.
	{"duplicate expectation", base + "expect:\n  - {name: a, twin: d1, property: temp, within: [0, 1]}\n  - {name: a, twin: d1, property: temp, within: [0, 1]}\n", []string{`bad.yaml:11:12: expect[1].name: duplicate expectation "a" (first declared at line 10)`}},
	{"expectation on unknown twin", base + "expect:\n  - {name: a, twin: d3, property: temp, within: [0, 1]}\n", []string{`bad.yaml:10:21: expect[0].twin: no device feeds twin "d3" (did you mean "d1"?)`}},
	{"expectation on unknown point", base + "expect:\n  - {name: a, twin: d1, property: tmp, within: [0, 1]}\n", []string{`bad.yaml:10:35: expect[0].property: no device feeds property "tmp" of twin d1 (did you mean "temp"?)`}},
	{"bounds reversed", base + "expect:\n  - {name: a, twin: d1, property: temp, within: [2, 1]}\n", []string{`bad.yaml:10:49: expect[0].within: min 2 is above max 1`}},
	{"bounds not a pair", base + "expect:\n  - {name: a, twin: d1, property: temp, within: [2]}\n", []string{`bad.yaml:10:49: expect[0].within: want [MIN, MAX], two numbers, got a list`}},
	{"window beyond duration", base + "expect:\n  - {name: a, twin: d1, alarm: x, raised_within: [11m, 12m]}\n", []string{`bad.yaml:10:51: expect[0].raised_within[0]: 11m is beyond the scenario's duration 10m`}},
	{"window reversed", base + "expect:\n  - {name: a, twin: d1, alarm: x, raised_within: [2m, 1m]}\n", []string{`bad.yaml:10:50: expect[0].raised_within: from 2m is after to 1m`}},
	{"unknown status", base + "expect:\n  - {name: a, twin: d1, command: stop, status: succeded}\n", []string{`bad.yaml:10:48: expect[0].status: unknown status "succeded" (did you mean "succeeded"?) (want pending, dispatched, succeeded, failed, timed_out)`}},
	{"two checks", base + "expect:\n  - {name: a, twin: d1, command: stop, alarm: x}\n", []string{`bad.yaml:10:40: expect[0]: an expectation checks one thing, got both command and alarm`}},
	{"no check", base + "expect:\n  - {name: a, twin: d1}\n", []string{`bad.yaml:10:5: expect[0]: an expectation checks one of alarm, command, property or at_end`}},
	{"field of another check", base + "expect:\n  - {name: a, twin: d1, alarm: x, within: [1, 2]}\n", []string{`bad.yaml:10:35: expect[0].within: within is for property expectations, not alarm ones`}},
	{"bounds missing", base + "expect:\n  - {name: a, twin: d1, property: temp}\n", []string{`bad.yaml:10:5: expect[0].within: missing required field "within" (the bounds [MIN, MAX])`}},

	// With a plant.
	{"point not a property", withPlant + "      tmp: {signal: {constant: 1}}\n", []string{`bad.yaml:10:7: devices[0].points.tmp: model press of twin p1 has no property "tmp" (did you mean "temp"?) (a device's points are its twin's properties)`}},
	{"point of an enum", withPlant + "      mode: {signal: {constant: 1}}\n", []string{`bad.yaml:10:7: devices[0].points.mode: property mode of model press is an enum; signals give numbers and bools`}},
	{"point type mismatch", withPlant + "      running: {signal: {constant: 1}, type: double}\n", []string{`bad.yaml:10:46: devices[0].points.running.type: type double does not fit property running of model press, a bool`}},
	{"reaction not in model", withPlant + "    reacts:\n      stp: {set: {speed: 0}}\n", []string{`bad.yaml:11:7: devices[0].reacts.stp: model press has no command or property "stp" to react to (did you mean "stop"?)`}},
	{"twin not in plant", withPlant + "  - name: d3\n    points: {temp: {signal: {constant: 1}}}\n", []string{`bad.yaml:10:11: devices[1].name: twin "d3" is not in the plant (a device feeds the twin of its name unless twin: says otherwise)`}},
	{"templated twins not in plant", withPlant + "  - name: x{1..3}\n    twin: p{n}\n    points: {temp: {signal: {constant: 1}}}\n", []string{`bad.yaml:11:11: devices[1].twin: twin "p3" is not in the plant (did you mean "p1"?)`}},
	{"two devices feed one property", withPlant + "  - name: x\n    twin: p1\n    points: {temp: {signal: {constant: 1}}}\n", []string{`bad.yaml:10:11: devices[1].name: point temp of twin p1 is also fed by device d1: two devices cannot feed one property`}},
	{"expectation twin not in plant", withPlant + "expect:\n  - {name: a, twin: p3, alarm: overheat}\n", []string{`bad.yaml:11:21: expect[0].twin: twin "p3" is not in the plant (did you mean "p1"?)`}},
	{"alarm not a rule", withPlant + "expect:\n  - {name: a, twin: p1, alarm: overhaet}\n", []string{`bad.yaml:11:32: expect[0].alarm: model press of twin p1 has no rule "overhaet" (alarms are raised by rules) (did you mean "overheat"?)`}},
	{"command not in model", withPlant + "expect:\n  - {name: a, twin: p1, command: stpo}\n", []string{`bad.yaml:11:34: expect[0].command: model press of twin p1 has no command "stpo" (or write, a desired value written) (did you mean "stop"?)`}},
	{"property not in model", withPlant + "expect:\n  - {name: a, twin: p1, property: tmep, within: [0, 1]}\n", []string{`bad.yaml:11:35: expect[0].property: model press of twin p1 has no property "tmep" (did you mean "temp"?)`}},
	{"end values of the wrong type", withPlant + "expect:\n  - {name: a, twin: p1, at_end: {running: 1, mode: c, speed: 1.5, temp: x}}\n", []string{
		`bad.yaml:11:43: expect[0].at_end.running: want true or false, got "1"`,
		`bad.yaml:11:52: expect[0].at_end.mode: "c" is not a value of mode (want one of a, b)`,
		`bad.yaml:11:62: expect[0].at_end.speed: want an integer, got "1.5"`,
		`bad.yaml:11:73: expect[0].at_end.temp: want a number, got "x"`,
	}},
	{"plant file missing", strings.Replace(withPlant, "plant.yaml", "missing.yaml", 1), []string{`bad.yaml:3:8: plant: cannot read plant file "missing.yaml": open missing.yaml: file does not exist`}},
	{"plant file with errors", strings.Replace(withPlant, "plant.yaml", "broken.yaml", 1) + "expect:\n  - {name: a, twin: p1, alarm: overheat}\n", []string{`broken.yaml:3:5: models[0].propertes: unknown field "propertes" (did you mean "properties"?)`}},
	{"inline plant with errors", "name: s\nduration: 10m\nplant:\n  models:\n    - name: m\n      propertes: []\n  twins: []\ndevices:\n  - {name: d, points: {a: {signal: {constant: 1}}}}\n", []string{`bad.yaml:6:7: plant.models[0].propertes: unknown field "propertes" (did you mean "properties"?)`}},
	{"inline plant in a flow mapping", "{name: s, duration: 10m, plant: {models: [{name: m, propertes: []}]}, devices: [{name: d, points: {a: {signal: {constant: 1}}}}]}\n", []string{`bad.yaml:1:33: plant.models[0].propertes: unknown field "propertes" (did you mean "properties"?) (line 1 of the inline plant as re-encoded)`}},
	{"plant not a file or mapping", "name: s\nduration: 10m\nplant: [a]\ndevices:\n  - {name: d, points: {a: {signal: {constant: 1}}}}\n", []string{`bad.yaml:3:8: plant: want the plant's file name or its configuration inline (a mapping), got a list`}},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := ParseFS(testFS, "bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error; parsed %+v", sc)
			}
			if sc != nil {
				t.Error("a scenario was returned with the error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			checkLocated(t, err, "bad.yaml")
		})
	}
}

// checkLocated checks that every error is an *Error with a line.
func checkLocated(t *testing.T, err error, file string) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var se *Error
		if !errors.As(e, &se) {
			t.Fatalf("error %v (%T) is not an *Error", e, e)
		}
		if se.File == "" || (se.File == file && se.Line < 1 && !strings.HasPrefix(se.Msg, "too many errors")) {
			t.Fatalf("error %q is not located", se)
		}
	}
}

func TestParseTooManyErrors(t *testing.T) {
	src := "name: s\nduration: 1m\ndevices:\n" + strings.Repeat("  - {name: d, points: {a: {signal: {constnt: 1}}}}\n", 60)
	_, err := ParseFS(testFS, "bad.yaml", []byte(src))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[maxErrors] != "bad.yaml: too many errors (showing the first 50)" {
		t.Errorf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestParseAliasBomb(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
		"name: s\nduration: 1m\ndevices:\n  - {name: d, expose: opcua, points: {a: {signal: {constant: 1}, address: {x: [*d, *d, *d, *d, *d, *d, *d, *d, *d]}}}}\n"
	_, err := ParseFS(testFS, "bad.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("got %v, want excessive aliasing", err)
	}
}

func TestLoad(t *testing.T) {
	sc, err := Load("testdata/press-line.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.PlantFile != "testdata/plant.yaml" || len(sc.Devices) != 4 {
		t.Errorf("plant file %q, %d devices", sc.PlantFile, len(sc.Devices))
	}
	flow, _ := sc.Devices[0].Point("flow")
	if v := flow.Signal.At(30*time.Second, nil); v != 11.25 {
		t.Errorf("flow at 30s = %g, want 11.25", v)
	}
	if _, err := Load("testdata/missing.yaml"); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
	// Errors in files the scenario names come after its own, each by
	// position; files outside the scenario are named by their path.
	_, err = Parse("testdata/x.yaml", []byte(base+"      x: {signal: {csv: {file: missing.csv, column: a}}}\n"))
	if err == nil || !strings.HasPrefix(err.Error(), `testdata/x.yaml:9:32: devices[0].points.x.signal.csv.file: cannot read CSV file "missing.csv": open testdata/missing.csv:`) {
		t.Errorf("got %v", err)
	}
}
