package persistence

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// pendingCapacity is the capacity of the committer -> syncer channel. With
// 0 (a hand-off), at most two applied batches await their WAL sync: the one
// the syncer waits on and the one the committer has built and applied
// meanwhile; ops arriving during an fsync accumulate in the queue and form
// the next batch. Deeper pipelines measured worse on 2 cores: the committer
// then applies many tiny batches during one fsync (BenchmarkCommitStream,
// 256 clients: ~50k events/s with capacity 8, ~92k with 0, ~85k serial).
const pendingCapacity = 0

// Head is the durable summary of one twin: its latest journal version, the
// newest activation epoch seen, and the version of its latest snapshot.
type Head struct {
	Version         int64
	Epoch           uint64
	SnapshotVersion int64
}

// Snapshot is a twin's state as of a journal version.
type Snapshot struct {
	Version int64
	Data    []byte
}

// Entry is one journal event.
type Entry struct {
	Version int64
	Data    []byte
	// Epoch is the activation epoch that wrote the event; 0: the Write's.
	// Only a sync write may carry other epochs (events it copies from
	// another replica).
	Epoch uint64
}

// Sync makes a Write a sync write: the twin's log is first cut back to
// version After (journal, audit and history after it deleted), or, with
// a snapshot at After beyond the head, replaced by that snapshot; the
// Write's events follow from After+1, and the Write's epoch becomes the
// twin's log epoch. It is how a new activation brings a replica's log in
// line with the log it adopted (docs/cluster-design.md §3.1).
type Sync struct {
	After int64
}

// HistoryPoint is one value of one property at a source time.
type HistoryPoint struct {
	Property   string
	SourceTime int64 // Unix nanoseconds
	Version    int64
	Data       []byte
}

// Write is one twin's atomic update: events, optionally a snapshot, history
// points and audit entries, written in one synced batch.
type Write struct {
	TwinID string
	// Epoch is the activation epoch of the writer (from Activate).
	Epoch uint64
	// Events have contiguous versions; Events[0].Version must be
	// head.Version+1.
	Events []Entry
	// Snapshot is optional. Its Version must be <= the last event's version
	// (== head.Version when Events is empty) and >= the previous snapshot's.
	Snapshot *Snapshot
	// History points to record.
	History []HistoryPoint
	// Audit entries to record under their event's version (each Version
	// must be one of Events' versions); kept as long as the twin is
	// declared, unlike history.
	Audit []Entry
	// Wake, when set, records the twin's next due time (Unix nanoseconds
	// on the runtime's clock) in the node's wake schedule; 0 removes it.
	Wake *int64
	// Confirm, on a plain write without events, makes the store check
	// that the twin's log reaches this version: ErrNeedsSync when it is
	// behind (a replica that missed writes of the current epoch). 0: not
	// checked. An activation's read confirmation sends it.
	Confirm int64
	// Sync, when set, makes this a sync write. A plain write must carry
	// the twin's log epoch (Head.Epoch): a newer activation's first write
	// is a sync write, or fails with ErrNeedsSync.
	Sync *Sync
}

// Stats are counters since Open plus Pebble's LSM health.
type Stats struct {
	Commits        int64  // synced Pebble batches
	Writes         int64  // Writes acknowledged with done(nil)
	Events         int64  // journal events acknowledged
	Fenced         int64  // Writes rejected with ErrFenced
	Rejected       int64  // Writes rejected for any reason, including Fenced
	Failed         int64  // Writes failed by storage errors
	Bytes          int64  // bytes of synced batches
	HistoryPruned  int64  // history points deleted by retention
	L0Sublevels    int32  // Pebble L0 sublevels (read amplification of L0)
	L0Files        int64  // Pebble L0 files
	CompactionDebt uint64 // Pebble's estimate of bytes to compact
	WriteStalls    int64  // Pebble write stalls since Open
}

