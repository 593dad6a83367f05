package simulations

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

// DemoPlant serves a plant's twins as simulated devices over real
// protocols on loopback, for the runtime's own edge connectors to read:
// the twins whose properties are all numbers and booleans (the demo's
// pumps) sit on Modbus TCP PLCs, one PLC per parent (a line), with
// float32 and int32 holding registers and coils; every other twin (the
// demo's lines and motors, with enums and strings) is served by one OPC
// UA server, a variable per property ("TWIN.PROPERTY" in namespace 2).
//
// A DemoPlant is a Sink: a Generator feeding it writes its values into
// the devices, where the connectors find them. EdgeConfig returns the
// connectors and bindings that read them (and write back setpoints and
// commands: writable properties to their own register or variable,
// commands without parameters to a coil or a boolean variable).
type DemoPlant struct {
	cfg   *twins.Config
	plcs  map[string]*ModbusDevice // parent → PLC
	scada *OPCUAServer
	where map[string]demoAddr // twin\x00property → where it is served
	poll  time.Duration
	conns []any
	binds []any
}

type demoAddr struct {
	plc  *ModbusDevice
	reg  uint16 // holding register, or coil
	coil bool
	typ  twins.Type
	node string // OPC UA variable
}

// modbusable reports whether every property of m fits a Modbus register
// or coil.
func modbusable(m *twins.Model) bool {
	for i := range m.Properties {
		switch m.Properties[i].Type {
		case twins.TypeDouble, twins.TypeInt, twins.TypeBool:
		default:
			return false
		}
	}
	return true
}

