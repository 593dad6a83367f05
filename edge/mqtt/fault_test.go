package mqtt

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
)

// TestOutboxThroughOverloadAndBrokerRestart publishes a rising flow for
// three pumps (each message with its source time) while the runtime takes
// at most two batches at a time, so that most batches go through the
// Pebble outbox, and restarts the broker mid-stream: every message the
// connector received is applied, each twin's history is in source order,
// and the twins end with the last values.
func TestOutboxThroughOverloadAndBrokerRestart(t *testing.T) {
	broker, err := simulations.StartMosquitto(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Stop()
	node := edgetest.StartWith(t, fmt.Sprintf(plantYAML, broker.Addr), func(c *actors.Config) { c.MaxInFlight = 2 })
	box, err := node.Store.Outbox("broker", 64<<20, persistence.OutboxDropOldest)
	if err != nil {
		t.Fatal(err)
	}
	sink := edge.NewSinkWithOutbox(node.Runtime, box, nil)
	t.Cleanup(sink.Close)
	cc, _ := node.Edge.Connector("broker")
	conn, err := New(cc, node.Edge.BindingsOf("broker"), sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Start(); err != nil {
		t.Fatal(err)
	}
	defer conn.Stop()
	waitFor(t, "subscribed", func() bool { return conn.Status().State == edge.StateConnected })
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr).SetClientID("fault-device").
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	peak := edgetest.PeakBacklog(sink)

	const rounds = 300
	for i := 1; i <= rounds; i++ {
		if i == rounds/2 {
			broker.Stop()
			if err := broker.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "resubscribed", func() bool { return conn.Status().State == edge.StateConnected })
			waitFor(t, "publisher reconnected", func() bool { return pub.IsConnectionOpen() })
		}
		ts := time.Now().UnixMilli()
		for n := 1; n <= 3; n++ {
			tok := pub.Publish(fmt.Sprintf("plant/pump-%d/telemetry", n), 1, false, fmt.Sprintf(`{"ts": %d, "data": {"flow": %d}}`, ts, i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
		time.Sleep(2 * time.Millisecond) // the device's own pace, not a wait for the system
	}
	waitFor(t, "the last values applied and the outbox drained", func() bool {
		st := sink.Stats()
		return st.Backlog == 0 && st.InFlight == 0 && node.Twin("pump-3").GetReported()["flow"].GetValue().GetDoubleValue() == rounds
	})
	maxBacklog := peak()
	st := sink.Stats()
	if maxBacklog == 0 {
		t.Fatalf("the outbox was never used (stats %+v): the test did not overload the runtime", st)
	}
	// Every message published after the restart settled arrives (QoS 1
	// to a running broker), so at least the second half must be there.
	if st.Lost != 0 || st.Accepted+st.Rejected != st.Samples || st.Samples < 3*rounds/2 {
		t.Fatalf("samples lost: %+v", st)
	}
	for n := 1; n <= 3; n++ {
		id := fmt.Sprintf("pump-%d", n)
		if got := node.Twin(id).GetReported()["flow"].GetValue().GetDoubleValue(); got != rounds {
			t.Errorf("%s flow = %v, want %d", id, got, rounds)
		}
		if points := node.HistoryInOrder(id, "flow"); points < rounds/2 {
			t.Errorf("%s: only %d history points", id, points)
		}
	}
	t.Logf("outbox backlog peaked at %d batches; %+v; %d reconnects", maxBacklog, st, conn.Status().Reconnects)
}