// Store is one node's durable state. Methods are safe for concurrent use.
type Store struct {
	cfg     Config
	db      *pebble.DB
	log     *slog.Logger
	metrics *metrics

	// queue carries operations to the committer goroutine; capacity
	// 2*MaxCommitBatch; Submit blocks while it is full (back-pressure).
	queue chan *op
	// pending carries applied batches from the committer to the syncer
	// goroutine, in commit order; capacity pendingCapacity (a hand-off).
	pending chan *inflight

	cancelRetention context.CancelFunc
	retentionDone   chan struct{}
	committerDone   chan struct{}
	syncerDone      chan struct{}

	mu struct {
		sync.Mutex
		cond   sync.Cond
		closed bool
		users  int // Submit calls sending and reads in progress
	}
	closeOnce sync.Once
	closeErr  error

	// failed holds the first storage error of a commit; once set, all
	// writes fail with ErrFailed.
	failed atomic.Pointer[error]

	// serialCommits makes the committer wait for each batch's sync before
	// building the next (no pipelining); set only by benchmarks.
	serialCommits bool

	// heads caches twin heads; owned by the committer goroutine.
	id    string // see ID
	heads map[string]Head
	// fences caches the twins' fence records (committer only).
	fences map[string]Fence

	stats struct {
		commits, writes, events, fenced, rejected, failed, bytes, pruned, stalls atomic.Int64
	}
}

// Open opens (or creates) the store in cfg.Dir. On a new store it writes the
// format marker; it refuses a store whose format marker it does not know.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Dir = filepath.Clean(cfg.Dir)
	if cfg.FS == vfs.Default {
		// Pebble's in-process lock table is keyed by path: an absolute path
		// lets Restore detect a store open in this process.
		abs, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("persistence: open %s: %w", cfg.Dir, err)
		}
		cfg.Dir = abs
	}
	if err := mkdirAllSynced(cfg.FS, cfg.Dir); err != nil {
		return nil, fmt.Errorf("persistence: create dir %s: %w", cfg.Dir, err)
	}
	s := &Store{
		cfg:           cfg,
		log:           cfg.Logger,
		metrics:       newMetrics(),
		queue:         make(chan *op, 2*cfg.MaxCommitBatch),
		pending:       make(chan *inflight, pendingCapacity),
		retentionDone: make(chan struct{}),
		committerDone: make(chan struct{}),
		syncerDone:    make(chan struct{}),
		heads:         make(map[string]Head),
		fences:        make(map[string]Fence),
	}
	s.mu.cond.L = &s.mu.Mutex

	cache := pebble.NewCache(cfg.CacheSize)
	defer cache.Unref()
	opts := pebbleOptions(cfg, cache)
	stallBegin := opts.EventListener.WriteStallBegin
	opts.EventListener.WriteStallBegin = func(info pebble.WriteStallBeginInfo) {
		s.stats.stalls.Add(1)
		stallBegin(info)
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("persistence: data directory %s is locked by another process (is a node already running on it?): %w", cfg.Dir, ErrLocked)
		}
		return nil, fmt.Errorf("persistence: open pebble in %s: %w", cfg.Dir, err)
	}
	s.db = db
	if err := checkStoreFormat(db, cfg.Dir); err != nil {
		_ = db.Close()
		return nil, err
	}
	if s.id, err = loadStoreID(db, cfg.Dir); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.metrics.register(cfg.Registerer); err != nil {
		_ = db.Close()
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.cancelRetention = cancel
	go s.runCommitter()
	go s.runSyncer()
	go s.runRetention(ctx)
	return s, nil
}

// mkdirAllSynced creates dir and its missing parents and syncs the parent of
// each created directory, so the new directory entries survive a crash
// (Pebble syncs the data directory itself, not its parent).
func mkdirAllSynced(fs vfs.FS, dir string) error {
	var created []string
	for d := dir; ; d = fs.PathDir(d) {
		if _, err := fs.Stat(d); err == nil {
			break
		} else if !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if parent := fs.PathDir(d); parent == d {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		parent, err := fs.OpenDir(fs.PathDir(d))
		if err != nil {
			return err
		}
		err = parent.Sync()
		if cerr := parent.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync parent of %s: %w", d, err)
		}
	}
	return nil
}

// checkStoreFormat reads the format marker, writing it on an empty store.
// ID is the store's identity: 32 hex digits drawn at random when the
// store was created (or first opened by a build that has it), kept for
// good. A cluster member presents it with its node name, so that a node
// whose disk was wiped is not taken for the one that made promises
// (docs/cluster-design.md §2). A backup restored elsewhere carries it.
func (s *Store) ID() string { return s.id }

