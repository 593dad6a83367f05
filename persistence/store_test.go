package persistence

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"zero values mean default", func(c *Config) { *c = Config{Dir: "x"} }, ""},
		{"no dir", func(c *Config) { c.Dir = "" }, "dir is required"},
		{"negative cache", func(c *Config) { c.CacheSize = -1 }, "cache size"},
		{"tiny memtable", func(c *Config) { c.MemTableSize = 1000 }, "memtable size"},
		{"negative retention", func(c *Config) { c.HistoryRetention = -time.Second }, "history retention"},
		{"negative batch", func(c *Config) { c.MaxCommitBatch = -1 }, "max commit batch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig("dir")
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestJournalRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   vfs.FS
	}{{"disk", nil}, {"strictmem", vfs.NewStrictMem()}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.fs)
			s := mustOpen(t, cfg)
			epoch := mustActivate(t, s, "t1")
			mustCommit(t, s, &Write{TwinID: "t1", Epoch: epoch, Events: events("t1", 1, 3)})
			mustCommit(t, s, &Write{TwinID: "t1", Epoch: epoch, Events: events("t1", 4, 2)})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, cfg)
			want := []journalEntry{{2, 1, "t1-2"}, {3, 1, "t1-3"}, {4, 1, "t1-4"}, {5, 1, "t1-5"}}
			if diff := cmp.Diff(want, readJournal(t, s, "t1", 2)); diff != "" {
				t.Errorf("journal (-want +got):\n%s", diff)
			}
			h, err := s.Head("t1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Head{Version: 5, Epoch: 1}, h); diff != "" {
				t.Errorf("head (-want +got):\n%s", diff)
			}
			if h, err := s.Head("unknown"); err != nil || h != (Head{}) {
				t.Errorf("Head(unknown) = %+v, %v; want zero", h, err)
			}
		})
	}
}

func TestFencing(t *testing.T) {
	tests := []struct {
		name    string
		write   func(old, cur uint64) *Write
		wantErr error
		want    Head
	}{
		{"old epoch fenced", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: old, Events: events("t", 2, 1)}
		}, ErrFenced, Head{Version: 1, Epoch: 2}},
		{"current epoch ok", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur, Events: events("t", 2, 1)}
		}, nil, Head{Version: 2, Epoch: 2}},
		{"newer epoch needs a sync write", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur + 5, Events: events("t", 2, 1)}
		}, ErrNeedsSync, Head{Version: 1, Epoch: 2}},
		{"newer epoch's sync write accepted and raises the log epoch", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur + 5, Sync: &Sync{After: 1}, Events: events("t", 2, 1)}
		}, nil, Head{Version: 2, Epoch: 7}},
		{"plain write with a foreign entry epoch", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur, Events: []Entry{{Version: 2, Epoch: old}}}
		}, ErrInvalidWrite, Head{Version: 1, Epoch: 2}},
		{"version gap", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur, Events: events("t", 3, 1)}
		}, ErrVersionGap, Head{Version: 1, Epoch: 2}},
		{"duplicate version", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur, Events: events("t", 1, 1)}
		}, ErrVersionGap, Head{Version: 1, Epoch: 2}},
		{"non-contiguous events", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur, Events: []Entry{{Version: 2}, {Version: 4}}}
		}, ErrVersionGap, Head{Version: 1, Epoch: 2}},
		{"snapshot beyond events", func(old, cur uint64) *Write {
			return &Write{TwinID: "t", Epoch: cur, Events: events("t", 2, 1), Snapshot: &Snapshot{Version: 3}}
		}, ErrInvalidWrite, Head{Version: 1, Epoch: 2}},
		{"empty twin id", func(old, cur uint64) *Write { return &Write{Epoch: cur} }, ErrInvalidWrite, Head{Version: 1, Epoch: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, testConfig(t, vfs.NewMem()))
			old := mustActivate(t, s, "t")
			mustCommit(t, s, &Write{TwinID: "t", Epoch: old, Events: events("t", 1, 1)})
			cur := mustActivate(t, s, "t")
			if old != 1 || cur != 2 {
				t.Fatalf("epochs = %d, %d; want 1, 2", old, cur)
			}
			err := s.Commit(context.Background(), tc.write(old, cur))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Commit error = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "persistence: append") {
				t.Errorf("error %q does not name the operation", err)
			}
			h, err := s.Head("t")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Errorf("head (-want +got):\n%s", diff)
			}
			wantFenced := int64(0)
			if tc.wantErr == ErrFenced {
				wantFenced = 1
			}
			if got := s.Stats().Fenced; got != wantFenced {
				t.Errorf("Stats().Fenced = %d, want %d", got, wantFenced)
			}
		})
	}
}

