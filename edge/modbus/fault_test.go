package modbus

import (
	"fmt"
	"testing"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
)

// TestOutboxThroughOverloadAndDeviceRestart polls changing registers
// while the runtime takes at most two batches at a time, so that most
// batches go through the Pebble outbox, and restarts the PLC mid-stream:
// nothing the connector read is lost, each twin's history is in source
// order, and the twins end with the PLC's last values.
func TestOutboxThroughOverloadAndDeviceRestart(t *testing.T) {
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Stop)
	node := edgetest.StartWith(t, plantYAML+fmt.Sprintf(edgeYAML, dev.Addr()), func(c *actors.Config) { c.MaxInFlight = 2 })
	box, err := node.Store.Outbox("plc-1", 64<<20, persistence.OutboxDropOldest)
	if err != nil {
		t.Fatal(err)
	}
	sink := edge.NewSinkWithOutbox(node.Runtime, box, nil)
	t.Cleanup(sink.Close)
	cc, _ := node.Edge.Connector("plc-1")
	conn, err := New(cc, node.Edge.BindingsOf("plc-1"), sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Start()
	t.Cleanup(conn.Stop)
	peak := edgetest.PeakBacklog(sink)

	const rounds = 300
	for i := 1; i <= rounds; i++ {
		if i == rounds/2 {
			dev.Stop()
			edgetest.WaitFor(t, "offline", func() bool {
				return node.Twin("pump-1").Connectivity == pb.Connectivity_CONNECTIVITY_OFFLINE
			})
			if err := dev.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for n := 1; n <= 3; n++ {
			dev.SetHolding(1, uint16(102+10*n), 0, uint16(i)) // starts, uint32
		}
		time.Sleep(5 * time.Millisecond) // the process's own pace, not a wait for the system
	}
	edgetest.WaitFor(t, "the last values applied and the outbox drained", func() bool {
		st := sink.Stats()
		return st.Backlog == 0 && st.InFlight == 0 && node.Twin("pump-3").GetReported()["starts"].GetValue().GetIntValue() == rounds
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
		id := fmt.Sprintf("pump-%d", n)
		if got := node.Twin(id).GetReported()["starts"].GetValue().GetIntValue(); got != rounds {
			t.Errorf("%s starts = %d, want %d", id, got, rounds)
		}
		if points := node.HistoryInOrder(id, "starts"); points < 10 {
			t.Errorf("%s: only %d history points", id, points)
		}
	}
	t.Logf("outbox backlog peaked at %d batches; %+v; %d reconnects", maxBacklog, st, conn.Status().Reconnects)
}
