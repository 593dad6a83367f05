// Package simulations describes and runs virtual plants against the
// runtime. For now it holds the bundled demo plant (demo/demo.yaml) and
// [Generator], an in-process feed that drives its twins once a second on
// the runtime's [actors.Clock]. Scenario files, protocol servers (OPC UA,
// Modbus TCP, MQTT), record and replay come with the simulations work.
package simulations