// loadStoreID reads the store's identity, creating it (synced) if absent.
func loadStoreID(db *pebble.DB, dir string) (string, error) {
	v, closer, err := db.Get(storeIDKey)
	if err == nil {
		defer closer.Close()
		if len(v) != 16 {
			return "", fmt.Errorf("persistence: open %s: store id of %d bytes: %w", dir, len(v), ErrCorrupt)
		}
		return hex.EncodeToString(v), nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return "", fmt.Errorf("persistence: open %s: read store id: %w", dir, err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("persistence: open %s: draw a store id: %w", dir, err)
	}
	if err := db.Set(storeIDKey, id, pebble.Sync); err != nil {
		return "", fmt.Errorf("persistence: open %s: write store id: %w", dir, err)
	}
	return hex.EncodeToString(id), nil
}

func checkStoreFormat(db *pebble.DB, dir string) error {
	v, closer, err := db.Get(formatKey)
	if err == nil {
		found, n := binary.Uvarint(v)
		_ = closer.Close()
		if n <= 0 || n != len(v) {
			return fmt.Errorf("persistence: open %s: format marker %x: %w", dir, v, ErrCorrupt)
		}
		if found != FormatVersion {
			return fmt.Errorf("persistence: open %s: store format: found %d, this build reads %d: %w",
				dir, found, FormatVersion, ErrUnknownFormat)
		}
		return nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("persistence: open %s: read format marker: %w", dir, err)
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("persistence: open %s: %w", dir, err)
	}
	nonEmpty := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("persistence: open %s: scan for keys: %w", dir, err)
	}
	if nonEmpty {
		return fmt.Errorf("persistence: open %s: not a plantwin store (keys but no format marker): %w",
			dir, ErrUnknownFormat)
	}
	marker := binary.AppendUvarint(nil, FormatVersion)
	if err := db.Set(formatKey, marker, pebble.Sync); err != nil {
		return fmt.Errorf("persistence: open %s: write format marker: %w", dir, err)
	}
	return nil
}

// Close stops intake, commits the writes already queued (or fails them),
// stops the store's goroutines and closes Pebble. It is idempotent; later
// calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	// Stop intake, and wait for Submit calls that are sending and for reads.
	s.mu.Lock()
	s.mu.closed = true
	for s.mu.users > 0 {
		s.mu.cond.Wait()
	}
	s.mu.Unlock()

	// Cancel and wait for retention (it may be waiting on the committer,
	// which still runs).
	s.cancelRetention()
	<-s.retentionDone

	// Let the committer drain the queue and the syncer acknowledge.
	close(s.queue)
	<-s.committerDone
	<-s.syncerDone

	s.metrics.unregister()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("persistence: close %s: %w", s.cfg.Dir, err)
	}
	return nil
}

// acquire registers a user (a read, or a Submit sending); it fails once the
// store is closing.
func (s *Store) acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	s.mu.users++
	return nil
}

func (s *Store) release() {
	s.mu.Lock()
	s.mu.users--
	if s.mu.users == 0 {
		s.mu.cond.Broadcast()
	}
	s.mu.Unlock()
}

// DB returns the underlying Pebble database, for benchmarks and metrics.
// Writing to it bypasses fencing and the head cache.
func (s *Store) DB() *pebble.DB { return s.db }

// Stats returns counters and Pebble's LSM health. After Close only the
// counters are filled.
func (s *Store) Stats() Stats {
	st := Stats{
		Commits:       s.stats.commits.Load(),
		Writes:        s.stats.writes.Load(),
		Events:        s.stats.events.Load(),
		Fenced:        s.stats.fenced.Load(),
		Rejected:      s.stats.rejected.Load(),
		Failed:        s.stats.failed.Load(),
		Bytes:         s.stats.bytes.Load(),
		HistoryPruned: s.stats.pruned.Load(),
		WriteStalls:   s.stats.stalls.Load(),
	}
	if s.acquire() != nil {
		return st
	}
	defer s.release()
	m := s.db.Metrics()
	st.L0Sublevels = m.Levels[0].Sublevels
	st.L0Files = m.Levels[0].NumFiles
	st.CompactionDebt = m.Compact.EstimatedDebt
	return st
}

