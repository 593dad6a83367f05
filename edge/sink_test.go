package edge

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// flakyRuntime refuses batches with ErrOverloaded while down is set, or
// past capacity batches in flight when capacity is set (at once, as
// actors.Runtime does past its in-flight limit), and records what it
// applied, in order.
type flakyRuntime struct {
	down     atomic.Bool
	capacity int64 // 0: unlimited
	inFlight atomic.Int64
	mu       sync.Mutex
	applied  []string // "twin:value"
	conn     map[string]pb.Connectivity
}

func (f *flakyRuntime) Submit(b *pb.ApplyTelemetry, done func(*pb.TelemetryApplied, error)) {
	if f.down.Load() {
		done(nil, actors.ErrOverloaded)
		return
	}
	if n := f.inFlight.Add(1); f.capacity > 0 && n > f.capacity {
		f.inFlight.Add(-1)
		done(nil, actors.ErrOverloaded)
		return
	}
	f.mu.Lock()
	f.applied = append(f.applied, fmt.Sprintf("%s:%v", b.TwinId, b.Samples[0].GetValue().GetIntValue()))
	f.mu.Unlock()
	go func() {
		f.inFlight.Add(-1)
		done(&pb.TelemetryApplied{Accepted: int32(len(b.Samples))}, nil)
	}()
}

// checkPerTwin fails unless got holds exactly want's entries, each twin's
// in want's order (twins interleave freely).
func checkPerTwin(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d applied, want %d (lost or applied twice)", len(got), len(want))
	}
	byTwin := func(xs []string) map[string][]string {
		m := map[string][]string{}
		for _, x := range xs {
			twin, _, _ := strings.Cut(x, ":")
			m[twin] = append(m[twin], x)
		}
		return m
	}
	g, w := byTwin(got), byTwin(want)
	for twin, ws := range w {
		if !slices.Equal(g[twin], ws) {
			t.Fatalf("%s applied %v,\nwant %v", twin, g[twin], ws)
		}
	}
}

func (f *flakyRuntime) SubmitConnectivity(id string, c pb.Connectivity, done func(*pb.TelemetryApplied, error)) {
	if f.down.Load() {
		done(nil, actors.ErrOverloaded)
		return
	}
	f.mu.Lock()
	if f.conn == nil {
		f.conn = map[string]pb.Connectivity{}
	}
	f.conn[id] = c
	f.mu.Unlock()
	go done(&pb.TelemetryApplied{}, nil)
}

func (f *flakyRuntime) connectivity(id string) pb.Connectivity {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn[id]
}

// TestConnectivityChangeSurvivesOverload: a device that drops off while
// the runtime refuses work still ends offline in its twin, and the newest
// change wins.
func TestConnectivityChangeSurvivesOverload(t *testing.T) {
	rt := &flakyRuntime{}
	s := NewSink(rt)
	s.SetOnline([]string{"a", "b"}, true)
	rt.down.Store(true)
	s.SetOnline([]string{"a", "b"}, false) // refused
	s.SetOnline([]string{"b"}, true)       // b is back before the runtime is
	rt.down.Store(false)
	until(t, 10*time.Second, func() bool {
		return rt.connectivity("a") == pb.Connectivity_CONNECTIVITY_OFFLINE && rt.connectivity("b") == pb.Connectivity_CONNECTIVITY_ONLINE
	}, func() {
		t.Fatalf("a %v (want offline), b %v (want online)", rt.connectivity("a"), rt.connectivity("b"))
	})
}

func (f *flakyRuntime) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.applied...)
}

func intSample(v int64) []*pb.Sample {
	return []*pb.Sample{{Property: "p", Value: &pb.Value{Kind: &pb.Value_IntValue{IntValue: v}}}}
}