// TestRejectedWriteDoesNotFailBatch commits one batch (white box: straight
// through commitOps while the committer is idle) mixing good and bad writes.
func TestRejectedWriteDoesNotFailBatch(t *testing.T) {
	s := mustOpen(t, testConfig(t, vfs.NewMem()))
	e1 := mustActivate(t, s, "a")
	mustActivate(t, s, "b")
	e2 := mustActivate(t, s, "b")
	commitsBefore := s.Stats().Commits

	writes := []*Write{
		{TwinID: "a", Epoch: e1, Events: events("a", 1, 2)},
		{TwinID: "b", Epoch: e2 - 1, Events: events("b", 1, 1)}, // fenced
		{TwinID: "a", Epoch: e1, Events: events("a", 5, 1)},     // gap
		{TwinID: "b", Epoch: e2, Events: events("b", 1, 1)},
		{TwinID: "a", Epoch: e1, Events: events("a", 3, 1)}, // continues the first
	}
	var wg sync.WaitGroup
	got := make([]error, len(writes))
	ops := make([]*op, len(writes))
	for i, w := range writes {
		wg.Add(1)
		ops[i] = &op{kind: opWrite, w: w, done: func(err error) { got[i] = err; wg.Done() }}
	}
	s.commitOps(ops)
	wg.Wait()

	want := []error{nil, ErrFenced, ErrVersionGap, nil, nil}
	for i := range want {
		if !errors.Is(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
			t.Errorf("write %d: error %v, want %v", i, got[i], want[i])
		}
	}
	if n := s.Stats().Commits - commitsBefore; n != 1 {
		t.Errorf("commits = %d, want 1", n)
	}
	if diff := cmp.Diff([]journalEntry{{1, 1, "a-1"}, {2, 1, "a-2"}, {3, 1, "a-3"}}, readJournal(t, s, "a", 0)); diff != "" {
		t.Errorf("journal a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]journalEntry{{1, 2, "b-1"}}, readJournal(t, s, "b", 0)); diff != "" {
		t.Errorf("journal b (-want +got):\n%s", diff)
	}
}

func TestSnapshotAndJournalCompaction(t *testing.T) {
	cfg := testConfig(t, vfs.NewStrictMem())
	s := mustOpen(t, cfg)
	e := mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 5), Snapshot: &Snapshot{Version: 4, Data: []byte("s4")}})
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 6, 2)})

	// Reload: snapshot + tail after it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	snap, ok, err := s.LoadSnapshot("t")
	if err != nil || !ok {
		t.Fatalf("LoadSnapshot = %v, %v", ok, err)
	}
	if diff := cmp.Diff(Snapshot{Version: 4, Data: []byte("s4")}, snap); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	tail := readJournal(t, s, "t", snap.Version+1)
	if diff := cmp.Diff([]journalEntry{{5, 1, "t-5"}, {6, 1, "t-6"}, {7, 1, "t-7"}}, tail); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	// First snapshot: nothing deleted yet.
	if got := len(readJournal(t, s, "t", 0)); got != 7 {
		t.Errorf("journal length after first snapshot = %d, want 7", got)
	}

	// Second snapshot (no events): entries older than the previous snapshot
	// (version 4) go; the previous snapshot key goes.
	e = mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Snapshot: &Snapshot{Version: 7, Data: []byte("s7")}})
	var versions []int64
	for _, je := range readJournal(t, s, "t", 0) {
		versions = append(versions, je.Version)
	}
	if diff := cmp.Diff([]int64{4, 5, 6, 7}, versions); diff != "" {
		t.Errorf("journal versions after second snapshot (-want +got):\n%s", diff)
	}
	h, _ := s.Head("t")
	if diff := cmp.Diff(Head{Version: 7, Epoch: 2, SnapshotVersion: 7}, h); diff != "" {
		t.Errorf("head (-want +got):\n%s", diff)
	}
	it, err := s.DB().NewIter(&pebble.IterOptions{LowerBound: []byte{PrefixSnapshot}, UpperBound: []byte{PrefixSnapshot + 1}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	_ = it.Close()
	if n != 1 {
		t.Errorf("snapshot keys = %d, want 1", n)
	}
	// An older snapshot is refused.
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: e, Snapshot: &Snapshot{Version: 5}}); !errors.Is(err, ErrInvalidWrite) {
		t.Errorf("older snapshot: error %v, want ErrInvalidWrite", err)
	}
}

