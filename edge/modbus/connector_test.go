package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	mb "github.com/simonvetter/modbus"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

const plantYAML = `
models:
  - name: pump
    properties:
      - {name: flow, type: double, min: 0, max: 500}
      - {name: temperature, type: double}
      - {name: running, type: bool}
      - {name: starts, type: int}
twins:
  - id: pump-{1..3}
    model: pump
`

const edgeYAML = `
connectors:
  - name: plc-1
    protocol: modbus
    endpoint: tcp://%s
    reconnect: {initial: 50ms, max: 200ms}
    modbus:
      unit_id: 1
      timeout: 300ms
      poll_groups: [{name: fast, interval: 50ms}]
bindings:
  - connector: plc-1
    twin: pump-{1..3}
    properties:
      flow:        {table: holding, address: "100 + 10*{n}", type: float32, word_order: low_first}
      temperature: {table: input, address: "200 + {n}", type: int16, scale: 0.1}
      running:     {table: coil, address: "{n}", type: bool}
      starts:      {table: holding, address: "102 + 10*{n}", type: uint32}
`

type rig struct {
	node *edgetest.Node
	reg  *prometheus.Registry
	rt   *actors.Runtime
	dev  *simulations.ModbusDevice
	conn *Connector
	sink *edge.Sink
}

func startRig(t *testing.T) *rig {
	t.Helper()
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	node := edgetest.Start(t, plantYAML+fmt.Sprintf(edgeYAML, dev.Addr()))
	rt, ecfg := node.Runtime, node.Edge
	sink := edge.NewSink(rt)
	cc, _ := ecfg.Connector("plc-1")
	reg := prometheus.NewRegistry()
	conn, err := New(cc, ecfg.BindingsOf("plc-1"), sink, edge.NewMetrics(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Start()
	r := &rig{node: node, reg: reg, rt: rt, dev: dev, conn: conn, sink: sink}
	t.Cleanup(func() {
		conn.Stop()
		dev.Stop()
	})
	return r
}

func (r *rig) twin(t *testing.T, id string) *pb.Twin {
	t.Helper()
	return r.node.Twin(id)
}

var waitFor = edgetest.WaitFor

func f32LowFirst(f float32) []uint16 {
	b := math.Float32bits(f)
	return []uint16{uint16(b), uint16(b >> 16)}
}

func TestConnectorFeedsTwinsAndSurvivesDeviceRestart(t *testing.T) {
	r := startRig(t)
	for n := 1; n <= 3; n++ {
		r.dev.SetHolding(1, uint16(100+10*n), f32LowFirst(float32(10*n)+0.5)...)
		r.dev.SetHolding(1, uint16(102+10*n), 0, uint16(n)) // uint32 n, high word first
		r.dev.SetInput(1, uint16(200+n), uint16(int16(-15*n)))
		r.dev.SetCoil(1, uint16(n), n%2 == 1)
	}
	// Coalesced: holding 110-113, 120-123, 130-133 (flow and starts of
	// each pump side by side), input 201-203, coils 1-3.
	if got := r.conn.Requests(); got != 5 {
		t.Fatalf("%d read requests per poll, want 5 (%v)", got, r.conn)
	}
	waitFor(t, "pump-3 values", func() bool {
		tw := r.twin(t, "pump-3")
		return tw.Reported["flow"].GetValue().GetDoubleValue() == 30.5 && tw.Connectivity == pb.Connectivity_CONNECTIVITY_ONLINE
	})
	tw := r.twin(t, "pump-2")
	if tw.Reported["flow"].GetValue().GetDoubleValue() != 20.5 || tw.Reported["starts"].GetValue().GetIntValue() != 2 ||
		math.Abs(tw.Reported["temperature"].GetValue().GetDoubleValue()-(-3.0)) > 1e-9 || tw.Reported["running"].GetValue().GetBoolValue() {
		t.Fatalf("pump-2 = %v", tw.Reported)
	}

	// The PLC drops off: twins go offline with the time, the connector
	// keeps trying.
	r.dev.Stop()
	waitFor(t, "pump-1 offline", func() bool {
		return r.twin(t, "pump-1").Connectivity == pb.Connectivity_CONNECTIVITY_OFFLINE
	})
	if st := r.conn.Status(); st.State == edge.StateConnected || st.LastError == "" {
		t.Fatalf("status while the device is down: %+v", st)
	}
	// It comes back with new values: online again, values resume.
	r.dev.SetHolding(1, 110, f32LowFirst(99)...)
	if err := r.dev.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pump-1 back online with the new value", func() bool {
		tw := r.twin(t, "pump-1")
		return tw.Connectivity == pb.Connectivity_CONNECTIVITY_ONLINE && tw.Reported["flow"].GetValue().GetDoubleValue() == 99
	})
	if st := r.conn.Status(); st.Reconnects < 1 || st.State != edge.StateConnected {
		t.Fatalf("status after the device came back: %+v", st)
	}

	// A Modbus exception marks the affected values bad; the connection stays.
	r.dev.FailRegister(110, mb.ErrServerDeviceFailure)
	waitFor(t, "pump-1 flow of bad quality", func() bool {
		return r.twin(t, "pump-1").Reported["flow"].GetQuality() == pb.Quality_QUALITY_BAD
	})
	if st := r.conn.Status(); st.State != edge.StateConnected || st.ReadErrors == 0 {
		t.Fatalf("status during exceptions: %+v", st)
	}
	r.dev.FailRegister(110, nil)
	waitFor(t, "pump-1 flow good again", func() bool {
		return r.twin(t, "pump-1").Reported["flow"].GetQuality() == pb.Quality_QUALITY_GOOD
	})
	if s := r.sink.Stats(); s.Accepted == 0 || s.FailedBatches != 0 {
		t.Fatalf("sink stats %+v", s)
	}
	for _, want := range []struct {
		name, kind string
		min        float64
	}{
		{"plantwin_edge_reconnects_total", "", 1},
		{"plantwin_edge_read_errors_total", "exception", 1},
		{"plantwin_edge_samples_total", "", 10},
		{"plantwin_edge_connected", "", 1},
	} {
		if got := metricValue(t, r.reg, want.name, want.kind); got < want.min {
			t.Errorf("%s{kind=%q} = %v, want at least %v", want.name, want.kind, got, want.min)
		}
	}
}

