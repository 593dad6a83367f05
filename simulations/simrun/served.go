package simrun

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/connectors"
	edgemodbus "github.com/plantwin/plantwin/edge/modbus"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/twins"
)

// served is the protocol side of a run: one simulated server per device
// exposed over OPC UA or Modbus TCP, on loopback, and the runtime's own
// edge connectors reading them, in lockstep with the virtual clock.
//
// Each tick the devices' values are put into their servers, then every
// Modbus connector polls once (edge.Sink.Step) and every OPC UA server
// publishes once (manual publishing), and the tick ends when each
// connector has handed its values to the twins and they are applied. The
// twins' commands and writes reach the servers through the connectors;
// the servers hand them to the devices' reactions before answering.
type served struct {
	devs       []*servedDevice
	byDevice   map[string]*servedDevice
	byTwin     map[string]*servedDevice
	host       *edge.Host
	cfg        *edge.Config // the generated connectors and bindings
	log        *slog.Logger
	origin     time.Time // simulated time 0 (source times are origin + At)
	opts       servedOptions
	yaml       []byte                 // the generated connectors and bindings sections
	brokerPort int                    // the MQTT broker's fixed port (0: a free one)
	broker     *simulations.Mosquitto // MQTT devices' broker
	brokerD    string                 // its directory
	mq         paho.Client            // the MQTT devices' side of the broker
	werrs      []string               // writes the devices could not take (reported at the end)
	wmu        sync.Mutex
}

type servedDevice struct {
	dev     *scenario.Device
	conn    string // its connector
	sink    *edge.Sink
	mb      *simulations.ModbusDevice
	ua      *simulations.OPCUAServer
	points  map[string]*servedPoint
	down    bool              // endpoint_down: the server is stopped
	touched map[string]bool   // OPC UA: variables Set this tick
	cmdVars map[string]any    // OPC UA: command variable → its zero value
	base    int64             // the sink's sample count before this tick's values
	sent    int               // MQTT: values published this tick
	tick    time.Duration     // the scenario's tick
	port    int               // fixed port (servedOptions.BasePort); 0: a free one
	host    string            // with port
	fields  map[string]string // MQTT: payload field → point
}

type servedPoint struct {
	typ   twins.Type
	mbp   edgemodbus.Point // Modbus
	node  string           // OPC UA variable
	field string           // MQTT payload field (a dot path)
}

// writeTarget is what a write to a server address means to its device.
type writeTarget struct {
	dev   *servedDevice
	name  string // the command (reaction) or point written
	point bool   // a written point (scenario.Run.Write); else a command (Run.Apply)
	arg   bool   // the command's first parameter arrives as the written value
	mbp   edgemodbus.Point
}

// servedOptions say how the devices are served.
type servedOptions struct {
	// Lockstep: the run's own node reads the devices, one poll or publish
	// per tick, waited for. Otherwise a running node reads them on its
	// own schedule (real time).
	Lockstep bool
	// Host and BasePort: the i-th served device listens on
	// Host:BasePort+i, the MQTT broker on Host:BasePort+len(devices);
	// BasePort 0: free loopback ports.
	Host     string
	BasePort int
	// NoStart: only generate the connectors (for a node's configuration).
	NoStart bool
}

// uaNamespace is the simulated OPC UA servers' namespace index.
const uaNamespace = 2

