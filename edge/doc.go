// Package edge will hold the connector actors that speak the plant's
// protocols (edge/opcua, edge/modbus, edge/mqtt) and feed twins through the
// runtime's ingest path (actors.Runtime.Submit). The connectors are built
// by the edge work; until then the demo plant is fed in-process by
// simulations.Generator.
package edge
