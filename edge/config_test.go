package edge

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/twins"
)

// examplePlant is the plant of testdata/edge.yaml: pump-L1-01..15 (model
// pump), tank-1..2 (tank) and meter-001..003 (meter).
var examplePlant = sync.OnceValues(func() (*twins.Config, error) {
	return twins.LoadConfig("testdata/edge.yaml")
})

func loadPlant(tb testing.TB) *twins.Config {
	tb.Helper()
	plant, err := examplePlant()
	if err != nil {
		tb.Fatal(err)
	}
	return plant
}

func TestLoadExample(t *testing.T) {
	plant := loadPlant(t)
	c, err := LoadConfig("testdata/edge.yaml", plant)
	if err != nil {
		t.Fatal(err)
	}

	wantPLC := &ConnectorConfig{
		Name:      "plc-line1",
		Protocol:  ProtocolModbus,
		Endpoint:  "tcp://127.0.0.1:5020",
		Reconnect: Backoff{Initial: 200 * time.Millisecond, Max: 10 * time.Second, Multiplier: 1.5, Jitter: 0.1},
		Outbox:    Outbox{MaxBytes: 16 << 20, Policy: OutboxRefuseNewest},
		Modbus: &ModbusConnector{
			UnitID:       1,
			Timeout:      500 * time.Millisecond,
			PollGroups:   []PollGroup{{Name: "fast", Interval: 100 * time.Millisecond}, {Name: "slow", Interval: 5 * time.Second}},
			MaxRegisters: 100,
			MaxBits:      2000,
			MaxGap:       4,
		},
		Line: 44,
	}
	wantSCADA := &ConnectorConfig{
		Name:      "scada",
		Protocol:  ProtocolOPCUA,
		Endpoint:  "opc.tcp://127.0.0.1:4840/plantwin",
		Node:      "node-a",
		Reconnect: DefaultBackoff(),
		Outbox:    DefaultOutbox(),
		OPCUA: &OPCUAConnector{
			SecurityPolicy:     "Basic256Sha256",
			SecurityMode:       "SignAndEncrypt",
			Auth:               "username",
			Username:           "plantwin",
			PasswordEnv:        "PLANTWIN_OPCUA_PASSWORD",
			CertFile:           "/etc/plantwin/opcua-client.pem",
			KeyFile:            "/etc/plantwin/opcua-client.key",
			ServerCertSHA256:   "27a9cda4dc3a6daac6eef7eb659aa26368d571ef22bb66f34d7b158a7f1fe2fe",
			PublishingInterval: 250 * time.Millisecond,
			Watchdog:           30 * time.Second,
			BatchSize:          500,
		},
		Line: 56,
	}
	wantMeters := &ConnectorConfig{
		Name:      "meters",
		Protocol:  ProtocolMQTT,
		Endpoint:  "mqtts://broker.example.com:8883",
		Reconnect: DefaultBackoff(),
		Outbox:    DefaultOutbox(),
		MQTT: &MQTTConnector{
			ClientID:       "plantwin-meters",
			Username:       "plantwin",
			PasswordEnv:    "PLANTWIN_MQTT_PASSWORD",
			CAFile:         "/etc/plantwin/mqtt-ca.pem",
			QoS:            1,
			Topic:          "plant/{twin}/telemetry",
			TimestampField: "ts",
			CommandTopic:   "plant/{twin}/commands",
			ResponseTopic:  "plant/{twin}/responses",
		},
		Line: 73,
	}
	if diff := cmp.Diff([]*ConnectorConfig{wantPLC, wantSCADA, wantMeters}, c.Connectors); diff != "" {
		t.Errorf("Connectors (-want +got):\n%s", diff)
	}
	for _, want := range []*ConnectorConfig{wantPLC, wantSCADA, wantMeters} {
		if got, ok := c.Connector(want.Name); !ok || got.Name != want.Name {
			t.Errorf("Connector(%q) = %v, %v", want.Name, got, ok)
		}
	}
	if got, ok := c.Connector("nope"); ok {
		t.Errorf("Connector(nope) = %v", got)
	}

	// 15 pumps, 2 tanks, 3 meters; the pump-L1-03 entry merges into the
	// template's binding.
	var ids []string
	for _, b := range c.Bindings {
		ids = append(ids, b.Connector+"/"+b.TwinID)
	}
	if len(ids) != 20 || ids[0] != "plc-line1/pump-L1-01" || ids[14] != "plc-line1/pump-L1-15" || ids[15] != "scada/tank-1" || ids[19] != "meters/meter-003" {
		t.Errorf("bindings: %v", ids)
	}
	if got := c.BindingsOf("plc-line1"); len(got) != 15 || got[2].TwinID != "pump-L1-03" {
		t.Errorf("BindingsOf(plc-line1) has %d bindings", len(got))
	}
	if got := c.BindingsOf("nope"); len(got) != 0 {
		t.Errorf("BindingsOf(nope) = %v", got)
	}

	modbusPoint := func(prop, table string, addr int, typ string) PointBinding {
		return PointBinding{Property: prop, Scale: 1, Table: table, Address: addr, Type: typ, ByteOrder: "big", WordOrder: "high_first", UnitID: -1, PollGroup: "fast"}
	}
	flow := modbusPoint("flow", TableHoldingRegister, 130, "float32")
	flow.WordOrder = "low_first"
	temperature := modbusPoint("temperature", TableInputRegister, 203, "int16")
	temperature.Scale = 0.1
	vibration := modbusPoint("vibration", TableInputRegister, 250, "float32")
	vibration.PollGroup, vibration.UnitID = "slow", 2
	setpoint := modbusPoint("setpoint", TableHoldingRegister, 306, "float32")
	setpoint.PollGroup = ""
	modbusCommand := func(cmd, table string, addr int, typ, value string) CommandBinding {
		return CommandBinding{Command: cmd, Table: table, Address: addr, Type: typ, ByteOrder: "big", WordOrder: "high_first", UnitID: -1, Value: value}
	}
	opcuaPoint := func(prop, node string) PointBinding {
		return PointBinding{Property: prop, Scale: 1, NodeID: node, SamplingInterval: 250 * time.Millisecond, QueueSize: 1, UnitID: -1}
	}
	level := opcuaPoint("level", "ns=2;s=Tank2.Level")
	level.SamplingInterval, level.DeadbandType, level.DeadbandValue = 500*time.Millisecond, "absolute", 0.01
	alarm := opcuaPoint("level_alarm", "ns=2;s=Tank2.LevelAlarm")
	alarm.ChangeOnly = true
	label := opcuaPoint("label", "ns=2;i=1002")
	label.QueueSize = 10

	want := map[string]*Binding{
		"pump-L1-03": {
			Connector: "plc-line1", TwinID: "pump-L1-03", N: "03", Line: 86,
			Points: []PointBinding{flow, modbusPoint("running", TableCoil, 3, "bool"), temperature, vibration},
			Writes: []PointBinding{setpoint},
			Commands: []CommandBinding{
				modbusCommand("stop", TableCoil, 403, "bool", "true"),
				modbusCommand("start", TableCoil, 403, "bool", "false"),
				modbusCommand("set_speed", TableHoldingRegister, 503, "uint16", ""),
			},
		},
		"tank-2": {
			Connector: "scada", TwinID: "tank-2", N: "2", Line: 105,
			Points: []PointBinding{level, alarm, label},
			Writes: []PointBinding{{Property: "max_level", Scale: 1, NodeID: "ns=2;s=Tank2.MaxLevel", UnitID: -1}},
			Commands: []CommandBinding{
				{Command: "drain", NodeID: "ns=2;s=Tank2", MethodNodeID: "ns=2;s=Tank2.Drain", UnitID: -1},
				{Command: "reset", NodeID: "ns=2;s=Tank2.Reset", UnitID: -1, Value: "true"},
			},
		},
		"meter-002": {
			Connector: "meters", TwinID: "meter-002", N: "002", Line: 117,
			Points: []PointBinding{
				{Property: "flow", Scale: 3.6, Deadband: 0.05, UnitID: -1, Field: "data.flow"},
				{Property: "total", Scale: 1, UnitID: -1, Field: "data.total"},
				{Property: "status", Scale: 1, ChangeOnly: true, UnitID: -1, Field: "status"},
			},
			Commands: []CommandBinding{{Command: "zero", UnitID: -1, Topic: "plant/meter-002/commands"}},
		},
	}
	for _, b := range c.Bindings {
		w, ok := want[b.TwinID]
		if !ok {
			continue
		}
		delete(want, b.TwinID)
		if diff := cmp.Diff(w, b, cmpEmpty); diff != "" {
			t.Errorf("binding of %s (-want +got):\n%s", b.TwinID, diff)
		}
	}
	for id := range want {
		t.Errorf("no binding for %s", id)
	}
	// Every pump's addresses follow its number.
	for i, b := range c.BindingsOf("plc-line1") {
		n := i + 1
		if got := b.Points[0].Address; got != 100+10*n {
			t.Errorf("%s flow address = %d, want %d", b.TwinID, got, 100+10*n)
		}
		if got := b.Commands[0].Address; got != 400+n {
			t.Errorf("%s stop address = %d, want %d", b.TwinID, got, 400+n)
		}
	}
}