// TestCrashDurability acknowledges writes, then crashes (drops everything
// not synced) and checks that every acknowledged write survived and that
// the journal is contiguous.
func TestCrashDurability(t *testing.T) {
	fs := vfs.NewStrictMem()
	cfg := testConfig(t, fs)
	cfg.MaxCommitBatch = 64
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const twins, perTwin = 8, 200
	epochs := make([]uint64, twins)
	for i := range epochs {
		epochs[i] = mustActivate(t, s, twinName(i))
	}
	var crashed atomic.Bool
	acked := make([]atomic.Int64, twins) // highest version acknowledged before the crash
	var wg sync.WaitGroup
	for i := 0; i < twins; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := twinName(i)
			for v := int64(1); v <= perTwin; v++ {
				err := s.Commit(context.Background(), &Write{TwinID: id, Epoch: epochs[i], Events: events(id, v, 1)})
				if err != nil {
					return
				}
				if !crashed.Load() {
					acked[i].Store(v)
				}
			}
		}()
	}
	// Crash part-way: stop syncs from reaching "disk", close, drop unsynced.
	for s.Stats().Writes < twins*perTwin/2 {
		time.Sleep(time.Millisecond)
	}
	crashed.Store(true)
	fs.SetIgnoreSyncs(true)
	_ = s.Close()
	wg.Wait()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	s = mustOpen(t, cfg)
	for i := 0; i < twins; i++ {
		id := twinName(i)
		journal := readJournal(t, s, id, 0)
		for j, je := range journal {
			if je.Version != int64(j+1) {
				t.Fatalf("twin %s: journal entry %d has version %d", id, j, je.Version)
			}
		}
		h, err := s.Head(id)
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != int64(len(journal)) {
			t.Errorf("twin %s: head version %d, journal length %d", id, h.Version, len(journal))
		}
		if a := acked[i].Load(); int64(len(journal)) < a {
			t.Errorf("twin %s: acknowledged version %d lost (journal has %d)", id, a, len(journal))
		}
	}
}

func twinName(i int) string { return "twin-" + string(rune('a'+i)) }

// TestUnsyncedNotReported blocks the WAL sync and checks that done is not
// called until the sync returns.
func TestUnsyncedNotReported(t *testing.T) {
	fs := &syncGateFS{FS: vfs.NewStrictMem()}
	cfg := testConfig(t, fs)
	s := mustOpen(t, cfg)
	e := mustActivate(t, s, "t")

	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	fs.setHook(func() error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
		return nil
	})
	done := make(chan error, 1)
	s.Submit(&Write{TwinID: "t", Epoch: e, Events: events("t", 1, 1)}, func(err error) { done <- err })
	<-entered // the WAL sync for our batch is in progress
	select {
	case err := <-done:
		t.Fatalf("done(%v) called while the WAL sync was blocked", err)
	case <-time.After(50 * time.Millisecond):
	}
	// The write is visible to readers but not acknowledged.
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("done(%v) after sync", err)
	}
	fs.setHook(nil)
}