// Head returns the twin's head, or a zero Head for an unknown twin. Like
// every read, it can observe writes whose commit is not yet acknowledged.
func (s *Store) Head(twinID string) (Head, error) {
	if err := s.acquire(); err != nil {
		return Head{}, fmt.Errorf("persistence: read head of twin %s: %w", twinID, err)
	}
	defer s.release()
	return s.readHead(twinID)
}

// Fence is a twin's fence record: the newest activation epoch a store
// promised for the twin, to which activation (By: its node's actor-system
// id, or any name unique to the activation) and under which cluster roster
// version. Once Promised is recorded, writes with an older epoch fail with
// ErrFenced.
type Fence struct {
	Promised      uint64
	By            string
	RosterVersion uint64
}

// FenceState is what a store holds for a twin when asked for a promise:
// its head (version, log epoch, snapshot), its fence record (the new one
// when the promise was made), and the epochs that wrote its journal.
type FenceState struct {
	Head  Head
	Fence Fence
	// Runs are the journal's entries by writing epoch, oldest first: from
	// FromVersion up to the next run's, the entries were written by Epoch.
	// Two stores whose runs agree up to a version hold the same entries
	// up to it (an epoch's entries are written in order, once).
	Runs []EpochRun
}

// EpochRun is a stretch of a journal written by one activation epoch.
type EpochRun struct {
	FromVersion int64
	Epoch       uint64
}

// EpochRuns returns the twin's journal as runs of writing epochs.
func (s *Store) EpochRuns(twinID string) ([]EpochRun, error) {
	var runs []EpochRun
	err := s.ReadJournal(twinID, 0, func(version int64, epoch uint64, _ []byte) error {
		if n := len(runs); n == 0 || runs[n-1].Epoch != epoch {
			runs = append(runs, EpochRun{FromVersion: version, Epoch: epoch})
		}
		return nil
	})
	return runs, err
}

// Fence promises epoch for twinID to activation by: it is recorded with a
// synced write before Fence returns, and from then on writes with an
// older epoch fail with ErrFenced. It is refused with ErrFenced (and the
// state the store holds) unless epoch is above the twin's log epoch
// (Head.Epoch) and above every epoch promised before, or repeats the
// promise already made to by (a re-send, answered again). A cluster
// activation takes its epoch from a majority of its replicas' promises
// (docs/cluster-design.md §4).
func (s *Store) Fence(twinID string, epoch uint64, by string, rosterVersion uint64) (FenceState, error) {
	type result struct {
		st  FenceState
		err error
	}
	ch := make(chan result, 1)
	s.enqueue(context.Background(), &op{kind: opFence, twinID: twinID, fence: Fence{Promised: epoch, By: by, RosterVersion: rosterVersion},
		fenced: func(st FenceState, err error) { ch <- result{st, err} }})
	r := <-ch
	if r.err == nil || errors.Is(r.err, ErrFenced) {
		// The journal as it stands once the promise is made (or refused):
		// the asking activation compares logs with it.
		runs, err := s.EpochRuns(twinID)
		if err != nil && r.err == nil {
			return r.st, err
		}
		r.st.Runs = runs
	}
	return r.st, r.err
}

// ReadFence returns the twin's fence record (the zero Fence when none).
func (s *Store) ReadFence(twinID string) (Fence, error) { return s.readFence(twinID) }

func (s *Store) readFence(twinID string) (Fence, error) {
	key := EncodeFenceKey(twinID)
	v, closer, err := s.db.Get(key)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return Fence{}, nil
	case err != nil:
		return Fence{}, fmt.Errorf("persistence: read fence of twin %s: %w", twinID, err)
	}
	defer closer.Close()
	f, err := decodeFenceValue(v)
	if err != nil {
		return Fence{}, fmt.Errorf("persistence: read fence of twin %s (key %x): %w", twinID, key, err)
	}
	return f, nil
}

