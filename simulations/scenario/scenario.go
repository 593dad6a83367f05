package scenario

import (
	"strconv"
	"time"

	"github.com/plantwin/plantwin/twins"
)

// Scenario is a parsed scenario file. It is immutable and safe to share:
// every [Run] keeps its own state.
type Scenario struct {
	Name        string
	Description string
	// Params are the values of the scenario's parameters (params:): the
	// declared defaults, overridden by those given to LoadWith; nil when
	// it declares none.
	Params map[string]string
	// Seed is the default seed of a run; NewRun takes the one to use.
	Seed uint64
	// Duration is the simulated horizon: a run's ticks are 0, Tick, 2*Tick,
	// ... up to and including Duration.
	Duration time.Duration
	// Tick is the simulation step of the virtual clock (default 1s).
	Tick time.Duration
	// PlantFile is the plant configuration's file ("" when none or inline).
	PlantFile string
	// PlantData is the text the plant was parsed from (parameters
	// substituted; an inline plant as the scenario's text with everything
	// else blanked, so that its lines keep their numbers), for a
	// recording to carry.
	PlantData []byte
	// Plant is the twins configuration (models, twins, rules); nil when the
	// scenario has none.
	Plant *twins.Config
	// Devices are the simulated devices, templates expanded, in declaration
	// order.
	Devices []*Device
	// Faults is the timeline, in declaration order (templates expanded).
	Faults []*Fault
	// Expect lists the expectations, in declaration order.
	Expect []*Expectation

	devices map[string]int
}

// Device returns the device called name.
func (s *Scenario) Device(name string) (*Device, bool) {
	i, ok := s.devices[name]
	if !ok {
		return nil, false
	}
	return s.Devices[i], true
}

// Expose is how a simulated device is reachable by the runtime.
type Expose uint8

// The exposures.
const (
	ExposeDirect Expose = iota + 1 // samples go straight into the twins, in-process
	ExposeOPCUA                    // an OPC UA server
	ExposeModbus                   // a Modbus TCP server
	ExposeMQTT                     // an MQTT publisher
)

var exposeNames = [...]string{ExposeDirect: "direct", ExposeOPCUA: "opcua", ExposeModbus: "modbus", ExposeMQTT: "mqtt"}

// String returns the name used in scenario files: "direct", "opcua",
// "modbus" or "mqtt".
func (e Expose) String() string {
	if e > 0 && int(e) < len(exposeNames) {
		return exposeNames[e]
	}
	return "expose(" + strconv.Itoa(int(e)) + ")"
}

// ParseExpose returns the exposure a scenario file names s: "direct",
// "opcua", "modbus" or "mqtt".
func ParseExpose(s string) (Expose, bool) {
	for e := ExposeDirect; int(e) < len(exposeNames); e++ {
		if exposeNames[e] == s {
			return e, true
		}
	}
	return 0, false
}

// Device is one simulated device: a set of points with their signals, the
// twin they feed, and how the device reacts to commands and writes.
type Device struct {
	Name   string
	Twin   string // the twin it feeds (default: the device's name)
	Expose Expose
	// N is the number that replaced the {A..B} range of a templated
	// device's name ("" for a plain name); {n} in the entry's values stood
	// for it.
	N string
	// Points in declaration order.
	Points []*Point
	// Reacts lists the device's reactions in declaration order.
	Reacts []*Reaction
	Line   int // of the device's entry in the scenario file

	points map[string]int
	reacts map[string]int
	order  []int // evaluation order of Points: expression dependencies first
}

// Point returns the point called name.
func (d *Device) Point(name string) (*Point, bool) {
	i, ok := d.points[name]
	if !ok {
		return nil, false
	}
	return d.Points[i], true
}

// Reaction returns the reaction to the command or written point name.
func (d *Device) Reaction(name string) (*Reaction, bool) {
	i, ok := d.reacts[name]
	if !ok {
		return nil, false
	}
	return d.Reacts[i], true
}

// Point is one value a device produces.
type Point struct {
	Name string
	// Type is the type of the point's samples: twins.TypeDouble,
	// twins.TypeInt (the signal rounded to the nearest integer) or
	// twins.TypeBool (true when the signal is >= 0.5). Declared with
	// type:, or else the type of the twin's property of the same name for a
	// direct device with a plant, or else double.
	Type   twins.Type
	Signal Signal
	// Address is the protocol-specific address as written in the file
	// (maps, lists, strings, int64, float64, bool), {n} substituted; nil
	// for direct devices and when none is given.
	Address map[string]any
}