// TestInjectedIOErrors injects WAL write errors (errorfs) and WAL sync
// errors, and checks that the batch's callbacks fail, later writes fail
// with ErrFailed, nothing panics, and no failed write was acknowledged.
func TestInjectedIOErrors(t *testing.T) {
	injected := errors.New("injected")
	tests := []struct {
		name string
		fs   func(mem vfs.FS, armed *atomic.Bool) vfs.FS
	}{
		{"wal write error", func(mem vfs.FS, armed *atomic.Bool) vfs.FS {
			return errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
				if armed.Load() && op == errorfs.OpFileWrite && strings.HasSuffix(path, ".log") {
					return injected
				}
				return nil
			}))
		}},
		{"wal sync error", func(mem vfs.FS, armed *atomic.Bool) vfs.FS {
			g := &syncGateFS{FS: mem}
			g.setHook(func() error {
				if armed.Load() {
					return injected
				}
				return nil
			})
			return g
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewStrictMem()
			var armed atomic.Bool
			cfg := testConfig(t, tc.fs(mem, &armed))
			s, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := mustActivate(t, s, "t")
			mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 1)})

			armed.Store(true)
			const n = 5
			errs := make(chan error, n)
			for v := int64(2); v < 2+n; v++ {
				s.Submit(&Write{TwinID: "t", Epoch: e, Events: events("t", v, 1)}, func(err error) { errs <- err })
			}
			for range n {
				if err := <-errs; err == nil {
					t.Errorf("write acknowledged despite injected I/O error")
				}
			}
			err = s.Commit(context.Background(), &Write{TwinID: "t", Epoch: e, Events: events("t", 7, 1)})
			if !errors.Is(err, ErrFailed) {
				t.Errorf("write after failure: error %v, want ErrFailed", err)
			}
			if s.Stats().Failed < n {
				t.Errorf("Stats().Failed = %d, want >= %d", s.Stats().Failed, n)
			}
			_ = s.Close() // may report the broken WAL

			armed.Store(false)
			mem.ResetToSyncedState()
			s = mustOpen(t, testConfig(t, mem))
			if diff := cmp.Diff([]journalEntry{{1, 1, "t-1"}}, readJournal(t, s, "t", 0)); diff != "" {
				t.Errorf("journal after reopen (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownStoreFormat(t *testing.T) {
	cfg := testConfig(t, nil)
	s := mustOpen(t, cfg)
	if err := s.DB().Set(formatKey, []byte{7}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(cfg)
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "found 7, this build reads 1") {
		t.Fatalf("Open = %v, want ErrUnknownFormat with \"found 7, this build reads 1\"", err)
	}
}

func TestUnknownValueFormat(t *testing.T) {
	s := mustOpen(t, testConfig(t, vfs.NewMem()))
	e := mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 2), Snapshot: &Snapshot{Version: 1, Data: []byte("x")}})
	if err := s.DB().Set(EncodeJournalKey("t", 2), []byte{9, 1, 'x'}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Set(EncodeSnapshotKey("t", 1), []byte{2, 'x'}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	err := s.ReadJournal("t", 0, func(int64, uint64, []byte) error { return nil })
	if !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("ReadJournal error %v, want ErrUnknownFormat", err)
	}
	for _, want := range []string{"twin t", "version 2", "found format 9, this build reads 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, _, err := s.LoadSnapshot("t"); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "found format 2") {
		t.Errorf("LoadSnapshot error %v, want ErrUnknownFormat", err)
	}
	// Truncated journal value: corrupt, not a panic.
	if err := s.DB().Set(EncodeJournalKey("t", 2), []byte{1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadJournal("t", 0, func(int64, uint64, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadJournal of truncated value: error %v, want ErrCorrupt", err)
	}
	if err := s.DB().Set(EncodeHeadKey("t"), []byte{1, 0x80}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head("t"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "twin t") {
		t.Errorf("Head of corrupt value: error %v, want ErrCorrupt naming the twin", err)
	}
}

func TestCheckpointRestore(t *testing.T) {
	cfg := testConfig(t, nil)
	s := mustOpen(t, cfg)
	e := mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 3),
		History: []HistoryPoint{{Property: "p", SourceTime: 10, Version: 3, Data: []byte("v")}}})

	ckpt := t.TempDir() + "/ckpt"
	if err := s.Checkpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(ckpt); err == nil {
		t.Error("Checkpoint into an existing dir succeeded")
	}
	// The live store keeps working.
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 4, 1)})

	t.Run("into open store refused", func(t *testing.T) {
		err := Restore(ckpt, cfg.Dir)
		if err == nil || !strings.Contains(err.Error(), "in use by a running node") {
			t.Errorf("Restore into open store = %v, want in-use error", err)
		}
	})
	t.Run("into non-empty dir refused", func(t *testing.T) {
		dir := t.TempDir()
		if err := vfs.Default.MkdirAll(dir+"/junk", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Restore(ckpt, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("Restore into non-empty dir = %v, want not-empty error", err)
		}
	})
	t.Run("from a non-store refused", func(t *testing.T) {
		if err := Restore(t.TempDir(), t.TempDir()+"/new"); err == nil {
			t.Error("Restore from an empty dir succeeded")
		}
	})
	t.Run("into fresh dir", func(t *testing.T) {
		target := t.TempDir() + "/restored"
		if err := Restore(ckpt, target); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, testConfigDir(t, target))
		if diff := cmp.Diff([]journalEntry{{1, 1, "t-1"}, {2, 1, "t-2"}, {3, 1, "t-3"}}, readJournal(t, r, "t", 0)); diff != "" {
			t.Errorf("restored journal (-want +got):\n%s", diff)
		}
		var pts []HistoryPoint
		if err := r.ReadHistory("t", "p", 0, 100, func(p HistoryPoint) error { pts = append(pts, p); return nil }); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]HistoryPoint{{Property: "p", SourceTime: 10, Version: 3, Data: []byte("v")}}, pts); diff != "" {
			t.Errorf("restored history (-want +got):\n%s", diff)
		}
		// The restored store takes new writes with a new activation.
		e2 := mustActivate(t, r, "t")
		mustCommit(t, r, &Write{TwinID: "t", Epoch: e2, Events: events("t", 4, 1)})
	})
}

