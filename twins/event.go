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

// AlarmChanged records one operation on the alarm of rule Rule: raised or
// cleared by the rule's evaluation at event time At, acknowledged, shelved
// or unshelved by Actor.
type AlarmChanged struct {
	Rule    int // index into Model.Rules
	Kind    AlarmTransitionKind
	At      int64  // Unix nanoseconds: event time for raise and clear, the runtime's clock otherwise
	Actor   string // who acknowledged, shelved or unshelved ("shelve-expiry" when a shelve ran out)
	Message string // for a raise
	Until   int64  // for a shelve: when it ends
	Reason  string // for a shelve
	// To is the alarm's state after the operation (for watchers and the
	// audit; Apply recomputes it through the lifecycle).
	To AlarmState
}

// RulePending records that rule Rule's condition started to hold at event
// time Since while its alarm was not active (its for: window opened), or,
// with Since 0, that it stopped holding before the window ended.
type RulePending struct {
	Rule  int // index into Model.Rules
	Since int64
}

// CommandChanged records a command's new record: created, dispatched,
// answered, retried or timed out.
type CommandChanged struct {
	Command CommandRecord
}

// WatermarkAdvanced records that the twin's event time moved to To
// without a sample: a rule window ended while the device was quiet.
type WatermarkAdvanced struct {
	To int64
	At int64 // the runtime's clock at which event time reached To
}

// RuleFired records a rule action that reaches beyond the twin's own
// state: a command asked of its parent or children (carried out by them,
// each under an idempotency key derived from this event's version), or a
// message emitted to watchers.
type RuleFired struct {
	Rule    int    // index into Model.Rules
	Target  string // "parent" or "children" for a command; "" for a message
	Command string
	Args    []CommandArg
	Message string
	At      int64 // event time
}

func (TelemetryApplied) isEvent()    {}
func (RuleFired) isEvent()           {}
func (ConnectivityChanged) isEvent() {}
func (DesiredSet) isEvent()          {}
func (AlarmChanged) isEvent()        {}
func (RulePending) isEvent()         {}
func (CommandChanged) isEvent()      {}
func (WatermarkAdvanced) isEvent()   {}
