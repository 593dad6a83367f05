// Package mqtt is the MQTT connector: it subscribes to a topic pattern
// with a {twin} level (plant/{twin}/telemetry), maps each JSON payload's
// fields to the twin's properties (dot paths, array indexes, scale and
// offset, an optional source-time field), and feeds the twins through an
// edge.Sink. paho's callbacks only hand messages to the connector's
// worker, so a slow runtime never blocks the client; a full queue drops
// and counts. The broker connection's loss marks the bound twins offline;
// paho reconnects with backoff and the connector subscribes again.
//
// The codec (codec.go: topic patterns and payload mapping) is pure and
// separate from the transport (connector.go, over eclipse/paho.mqtt.golang).
package mqtt