// newServed builds the servers and connectors of sc's exposed devices
// (none: nil). The connectors are generated, one per device; their
// configuration is validated like a plant file's.
func newServed(sc *scenario.Scenario, run *scenario.Run, mu *sync.Mutex, now func() time.Time, log *slog.Logger, so servedOptions) (*served, error) {
	if so.Host == "" {
		so.Host = "127.0.0.1"
	}
	s := &served{byDevice: map[string]*servedDevice{}, byTwin: map[string]*servedDevice{}, log: log, origin: now(), opts: so}
	var conns, binds []any
	mbWrites := map[*servedDevice]map[[3]int]*writeTarget{} // (unit, coil?, address)
	uaWrites := map[*servedDevice]map[string]*writeTarget{}
	for _, d := range sc.Devices {
		if d.Expose == scenario.ExposeDirect {
			continue
		}

		spec, ok := sc.Plant.Twin(d.Twin)
		if !ok {
			return nil, fmt.Errorf("simrun: device %s (line %d) feeds twin %s, which the plant does not declare", d.Name, d.Line, d.Twin)
		}
		sd := &servedDevice{dev: d, conn: "sim-" + d.Name, points: map[string]*servedPoint{}, touched: map[string]bool{}, cmdVars: map[string]any{}, fields: map[string]string{}, tick: sc.Tick}
		conn, bind, err := sd.generate(spec.Model)
		if err != nil {
			return nil, fmt.Errorf("simrun: device %s (line %d): %w", d.Name, d.Line, err)
		}
		conns, binds = append(conns, conn), append(binds, bind)
		s.devs = append(s.devs, sd)
		s.byDevice[d.Name] = sd
		s.byTwin[d.Twin] = sd
	}
	if len(s.devs) == 0 {
		return nil, nil
	}
	if so.BasePort > 0 {
		for i, sd := range s.devs {
			sd.port, sd.host = so.BasePort+i, so.Host
		}
		s.brokerPort = so.BasePort + len(s.devs)
	}
	for _, f := range sc.Faults {
		if sd := s.byDevice[f.Device]; sd != nil && so.Lockstep && f.Kind == scenario.FaultEndpointDown && sd.dev.Expose != scenario.ExposeModbus {
			return nil, fmt.Errorf("simrun: fault at line %d: endpoint_down of %s device %s is not reproducible in this build (its client reconnects on its own wall-clock schedule); expose it over modbus or direct", f.Line, sd.dev.Expose, f.Device)
		}
	}

	// The connectors' configuration, checked by edge.ParseConfig. Device
	// by device first, so that a problem names its device.
	for i, sd := range s.devs {
		data, _ := yaml.Marshal(map[string]any{"connectors": []any{conns[i]}, "bindings": []any{binds[i]}})
		if _, err := edge.ParseConfig(fmt.Sprintf("device %s (generated connector)", sd.dev.Name), data, sc.Plant); err != nil {
			return nil, fmt.Errorf("simrun: device %s (line %d): its addresses do not make a valid connector:\n%w", sd.dev.Name, sd.dev.Line, err)
		}
	}
	data, _ := yaml.Marshal(map[string]any{"connectors": conns, "bindings": binds})
	cfg, err := edge.ParseConfig("scenario "+sc.Name+" (generated connectors)", data, sc.Plant)
	if err != nil {
		return nil, fmt.Errorf("simrun: the generated connectors: %w", err)
	}
	for _, sd := range s.devs {
		bs := cfg.BindingsOf(sd.conn)
		if len(bs) != 1 {
			return nil, fmt.Errorf("simrun: device %s: %d bindings generated, want 1", sd.dev.Name, len(bs))
		}
		b := bs[0]
		mbWrites[sd], uaWrites[sd] = map[[3]int]*writeTarget{}, map[string]*writeTarget{}
		if sd.dev.Expose == scenario.ExposeMQTT {
			continue // fields and writes set by generate; commands come as messages
		}
		for _, pb := range b.Points {
			sp := sd.points[pb.Property]
			if sd.dev.Expose == scenario.ExposeModbus {
				if sp.mbp, err = modbusPoint(pb.UnitID, pb.Table, pb.Address, pb.Type, pb.ByteOrder, pb.WordOrder, pb.Length, pb.Scale, pb.Offset); err != nil {
					return nil, fmt.Errorf("simrun: device %s point %s: %w", sd.dev.Name, pb.Property, err)
				}
			} else if sp.node, err = uaName(pb.NodeID); err != nil {
				return nil, fmt.Errorf("simrun: device %s point %s: %w", sd.dev.Name, pb.Property, err)
			}
		}
		for _, w := range b.Writes {
			t := &writeTarget{dev: sd, name: w.Property, point: true}
			if err := s.index(sd, t, mbWrites[sd], uaWrites[sd], w.UnitID, w.Table, w.Address, w.Type, w.ByteOrder, w.WordOrder, w.Length, w.Scale, w.Offset, w.NodeID); err != nil {
				return nil, err
			}
		}
		for _, c := range b.Commands {
			t := &writeTarget{dev: sd, name: c.Command, arg: c.Value == ""}
			if err := s.index(sd, t, mbWrites[sd], uaWrites[sd], c.UnitID, c.Table, c.Address, c.Type, c.ByteOrder, c.WordOrder, c.Length, 1, 0, c.NodeID); err != nil {
				return nil, err
			}
		}
	}

	if so.NoStart {
		for i, sd := range s.devs {
			conns[i].(map[string]any)["endpoint"] = sd.endpoint()
			if sd.dev.Expose == scenario.ExposeMQTT {
				conns[i].(map[string]any)["endpoint"] = fmt.Sprintf("tcp://%s:%d", so.Host, s.brokerPort)
			}
		}
		s.yaml, _ = yaml.Marshal(map[string]any{"connectors": conns, "bindings": binds})
		return s, nil
	}
	// The servers.
	for _, sd := range s.devs {
		var err error
		switch sd.dev.Expose {
		case scenario.ExposeModbus:
			err = s.startModbus(sd, run, mu, mbWrites[sd])
		case scenario.ExposeOPCUA:
			err = s.startOPCUA(sd, run, mu, now, uaWrites[sd])
		case scenario.ExposeMQTT:
			err = s.startMQTT(run, mu)
		}
		if err != nil {
			s.stopServers()
			return nil, fmt.Errorf("simrun: device %s: %w", sd.dev.Name, err)
		}
	}
	// Endpoints are known now: the final configuration.
	for i, sd := range s.devs {
		conns[i].(map[string]any)["endpoint"] = sd.endpoint()
		if sd.dev.Expose == scenario.ExposeMQTT {
			conns[i].(map[string]any)["endpoint"] = "tcp://" + s.broker.Addr
		}
	}
	data, _ = yaml.Marshal(map[string]any{"connectors": conns, "bindings": binds})
	s.yaml = data
	if s.cfg, err = edge.ParseConfig("scenario "+sc.Name+" (generated connectors)", data, sc.Plant); err != nil {
		s.stopServers()
		return nil, fmt.Errorf("simrun: the generated connectors: %w", err)
	}
	return s, nil
}