func (s *Store) readHead(twinID string) (Head, error) {
	key := EncodeHeadKey(twinID)
	var h Head
	v, closer, err := s.db.Get(key)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return Head{}, fmt.Errorf("persistence: read head of twin %s: %w", twinID, err)
	default:
		h, err = decodeHeadValue(v)
		closer.Close()
		if err != nil {
			return Head{}, fmt.Errorf("persistence: read head of twin %s (key %x): %w", twinID, key, err)
		}
	}
	// The head key is rewritten only when the epoch or the snapshot changes;
	// the latest version is the last journal key's.
	prefix := twinPrefix(PrefixJournal, twinID)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return Head{}, fmt.Errorf("persistence: read head of twin %s: %w", twinID, err)
	}
	if it.Last() {
		_, version, err := DecodeJournalKey(it.Key())
		if err != nil {
			it.Close()
			return Head{}, fmt.Errorf("persistence: read head of twin %s: %w", twinID, err)
		}
		if version > h.Version {
			h.Version = version
		}
	}
	if err := it.Close(); err != nil {
		return Head{}, fmt.Errorf("persistence: read head of twin %s: %w", twinID, err)
	}
	return h, nil
}

// Activate starts a new activation of the twin: its epoch becomes the newest
// epoch seen + 1, recorded with a synced write before Activate returns.
// Writes of older activations then fail with ErrFenced.
func (s *Store) Activate(twinID string) (epoch uint64, head Head, err error) {
	type result struct {
		head Head
		err  error
	}
	ch := make(chan result, 1)
	s.enqueue(context.Background(), &op{kind: opActivate, twinID: twinID, activated: func(h Head, err error) {
		ch <- result{h, err}
	}})
	r := <-ch
	if r.err != nil {
		return 0, Head{}, r.err
	}
	return r.head.Epoch, r.head, nil
}

// LoadSnapshot returns the twin's latest snapshot, if it has one.
func (s *Store) LoadSnapshot(twinID string) (Snapshot, bool, error) {
	if err := s.acquire(); err != nil {
		return Snapshot{}, false, fmt.Errorf("persistence: load snapshot of twin %s: %w", twinID, err)
	}
	defer s.release()
	prefix := twinPrefix(PrefixSnapshot, twinID)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("persistence: load snapshot of twin %s: %w", twinID, err)
	}
	defer it.Close()
	if !it.Last() {
		if err := it.Error(); err != nil {
			return Snapshot{}, false, fmt.Errorf("persistence: load snapshot of twin %s: %w", twinID, err)
		}
		return Snapshot{}, false, nil
	}
	_, version, err := DecodeSnapshotKey(it.Key())
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("persistence: load snapshot of twin %s (key %x): %w: %w",
			twinID, it.Key(), ErrCorrupt, err)
	}
	data, err := decodePlainValue(it.Value())
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("persistence: load snapshot of twin %s version %d (key %x): %w",
			twinID, version, it.Key(), err)
	}
	return Snapshot{Version: version, Data: clone(data)}, true, nil
}

// ReadJournal calls fn for every journal entry of the twin with version >=
// from, in ascending order. fn owns data. It stops at fn's first error and
// returns it unwrapped.
func (s *Store) ReadJournal(twinID string, from int64, fn func(version int64, epoch uint64, data []byte) error) error {
	if err := s.acquire(); err != nil {
		return fmt.Errorf("persistence: read journal of twin %s: %w", twinID, err)
	}
	defer s.release()
	from = max(from, 0)
	prefix := twinPrefix(PrefixJournal, twinID)
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: EncodeJournalKey(twinID, from),
		UpperBound: prefixEnd(prefix),
	})
	if err != nil {
		return fmt.Errorf("persistence: read journal of twin %s: %w", twinID, err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		key := it.Key()
		if len(key) != len(prefix)+8 {
			return fmt.Errorf("persistence: read journal of twin %s (key %x): %w", twinID, key, ErrCorrupt)
		}
		version, _, err := decodeVersion(key[len(prefix):])
		if err != nil {
			return fmt.Errorf("persistence: read journal of twin %s (key %x): %w: %w", twinID, key, ErrCorrupt, err)
		}
		epoch, data, err := decodeJournalValue(it.Value())
		if err != nil {
			return fmt.Errorf("persistence: read journal of twin %s version %d (key %x): %w", twinID, version, key, err)
		}
		if err := fn(version, epoch, clone(data)); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("persistence: read journal of twin %s: %w", twinID, err)
	}
	return nil
}

