package scenario

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/twins"
)

// delivered is a sample with the tick it arrived at.
type delivered struct {
	T time.Duration
	PointSample
}

// record runs sc with seed to the end and returns every sample and the
// devices offline at each tick.
func record(t testing.TB, sc *Scenario, seed uint64) ([]delivered, map[time.Duration][]string) {
	t.Helper()
	r := NewRun(sc, seed)
	var out []delivered
	offline := map[time.Duration][]string{}
	for {
		f, ok := r.Step()
		if !ok {
			break
		}
		for _, s := range f.Samples {
			out = append(out, delivered{f.T, s})
		}
		if len(f.Offline) > 0 {
			offline[f.T] = slices.Clone(f.Offline)
		}
	}
	return out, offline
}

// byPoint indexes samples by device, point and source time.
func byPoint(ss []delivered) map[string]delivered {
	m := make(map[string]delivered, len(ss))
	for _, s := range ss {
		m[fmt.Sprintf("%s/%s@%s", s.Device, s.Point, s.At)] = s
	}
	return m
}

// hashSamples is a fingerprint of samples: names, times, value bits and
// qualities.
func hashSamples(ss []delivered) uint64 {
	h := fnv.New64a()
	for _, s := range ss {
		fmt.Fprintf(h, "%d|%s|%s|%s|%d|%d|%x|%d\n", s.T, s.Device, s.Twin, s.Point, s.At, s.Value.Type(), math.Float64bits(s.Value.AsDouble()), s.Quality)
	}
	return h.Sum64()
}

// hashByPoint is hashSamples per device and point.
func hashByPoint(ss []delivered) map[string]uint64 {
	groups := map[string][]delivered{}
	for _, s := range ss {
		k := s.Device + "/" + s.Point
		groups[k] = append(groups[k], s)
	}
	out := make(map[string]uint64, len(groups))
	for k, g := range groups {
		out[k] = hashSamples(g)
	}
	return out
}

const determinismScenario = `name: determinism
duration: 1000s
tick: 100ms
devices:
  - name: d{1..2}
    points:
      temp: {signal: {sine: {mean: 60, amplitude: 5, period: 2m}}}
      speed: {signal: {constant: 30}}
      walk: {signal: {random_walk: {start: 50, step: 0.5, min: 0, max: 100}}}
      noisy: {signal: {noise: {mean: 20, stddev: 0.3}}}
      power: {signal: {expr: "speed * 2.5 + noisy"}}
      sq: {signal: {square: {low: 0, high: 1, period: 30s}}, type: bool}
  - name: e
    points:
      walk: {signal: {random_walk: {start: 0, step: 1}}}
      noisy: {signal: {noise: {stddev: 1}}}
faults:
  - {at: 100s, device: d1, point: noisy, noise_burst: {stddev: 5, for: 30s}}
  - {at: 200s, device: e, point: walk, stuck: {for: 10s}}
  - {at: 300s, device: d2, latency: {add: 250ms, for: 20s}}
`

// reordered is determinismScenario with its devices and points in
// another order, another device and another point.
const reordered = `name: reordered
duration: 1000s
tick: 100ms
devices:
  - name: extra
    points:
      noisy: {signal: {noise: {stddev: 1}}}
  - name: e
    points:
      noisy: {signal: {noise: {stddev: 1}}}
      walk: {signal: {random_walk: {start: 0, step: 1}}}
  - name: d{1..2}
    points:
      power: {signal: {expr: "speed * 2.5 + noisy"}}
      sq: {signal: {square: {low: 0, high: 1, period: 30s}}, type: bool}
      another: {signal: {noise: {stddev: 3}}}
      noisy: {signal: {noise: {mean: 20, stddev: 0.3}}}
      walk: {signal: {random_walk: {start: 50, step: 0.5, min: 0, max: 100}}}
      speed: {signal: {constant: 30}}
      temp: {signal: {sine: {mean: 60, amplitude: 5, period: 2m}}}
faults:
  - {at: 300s, device: d2, latency: {add: 250ms, for: 20s}}
  - {at: 50s, device: extra, point: noisy, noise_burst: {stddev: 5}}
  - {at: 200s, device: e, point: walk, stuck: {for: 10s}}
  - {at: 100s, device: d1, point: noisy, noise_burst: {stddev: 5, for: 30s}}
`

