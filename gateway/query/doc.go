// Package query compiles and evaluates filter predicates over the state of
// a digital twin. Filters are written in CEL, the Common Expression
// Language (https://cel.dev), and are used by the gRPC gateway for the
// filters of ListTwins and WatchTwins:
//
//	reported.temperature.value > 80 && labels.line == "L2"
//
// [Compile] parses and type-checks a filter once; the [Filter] it returns is
// evaluated on a twin with [Filter.Match], or on a declared twin alone with
// [Filter.MatchSpec] when it is [Filter.Static].
//
// # Variables
//
// A filter sees these variables (times are CEL timestamps in UTC):
//
//	Name                Type                What it holds
//	id                  string              twin ID (Spec.ID)
//	model               string              model name (Spec.ModelName)
//	parent              string              parent twin ID, "" for a root
//	labels              map(string, string) the twin's labels
//	version             int                 State.Version, incremented by every event
//	active              bool                whether the twin is activated now
//	connectivity        string              "online", "offline" or "unknown"
//	connectivity_since  timestamp           when connectivity last changed (1970-01-01 if never)
//	reported            map(string, dyn)    last reported value of each property that has been reported
//	desired             map(string, dyn)    desired value of each property that has one
//
// id, model, parent and labels are the spec variables: they never change
// for a twin. A filter that reads no other variable is static.
//
// Each entry of reported is a map with the keys
//
//	value        bool, int, double or string (an enum property gives its symbol)
//	quality      "good", "uncertain" or "bad"
//	source_time  timestamp: when the device measured the value
//	server_time  timestamp: when the runtime accepted it
//
// and each entry of desired a map with the keys value and update_time.
// A property that was never reported is absent from reported, and one
// without a desired value is absent from desired.
//
// # Missing keys
//
// Reading an absent key — reported.pressure for a twin that never reported
// pressure, or labels.area for a twin without that label — is an
// evaluation error: Match returns false and the error, so callers count the
// twin as not matching. Guard with has() or `in` to test presence without
// an error; && and || skip the other side once the result is decided:
//
//	has(reported.pressure) && reported.pressure.value > 2.5
//	"area" in labels && labels.area == "north"
//	!has(reported.temperature)              // never reported
//
// # Numbers and times
//
// Numeric comparisons work across int and double, so
// reported.temperature.value > 80 compares a double with an int and
// reported.count.value > 2.5 an int with a double. Equality is numeric too
// (3 == 3.0). Timestamps compare with timestamp() literals and subtract to
// durations:
//
//	reported.temperature.source_time > timestamp('2024-05-01T00:00:00Z')
//	reported.power.server_time - reported.power.source_time > duration('5s')
//	connectivity == "offline" && connectivity_since < timestamp('2024-05-01T00:00:00Z')
//
// # Examples
//
//	labels.line == "L2"                                     // static
//	model == "pump" && parent == "line-1"                   // static
//	reported.mode.value == "auto"                           // enum symbol
//	reported.running.value && reported.running.quality == "good"
//	reported.exists(p, reported[p].quality == "bad")        // any bad property
//	"setpoint" in desired && desired.setpoint.update_time > reported.power.source_time
//	active && connectivity == "online" && version > 100
//
// # Limits
//
// A filter is at most [MaxExprLen] bytes and must have type bool (or dyn,
// checked when it is evaluated). The work of one evaluation is bounded by a
// CEL cost limit of 100,000 (about one unit per operation): a filter that
// provably stays below it runs without cost tracking: that is every filter
// without a comprehension (all, exists, exists_one, map, filter) or a
// function whose cost grows with its input (contains, matches). The others
// are tracked and stopped with an error when they exceed the limit.
//
// # Performance
//
// Match builds nothing per twin beyond what the filter reads: the
// variables are resolved lazily, and reported and desired are views on the
// twin's state that look a property up in the model only when the filter
// names it. A filter reading one reported value takes a few hundred
// nanoseconds and two small allocations.
//
// # Concurrency
//
// A [Filter] is immutable and safe for concurrent use by any number of
// goroutines. Match and MatchSpec only read the state and the spec, which
// must not change until they return (a [twins.State] is owned by one
// goroutine, which either evaluates the filter itself or hands out a copy).
package query
