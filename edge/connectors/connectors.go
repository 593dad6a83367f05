// Package connectors builds the edge connector of any protocol (OPC UA,
// Modbus TCP, MQTT) for an edge.Host: the one factory that plantwin serve
// and the simulation runner share.
package connectors

import (
	"fmt"
	"log/slog"

	"github.com/plantwin/plantwin/edge"
	edgemodbus "github.com/plantwin/plantwin/edge/modbus"
	edgemqtt "github.com/plantwin/plantwin/edge/mqtt"
	edgeopcua "github.com/plantwin/plantwin/edge/opcua"
)

// Connector is a built connector of any protocol, not started.
type Connector interface {
	edge.Connector
	// OnPanic sends a panic of one of its goroutines to report instead of
	// crashing the process. Call before Start.
	OnPanic(edge.PanicReporter)
}

// New builds the connector of cc's protocol over its bindings and sink.
// met may be nil.
func New(cc *edge.ConnectorConfig, bindings []*edge.Binding, sink *edge.Sink, met *edge.Metrics, log *slog.Logger) (Connector, error) {
	switch cc.Protocol {
	case edge.ProtocolModbus:
		c, err := edgemodbus.New(cc, bindings, sink, met, log)
		if err != nil {
			return nil, err
		}
		return startless{c}, nil
	case edge.ProtocolMQTT:
		return edgemqtt.New(cc, bindings, sink, met, log)
	case edge.ProtocolOPCUA:
		c, err := edgeopcua.New(cc, bindings, sink, met, log)
		if err != nil {
			return nil, err
		}
		return startless{c}, nil
	}
	return nil, fmt.Errorf("connector %s: unknown protocol %d", cc.Name, cc.Protocol)
}

// Factory returns an edge.Factory building connectors with New, their
// panics reported to the Host.
func Factory(met *edge.Metrics, log *slog.Logger) edge.Factory {
	return func(cc *edge.ConnectorConfig, bindings []*edge.Binding, sink *edge.Sink, report edge.PanicReporter) (edge.Connector, error) {
		c, err := New(cc, bindings, sink, met, log)
		if err != nil {
			return nil, err
		}
		c.OnPanic(report)
		return c, nil
	}
}

// starter is a connector whose Start cannot fail.
type starter interface {
	Start()
	Stop()
	Status() edge.Status
	String() string
	edge.Commander
	OnPanic(edge.PanicReporter)
}

type startless struct{ starter }

func (s startless) Start() error { s.starter.Start(); return nil }
