package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

func flow(f float64) []*pb.Sample {
	return []*pb.Sample{{Property: "flow", Value: &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: f}}}}
}

func (e *env) apply(t *testing.T, id string, f float64) int64 {
	t.Helper()
	rep, err := e.rt.Apply(ctx(t), &pb.ApplyTelemetry{TwinId: id, Samples: flow(f)})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Version
}

// TestWatchResumesWithoutGapsOrDuplicates resumes one twin from version 10
// and starts another from its state while both are being written.
func TestWatchResumesWithoutGapsOrDuplicates(t *testing.T) {
	e := start(t)
	for i := range 20 {
		e.apply(t, "pump-a01", float64(i))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, id := range []string{"pump-a01", "pump-a02"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.rt.Apply(context.Background(), &pb.ApplyTelemetry{TwinId: id, Samples: flow(float64(i % 500))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	stream, err := e.tc.WatchTwins(wctx, &pb.WatchTwinsRequest{
		Ids:          []string{"pump-a01", "pump-a02"},
		FromVersions: map[string]int64{"pump-a01": 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Let ingest run concurrently with the initial replay and live changes.
	time.AfterFunc(500*time.Millisecond, func() { close(stop) })

	seen := map[string][]int64{}
	stateAt := map[string]int64{}
	var final map[string]int64
	synced := false
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch ev := m.Event.(type) {
		case *pb.WatchTwinsResponse_State:
			if synced {
				t.Fatalf("unexpected STATE after SYNCED: %v", ev.State.Id)
			}
			stateAt[ev.State.Id] = ev.State.Version
		case *pb.WatchTwinsResponse_Change:
			seen[ev.Change.TwinId] = append(seen[ev.Change.TwinId], ev.Change.Version)
		case *pb.WatchTwinsResponse_Synced:
			synced = true
		case *pb.WatchTwinsResponse_Lagged:
			t.Fatal("watch lagged")
		}
		if final == nil {
			select {
			case <-stop:
				wg.Wait()
				final = map[string]int64{}
				for _, id := range []string{"pump-a01", "pump-a02"} {
					tw, err := e.tc.GetTwin(ctx(t), &pb.GetTwinRequest{Id: id})
					if err != nil {
						t.Fatal(err)
					}
					final[id] = tw.Version
				}
			default:
			}
		}
		if final != nil && last(seen["pump-a01"]) == final["pump-a01"] && max(last(seen["pump-a02"]), stateAt["pump-a02"]) == final["pump-a02"] {
			break
		}
	}
	if _, ok := stateAt["pump-a01"]; ok {
		t.Fatal("resumed twin was sent a STATE instead of its changes")
	}
	check := func(id string, from int64) {
		want := from + 1
		for _, v := range seen[id] {
			if v != want {
				t.Fatalf("%s: got version %d, want %d (versions %v)", id, v, want, seen[id])
			}
			want++
		}
		if want-1 != final[id] {
			t.Fatalf("%s: ended at %d, want %d", id, want-1, final[id])
		}
	}
	check("pump-a01", 10)
	check("pump-a02", stateAt["pump-a02"])
	if final["pump-a01"] < 50 {
		t.Fatalf("only %d versions of pump-a01 written: not much concurrency tested", final["pump-a01"])
	}
	t.Logf("pump-a01: %d changes replayed and live; pump-a02: state at %d, then %d changes", len(seen["pump-a01"]), stateAt["pump-a02"], len(seen["pump-a02"]))
}

func last(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	return v[len(v)-1]
}

// TestSlowWatcherDoesNotSlowIngest: a watcher that does not read falls
// behind; ingest completes regardless, and the watcher is told it lagged
// and resynced to the latest state.
func TestSlowWatcherDoesNotSlowIngest(t *testing.T) {
	e := startOpts(t, Options{WatchBuffer: 8})
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	stream, err := e.tc.WatchTwins(wctx, &pb.WatchTwinsRequest{Model: "pump"})
	if err != nil {
		t.Fatal(err)
	}
	// Read the initial sync, then stop reading.
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetSynced() != nil {
			break
		}
	}
	const n = 3000
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("pump-a%02d", w%5+1)
			if w >= 5 {
				id = fmt.Sprintf("pump-b%02d", w%5+1)
			}
			for i := range n / 10 {
				if _, err := e.rt.Apply(context.Background(), &pb.ApplyTelemetry{TwinId: id, Samples: flow(float64(i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d updates applied in %v with a stalled watcher", n, time.Since(start))
	want, err := e.tc.GetTwin(ctx(t), &pb.GetTwinRequest{Id: "pump-b05"})
	if err != nil {
		t.Fatal(err)
	}
	// Now read: a LAGGED event, a resync, and pump-b05 at its final version.
	lagged, resynced := false, false
	for !resynced {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch ev := m.Event.(type) {
		case *pb.WatchTwinsResponse_Lagged:
			if ev.Lagged.Dropped <= 0 {
				t.Fatalf("lagged with %d dropped", ev.Lagged.Dropped)
			}
			lagged = true
		case *pb.WatchTwinsResponse_State:
			if lagged && ev.State.Id == "pump-b05" && ev.State.Version == want.Version {
				resynced = true
			}
		case *pb.WatchTwinsResponse_Change:
			if ev.Change.TwinId == "pump-b05" && ev.Change.Version == want.Version && lagged {
				resynced = true
			}
		}
	}
	if !lagged {
		t.Fatal("no LAGGED event")
	}
}

// TestWatchFilterEntersAndLeaves: a state filter sends STATE when a twin
// starts matching, changes while it matches, LEFT when it stops.
func TestWatchFilterEntersAndLeaves(t *testing.T) {
	e := start(t)
	e.apply(t, "pump-b01", 10)
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	stream, err := e.tc.WatchTwins(wctx, &pb.WatchTwinsRequest{
		Filter:            `labels.line == "L2" && has(reported.flow) && reported.flow.value > 50`,
		HeartbeatInterval: durationpb.New(100 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	next := func() *pb.WatchTwinsResponse {
		t.Helper()
		for {
			m, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.GetHeartbeat() == nil {
				return m
			}
		}
	}
	if m := next(); m.GetSynced().GetTwins() != 0 {
		t.Fatalf("first event %v, want SYNCED with 0 twins", m)
	}
	e.apply(t, "pump-a01", 90) // L1: never matches
	e.apply(t, "pump-b01", 60) // enters
	if m := next(); m.GetState().GetId() != "pump-b01" || m.GetState().GetVersion() != 2 {
		t.Fatalf("got %v, want STATE of pump-b01 at version 2", m)
	}
	e.apply(t, "pump-b01", 70)
	if m := next(); m.GetChange().GetVersion() != 3 || m.GetChange().GetReported()["flow"].GetValue().GetDoubleValue() != 70 {
		t.Fatalf("got %v, want CHANGE of pump-b01 to 70 at version 3", m)
	}
	e.apply(t, "pump-b01", 5)
	if m := next(); m.GetLeft().GetTwinId() != "pump-b01" || m.GetLeft().GetVersion() != 4 {
		t.Fatalf("got %v, want LEFT of pump-b01 at version 4", m)
	}
	// Heartbeats keep coming on a quiet stream.
	m, err := stream.Recv()
	if err != nil || m.GetHeartbeat() == nil {
		t.Fatalf("got %v %v, want a heartbeat", m, err)
	}
}

// TestWatchResumeAheadOfTwinGetsState: a client that claims a version the
// twin never reached (say, the store was restored from an older backup)
// is sent the twin's state instead of silently skipping changes.
func TestWatchResumeAheadOfTwinGetsState(t *testing.T) {
	e := start(t)
	e.apply(t, "pump-a03", 1)
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	stream, err := e.tc.WatchTwins(wctx, &pb.WatchTwinsRequest{Ids: []string{"pump-a03"}, FromVersion: 1000})
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetState().GetVersion() != 1 {
		t.Fatalf("got %v, want STATE at version 1", m)
	}
	e.apply(t, "pump-a03", 2)
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if c := m.GetChange(); c != nil {
			if c.Version != 2 {
				t.Fatalf("change at version %d, want 2", c.Version)
			}
			return
		}
	}
}