func (sd *servedDevice) endpoint() string {
	if sd.port > 0 {
		switch sd.dev.Expose {
		case scenario.ExposeModbus:
			return fmt.Sprintf("tcp://%s:%d", sd.host, sd.port)
		case scenario.ExposeOPCUA:
			return fmt.Sprintf("opc.tcp://%s:%d", sd.host, sd.port)
		}
	}
	if sd.mb != nil {
		return "tcp://" + sd.mb.Addr()
	}
	if sd.ua != nil {
		return sd.ua.Endpoint()
	}
	switch sd.dev.Expose {
	case scenario.ExposeModbus:
		return "tcp://127.0.0.1:502"
	case scenario.ExposeMQTT:
		return "tcp://127.0.0.1:1883"
	}
	return "opc.tcp://127.0.0.1:4840"
}

// generate returns the device's connector and binding entries (as a
// plant file would write them) and fills sd.points. Points without an
// address get one: Modbus coils for booleans and holding registers
// (float32, int32) for numbers, from address 0 up past the addresses
// given; OPC UA variables "DEVICE.POINT". Commands the device reacts to
// become writes: a coil (or a holding register for a command with a
// parameter) from address 1000 up, or an OPC UA variable
// "DEVICE.cmd.COMMAND". A point named like a writable property of the
// twin is written where it is read.
func (sd *servedDevice) generate(m *twins.Model) (conn, bind map[string]any, err error) {
	d := sd.dev
	props := map[string]any{}
	writes := map[string]any{}
	cmds := map[string]any{}
	conn = map[string]any{
		"name":      sd.conn,
		"protocol":  d.Expose.String(),
		"endpoint":  sd.endpoint(),
		"reconnect": map[string]any{"initial": "10ms", "max": "100ms"},
	}
	if d.Expose == scenario.ExposeModbus {
		// In lockstep the interval is not used (a poll per step); a
		// running node polls once a tick.
		conn["modbus"] = map[string]any{"unit_id": 1, "timeout": "5s", "poll_groups": []any{map[string]any{"name": "sim", "interval": max(sd.tick, 10*time.Millisecond).String()}}}
		nextReg, nextCoil := 0, 0
		for _, p := range d.Points {
			if p.Address == nil {
				continue
			}
			a, _ := toInt(p.Address["address"])
			if t, _ := p.Address["table"].(string); strings.HasPrefix(t, "coil") || strings.HasPrefix(t, "discrete") {
				nextCoil = max(nextCoil, a+1)
			} else {
				nextReg = max(nextReg, a+4)
			}
		}
		for _, p := range d.Points {
			addr := p.Address
			if p.Type != twins.TypeBool && p.Type != twins.TypeInt && p.Type != twins.TypeDouble {
				return nil, nil, fmt.Errorf("point %s is a%s %s; a Modbus device serves numbers and booleans (expose it over opcua or mqtt)", p.Name, article(p.Type), p.Type)
			}
			if addr == nil {
				switch p.Type {
				case twins.TypeBool:
					addr = map[string]any{"table": "coil", "address": nextCoil}
					nextCoil++
				case twins.TypeInt:
					addr = map[string]any{"table": "holding", "address": nextReg, "type": "int32"}
					nextReg += 2
				default:
					addr = map[string]any{"table": "holding", "address": nextReg, "type": "float32"}
					nextReg += 2
				}
			}
			props[p.Name] = addr
			sd.points[p.Name] = &servedPoint{typ: p.Type}
			if prop, ok := m.Property(p.Name); ok && prop.Writable {
				t, _ := addr["table"].(string)
				if strings.HasPrefix(t, "coil") || strings.HasPrefix(t, "holding") {
					writes[p.Name] = addr
				}
			}
		}
		nextCmdCoil, nextCmdReg := 1000, 1000
		for _, rx := range d.Reacts {
			c, ok := m.Command(rx.Name)
			if !ok {
				continue // a reaction to a written point
			}
			if len(c.Parameters) == 0 || !numericType(c.Parameters[0].Type) {
				// A register carries a number; a command whose first
				// parameter is text is a coil, its arguments left behind.
				cmds[c.Name] = map[string]any{"table": "coil", "address": nextCmdCoil, "value": "true"}
				nextCmdCoil++
				continue
			}
			typ := "float32"
			switch c.Parameters[0].Type {
			case twins.TypeInt:
				typ = "int32"
			case twins.TypeBool:
				typ = "uint16"
			}
			cmds[c.Name] = map[string]any{"table": "holding", "address": nextCmdReg, "type": typ}
			nextCmdReg += 2
		}
	} else if d.Expose == scenario.ExposeMQTT {
		conn["mqtt"] = map[string]any{"client_id": "plantwin-" + sd.conn, "qos": 1, "topic": "sim/{twin}/telemetry", "timestamp_field": "ts",
			"command_topic": "sim/{twin}/commands", "response_topic": "sim/{twin}/responses"}
		for _, p := range d.Points {
			addr := p.Address
			if addr == nil {
				addr = map[string]any{"field": p.Name}
			}
			field, _ := addr["field"].(string)
			if field == "" {
				return nil, nil, fmt.Errorf("point %s: an mqtt address names its payload field (field: PATH)", p.Name)
			}
			props[p.Name] = addr
			sd.points[p.Name] = &servedPoint{typ: p.Type, field: field}
			if prop, ok := m.Property(p.Name); ok && prop.Writable {
				writes[p.Name] = map[string]any{"field": "set." + field}
				sd.fields[field] = p.Name
			}
		}
		for _, rx := range d.Reacts {
			if c, ok := m.Command(rx.Name); ok {
				cmds[c.Name] = map[string]any{}
			}
		}
	} else {
		// The watchdog would re-create a subscription that is quiet
		// because the scenario is (a dropout), adding values: not here.
		conn["opcua"] = map[string]any{"publishing_interval": min(max(sd.tick, 10*time.Millisecond), 100*time.Millisecond).String(), "watchdog": "24h"}
		for _, p := range d.Points {
			addr := p.Address
			if addr == nil {
				addr = map[string]any{"node_id": fmt.Sprintf("ns=%d;s=%s.%s", uaNamespace, d.Name, p.Name)}
			}
			props[p.Name] = addr
			sd.points[p.Name] = &servedPoint{typ: p.Type}
			if prop, ok := m.Property(p.Name); ok && prop.Writable {
				writes[p.Name] = map[string]any{"node_id": addr["node_id"]}
			}
		}
		for _, rx := range d.Reacts {
			c, ok := m.Command(rx.Name)
			if !ok {
				continue
			}
			name := d.Name + ".cmd." + c.Name
			node := fmt.Sprintf("ns=%d;s=%s", uaNamespace, name)
			if len(c.Parameters) == 0 || !numericType(c.Parameters[0].Type) {
				// As over Modbus: the reaction takes a number, so a
				// command whose first parameter is text is a flag.
				cmds[c.Name] = map[string]any{"node_id": node, "value": "true"}
				sd.cmdVars[name] = false
			} else {
				cmds[c.Name] = map[string]any{"node_id": node}
				sd.cmdVars[name] = simulations.OPCUAZero(c.Parameters[0].Type)
			}
		}
	}
	bind = map[string]any{"connector": sd.conn, "twin": d.Twin, "properties": props}
	if len(writes) > 0 {
		bind["writes"] = writes
	}
	if len(cmds) > 0 {
		bind["commands"] = cmds
	}
	return conn, bind, nil
}

