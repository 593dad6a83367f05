package mqtt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/simulations"
)

const plantYAML = `
models:
  - name: pump
    properties:
      - {name: flow, type: double, min: 0, max: 500}
      - {name: running, type: bool}
twins:
  - id: pump-{1..3}
    model: pump
connectors:
  - name: broker
    protocol: mqtt
    endpoint: tcp://%s
    reconnect: {initial: 100ms, max: 1s}
    mqtt: {topic: "plant/{twin}/telemetry", qos: 1, timestamp_field: ts}
bindings:
  - connector: broker
    twin: pump-{1..3}
    properties:
      flow:    {field: data.flow}
      running: {field: running}
`

var waitFor = edgetest.WaitFor

// TestConnectorFeedsTwinsAndSurvivesBrokerRestart runs the connector
// against a real Mosquitto on loopback.
func TestConnectorFeedsTwinsAndSurvivesBrokerRestart(t *testing.T) {
	broker, err := simulations.StartMosquitto(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Stop()
	node := edgetest.Start(t, fmt.Sprintf(plantYAML, broker.Addr))
	rt, ecfg := node.Runtime, node.Edge
	cc, _ := ecfg.Connector("broker")
	conn, err := New(cc, ecfg.BindingsOf("broker"), edge.NewSink(rt), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Start(); err != nil {
		t.Fatal(err)
	}
	defer conn.Stop()
	waitFor(t, "subscribed", func() bool { return conn.Status().State == edge.StateConnected })

	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr).SetClientID("test-device").
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	publish := func(twin, payload string) {
		t.Helper()
		if tok := pub.Publish("plant/"+twin+"/telemetry", 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	twin := node.Twin

	ts := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	publish("pump-2", fmt.Sprintf(`{"ts": %d, "data": {"flow": 12.5}, "running": true}`, ts.UnixMilli()))
	waitFor(t, "pump-2 flow 12.5", func() bool { return twin("pump-2").Reported["flow"].GetValue().GetDoubleValue() == 12.5 })
	tw := twin("pump-2")
	if !tw.Reported["running"].GetValue().GetBoolValue() || !tw.Reported["flow"].GetSourceTime().AsTime().Equal(ts) ||
		tw.Connectivity != pb.Connectivity_CONNECTIVITY_ONLINE {
		t.Fatalf("pump-2 = %v", tw)
	}

	// Bad payloads are rejected and counted; the connector goes on.
	publish("pump-1", `{"data": {"flow": 1`)
	publish("pump-9", `{"data": {"flow": 1}}`) // no such twin
	publish("pump-1", `{"ts": 1764072000000, "data": {"flow": 7}}`)
	waitFor(t, "pump-1 flow 7", func() bool { return twin("pump-1").Reported["flow"].GetValue().GetDoubleValue() == 7 })
	if st := conn.Status(); st.ReadErrors != 1 || conn.Unknown() != 1 {
		t.Fatalf("read errors %d (want 1), unknown %d (want 1): %+v", st.ReadErrors, conn.Unknown(), st)
	}

	// The broker restarts: twins go offline, then online, values resume.
	broker.Stop()
	waitFor(t, "pump-3 offline", func() bool { return twin("pump-3").Connectivity == pb.Connectivity_CONNECTIVITY_OFFLINE })
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resubscribed", func() bool { return conn.Status().State == edge.StateConnected })
	waitFor(t, "pump-3 online", func() bool { return twin("pump-3").Connectivity == pb.Connectivity_CONNECTIVITY_ONLINE })
	waitFor(t, "publisher reconnected", func() bool { return pub.IsConnectionOpen() })
	publish("pump-3", `{"data": {"flow": 33}}`)
	waitFor(t, "pump-3 flow 33", func() bool { return twin("pump-3").Reported["flow"].GetValue().GetDoubleValue() == 33 })
	if st := conn.Status(); st.Reconnects < 1 {
		t.Fatalf("reconnects %d, want at least 1", st.Reconnects)
	}
}

// TestSilentDeviceGoesOffline: with offline_after, a twin whose device
// stops publishing goes offline while the broker is fine, and comes back
// with its next message.
func TestSilentDeviceGoesOffline(t *testing.T) {
	broker, err := simulations.StartMosquitto(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Stop()
	node := edgetest.Start(t, strings.Replace(fmt.Sprintf(plantYAML, broker.Addr), "timestamp_field: ts}", "timestamp_field: ts, offline_after: 1s}", 1))
	rt, ecfg := node.Runtime, node.Edge
	cc, _ := ecfg.Connector("broker")
	conn, err := New(cc, ecfg.BindingsOf("broker"), edge.NewSink(rt), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Start(); err != nil {
		t.Fatal(err)
	}
	defer conn.Stop()
	waitFor(t, "subscribed", func() bool { return conn.Status().State == edge.StateConnected })
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr).SetClientID("dev"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	conn1 := func(id string) pb.Connectivity { return node.Twin(id).Connectivity }
	stop := make(chan struct{})
	go func() { // pump-1 keeps talking
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				pub.Publish("plant/pump-1/telemetry", 1, false, `{"data": {"flow": 1}}`).Wait()
			}
		}
	}()
	defer close(stop)
	waitFor(t, "silent pump-2 offline", func() bool { return conn1("pump-2") == pb.Connectivity_CONNECTIVITY_OFFLINE })
	if got := conn1("pump-1"); got != pb.Connectivity_CONNECTIVITY_ONLINE {
		t.Fatalf("talking pump-1 is %v", got)
	}
	pub.Publish("plant/pump-2/telemetry", 1, false, `{"data": {"flow": 2}}`).Wait()
	waitFor(t, "pump-2 back online", func() bool { return conn1("pump-2") == pb.Connectivity_CONNECTIVITY_ONLINE })
}
