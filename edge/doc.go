// Package edge holds what the protocol connectors share: the connectors
// and bindings sections of the plant configuration (ParseConfig), the
// Sink that hands a connector's samples to the twin runtime one batch per
// twin per read cycle and reports the devices' connectivity, reconnect
// backoff with jitter (Delays), and the connector Status.
//
// Each protocol is a sub-package: edge/modbus (Modbus TCP, built), and
// edge/opcua and edge/mqtt (not built yet). A connector owns its client on
// one goroutine, never blocks on the runtime (Runtime.Submit is
// asynchronous), marks its twins offline when the device drops off and
// online when it is back, and reconnects by itself.
//
// Not built yet: the store-and-forward outbox (a batch the runtime cannot
// take is counted as failed and dropped), writes and commands to devices,
// status through the API and `plantwin edge status`.
package edge
