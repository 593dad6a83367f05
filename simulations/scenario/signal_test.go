package scenario

import (
	"math"
	"testing"
	"time"
)

func TestSignalAt(t *testing.T) {
	const s, m = time.Second, time.Minute
	csv := &CSV{Interpolate: InterpolateLinear, Times: []time.Duration{0, 60 * s, 120 * s}, Values: []float64{10, 12.5, 11}}
	csvStep := &CSV{Interpolate: InterpolateStep, Times: csv.Times, Values: csv.Values}
	tests := []struct {
		name string
		sig  Signal
		at   map[time.Duration]float64
	}{
		{"constant", Constant{Value: 30}, map[time.Duration]float64{0: 30, 7 * m: 30}},
		{"sine", Sine{Mean: 60, Amplitude: 5, Period: 2 * m}, map[time.Duration]float64{
			0: 60, 30 * s: 65, 60 * s: 60, 90 * s: 55, 2 * m: 60, 2*m + 30*s: 65, 100 * time.Hour: 60}},
		{"sine with phase", Sine{Mean: 60, Amplitude: 5, Period: 2 * m, Phase: 30 * s}, map[time.Duration]float64{0: 65, 60 * s: 55}},
		{"sine with negative phase", Sine{Amplitude: 1, Period: 4 * s, Phase: -1 * s}, map[time.Duration]float64{0: -1, 1 * s: 0, 2 * s: 1}},
		{"ramp", Ramp{From: 0, To: 100, Over: 5 * m}, map[time.Duration]float64{0: 0, 150 * s: 50, 5 * m: 100, 10 * m: 100}},
		{"ramp down", Ramp{From: 10, To: -10, Over: 10 * s}, map[time.Duration]float64{1 * s: 8, 9 * s: -8}},
		{"square", Square{Low: 0, High: 1, Period: 30 * s, Duty: 0.5}, map[time.Duration]float64{
			0: 1, 14*s + 900*time.Millisecond: 1, 15 * s: 0, 29 * s: 0, 30 * s: 1, 45 * s: 0}},
		{"square duty", Square{Low: -1, High: 3, Period: 10 * s, Duty: 0.2}, map[time.Duration]float64{1 * s: 3, 2 * s: -1, 9 * s: -1, 11 * s: 3}},
		{"square phase", Square{Low: 0, High: 1, Period: 10 * s, Duty: 0.5, Phase: 5 * s}, map[time.Duration]float64{0: 0, 5 * s: 1}},
		{"step", Step{Before: 0, After: 10, Time: 2 * m}, map[time.Duration]float64{0: 0, 2*m - time.Nanosecond: 0, 2 * m: 10, 9 * m: 10}},
		{"sawtooth", Sawtooth{Min: 0, Max: 10, Period: m}, map[time.Duration]float64{0: 0, 30 * s: 5, 54 * s: 9, 60 * s: 0, 90 * s: 5}},
		{"sawtooth phase", Sawtooth{Min: 0, Max: 10, Period: m, Phase: 30 * s}, map[time.Duration]float64{0: 5, 30 * s: 0}},
		{"csv linear", csv, map[time.Duration]float64{0: 10, 30 * s: 11.25, 60 * s: 12.5, 90 * s: 11.75, 120 * s: 11, 10 * m: 11}},
		{"csv step", csvStep, map[time.Duration]float64{0: 10, 30 * s: 10, 60 * s: 12.5, 119 * s: 12.5, 10 * m: 11}},
		{"csv before the first row", &CSV{Interpolate: InterpolateLinear, Times: []time.Duration{10 * s, 20 * s}, Values: []float64{1, 2}},
			map[time.Duration]float64{0: 1, 15 * s: 1.5, 30 * s: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for at, want := range tt.at {
				if got := tt.sig.At(at, &SignalState{}); math.Abs(got-want) > 1e-9 {
					t.Errorf("At(%s) = %g, want %g", at, got, want)
				}
			}
		})
	}
}

func TestRandomWalk(t *testing.T) {
	w := RandomWalk{Start: 5, Step: 0.5, Min: 4, Max: 6}
	st := &SignalState{Rand: Stream(7, "d", "p")}
	hitMin, hitMax := false, false
	for k := range 10_000 {
		v := w.At(time.Duration(k)*time.Second, st)
		switch {
		case k == 0 && v != 5:
			t.Fatalf("first value %g, want the start 5", v)
		case v < 4 || v > 6:
			t.Fatalf("tick %d: %g outside [4, 6]", k, v)
		case k > 0 && math.Abs(v-st.Prev) > 0.5:
			t.Fatalf("tick %d: moved %g, more than the step", k, v-st.Prev)
		}
		hitMin, hitMax = hitMin || v == 4, hitMax || v == 6
		st.Prev, st.Started = v, true
	}
	if !hitMin || !hitMax {
		t.Errorf("the walk never reached a bound (min %v, max %v)", hitMin, hitMax)
	}
}

func TestNoise(t *testing.T) {
	n := Noise{Mean: 20, StdDev: 0.3}
	st := &SignalState{Rand: Stream(1, "d", "p")}
	const count = 20_000
	var sum, sq float64
	for k := range count {
		v := n.At(time.Duration(k), st)
		sum += v
		sq += v * v
	}
	mean := sum / count
	sd := math.Sqrt(sq/count - mean*mean)
	if math.Abs(mean-20) > 0.01 || math.Abs(sd-0.3) > 0.01 {
		t.Errorf("mean %g, stddev %g; want 20 and 0.3", mean, sd)
	}
}

func TestStreams(t *testing.T) {
	first := func(seed uint64, names ...string) uint64 { return Stream(seed, names...).Uint64() }
	a, b := first(1, "d", "p"), first(1, "d", "p")
	if a != b {
		t.Error("a stream is not reproducible")
	}
	distinct := map[uint64]string{}
	for _, c := range []struct {
		seed  uint64
		names []string
	}{
		{1, []string{"d", "p"}}, {2, []string{"d", "p"}}, {1, []string{"d", "q"}}, {1, []string{"e", "p"}},
		{1, []string{"dp", ""}}, {1, []string{"d", "p", "x"}}, {0, []string{"d", "p"}},
	} {
		v := first(c.seed, c.names...)
		if other, dup := distinct[v]; dup {
			t.Errorf("streams %v and %s start alike", c, other)
		}
		distinct[v] = ""
	}
}