func openOutbox(t *testing.T, dir string) (*persistence.Store, *persistence.Outbox) {
	t.Helper()
	store, err := persistence.Open(persistence.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	box, err := store.Outbox("plc-1", 1<<20, persistence.OutboxDropOldest)
	if err != nil {
		t.Fatal(err)
	}
	return store, box
}

// TestOutboxKeepsEverythingInOrder: while the runtime refuses batches they
// go to the outbox, and so do the batches after them; once it accepts
// again the outbox drains, each twin's batches in order, and nothing is
// lost or applied twice.
func TestOutboxKeepsEverythingInOrder(t *testing.T) {
	dir := t.TempDir()
	store, box := openOutbox(t, dir)
	defer store.Close()
	rt := &flakyRuntime{}
	s := NewSinkWithOutbox(rt, box, nil)
	defer s.Close()

	var want []string
	publish := func(i int) {
		id := fmt.Sprintf("twin-%d", i%3)
		s.Publish(id, intSample(int64(i)))
		want = append(want, fmt.Sprintf("%s:%d", id, i))
	}
	for i := range 10 {
		publish(i)
	}
	waitApplied(t, rt, 10)
	rt.down.Store(true)
	for i := 10; i < 200; i++ {
		publish(i)
	}
	// Every refused batch reaches the outbox while the drainer's retries
	// keep failing.
	until(t, 10*time.Second, func() bool { return s.Stats().Backlog >= 190 }, func() { t.Fatalf("outbox holds %d of the 190 refused batches: %+v", s.Stats().Backlog, s.Stats()) })
	rt.down.Store(false)
	for i := 200; i < 220; i++ {
		publish(i)
	}
	waitApplied(t, rt, 220)
	checkPerTwin(t, rt.snapshot(), want)
	// The drainer acknowledges the outbox once its round is applied, just
	// after the last batch's answer.
	until(t, 10*time.Second, func() bool { return s.Stats().Backlog == 0 }, func() { t.Fatalf("outbox not emptied: %+v", s.Stats()) })
	if st := s.Stats(); st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOutboxDrainsIntoARuntimeWithLittleRoom: the runtime takes only two
// batches at a time, so most resubmissions are refused at once while
// others of the same window are applied. Each twin's order is kept and
// nothing is applied twice or lost.
func TestOutboxDrainsIntoARuntimeWithLittleRoom(t *testing.T) {
	store, box := openOutbox(t, t.TempDir())
	defer store.Close()
	rt := &flakyRuntime{capacity: 2}
	rt.down.Store(true)
	s := NewSinkWithOutbox(rt, box, nil)
	defer s.Close()
	var want []string
	for i := range 600 {
		id := fmt.Sprintf("twin-%d", i%7)
		s.Publish(id, intSample(int64(i)))
		want = append(want, fmt.Sprintf("%s:%d", id, i))
	}
	until(t, 10*time.Second, func() bool { return s.Stats().Backlog >= 600 }, func() { t.Fatalf("outbox holds %d of 600", s.Stats().Backlog) })
	rt.down.Store(false)
	waitApplied(t, rt, 600)
	until(t, 10*time.Second, func() bool { return s.Stats().Backlog == 0 }, func() { t.Fatalf("outbox not drained: %+v", s.Stats()) })
	checkPerTwin(t, rt.snapshot(), want)
	if st := s.Stats(); st.Lost != 0 || st.Accepted != 600 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOutboxSurvivesRestart: batches in the outbox when the process stops
// are drained by the next sink over the same store.
func TestOutboxSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	store, box := openOutbox(t, dir)
	rt := &flakyRuntime{}
	rt.down.Store(true)
	s := NewSinkWithOutbox(rt, box, nil)
	for i := range 50 {
		s.Publish("twin-1", intSample(int64(i)))
	}
	until(t, 10*time.Second, func() bool { return box.Len() >= 50 }, func() { t.Fatalf("outbox holds %d of 50", box.Len()) })
	s.Close()
	store.Close()

	store, box = openOutbox(t, dir)
	defer store.Close()
	rt2 := &flakyRuntime{}
	s2 := NewSinkWithOutbox(rt2, box, nil)
	defer s2.Close()
	waitApplied(t, rt2, 50)
	got := rt2.snapshot()
	for i, g := range got {
		if g != fmt.Sprintf("twin-1:%d", i) {
			t.Fatalf("after restart applied[%d] = %s", i, g)
		}
	}
}

// until polls done every 5ms for up to d, and calls fail (which must stop
// the test) if it never holds.
func until(t *testing.T, d time.Duration, done func() bool, fail func()) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !done() {
		if time.Now().After(deadline) {
			fail()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitApplied(t *testing.T, rt *flakyRuntime, n int) {
	t.Helper()
	until(t, 15*time.Second, func() bool { return len(rt.snapshot()) >= n }, func() { t.Fatalf("%d applied, want %d", len(rt.snapshot()), n) })
}
