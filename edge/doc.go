// Package edge holds what the protocol connectors share: the connectors
// and bindings sections of the plant configuration (ParseConfig), the
// Sink that hands a connector's samples to the twin runtime one batch per
// twin per read cycle and reports the devices' connectivity, reconnect
// backoff with jitter (Delays), and the connector Status.
//
// A node runs its connectors in a Host: each is a protoactor actor,
// "edge/NAME", beside the twins, supervised with exponential backoff (a
// connector whose goroutine panics is stopped and built again over the
// same sink and outbox), and writes and commands for a twin reach the
// connector that binds them through its actor (Host is a Commander).
//
// Each protocol is a sub-package: edge/opcua (OPC UA), edge/modbus
// (Modbus TCP) and edge/mqtt (MQTT). A connector owns its client on
// one goroutine, never blocks on the runtime (Runtime.Submit is
// asynchronous), marks its twins offline when the device drops off and
// online when it is back, and reconnects by itself.
//
// A Sink with an outbox (NewSinkWithOutbox over persistence.Outbox) keeps
// the batches the runtime cannot take, durably and in order, and drains
// them when it can; Status feeds the EdgeService API and `plantwin edge
// status`. Every connector is a Commander: it carries desired values
// and commands to its device (OPC UA writes and method calls, Modbus
// writes, MQTT messages answered on a response topic). Not built yet: the
// twins' side that calls them (rules, commands, reconciliation).
package edge
