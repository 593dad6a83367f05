package scenario

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/plantwin/plantwin/twins"
)

// Errors of Run.Apply and Run.Write.
var (
	ErrUnknownDevice = errors.New("scenario: unknown device")
	ErrUnknownPoint  = errors.New("scenario: unknown point")
	ErrNoReaction    = errors.New("scenario: no reaction")
	ErrNoValue       = errors.New("scenario: reaction needs a value")
	ErrBadValue      = errors.New("scenario: not a number or a bool")
)

// PointSample is one value a device produced.
type PointSample struct {
	Device string
	Twin   string
	Point  string
	// At is the simulated time the value was measured (its source time);
	// a sample delayed by a latency fault arrives in a later frame.
	At time.Duration
	// Value has the point's type: twins.Double, twins.Int or twins.Bool.
	Value twins.Value
	// Quality is good, or bad when the signal gave no number (an
	// expression that failed): the value is then the previous one. Faults
	// do not change the quality: a stuck or drifting sensor looks healthy.
	Quality twins.Quality
}

// Frame is what one tick produced.
type Frame struct {
	T time.Duration
	// Samples in order of devices, then of delivery (delayed samples
	// first), then of points. Valid until the next Step.
	Samples []PointSample
	// Offline lists the devices whose endpoint is down at T, in device
	// order; they produce no samples. Valid until the next Step.
	Offline []string
}

// Run is one simulation of a scenario with a seed: it advances the
// devices tick by tick and takes the commands and writes they receive.
// Given the scenario and the seed, the sequence of frames is the same on
// every run whatever is applied between steps, as long as the same
// Apply and Write calls come between the same steps.
//
// Each (device, point) has its own random stream derived from the seed and
// the two names, so a point's values do not depend on which other devices
// or points the scenario has, nor on their order. State kept between
// ticks: random walks (their last value), reactions in progress, the
// value a stuck fault holds, samples delayed by latency.
//
// A Run is not safe for concurrent use: call it from one goroutine.
type Run struct {
	sc      *Scenario
	seed    uint64
	next    time.Duration // the next tick
	now     time.Duration // the last tick stepped
	stepped bool
	done    bool
	devs    []devState
	samples []PointSample
	offline []string
}

type devState struct {
	dev         *Device
	pts         []pointState
	truth       []float64 // the points' true values at the last tick
	bad         []bool
	vars        deviceVars
	pointFaults [][]*faultState // by point, in timeline order
	devFaults   []*faultState
	queue       []pending // samples in flight (latency), by delivery
	head        int
	lastDeliver time.Duration
}

type pointState struct {
	sig     SignalState
	ov      override
	last    float64 // the measured value at the last tick
	hasLast bool
}

type faultState struct {
	f      *Fault
	rng    *rand.Rand // noise_burst
	on     bool       // active at the last tick
	frozen float64    // stuck
}

type pending struct {
	at time.Duration // delivery
	s  PointSample
}

// override is a reaction moving a point away from its signal.
type override struct {
	kind     TransitionKind // 0: none (the signal)
	from, to float64
	fromSet  bool // from is known (else: the value at the next tick)
	toSignal bool
	start    time.Duration
	dur      time.Duration // ramp: over; decay: tau
}

// NewRun starts a run of sc with seed (sc.Seed is the file's default).
func NewRun(sc *Scenario, seed uint64) *Run {
	r := &Run{sc: sc, seed: seed, devs: make([]devState, len(sc.Devices))}
	for di, d := range sc.Devices {
		ds := &r.devs[di]
		ds.dev = d
		ds.pts = make([]pointState, len(d.Points))
		ds.truth = make([]float64, len(d.Points))
		ds.bad = make([]bool, len(d.Points))
		ds.vars = deviceVars{dev: d, truth: ds.truth}
		ds.pointFaults = make([][]*faultState, len(d.Points))
		for pi, pt := range d.Points {
			switch pt.Signal.(type) {
			case RandomWalk, Noise:
				ds.pts[pi].sig.Rand = Stream(seed, d.Name, pt.Name)
			case *Expr:
				ds.pts[pi].sig.vars = &ds.vars
			}
		}
	}
	bursts := make(map[string]int) // noise bursts by point and start
	for _, f := range sc.Faults {
		di, ok := sc.devices[f.Device]
		if !ok {
			continue
		}
		ds := &r.devs[di]
		fs := &faultState{f: f}
		if f.Point == "" {
			ds.devFaults = append(ds.devFaults, fs)
			continue
		}
		pi, ok := ds.dev.points[f.Point]
		if !ok {
			continue
		}
		if f.Kind == FaultNoiseBurst {
			// Its own stream: a burst does not shift the point's values,
			// and other faults do not change the burst's.
			key := f.Device + "\x00" + f.Point + "\x00" + f.At.String()
			fs.rng = Stream(seed, f.Device, f.Point, "noise_burst", f.At.String(), strconv.Itoa(bursts[key]))
			bursts[key]++
		}
		ds.pointFaults[pi] = append(ds.pointFaults[pi], fs)
	}
	return r
}