func numericType(t twins.Type) bool {
	return t == twins.TypeDouble || t == twins.TypeInt || t == twins.TypeBool
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		return int(x), x == math.Trunc(x)
	}
	return 0, false
}

// modbusPoint converts a binding's Modbus fields to the codec's Point.
func modbusPoint(unit int, table string, address int, typ, bo, wo string, length int, scale, offset float64) (edgemodbus.Point, error) {
	t, err := edgemodbus.ParseTable(table)
	if err != nil {
		return edgemodbus.Point{}, err
	}
	if typ == "" && (t == edgemodbus.Coils || t == edgemodbus.DiscreteInputs) {
		typ = "bool"
	}
	ty, err := edgemodbus.ParseType(typ)
	if err != nil {
		return edgemodbus.Point{}, err
	}
	b, err := edgemodbus.ParseByteOrder(bo)
	if err != nil {
		return edgemodbus.Point{}, err
	}
	w, err := edgemodbus.ParseWordOrder(wo)
	if err != nil {
		return edgemodbus.Point{}, err
	}
	if unit < 0 {
		unit = 1
	}
	if scale == 0 {
		scale = 1
	}
	p := edgemodbus.Point{UnitID: uint8(unit), Table: t, Address: uint16(address), Type: ty, ByteOrder: b, WordOrder: w, Length: uint16(length), Scale: scale, Offset: offset}
	return p, p.Validate()
}

