package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plantwin/plantwin/simulations"
)

const modbusPlant = `
models:
  - name: pump
    properties:
      - {name: flow, type: double, unit: m3/h, min: 0, max: 500}
      - {name: running, type: bool}
twins:
  - id: pump-{1..4}
    model: pump
connectors:
  - name: plc-1
    protocol: modbus
    endpoint: tcp://%s
    reconnect: {initial: 100ms, max: 500ms}
    modbus:
      timeout: 300ms
      poll_groups: [{name: fast, interval: 100ms}]
bindings:
  - connector: plc-1
    twin: pump-{1..4}
    properties:
      flow:    {table: holding, address: "2*{n}", type: float32}
      running: {table: coil, address: "{n}"}
`

// TestServeWithModbusConnector runs `plantwin serve --config` against a
// simulated PLC on loopback: values reach the twins, the PLC's restart
// shows as offline then online, and the CLI reads it all.
func TestServeWithModbusConnector(t *testing.T) {
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer dev.Stop()
	for n := 1; n <= 4; n++ {
		b := math.Float32bits(float32(n) * 1.5)
		dev.SetHolding(1, uint16(2*n), uint16(b>>16), uint16(b))
		dev.SetCoil(1, uint16(n), true)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(modbusPlant, dev.Addr())), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--config", cfg, "--data", filepath.Join(dir, "data"))
	get := func(id string) map[string]any {
		out, err := runCLI(t, "twins", "get", id, "-o", "json", "--server", n.addr)
		if err != nil {
			return nil
		}
		var tw map[string]any
		if json.Unmarshal([]byte(out), &tw) != nil {
			return nil
		}
		return tw
	}
	flow := func(tw map[string]any) float64 {
		rep, _ := tw["reported"].(map[string]any)
		f, _ := rep["flow"].(map[string]any)
		v, _ := f["value"].(map[string]any)
		d, _ := v["doubleValue"].(float64)
		return d
	}
	waitFor(t, 30*time.Second, "pump-4 flow 6 from the PLC", func() bool {
		tw := get("pump-4")
		return tw != nil && flow(tw) == 6 && tw["connectivity"] == "CONNECTIVITY_ONLINE"
	})
	dev.Stop()
	waitFor(t, 30*time.Second, "pump-1 offline", func() bool {
		tw := get("pump-1")
		return tw != nil && tw["connectivity"] == "CONNECTIVITY_OFFLINE"
	})
	b := math.Float32bits(42)
	dev.SetHolding(1, 2, uint16(b>>16), uint16(b))
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "pump-1 online with flow 42", func() bool {
		tw := get("pump-1")
		return tw != nil && flow(tw) == 42 && tw["connectivity"] == "CONNECTIVITY_ONLINE"
	})
	out, err := runCLI(t, "edge", "status", "--server", n.addr)
	if err != nil || !strings.Contains(out, "plc-1") || !strings.Contains(out, "connected") || !strings.Contains(out, "1 connectors") {
		t.Fatalf("edge status: %v\n%s", err, out)
	}
	out, err = runCLI(t, "edge", "status", "-o", "json", "--server", n.addr)
	var sts []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &sts) != nil || len(sts) != 1 || sts[0]["reconnects"] != "1" || sts[0]["state"] != "connected" {
		t.Fatalf("edge status -o json: %v\n%s", err, out)
	}
	if !strings.Contains(n.logs.String(), `"connector started"`) || !strings.Contains(n.logs.String(), "modbus device unreachable") {
		t.Errorf("logs lack the connector's start or its lost device:\n%s", n.logs.String())
	}
	n.stop()
}

const opcuaPlant = `
models:
  - name: turbine
    properties:
      - {name: power, type: double, unit: kW}
      - {name: running, type: bool}
twins:
  - id: turbine-{1..3}
    model: turbine
connectors:
  - name: scada
    protocol: opcua
    endpoint: %s
    reconnect: {initial: 100ms, max: 500ms}
    opcua: {publishing_interval: 100ms}
bindings:
  - connector: scada
    twin: turbine-{1..3}
    properties:
      power:   {node_id: "ns=2;s=T{n}.Power"}
      running: {node_id: "ns=2;s=T{n}.Running"}
`

