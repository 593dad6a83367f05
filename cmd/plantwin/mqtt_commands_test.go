package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/simulations"
)

const mqttValvePlant = `
models:
  - name: valve
    properties:
      - {name: flow, type: double}
    commands:
      - name: close
      - name: calibrate
      - name: flush
    rules:
      - {name: leak, when: flow > 10.0, severity: high, actions: [{command: close}]}
twins:
  - id: valve-1
    model: valve
connectors:
  - name: broker
    protocol: mqtt
    endpoint: tcp://%s
    reconnect: {initial: 100ms, max: 1s}
    mqtt: {topic: "plant/{twin}/telemetry", command_topic: "plant/{twin}/commands", response_topic: "plant/{twin}/responses"}
bindings:
  - connector: broker
    twin: valve-1
    properties:
      flow: {field: flow}
    commands:
      close:
      calibrate:
      flush:
`

// TestCommandsOverMQTT: a twin's commands go out as MQTT messages and
// complete on the device's answer: a rule's close succeeds when the device
// says ok, a calibrate fails with the device's own message, and a flush
// the device never answers times out.
func TestCommandsOverMQTT(t *testing.T) {
	dir := t.TempDir()
	broker, err := simulations.StartMosquitto(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Stop()
	cfg := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(mqttValvePlant, broker.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The valve: answers close with ok, calibrate with an error, flush not at all.
	dev := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr).SetClientID("valve-device"))
	if tok := dev.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device: %v", tok.Error())
	}
	defer dev.Disconnect(100)
	received := make(chan string, 16)
	tok := dev.Subscribe("plant/+/commands", 1, func(c paho.Client, m paho.Message) {
		var msg struct {
			ID            string `json:"id"`
			Command       string `json:"command"`
			ResponseTopic string `json:"response_topic"`
		}
		if json.Unmarshal(m.Payload(), &msg) != nil {
			return
		}
		received <- msg.Command
		var answer string
		switch msg.Command {
		case "close":
			answer = fmt.Sprintf(`{"id": %q, "status": "ok"}`, msg.ID)
		case "calibrate":
			answer = fmt.Sprintf(`{"id": %q, "status": "error", "message": "sensor out of range"}`, msg.ID)
		default:
			return
		}
		go c.Publish(msg.ResponseTopic, 1, false, answer) // not in paho's handler goroutine
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device subscribe: %v", tok.Error())
	}
	n := startNode(t, "--config", cfg, "--data", filepath.Join(dir, "data"))
	defer n.stop()
	tc := n.client()
	waitFor(t, patience, "connector connected", func() bool {
		out, err := runCLI(t, "edge", "status", "--server", n.addr)
		return err == nil && strings.Contains(out, " connected ")
	})
	ctx, cancel := callContext()
	defer cancel()

	// The leak rule's close, carried out by the device.
	if tok := dev.Publish("plant/valve-1/telemetry", 1, false, `{"flow": 12.5}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	var closeCmd *pb.Command
	waitFor(t, patience, "the rule's close to succeed", func() bool {
		resp, err := tc.ListCommands(ctx, &pb.ListCommandsRequest{TwinId: "valve-1"})
		if err != nil || len(resp.Commands) == 0 {
			return false
		}
		closeCmd = resp.Commands[0]
		return closeCmd.Status == "succeeded"
	})
	if closeCmd.Name != "close" || closeCmd.InvokedBy != "rule:leak" || closeCmd.Attempts != 1 {
		t.Errorf("close %+v", closeCmd)
	}

	c, err := tc.InvokeCommand(ctx, &pb.InvokeCommandRequest{TwinId: "valve-1", Command: "calibrate", Wait: true})
	if err != nil || c.Status != "failed" || !strings.Contains(c.Error, "sensor out of range") || c.Attempts != 1 {
		t.Fatalf("calibrate: %v %+v", err, c)
	}
	c, err = tc.InvokeCommand(ctx, &pb.InvokeCommandRequest{TwinId: "valve-1", Command: "flush", Wait: true, Timeout: durationpb.New(time.Second)})
	if err != nil || c.Status != "timed_out" && c.Status != "failed" || !strings.Contains(c.Error, "no answer") || c.Attempts != 1 {
		t.Fatalf("flush: %v %+v", err, c)
	}
	got := map[string]int{}
	for len(received) > 0 {
		got[<-received]++
	}
	if got["close"] != 1 || got["calibrate"] != 1 || got["flush"] != 1 {
		t.Errorf("the device received %v, want each command once", got)
	}
}