// uaName returns the variable name of a node id the simulated server
// serves: a string id in its namespace.
func uaName(nodeID string) (string, error) {
	prefix := fmt.Sprintf("ns=%d;s=", uaNamespace)
	if !strings.HasPrefix(nodeID, prefix) || len(nodeID) == len(prefix) {
		return "", fmt.Errorf("node id %q: a simulated OPC UA device serves string node ids in namespace %d (%sNAME)", nodeID, uaNamespace, prefix)
	}
	return nodeID[len(prefix):], nil
}

// index records where a write (of a point or a command) lands.
func (s *served) index(sd *servedDevice, t *writeTarget, mb map[[3]int]*writeTarget, ua map[string]*writeTarget,
	unit int, table string, address int, typ, bo, wo string, length int, scale, offset float64, node string) error {
	if sd.dev.Expose == scenario.ExposeModbus {
		p, err := modbusPoint(unit, table, address, typ, bo, wo, length, scale, offset)
		if err != nil {
			return fmt.Errorf("simrun: device %s write %s: %w", sd.dev.Name, t.name, err)
		}
		t.mbp = p
		coil := 0
		if p.Table == edgemodbus.Coils {
			coil = 1
		}
		mb[[3]int{int(p.UnitID), coil, int(p.Address)}] = t
		return nil
	}
	name, err := uaName(node)
	if err != nil {
		return fmt.Errorf("simrun: device %s write %s: %w", sd.dev.Name, t.name, err)
	}
	ua[name] = t
	return nil
}