// StartDemoPlant starts the devices serving cfg's twins; the connectors
// it describes poll (Modbus) and publish (OPC UA) every poll.
func StartDemoPlant(cfg *twins.Config, poll time.Duration) (*DemoPlant, error) {
	d := &DemoPlant{cfg: cfg, plcs: map[string]*ModbusDevice{}, where: map[string]demoAddr{}, poll: poll}
	type plcPlan struct {
		name  string
		twins []*twins.Spec
	}
	var plcOrder []string
	plans := map[string]*plcPlan{}
	var uaTwins []*twins.Spec
	for _, t := range cfg.Twins {
		if !modbusable(t.Model) {
			uaTwins = append(uaTwins, t)
			continue
		}
		parent := cmpOr(t.Parent, "plant")
		pl := plans[parent]
		if pl == nil {
			pl = &plcPlan{name: "plc-" + parent}
			plans[parent] = pl
			plcOrder = append(plcOrder, parent)
		}
		pl.twins = append(pl.twins, t)
	}
	for _, parent := range plcOrder {
		pl := plans[parent]
		plc := NewModbusDevice("127.0.0.1:0")
		if err := plc.Start(); err != nil {
			d.Stop()
			return nil, err
		}
		d.plcs[parent] = plc
		d.conns = append(d.conns, map[string]any{
			"name": pl.name, "protocol": "modbus", "endpoint": "tcp://" + plc.Addr(),
			"reconnect": map[string]any{"initial": "200ms", "max": "5s"},
			"modbus":    map[string]any{"poll_groups": []any{map[string]any{"name": "demo", "interval": poll.String()}}, "max_gap": 8},
		})
		for i, t := range pl.twins {
			base, coil := uint16(i*20), uint16(i*10)
			props, writes, cmds := map[string]any{}, map[string]any{}, map[string]any{}
			for j := range t.Model.Properties {
				p := &t.Model.Properties[j]
				a := demoAddr{plc: plc, typ: p.Type}
				var spec map[string]any
				switch p.Type {
				case twins.TypeBool:
					a.coil, a.reg = true, coil
					spec = map[string]any{"table": "coil", "address": int(coil)}
					coil++
				case twins.TypeInt:
					a.reg = base
					spec = map[string]any{"table": "holding", "address": int(base), "type": "int32"}
					base += 2
				default:
					a.reg = base
					spec = map[string]any{"table": "holding", "address": int(base), "type": "float32"}
					base += 2
				}
				d.where[t.ID+"\x00"+p.Name] = a
				props[p.Name] = spec
				if p.Writable {
					writes[p.Name] = spec
				}
			}
			for _, c := range t.Model.Commands {
				cmds[c.Name] = map[string]any{"table": "coil", "address": int(coil), "value": "true"}
				coil++
			}
			d.binds = append(d.binds, binding(pl.name, t.ID, props, writes, cmds))
		}
	}
	if len(uaTwins) > 0 {
		d.scada = NewOPCUAServer()
		for _, t := range uaTwins {
			props, writes, cmds := map[string]any{}, map[string]any{}, map[string]any{}
			for j := range t.Model.Properties {
				p := &t.Model.Properties[j]
				name := t.ID + "." + p.Name
				if err := d.scada.AddVariable(name, OPCUAZero(p.Type)); err != nil {
					d.Stop()
					return nil, err
				}
				d.where[t.ID+"\x00"+p.Name] = demoAddr{node: name, typ: p.Type}
				spec := map[string]any{"node_id": "ns=2;s=" + name}
				props[p.Name] = spec
				if p.Writable {
					writes[p.Name] = spec
				}
			}
			for _, c := range t.Model.Commands {
				name := t.ID + ".cmd." + c.Name
				if err := d.scada.AddVariable(name, false); err != nil {
					d.Stop()
					return nil, err
				}
				cmds[c.Name] = map[string]any{"node_id": "ns=2;s=" + name, "value": "true"}
			}
			d.binds = append(d.binds, binding("scada", t.ID, props, writes, cmds))
		}
		if err := d.scada.Start(); err != nil {
			d.Stop()
			return nil, err
		}
		d.conns = append(d.conns, map[string]any{
			"name": "scada", "protocol": "opcua", "endpoint": d.scada.Endpoint(),
			"reconnect": map[string]any{"initial": "200ms", "max": "5s"},
			"opcua":     map[string]any{"publishing_interval": poll.String(), "watchdog": max(10*time.Second, 10*poll).String()},
		})
	}
	return d, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func binding(conn, twin string, props, writes, cmds map[string]any) map[string]any {
	b := map[string]any{"connector": conn, "twin": twin, "properties": props}
	if len(writes) > 0 {
		b["writes"] = writes
	}
	if len(cmds) > 0 {
		b["commands"] = cmds
	}
	return b
}

// OPCUAZero is the zero value of an OPC UA variable that serves a twin
// property of type t (AddVariable's initial value).
func OPCUAZero(t twins.Type) any {
	switch t {
	case twins.TypeBool:
		return false
	case twins.TypeInt:
		return int64(0)
	case twins.TypeString, twins.TypeEnum:
		return ""
	}
	return float64(0)
}

// EdgeConfig returns the connectors and bindings sections (YAML, for
// edge.ParseConfig with the plant) that read the devices.
func (d *DemoPlant) EdgeConfig() []byte {
	data, _ := yaml.Marshal(map[string]any{"connectors": d.conns, "bindings": d.binds})
	return data
}

// Devices describes the devices served, one line each, for the log.
func (d *DemoPlant) Devices() []string {
	var out []string
	for parent, plc := range d.plcs {
		out = append(out, fmt.Sprintf("modbus PLC of %s at tcp://%s", parent, plc.Addr()))
	}
	sort.Strings(out)
	if d.scada != nil {
		out = append(out, "opc ua server at "+d.scada.Endpoint())
	}
	return out
}

// Submit writes a batch's values into the devices that serve its twin;
// done is called at once (nothing is applied: the connectors read the
// values later).
func (d *DemoPlant) Submit(b *pb.ApplyTelemetry, done func(*pb.TelemetryApplied, error)) {
	var problems []string
	for _, s := range b.Samples {
		a, ok := d.where[b.TwinId+"\x00"+s.Property]
		if !ok {
			continue
		}
		if err := d.set(a, s); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		done(nil, fmt.Errorf("demo plant: twin %s: %s", b.TwinId, strings.Join(problems, "; ")))
		return
	}
	done(&pb.TelemetryApplied{TwinId: b.TwinId, Accepted: int32(len(b.Samples))}, nil)
}

func (d *DemoPlant) set(a demoAddr, s *pb.Sample) error {
	if a.plc != nil {
		switch {
		case a.coil:
			a.plc.SetCoil(1, a.reg, s.GetValue().GetBoolValue())
		case a.typ == twins.TypeInt:
			v := uint32(int32(s.GetValue().GetIntValue()))
			a.plc.SetHolding(1, a.reg, uint16(v>>16), uint16(v))
		default:
			var buf [4]byte
			binary.BigEndian.PutUint32(buf[:], math.Float32bits(float32(s.GetValue().GetDoubleValue())))
			a.plc.SetHolding(1, a.reg, binary.BigEndian.Uint16(buf[:2]), binary.BigEndian.Uint16(buf[2:]))
		}
		return nil
	}
	var v any
	switch k := s.GetValue().GetKind().(type) {
	case *pb.Value_BoolValue:
		v = k.BoolValue
	case *pb.Value_IntValue:
		v = k.IntValue
	case *pb.Value_DoubleValue:
		v = k.DoubleValue
	case *pb.Value_StringValue:
		v = k.StringValue
	case *pb.Value_EnumValue:
		v = k.EnumValue
	default:
		return fmt.Errorf("property %s: no value", s.Property)
	}
	return d.scada.Set(a.node, v, time.Unix(0, s.SourceTimeUnixNano))
}

// SubmitConnectivity does nothing: the connectors report whether the
// devices answer.
func (d *DemoPlant) SubmitConnectivity(_ string, _ pb.Connectivity, done func(*pb.TelemetryApplied, error)) {
	done(&pb.TelemetryApplied{}, nil)
}

// Stop stops every device.
func (d *DemoPlant) Stop() {
	for _, plc := range d.plcs {
		plc.Stop()
	}
	if d.scada != nil {
		d.scada.Stop()
	}
}