// Stream returns the random stream of the names (a device and a point)
// under seed: a PCG seeded from the seed and a hash of the names.
func Stream(seed uint64, names ...string) *rand.Rand {
	h := fnv.New64a()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	k := h.Sum64()
	return rand.New(rand.NewPCG(mix(seed^mix(k)), mix(k^mix(seed+0x9e3779b97f4a7c15))))
}

// mix is SplitMix64's finalizer.
func mix(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	return z ^ z>>31
}

// Seed returns the run's seed.
func (r *Run) Seed() uint64 { return r.seed }

// Now returns the time of the last tick stepped (0 before the first).
func (r *Run) Now() time.Duration { return r.now }

// Done reports whether every tick has been stepped.
func (r *Run) Done() bool { return r.done || r.next > r.sc.Duration }

// Step advances to the next tick (0, Tick, 2·Tick, ... up to Duration) and
// returns what it produced; ok is false when the run is over.
func (r *Run) Step() (f Frame, ok bool) {
	if r.Done() {
		r.done = true
		return Frame{}, false
	}
	t := r.next
	r.samples = r.samples[:0]
	r.offline = r.offline[:0]
	for i := range r.devs {
		r.stepDevice(&r.devs[i], t)
	}
	r.now, r.stepped = t, true
	if r.next > math.MaxInt64-r.sc.Tick {
		r.done = true
	} else {
		r.next += r.sc.Tick
	}
	return Frame{T: t, Samples: r.samples, Offline: r.offline}, true
}

func (r *Run) stepDevice(d *devState, t time.Duration) {
	down, dropAll := false, false
	var lat time.Duration
	for _, fs := range d.devFaults {
		if !fs.f.Active(t) {
			continue
		}
		switch fs.f.Kind {
		case FaultEndpointDown:
			down = true
		case FaultDropout:
			dropAll = true
		case FaultLatency:
			lat += fs.f.Add
		}
	}
	// Samples in flight that arrive now.
	for d.head < len(d.queue) && d.queue[d.head].at <= t {
		r.samples = append(r.samples, d.queue[d.head].s)
		d.head++
	}
	if d.head == len(d.queue) {
		d.queue, d.head = d.queue[:0], 0
	}
	if down {
		r.offline = append(r.offline, d.dev.Name)
	}
	// True values, expressions after what they read.
	for _, i := range d.dev.order {
		ps := &d.pts[i]
		base := d.dev.Points[i].Signal.At(t, &ps.sig)
		good := !math.IsNaN(base) && !math.IsInf(base, 0)
		if !good {
			base = ps.sig.Prev
		}
		ps.sig.Prev, ps.sig.Started = base, true
		v := base
		if ps.ov.kind != 0 {
			v = ps.ov.value(t, base)
		}
		d.truth[i], d.bad[i] = v, !good
	}
	// Measured values: the sensors' faults.
	for i, pt := range d.dev.Points {
		ps := &d.pts[i]
		v := d.truth[i]
		drop := dropAll
		for _, fs := range d.pointFaults[i] {
			f := fs.f
			if !f.Active(t) {
				fs.on = false
				continue
			}
			switch f.Kind {
			case FaultSpike:
				v = f.Value
			case FaultDrift:
				v += f.Rate * float64(t-f.At) / float64(f.Per)
			case FaultNoiseBurst:
				v += f.StdDev * fs.rng.NormFloat64()
			case FaultStuck:
				if !fs.on {
					fs.frozen = v
					if ps.hasLast {
						fs.frozen = ps.last
					}
				}
				v = fs.frozen
			case FaultDropout:
				drop = true
			}
			fs.on = true
		}
		ps.last, ps.hasLast = v, true
		if down || drop {
			continue
		}
		s := PointSample{Device: d.dev.Name, Twin: d.dev.Twin, Point: pt.Name, At: t, Value: typed(pt.Type, v), Quality: twins.QualityGood}
		if d.bad[i] {
			s.Quality = twins.QualityBad
		}
		if lat > 0 || d.head < len(d.queue) {
			// In order behind what is in flight, like one connection.
			at := max(t+lat, d.lastDeliver)
			d.lastDeliver = at
			d.queue = append(d.queue, pending{at: at, s: s})
			continue
		}
		r.samples = append(r.samples, s)
	}
}