// Reaction is how a device responds to a command of its name, or to a
// write of the point of its name: Set moves points (in order), Lag makes a
// point follow the written value.
type Reaction struct {
	Name string
	Set  []Transition
	Lag  *Lag
}

// TransitionKind is how a point moves when a reaction sets it.
type TransitionKind uint8

// The transitions.
const (
	TransitionJump  TransitionKind = iota + 1 // to To at once
	TransitionRamp                            // linearly to To (or back to the signal) over Over
	TransitionDecay                           // exponentially toward To with time constant Tau
)

// Transition moves one point when a reaction runs. The point leaves its
// signal and follows the transition from the value it had; a ramp back to
// the signal (ToSignal) hands it back to the signal when done, the other
// transitions keep it until another reaction moves it.
type Transition struct {
	Point    string
	Kind     TransitionKind
	To       float64
	ToSignal bool          // ramp without to: blend into the point's signal
	Over     time.Duration // ramp
	Tau      time.Duration // decay
}

// Lag makes Point follow a written value (or a command's argument named
// value) as a first-order lag with time constant Tau:
// x(t) = v + (x0 - v)·exp(-(t-t0)/Tau).
type Lag struct {
	Point string
	Tau   time.Duration
}

// FaultKind is the kind of a fault.
type FaultKind uint8

// The faults.
const (
	FaultSpike        FaultKind = iota + 1 // the point reads Value
	FaultDrift                             // the point reads Rate more per Per elapsed since At
	FaultStuck                             // the point repeats the value it had before At
	FaultDropout                           // no samples of the point (or of the whole device)
	FaultNoiseBurst                        // Gaussian noise of StdDev is added
	FaultEndpointDown                      // the device is offline: no samples at all
	FaultLatency                           // the device's samples arrive Add late
)

var faultNames = [...]string{
	FaultSpike: "spike", FaultDrift: "drift", FaultStuck: "stuck", FaultDropout: "dropout",
	FaultNoiseBurst: "noise_burst", FaultEndpointDown: "endpoint_down", FaultLatency: "latency",
}

// String returns the fault's name in scenario files.
func (k FaultKind) String() string {
	if k > 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// Fault is one entry of the timeline: active from At for For (For 0: to
// the end of the scenario).
type Fault struct {
	Kind   FaultKind
	At     time.Duration
	For    time.Duration
	Device string
	Point  string // "" for a whole-device fault

	Value  float64       // spike
	Rate   float64       // drift, per Per
	Per    time.Duration // drift (default 1s)
	StdDev float64       // noise_burst
	Add    time.Duration // latency

	Line int // of the fault in the scenario file
}

// Active reports whether the fault is in effect at simulated time t.
func (f *Fault) Active(t time.Duration) bool {
	return t >= f.At && (f.For == 0 || t-f.At < f.For)
}

// ExpectKind is what an expectation checks.
type ExpectKind uint8

// The expectations.
const (
	ExpectAlarm    ExpectKind = iota + 1 // an alarm is raised
	ExpectCommand                        // a command ends in a status
	ExpectBounds                         // a property stays within bounds
	ExpectEndState                       // properties have values at the end
)

var expectNames = [...]string{ExpectAlarm: "alarm", ExpectCommand: "command", ExpectBounds: "property", ExpectEndState: "at_end"}

// String returns the key that selects the kind in scenario files.
func (k ExpectKind) String() string {
	if k > 0 && int(k) < len(expectNames) {
		return expectNames[k]
	}
	return "expect(" + strconv.Itoa(int(k)) + ")"
}

// Interval is a closed range of simulated time.
type Interval struct{ From, To time.Duration }

// Expectation is one assertion on a run's outcome. Checking it is the
// runner's business; the scenario only declares it.
type Expectation struct {
	Name string
	Kind ExpectKind
	Twin string

	// ExpectAlarm: the alarm (a rule's name) is raised on Twin, within
	// RaisedWithin when set.
	Alarm        string
	RaisedWithin *Interval

	// ExpectCommand: command Command on Twin reaches Status (default
	// succeeded), dispatched within DispatchedWithin when set.
	Command          string
	Status           twins.CommandStatus
	DispatchedWithin *Interval

	// ExpectBounds: every reported value of Property stays in [Min, Max].
	Property string
	Min, Max float64

	// ExpectEndState: the twin's reported values at the end.
	AtEnd map[string]twins.Value

	Line int // of the expectation in the scenario file
}

// Error is one problem in a scenario file (or in a file it names: the
// plant, a CSV): "file:line:column: field: msg", the same form as the
// plant configuration's errors.
type Error = twins.ConfigError
