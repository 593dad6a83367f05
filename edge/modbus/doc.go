// Package modbus is the Modbus TCP connector: it polls a device's coils,
// discrete inputs, holding and input registers in poll groups with their
// own intervals, coalesces adjacent addresses into the fewest requests
// within the protocol's limits (125 registers, 2000 bits per read),
// decodes bool, int16, uint16, int32, uint32, float32, float64 and string
// values with any byte and word order, scale and offset, and feeds the
// bound twins through an edge.Sink.
//
// A device exception or a timeout marks the affected values bad (keeping
// their last value) and the connector keeps polling; a lost connection (or
// three timeouts in a row) marks every bound twin offline, and the
// connector reconnects with exponential backoff and jitter.
//
// The codec (codec.go) and the request planner (plan.go) are pure and
// separate from the transport (connector.go, over simonvetter/modbus).
package modbus