func testConfigDir(t testing.TB, dir string) Config {
	cfg := testConfig(t, nil)
	cfg.Dir = dir
	return cfg
}

func TestCloseIdempotentNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig(t, nil)
	cfg.HistoryRetention = time.Hour
	cfg.RetentionInterval = time.Millisecond
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := mustActivate(t, s, "t")
	// Queue writes and close while they are in flight: each is either
	// committed or fails with ErrClosed, and done is called exactly once.
	var calls atomic.Int64
	var wg sync.WaitGroup
	for v := int64(1); v <= 200; v++ {
		wg.Add(1)
		s.Submit(&Write{TwinID: "t", Epoch: e, Events: events("t", v, 1)}, func(err error) {
			if err != nil {
				t.Errorf("queued write failed at Close: %v", err)
			}
			calls.Add(1)
			wg.Done()
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if calls.Load() != 200 {
		t.Errorf("done called %d times, want 200", calls.Load())
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: e}); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Head("t"); !errors.Is(err, ErrClosed) {
		t.Errorf("Head after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.Activate("t"); !errors.Is(err, ErrClosed) {
		t.Errorf("Activate after Close = %v, want ErrClosed", err)
	}
	checkNoGoroutineLeak(t, before)

	s = mustOpen(t, cfg)
	if h, _ := s.Head("t"); h.Version != 200 {
		t.Errorf("head version after reopen = %d, want 200", h.Version)
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig(t, vfs.NewMem())
	cfg.Registerer = reg
	s := mustOpen(t, cfg)
	e := mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 3)})
	_ = s.Commit(context.Background(), &Write{TwinID: "t", Epoch: 0, Events: events("t", 4, 1)})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != 0 {
				t.Errorf("metric %s has labels %v", f.GetName(), m.GetLabel())
			}
			got[f.GetName()] = metricValue(m)
		}
	}
	want := map[string]float64{
		"plantwin_journal_sync_seconds":        2, // sample counts: one activation, one commit
		"plantwin_journal_commit_batch_writes": 2,
		"plantwin_journal_events_total":        3,
		"plantwin_persistence_fenced_total":    1,
		"plantwin_history_pruned_total":        0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening in the same process registers again.
	cfg.FS = vfs.NewMem()
	mustOpen(t, cfg)
	st := s.Stats()
	if st.Events != 3 || st.Fenced != 1 || st.Commits == 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// metricValue is a counter's value or a histogram's sample count.
func metricValue(m *dto.Metric) float64 {
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

// TestFence: a store promises an epoch only above the twin's log epoch and
// every earlier promise (a re-send of the same promise is answered
// again); writes of older epochs are then fenced; promises survive a
// crash (StrictMem, unsynced data dropped) because Fence syncs before it
// returns; Activate starts above any promise.
func TestFence(t *testing.T) {
	mem := vfs.NewStrictMem()
	cfg := testConfig(t, mem)
	s := mustOpen(t, cfg)
	e := mustActivate(t, s, "t") // log epoch 1
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 2)})

	if _, err := s.Fence("t", 1, "node-b", 1); !errors.Is(err, ErrFenced) {
		t.Fatalf("epoch 1 (the log's) promised: %v", err)
	}
	st, err := s.Fence("t", 5, "node-b", 1)
	if err != nil || st.Fence != (Fence{Promised: 5, By: "node-b", RosterVersion: 1}) || st.Head.Version != 2 || st.Head.Epoch != 1 {
		t.Fatalf("Fence(5) = %+v, %v", st, err)
	}
	if st, err := s.Fence("t", 5, "node-b", 1); err != nil || st.Fence.Promised != 5 {
		t.Errorf("a re-send: %+v, %v", st, err)
	}
	if st, err := s.Fence("t", 5, "node-c", 1); !errors.Is(err, ErrFenced) || st.Fence.By != "node-b" {
		t.Errorf("epoch 5 to another activation: %+v, %v", st, err)
	}
	if _, err := s.Fence("t", 4, "node-c", 1); !errors.Is(err, ErrFenced) {
		t.Errorf("an older epoch promised: %v", err)
	}
	// The old activation is fenced; the promised one writes.
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: e, Events: events("t", 3, 1)}); !errors.Is(err, ErrFenced) {
		t.Errorf("a write of epoch %d after the promise of 5: %v", e, err)
	}
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: 5, Events: events("t", 3, 1)}); !errors.Is(err, ErrNeedsSync) {
		t.Errorf("a plain write of the promised epoch over log epoch 1: %v", err)
	}
	mustCommit(t, s, &Write{TwinID: "t", Epoch: 5, Sync: &Sync{After: 2}, Events: events("t", 3, 1)})
	if _, err := s.Fence("t", 6, "", 0); err != nil {
		t.Fatal(err)
	}

	// A crash keeps what was synced: the promise of 6.
	mem.SetIgnoreSyncs(true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mem.ResetToSyncedState()
	mem.SetIgnoreSyncs(false)
	s = mustOpen(t, cfg)
	if f, err := s.ReadFence("t"); err != nil || f != (Fence{Promised: 6}) {
		t.Fatalf("after a crash the fence is %+v, %v", f, err)
	}
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: 5, Events: events("t", 4, 1)}); !errors.Is(err, ErrFenced) {
		t.Errorf("epoch 5 after the promise of 6 survived a crash: %v", err)
	}
	if e, _, err := s.Activate("t"); err != nil || e != 7 {
		t.Errorf("Activate after the promise of 6 = %d, %v; want 7", e, err)
	}
	if _, err := s.Fence("", 1, "x", 0); !errors.Is(err, ErrInvalidWrite) {
		t.Errorf("no twin: %v", err)
	}
}

