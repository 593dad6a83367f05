package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

const testConfig = `
models:
  - name: pump
    properties:
      - {name: flow, type: double, unit: "m3/h", min: 0, max: 500}
      - {name: running, type: bool}
      - {name: mode, type: enum, values: [auto, manual]}
      - {name: speed, type: int, min: 0, max: 3600}
      - {name: setpoint, type: double, min: 0, max: 500, writable: true}
twins:
  - id: pump-{0001..1000}
    model: pump
`

type testNode struct {
	rt    *Runtime
	store *persistence.Store
}

func startTestNode(t *testing.T, dir string, mod func(*Config)) *testNode {
	t.Helper()
	cfg, err := twins.ParseConfig("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Twins: cfg, Store: store, SnapshotEvery: 3}
	if mod != nil {
		mod(&c)
	}
	rt, err := Start(c)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	n := &testNode{rt: rt, store: store}
	t.Cleanup(n.close)
	return n
}

func (n *testNode) close() {
	n.rt.Close()
	n.store.Close()
}

func dbl(f float64) *pb.Value { return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: f}} }
func boolean(b bool) *pb.Value {
	return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: b}}
}

func apply(t *testing.T, rt *Runtime, id string, samples ...*pb.Sample) *pb.TelemetryApplied {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := rt.Apply(ctx, &pb.ApplyTelemetry{TwinId: id, Samples: samples})
	if err != nil {
		t.Fatalf("apply to %s: %v", id, err)
	}
	return rep
}

func getTwin(t *testing.T, rt *Runtime, id string) *pb.Twin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tw, err := rt.GetTwin(ctx, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return tw
}

func TestIngestValidatesAndVersions(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	now := time.Now().UnixNano()
	tests := []struct {
		name         string
		samples      []*pb.Sample
		wantVersion  int64
		wantAccepted int32
		wantReasons  []string
	}{
		{"valid batch", []*pb.Sample{
			{Property: "flow", Value: dbl(12.5), SourceTimeUnixNano: now},
			{Property: "running", Value: boolean(true), SourceTimeUnixNano: now},
		}, 1, 2, nil},
		{"out of range and unknown property rejected, rest applied", []*pb.Sample{
			{Property: "flow", Value: dbl(900), SourceTimeUnixNano: now + 1},
			{Property: "flwo", Value: dbl(1), SourceTimeUnixNano: now + 1},
			{Property: "speed", Value: dbl(1.5), SourceTimeUnixNano: now + 1},
			{Property: "mode", Value: &pb.Value{Kind: &pb.Value_StringValue{StringValue: "manual"}}, SourceTimeUnixNano: now + 1},
		}, 2, 1, []string{"out_of_range", "unknown_property", "wrong_type"}},
		{"all rejected: version unchanged", []*pb.Sample{
			{Property: "mode", Value: &pb.Value{Kind: &pb.Value_EnumValue{EnumValue: "turbo"}}, SourceTimeUnixNano: now + 2},
		}, 2, 0, []string{"invalid_enum"}},
		{"future source time rejected", []*pb.Sample{
			{Property: "flow", Value: dbl(1), SourceTimeUnixNano: now + int64(time.Hour)},
		}, 2, 0, []string{"future_time"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := apply(t, n.rt, "pump-0001", tc.samples...)
			var reasons []string
			for _, r := range rep.Rejected {
				reasons = append(reasons, r.Reason)
			}
			if rep.Version != tc.wantVersion || rep.Accepted != tc.wantAccepted {
				t.Errorf("version %d accepted %d, want %d and %d", rep.Version, rep.Accepted, tc.wantVersion, tc.wantAccepted)
			}
			if diff := cmp.Diff(tc.wantReasons, reasons); diff != "" {
				t.Errorf("rejections (-want +got):\n%s", diff)
			}
		})
	}
	tw := getTwin(t, n.rt, "pump-0001")
	if tw.Version != 2 || tw.Reported["flow"].GetValue().GetDoubleValue() != 12.5 || tw.Reported["mode"].GetValue().GetEnumValue() != "manual" {
		t.Fatalf("twin state after batches: %v", tw)
	}
	if _, err := n.rt.Apply(context.Background(), &pb.ApplyTelemetry{TwinId: "nope"}); !errors.Is(err, ErrUnknownTwin) {
		t.Fatalf("apply to undeclared twin: err = %v, want ErrUnknownTwin", err)
	}
}

