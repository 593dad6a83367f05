package twins

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Errors returned by [State.Decide]. They are wrapped with details; use
// errors.Is.
var (
	ErrVersionConflict = errors.New("twins: version conflict")
	ErrNotWritable     = errors.New("twins: property not writable")
	ErrUnknownProperty = errors.New("twins: unknown property")
	ErrInvalidValue    = errors.New("twins: invalid value")
	ErrUnknownCommand  = errors.New("twins: unknown command")
)

// FuturePolicy says what happens to a sample whose source time is further in
// the future than IngestPolicy.MaxFutureSkew allows.
type FuturePolicy uint8

// The future policies.
const (
	FutureReject FuturePolicy = 1 // reject the sample (ReasonFutureTime)
	FutureClamp  FuturePolicy = 2 // accept it with source time = now
)

// String returns "reject" or "clamp".
func (p FuturePolicy) String() string {
	switch p {
	case FutureReject:
		return "reject"
	case FutureClamp:
		return "clamp"
	}
	return "future_policy(" + strconv.Itoa(int(p)) + ")"
}

// IngestPolicy governs how telemetry timestamps are accepted. The zero
// IngestPolicy means [DefaultIngestPolicy]; a zero Future means FutureReject.
type IngestPolicy struct {
	// MaxFutureSkew is how far a sample's source time may lie ahead of
	// the server's now. Default 5m.
	MaxFutureSkew time.Duration
	// Future is applied to samples beyond MaxFutureSkew. Default FutureReject.
	Future FuturePolicy
}

// DefaultIngestPolicy returns a 5 minute skew and FutureReject.
func DefaultIngestPolicy() IngestPolicy {
	return IngestPolicy{MaxFutureSkew: 5 * time.Minute, Future: FutureReject}
}

// ApplyTelemetry reports samples measured by the device.
type ApplyTelemetry struct {
	Samples []Sample
	Policy  IngestPolicy
}

// Sample is one reported value of a property.
type Sample struct {
	Property   string
	Value      Value
	SourceTime int64   // Unix nanoseconds; 0 means now
	Quality    Quality // 0 means QualityGood
}

// SetConnectivity reports whether the device is reachable.
type SetConnectivity struct {
	Connectivity Connectivity
}

// SetDesired asks for a new desired value of a writable property.
type SetDesired struct {
	Property        string
	Value           Value
	ExpectedVersion int64  // optimistic concurrency: 0 means any version
	Actor           string // who asks, recorded in the event
	// Reconcile makes the twin write the value to its device and check
	// that the reported value reaches it (the property has a write
	// binding): a write command follows the DesiredSet event.
	Reconcile bool
}

// Reason is why a telemetry sample was rejected. Its String form is
// snake_case, for metric labels.
type Reason uint8

// The rejection reasons.
const (
	ReasonUnknownTwin Reason = iota + 1
	ReasonUnknownProperty
	ReasonWrongType
	ReasonOutOfRange
	ReasonInvalidEnum
	ReasonInvalidValue // NaN, ±Inf, unknown quality
	ReasonFutureTime
	ReasonNotWritable
)

var reasonNames = [...]string{
	ReasonUnknownTwin:     "unknown_twin",
	ReasonUnknownProperty: "unknown_property",
	ReasonWrongType:       "wrong_type",
	ReasonOutOfRange:      "out_of_range",
	ReasonInvalidEnum:     "invalid_enum",
	ReasonInvalidValue:    "invalid_value",
	ReasonFutureTime:      "future_time",
	ReasonNotWritable:     "not_writable",
}

// String returns the snake_case name of r, e.g. "out_of_range".
func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Reasons returns all reasons, for pre-registering metric labels.
func Reasons() []Reason {
	rs := make([]Reason, 0, len(reasonNames)-1)
	for r := ReasonUnknownTwin; int(r) < len(reasonNames); r++ {
		rs = append(rs, r)
	}
	return rs
}

// Rejection is a telemetry sample that was not accepted.
type Rejection struct {
	Index    int    // position of the sample in ApplyTelemetry.Samples
	Property string // the property name as given
	Reason   Reason
	Detail   string // human, e.g. "value 7200 above max 5000 kW"
}

// Decision is the outcome of [State.Decide]: the events to persist and
// apply, in order, and the rejected samples.
type Decision struct {
	Events   []Event
	Rejected []Rejection
	// Command is the command an InvokeCommand, DispatchCommand or
	// CommandOutcome created or changed (the first one, for a repeated
	// idempotency key).
	Command *CommandRecord
	// Alarm is the alarm after an AcknowledgeAlarm or ShelveAlarm.
	Alarm *Alarm
}

