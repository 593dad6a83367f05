package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

func TestSetDesired(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const id = "pump-0001"
	apply(t, n.rt, id, &pb.Sample{Property: "flow", Value: dbl(10)}) // version 1

	rep, err := n.rt.SetDesired(ctx, id, map[string]*pb.Value{"setpoint": dbl(120)}, 1, "token:alice")
	if err != nil {
		t.Fatalf("set desired at the expected version: %v", err)
	}
	if rep.Version != 2 {
		t.Fatalf("version after set desired = %d, want 2", rep.Version)
	}

	tests := []struct {
		name     string
		values   map[string]*pb.Value
		expected int64
		want     error
	}{
		{"stale expected version", map[string]*pb.Value{"setpoint": dbl(130)}, 1, twins.ErrVersionConflict},
		{"not writable", map[string]*pb.Value{"flow": dbl(1)}, 0, twins.ErrNotWritable},
		{"unknown property", map[string]*pb.Value{"nope": dbl(1)}, 0, twins.ErrUnknownProperty},
		{"out of range", map[string]*pb.Value{"setpoint": dbl(9000)}, 0, twins.ErrInvalidValue},
		{"one bad value refuses all", map[string]*pb.Value{"setpoint": dbl(50), "running": boolean(true)}, 0, twins.ErrNotWritable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.rt.SetDesired(ctx, id, tc.values, tc.expected, "token:bob")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := n.rt.SetDesired(ctx, "pump-9999", map[string]*pb.Value{"setpoint": dbl(1)}, 0, ""); !errors.Is(err, ErrUnknownTwin) {
		t.Fatalf("unknown twin: err = %v", err)
	}

	check := func(rt *Runtime) {
		t.Helper()
		tw := getTwin(t, rt, id)
		d := tw.Desired["setpoint"]
		if tw.Version != 2 || d.GetValue().GetDoubleValue() != 120 || d.GetUpdatedBy() != "token:alice" {
			t.Fatalf("twin = version %d desired %v, want version 2, setpoint 120 by token:alice", tw.Version, d)
		}
	}
	check(n.rt)
	// The desired value and who set it survive a restart (journal replay).
	n.close()
	n2 := startTestNode(t, dir, nil)
	check(n2.rt)
}

func TestSubscribeDeliversChangesInOrder(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	sub := n.rt.Subscribe([]string{"pump-0002"}, 16)
	defer sub.Close()
	all := n.rt.Subscribe(nil, 16)
	defer all.Close()

	apply(t, n.rt, "pump-0001", &pb.Sample{Property: "flow", Value: dbl(1)})
	apply(t, n.rt, "pump-0002", &pb.Sample{Property: "flow", Value: dbl(2)})
	apply(t, n.rt, "pump-0002", &pb.Sample{Property: "flow", Value: dbl(3)})

	next := func(s *Subscription) *Change {
		t.Helper()
		select {
		case c := <-s.C():
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no change delivered")
		}
		return nil
	}
	for _, want := range []float64{2, 3} {
		c := next(sub)
		if c.Spec.ID != "pump-0002" || len(c.Events) != 1 {
			t.Fatalf("change = %s with %d events", c.Spec.ID, len(c.Events))
		}
		if got := c.State.Reported[0].Value.AsDouble(); got != want {
			t.Fatalf("state flow = %v, want %v", got, want)
		}
		ch := ChangeToProto(c.Spec, c.Events[0].Version, c.Events[0].Event)
		if ch.Reported["flow"].GetValue().GetDoubleValue() != want {
			t.Fatalf("change = %v", ch)
		}
	}
	if got := []string{next(all).Spec.ID, next(all).Spec.ID, next(all).Spec.ID}; got[0] != "pump-0001" || got[2] != "pump-0002" {
		t.Fatalf("all-twins subscription got %v", got)
	}

	// A subscriber that does not read loses changes, is told, and the
	// twins are not slowed down.
	slow := n.rt.Subscribe([]string{"pump-0003"}, 1)
	defer slow.Close()
	for i := range 5 {
		apply(t, n.rt, "pump-0003", &pb.Sample{Property: "flow", Value: dbl(float64(i))})
	}
	select {
	case <-slow.Lagged():
	case <-time.After(5 * time.Second):
		t.Fatal("no lag signal")
	}
	if d := slow.TakeDropped(); d != 4 {
		t.Fatalf("dropped = %d, want 4", d)
	}

	// ReadChanges replays the journal after a version.
	var versions []int64
	if err := n.rt.ReadChanges("pump-0003", 2, 5, func(v int64, _ twins.Event) error { versions = append(versions, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 3 || versions[0] != 3 || versions[2] != 5 {
		t.Fatalf("versions after 2 = %v, want [3 4 5]", versions)
	}
	versions = nil
	if err := n.rt.ReadChanges("pump-0003", 2, 4, func(v int64, _ twins.Event) error { versions = append(versions, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 || versions[1] != 4 {
		t.Fatalf("versions in (2,4] = %v, want [3 4]", versions)
	}
}

func TestReadChangesAfterTrimmedJournal(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil) // snapshot every 3 events
	for i := range 10 {
		apply(t, n.rt, "pump-0004", &pb.Sample{Property: "flow", Value: dbl(float64(i))})
	}
	err := n.rt.ReadChanges("pump-0004", 0, 10, func(int64, twins.Event) error { return nil })
	if !errors.Is(err, ErrJournalTrimmed) {
		t.Fatalf("err = %v, want ErrJournalTrimmed", err)
	}
	if err := n.rt.ReadChanges("pump-0004", 10, 10, func(int64, twins.Event) error { t.Fatal("no change expected"); return nil }); err != nil {
		t.Fatal(err)
	}
}