func TestOutOfOrderSampleKeepsNewerValueButLandsInHistory(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	t0 := time.Now().Add(-time.Minute).UnixNano()
	apply(t, n.rt, "pump-0002", &pb.Sample{Property: "flow", Value: dbl(20), SourceTimeUnixNano: t0 + 10})
	rep := apply(t, n.rt, "pump-0002", &pb.Sample{Property: "flow", Value: dbl(10), SourceTimeUnixNano: t0})
	if rep.Accepted != 1 || rep.Version != 2 {
		t.Fatalf("late sample: accepted %d version %d, want 1 and 2", rep.Accepted, rep.Version)
	}
	if got := getTwin(t, n.rt, "pump-0002").Reported["flow"].GetValue().GetDoubleValue(); got != 20 {
		t.Fatalf("reported flow = %v after a late sample, want the newer 20", got)
	}
	var hist []float64
	err := n.store.ReadHistory("pump-0002", "flow", t0, t0+11, func(p persistence.HistoryPoint) error {
		var hv pb.HistoryValue
		if err := proto.Unmarshal(p.Data, &hv); err != nil {
			return err
		}
		hist = append(hist, hv.Value.GetDoubleValue())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{10, 20}, hist); diff != "" {
		t.Fatalf("history in source-time order (-want +got):\n%s", diff)
	}
}

func TestRecoveryContinuesVersions(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	base := time.Now().Add(-time.Minute).UnixNano()
	for i := 0; i < 10; i++ { // snapshots every 3 events: snapshot + tail
		apply(t, n.rt, "pump-0003", &pb.Sample{Property: "flow", Value: dbl(float64(i)), SourceTimeUnixNano: base + int64(i)})
	}
	if _, err := n.rt.SetConnectivity(context.Background(), "pump-0003", pb.Connectivity_CONNECTIVITY_ONLINE); err != nil {
		t.Fatal(err)
	}
	before := getTwin(t, n.rt, "pump-0003")
	n.close()

	n2 := startTestNode(t, dir, nil)
	after := getTwin(t, n2.rt, "pump-0003")
	if after.Version != 11 || after.Reported["flow"].GetValue().GetDoubleValue() != 9 || after.Connectivity != pb.Connectivity_CONNECTIVITY_ONLINE {
		t.Fatalf("recovered twin: version %d flow %v connectivity %v; want 11, 9, online", after.Version, after.Reported["flow"].GetValue(), after.Connectivity)
	}
	after.Active, before.Active = false, false
	after.Node, before.Node = "", "" // who answered: the activation, then storage
	if !proto.Equal(before, after) {
		t.Fatalf("state changed across restart:\nbefore %v\nafter  %v", before, after)
	}
	if rep := apply(t, n2.rt, "pump-0003", &pb.Sample{Property: "flow", Value: dbl(42), SourceTimeUnixNano: base + 100}); rep.Version != 12 {
		t.Fatalf("first update after restart got version %d, want 12", rep.Version)
	}
}

func TestIdleTwinPassivatesAndComesBack(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.PassivateAfter = 200 * time.Millisecond; c.SnapshotEvery = 1000 })
	now := time.Now().UnixNano()
	apply(t, n.rt, "pump-0004", &pb.Sample{Property: "flow", Value: dbl(1), SourceTimeUnixNano: now})
	apply(t, n.rt, "pump-0004", &pb.Sample{Property: "flow", Value: dbl(2), SourceTimeUnixNano: now + 1})
	deadline := time.Now().Add(10 * time.Second)
	for n.rt.ActiveTwins() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d twins still active 10s after going idle", n.rt.ActiveTwins())
		}
		time.Sleep(20 * time.Millisecond)
	}
	head, err := n.store.Head("pump-0004")
	if err != nil {
		t.Fatal(err)
	}
	if head.SnapshotVersion != 2 {
		t.Fatalf("snapshot version at passivation = %d, want 2", head.SnapshotVersion)
	}
	tw := getTwin(t, n.rt, "pump-0004")
	if tw.Active || tw.Version != 2 {
		t.Fatalf("passivated twin read: active %v version %d, want false and 2", tw.Active, tw.Version)
	}
	if rep := apply(t, n.rt, "pump-0004", &pb.Sample{Property: "flow", Value: dbl(3), SourceTimeUnixNano: now + 2}); rep.Version != 3 {
		t.Fatalf("update after reactivation got version %d, want 3", rep.Version)
	}
	if !getTwin(t, n.rt, "pump-0004").Active {
		t.Fatal("twin not active after an update")
	}
}

