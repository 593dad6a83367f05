package opcua

import (
	"fmt"
	"testing"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/persistence"
)

// TestOutboxThroughOverloadAndServerRestart streams changing values from
// the server while the runtime takes at most two batches at a time, so
// that most batches are refused and go through the Pebble outbox, and
// restarts the server mid-stream. Every sample the connector published is
// applied (none lost), each twin's history is in the order the server
// produced it (versions rise with source time: nothing reordered), and
// the twins end with the server's last values.
func TestOutboxThroughOverloadAndServerRestart(t *testing.T) {
	srv := newServer(t)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	node := edgetest.StartWith(t, plantYAML+fmt.Sprintf(connectorYAML, srv.Endpoint(), ""), func(c *actors.Config) { c.MaxInFlight = 2 })
	box, err := node.Store.Outbox("scada", 64<<20, persistence.OutboxRefuseNewest)
	if err != nil {
		t.Fatal(err)
	}
	sink := edge.NewSinkWithOutbox(node.Runtime, box, nil)
	t.Cleanup(sink.Close)
	cc, _ := node.Edge.Connector("scada")
	conn, err := New(cc, node.Edge.BindingsOf("scada"), sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Start()
	t.Cleanup(conn.Stop)
	edgetest.WaitFor(t, "connected", func() bool { return conn.Status().State == edge.StateConnected })

	peak := edgetest.PeakBacklog(sink)

	// 300 rounds of new values for all three turbines, a value every
	// 5 ms, with the server down for a while in the middle.
	last := 0
	for i := 1; i <= 300; i++ {
		if i == 150 {
			srv.Stop()
			edgetest.WaitFor(t, "offline", func() bool {
				return node.Twin("turbine-1").Connectivity == pb.Connectivity_CONNECTIVITY_OFFLINE
			})
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for n := 1; n <= 3; n++ {
			if err := srv.Set(fmt.Sprintf("T%d.Starts", n), int32(i), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		last = i
		time.Sleep(5 * time.Millisecond) // the device's own pace, not a wait for the system
	}
	edgetest.WaitFor(t, "the last values applied and the outbox drained", func() bool {
		st := sink.Stats()
		v := reported(node.Twin("turbine-3"), "starts").GetValue().GetIntValue()
		return st.Backlog == 0 && st.InFlight == 0 && v == int64(last)
	})
	maxBacklog := peak()
	st := sink.Stats()
	if maxBacklog == 0 {
		t.Fatalf("the outbox was never used (stats %+v): the test did not overload the runtime", st)
	}
	if st.Lost != 0 || st.Accepted+st.Rejected != st.Samples {
		t.Fatalf("samples lost: %+v", st)
	}
	for n := 1; n <= 3; n++ {
		id := fmt.Sprintf("turbine-%d", n)
		if got := reported(node.Twin(id), "starts").GetValue().GetIntValue(); got != int64(last) {
			t.Errorf("%s starts = %d, want the last value %d", id, got, last)
		}
		points := node.HistoryInOrder(id, "starts")
		if points < 10 {
			t.Errorf("%s: only %d history points", id, points)
		}
	}
	t.Logf("outbox backlog peaked at %d batches; %+v; %d reconnects", maxBacklog, st, conn.Status().Reconnects)
}