// Decide validates cmd (an ApplyTelemetry, SetConnectivity or SetDesired,
// or a pointer to one) against s at time now (Unix nanoseconds) and returns
// the resulting events. It never mutates s and is deterministic.
//
// Invalid telemetry samples are reported in Decision.Rejected, not as an
// error. Errors are returned for an unknown command type (ErrUnknownCommand)
// and for a SetDesired that fails (ErrVersionConflict, ErrUnknownProperty,
// ErrNotWritable, ErrInvalidValue) or a SetConnectivity with an undefined
// value (ErrInvalidValue).
func (s *State) Decide(cmd any, now int64) (Decision, error) {
	switch c := cmd.(type) {
	case ApplyTelemetry:
		return s.decideTelemetry(&c, now), nil
	case *ApplyTelemetry:
		if c != nil {
			return s.decideTelemetry(c, now), nil
		}
	case SetConnectivity:
		return s.decideConnectivity(c, now)
	case *SetConnectivity:
		if c != nil {
			return s.decideConnectivity(*c, now)
		}
	case SetDesired:
		return s.decideDesired(&c, now)
	case *SetDesired:
		if c != nil {
			return s.decideDesired(c, now)
		}
	}
	return Decision{}, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

// maxStackProps is the model size up to which decideTelemetry tracks the
// newest source time per property without allocating.
const maxStackProps = 64

func (s *State) decideTelemetry(c *ApplyTelemetry, now int64) Decision {
	var d Decision
	if len(c.Samples) == 0 {
		return d
	}
	pol := c.Policy
	if pol == (IngestPolicy{}) {
		pol = DefaultIngestPolicy()
	}
	skew := uint64(max(pol.MaxFutureSkew, 0))
	m := s.Spec.Model

	// newest[i] is the newest source time known for property i: the
	// reported one, then raised by earlier samples of this batch.
	var buf [maxStackProps]newestTime
	var newest []newestTime
	if len(s.Reported) <= maxStackProps {
		newest = buf[:len(s.Reported)]
	} else {
		newest = make([]newestTime, len(s.Reported))
	}
	for i := range s.Reported {
		if s.Reported[i].Quality != QualityUnknown {
			newest[i] = newestTime{t: s.Reported[i].SourceTime, ok: true}
		}
	}

	var applied []AppliedSample
	for i := range c.Samples {
		smp := &c.Samples[i]
		reject := func(r Reason, detail string) {
			d.Rejected = append(d.Rejected, Rejection{Index: i, Property: smp.Property, Reason: r, Detail: detail})
		}
		idx := m.propertyIndex(smp.Property)
		if idx < 0 || idx >= len(s.Reported) {
			reject(ReasonUnknownProperty, "model "+m.Name+" has no property "+strconv.Quote(smp.Property))
			continue
		}
		p := &m.Properties[idx]
		v, reason, detail := p.rule().coerce(smp.Value)
		if reason != 0 {
			reject(reason, detail)
			continue
		}
		q := smp.Quality
		if q == QualityUnknown {
			q = QualityGood
		} else if q > QualityBad {
			reject(ReasonInvalidValue, "unknown quality "+strconv.Itoa(int(q)))
			continue
		}
		ts := smp.SourceTime
		if ts == 0 {
			ts = now
		}
		if ts > now && uint64(ts)-uint64(now) > skew {
			if pol.Future != FutureClamp {
				reject(ReasonFutureTime, "source time "+time.Duration(uint64(ts)-uint64(now)).String()+
					" ahead of server time, max skew "+time.Duration(skew).String())
				continue
			}
			ts = now
		}
		stale := newest[idx].ok && ts < newest[idx].t
		if !stale {
			newest[idx] = newestTime{t: ts, ok: true}
		}
		if applied == nil {
			applied = make([]AppliedSample, 0, len(c.Samples)-len(d.Rejected))
		}
		applied = append(applied, AppliedSample{Property: idx, Value: v, SourceTime: ts, Quality: q, Stale: stale})
	}
	if len(applied) > 0 {
		d.Events = []Event{TelemetryApplied{Samples: applied, ServerTime: now}}
	}
	return d
}

type newestTime struct {
	t  int64
	ok bool
}

func (s *State) decideConnectivity(c SetConnectivity, now int64) (Decision, error) {
	if c.Connectivity > ConnectivityOffline {
		return Decision{}, fmt.Errorf("%w: connectivity %d of twin %s", ErrInvalidValue, c.Connectivity, s.Spec.ID)
	}
	if c.Connectivity == s.Connectivity {
		return Decision{}, nil
	}
	return Decision{Events: []Event{ConnectivityChanged{Connectivity: c.Connectivity, Time: now}}}, nil
}

func (s *State) decideDesired(c *SetDesired, now int64) (Decision, error) {
	if c.ExpectedVersion != 0 && c.ExpectedVersion != s.Version {
		return Decision{}, fmt.Errorf("%w: set desired %s on twin %s: expected version %d, actual %d",
			ErrVersionConflict, c.Property, s.Spec.ID, c.ExpectedVersion, s.Version)
	}
	m := s.Spec.Model
	idx := m.propertyIndex(c.Property)
	if idx < 0 || idx >= len(s.Reported) {
		return Decision{}, fmt.Errorf("%w: %q on twin %s (model %s)", ErrUnknownProperty, c.Property, s.Spec.ID, m.Name)
	}
	p := &m.Properties[idx]
	if !p.Writable {
		return Decision{}, fmt.Errorf("%w: %s on twin %s", ErrNotWritable, p.Name, s.Spec.ID)
	}
	v, reason, detail := p.rule().coerce(c.Value)
	if reason != 0 {
		return Decision{}, fmt.Errorf("%w: set desired %s on twin %s: %s (%s)", ErrInvalidValue, p.Name, s.Spec.ID, detail, reason)
	}
	return Decision{Events: []Event{DesiredSet{Property: idx, Value: v, Time: now, Actor: c.Actor}}}, nil
}
