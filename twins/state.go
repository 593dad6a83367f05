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
	Watermark         int64 // highest source time applied, Unix nanoseconds
}

// NewState returns the initial state of the twin spec, whose Model must be
// set.
func NewState(spec *Spec) *State {
	return &State{
		Spec:     spec,
		Reported: make([]Reported, len(spec.Model.Properties)),
	}
}

// Clone returns a copy of s that shares only the immutable Spec.
func (s *State) Clone() *State {
	c := *s
	c.Reported = append([]Reported(nil), s.Reported...)
	if s.Desired != nil {
		c.Desired = append([]Desired(nil), s.Desired...)
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
	}
}

func (s *State) applyTelemetry(e *TelemetryApplied) {
	for i := range e.Samples {
		a := &e.Samples[i]
		if a.SourceTime > s.Watermark {
			s.Watermark = a.SourceTime
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