// TestServeWithOPCUAConnector runs `plantwin serve --config` against a
// simulated OPC UA server on loopback: values reach the twins, and the
// server's restart shows as offline, then online with the values set
// while it was down.
func TestServeWithOPCUAConnector(t *testing.T) {
	srv := simulations.NewOPCUAServer()
	for n := 1; n <= 3; n++ {
		if err := srv.AddVariable(fmt.Sprintf("T%d.Power", n), float64(100*n)); err != nil {
			t.Fatal(err)
		}
		if err := srv.AddVariable(fmt.Sprintf("T%d.Running", n), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(opcuaPlant, srv.Endpoint())), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--config", cfg, "--data", filepath.Join(dir, "data"))
	get := func(id string) (power float64, conn string) {
		out, err := runCLI(t, "twins", "get", id, "-o", "json", "--server", n.addr)
		var tw struct {
			Reported map[string]struct {
				Value struct {
					DoubleValue float64 `json:"doubleValue"`
				} `json:"value"`
			} `json:"reported"`
			Connectivity string `json:"connectivity"`
		}
		if err != nil || json.Unmarshal([]byte(out), &tw) != nil {
			return 0, ""
		}
		return tw.Reported["power"].Value.DoubleValue, tw.Connectivity
	}
	waitFor(t, 30*time.Second, "turbine-3 power 300 from the server", func() bool {
		p, c := get("turbine-3")
		return p == 300 && c == "CONNECTIVITY_ONLINE"
	})
	srv.Stop()
	waitFor(t, 30*time.Second, "turbine-1 offline", func() bool {
		_, c := get("turbine-1")
		return c == "CONNECTIVITY_OFFLINE"
	})
	if err := srv.Set("T1.Power", 150.5, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "turbine-1 online with power 150.5", func() bool {
		p, c := get("turbine-1")
		return p == 150.5 && c == "CONNECTIVITY_ONLINE"
	})
	out, err := runCLI(t, "edge", "status", "-o", "json", "--server", n.addr)
	var sts []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &sts) != nil || len(sts) != 1 || sts[0]["protocol"] != "opcua" || sts[0]["state"] != "connected" || sts[0]["reconnects"] != "1" {
		t.Fatalf("edge status -o json: %v\n%s", err, out)
	}
	if logs := n.logs.String(); !strings.Contains(logs, "opcua subscription created") || !strings.Contains(logs, "opcua server unreachable") {
		t.Errorf("logs lack the subscription or the lost server:\n%s", logs)
	}
	n.stop()
}

const mqttPlant = `
models:
  - name: meter
    properties:
      - {name: flow, type: double}
twins:
  - id: meter-{1..2}
    model: meter
connectors:
  - name: broker
    protocol: mqtt
    endpoint: tcp://%s
    mqtt: {topic: "site/{twin}/data", qos: 1}
bindings:
  - connector: broker
    twin: meter-{1..2}
    properties:
      flow: {field: values.flow}
`

// TestServeWithMQTTConnector runs `plantwin serve --config` against a real
// Mosquitto: a device's JSON reaches the twin.
func TestServeWithMQTTConnector(t *testing.T) {
	dir := t.TempDir()
	broker, err := simulations.StartMosquitto(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Stop()
	cfg := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(mqttPlant, broker.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--config", cfg, "--data", filepath.Join(dir, "data"))
	waitFor(t, 30*time.Second, "connector connected", func() bool {
		out, err := runCLI(t, "edge", "status", "--server", n.addr)
		return err == nil && strings.Contains(out, " connected ")
	})
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr).SetClientID("meter-device"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish("site/meter-2/data", 1, false, `{"values": {"flow": 17.25}}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitFor(t, 30*time.Second, "meter-2 flow 17.25", func() bool {
		out, err := runCLI(t, "twins", "get", "meter-2", "-o", "json", "--server", n.addr)
		return err == nil && strings.Contains(out, `"doubleValue": 17.25`)
	})
	n.stop()
}