// TestStoreID: a store draws its identity once and keeps it across
// reopens; another store has another.
func TestStoreID(t *testing.T) {
	cfg := testConfig(t, vfs.NewStrictMem())
	s := mustOpen(t, cfg)
	id := s.ID()
	if len(id) != 32 {
		t.Fatalf("id %q", id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	if s.ID() != id {
		t.Errorf("reopened as %s, was %s", s.ID(), id)
	}
	if other := mustOpen(t, testConfig(t, vfs.NewStrictMem())); other.ID() == id {
		t.Error("two stores share an id")
	}
}

// TestSyncWrite: a sync write cuts the twin's log back to its After
// (journal, audit and history after it deleted, in every history bucket)
// and appends its events, which may carry the epochs of the replica they
// were copied from; the write's epoch becomes the log epoch. A snapshot
// at After beyond the head, or below the current snapshot, replaces the
// log. The result survives a reopen.
func TestSyncWrite(t *testing.T) {
	cfg := testConfig(t, vfs.NewStrictMem())
	s := mustOpen(t, cfg)
	e := mustActivate(t, s, "t")
	hour := int64(time.Hour)
	var hist []HistoryPoint
	for v := int64(1); v <= 5; v++ {
		// Versions 1-3 in one hour bucket, 4-5 in the next.
		hist = append(hist, HistoryPoint{Property: "p", SourceTime: 100*hour + v*int64(time.Minute) + (v/4)*hour, Version: v, Data: []byte{byte(v)}})
	}
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 5), History: hist,
		Audit: []Entry{{Version: 3, Data: []byte("a3")}, {Version: 5, Data: []byte("a5")}}})
	if _, err := s.Fence("t", 9, "b", 1); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, &Write{TwinID: "t", Epoch: 9, Sync: &Sync{After: 3},
		Events:  []Entry{{Version: 4, Data: []byte("b4")}},
		History: []HistoryPoint{{Property: "p", SourceTime: 101*hour + 30*int64(time.Minute), Version: 4, Data: []byte("b4")}}})
	if diff := cmp.Diff([]journalEntry{{1, 1, "t-1"}, {2, 1, "t-2"}, {3, 1, "t-3"}, {4, 9, "b4"}}, readJournal(t, s, "t", 0)); diff != "" {
		t.Errorf("journal after the cut (-want +got):\n%s", diff)
	}
	if st, err := s.Fence("t", 10, "c", 1); err != nil || !slices.Equal(st.Runs, []EpochRun{{1, 1}, {4, 9}}) {
		t.Errorf("the journal's epoch runs: %+v, %v", st.Runs, err)
	}
	var audit []int64
	if err := s.ReadAudit("t", 0, 0, func(v int64, _ []byte) error { audit = append(audit, v); return nil }); err != nil || !slices.Equal(audit, []int64{3}) {
		t.Errorf("audit after the cut: %v, %v", audit, err)
	}
	var points []string
	if err := s.ReadHistory("t", "p", 0, 200*hour, func(p HistoryPoint) error {
		points = append(points, fmt.Sprintf("%d:%s", p.Version, p.Data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"1:\x01", "2:\x02", "3:\x03", "4:b4"}; !slices.Equal(points, want) {
		t.Errorf("history after the cut: %q, want %q", points, want)
	}
	// What a replica at version 2 lacks, across both hour buckets.
	var after []string
	if err := s.ReadHistoryAfter("t", 2, func(p HistoryPoint) error {
		after = append(after, fmt.Sprintf("%d:%s", p.Version, p.Data))
		return nil
	}); err != nil || !slices.Equal(after, []string{"3:\x03", "4:b4"}) {
		t.Errorf("history after version 2: %q, %v", after, err)
	}
	if h, _ := s.Head("t"); h != (Head{Version: 4, Epoch: 9}) {
		t.Errorf("head %+v", h)
	}

	// Events copied from another replica keep their epoch.
	mustCommit(t, s, &Write{TwinID: "t", Epoch: 10, Sync: &Sync{After: 4}, Events: []Entry{{Version: 5, Epoch: 7, Data: []byte("c5")}}})
	if got := readJournal(t, s, "t", 5); len(got) != 1 || got[0].Epoch != 7 {
		t.Errorf("copied entry %+v", got)
	}
	// Refused: beyond the head without a snapshot there, a negative cut.
	for _, w := range []*Write{
		{TwinID: "t", Epoch: 10, Sync: &Sync{After: 20}},
		{TwinID: "t", Epoch: 10, Sync: &Sync{After: -1}},
	} {
		if err := s.Commit(context.Background(), w); !errors.Is(err, ErrInvalidWrite) {
			t.Errorf("sync after %d: %v", w.Sync.After, err)
		}
	}
	// A snapshot at After beyond the head replaces the log.
	mustCommit(t, s, &Write{TwinID: "t", Epoch: 10, Sync: &Sync{After: 20}, Snapshot: &Snapshot{Version: 20, Data: []byte("s20")}})
	mustCommit(t, s, &Write{TwinID: "t", Epoch: 10, Events: events("t", 21, 1)})
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: 10, Sync: &Sync{After: 10}}); !errors.Is(err, ErrInvalidWrite) {
		t.Errorf("a cut below the snapshot without one: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	if h, err := s.Head("t"); err != nil || h != (Head{Version: 21, Epoch: 10, SnapshotVersion: 20}) {
		t.Errorf("head after reopen %+v, %v", h, err)
	}
	if snap, ok, err := s.LoadSnapshot("t"); err != nil || !ok || snap.Version != 20 || string(snap.Data) != "s20" {
		t.Errorf("snapshot %+v %v %v", snap, ok, err)
	}
	if got := readJournal(t, s, "t", 0); len(got) != 1 || got[0].Version != 21 {
		t.Errorf("journal after the snapshot replaced the log: %+v", got)
	}
}

// TestSyncWriteInOneGroup: a sync write submitted right behind a plain
// write of its twin (one commit group) still cuts that write's history
// point: the committer commits the plain write first.
func TestSyncWriteInOneGroup(t *testing.T) {
	s := mustOpen(t, testConfig(t, vfs.NewMem()))
	e := mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 1)})
	errs := make(chan error, 2)
	s.Submit(&Write{TwinID: "t", Epoch: e, Events: events("t", 2, 1),
		History: []HistoryPoint{{Property: "p", SourceTime: int64(time.Hour), Version: 2}}}, func(err error) { errs <- err })
	// A newer activation's sync (within one epoch a log only grows, so a
	// same-epoch sync ending at the head changes nothing).
	if _, err := s.Fence("t", e+1, "newer", 1); err != nil {
		t.Fatal(err)
	}
	s.Submit(&Write{TwinID: "t", Epoch: e + 1, Sync: &Sync{After: 1}, Events: []Entry{{Version: 2, Data: []byte("new")}}}, func(err error) { errs <- err })
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := s.ReadHistory("t", "p", 0, 2*int64(time.Hour), func(HistoryPoint) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("%d history points of the cut version left, %v", n, err)
	}
	if got := readJournal(t, s, "t", 0); len(got) != 2 || got[1].Data != "new" {
		t.Errorf("journal %+v", got)
	}
}