// apply hands a write to its device's reaction (run nil: a replay's
// devices only store what they are written).
func (s *served) apply(run *scenario.Run, mu *sync.Mutex, t *writeTarget, v twins.Value) {
	if run == nil {
		return
	}
	mu.Lock()
	var err error
	if t.point {
		err = run.Write(t.dev.dev.Name, t.name, v)
	} else {
		args := map[string]twins.Value{}
		if t.arg {
			args["value"] = v
		}
		err = run.Apply(t.dev.dev.Name, t.name, args)
	}
	mu.Unlock()
	if err != nil {
		s.wmu.Lock()
		s.werrs = append(s.werrs, err.Error())
		s.wmu.Unlock()
		s.log.Warn("simulated device refused a write", "device", t.dev.dev.Name, "err", err)
	}
}

func (s *served) startModbus(sd *servedDevice, run *scenario.Run, mu *sync.Mutex, writes map[[3]int]*writeTarget) error {
	addr := "127.0.0.1:0"
	if sd.port > 0 {
		addr = fmt.Sprintf("%s:%d", sd.host, sd.port)
	}
	md := simulations.NewModbusDevice(addr)
	md.OnWrite(func(w simulations.ModbusWrite) {
		coil := 0
		if w.Coil {
			coil = 1
		}
		t := writes[[3]int{int(w.Unit), coil, int(w.Address)}]
		if t == nil {
			return // a write to no command or point: stored, nothing reacts
		}
		var v twins.Value
		if w.Coil {
			if len(w.Bits) == 0 {
				return
			}
			v = twins.Bool(w.Bits[0])
		} else {
			var err error
			if v, err = edgemodbus.Decode(t.mbp, w.Regs, nil); err != nil {
				s.log.Warn("simulated device: undecodable write", "device", sd.dev.Name, "address", w.Address, "err", err)
				return
			}
		}
		s.apply(run, mu, t, v)
	})
	if err := md.Start(); err != nil {
		return err
	}
	sd.mb = md
	return nil
}

func (s *served) startOPCUA(sd *servedDevice, run *scenario.Run, mu *sync.Mutex, now func() time.Time, writes map[string]*writeTarget) error {
	opts := []simulations.OPCUAOption{simulations.OPCUAPort(sd.port)}
	if s.opts.Lockstep {
		opts = append(opts, simulations.OPCUAManualPublishing())
	}
	srv := simulations.NewOPCUAServer(append(opts,
		simulations.OPCUAClock(now),
		simulations.OPCUAOnWrite(func(name string, v any) {
			t := writes[name]
			if t == nil {
				return
			}
			tv, ok := fromGo(v)
			if !ok {
				return
			}
			s.apply(run, mu, t, tv)
		}))...)
	names := make([]string, 0, len(sd.points))
	for n := range sd.points {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sp := sd.points[n]
		if err := srv.AddUnsetVariable(sp.node, simulations.OPCUAZero(sp.typ)); err != nil {
			return err
		}
	}
	cmds := make([]string, 0, len(sd.cmdVars))
	for n := range sd.cmdVars {
		cmds = append(cmds, n)
	}
	sort.Strings(cmds)
	for _, n := range cmds {
		if err := srv.AddVariable(n, sd.cmdVars[n]); err != nil {
			return err
		}
	}
	if err := srv.Start(); err != nil {
		return err
	}
	sd.ua = srv
	return nil
}

