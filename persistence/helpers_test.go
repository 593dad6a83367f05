package persistence

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// testConfig is a small store on fs (nil = disk under t.TempDir()).
func testConfig(t testing.TB, fs vfs.FS) Config {
	t.Helper()
	dir := "/data"
	if fs == nil {
		dir = t.TempDir()
	}
	cfg := DefaultConfig(dir)
	cfg.FS = fs
	cfg.CacheSize = 8 << 20
	cfg.MemTableSize = 4 << 20
	cfg.HistoryRetention = 0
	return cfg
}

func mustOpen(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustActivate(t testing.TB, s *Store, twinID string) uint64 {
	t.Helper()
	epoch, _, err := s.Activate(twinID)
	if err != nil {
		t.Fatalf("Activate(%s): %v", twinID, err)
	}
	return epoch
}

// events returns n events with versions from..from+n-1 and data "<twin>-<v>".
func events(twinID string, from int64, n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		v := from + int64(i)
		out[i] = Entry{Version: v, Data: []byte(fmt.Sprintf("%s-%d", twinID, v))}
	}
	return out
}

func mustCommit(t testing.TB, s *Store, w *Write) {
	t.Helper()
	if err := s.Commit(context.Background(), w); err != nil {
		t.Fatalf("Commit(twin %s): %v", w.TwinID, err)
	}
}

type journalEntry struct {
	Version int64
	Epoch   uint64
	Data    string
}

func readJournal(t testing.TB, s *Store, twinID string, from int64) []journalEntry {
	t.Helper()
	var got []journalEntry
	err := s.ReadJournal(twinID, from, func(v int64, e uint64, d []byte) error {
		got = append(got, journalEntry{v, e, string(d)})
		return nil
	})
	if err != nil {
		t.Fatalf("ReadJournal(%s, %d): %v", twinID, from, err)
	}
	return got
}

// checkNoGoroutineLeak fails if the goroutine count does not settle back to
// at most before (polling, not sleeping for a guess).
func checkNoGoroutineLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncGateFS wraps a vfs.FS so that a test controls the WAL's syncs: hook
// runs before every Sync/SyncData/SyncTo of a *.log file and may block or
// return an error. (errorfs in Pebble v1.1.5 injects into Sync only, while
// the WAL syncs through SyncData.)
type syncGateFS struct {
	vfs.FS
	mu   sync.Mutex
	hook func() error
}

func (fs *syncGateFS) setHook(h func() error) {
	fs.mu.Lock()
	fs.hook = h
	fs.mu.Unlock()
}

func (fs *syncGateFS) runHook() error {
	fs.mu.Lock()
	h := fs.hook
	fs.mu.Unlock()
	if h == nil {
		return nil
	}
	return h()
}

func (fs *syncGateFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &syncGateFile{File: f, fs: fs}, nil
}

func (fs *syncGateFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	return fs.wrap(name, f, err)
}

func (fs *syncGateFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	return fs.wrap(newname, f, err)
}

type syncGateFile struct {
	vfs.File
	fs *syncGateFS
}

func (f *syncGateFile) Sync() error {
	if err := f.fs.runHook(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *syncGateFile) SyncData() error {
	if err := f.fs.runHook(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *syncGateFile) SyncTo(length int64) (bool, error) {
	if err := f.fs.runHook(); err != nil {
		return false, err
	}
	return f.File.SyncTo(length)
}
