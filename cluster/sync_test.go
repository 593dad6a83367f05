package cluster

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/plantwin/plantwin/persistence"
)

func TestAgreement(t *testing.T) {
	log := func(version, snap int64, runs ...int64) LogState {
		l := LogState{Head: persistence.Head{Version: version, SnapshotVersion: snap}}
		for i := 0; i+1 < len(runs); i += 2 {
			l.Runs = append(l.Runs, persistence.EpochRun{FromVersion: runs[i], Epoch: uint64(runs[i+1])})
		}
		return l
	}
	for _, c := range []struct {
		name           string
		source, target LogState
		want           int64
		ok             bool
	}{
		{"empty target", log(10, 0, 1, 1), log(0, 0), 0, true},
		{"empty both", log(0, 0), log(0, 0), 0, true},
		{"empty target, trimmed source", log(10, 5, 4, 1), log(0, 0), 0, false},
		{"prefix", log(10, 0, 1, 1), log(6, 0, 1, 1), 6, true},
		{"diverged at an epoch change", log(10, 0, 1, 1, 6, 3), log(8, 0, 1, 1, 6, 2), 5, true},
		{"target longer, stale tail", log(7, 0, 1, 1, 6, 3), log(9, 0, 1, 1), 5, true},
		{"target's epochs later, same point", log(12, 0, 1, 1, 4, 2, 9, 4), log(10, 0, 1, 1, 4, 2, 9, 3), 8, true},
		{"nothing shared, no snapshots", log(5, 0, 1, 2), log(3, 0, 1, 1), 0, true},
		{"nothing shared, target snapshot", log(5, 0, 1, 2), log(3, 2, 2, 1), 0, false},
		{"target behind the source's journal", log(50, 30, 20, 1), log(10, 0, 1, 1), 0, false},
	} {
		got, ok := agreement(c.source, c.target)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: agreement = %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// journal reads a store's journal of twin as "version/epoch:data" lines.
func journal(t *testing.T, s *persistence.Store, twin string) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.ReadJournal(twin, 0, func(v int64, e uint64, data []byte) error {
		fmt.Fprintf(&b, "%d/%d:%s\n", v, e, data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func openStore(t *testing.T) *persistence.Store {
	t.Helper()
	s, err := persistence.Open(persistence.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// append writes events from..to of epoch to twin (activating epoch first
// when the store's log epoch is older).
func appendEvents(t *testing.T, s *persistence.Store, twin string, epoch uint64, from, to int64, tag string) {
	t.Helper()
	ctx := context.Background()
	h, err := s.Head(twin)
	if err != nil {
		t.Fatal(err)
	}
	w := &persistence.Write{TwinID: twin, Epoch: epoch}
	if h.Epoch != epoch {
		if _, err := s.Fence(twin, epoch, "test", 1); err != nil {
			t.Fatal(err)
		}
		w.Sync = &persistence.Sync{After: from - 1}
	}
	for v := from; v <= to; v++ {
		w.Events = append(w.Events, persistence.Entry{Version: v, Data: fmt.Appendf(nil, "%s%d", tag, v)})
		w.History = append(w.History, persistence.HistoryPoint{Property: "x", SourceTime: v * 1e9, Version: v, Data: fmt.Appendf(nil, "%s%d", tag, v)})
	}
	if err := s.Commit(ctx, w); err != nil {
		t.Fatal(err)
	}
}

// TestBuildSyncBringsADivergentReplicaInLine: a replica that missed an
// activation's writes and kept a stale tail of its own ends up with the
// source's journal and history after one sync write.
func TestBuildSyncBringsADivergentReplicaInLine(t *testing.T) {
	const twin = "t1"
	src, dst := openStore(t), openStore(t)
	appendEvents(t, src, twin, 1, 1, 5, "a")
	appendEvents(t, dst, twin, 1, 1, 5, "a")
	appendEvents(t, dst, twin, 1, 6, 7, "stale") // never acknowledged
	appendEvents(t, src, twin, 2, 6, 9, "b")     // a newer activation's
	target, err := localLog(dst, twin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Fence(twin, 3, "owner", 1); err != nil {
		t.Fatal(err)
	}
	w, err := BuildSync(src, twin, 3, target)
	if err != nil {
		t.Fatal(err)
	}
	if w.Sync.After != 5 || len(w.Events) != 4 || w.Snapshot != nil {
		t.Fatalf("sync after %d with %d events (snapshot %v), want after 5 with 4", w.Sync.After, len(w.Events), w.Snapshot != nil)
	}
	if err := dst.Commit(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if got, want := journal(t, dst, twin), journal(t, src, twin); got != want {
		t.Fatalf("replica journal after sync:\n%s\nwant:\n%s", got, want)
	}
	var points []string
	if err := dst.ReadHistoryAfter(twin, 0, func(p persistence.HistoryPoint) error {
		points = append(points, string(p.Data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(points) != "[a1 a2 a3 a4 a5 b6 b7 b8 b9]" {
		t.Fatalf("replica history after sync: %v", points)
	}
	h, _ := dst.Head(twin)
	if h.Epoch != 3 || h.Version != 9 {
		t.Fatalf("replica head %+v, want version 9 log epoch 3", h)
	}
}

// TestBuildSyncSendsTheSnapshot: a replica behind the source's trimmed
// journal gets the snapshot and the entries after it.
func TestBuildSyncSendsTheSnapshot(t *testing.T) {
	const twin = "t1"
	src, dst := openStore(t), openStore(t)
	appendEvents(t, src, twin, 1, 1, 10, "a")
	ctx := context.Background()
	for _, v := range []int64{10, 20} {
		if v == 20 {
			appendEvents(t, src, twin, 1, 11, 20, "a")
		}
		if err := src.Commit(ctx, &persistence.Write{TwinID: twin, Epoch: 1, Snapshot: &persistence.Snapshot{Version: v, Data: fmt.Appendf(nil, "snap%d", v)}}); err != nil {
			t.Fatal(err)
		}
	}
	appendEvents(t, src, twin, 1, 21, 22, "a")
	appendEvents(t, dst, twin, 1, 1, 3, "a")
	target, _ := localLog(dst, twin)
	if _, err := dst.Fence(twin, 2, "owner", 1); err != nil {
		t.Fatal(err)
	}
	w, err := BuildSync(src, twin, 2, target)
	if err != nil {
		t.Fatal(err)
	}
	if w.Snapshot == nil || w.Sync.After != 20 || len(w.Events) != 2 {
		t.Fatalf("sync after %d with %d events (snapshot %v), want the snapshot at 20 and 2 events", w.Sync.After, len(w.Events), w.Snapshot != nil)
	}
	if err := dst.Commit(ctx, w); err != nil {
		t.Fatal(err)
	}
	snap, ok, err := dst.LoadSnapshot(twin)
	if err != nil || !ok || string(snap.Data) != "snap20" {
		t.Fatalf("replica snapshot %q (%v, %v), want snap20", snap.Data, ok, err)
	}
	h, _ := dst.Head(twin)
	if h.Version != 22 || h.SnapshotVersion != 20 || h.Epoch != 2 {
		t.Fatalf("replica head %+v, want version 22, snapshot 20, log epoch 2", h)
	}
	// The history the snapshot folds in came along: every version's point.
	n := 0
	if err := dst.ReadHistoryAfter(twin, 0, func(persistence.HistoryPoint) error { n++; return nil }); err != nil || n != 22 {
		t.Fatalf("replica holds %d history points (%v), want 22: the snapshot's versions lack theirs", n, err)
	}
}