// ReadAudit calls fn for the twin's audit entries with version > after, in
// ascending version order, at most limit of them (limit <= 0: no limit). fn
// owns data. It stops at fn's first error and returns it unwrapped.
func (s *Store) ReadAudit(twinID string, after int64, limit int, fn func(version int64, data []byte) error) error {
	if err := s.acquire(); err != nil {
		return fmt.Errorf("persistence: read audit of twin %s: %w", twinID, err)
	}
	defer s.release()
	if after == math.MaxInt64 {
		return nil // no version is greater
	}
	from := max(after+1, 0)
	prefix := twinPrefix(PrefixAudit, twinID)
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: EncodeAuditKey(twinID, from),
		UpperBound: prefixEnd(prefix),
	})
	if err != nil {
		return fmt.Errorf("persistence: read audit of twin %s: %w", twinID, err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		key := it.Key()
		if len(key) != len(prefix)+8 {
			return fmt.Errorf("persistence: read audit of twin %s (key %x): %w", twinID, key, ErrCorrupt)
		}
		version, _, err := decodeVersion(key[len(prefix):])
		if err != nil {
			return fmt.Errorf("persistence: read audit of twin %s (key %x): %w: %w", twinID, key, ErrCorrupt, err)
		}
		data, err := decodePlainValue(it.Value())
		if err != nil {
			return fmt.Errorf("persistence: read audit of twin %s version %d (key %x): %w", twinID, version, key, err)
		}
		if err := fn(version, clone(data)); err != nil {
			return err
		}
		if n++; limit > 0 && n == limit {
			break
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("persistence: read audit of twin %s: %w", twinID, err)
	}
	return nil
}

// ScanWake calls fn for every twin in the wake schedule with its due
// time, in twin id order; it stops at fn's first error and returns it.
func (s *Store) ScanWake(fn func(twinID string, due int64) error) error {
	if err := s.acquire(); err != nil {
		return fmt.Errorf("persistence: scan wake schedule: %w", err)
	}
	defer s.release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{PrefixWake}, UpperBound: []byte{PrefixWake + 1}})
	if err != nil {
		return fmt.Errorf("persistence: scan wake schedule: %w", err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		id, rest, err := DecodeString(it.Key()[1:])
		if err != nil || len(rest) != 0 {
			return fmt.Errorf("persistence: wake key %x: %w", it.Key(), ErrCorrupt)
		}
		v, err := decodePlainValue(it.Value())
		if err != nil || len(v) != 8 {
			return fmt.Errorf("persistence: wake value of twin %s: %w", id, ErrCorrupt)
		}
		if err := fn(id, int64(binary.BigEndian.Uint64(v))); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("persistence: scan wake schedule: %w", err)
	}
	return nil
}

// Checkpoint writes a consistent copy of the live store into dir, which must
// not exist. The WAL is flushed and synced first, so every acknowledged write
// is in the copy. Sstables are hard-linked when the file system allows.
func (s *Store) Checkpoint(dir string) error {
	if err := s.acquire(); err != nil {
		return fmt.Errorf("persistence: checkpoint to %s: %w", dir, err)
	}
	defer s.release()
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("persistence: checkpoint to %s: %w", dir, err)
	}
	return nil
}

// clone copies b; empty values come back as nil.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// elapsedSeconds is time.Since in seconds.
func elapsedSeconds(t time.Time) float64 { return time.Since(t).Seconds() }

// PutMeta stores a store-level value under name (a synced write), for
// the node's own records such as the cluster roster. The names "format"
// and "storeid" are the store's.
func (s *Store) PutMeta(name string, value []byte) error {
	if name == "" || name == "format" || name == "storeid" {
		return fmt.Errorf("persistence: meta name %q: %w", name, ErrInvalidWrite)
	}
	if err := s.db.Set(append([]byte{PrefixMeta}, name...), value, pebble.Sync); err != nil {
		return fmt.Errorf("persistence: write meta %s: %w", name, err)
	}
	return nil
}

// GetMeta returns the value PutMeta stored under name.
func (s *Store) GetMeta(name string) ([]byte, bool, error) {
	v, closer, err := s.db.Get(append([]byte{PrefixMeta}, name...))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("persistence: read meta %s: %w", name, err)
	}
	defer closer.Close()
	return clone(v), true, nil
}
