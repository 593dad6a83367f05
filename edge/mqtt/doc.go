// Package mqtt is the MQTT connector: it subscribes to a topic pattern
// with a {twin} level (plant/{twin}/telemetry), maps each JSON payload's
// fields to the twin's properties (dot paths, array indexes, scale and
// offset, an optional source-time field), and feeds the twins through an
// edge.Sink. paho's callbacks only hand messages to the connector's
// worker, so a slow runtime never blocks the client; a full queue drops
// and counts. The broker connection's loss marks the bound twins offline;
// paho reconnects with backoff and the connector subscribes again.
//
// # Commands and writes
//
// The Connector is an edge.Commander. Command and Write are safe for
// concurrent use and block until the device answered, the broker took the
// message, or ctx ended. A command of twin pump-1 is published, with the
// connector's QoS, to its binding's topic (default the connector's
// command_topic with {twin} replaced) as
//
//	{"id":"broker-9f86d081884c7d65-2a","twin":"pump-1","command":"set_speed","args":{"reason":"ramp","rpm":1200},"response_topic":"plant/pump-1/responses"}
//
// args holds the arguments by parameter name as JSON booleans, numbers
// and strings (enums as their symbol); a parameter without a value is
// left out, and args is {} without any. response_topic is the connector's
// response_topic for the twin, left out when the connector has none. A
// write of a property bound with field set.speed, scale 0.5 and offset 2
// sends the value 12.5 to the connector's command_topic as
//
//	{"id":"broker-9f86d081884c7d65-2b","response_topic":"plant/pump-1/responses","set":{"speed":21}}
//
// that is, the value at the field path (each segment an object key),
// numbers mapped back by (value-offset)/scale (an int with scale 1 and
// offset 0 stays an int; bools and strings as they are); "id" and
// "response_topic" are only added when the field path does not start
// with that key.
//
// With a response_topic the connector subscribes to it beside the
// telemetry and waits for the device's answer on the twin's response
// topic, matched by the correlation id:
//
//	{"id":"broker-9f86d081884c7d65-2a","status":"ok"}
//	{"id":"broker-9f86d081884c7d65-2a","status":"error","message":"motor overheated"}
//
// Status "error" fails the call with a *DeviceError (errors.Is
// ErrDeviceRefused) carrying the message; no answer before ctx ends fails
// it with ctx's error ("no response from device"). Without a
// response_topic, or for a write without "id", the call completes when
// the broker acknowledged the message (QoS 1) or it was sent (QoS 0).
// Correlation ids are the connector's name, a random 64-bit number drawn
// when the connector is built, and a counter, in hex. Responses with an
// unknown or expired id, or on another twin's topic, are counted
// (UnmatchedResponses); malformed ones are counted as decode errors and
// logged, throttled.
//
// The codec (codec.go: topic patterns and payload mapping) is pure and
// separate from the transport (connector.go, over eclipse/paho.mqtt.golang);
// command.go holds the command and response messages.
package mqtt