// metricValue sums the samples of a metric for connector plc-1 (and kind).
func metricValue(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["connector"] != "plc-1" || (kind != "" && labels["kind"] != kind) {
				continue
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

const writesYAML = `
connectors:
  - name: plc-1
    protocol: modbus
    endpoint: tcp://%s
    reconnect: {initial: 50ms, max: 200ms}
    modbus:
      timeout: 300ms
      poll_groups: [{name: fast, interval: 50ms}]
bindings:
  - connector: plc-1
    twin: pump-{1..3}
    properties:
      flow: {table: holding, address: "100 + 10*{n}", type: float32}
    writes:
      setpoint: {table: holding, address: "300 + 2*{n}", type: float32}
    commands:
      stop:  {table: coil, address: "400 + {n}", value: "true"}
      speed: {table: holding, address: "500 + {n}", type: uint16}
`

const writesPlant = `
models:
  - name: pump
    properties:
      - {name: flow, type: double}
      - {name: setpoint, type: double, writable: true}
    commands:
      - name: stop
      - name: speed
        parameters: [{name: rpm, type: int, required: true}]
twins:
  - id: pump-{1..3}
    model: pump
`

func TestConnectorWritesAndCommands(t *testing.T) {
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer dev.Stop()
	node := edgetest.Start(t, writesPlant+fmt.Sprintf(writesYAML, dev.Addr()))
	rt, ecfg := node.Runtime, node.Edge
	cc, _ := ecfg.Connector("plc-1")
	conn, err := New(cc, ecfg.BindingsOf("plc-1"), edge.NewSink(rt), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Start()
	defer conn.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, "connected", func() bool { return conn.Status().State == edge.StateConnected })

	if err := conn.Write(ctx, "pump-2", "setpoint", twins.Double(42.5)); err != nil {
		t.Fatal(err)
	}
	b := math.Float32bits(42.5)
	if hi, lo := dev.Holding(1, 304), dev.Holding(1, 305); hi != uint16(b>>16) || lo != uint16(b) {
		t.Fatalf("setpoint registers = %#04x %#04x, want %#04x %#04x", hi, lo, uint16(b>>16), uint16(b))
	}
	if err := conn.Command(ctx, "pump-3", "stop", nil); err != nil {
		t.Fatal(err)
	}
	if !dev.Coil(1, 403) {
		t.Fatal("stop did not set coil 403")
	}
	if err := conn.Command(ctx, "pump-1", "speed", []edge.Arg{{Name: "rpm", Value: twins.Int(1450)}}); err != nil {
		t.Fatal(err)
	}
	if got := dev.Holding(1, 501); got != 1450 {
		t.Fatalf("speed register = %d, want 1450", got)
	}
	for _, tc := range []struct {
		name string
		err  error
		call func() error
	}{
		{"unbound property", ErrNotBound, func() error { return conn.Write(ctx, "pump-1", "flow", twins.Double(1)) }},
		{"unbound command", ErrNotBound, func() error { return conn.Command(ctx, "pump-1", "start", nil) }},
	} {
		if err := tc.call(); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	if err := conn.Command(ctx, "pump-1", "speed", []edge.Arg{{Name: "rpm", Value: twins.Int(70000)}}); err == nil {
		t.Error("a speed out of uint16 range was written")
	}
	// While the device is down, writes fail at once with ErrNotConnected.
	dev.Stop()
	waitFor(t, "disconnected", func() bool { return conn.Status().State != edge.StateConnected })
	if err := conn.Write(ctx, "pump-1", "setpoint", twins.Double(1)); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("write while down: %v, want ErrNotConnected", err)
	}
}