// cmpEmpty makes nil and empty slices equal.
var cmpEmpty = cmp.FilterValues(func(a, b any) bool {
	return isEmptySlice(a) && isEmptySlice(b)
}, cmp.Comparer(func(a, b any) bool { return true }))

func isEmptySlice(v any) bool {
	switch s := v.(type) {
	case []PointBinding:
		return len(s) == 0
	case []CommandBinding:
		return len(s) == 0
	}
	return false
}

// conns declares one connector of each protocol on lines 1-4, so that
// bindings start at line 5.
const conns = `connectors:
  - {name: plc, protocol: modbus, endpoint: "tcp://127.0.0.1:502"}
  - {name: ua, protocol: opcua, endpoint: "opc.tcp://127.0.0.1:4840"}
  - {name: mq, protocol: mqtt, endpoint: "tcp://127.0.0.1:1883", mqtt: {topic: "p/{twin}/t", command_topic: "p/{twin}/c"}}
bindings:
`

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// check inspects the result.
		check func(t *testing.T, c *Config)
	}{
		{
			name: "no sections",
			yaml: "models: []\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Connectors) != 0 || len(c.Bindings) != 0 {
					t.Errorf("got %d connectors and %d bindings", len(c.Connectors), len(c.Bindings))
				}
			},
		},
		{
			name: "empty document",
			yaml: "",
		},
		{
			name: "null sections",
			yaml: "connectors:\nbindings:\n",
		},
		{
			name: "defaults",
			yaml: conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: holding, address: 7, type: uint16}}}\n" +
				"  - {connector: ua, twin: tank-1, properties: {level: {node_id: i=85}}}\n" +
				"  - {connector: mq, twin: meter-001, commands: {zero: {}}}\n",
			check: func(t *testing.T, c *Config) {
				plc, _ := c.Connector("plc")
				want := &ConnectorConfig{Name: "plc", Protocol: ProtocolModbus, Endpoint: "tcp://127.0.0.1:502", Reconnect: DefaultBackoff(), Outbox: DefaultOutbox(), Line: 2}
				m := DefaultModbusConnector()
				want.Modbus = &m
				if diff := cmp.Diff(want, plc); diff != "" {
					t.Errorf("plc (-want +got):\n%s", diff)
				}
				ua, _ := c.Connector("ua")
				o := DefaultOPCUAConnector()
				if diff := cmp.Diff(&o, ua.OPCUA); diff != "" {
					t.Errorf("ua.OPCUA (-want +got):\n%s", diff)
				}
				mq, _ := c.Connector("mq")
				if mq.MQTT.ClientID != "plantwin-mq" || mq.MQTT.QoS != 1 || mq.MQTT.CleanSession {
					t.Errorf("mq.MQTT = %+v", mq.MQTT)
				}
				wantPoints := [][]PointBinding{
					{{Property: "flow", Scale: 1, Table: TableHoldingRegister, Address: 7, Type: "uint16", ByteOrder: "big", WordOrder: "high_first", UnitID: -1, PollGroup: "default"}},
					{{Property: "level", Scale: 1, NodeID: "i=85", SamplingInterval: 100 * time.Millisecond, QueueSize: 1, UnitID: -1}},
					nil,
				}
				for i, b := range c.Bindings {
					if diff := cmp.Diff(wantPoints[i], b.Points, cmpEmpty); diff != "" {
						t.Errorf("%s points (-want +got):\n%s", b.TwinID, diff)
					}
				}
				if got := c.Bindings[2].Commands[0].Topic; got != "p/meter-001/c" {
					t.Errorf("zero topic = %q", got)
				}
			},
		},
		{
			name: "sizes",
			yaml: "connectors:\n" +
				"  - {name: a, protocol: modbus, endpoint: \"tcp://h:1\", outbox: {max_bytes: 512KiB}}\n" +
				"  - {name: b, protocol: modbus, endpoint: \"tcp://h:1\", outbox: {max_bytes: 1GB}}\n" +
				"  - {name: c, protocol: modbus, endpoint: \"tcp://h:1\", outbox: {max_bytes: 1000}}\n" +
				"  - {name: d, protocol: modbus, endpoint: \"tcp://h:1\", outbox: {max_bytes: 64 MiB}}\n" +
				"  - {name: e, protocol: modbus, endpoint: \"tcp://h:1\", outbox: {max_bytes: 0x100}}\n",
			check: func(t *testing.T, c *Config) {
				var got []int64
				for _, cc := range c.Connectors {
					got = append(got, cc.Outbox.MaxBytes)
				}
				if diff := cmp.Diff([]int64{512 << 10, 1e9, 1000, 64 << 20, 256}, got); diff != "" {
					t.Errorf("MaxBytes (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "address expressions",
			yaml: conns + "  - connector: plc\n    twin: pump-L1-{09..10}\n    properties:\n" +
				"      flow: {table: holding, address: \"(1 + {n}) * 2 - -3\", type: uint16}\n" +
				"      running: {table: coil, address: 0x10}\n" +
				"      temperature: {table: input, address: \"{n}*{n}\", type: uint16}\n",
			check: func(t *testing.T, c *Config) {
				var got [][3]int
				for _, b := range c.Bindings {
					got = append(got, [3]int{b.Points[0].Address, b.Points[1].Address, b.Points[2].Address})
				}
				if diff := cmp.Diff([][3]int{{23, 16, 81}, {25, 16, 100}}, got); diff != "" {
					t.Errorf("addresses (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "command values are canonical",
			yaml: conns + "  - connector: plc\n    twin: pump-L1-01\n    commands:\n" +
				"      stop: {table: coil, address: 1, value: 1}\n" +
				"      start: {table: holding, address: 2, type: float32, value: 1e3}\n" +
				"      set_speed: {table: holding, address: 3, type: string, length: 2, value: abcd}\n",
			check: func(t *testing.T, c *Config) {
				var got []string
				for _, cb := range c.Bindings[0].Commands {
					got = append(got, cb.Value)
				}
				if diff := cmp.Diff([]string{"true", "1000", "abcd"}, got); diff != "" {
					t.Errorf("values (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "entries for the same twin merge",
			yaml: conns + "  - {connector: ua, twin: \"tank-{1..2}\", properties: {level: {node_id: \"ns=1;s=T{n}\"}}}\n" +
				"  - {connector: ua, twin: tank-2, properties: {label: {node_id: \"ns=1;s=label\"}}}\n" +
				"  - {connector: plc, twin: tank-2, writes: {max_level: {table: holding, address: 1, type: float64}}}\n",
			check: func(t *testing.T, c *Config) {
				var got []string
				for _, b := range c.Bindings {
					s := fmt.Sprintf("%s/%s line %d:", b.Connector, b.TwinID, b.Line)
					for _, pb := range b.Points {
						s += " " + pb.Property
					}
					for _, pb := range b.Writes {
						s += " w:" + pb.Property
					}
					got = append(got, s)
				}
				want := []string{"ua/tank-1 line 6: level", "ua/tank-2 line 6: level label", "plc/tank-2 line 8: w:max_level"}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("bindings (-want +got):\n%s", diff)
				}
				if got := len(c.BindingsOf("ua")); got != 2 {
					t.Errorf("BindingsOf(ua) has %d bindings", got)
				}
			},
		},
		{
			name: "anchors and aliases",
			yaml: conns + "  - connector: ua\n    twin: tank-1\n    properties: &p\n      level: {node_id: \"ns=1;s=L\"}\n" +
				"  - connector: ua\n    twin: tank-2\n    properties: *p\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Bindings) != 2 || c.Bindings[1].Points[0].NodeID != "ns=1;s=L" {
					t.Errorf("bindings: %+v", c.Bindings)
				}
			},
		},
		{
			name: "opcua certificate auth and node id forms",
			yaml: "connectors:\n  - name: ua\n    protocol: opcua\n    endpoint: opc.tcp://h:4840\n    opcua: {auth: certificate, cert_file: c.pem, key_file: c.key}\n" +
				"bindings:\n  - connector: ua\n    twin: tank-1\n    properties:\n" +
				"      level: {node_id: \"ns=3;g=09087E75-8E5E-499B-954F-F2A9603DB28A\", sampling_interval: 0s}\n" +
				"      label: {node_id: \"ns=65535;b=aGVsbG8=\"}\n" +
				"      level_alarm: {node_id: \"s=x;y\"}\n",
			check: func(t *testing.T, c *Config) {
				if got := c.Bindings[0].Points[0].SamplingInterval; got != 0 {
					t.Errorf("explicit sampling interval 0 = %v", got)
				}
			},
		},
		{
			name: "mqtt options",
			yaml: "connectors:\n  - name: mq\n    protocol: mqtt\n    endpoint: ssl://h:8883\n" +
				"    mqtt: {topic: \"site/{twin}/data\", response_topic: \"r/{twin}\", qos: 0, clean_session: true, cert_file: c, key_file: k}\n",
			check: func(t *testing.T, c *Config) {
				m := c.Connectors[0].MQTT
				if m.Topic != "site/{twin}/data" || m.QoS != 0 || !m.CleanSession {
					t.Errorf("mqtt = %+v", m)
				}
			},
		},
	}
	plant := loadPlant(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("good.yaml", []byte(tt.yaml), plant)
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// errorCases are invalid configurations with the exact problems reported
// (the fuzz test uses them as seeds).
var errorCases = []struct {
	name string
	yaml string
	want []string
}{
	{
		"yaml syntax",
		"connectors:\n  - name: a\n  bad\n",
		[]string{`bad.yaml:3: invalid YAML: could not find expected ':'`},
	},
	{
		"not a mapping",
		"- a\n",
		[]string{`bad.yaml:1:1: want a mapping, got a list`},
	},
	{
		"connectors not a list",
		"connectors: {name: a}\n",
		[]string{`bad.yaml:1:13: connectors: want a list, got a mapping`},
	},
	{
		"duplicate section",
		"connectors: []\nconnectors: []\n",
		[]string{`bad.yaml:2:1: connectors: duplicate key "connectors" (first at line 1)`},
	},
	{
		"unknown protocol with suggestion",
		"connectors:\n  - {name: a, protocol: modbsu, endpoint: \"tcp://h:502\"}\n",
		[]string{`bad.yaml:2:25: connectors[0].protocol: unknown protocol "modbsu" (did you mean "modbus"?)`},
	},
	{
		"unknown protocol",
		"connectors:\n  - {name: a, protocol: bacnet, endpoint: \"tcp://h:502\"}\n",
		[]string{`bad.yaml:2:25: connectors[0].protocol: unknown protocol "bacnet" (want opcua, modbus or mqtt)`},
	},
	{
		"missing name, protocol and endpoint",
		"connectors:\n  - node: a\n",
		[]string{
			`bad.yaml:2:5: connectors[0].name: missing required field "name"`,
			`bad.yaml:2:5: connectors[0].protocol: missing required field "protocol" (want opcua, modbus or mqtt)`,
			`bad.yaml:2:5: connectors[0].endpoint: missing required field "endpoint"`,
		},
	},
	{
		"missing endpoint",
		"connectors:\n  - name: a\n    protocol: modbus\n",
		[]string{`bad.yaml:2:5: connectors[0].endpoint: missing required field "endpoint"`},
	},
	{
		"invalid connector name",
		"connectors:\n  - {name: \"plc 1\", protocol: modbus, endpoint: \"tcp://h:502\"}\n",
		[]string{`bad.yaml:2:12: connectors[0].name: invalid name "plc 1" (want 1 to 64 letters, digits, ., _ and -)`},
	},
	{
		"duplicate connector",
		"connectors:\n  - {name: a, protocol: modbus, endpoint: \"tcp://h:502\"}\n  - {name: a, protocol: modbus, endpoint: \"tcp://h:503\"}\n",
		[]string{`bad.yaml:3:12: connectors[1].name: duplicate connector "a" (first declared at line 2)`},
	},
	{
		"scheme does not match protocol",
		"connectors:\n  - {name: a, protocol: modbus, endpoint: \"opc.tcp://h:4840\"}\n",
		[]string{`bad.yaml:2:43: connectors[0].endpoint: scheme "opc.tcp" does not match protocol modbus (want tcp://host:port)`},
	},
	{
		"mqtt scheme",
		"connectors:\n  - {name: a, protocol: mqtt, endpoint: \"http://h:80\", mqtt: {topic: \"{twin}\"}}\n",
		[]string{`bad.yaml:2:41: connectors[0].endpoint: scheme "http" does not match protocol mqtt (want tcp://, ssl://, mqtt:// or mqtts://host:port)`},
	},
	{
		"endpoint without port",
		"connectors:\n  - {name: a, protocol: opcua, endpoint: \"opc.tcp://h\"}\n",
		[]string{`bad.yaml:2:42: connectors[0].endpoint: endpoint "opc.tcp://h" needs a host and a port (host:port)`},
	},
	{
		"endpoint without scheme",
		"connectors:\n  - {name: a, protocol: modbus, endpoint: \"10.0.0.1:502\"}\n",
		[]string{`bad.yaml:2:43: connectors[0].endpoint: invalid endpoint "10.0.0.1:502" (want tcp://host:port)`},
	},
	{
		"modbus endpoint with a path",
		"connectors:\n  - {name: a, protocol: modbus, endpoint: \"tcp://h:502/x\"}\n",
		[]string{`bad.yaml:2:43: connectors[0].endpoint: endpoint "tcp://h:502/x" must not have a path`},
	},
	{
		"bad port",
		"connectors:\n  - {name: a, protocol: modbus, endpoint: \"tcp://h:70000\"}\n",
		[]string{`bad.yaml:2:43: connectors[0].endpoint: invalid port "70000" in endpoint "tcp://h:70000" (want 1..65535)`},
	},
	{
		"unknown connector field with suggestion",
		"connectors:\n  - {name: a, protocol: modbus, endpiont: \"tcp://h:502\"}\n",
		[]string{
			`bad.yaml:2:5: connectors[0].endpoint: missing required field "endpoint"`,
			`bad.yaml:2:33: connectors[0].endpiont: unknown field "endpiont" (did you mean "endpoint"?)`,
		},
	},
	{
		"section of another protocol",
		"connectors:\n  - {name: a, protocol: modbus, endpoint: \"tcp://h:502\", opcua: {}}\n",
		[]string{`bad.yaml:2:58: connectors[0].opcua: section "opcua" is for opcua connectors; this one is modbus`},
	},
	{
		"bad duration",
		"connectors:\n  - name: a\n    protocol: modbus\n    endpoint: tcp://h:502\n    modbus: {timeout: 5}\n",
		[]string{`bad.yaml:5:23: connectors[0].modbus.timeout: invalid duration "5" (want a Go duration such as 500ms or 5s)`},
	},
	{
		"backoff max below initial",
		"connectors:\n  - name: a\n    protocol: modbus\n    endpoint: tcp://h:502\n    reconnect: {initial: 1m, max: 30s, jitter: 1.5}\n",
		[]string{
			`bad.yaml:5:35: connectors[0].reconnect.max: max 30s is below initial 1m0s`,
			`bad.yaml:5:48: connectors[0].reconnect.jitter: must be between 0 and 1, got 1.5`,
		},
	},
	{
		"bad size and policy",
		"connectors:\n  - name: a\n    protocol: modbus\n    endpoint: tcp://h:502\n    outbox: {max_bytes: 12XB, policy: drop_oldst}\n",
		[]string{
			`bad.yaml:5:25: connectors[0].outbox.max_bytes: invalid size "12XB" (want a positive number of bytes, or one with a unit such as 512KiB, 64MiB or 1GB)`,
			`bad.yaml:5:39: connectors[0].outbox.policy: unknown policy "drop_oldst" (did you mean "drop_oldest"?)`,
		},
	},
	{
		"modbus limits",
		"connectors:\n  - name: a\n    protocol: modbus\n    endpoint: tcp://h:502\n    modbus: {unit_id: 300, max_registers: 10, max_gap: 10}\n",
		[]string{
			`bad.yaml:5:23: connectors[0].modbus.unit_id: must be between 0 and 247, got 300`,
			`bad.yaml:5:56: connectors[0].modbus.max_gap: must be below max_registers (10), got 10`,
		},
	},
	{
		"poll groups",
		"connectors:\n  - name: a\n    protocol: modbus\n    endpoint: tcp://h:502\n    modbus:\n      poll_groups:\n        - {name: fast, interval: 5ms}\n        - {name: fast, interval: 1s}\n",
		[]string{
			`bad.yaml:7:34: connectors[0].modbus.poll_groups[0].interval: must be at least 10ms, got 5ms`,
			`bad.yaml:8:18: connectors[0].modbus.poll_groups[1].name: duplicate poll group "fast" (first declared at line 7)`,
		},
	},
	{
		"opcua security pin missing",
		"connectors:\n  - name: a\n    protocol: opcua\n    endpoint: opc.tcp://h:4840\n    opcua:\n      security_policy: Basic256Sha256\n      security_mode: Sign\n      cert_file: c.pem\n      key_file: c.key\n",
		[]string{`bad.yaml:6:7: connectors[0].opcua.server_cert_sha256: missing required field "server_cert_sha256" (security_policy Basic256Sha256 pins the server certificate)`},
	},
	{
		"opcua security pin bad hex",
		"connectors:\n  - name: a\n    protocol: opcua\n    endpoint: opc.tcp://h:4840\n    opcua:\n      security_policy: Basic256Sha256\n      security_mode: Sign\n      cert_file: c.pem\n      key_file: c.key\n      server_cert_sha256: \"zz:11\"\n",
		[]string{`bad.yaml:10:27: connectors[0].opcua.server_cert_sha256: invalid SHA-256 fingerprint "zz:11" (want 64 hex digits, colons allowed)`},
	},
	{
		"opcua policy without mode and certificate",
		"connectors:\n  - name: a\n    protocol: opcua\n    endpoint: opc.tcp://h:4840\n    opcua: {security_policy: Basic256Sha256, server_cert_sha256: \"" + strings.Repeat("ab", 32) + "\"}\n",
		[]string{
			`bad.yaml:5:12: connectors[0].opcua.cert_file: missing required fields "cert_file" and "key_file" (security_policy is Basic256Sha256)`,
			`bad.yaml:5:30: connectors[0].opcua.security_mode: security_policy Basic256Sha256 needs security_mode Sign or SignAndEncrypt`,
		},
	},
	{
		"opcua mode without policy",
		"connectors:\n  - name: a\n    protocol: opcua\n    endpoint: opc.tcp://h:4840\n    opcua: {security_mode: Sign, server_cert_sha256: x}\n",
		[]string{
			`bad.yaml:5:28: connectors[0].opcua.security_mode: security_mode Sign needs a security_policy other than None (Basic256Sha256)`,
			`bad.yaml:5:34: connectors[0].opcua.server_cert_sha256: has no effect with security_policy None (the channel is not secured)`,
		},
	},
	{
		"opcua username auth",
		"connectors:\n  - name: a\n    protocol: opcua\n    endpoint: opc.tcp://h:4840\n    opcua: {auth: username, password: x, password_env: X}\n",
		[]string{
			`bad.yaml:5:12: connectors[0].opcua.username: missing required field "username" (auth is username)`,
			`bad.yaml:5:29: connectors[0].opcua.password: set password or password_env, not both`,
		},
	},
	{
		"mqtt without topic",
		"connectors:\n  - {name: a, protocol: mqtt, endpoint: \"tcp://h:1883\"}\n",
		[]string{`bad.yaml:2:5: connectors[0].mqtt.topic: missing required field "topic" (mqtt connectors subscribe to a topic such as plant/{twin}/telemetry)`},
	},
	{
		"mqtt topic without {twin}",
		"connectors:\n  - {name: a, protocol: mqtt, endpoint: \"tcp://h:1883\", mqtt: {topic: plant/telemetry}}\n",
		[]string{`bad.yaml:2:71: connectors[0].mqtt.topic: topic "plant/telemetry" has no {twin} placeholder (want e.g. plant/{twin}/telemetry)`},
	},
	{
		"mqtt {twin} twice",
		"connectors:\n  - {name: a, protocol: mqtt, endpoint: \"tcp://h:1883\", mqtt: {topic: \"{twin}/x/{twin}\"}}\n",
		[]string{`bad.yaml:2:71: connectors[0].mqtt.topic: {twin} appears 2 times in topic "{twin}/x/{twin}" (want it once)`},
	},
	{
		"mqtt {twin} not a whole level",
		"connectors:\n  - {name: a, protocol: mqtt, endpoint: \"tcp://h:1883\", mqtt: {topic: \"plant/twin-{twin}/t\"}}\n",
		[]string{`bad.yaml:2:71: connectors[0].mqtt.topic: {twin} must be a whole level of topic "plant/twin-{twin}/t" (as in plant/{twin}/telemetry)`},
	},
	{
		"mqtt command topic with wildcard",
		"connectors:\n  - {name: a, protocol: mqtt, endpoint: \"tcp://h:1883\", mqtt: {topic: \"{twin}\", command_topic: \"c/+/{twin}\"}}\n",
		[]string{`bad.yaml:2:96: connectors[0].mqtt.command_topic: topic "c/+/{twin}" must not contain wildcards (+ or #): it is published to`},
	},
	{
		"mqtt TLS files without TLS",
		"connectors:\n  - {name: a, protocol: mqtt, endpoint: \"tcp://h:1883\", mqtt: {topic: \"{twin}\", ca_file: ca.pem, password: x}}\n",
		[]string{
			`bad.yaml:2:81: connectors[0].mqtt.ca_file: only used with a TLS endpoint (ssl:// or mqtts://)`,
			`bad.yaml:2:98: connectors[0].mqtt.password: a password needs a username`,
		},
	},
	{
		"unknown connector in binding",
		conns + "  - {connector: plcc, twin: pump-L1-01, properties: {flow: {}}}\n",
		[]string{`bad.yaml:6:17: bindings[0].connector: unknown connector "plcc" (did you mean "plc"?)`},
	},
	{
		"missing connector and twin",
		conns + "  - properties: {flow: {}}\n",
		[]string{
			`bad.yaml:6:5: bindings[0].connector: missing required field "connector"`,
			`bad.yaml:6:5: bindings[0].twin: missing required field "twin"`,
		},
	},
	{
		"unknown twin",
		conns + "  - {connector: ua, twin: tank-9, properties: {level: {node_id: i=1}}}\n",
		[]string{`bad.yaml:6:27: bindings[0].twin: twin "tank-9" is not a declared twin`},
	},
	{
		"template partly undeclared",
		conns + "  - {connector: ua, twin: \"pump-L1-{01..20}\", properties: {flow: {node_id: \"ns=1;s={n}\"}}}\n",
		[]string{`bad.yaml:6:27: bindings[0].twin: twin "pump-L1-16" is not a declared twin (and 4 more missing twins)`},
	},
	{
		"template larger than the plant",
		conns + "  - {connector: ua, twin: \"x{1..100000}\", properties: {flow: {node_id: \"ns=1;s={n}\"}}}\n",
		[]string{`bad.yaml:6:27: bindings[0].twin: template "x{1..100000}" expands to 100000 twins, more than the 20 the plant declares`},
	},
	{
		"invalid template",
		conns + "  - {connector: ua, twin: \"pump-{9..1}\", properties: {flow: {node_id: \"ns=1;s=x\"}}}\n",
		[]string{`bad.yaml:6:27: bindings[0].twin: invalid template range {9..1}: 9 is above 1`},
	},
	{
		"unknown property with suggestion",
		conns + "  - {connector: ua, twin: tank-1, properties: {levle: {node_id: i=1}}}\n",
		[]string{`bad.yaml:6:48: bindings[0].properties.levle: model "tank" has no property "levle" (did you mean "level"?)`},
	},
	{
		"write to a non-writable property",
		conns + "  - {connector: ua, twin: tank-1, writes: {level: {node_id: i=1}}}\n",
		[]string{`bad.yaml:6:44: bindings[0].writes.level: property "level" of model "tank" is not writable`},
	},
	{
		"unknown command",
		conns + "  - {connector: plc, twin: pump-L1-01, commands: {stpo: {table: coil, address: 1, value: true}}}\n",
		[]string{`bad.yaml:6:51: bindings[0].commands.stpo: model "pump" has no command "stpo" (did you mean "stop"?)`},
	},
	{
		"command without value or parameter",
		conns + "  - {connector: plc, twin: pump-L1-01, commands: {stop: {table: coil, address: 1}}}\n",
		[]string{`bad.yaml:6:57: bindings[0].commands.stop.value: missing required field "value" (command "stop" of model "pump" has no parameter to send)`},
	},
	{
		"bad command value",
		conns + "  - connector: plc\n    twin: pump-L1-01\n    commands:\n" +
			"      stop: {table: holding, address: 1, type: int16, value: 70000}\n" +
			"      start: {table: coil, address: 2, value: maybe}\n",
		[]string{
			`bad.yaml:9:62: bindings[0].commands.stop.value: value "70000" does not fit type int16`,
			`bad.yaml:10:47: bindings[0].commands.start.value: invalid value "maybe" for type bool`,
		},
	},
	{
		"bad table with suggestion",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: holding_registers, address: 1, type: float32}}}\n",
		[]string{`bad.yaml:6:67: bindings[0].properties.flow.table: unknown table "holding_registers" (did you mean "holding_register"?)`},
	},
	{
		"bool required on coils",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: coil, address: 1, type: float32}}}\n",
		[]string{`bad.yaml:6:91: bindings[0].properties.flow.type: type float32 does not fit table coil (coils and discrete inputs hold bool only)`},
	},
	{
		"register type required",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, address: 1}}}\n",
		[]string{`bad.yaml:6:59: bindings[0].properties.flow.type: missing required field "type" (want bool, int16, uint16, int32, uint32, float32, float64 or string)`},
	},
	{
		"string without length",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, address: 1, type: string}}}\n",
		[]string{`bad.yaml:6:59: bindings[0].properties.flow.length: missing required field "length" (the registers the string occupies)`},
	},
	{
		"write to a read-only table",
		conns + "  - {connector: plc, twin: pump-L1-01, writes: {setpoint: {table: input, address: 1, type: float32}}}\n",
		[]string{`bad.yaml:6:67: bindings[0].writes.setpoint.table: table input_register is read-only (writes need coil or holding_register)`},
	},
	{
		"address out of range",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, address: 70000, type: uint16}}}\n",
		[]string{`bad.yaml:6:83: bindings[0].properties.flow.address: address 70000 is out of range (want 0..65535)`},
	},
	{
		"address out of range after expansion",
		conns + "  - {connector: plc, twin: \"pump-L1-{01..15}\", properties: {flow: {table: input, address: \"65000 + 100*{n}\", type: uint16}}}\n",
		[]string{`bad.yaml:6:91: bindings[0].properties.flow.address: address 65600 for twin "pump-L1-06" is out of range (want 0..65535) (and 9 more twins)`},
	},
	{
		"value runs past the last address",
		conns + "  - {connector: plc, twin: \"pump-L1-{01..15}\", properties: {flow: {table: input, address: \"65530 + {n}\", type: float32}}}\n",
		[]string{`bad.yaml:6:91: bindings[0].properties.flow.address: float32 at address 65535 for twin "pump-L1-05" needs 2 registers and runs past address 65535 (and 10 more twins)`},
	},
	{
		"constant address too close to the end",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, address: 65534, type: float64}}}\n",
		[]string{`bad.yaml:6:83: bindings[0].properties.flow.address: float64 at address 65534 needs 4 registers and runs past address 65535`},
	},
	{
		"bad address expression",
		conns + "  - {connector: plc, twin: \"pump-L1-{01..15}\", properties: {flow: {table: input, address: \"100 + x*{n}\", type: uint16}}}\n",
		[]string{`bad.yaml:6:91: bindings[0].properties.flow.address: invalid address expression "100 + x*{n}": unexpected "x" at column 7 (want integers, + - *, parentheses and {n})`},
	},
	{
		"unbalanced parenthesis",
		conns + "  - {connector: plc, twin: \"pump-L1-{01..15}\", properties: {flow: {table: input, address: \"(1 + {n}\", type: uint16}}}\n",
		[]string{`bad.yaml:6:91: bindings[0].properties.flow.address: invalid address expression "(1 + {n}": missing )`},
	},
	{
		"address not an integer",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, address: 1.5, type: uint16}}}\n",
		[]string{`bad.yaml:6:83: bindings[0].properties.flow.address: want an address 0..65535 or an expression such as "100 + 10*{n}", got "1.5"`},
	},
	{
		"opcua key under a modbus connector",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {node_id: \"ns=1;s=x\", table: input, address: 1, type: uint16}}}\n",
		[]string{`bad.yaml:6:60: bindings[0].properties.flow.node_id: field "node_id" is for opcua connectors; connector "plc" is modbus`},
	},
	{
		"read-only key in a write",
		conns + "  - {connector: plc, twin: pump-L1-01, writes: {setpoint: {table: holding, address: 1, type: uint16, poll_group: default}}}\n",
		[]string{`bad.yaml:6:102: bindings[0].writes.setpoint.poll_group: field "poll_group" applies to reads (properties), not writes`},
	},
	{
		"unknown point key with suggestion",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, adress: 1, type: uint16}}}\n",
		[]string{
			`bad.yaml:6:59: bindings[0].properties.flow.address: missing required field "address"`,
			`bad.yaml:6:74: bindings[0].properties.flow.adress: unknown field "adress" (did you mean "address"?)`,
		},
	},
	{
		"unknown poll group",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, address: 1, type: uint16, poll_group: defualt}}}\n",
		[]string{`bad.yaml:6:112: bindings[0].properties.flow.poll_group: connector "plc" has no poll group "defualt" (did you mean "default"?)`},
	},
	{
		"scale on a bool",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {running: {table: coil, address: 1, scale: 2}}}\n",
		[]string{`bad.yaml:6:88: bindings[0].properties.running.scale: scale applies to numeric types only (type is bool)`},
	},
	{
		"opcua node id missing and invalid",
		conns + "  - connector: ua\n    twin: tank-1\n    properties:\n      level: {}\n      label: {node_id: \"ns=x;i=1\"}\n",
		[]string{
			`bad.yaml:9:14: bindings[0].properties.level.node_id: missing required field "node_id" (e.g. "ns=2;s=Pump1.Flow")`,
			`bad.yaml:10:24: bindings[0].properties.label.node_id: invalid node id "ns=x;i=1": namespace index "x" is not 0..65535`,
		},
	},
	{
		"opcua node id invalid after expansion",
		conns + "  - {connector: ua, twin: \"tank-{1..2}\", properties: {level: {node_id: \"i=4294967295{n}\"}}}\n",
		[]string{`bad.yaml:6:72: bindings[0].properties.level.node_id: invalid node id "i=42949672951": i= needs a number 0..4294967295 (and 1 more twin)`},
	},
	{
		"opcua deadband",
		conns + "  - {connector: ua, twin: tank-1, properties: {level: {node_id: i=1, deadband_type: percent, deadband_value: 150}, label: {node_id: i=2, deadband_value: 1}}}\n",
		[]string{
			`bad.yaml:6:110: bindings[0].properties.level.deadband_value: a percent deadband must be at most 100, got 150`,
			`bad.yaml:6:138: bindings[0].properties.label.deadband_value: deadband_value needs deadband_type (absolute or percent)`,
		},
	},
	{
		"opcua value with a method",
		conns + "  - {connector: ua, twin: tank-1, commands: {drain: {node_id: i=1, method_node_id: i=2, value: 1}}}\n",
		[]string{`bad.yaml:6:89: bindings[0].commands.drain.value: value does not apply to method calls (the command's parameters are the method's input arguments)`},
	},
	{
		"mqtt field missing",
		conns + "  - {connector: mq, twin: meter-001, properties: {flow: {scale: 2}}}\n",
		[]string{`bad.yaml:6:57: bindings[0].properties.flow.field: missing required field "field" (the JSON path of the value, e.g. data.flow)`},
	},
	{
		"mqtt bad field",
		conns + "  - {connector: mq, twin: meter-001, properties: {flow: {field: data..flow}}}\n",
		[]string{`bad.yaml:6:65: bindings[0].properties.flow.field: invalid JSON path "data..flow" (want dot-separated keys such as data.flow or values.0)`},
	},
	{
		"mqtt write without command topic",
		"connectors:\n  - {name: mq, protocol: mqtt, endpoint: \"tcp://h:1883\", mqtt: {topic: \"p/{twin}\"}}\n" +
			"bindings:\n  - {connector: mq, twin: tank-1, writes: {max_level: {field: max}}}\n",
		[]string{`bad.yaml:4:44: bindings[0].writes.max_level: mqtt writes are published to the connector's command_topic, which connector "mq" does not set`},
	},
	{
		"{n} with a plain twin id",
		conns + "  - {connector: plc, twin: pump-L1-01, properties: {flow: {table: input, address: \"100 + {n}\", type: uint16}}}\n" +
			"  - {connector: ua, twin: tank-1, properties: {level: {node_id: \"ns=1;s=T{n}\"}}}\n",
		[]string{
			`bad.yaml:6:83: bindings[0].properties.flow.address: {n} is only allowed when the twin has a {A..B} range`,
			`bad.yaml:7:65: bindings[1].properties.level.node_id: {n} is only allowed when the twin has a {A..B} range`,
		},
	},
	{
		"duplicate read binding",
		conns + "  - {connector: plc, twin: \"pump-L1-{01..15}\", properties: {flow: {table: input, address: \"{n}\", type: uint16}}}\n" +
			"  - {connector: ua, twin: \"pump-L1-{03..04}\", properties: {flow: {node_id: \"ns=1;s=F{n}\"}}}\n",
		[]string{`bad.yaml:7:60: bindings[1].properties.flow: property "flow" of twin "pump-L1-03" is already read from connector "plc" (line 6) (and 1 more twin)`},
	},
	{
		"duplicate write on one connector",
		conns + "  - {connector: ua, twin: tank-1, writes: {max_level: {node_id: i=1}}}\n" +
			"  - {connector: ua, twin: tank-1, writes: {max_level: {node_id: i=2}}}\n",
		[]string{`bad.yaml:7:44: bindings[1].writes.max_level: property "max_level" of twin "tank-1" is already written through connector "ua" (line 6)`},
	},
	{
		"empty binding",
		conns + "  - {connector: ua, twin: tank-1}\n",
		[]string{`bad.yaml:6:5: bindings[0]: binding has no properties, writes or commands`},
	},
	{
		"duplicate property key",
		conns + "  - connector: ua\n    twin: tank-1\n    properties:\n      level: {node_id: i=1}\n      level: {node_id: i=2}\n",
		[]string{`bad.yaml:10:7: bindings[0].properties.level: duplicate key "level" (first at line 9)`},
	},
	{
		"properties not a mapping",
		conns + "  - connector: ua\n    twin: tank-1\n    properties: [level]\n",
		[]string{`bad.yaml:8:17: bindings[0].properties: want a mapping, got a list`},
	},
}

