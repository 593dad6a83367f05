package scenario

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// Signal is how a point's value evolves over simulated time. A Signal is
// immutable and shared by every run (and by the devices of a template);
// what a run remembers between ticks is in the point's [SignalState].
//
// A run calls At once per tick, with increasing t, whether or not the
// point is sampled, reacting or faulty, so the values a signal gives
// depend only on the seed and the tick, never on what else happens.
type Signal interface {
	// Kind returns the signal's name in scenario files ("sine", ...).
	Kind() string
	// At returns the value at simulated time t. It may return NaN or an
	// infinity (an expression dividing by zero): the run then repeats the
	// previous value with bad quality.
	At(t time.Duration, st *SignalState) float64
}

// SignalState is one point's memory in a run.
type SignalState struct {
	// Rand is the point's own random stream, derived from the run's seed
	// and the device's and point's names.
	Rand *rand.Rand
	// Prev is the signal's value at the previous tick; Started reports
	// whether there was one.
	Prev    float64
	Started bool

	vars interpreter.Activation // the device's points, for expressions
}

// Constant is a fixed value.
type Constant struct{ Value float64 }

// Kind implements Signal.
func (Constant) Kind() string { return "constant" }

// At implements Signal.
func (s Constant) At(time.Duration, *SignalState) float64 { return s.Value }

// Sine is Mean + Amplitude·sin(2π(t+Phase)/Period).
type Sine struct {
	Mean, Amplitude float64
	Period, Phase   time.Duration
}

// Kind implements Signal.
func (Sine) Kind() string { return "sine" }

// At implements Signal.
func (s Sine) At(t time.Duration, _ *SignalState) float64 {
	return s.Mean + s.Amplitude*math.Sin(2*math.Pi*cycle(t+s.Phase, s.Period))
}

// cycle returns the fraction [0, 1) of period elapsed at t (exact in
// integer nanoseconds, so late ticks lose no precision).
func cycle(t, period time.Duration) float64 {
	if period <= 0 {
		return 0
	}
	r := t % period
	if r < 0 {
		r += period
	}
	return float64(r) / float64(period)
}

// Ramp goes linearly from From at 0 to To at Over, then stays at To.
type Ramp struct {
	From, To float64
	Over     time.Duration
}

// Kind implements Signal.
func (Ramp) Kind() string { return "ramp" }

// At implements Signal.
func (s Ramp) At(t time.Duration, _ *SignalState) float64 {
	switch {
	case t <= 0:
		return s.From
	case t >= s.Over:
		return s.To
	}
	return s.From + (s.To-s.From)*float64(t)/float64(s.Over)
}

// Square is High for the first Duty of each Period (shifted by Phase),
// Low for the rest.
type Square struct {
	Low, High     float64
	Period, Phase time.Duration
	Duty          float64 // in (0, 1); default 0.5
}

// Kind implements Signal.
func (Square) Kind() string { return "square" }

// At implements Signal.
func (s Square) At(t time.Duration, _ *SignalState) float64 {
	if cycle(t+s.Phase, s.Period) < s.Duty {
		return s.High
	}
	return s.Low
}

// Step is Before until Time, After from Time on (at: in the file).
type Step struct {
	Before, After float64
	Time          time.Duration
}

// Kind implements Signal.
func (Step) Kind() string { return "step" }

// At implements Signal.
func (s Step) At(t time.Duration, _ *SignalState) float64 {
	if t < s.Time {
		return s.Before
	}
	return s.After
}

// Sawtooth rises linearly from Min to Max over each Period (shifted by
// Phase), then drops back to Min.
type Sawtooth struct {
	Min, Max      float64
	Period, Phase time.Duration
}

// Kind implements Signal.
func (Sawtooth) Kind() string { return "sawtooth" }

// At implements Signal.
func (s Sawtooth) At(t time.Duration, _ *SignalState) float64 {
	return s.Min + (s.Max-s.Min)*cycle(t+s.Phase, s.Period)
}

// RandomWalk starts at Start and moves by a uniform random amount in
// [-Step, Step] each tick, clamped to [Min, Max] (±Inf when not given).
// It is stateful: its values depend on the tick.
type RandomWalk struct {
	Start, Step float64
	Min, Max    float64
}

// Kind implements Signal.
func (RandomWalk) Kind() string { return "random_walk" }

// At implements Signal.
func (s RandomWalk) At(_ time.Duration, st *SignalState) float64 {
	u := st.Rand.Float64() // drawn at every tick, the first included
	if !st.Started {
		return s.Start
	}
	return min(max(st.Prev+(2*u-1)*s.Step, s.Min), s.Max)
}

// Noise is Gaussian: Mean + StdDev·N(0, 1), a fresh draw each tick.
type Noise struct{ Mean, StdDev float64 }

// Kind implements Signal.
func (Noise) Kind() string { return "noise" }

// At implements Signal.
func (s Noise) At(_ time.Duration, st *SignalState) float64 {
	return s.Mean + s.StdDev*st.Rand.NormFloat64()
}

// Interpolation is how a CSV signal fills the time between its rows.
type Interpolation uint8

// The interpolations.
const (
	InterpolateLinear Interpolation = iota + 1 // a straight line between rows
	InterpolateStep                            // the previous row's value
)

// CSV plays a column of a CSV file: Times (from the start, increasing)
// and Values are its rows. Before the first row it gives the first value,
// after the last the last.
type CSV struct {
	File, Column string
	Interpolate  Interpolation
	Times        []time.Duration
	Values       []float64
}

// Kind implements Signal.
func (CSV) Kind() string { return "csv" }

// At implements Signal.
func (s *CSV) At(t time.Duration, _ *SignalState) float64 {
	n := len(s.Times)
	if n == 0 {
		return math.NaN()
	}
	i, exact := slices.BinarySearch(s.Times, t) // first row at or after t
	switch {
	case exact:
		return s.Values[i]
	case i == 0:
		return s.Values[0]
	case i == n:
		return s.Values[n-1]
	case s.Interpolate == InterpolateStep:
		return s.Values[i-1]
	}
	t0, t1 := s.Times[i-1], s.Times[i]
	return s.Values[i-1] + (s.Values[i]-s.Values[i-1])*float64(t-t0)/float64(t1-t0)
}

// Expr is a CEL expression over the device's other points, evaluated each
// tick after the points it reads (Deps). It reads their true values: what
// the signals and reactions give, before faults (which are the sensors'
// errors, not the process's). A bool result counts as 1 or 0.
type Expr struct {
	Source string
	Deps   []string // the points it reads, in order of first use
	prg    cel.Program
}

// Kind implements Signal.
func (*Expr) Kind() string { return "expr" }

// At implements Signal. Outside a run, or when the evaluation fails, it
// returns NaN.
func (s *Expr) At(_ time.Duration, st *SignalState) float64 {
	if s.prg == nil || st == nil || st.vars == nil {
		return math.NaN()
	}
	out, _, err := s.prg.Eval(st.vars)
	if err != nil {
		return math.NaN()
	}
	switch v := out.(type) {
	case types.Double:
		return float64(v)
	case types.Int:
		return float64(v)
	case types.Uint:
		return float64(v)
	case types.Bool:
		if v {
			return 1
		}
		return 0
	}
	return math.NaN()
}
