package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"google.golang.org/protobuf/proto"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// TestRequestIDRoundTrip: a request id appended to an encoded journal
// event is read back, and the event still decodes as before.
func TestRequestIDRoundTrip(t *testing.T) {
	ev := &pb.JournalEvent{Event: &pb.JournalEvent_Connectivity{Connectivity: &pb.ConnectivityChangedEvent{}}}
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if id, acc := requestIDOf(data); id != 0 || acc != 0 {
		t.Fatalf("plain event: request %d accepted %d, want none", id, acc)
	}
	stamped := appendRequestID(data, 0xfeedface12345678, 7)
	if id, acc := requestIDOf(stamped); id != 0xfeedface12345678 || acc != 7 {
		t.Fatalf("stamped event: request %x accepted %d", id, acc)
	}
	var back pb.JournalEvent
	if err := proto.Unmarshal(stamped, &back); err != nil {
		t.Fatal(err)
	}
	if back.GetConnectivity() == nil || back.RequestId != 0xfeedface12345678 || back.RequestAccepted != 7 {
		t.Fatalf("decoded %v", &back)
	}
	if id, _ := requestIDOf([]byte{0xff, 0xff}); id != 0 {
		t.Fatalf("malformed bytes gave request %d", id)
	}
}

// sendRaw sends msg to its twin with a future as sender and returns the
// twin's answer.
func sendRaw(t *testing.T, rt *Runtime, twin string, msg any) *pb.TelemetryApplied {
	t.Helper()
	f := actor.NewFuture(rt.system, 10*time.Second)
	if !rt.lookup.Send(rt.identity(twin), msg, f.PID()) {
		t.Fatal("no owner")
	}
	res, err := f.Result()
	if err != nil {
		t.Fatal(err)
	}
	rep, ok := res.(*pb.TelemetryApplied)
	if !ok || rep.Error != "" {
		t.Fatalf("answer %v", res)
	}
	return rep
}

// TestResentRequestAfterRestartIsNotAppliedTwice: a request applied by
// one activation and sent again, marked re-sent, to a later activation
// (here after a restart; in a cluster after a fail-over) is answered
// from the journal with the version it ended at, not applied again.
func TestResentRequestAfterRestartIsNotAppliedTwice(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	const id = 0x5eed0000cafe
	batch := &pb.ApplyTelemetry{TwinId: "pump-0001", CorrelationId: id, Samples: []*pb.Sample{
		{Property: "flow", Value: dbl(4), SourceTimeUnixNano: time.Now().UnixNano()}}}
	first := sendRaw(t, n.rt, "pump-0001", batch)
	if first.Version == 0 || first.Accepted != 1 {
		t.Fatalf("first answer %v", first)
	}
	n.close()

	n2 := startTestNode(t, dir, nil)
	defer n2.close()
	again := proto.Clone(batch).(*pb.ApplyTelemetry)
	again.Resent = true
	rep := sendRaw(t, n2.rt, "pump-0001", again)
	if rep.Version != first.Version || rep.Accepted != 1 {
		t.Fatalf("re-sent request answered %v, want version %d accepted 1 (the first answer)", rep, first.Version)
	}
	if st := getTwin(t, n2.rt, "pump-0001"); st.Version != first.Version {
		t.Fatalf("twin at version %d after the re-sent request, want %d: applied twice", st.Version, first.Version)
	}
	// Not marked re-sent, the same id is a new request (ids are not
	// looked up in the journal on the hot path).
	fresh := proto.Clone(batch).(*pb.ApplyTelemetry)
	fresh.Samples[0].SourceTimeUnixNano++
	if rep := sendRaw(t, n2.rt, "pump-0001", fresh); rep.Version <= first.Version {
		t.Fatalf("a new request answered %v", rep)
	}
}

// TestMarkResent: a re-sent call carries a marked copy; the message first
// sent is left as it was.
func TestMarkResent(t *testing.T) {
	in := &ingest{}
	for _, msg := range []proto.Message{&pb.ApplyTelemetry{}, &pb.SetDesired{}, &pb.SetConnectivity{}, &pb.InvokeCommandOp{}, &pb.AlarmOp{}} {
		c := &call{msg: msg}
		in.markResent(c)
		if !resent(c.msg) || resent(msg) {
			t.Errorf("%T: re-sent copy marked %v, first message marked %v", msg, resent(c.msg), resent(msg))
		}
	}
}