// typed converts a point's value to its type.
func typed(t twins.Type, v float64) twins.Value {
	switch t {
	case twins.TypeBool:
		return twins.Bool(v >= 0.5)
	case twins.TypeInt:
		return twins.Int(toInt(v))
	}
	return twins.Double(v)
}

// value returns the overridden point's value at t (base: its signal's).
func (o *override) value(t time.Duration, base float64) float64 {
	if !o.fromSet {
		o.from, o.fromSet = base, true
	}
	el := max(t-o.start, 0)
	switch o.kind {
	case TransitionRamp:
		if el >= o.dur {
			if o.toSignal {
				o.kind = 0 // back to the signal
				return base
			}
			o.kind = TransitionJump
			return o.to
		}
		to := o.to
		if o.toSignal {
			to = base
		}
		return o.from + (to-o.from)*float64(el)/float64(o.dur)
	case TransitionDecay:
		return o.to + (o.from-o.to)*math.Exp(-float64(el)/float64(o.dur))
	}
	return o.to
}

func (r *Run) device(name string) (*devState, error) {
	i, ok := r.sc.devices[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownDevice, name)
	}
	return &r.devs[i], nil
}

// Apply runs device's reaction to command, from the last tick stepped on:
// its transitions start from the points' current values. A lag reaction
// follows the argument named value. A command the device has no
// reaction to returns ErrNoReaction and changes nothing.
func (r *Run) Apply(device, command string, args map[string]twins.Value) error {
	d, err := r.device(device)
	if err != nil {
		return err
	}
	rx, ok := d.dev.Reaction(command)
	if !ok {
		return fmt.Errorf("device %s: %w to command %q", device, ErrNoReaction, command)
	}
	var val *float64
	if v, ok := args["value"]; ok {
		f, ok := numeric(v)
		if !ok {
			return fmt.Errorf("device %s: command %s: value %s: %w", device, command, v, ErrBadValue)
		}
		val = &f
	}
	if rx.Lag != nil && val == nil {
		return fmt.Errorf("device %s: command %s: %w (an argument named value)", device, command, ErrNoValue)
	}
	r.react(d, rx, val)
	return nil
}

// Write writes value to device's point, from the last tick stepped on: a
// point of the device holds the value (it leaves its signal), and the
// device's reaction of that name, if any, runs with it. A name that is
// neither returns ErrUnknownPoint.
func (r *Run) Write(device, point string, value twins.Value) error {
	d, err := r.device(device)
	if err != nil {
		return err
	}
	f, ok := numeric(value)
	if !ok {
		return fmt.Errorf("device %s: write %s = %s: %w", device, point, value, ErrBadValue)
	}
	i, isPoint := d.dev.points[point]
	rx, hasReaction := d.dev.Reaction(point)
	if !isPoint && !hasReaction {
		return fmt.Errorf("device %s: write: %w %q", device, ErrUnknownPoint, point)
	}
	if isPoint {
		r.start(d, i, override{kind: TransitionJump, to: f})
	}
	if hasReaction {
		r.react(d, rx, &f)
	}
	return nil
}

func (r *Run) react(d *devState, rx *Reaction, val *float64) {
	for _, tr := range rx.Set {
		o := override{kind: tr.Kind, to: tr.To, toSignal: tr.ToSignal, dur: tr.Over}
		if tr.Kind == TransitionDecay {
			o.dur = tr.Tau
		}
		r.start(d, d.dev.points[tr.Point], o)
	}
	if rx.Lag != nil && val != nil {
		r.start(d, d.dev.points[rx.Lag.Point], override{kind: TransitionDecay, to: *val, dur: rx.Lag.Tau})
	}
}

// start puts point i under o from now, starting from its current value.
func (r *Run) start(d *devState, i int, o override) {
	o.start = r.now
	if r.stepped {
		o.from, o.fromSet = d.truth[i], true
	}
	d.pts[i].ov = o
}

func numeric(v twins.Value) (float64, bool) {
	switch v.Type() {
	case twins.TypeDouble, twins.TypeInt:
		f := v.AsDouble()
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	case twins.TypeBool:
		if v.AsBool() {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
