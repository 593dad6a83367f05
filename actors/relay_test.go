package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// TestRelayedChangeRoundTrip: a change encoded for another member decodes
// to the same state and events.
func TestRelayedChangeRoundTrip(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	sub := n.rt.Subscribe([]string{"pump-0001"}, 8)
	defer sub.Close()
	now := time.Now().UnixNano()
	apply(t, n.rt, "pump-0001", &pb.Sample{Property: "flow", Value: dbl(12.5), SourceTimeUnixNano: now},
		&pb.Sample{Property: "running", Value: boolean(true), SourceTimeUnixNano: now})
	var ch *Change
	select {
	case ch = <-sub.C():
	case <-time.After(10 * time.Second):
		t.Fatal("no change published")
	}
	m, err := relayedChange(ch)
	if err != nil {
		t.Fatal(err)
	}
	back, err := changeFrom(ch.Spec, m)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(TwinToProto(back.State, true), TwinToProto(ch.State, true)) {
		t.Errorf("state: got %v, want %v", TwinToProto(back.State, true), TwinToProto(ch.State, true))
	}
	if len(back.Events) != len(ch.Events) {
		t.Fatalf("%d events, want %d", len(back.Events), len(ch.Events))
	}
	for i := range ch.Events {
		got, want := ChangeToProto(ch.Spec, back.Events[i].Version, back.Events[i].Event), ChangeToProto(ch.Spec, ch.Events[i].Version, ch.Events[i].Event)
		if !proto.Equal(got, want) {
			t.Errorf("event %d: got %v, want %v", i, got, want)
		}
	}
	// A corrupt state is an error, not a crash.
	m.State = []byte{0xff, 0x01}
	if _, err := changeFrom(ch.Spec, m); err == nil {
		t.Error("a corrupt relayed state decoded")
	}
}

// TestFeedActorRefusesBadSubscriptions: the feed actor answers a malformed
// SubscribeChanges with an error naming what is wrong.
func TestFeedActorRefusesBadSubscriptions(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	feed := actor.NewPID(n.rt.system.Address(), FeedActorName)
	for _, tc := range []struct {
		name string
		req  *pb.SubscribeChanges
		want string
	}{
		{"no reply address", &pb.SubscribeChanges{Subscription: "s", AllTwins: true, LeaseMillis: 1000}, "reply_address"},
		{"no lease", &pb.SubscribeChanges{Subscription: "s", AllTwins: true, ReplyAddress: "a", ReplyId: "b"}, "lease_millis"},
		{"no twins", &pb.SubscribeChanges{Subscription: "s", ReplyAddress: "a", ReplyId: "b", LeaseMillis: 1000}, "no twins"},
	} {
		res, err := n.rt.system.Root.RequestFuture(feed, tc.req, 5*time.Second).Result()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		rep, _ := res.(*pb.SubscribeChangesReply)
		if rep == nil || !strings.Contains(rep.Error, tc.want) {
			t.Errorf("%s: answer %v, want an error naming %q", tc.name, rep, tc.want)
		}
	}
}