func toGo(v twins.Value, t twins.Type) any {
	switch t {
	case twins.TypeBool:
		return v.AsBool()
	case twins.TypeInt:
		return v.AsInt()
	case twins.TypeString:
		return v.AsString()
	}
	return v.AsDouble()
}

func fromGo(v any) (twins.Value, bool) {
	switch x := v.(type) {
	case bool:
		return twins.Bool(x), true
	case int32:
		return twins.Int(int64(x)), true
	case int64:
		return twins.Int(x), true
	case float32:
		return twins.Double(float64(x)), true
	case float64:
		return twins.Double(x), true
	case string:
		return twins.String(x), true
	}
	return twins.Value{}, false
}

// start runs the connectors and waits until every served twin is online.
func (s *served) start(ctx context.Context, rt *actors.Runtime, ingest edge.Runtime, clock *actors.VirtualClock) error {
	sinkOf := func(cc *edge.ConnectorConfig) (*edge.Sink, error) {
		sk := edge.NewSink(ingest)
		sk.SetLockstep(clock.Now)
		for _, sd := range s.devs {
			if sd.conn == cc.Name {
				sd.sink = sk
			}
		}
		return sk, nil
	}
	elog := s.log.With("component", "edge")
	h, err := edge.StartHost(rt.System(), s.cfg, "", sinkOf, connectors.Factory(nil, elog), elog)
	if err != nil {
		return fmt.Errorf("simrun: connectors: %w", err)
	}
	s.host = h
	deadline := time.Now().Add(quiesceTimeout)
	for _, sd := range s.devs {
		for {
			st, _, err := rt.State(ctx, sd.dev.Twin)
			if err != nil {
				return err
			}
			if st.Connectivity == twins.ConnectivityOnline && sd.sink.Stats().InFlight == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("simrun: device %s: its connector did not connect within %v (%s)", sd.dev.Name, quiesceTimeout, sd.status())
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

func (sd *servedDevice) status() string {
	st := sd.sink.Stats()
	return fmt.Sprintf("%s to %s, %d values received, %d in flight", sd.dev.Expose, sd.endpoint(), st.Samples, st.InFlight)
}

// set puts one sample of the frame into its device's server.
func (s *served) set(sd *servedDevice, smp scenario.PointSample) error {
	if sd.down {
		return nil
	}
	sp := sd.points[smp.Point]
	if sp == nil {
		return nil
	}
	if sd.mb != nil {
		regs, bits, err := edgemodbus.Encode(sp.mbp, smp.Value)
		if err != nil {
			return fmt.Errorf("device %s point %s = %s: %w", sd.dev.Name, smp.Point, smp.Value, err)
		}
		u, a := sp.mbp.UnitID, sp.mbp.Address
		switch sp.mbp.Table {
		case edgemodbus.HoldingRegisters:
			sd.mb.SetHolding(u, a, regs...)
		case edgemodbus.InputRegisters:
			sd.mb.SetInput(u, a, regs...)
		case edgemodbus.Coils:
			sd.mb.SetCoil(u, a, len(bits) > 0 && bits[0])
		case edgemodbus.DiscreteInputs:
			sd.mb.SetDiscrete(u, a, len(bits) > 0 && bits[0])
		}
		return nil
	}
	if err := sd.ua.Set(sp.node, toGo(smp.Value, sp.typ), s.origin.Add(smp.At)); err != nil {
		return fmt.Errorf("device %s point %s: %w", sd.dev.Name, smp.Point, err)
	}
	sd.touched[sp.node] = true
	return nil
}

// step delivers one tick: endpoints down or back up, the frame's values
// into the servers, one poll or publish per device, and the wait until
// every connector's values are applied.
func (s *served) step(ctx context.Context, f scenario.Frame) error {
	down := map[string]bool{}
	for _, n := range f.Offline {
		down[n] = true
	}
	for _, sd := range s.devs {
		switch {
		case down[sd.dev.Name] && !sd.down:
			if sd.mb != nil {
				sd.mb.Stop()
			}
			if sd.ua != nil {
				sd.ua.Stop()
			}
			sd.down = true // an MQTT device stops publishing
		case !down[sd.dev.Name] && sd.down:
			var err error
			if sd.mb != nil {
				err = sd.mb.Start()
			}
			if sd.ua != nil {
				err = sd.ua.Start()
			}
			if err != nil {
				return fmt.Errorf("device %s back up: %w", sd.dev.Name, err)
			}
			sd.down = false
		}
		if sd.sink == nil {
			continue // a running node's connector reads it
		}
		sd.base = sd.sink.Stats().Samples
		sd.sent = 0
		clear(sd.touched)
	}
	var mqtt map[*servedDevice]map[time.Duration]map[string]any // device → source time → payload
	for _, smp := range f.Samples {
		sd := s.byDevice[smp.Device]
		if sd == nil {
			continue
		}
		if sd.dev.Expose == scenario.ExposeMQTT {
			if sp := sd.points[smp.Point]; sp != nil && !sd.down {
				if mqtt == nil {
					mqtt = map[*servedDevice]map[time.Duration]map[string]any{}
				}
				if mqtt[sd] == nil {
					mqtt[sd] = map[time.Duration]map[string]any{}
				}
				msg := mqtt[sd][smp.At]
				if msg == nil {
					msg = map[string]any{"ts": s.origin.Add(smp.At).Format(time.RFC3339Nano)}
					mqtt[sd][smp.At] = msg
				}
				setPath(msg, sp.field, plain(smp.Value))
				sd.sent++
			}
			continue
		}
		if err := s.set(sd, smp); err != nil {
			return err
		}
	}
	if err := s.publish(mqtt); err != nil {
		return err
	}
	if !s.opts.Lockstep {
		return nil // a running node polls and subscribes on its own
	}
	var wg sync.WaitGroup
	for _, sd := range s.devs {
		if sd.ua != nil {
			sd.ua.PublishNow()
			continue
		}
		if sd.mb == nil {
			continue // MQTT: published above
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A device that is down answers with an error: the connector
			// marks its twin offline; nothing else to do.
			if err := sd.sink.Step(ctx); err != nil && !sd.down {
				s.log.Debug("simulated modbus device: step failed", "device", sd.dev.Name, "err", err)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(quiesceTimeout)
	for _, sd := range s.devs {
		want := sd.base + int64(len(sd.touched)+sd.sent)
		for {
			st := sd.sink.Stats()
			if st.Samples >= want && st.InFlight == 0 {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("device %s: %d of %d values reached its connector within %v (%s)", sd.dev.Name, st.Samples-sd.base, want-sd.base, quiesceTimeout, sd.status())
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	return nil
}

// writeErrors returns the writes the devices refused.
func (s *served) writeErrors() []string {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return append([]string(nil), s.werrs...)
}

// stop stops the connectors, then the servers.
func (s *served) stop() {
	if s == nil {
		return
	}
	s.host.Stop()
	s.stopServers()
}

func (s *served) stopServers() {
	if s.mq != nil {
		s.mq.Disconnect(100)
	}
	if s.broker != nil {
		s.broker.Stop()
		os.RemoveAll(s.brokerD)
	}
	for _, sd := range s.devs {
		if sd.mb != nil {
			sd.mb.Stop()
		}
		if sd.ua != nil {
			sd.ua.Stop()
		}
	}
}

// mixed routes each twin's commands and writes: over its connector when
// its device is served, else straight to the simulated device.
type mixed struct {
	direct actors.Device
	edge   actors.Device
	served map[string]*servedDevice
}

func (m mixed) Writes(twinID, property string) bool {
	if m.served[twinID] != nil {
		return m.edge.Writes(twinID, property)
	}
	return m.direct.Writes(twinID, property)
}

func (m mixed) Do(ctx context.Context, twinID string, cmd twins.CommandRecord) (bool, error) {
	if m.served[twinID] != nil {
		return m.edge.Do(ctx, twinID, cmd)
	}
	return m.direct.Do(ctx, twinID, cmd)
}

func article(t twins.Type) string {
	if t == twins.TypeEnum || t == twins.TypeInt {
		return "n"
	}
	return ""
}
