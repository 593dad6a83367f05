// Package twins is the pure domain of plantwin: the configuration model of a
// plant (models, properties, commands and declared twins) and the
// deterministic state machine of a single twin.
//
// # Purity rule
//
// twins performs no I/O (the one exception is [LoadConfig], which reads a
// file), starts no goroutines, never reads the clock and keeps no mutable
// package-level state. Time is passed in as int64 Unix nanoseconds. It
// imports only the standard library and gopkg.in/yaml.v3; in particular it
// must never import protoactor, pebble, grpc or the api packages.
// `go list -deps ./twins` is the check.
//
// # State machine
//
// A twin is hosted as a [State]. Inputs are commands (ApplyTelemetry,
// SetConnectivity, SetDesired) given to [State.Decide], which validates them
// against the twin's [Model] and returns a [Decision]: the events to persist
// and the rejected telemetry samples. Decide never mutates the state.
// Persisted events are then folded in with [State.Apply], which never fails.
// Both are deterministic: replaying the same events on a fresh state built
// from the same [Spec] yields an equal state.
//
// # Rules and alarms (being built)
//
// A model may declare rules (see [Rule]): CEL conditions over the twin's
// state with a `for:` window in event time, `clear_when` hysteresis and a
// severity, compiled once when the configuration is parsed. [Rule.Step]
// decides, as a pure function of the state, the values before the event,
// the rule's memory and the event time, whether the rule's alarm is raised
// or cleared, and when it must be evaluated again if nothing arrives.
// [Alarm] is the ISA-18.2 lifecycle of one alarm (normal, active
// unacknowledged, active acknowledged, cleared unacknowledged, with
// shelving). Neither is wired into Decide and Apply yet: twins do not
// evaluate rules or journal alarms in this build.
//
// # Concurrency
//
// A State is not safe for concurrent use; it is owned by one goroutine (an
// actor). A [Config] and the [Model] and [Spec] values it holds are immutable
// after parsing and may be shared freely between goroutines; callers must not
// modify them (Spec.Labels may be shared between twins of one template).
package twins
