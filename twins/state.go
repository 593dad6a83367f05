package twins

// Reported is the last value reported by the device for a property.
type Reported struct {
	Value      Value
	SourceTime int64   // Unix nanoseconds, when the device measured it
	ServerTime int64   // Unix nanoseconds, when the runtime accepted it
	Quality    Quality // QualityUnknown means never reported
}

// Desired is the value an operator wants a writable property to take.
type Desired struct {
	Value      Value
	UpdateTime int64  // Unix nanoseconds
	UpdatedBy  string // who set it, e.g. "token:alice"
}

// State is the state of one twin. It is changed only by [State.Apply] and is
// not safe for concurrent use.
type State struct {
	Spec              *Spec
	Version           int64      // incremented by every applied event
	Reported          []Reported // indexed by Property.Index
	Desired           []Desired  // nil until a desired value is set, then indexed by Property.Index
	Connectivity      Connectivity
	ConnectivitySince int64 // Unix nanoseconds
	Watermark         int64 // event time: highest source time applied (or advanced to), Unix nanoseconds
	WatermarkAt       int64 // the runtime's clock when the watermark was reached (0: never)

	// Alarms holds one alarm per rule of the model, indexed like
	// Model.Rules; Pending the event time since which each rule's
	// condition has held while waiting for its for: window (0: not).
	Alarms  []Alarm
	Pending []int64
	// Commands are the unfinished commands and the newest finished ones,
	// oldest first; CommandSeq is the number of the newest ("c7": 7).
	Commands   []CommandRecord
	CommandSeq int64
	// Windows buffers recent good samples of the properties the rules'
	// window functions read.
	Windows []WindowBuffer

	// Reconcile, set by the runtime, says whether a connector writes a
	// property; a rule's set_desired action on it is then written to the
	// device like a desired value set through the API. Not state: it is
	// neither journaled nor cloned into snapshots.
	Reconcile func(property string) bool
	// Kids are the children's values the model's roll-ups read, kept by
	// the runtime (rebuilt at activation, updated by the children's
	// reports); not journaled, and not copied by Clone.
	Kids    map[string]*Kid
	kidAggs []rollupAgg // running sums and counts over Kids, per Model.Rollups
}

// NewState returns the initial state of the twin spec, whose Model must be
// set.
func NewState(spec *Spec) *State {
	s := &State{
		Spec:     spec,
		Reported: make([]Reported, len(spec.Model.Properties)),
	}
	s.initAlarms()
	s.initWindows()
	return s
}

// initAlarms gives s one alarm per rule of its model, in the normal state.
func (s *State) initAlarms() {
	rules := s.Spec.Model.Rules
	if len(rules) == 0 {
		return
	}
	s.Alarms = make([]Alarm, len(rules))
	s.Pending = make([]int64, len(rules))
	for i := range rules {
		s.Alarms[i] = Alarm{Name: rules[i].Name, Severity: rules[i].Severity}
	}
}

// Clone returns a copy of s that shares only the immutable Spec.
func (s *State) Clone() *State {
	c := *s
	c.Kids, c.kidAggs = nil, nil
	c.Reported = append([]Reported(nil), s.Reported...)
	if s.Desired != nil {
		c.Desired = append([]Desired(nil), s.Desired...)
	}
	if s.Alarms != nil {
		c.Alarms = append([]Alarm(nil), s.Alarms...)
		c.Pending = append([]int64(nil), s.Pending...)
	}
	if s.Windows != nil {
		c.Windows = make([]WindowBuffer, len(s.Windows))
		for i := range s.Windows {
			c.Windows[i] = s.Windows[i].clone()
		}
	}
	if s.Commands != nil {
		c.Commands = make([]CommandRecord, len(s.Commands))
		for i := range s.Commands {
			c.Commands[i] = s.Commands[i].Clone()
		}
	}
	return &c
}