// TestLateSameEpochSyncChangesNothing: a sync of the log's own epoch that
// ends at or below its head (a catch-up overtaken by newer writes of the
// same activation) leaves the log as it is; a newer epoch's sync cuts.
// A confirming empty write fails with ErrNeedsSync on a log that is behind.
func TestLateSameEpochSyncChangesNothing(t *testing.T) {
	s := mustOpen(t, testConfig(t, vfs.NewMem()))
	e := mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: e, Events: events("t", 1, 4)})
	late := &Write{TwinID: "t", Epoch: e, Sync: &Sync{After: 1}, Events: events("t", 2, 1)}
	if err := s.Commit(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	if got := readJournal(t, s, "t", 0); len(got) != 4 {
		t.Fatalf("a late sync of the same epoch cut the log to %d entries", len(got))
	}
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: e, Confirm: 5}); !errors.Is(err, ErrNeedsSync) {
		t.Fatalf("confirm version 5 on a log at 4: %v, want ErrNeedsSync", err)
	}
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: e, Confirm: 4}); err != nil {
		t.Fatalf("confirm version 4 on a log at 4: %v", err)
	}
	if _, err := s.Fence("t", e+1, "newer", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(context.Background(), &Write{TwinID: "t", Epoch: e + 1, Sync: &Sync{After: 1}, Events: events("t", 2, 1)}); err != nil {
		t.Fatal(err)
	}
	if got := readJournal(t, s, "t", 0); len(got) != 2 {
		t.Fatalf("a newer epoch's sync left %d entries, want 2", len(got))
	}
}
