// Package scenario reads plant scenario files and evaluates them
// deterministically: the devices of a virtual plant, the signal each of
// their points follows, how they react to commands and writes, a timeline
// of faults, and the expectations a run must meet. The format is
// documented in docs/simulations.md.
//
// The package is pure: no goroutines, no clock, no network. [Parse] and
// [Load] read a file (and the plant configuration and CSV files it names)
// into an immutable [Scenario], reporting every problem as an [Error]
// with file, line, column and field; [LoadWith] gives values for the
// scenario's parameters (params:, used as ${name} in the scenario and its
// plant). [NewRun] starts a [Run] with a seed; [Run.Step] advances the
// virtual clock one tick and returns the samples the devices produced,
// [Run.Apply] and [Run.Write] feed them commands and writes. The same scenario, seed and calls give the same samples on every
// run, bit for bit. Later steps drive the runtime and the protocol servers
// (OPC UA, Modbus, MQTT) from a Run.
//
// Concurrency: a Scenario may be shared by any number of goroutines and
// runs; a Run is used from one goroutine.
package scenario