func TestParseConfigErrors(t *testing.T) {
	plant := loadPlant(t)
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("bad.yaml", []byte(tt.yaml), plant)
			if err == nil {
				t.Fatalf("no error; got %d connectors, %d bindings", len(c.Connectors), len(c.Bindings))
			}
			if c != nil {
				t.Error("config returned with an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *ConfigError", err, err)
			}
			if diff := cmp.Diff(tt.want, ce.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig("testdata/nope.yaml", loadPlant(t))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestParseConfigTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("connectors:\n")
	for i := range 60 {
		fmt.Fprintf(&b, "  - {name: c%d, protocol: modbus}\n", i)
	}
	_, err := ParseConfig("bad.yaml", []byte(b.String()), loadPlant(t))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if len(ce.Problems) != maxErrors+1 {
		t.Fatalf("got %d problems, want %d", len(ce.Problems), maxErrors+1)
	}
	if got, want := ce.Problems[0], `bad.yaml:2:5: connectors[0].endpoint: missing required field "endpoint"`; got != want {
		t.Errorf("first problem = %q, want %q", got, want)
	}
	if got, want := ce.Problems[maxErrors], "bad.yaml: too many errors (showing the first 50)"; got != want {
		t.Errorf("last problem = %q, want %q", got, want)
	}
	if got := strings.Count(err.Error(), "\n"); got != maxErrors {
		t.Errorf("Error() has %d newlines, want %d", got, maxErrors)
	}
}

func TestParseConfigPlants(t *testing.T) {
	const plant = `models:
  - name: a
    properties: [{name: p, type: double}, {name: q, type: double}]
  - name: b
    properties: [{name: p, type: double}]
twins:
  - {id: "x-{1..2}", model: a}
  - {id: "x-{3..4}", model: b}
  - {id: site/1, model: a}
`
	mixed, err := twins.ParseConfig("plant.yaml", []byte(plant))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		plant *twins.Config
		yaml  string
		want  []string
	}{
		{
			name:  "template over two models",
			plant: mixed,
			yaml:  conns + "  - connector: plc\n    twin: \"x-{1..4}\"\n    properties:\n      p: {table: input, address: \"{n}\", type: uint16}\n      q: {table: input, address: \"10 + {n}\", type: uint16}\n",
			want:  []string{`bad.yaml:10:7: bindings[0].properties.q: model "b" has no property "q"`},
		},
		{
			name:  "mqtt twin id with a slash",
			plant: mixed,
			yaml:  conns + "  - {connector: mq, twin: site/1, properties: {p: {field: p}}}\n",
			want:  []string{`bad.yaml:6:27: bindings[0].twin: twin id "site/1" contains "/" and cannot fill the {twin} level of MQTT topics`},
		},
		{
			name: "nil plant",
			yaml: conns + "  - {connector: ua, twin: tank-1, properties: {level: {node_id: i=1}}}\n",
			want: []string{`bad.yaml:6:27: bindings[0].twin: twin "tank-1" is not a declared twin`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("bad.yaml", []byte(tt.yaml), tt.plant)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, ce.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}

	// The twins of model a still get both points when b's are fixed.
	ok := conns + "  - connector: plc\n    twin: \"x-{1..4}\"\n    properties:\n      p: {table: input, address: \"{n}\", type: uint16}\n" +
		"  - {connector: plc, twin: \"x-{1..2}\", properties: {q: {table: input, address: \"10 + {n}\", type: uint16}}}\n"
	c, err := ParseConfig("good.yaml", []byte(ok), mixed)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range c.Bindings {
		for _, pb := range b.Points {
			got = append(got, fmt.Sprintf("%s.%s@%d", b.TwinID, pb.Property, pb.Address))
		}
	}
	want := []string{"x-1.p@1", "x-1.q@11", "x-2.p@2", "x-2.q@12", "x-3.p@3", "x-4.p@4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
}

func TestProtocolString(t *testing.T) {
	for p, want := range map[Protocol]string{ProtocolOPCUA: "opcua", ProtocolModbus: "modbus", ProtocolMQTT: "mqtt", 0: "protocol(0)", 9: "protocol(9)"} {
		if got := p.String(); got != want {
			t.Errorf("Protocol(%d).String() = %q, want %q", p, got, want)
		}
	}
}

func TestParseExpr(t *testing.T) {
	tests := []struct {
		expr string
		n    int64
		want int64
		err  string // the parse error, or "overflow"
	}{
		{expr: "42", want: 42},
		{expr: " {n} ", n: 7, want: 7},
		{expr: "100 + 10*{n}", n: 3, want: 130},
		{expr: "2*3+4*5", want: 26},
		{expr: "2*(3+4)*5", want: 70},
		{expr: "10 - 3 - 2", want: 5},
		{expr: "-{n} + 10", n: 4, want: 6},
		{expr: "--5", want: 5},
		{expr: "9223372036854775807 + 1", err: "overflow"},
		{expr: "4611686018427387904 * 2", err: "overflow"},
		{expr: "-9223372036854775807 - 2", err: "overflow"},
		{expr: "99999999999999999999", err: "number 99999999999999999999 is too large"},
		{expr: "", err: "unexpected end (want integers, + - *, parentheses and {n})"},
		{expr: "1 +", err: "unexpected end (want integers, + - *, parentheses and {n})"},
		{expr: "1 / 2", err: `unexpected "/" at column 3 (want integers, + - *, parentheses and {n})`},
		{expr: "{m}", err: `unexpected "{" at column 1 (want integers, + - *, parentheses and {n})`},
		{expr: "(1))", err: `unexpected ")" at column 4 (want integers, + - *, parentheses and {n})`},
		{expr: "é", err: `unexpected "é" at column 1 (want integers, + - *, parentheses and {n})`},
		{expr: strings.Repeat("(", 40) + "1" + strings.Repeat(")", 40), err: "nested too deeply"},
		{expr: strings.Repeat("1+", 200) + "1", err: "longer than 256 characters"},
	}
	for _, tt := range tests {
		x, _, err := parseExpr(tt.expr)
		if err != nil {
			if err.Error() != tt.err {
				t.Errorf("parseExpr(%q) error = %q, want %q", tt.expr, err, tt.err)
			}
			continue
		}
		got, ok := x.eval(tt.n)
		switch {
		case !ok && tt.err != "overflow":
			t.Errorf("%q with n=%d overflows", tt.expr, tt.n)
		case ok && tt.err != "":
			t.Errorf("%q = %d, want error %q", tt.expr, got, tt.err)
		case ok && got != tt.want:
			t.Errorf("%q with n=%d = %d, want %d", tt.expr, tt.n, got, tt.want)
		}
	}
}

func BenchmarkParseConfig(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			doc := fmt.Sprintf(`models:
  - name: pump
    properties: [{name: flow, type: double}, {name: running, type: bool}, {name: speed, type: double, writable: true}]
    commands: [{name: stop}]
twins:
  - {id: "p-{1..%d}", model: pump}
connectors:
  - {name: ua, protocol: opcua, endpoint: "opc.tcp://127.0.0.1:4840"}
bindings:
  - connector: ua
    twin: "p-{1..%d}"
    properties:
      flow: {node_id: "ns=2;s=P{n}.Flow", deadband_type: absolute, deadband_value: 0.1}
      running: {node_id: "ns=2;s=P{n}.Running"}
    writes:
      speed: {node_id: "ns=2;s=P{n}.Speed"}
    commands:
      stop: {node_id: "ns=2;s=P{n}.Stop", value: true}
`, n, n)
			plant, err := twins.ParseConfig("bench.yaml", []byte(doc))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseConfig("bench.yaml", []byte(doc), plant); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMQTTTopicsTheConnectorCannotServe: wildcards besides {twin}, empty
// levels and overlong topics are refused when the file is read, not when
// the connector starts.
func TestMQTTTopicsTheConnectorCannotServe(t *testing.T) {
	plant := loadPlant(t)
	for _, tc := range []struct{ topic, want string }{
		{"+/site/{twin}/#", "wildcards (+, #) other than {twin} are not supported"},
		{"/plant/{twin}", "has an empty level"},
		{"plant//{twin}", "has an empty level"},
		{"p/{twin}/" + strings.Repeat("x", 1100), "at most 1024"},
	} {
		yaml := "connectors:\n  - name: mq\n    protocol: mqtt\n    endpoint: tcp://h:1883\n    mqtt: {topic: \"" + tc.topic + "\"}\n"
		_, err := ParseConfig("t.yaml", []byte(yaml), plant)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "t.yaml:5:") {
			t.Errorf("topic %.30q: %v, want %q", tc.topic, err, tc.want)
		}
	}
}