func TestDeterminism(t *testing.T) {
	sc := parseTest(t, determinismScenario)
	const seed = 42
	t.Logf("seed %d", seed)
	a, _ := record(t, sc, seed)
	b, _ := record(t, parseTest(t, determinismScenario), seed)
	if ticks := a[len(a)-1].T/sc.Tick + 1; ticks != 10_001 {
		t.Fatalf("%d ticks, want 10001", ticks)
	}
	if ha, hb := hashSamples(a), hashSamples(b); ha != hb {
		t.Fatalf("same seed: hashes %x and %x differ", ha, hb)
	}

	// Each point's sequence is the same whatever else the scenario has
	// and in whatever order.
	c, _ := record(t, parseTest(t, reordered), seed)
	ha, hc := hashByPoint(a), hashByPoint(c)
	for k, h := range ha {
		if hc[k] != h {
			t.Errorf("%s differs when the scenario is reordered", k)
		}
	}
	if len(hc) != len(ha)+3 {
		t.Errorf("reordered has %d points, want %d", len(hc), len(ha)+3)
	}

	// Another seed changes the random points, and only those.
	d, _ := record(t, sc, seed+1)
	hd := hashByPoint(d)
	for k, h := range ha {
		random := strings.HasSuffix(k, "/walk") || strings.HasSuffix(k, "/noisy") || strings.HasSuffix(k, "/power")
		if random && hd[k] == h {
			t.Errorf("%s is the same under another seed", k)
		}
		if !random && hd[k] != h {
			t.Errorf("%s changed under another seed", k)
		}
	}
}

func TestRunTicks(t *testing.T) {
	sc := parseTest(t, "name: s\nduration: 1s\ntick: 300ms\ndevices:\n  - {name: d, points: {a: {signal: {constant: 1}}}}\n")
	r := NewRun(sc, 0)
	var ts []time.Duration
	for !r.Done() {
		f, ok := r.Step()
		if !ok {
			t.Fatal("Step stopped before Done")
		}
		ts = append(ts, f.T)
		if r.Now() != f.T {
			t.Errorf("Now() = %s after the tick at %s", r.Now(), f.T)
		}
	}
	if diff := cmp.Diff([]time.Duration{0, 300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond}, ts); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
	if _, ok := r.Step(); ok {
		t.Error("Step after the end")
	}
}

// faultBase is the scenario the fault cases add one fault to.
const faultBase = `name: faults
duration: 10m
tick: 100ms
devices:
  - name: d{1..2}
    points:
      temp: {signal: {sine: {mean: 60, amplitude: 5, period: 2m}}}
      speed: {signal: {noise: {mean: 30, stddev: 1}}}
      power: {signal: {expr: "speed * 2.5"}}
faults:
`

