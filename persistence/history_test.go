package persistence

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/google/go-cmp/cmp"
)

func TestReadHistory(t *testing.T) {
	h := int64(time.Hour)
	base := 1000 * h // a bucket boundary
	s := mustOpen(t, testConfig(t, vfs.NewMem()))
	e := mustActivate(t, s, "t")
	pt := func(prop string, at, version int64) HistoryPoint {
		return HistoryPoint{Property: prop, SourceTime: at, Version: version, Data: []byte(prop)}
	}
	// Written out of order, across three buckets, with a tie at base+5.
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, History: []HistoryPoint{
		pt("temp", base+2*h+1, 1), pt("temp", base+5, 2), pt("temp", base-1, 1), pt("temp", base+5, 1),
		pt("temp", base+h, 3), pt("pressure", base+5, 1),
	}})
	mustCommit(t, s, &Write{TwinID: "other", Epoch: 0, History: []HistoryPoint{pt("temp", base+5, 1)}})

	tests := []struct {
		name     string
		prop     string
		from, to int64
		want     []HistoryPoint
	}{
		{"all", "temp", base - h, base + 3*h, []HistoryPoint{
			pt("temp", base-1, 1), pt("temp", base+5, 1), pt("temp", base+5, 2), pt("temp", base+h, 3), pt("temp", base+2*h+1, 1)}},
		{"to is exclusive", "temp", base - 1, base + h, []HistoryPoint{
			pt("temp", base-1, 1), pt("temp", base+5, 1), pt("temp", base+5, 2)}},
		{"from is inclusive", "temp", base + h, base + 2*h + 2, []HistoryPoint{
			pt("temp", base+h, 3), pt("temp", base+2*h+1, 1)}},
		{"tie only", "temp", base + 5, base + 6, []HistoryPoint{pt("temp", base+5, 1), pt("temp", base+5, 2)}},
		{"other property", "pressure", 0, base * 2, []HistoryPoint{pt("pressure", base+5, 1)}},
		{"empty range", "temp", base + 6, base + 6, nil},
		{"no points", "temp", base + 10*h, base + 11*h, nil},
		{"whole time axis", "pressure", -1 << 63, 1<<63 - 1, []HistoryPoint{pt("pressure", base+5, 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []HistoryPoint
			err := s.ReadHistory("t", tc.prop, tc.from, tc.to, func(p HistoryPoint) error {
				got = append(got, p)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadHistory (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPruneHistory(t *testing.T) {
	h := int64(time.Hour)
	base := 500 * h
	s := mustOpen(t, testConfig(t, vfs.NewMem()))
	var pts []HistoryPoint
	for i := int64(0); i < 5; i++ { // one point per bucket base..base+4h, two in the last
		pts = append(pts, HistoryPoint{Property: "p", SourceTime: base + i*h + 10, Version: i})
	}
	pts = append(pts, HistoryPoint{Property: "p", SourceTime: base + 4*h + 20, Version: 9})
	mustCommit(t, s, &Write{TwinID: "t", History: pts})

	count := func() int {
		n := 0
		if err := s.ReadHistory("t", "p", 0, base*2, func(HistoryPoint) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tests := []struct {
		name        string
		before      int64
		wantDeleted int
		wantLeft    int
	}{
		{"nothing older", base, 0, 6},
		{"partial bucket kept", base + h + 30, 1, 5}, // bucket base dropped; bucket base+h holds `before`
		{"bucket end boundary", base + 3*h, 2, 3},    // buckets base+h, base+2h end at or before base+3h
		{"idempotent", base + 3*h, 0, 3},             //
		{"everything", base + 10*h, 3, 0},            //
		{"empty store", base + 20*h, 0, 0},           //
	}
	for _, tc := range tests {
		n, err := s.PruneHistory(tc.before)
		if err != nil {
			t.Fatalf("%s: PruneHistory: %v", tc.name, err)
		}
		if n != tc.wantDeleted {
			t.Errorf("%s: deleted %d, want %d", tc.name, n, tc.wantDeleted)
		}
		if left := count(); left != tc.wantLeft {
			t.Errorf("%s: %d points left, want %d", tc.name, left, tc.wantLeft)
		}
	}
	if got := s.Stats().HistoryPruned; got != 6 {
		t.Errorf("Stats().HistoryPruned = %d, want 6", got)
	}
}

// TestRetentionLoop checks that the Store's goroutine prunes on its own.
func TestRetentionLoop(t *testing.T) {
	cfg := testConfig(t, vfs.NewMem())
	cfg.HistoryRetention = time.Hour
	cfg.RetentionInterval = 10 * time.Millisecond
	s := mustOpen(t, cfg)
	old := time.Now().Add(-3 * time.Hour).UnixNano()
	recent := time.Now().UnixNano()
	mustCommit(t, s, &Write{TwinID: "t", History: []HistoryPoint{
		{Property: "p", SourceTime: old}, {Property: "p", SourceTime: recent},
	}})
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().HistoryPruned < 1 {
		if time.Now().After(deadline) {
			t.Fatal("retention did not prune within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var got []int64
	_ = s.ReadHistory("t", "p", 0, recent+1, func(p HistoryPoint) error { got = append(got, p.SourceTime); return nil })
	if diff := cmp.Diff([]int64{recent}, got); diff != "" {
		t.Errorf("history after retention (-want +got):\n%s", diff)
	}
	_ = context.Background
}
