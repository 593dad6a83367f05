package mqtt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/gateway/auth/authtest"
	"github.com/plantwin/plantwin/simulations"
)

const securePlant = `
models:
  - name: meter
    properties:
      - {name: flow, type: double}
twins:
  - id: meter-1
    model: meter
connectors:
  - name: broker
    protocol: mqtt
    endpoint: mqtts://%s
    reconnect: {initial: 100ms, max: 500ms}
    mqtt:
      topic: "site/{twin}/data"
      ca_file: %s
      username: plantwin
      password_env: PLANTWIN_TEST_MQTT_PASSWORD
bindings:
  - connector: broker
    twin: meter-1
    properties:
      flow: {field: flow}
`

// TestTLSWithPassword runs the connector against a Mosquitto that takes
// TLS only and refuses anonymous clients: with the CA and the right
// password values flow; with a wrong password the connector says so and
// retries.
func TestTLSWithPassword(t *testing.T) {
	pki, err := authtest.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	broker, err := simulations.StartMosquittoWith(t.TempDir(), simulations.MosquittoOptions{
		CertFile: pki.ServerCert, KeyFile: pki.ServerKey,
		Users: map[string]string{"plantwin": "s3cret", "device": "dev-pass"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Stop()

	// One runtime per test process at a time: protoactor's remote sets
	// grpc's global logger when it starts.
	node := edgetest.Start(t, fmt.Sprintf(securePlant, broker.Addr, pki.CAFile))
	start := func(password, clientID string) *Connector {
		t.Setenv("PLANTWIN_TEST_MQTT_PASSWORD", password) // read by Start
		cc, _ := node.Edge.Connector("broker")
		own := *cc
		own.MQTT = new(edge.MQTTConnector)
		*own.MQTT = *cc.MQTT
		own.MQTT.ClientID = clientID
		conn, err := New(&own, node.Edge.BindingsOf("broker"), edge.NewSink(node.Runtime), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Stop)
		return conn
	}

	conn := start("s3cret", "plantwin-good")
	waitFor(t, "subscribed over TLS", func() bool { return conn.Status().State == edge.StateConnected })
	tc, err := (&Connector{cfg: &edge.ConnectorConfig{Name: "device"}, mq: edge.MQTTConnector{CAFile: pki.CAFile}}).tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + broker.Addr).SetClientID("secure-device").
		SetUsername("device").SetPassword("dev-pass").SetTLSConfig(tc))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish("site/meter-1/data", 1, false, `{"flow": 4.25}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitFor(t, "meter-1 flow over TLS", func() bool {
		return node.Twin("meter-1").GetReported()["flow"].GetValue().GetDoubleValue() == 4.25
	})

	bad := start("wrong", "plantwin-bad")
	waitFor(t, "the refused login in the status", func() bool {
		st := bad.Status()
		return st.State != edge.StateConnected && strings.Contains(strings.ToLower(st.LastError), "not authorized")
	})
}