func TestFaults(t *testing.T) {
	const seed = 3
	base, _ := record(t, parseTest(t, faultBase), seed)
	baseBy := byPoint(base)
	tests := []struct {
		name        string
		fault       string
		from, to    time.Duration                           // the window
		dev, point  string                                  // affected ("" point: the whole device)
		check       func(t *testing.T, base, got delivered) // in the window
		missing     bool                                    // no samples in the window
		offline     bool
		delayedUpTo time.Duration // latency: how late samples may arrive after the window
	}{
		{
			name: "spike", fault: "{at: 2m, device: d2, point: temp, spike: {value: 120, for: 10s}}",
			from: 2 * time.Minute, to: 2*time.Minute + 10*time.Second, dev: "d2", point: "temp",
			check: func(t *testing.T, _, got delivered) {
				if v := got.Value.AsDouble(); v != 120 {
					t.Errorf("%s at %s = %g, want 120", got.Point, got.At, v)
				}
			},
		},
		{
			name: "spike on a point an expression reads", fault: "{at: 2m, device: d1, point: speed, spike: {value: 1000, for: 10s}}",
			from: 2 * time.Minute, to: 2*time.Minute + 10*time.Second, dev: "d1", point: "speed",
			check: func(t *testing.T, _, got delivered) {
				if got.Value.AsDouble() != 1000 {
					t.Errorf("speed at %s = %s", got.At, got.Value)
				}
			},
		},
		{
			name: "drift", fault: "{at: 3m, device: d1, point: temp, drift: {rate: 0.5, per: 1s, for: 1m}}",
			from: 3 * time.Minute, to: 4 * time.Minute, dev: "d1", point: "temp",
			check: func(t *testing.T, base, got delivered) {
				want := base.Value.AsDouble() + 0.5*(got.At-3*time.Minute).Seconds()
				if v := got.Value.AsDouble(); math.Abs(v-want) > 1e-9 {
					t.Errorf("temp at %s = %g, want %g", got.At, v, want)
				}
			},
		},
		{
			name: "stuck", fault: "{at: 4m, device: d2, point: temp, stuck: {for: 30s}}",
			from: 4 * time.Minute, to: 4*time.Minute + 30*time.Second, dev: "d2", point: "temp",
			check: func(t *testing.T, _, got delivered) {
				before := baseBy[fmt.Sprintf("d2/temp@%s", 4*time.Minute-100*time.Millisecond)]
				if !got.Value.Equal(before.Value) || got.Quality != twins.QualityGood {
					t.Errorf("temp at %s = %s (%s), want %s held with good quality", got.At, got.Value, got.Quality, before.Value)
				}
			},
		},
		{
			name: "stuck to the end", fault: "{at: 9m, device: d2, point: speed, stuck: {}}",
			from: 9 * time.Minute, to: 11 * time.Minute, dev: "d2", point: "speed",
			check: func(t *testing.T, _, got delivered) {
				before := baseBy[fmt.Sprintf("d2/speed@%s", 9*time.Minute-100*time.Millisecond)]
				if !got.Value.Equal(before.Value) {
					t.Errorf("speed at %s = %s, want %s", got.At, got.Value, before.Value)
				}
			},
		},
		{
			name: "dropout of a device", fault: "{at: 5m, device: d1, dropout: {for: 20s}}",
			from: 5 * time.Minute, to: 5*time.Minute + 20*time.Second, dev: "d1", missing: true,
		},
		{
			name: "dropout of a point", fault: "{at: 5m, device: d1, point: power, dropout: {for: 20s}}",
			from: 5 * time.Minute, to: 5*time.Minute + 20*time.Second, dev: "d1", point: "power", missing: true,
		},
		{
			name: "noise burst", fault: "{at: 6m, device: d2, point: temp, noise_burst: {stddev: 5, for: 15s}}",
			from: 6 * time.Minute, to: 6*time.Minute + 15*time.Second, dev: "d2", point: "temp",
			check: func(t *testing.T, base, got delivered) {
				if d := math.Abs(got.Value.AsDouble() - base.Value.AsDouble()); d == 0 || d > 30 {
					t.Errorf("temp at %s is %g off", got.At, d)
				}
			},
		},
		{
			name: "endpoint down", fault: "{at: 7m, device: d1, endpoint_down: {for: 30s}}",
			from: 7 * time.Minute, to: 7*time.Minute + 30*time.Second, dev: "d1", missing: true, offline: true,
		},
		{
			name: "latency", fault: "{at: 8m, device: d1, latency: {add: 250ms, for: 1m}}",
			from: 8 * time.Minute, to: 9 * time.Minute, dev: "d1", delayedUpTo: 300 * time.Millisecond,
			check: func(t *testing.T, base, got delivered) {
				if !got.Value.Equal(base.Value) || got.T-got.At != 300*time.Millisecond {
					t.Errorf("sample of %s arrived at %s with %s, want at %s with %s", got.At, got.T, got.Value, got.At+300*time.Millisecond, base.Value)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, offline := record(t, parseTest(t, faultBase+"  - "+tt.fault+"\n"), seed)
			gotBy := byPoint(got)
			in := func(s delivered) bool {
				return s.Device == tt.dev && (tt.point == "" || s.Point == tt.point) && s.At >= tt.from && s.At < tt.to
			}
			for k, b := range baseBy {
				g, ok := gotBy[k]
				switch {
				case in(b) && tt.missing:
					if ok {
						t.Errorf("%s: sample in the window", k)
					}
				case !ok:
					t.Errorf("%s: missing", k)
				case in(b):
					tt.check(t, b, g)
				case g.Value != b.Value || g.Quality != b.Quality:
					t.Errorf("%s: %s, want %s as without the fault", k, g.Value, b.Value)
				case g.T != b.T && !(tt.delayedUpTo > 0 && g.Device == tt.dev && g.At >= tt.to && g.At < tt.to+tt.delayedUpTo):
					t.Errorf("%s: arrived at %s, want %s", k, g.T, b.T)
				}
			}
			if len(gotBy) != len(got) {
				t.Errorf("%d samples for %d distinct points and times", len(got), len(gotBy))
			}
			for ts, devs := range offline {
				if !tt.offline || ts < tt.from || ts >= tt.to || !slices.Equal(devs, []string{tt.dev}) {
					t.Errorf("offline at %s: %v", ts, devs)
				}
			}
			if tt.offline && len(offline) != int((tt.to-tt.from)/(100*time.Millisecond)) {
				t.Errorf("offline at %d ticks", len(offline))
			}
			// In flight samples arrive in the order they were measured.
			var last time.Duration
			for _, s := range got {
				if s.Device == tt.dev && s.Point == "temp" {
					if s.At < last {
						t.Errorf("%s arrived after a later sample", s.At)
					}
					last = s.At
				}
			}
		})
	}
}

const reactScenario = `name: reacts
duration: 10m
tick: 1s
devices:
  - name: press
    points:
      power: {signal: {expr: "speed * 2.5"}}
      speed: {signal: {constant: 30}}
      temp: {signal: {sine: {mean: 60, amplitude: 5, period: 2m}}}
      level: {signal: {constant: 0}}
      running: {signal: {constant: 1}, type: bool}
    reacts:
      stop: {set: {speed: {ramp: {to: 0, over: 5s}}, temp: {decay: {to: 25, tau: 30s}}, running: 0}}
      start: {set: {speed: {ramp: {over: 5s}}, running: 1}}
      setpoint: {lag: {point: level, tau: 10s}}
`

// stepTo steps r up to and including the tick at t and returns the values
// of the last frame by point.
func stepTo(t *testing.T, r *Run, at time.Duration) map[string]twins.Value {
	t.Helper()
	var last Frame
	for r.Now() < at || !r.stepped {
		f, ok := r.Step()
		if !ok {
			t.Fatalf("run ended before %s", at)
		}
		last = f
	}
	vals := map[string]twins.Value{}
	for _, s := range last.Samples {
		vals[s.Point] = s.Value
	}
	return vals
}

func TestReactions(t *testing.T) {
	sc := parseTest(t, reactScenario)
	r := NewRun(sc, 1)
	const s = time.Second
	sine := Sine{Mean: 60, Amplitude: 5, Period: 2 * time.Minute}
	stepTo(t, r, 10*s)
	if err := r.Apply("press", "stop", nil); err != nil {
		t.Fatal(err)
	}
	temp0 := sine.At(10*s, nil)
	for _, c := range []struct {
		at           time.Duration
		speed, temp  float64
		running      bool
		power, level float64
	}{
		{at: 11 * s, speed: 24, temp: 25 + (temp0-25)*math.Exp(-1.0/30)},
		{at: 12 * s, speed: 18, temp: 25 + (temp0-25)*math.Exp(-2.0/30)},
		{at: 15 * s, speed: 0, temp: 25 + (temp0-25)*math.Exp(-5.0/30)},
		{at: 16 * s, speed: 0, temp: 25 + (temp0-25)*math.Exp(-6.0/30)},
		{at: 40 * s, speed: 0, temp: 25 + (temp0-25)*math.Exp(-1)},
	} {
		v := stepTo(t, r, c.at)
		if got := v["speed"].AsDouble(); math.Abs(got-c.speed) > 1e-9 {
			t.Errorf("speed at %s = %g, want %g", c.at, got, c.speed)
		}
		if got := v["temp"].AsDouble(); math.Abs(got-c.temp) > 1e-9 {
			t.Errorf("temp at %s = %g, want %g", c.at, got, c.temp)
		}
		if v["running"].AsBool() {
			t.Errorf("running at %s", c.at)
		}
		// The expression reads the reacting speed in the same tick.
		if got, want := v["power"].AsDouble(), v["speed"].AsDouble()*2.5; math.Abs(got-want) > 1e-9 {
			t.Errorf("power at %s = %g, want %g", c.at, got, want)
		}
	}
	// start ramps the speed back to its signal, then hands it back.
	if err := r.Apply("press", "start", nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{42 * s, 12}, {44 * s, 24}, {45 * s, 30}, {50 * s, 30}} {
		at, want := c.at, c.want
		if v := stepTo(t, r, at); math.Abs(v["speed"].AsDouble()-want) > 1e-9 || !v["running"].AsBool() {
			t.Errorf("after start, at %s: speed %s running %s, want %g and true", at, v["speed"], v["running"], want)
		}
	}
	if r.devs[0].pts[1].ov.kind != 0 {
		t.Error("speed is still under the ramp after reaching its signal")
	}
	// A write of the setpoint moves the level with a first-order lag.
	if err := r.Write("press", "setpoint", twins.Double(80)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []float64{1, 5, 10, 30} {
		at := 50*s + time.Duration(k)*s
		want := 80 - 80*math.Exp(-k/10)
		if v := stepTo(t, r, at); math.Abs(v["level"].AsDouble()-want) > 1e-9 {
			t.Errorf("level at %s = %s, want %g", at, v["level"], want)
		}
	}
	// A write to a point holds the value.
	if err := r.Write("press", "speed", twins.Int(12)); err != nil {
		t.Fatal(err)
	}
	if v := stepTo(t, r, 100*s); v["speed"].AsDouble() != 12 || v["power"].AsDouble() != 30 {
		t.Errorf("after writing speed 12: speed %s, power %s", v["speed"], v["power"])
	}
	// A command's value argument drives a lag reaction.
	if err := r.Apply("press", "setpoint", map[string]twins.Value{"value": twins.Double(10)}); err != nil {
		t.Fatal(err)
	}
	if v := stepTo(t, r, 110*s); math.Abs(v["level"].AsDouble()-(10+(80-80*math.Exp(-5)-10)*math.Exp(-1))) > 1e-9 {
		t.Errorf("level 10s after the command: %s", v["level"])
	}
}

func TestReactionBeforeTheFirstStep(t *testing.T) {
	r := NewRun(parseTest(t, reactScenario), 1)
	if err := r.Apply("press", "stop", nil); err != nil {
		t.Fatal(err)
	}
	if v := stepTo(t, r, 0); v["speed"].AsDouble() != 30 {
		t.Errorf("speed at 0 = %s, want 30 (the ramp starts there)", v["speed"])
	}
	if v := stepTo(t, r, time.Second); v["speed"].AsDouble() != 24 {
		t.Errorf("speed at 1s = %s, want 24", v["speed"])
	}
}

func TestReactionErrors(t *testing.T) {
	r := NewRun(parseTest(t, reactScenario), 1)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"unknown device", r.Apply("nope", "stop", nil), ErrUnknownDevice},
		{"no reaction", r.Apply("press", "reset", nil), ErrNoReaction},
		{"lag without value", r.Apply("press", "setpoint", nil), ErrNoValue},
		{"bad argument", r.Apply("press", "setpoint", map[string]twins.Value{"value": twins.String("x")}), ErrBadValue},
		{"write to unknown device", r.Write("nope", "speed", twins.Double(1)), ErrUnknownDevice},
		{"write to unknown point", r.Write("press", "nope", twins.Double(1)), ErrUnknownPoint},
		{"write a string", r.Write("press", "speed", twins.String("fast")), ErrBadValue},
		{"write a NaN", r.Write("press", "speed", twins.Double(math.NaN())), ErrBadValue},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	// Nothing of that changed the run.
	var got []delivered
	for {
		f, ok := r.Step()
		if !ok {
			break
		}
		for _, s := range f.Samples {
			got = append(got, delivered{f.T, s})
		}
	}
	want, _ := record(t, parseTest(t, reactScenario), 1)
	if hashSamples(got) != hashSamples(want) {
		t.Error("failed calls changed the run")
	}
}

func TestExpressions(t *testing.T) {
	sc := parseTest(t, `name: expr
duration: 10s
tick: 1s
devices:
  - name: d
    points:
      total: {signal: {expr: "double(cnt) + half + (on ? 100.0 : 0.0)"}}
      half: {signal: {expr: "speed / 2.0"}}
      on: {signal: {expr: "speed > 10.0"}, type: bool}
      speed: {signal: {ramp: {from: 0, to: 40, over: 4s}}}
      cnt: {signal: {constant: 2.6}, type: int}
      twice: {signal: {expr: "cnt * 2"}, type: int}
      zero: {signal: {step: {before: 0, after: 2, at: 5s}}, type: int}
      div: {signal: {expr: "10 / zero"}}
      x: {signal: {step: {before: 0, after: 4, at: 5s}}}
      inv: {signal: {expr: "1.0 / x"}}
`)
	r := NewRun(sc, 0)
	for k := 0; k <= 6; k++ {
		f, _ := r.Step()
		got := map[string]string{}
		for _, s := range f.Samples {
			got[s.Point] = s.Value.String() + "/" + s.Quality.String()
		}
		speed := min(float64(k)*10, 40)
		want := map[string]string{
			"speed": fmt.Sprint(speed) + "/good", "half": fmt.Sprint(speed/2) + "/good", "on": fmt.Sprint(speed > 10) + "/good",
			"cnt": "3/good", "twice": "6/good",
		}
		total := 3 + speed/2
		if speed > 10 {
			total += 100
		}
		want["total"] = fmt.Sprint(total) + "/good"
		if k < 5 {
			want["zero"], want["div"], want["x"], want["inv"] = "0/good", "0/bad", "0/good", "0/bad"
		} else {
			want["zero"], want["div"], want["x"], want["inv"] = "2/good", "5/good", "4/good", "0.25/good"
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("tick %d (-want +got):\n%s", k, diff)
		}
	}
	// Outside a run, an expression has no points to read.
	if v := sc.Devices[0].Points[0].Signal.At(0, &SignalState{}); !math.IsNaN(v) {
		t.Errorf("expression outside a run = %g", v)
	}
}

func TestTypedValues(t *testing.T) {
	for _, c := range []struct {
		typ  twins.Type
		in   float64
		want twins.Value
	}{
		{twins.TypeDouble, 1.25, twins.Double(1.25)},
		{twins.TypeInt, 2.5, twins.Int(3)},
		{twins.TypeInt, -2.5, twins.Int(-3)},
		{twins.TypeInt, 1e30, twins.Int(math.MaxInt64)},
		{twins.TypeBool, 0.5, twins.Bool(true)},
		{twins.TypeBool, 0.49, twins.Bool(false)},
		{twins.TypeBool, -1, twins.Bool(false)},
	} {
		if got := typed(c.typ, c.in); !got.Equal(c.want) {
			t.Errorf("typed(%s, %g) = %s, want %s", c.typ, c.in, got, c.want)
		}
	}
}

// BenchmarkRun measures a run's steps in samples per second.
func BenchmarkRun(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprint(n, "devices"), func(b *testing.B) {
			src := strings.Replace(determinismScenario, "d{1..2}", fmt.Sprintf("d{1..%d}", n), 1)
			sc, err := ParseFS(testFS, "b.yaml", []byte(src))
			if err != nil {
				b.Fatal(err)
			}
			r := NewRun(sc, 1)
			samples := 0
			b.ReportAllocs()
			for b.Loop() {
				f, ok := r.Step()
				if !ok {
					r = NewRun(sc, 1)
					continue
				}
				samples += len(f.Samples)
			}
			b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