// TestPassivationUnderTrafficLosesNothing sends steady traffic to twins
// with a passivation timeout close to the gap between their updates, so
// twins passivate and reactivate while batches are in flight.
func TestPassivationUnderTrafficLosesNothing(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.PassivateAfter = 30 * time.Millisecond })
	const twinsN, rounds = 50, 20
	base := time.Now().Add(-time.Hour).UnixNano()
	var wg sync.WaitGroup
	errs := make(chan error, twinsN)
	for i := 0; i < twinsN; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("pump-%04d", 100+i)
			for r := 1; r <= rounds; r++ {
				rep, err := n.rt.Apply(context.Background(), &pb.ApplyTelemetry{TwinId: id, Samples: []*pb.Sample{{Property: "flow", Value: dbl(float64(r)), SourceTimeUnixNano: base + int64(r)}}})
				if err != nil {
					errs <- fmt.Errorf("%s round %d: %w", id, r, err)
					return
				}
				if rep.Version != int64(r) {
					errs <- fmt.Errorf("%s round %d: version %d", id, r, rep.Version)
					return
				}
				time.Sleep(time.Duration(20+i%20) * time.Millisecond)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 0; i < twinsN; i++ {
		id := fmt.Sprintf("pump-%04d", 100+i)
		if tw := getTwin(t, n.rt, id); tw.Version != rounds {
			t.Errorf("%s: version %d, want %d", id, tw.Version, rounds)
		}
	}
}

func TestManyTwinsConcurrently(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	const twinsN, rounds = 1000, 5
	base := time.Now().Add(-time.Hour).UnixNano()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for r := 1; r <= rounds; r++ {
		for i := 1; i <= twinsN; i++ {
			wg.Add(1)
			n.rt.Submit(&pb.ApplyTelemetry{TwinId: fmt.Sprintf("pump-%04d", i), Samples: []*pb.Sample{
				{Property: "flow", Value: dbl(float64(r)), SourceTimeUnixNano: base + int64(r)},
			}}, func(_ *pb.TelemetryApplied, err error) {
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d batches failed, first: %v", len(failures), failures[0])
	}
	for _, id := range []string{"pump-0001", "pump-0500", "pump-1000"} {
		if tw := getTwin(t, n.rt, id); tw.Version != rounds || tw.Reported["flow"].GetValue().GetDoubleValue() != rounds {
			t.Errorf("%s: version %d flow %v, want %d and %d", id, tw.Version, tw.Reported["flow"].GetValue(), rounds, rounds)
		}
	}
	if got := n.rt.ActiveTwins(); got != twinsN {
		t.Errorf("active twins = %d, want %d", got, twinsN)
	}
}

func TestIngestRefusesPastMaxInFlight(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.MaxInFlight = 10 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	overloaded, ok := 0, 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		n.rt.Submit(&pb.ApplyTelemetry{TwinId: fmt.Sprintf("pump-%04d", 1+i%50), Samples: []*pb.Sample{{Property: "flow", Value: dbl(1)}}}, func(_ *pb.TelemetryApplied, err error) {
			mu.Lock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrOverloaded):
				overloaded++
			default:
				t.Errorf("unexpected error: %v", err)
			}
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	if overloaded == 0 || ok == 0 {
		t.Fatalf("%d accepted, %d refused as overloaded; want both > 0", ok, overloaded)
	}
}

// TestUnknownJournalFormatIsRefused plants a journal entry of a format this
// build does not know: the twin refuses to serve with an error naming the
// twin and the format, and other twins are unaffected.
func TestUnknownJournalFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	apply(t, n.rt, "pump-0005", &pb.Sample{Property: "flow", Value: dbl(1)})
	n.close()

	store, err := persistence.Open(persistence.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.DB().Set(persistence.EncodeJournalKey("pump-0005", 2), []byte{9, 1, 2, 3}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	store.Close()

	n2 := startTestNode(t, dir, nil)
	_, err = n2.rt.Apply(context.Background(), &pb.ApplyTelemetry{TwinId: "pump-0005", Samples: []*pb.Sample{{Property: "flow", Value: dbl(2)}}})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "pump-0005") || !strings.Contains(err.Error(), "format") {
		t.Fatalf("apply to a twin with an unknown journal format: %v", err)
	}
	if _, err := n2.rt.GetTwin(context.Background(), "pump-0005"); err == nil {
		t.Fatal("read of a twin with an unknown journal format succeeded")
	}
	if rep := apply(t, n2.rt, "pump-0006", &pb.Sample{Property: "flow", Value: dbl(3)}); rep.Version != 1 {
		t.Fatalf("other twin: version %d, want 1", rep.Version)
	}
}
