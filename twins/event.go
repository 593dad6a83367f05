package twins

// Event is a fact decided by [State.Decide] and folded in by [State.Apply].
// Events are persisted, so they refer to properties by index into
// Model.Properties.
type Event interface{ isEvent() }

// TelemetryApplied records the accepted samples of one ApplyTelemetry.
type TelemetryApplied struct {
	Samples    []AppliedSample
	ServerTime int64 // Unix nanoseconds when the runtime accepted the samples
}

// AppliedSample is one accepted, validated and coerced sample.
type AppliedSample struct {
	Property   int // index into Model.Properties
	Value      Value
	SourceTime int64 // Unix nanoseconds, already defaulted or clamped
	Quality    Quality
	Stale      bool // older than the reported value: goes to history only
}

// ConnectivityChanged records a change of the device's reachability.
type ConnectivityChanged struct {
	Connectivity Connectivity
	Time         int64 // Unix nanoseconds
}

// DesiredSet records a new desired value of a writable property.
type DesiredSet struct {
	Property int // index into Model.Properties
	Value    Value
	Time     int64  // Unix nanoseconds
	Actor    string // who asked for it, e.g. "token:alice"
}

func (TelemetryApplied) isEvent()    {}
func (ConnectivityChanged) isEvent() {}
func (DesiredSet) isEvent()          {}
