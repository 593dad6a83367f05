package edge_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	edgemodbus "github.com/plantwin/plantwin/edge/modbus"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

const hostPlant = `
models:
  - name: pump
    properties:
      - {name: flow, type: double}
      - {name: setpoint, type: double, writable: true}
    commands:
      - name: stop
twins:
  - id: pump-{1..2}
    model: pump
connectors:
  - name: plc-1
    protocol: modbus
    endpoint: tcp://%s
    node: node-a
    reconnect: {initial: 50ms, max: 200ms}
    modbus:
      timeout: 300ms
      poll_groups: [{name: fast, interval: 50ms}]
bindings:
  - connector: plc-1
    twin: pump-{1..2}
    properties:
      flow: {table: holding, address: "10*{n}", type: float32}
    writes:
      setpoint: {table: holding, address: "10*{n} + 2", type: float32}
    commands:
      stop: {table: coil, address: "{n}", value: "true"}
`

// modbusConnector adapts the Modbus connector, whose Start cannot fail.
type modbusConnector struct{ *edgemodbus.Connector }

func (c modbusConnector) Start() error { c.Connector.Start(); return nil }

func f32(dev *simulations.ModbusDevice, addr uint16) float32 {
	return math.Float32frombits(uint32(dev.Holding(1, addr))<<16 | uint32(dev.Holding(1, addr+1)))
}

// TestHostRunsConnectorsAsSupervisedActors: a real Modbus connector in
// its actor feeds the twins, carries writes and commands, and is built
// again when one of its goroutines panics.
func TestHostRunsConnectorsAsSupervisedActors(t *testing.T) {
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer dev.Stop()
	b := math.Float32bits(12.5)
	dev.SetHolding(1, 10, uint16(b>>16), uint16(b))
	node := edgetest.Start(t, fmt.Sprintf(hostPlant, dev.Addr()))

	var built atomic.Int32
	var mu sync.Mutex
	var report edge.PanicReporter // of the newest instance
	factory := func(cc *edge.ConnectorConfig, bindings []*edge.Binding, sink *edge.Sink, r edge.PanicReporter) (edge.Connector, error) {
		c, err := edgemodbus.New(cc, bindings, sink, nil, nil)
		if err != nil {
			return nil, err
		}
		c.OnPanic(r)
		built.Add(1)
		mu.Lock()
		report = r
		mu.Unlock()
		return modbusConnector{c}, nil
	}
	sinkOf := func(*edge.ConnectorConfig) (*edge.Sink, error) { return edge.NewSink(node.Runtime), nil }
	host, err := edge.StartHost(node.Runtime.System(), node.Edge, "node-a", sinkOf, factory, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Stop()

	edgetest.WaitFor(t, "pump-1 flow from the PLC", func() bool {
		return node.Twin("pump-1").GetReported()["flow"].GetValue().GetDoubleValue() == 12.5
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := host.Write(ctx, "pump-2", "setpoint", twins.Double(42)); err != nil {
		t.Fatal(err)
	}
	if got := f32(dev, 22); got != 42 {
		t.Errorf("setpoint register = %v, want 42", got)
	}
	if err := host.Command(ctx, "pump-1", "stop", nil); err != nil {
		t.Fatal(err)
	}
	if !dev.Coil(1, 1) {
		t.Error("stop did not set coil 1")
	}
	if err := host.Command(ctx, "pump-1", "start", nil); !errors.Is(err, edge.ErrNotBound) {
		t.Errorf("unbound command: %v", err)
	}

	// A goroutine of the connector panics: its actor's supervisor stops
	// it and builds a new one, which goes on feeding the twins.
	mu.Lock()
	r := report
	mu.Unlock()
	r("boom", []byte("stack"))
	edgetest.WaitFor(t, "the connector rebuilt", func() bool {
		st := host.Statuses()
		return built.Load() == 2 && len(st) == 1 && st[0].Restarts == 1 && st[0].State == edge.StateConnected
	})
	b = math.Float32bits(77)
	dev.SetHolding(1, 10, uint16(b>>16), uint16(b))
	edgetest.WaitFor(t, "values from the rebuilt connector", func() bool {
		return node.Twin("pump-1").GetReported()["flow"].GetValue().GetDoubleValue() == 77
	})
	if err := host.Write(ctx, "pump-1", "setpoint", twins.Double(7)); err != nil {
		t.Fatalf("write through the rebuilt connector: %v", err)
	}
	// A second report from the replaced instance is ignored.
	r("late", nil)
	if st := host.Statuses(); st[0].Restarts != 1 {
		t.Errorf("restarts %d after a stale report", st[0].Restarts)
	}

	// The same configuration on another node runs no connector there.
	other, err := edge.StartHost(node.Runtime.System(), node.Edge, "node-b", sinkOf, factory, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()
	if st := other.Statuses(); len(st) != 0 || built.Load() != 2 {
		t.Errorf("node-b runs %d connectors (%d built), want none: plc-1 is pinned to node-a", len(st), built.Load())
	}
	if err := other.Write(ctx, "pump-1", "setpoint", twins.Double(1)); !errors.Is(err, edge.ErrNotBound) {
		t.Errorf("write on a node without the connector: %v", err)
	}
}