// Apply folds ev into s and increments the version. It never fails and is
// deterministic. Samples and desired values whose property index is out of
// range (events written for another version of the model) are skipped.
func (s *State) Apply(ev Event) {
	s.Version++
	switch e := ev.(type) {
	case TelemetryApplied:
		s.applyTelemetry(&e)
	case *TelemetryApplied:
		s.applyTelemetry(e)
	case ConnectivityChanged:
		s.Connectivity, s.ConnectivitySince = e.Connectivity, e.Time
	case *ConnectivityChanged:
		s.Connectivity, s.ConnectivitySince = e.Connectivity, e.Time
	case DesiredSet:
		s.applyDesired(&e)
	case *DesiredSet:
		s.applyDesired(e)
	case AlarmChanged:
		s.applyAlarm(&e)
	case *AlarmChanged:
		s.applyAlarm(e)
	case RulePending:
		if e.Rule >= 0 && e.Rule < len(s.Pending) {
			s.Pending[e.Rule] = e.Since
		}
	case CommandChanged:
		s.applyCommand(&e)
	case *CommandChanged:
		s.applyCommand(e)
	case WatermarkAdvanced:
		if e.To > s.Watermark {
			s.Watermark, s.WatermarkAt = e.To, e.At
		}
	}
}

// applyAlarm folds an AlarmChanged in through the alarm's own lifecycle
// operations; an operation the alarm refuses (an event written for another
// version of the rules) changes nothing.
func (s *State) applyAlarm(e *AlarmChanged) {
	if e.Rule < 0 || e.Rule >= len(s.Alarms) {
		return
	}
	alarmOp(&s.Alarms[e.Rule], e)
	if e.Kind == AlarmRaised || e.Kind == AlarmCleared {
		s.Pending[e.Rule] = 0
	}
}

// alarmOp applies e's operation to a.
func alarmOp(a *Alarm, e *AlarmChanged) {
	switch e.Kind {
	case AlarmRaised:
		a.Raise(e.At, e.Message)
	case AlarmCleared:
		a.Clear(e.At)
	case AlarmAcknowledged:
		_, _ = a.Acknowledge(e.At, e.Actor)
	case AlarmShelved:
		_, _ = a.Shelve(e.At, e.Until, e.Actor, e.Reason)
	case AlarmUnshelved:
		if e.Actor == shelveExpiryActor {
			a.Expire(e.At)
		} else {
			a.Unshelve(e.At, e.Actor)
		}
	}
}

// withTo returns e with To set to the state the alarm takes by it.
func (s *State) withTo(e AlarmChanged) AlarmChanged {
	if e.Rule >= 0 && e.Rule < len(s.Alarms) {
		a := s.Alarms[e.Rule]
		alarmOp(&a, &e)
		e.To = a.State
	}
	return e
}

func (s *State) applyTelemetry(e *TelemetryApplied) {
	for i := range e.Samples {
		a := &e.Samples[i]
		if a.SourceTime > s.Watermark {
			s.Watermark, s.WatermarkAt = a.SourceTime, e.ServerTime
		}
		if a.Property >= 0 && a.Property < len(s.Reported) {
			s.windowSample(a)
		}
		if a.Stale || a.Property < 0 || a.Property >= len(s.Reported) {
			continue
		}
		r := &s.Reported[a.Property]
		if r.Quality != QualityUnknown && a.SourceTime < r.SourceTime {
			continue
		}
		*r = Reported{Value: a.Value, SourceTime: a.SourceTime, ServerTime: e.ServerTime, Quality: a.Quality}
	}
}

func (s *State) applyDesired(e *DesiredSet) {
	if e.Property < 0 || e.Property >= len(s.Reported) {
		return
	}
	if s.Desired == nil {
		s.Desired = make([]Desired, len(s.Reported))
	}
	s.Desired[e.Property] = Desired{Value: e.Value, UpdateTime: e.Time, UpdatedBy: e.Actor}
}
