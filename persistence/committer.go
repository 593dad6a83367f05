package persistence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"
)

type opKind uint8

const (
	opWrite opKind = iota
	opActivate
	opPrune
	opFence
)

// op is one unit of work for the committer: a Write, an activation or a
// history prune. The committer is the only goroutine that writes heads,
// journal, snapshots, history, bucket counters and audit entries.
type op struct {
	kind opKind

	w    *Write      // opWrite
	done func(error) // opWrite

	twinID    string            // opActivate
	activated func(Head, error) // opActivate
	head      Head              // opActivate result

	fence  Fence                   // opFence: the promise asked for (Promised, By, RosterVersion)
	fenced func(FenceState, error) // opFence
	state  FenceState              // opFence result

	before  int64            // opPrune
	pruned  func(int, error) // opPrune
	deleted int              // opPrune result

	// err is the op's rejection, set by the committer before the batch
	// commits.
	err error
}

// inflight is a batch applied to Pebble whose WAL sync the syncer awaits.
type inflight struct {
	batch    *pebble.Batch // nil if the ops wrote nothing
	ops      []*op
	applyErr error
	start    time.Time
}

// Submit queues w for the group committer and returns. done is called
// exactly once, from the syncer goroutine, after the batch holding w is
// synced (nil) or has failed, in submission order; done must not block.
// Errors wrap ErrFenced, ErrVersionGap, ErrInvalidWrite, ErrFailed or
// ErrClosed; a rejected Write does not fail the other Writes of its batch.
// After Close, done(ErrClosed) is called before Submit returns.
//
// The queue holds 2*MaxCommitBatch operations; when it is full, Submit
// blocks until the committer takes more (back-pressure). The caller must
// not modify w until done is called.
func (s *Store) Submit(w *Write, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	s.enqueue(context.Background(), &op{kind: opWrite, w: w, done: done})
}

// Commit submits w and waits for its outcome. If ctx ends first, Commit
// returns ctx's error and the Write may still be committed.
func (s *Store) Commit(ctx context.Context, w *Write) error {
	ch := make(chan error, 1)
	s.enqueue(ctx, &op{kind: opWrite, w: w, done: func(err error) { ch <- err }})
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return writeError(w, ctx.Err())
	}
}

// enqueue hands o to the committer, or finishes it with ErrClosed or ctx's
// error.
func (s *Store) enqueue(ctx context.Context, o *op) {
	if err := s.acquire(); err != nil {
		o.err = err
		o.finish(s, nil)
		return
	}
	defer s.release()
	select {
	case s.queue <- o:
	case <-ctx.Done():
		o.err = ctx.Err()
		o.finish(s, nil)
	}
}

func writeError(w *Write, err error) error {
	if w == nil {
		return fmt.Errorf("persistence: append nil write: %w", err)
	}
	return fmt.Errorf("persistence: append %d events for twin %s: %w", len(w.Events), w.TwinID, err)
}

// finish reports the op's outcome: its rejection if any, else commitErr.
func (o *op) finish(s *Store, commitErr error) {
	err := o.err
	if err == nil && commitErr != nil {
		err = commitErr
		if o.kind == opWrite {
			s.stats.failed.Add(1)
		}
	}
	switch o.kind {
	case opWrite:
		if err != nil {
			o.done(writeError(o.w, err))
			return
		}
		s.stats.writes.Add(1)
		s.stats.events.Add(int64(len(o.w.Events)))
		s.metrics.eventsTotal.Add(float64(len(o.w.Events)))
		o.done(nil)
	case opActivate:
		if err != nil {
			o.activated(Head{}, fmt.Errorf("persistence: activate twin %s: %w", o.twinID, err))
			return
		}
		o.activated(o.head, nil)
	case opFence:
		if err != nil {
			o.fenced(o.state, fmt.Errorf("persistence: fence twin %s at epoch %d: %w", o.twinID, o.fence.Promised, err))
			return
		}
		o.fenced(o.state, nil)
	case opPrune:
		if err != nil {
			o.pruned(0, fmt.Errorf("persistence: prune history before %d: %w", o.before, err))
			return
		}
		s.stats.pruned.Add(int64(o.deleted))
		s.metrics.prunedTotal.Add(float64(o.deleted))
		o.pruned(o.deleted, nil)
	}
}

// runCommitter drains the queue into batches of up to MaxCommitBatch ops,
// validates them against the head cache, and applies each batch to Pebble
// without waiting for its WAL sync, handing it to the syncer. A prune runs
// in a batch of its own.
func (s *Store) runCommitter() {
	defer close(s.committerDone)
	defer close(s.pending)
	for o := range s.queue {
		batch := []*op{o}
		if o.kind != opPrune {
		fill:
			for len(batch) < s.cfg.MaxCommitBatch {
				select {
				case next, ok := <-s.queue:
					if !ok {
						break fill
					}
					if next.kind == opPrune {
						s.commitOps(batch)
						batch = []*op{next}
						break fill
					}
					batch = append(batch, next)
				default:
					break fill
				}
			}
		}
		s.commitOps(batch)
	}
}

// runSyncer waits for each applied batch's WAL sync, in commit order, and
// reports the outcome of its ops.
func (s *Store) runSyncer() {
	defer close(s.syncerDone)
	for p := range s.pending {
		s.finishBatch(p)
	}
}

// finishBatch waits for p's WAL sync and reports the outcome of its ops.
func (s *Store) finishBatch(p *inflight) {
	err := p.applyErr
	if p.batch != nil {
		if err == nil {
			err = p.batch.SyncWait()
		}
		if err != nil {
			s.setFailed(err)
			s.log.Error("journal commit failed", "ops", len(p.ops), "err", err)
		} else {
			s.metrics.syncSeconds.Observe(elapsedSeconds(p.start))
			s.metrics.batchWrites.Observe(float64(len(p.ops)))
			s.stats.commits.Add(1)
			s.stats.bytes.Add(int64(len(p.batch.Repr())))
		}
		_ = p.batch.Close()
	}
	for _, o := range p.ops {
		o.finish(s, err)
	}
}

func (s *Store) setFailed(err error) {
	s.failed.CompareAndSwap(nil, &err)
}

// commitOps commits ops in order, as one batch, or several when a sync
// write follows another write of its twin in the group: a sync write
// deletes the twin's history points by reading the store, which does
// not see an uncommitted batch.
func (s *Store) commitOps(ops []*op) {
	start := 0
	touched := map[string]bool{}
	for i, o := range ops {
		if o.kind != opWrite || o.w == nil {
			continue
		}
		if o.w.Sync != nil && touched[o.w.TwinID] {
			s.commitSegment(ops[start:i])
			start = i
			clear(touched)
		}
		touched[o.w.TwinID] = true
	}
	s.commitSegment(ops[start:])
}

// commitSegment builds one batch from ops and applies it.
func (s *Store) commitSegment(ops []*op) {
	p := &inflight{ops: ops}
	if errp := s.failed.Load(); errp != nil {
		for _, o := range ops {
			o.err = fmt.Errorf("%w: %w", ErrFailed, *errp)
			if o.kind == opWrite {
				s.stats.failed.Add(1)
			}
		}
		s.pending <- p
		return
	}
	b := s.db.NewBatch()
	counts := make(map[int64]int64)
	for _, o := range ops {
		switch o.kind {
		case opWrite:
			o.err = s.applyWrite(b, o.w, counts)
		case opActivate:
			o.err = s.applyActivate(b, o)
		case opFence:
			o.err = s.applyFence(b, o)
		case opPrune:
			o.deleted, o.err = s.applyPrune(b, o.before)
		}
		if o.err != nil && o.kind == opWrite {
			s.stats.rejected.Add(1)
		}
	}
	s.addBucketCounts(b, counts)
	if b.Empty() {
		_ = b.Close()
		s.pending <- p
		return
	}
	p.start = time.Now()
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		p.applyErr = err
		s.setFailed(err)
	}
	p.batch = b
	if s.serialCommits {
		s.finishBatch(p)
		return
	}
	s.pending <- p
}

// cachedHead returns the twin's head from the cache, loading it lazily.
// The committer is the only writer of heads, so the cache is authoritative.
func (s *Store) cachedHead(twinID string) (Head, error) {
	if h, ok := s.heads[twinID]; ok {
		return h, nil
	}
	h, err := s.readHead(twinID)
	if err != nil {
		return Head{}, err
	}
	s.heads[twinID] = h
	return h, nil
}

// applyWrite validates w against the twin's head and, if valid, adds it to
// b and advances the cached head. A rejected write changes nothing.
func (s *Store) applyWrite(b *pebble.Batch, w *Write, counts map[int64]int64) error {
	if w == nil || w.TwinID == "" {
		return fmt.Errorf("empty twin id: %w", ErrInvalidWrite)
	}
	h, err := s.cachedHead(w.TwinID)
	if err != nil {
		return err
	}
	if w.Epoch < h.Epoch {
		s.stats.fenced.Add(1)
		s.metrics.fencedTotal.Inc()
		return fmt.Errorf("write epoch %d, newest seen %d: %w", w.Epoch, h.Epoch, ErrFenced)
	}
	f, err := s.cachedFence(w.TwinID)
	if err != nil {
		return err
	}
	if w.Epoch < f.Promised {
		s.stats.fenced.Add(1)
		s.metrics.fencedTotal.Inc()
		return fmt.Errorf("write epoch %d, epoch %d promised to %s: %w", w.Epoch, f.Promised, f.By, ErrFenced)
	}
	next := h
	base := h // what the events follow
	if w.Sync == nil {
		if w.Epoch != h.Epoch {
			return fmt.Errorf("write epoch %d, log epoch %d: %w", w.Epoch, h.Epoch, ErrNeedsSync)
		}
		if len(w.Events) == 0 && w.Confirm > h.Version {
			return fmt.Errorf("confirm version %d, head version %d: %w", w.Confirm, h.Version, ErrNeedsSync)
		}
		for i, ev := range w.Events {
			if ev.Epoch != 0 && ev.Epoch != w.Epoch {
				return fmt.Errorf("event %d of epoch %d in a plain write of epoch %d: %w", i, ev.Epoch, w.Epoch, ErrInvalidWrite)
			}
		}
	} else {
		var err error
		if base, err = syncBase(w, h); err != nil {
			return err
		}
		if w.Epoch == h.Epoch && syncEnd(w) <= h.Version {
			// Within one epoch a log only grows, and this one already
			// holds everything the sync brings: a late sync (overtaken by
			// the same activation's newer writes) must not cut it back.
			return nil
		}
		next = base
		next.Epoch = w.Epoch
	}
	if len(w.Events) > 0 {
		first := w.Events[0].Version
		if first != base.Version+1 {
			return fmt.Errorf("first event version %d, head version %d: %w", first, base.Version, ErrVersionGap)
		}
		for i, ev := range w.Events {
			if want := first + int64(i); ev.Version != want {
				return fmt.Errorf("event %d has version %d, want %d: %w", i, ev.Version, want, ErrVersionGap)
			}
		}
		next.Version = w.Events[len(w.Events)-1].Version
	}
	if snap := w.Snapshot; snap != nil {
		if snap.Version < 1 || snap.Version > next.Version || snap.Version < base.SnapshotVersion {
			return fmt.Errorf("snapshot version %d outside [%d,%d]: %w",
				snap.Version, max(base.SnapshotVersion, 1), next.Version, ErrInvalidWrite)
		}
	}
	for _, hp := range w.History {
		if hp.Version < 0 {
			return fmt.Errorf("history point %s at %d has negative version %d: %w",
				hp.Property, hp.SourceTime, hp.Version, ErrInvalidWrite)
		}
	}
	if err := checkAudit(w); err != nil {
		return err
	}

	// Valid: write it.
	if w.Sync != nil {
		if err := s.cutLog(b, w, h, base, counts); err != nil {
			return err
		}
		h = base // the snapshot bookkeeping below starts from the cut log
	}
	if len(w.Events) > 0 {
		prefix := twinPrefix(PrefixJournal, w.TwinID)
		var key, val []byte
		for _, ev := range w.Events {
			key = appendUint64(append(key[:0], prefix...), uint64(ev.Version))
			val = appendJournalValue(val[:0], cmp.Or(ev.Epoch, w.Epoch), ev.Data)
			if err := b.Set(key, val, nil); err != nil {
				return err
			}
		}
	}
	if snap := w.Snapshot; snap != nil {
		prev := h.SnapshotVersion
		if prev > 0 && prev != snap.Version {
			if err := b.Delete(EncodeSnapshotKey(w.TwinID, prev), nil); err != nil {
				return err
			}
		}
		if err := b.Set(EncodeSnapshotKey(w.TwinID, snap.Version), appendPlainValue(nil, snap.Data), nil); err != nil {
			return err
		}
		if prev > 0 {
			// Keep one snapshot interval of journal tail (versions >= the
			// previous snapshot) for replicas catching up.
			if err := b.DeleteRange(EncodeJournalKey(w.TwinID, 0), EncodeJournalKey(w.TwinID, prev), nil); err != nil {
				return err
			}
		}
		next.SnapshotVersion = snap.Version
	}
	var val []byte
	for _, hp := range w.History {
		key := EncodeHistoryKey(HistoryKey{TwinID: w.TwinID, Property: hp.Property, SourceTime: hp.SourceTime, Version: hp.Version})
		val = appendPlainValue(val[:0], hp.Data)
		if err := b.Set(key, val, nil); err != nil {
			return err
		}
		counts[HourBucket(hp.SourceTime)]++
	}
	if len(w.Audit) > 0 {
		prefix := twinPrefix(PrefixAudit, w.TwinID)
		var key []byte
		for _, a := range w.Audit {
			key = appendUint64(append(key[:0], prefix...), uint64(a.Version))
			val = appendPlainValue(val[:0], a.Data)
			if err := b.Set(key, val, nil); err != nil {
				return err
			}
		}
	}
	if w.Wake != nil {
		key := EncodeWakeKey(w.TwinID)
		if *w.Wake == 0 {
			if err := b.Delete(key, nil); err != nil {
				return err
			}
		} else if err := b.Set(key, appendPlainValue(nil, appendUint64(nil, uint64(*w.Wake))), nil); err != nil {
			return err
		}
	}
	if next.Epoch != h.Epoch || next.SnapshotVersion != h.SnapshotVersion || w.Sync != nil {
		// The head key is written only when the epoch or snapshot changes:
		// readHead takes the latest version from the last journal key, so
		// an ordinary update writes one key less.
		if err := b.Set(EncodeHeadKey(w.TwinID), appendHeadValue(nil, next), nil); err != nil {
			return err
		}
	}
	s.heads[w.TwinID] = next
	return nil
}

// checkAudit rejects audit entries whose version is not one of w's event
// versions (the events are already checked to be contiguous), and two
// entries for one version, which would overwrite each other.
func checkAudit(w *Write) error {
	if len(w.Audit) == 0 {
		return nil
	}
	if w.Sync != nil && w.Snapshot != nil {
		// A log replaced by a snapshot takes the audit of the versions the
		// snapshot folds in too (those the replica lacked).
		hi := w.Sync.After
		if n := len(w.Events); n > 0 {
			hi = w.Events[n-1].Version
		}
		for i, a := range w.Audit {
			if a.Version < 1 || a.Version > hi {
				return fmt.Errorf("audit entry %d has version %d, outside [1,%d]: %w", i, a.Version, hi, ErrInvalidWrite)
			}
		}
		return nil
	}
	if len(w.Events) == 0 {
		return fmt.Errorf("%d audit entries but no events: %w", len(w.Audit), ErrInvalidWrite)
	}
	first, last := w.Events[0].Version, w.Events[len(w.Events)-1].Version
	var seen map[int64]bool
	if len(w.Audit) > 1 {
		seen = make(map[int64]bool, len(w.Audit))
	}
	for i, a := range w.Audit {
		if a.Version < first || a.Version > last {
			return fmt.Errorf("audit entry %d has version %d, not among event versions [%d,%d]: %w",
				i, a.Version, first, last, ErrInvalidWrite)
		}
		if seen != nil {
			if seen[a.Version] {
				return fmt.Errorf("audit entry %d repeats version %d: %w", i, a.Version, ErrInvalidWrite)
			}
			seen[a.Version] = true
		}
	}
	return nil
}

// applyActivate bumps the twin's epoch.
func (s *Store) applyActivate(b *pebble.Batch, o *op) error {
	if o.twinID == "" {
		return fmt.Errorf("empty twin id: %w", ErrInvalidWrite)
	}
	h, err := s.cachedHead(o.twinID)
	if err != nil {
		return err
	}
	f, err := s.cachedFence(o.twinID)
	if err != nil {
		return err
	}
	// Above every epoch seen or promised.
	h.Epoch = max(h.Epoch, f.Promised) + 1
	if err := b.Set(EncodeHeadKey(o.twinID), appendHeadValue(nil, h), nil); err != nil {
		return err
	}
	s.heads[o.twinID] = h
	o.head = h
	return nil
}

// cachedFence returns the twin's fence record from the cache, loading it
// lazily (the zero Fence when none was written). The committer is its
// only writer.
func (s *Store) cachedFence(twinID string) (Fence, error) {
	if f, ok := s.fences[twinID]; ok {
		return f, nil
	}
	f, err := s.readFence(twinID)
	if err != nil {
		return Fence{}, err
	}
	s.fences[twinID] = f
	return f, nil
}

// applyFence records a promise: accepted when the epoch is above every
// epoch seen (the log's, in the head) and promised, or when it repeats
// the promise already made to the same activation (a re-send).
func (s *Store) applyFence(b *pebble.Batch, o *op) error {
	if o.twinID == "" || o.fence.Promised == 0 {
		return fmt.Errorf("empty twin id or epoch 0: %w", ErrInvalidWrite)
	}
	h, err := s.cachedHead(o.twinID)
	if err != nil {
		return err
	}
	f, err := s.cachedFence(o.twinID)
	if err != nil {
		return err
	}
	o.state = FenceState{Head: h, Fence: f}
	switch want := o.fence; {
	case want.Promised == f.Promised && want.By == f.By && want.By != "":
		return nil // a re-send: already promised, already durable
	case want.Promised <= max(f.Promised, h.Epoch):
		s.stats.fenced.Add(1)
		s.metrics.fencedTotal.Inc()
		return fmt.Errorf("epoch %d is not above log epoch %d and epoch %d promised to %q: %w", want.Promised, h.Epoch, f.Promised, f.By, ErrFenced)
	}
	if err := b.Set(EncodeFenceKey(o.twinID), appendFenceValue(nil, o.fence), nil); err != nil {
		return err
	}
	s.fences[o.twinID] = o.fence
	o.state.Fence = o.fence
	return nil
}

// addBucketCounts adds the batch's history points to the per-bucket
// counters. Earlier batches are already applied, so reads see them.
func (s *Store) addBucketCounts(b *pebble.Batch, counts map[int64]int64) {
	for bucket, d := range counts {
		var n uint64
		key := EncodeHistoryStatsKey(bucket)
		v, closer, err := s.db.Get(key)
		switch {
		case err == nil:
			old, derr := decodeCount(v)
			_ = closer.Close()
			if derr != nil {
				s.log.Error("history bucket counter unreadable, resetting", "bucket", bucket, "err", derr)
			} else {
				n = old
			}
		case !errors.Is(err, pebble.ErrNotFound):
			s.log.Error("history bucket counter read failed, resetting", "bucket", bucket, "err", err)
		}
		n = uint64(max(int64(n)+d, 0))
		if err := b.Set(key, appendCount(nil, n), nil); err != nil {
			s.log.Error("history bucket counter write failed", "bucket", bucket, "err", err)
		}
	}
}

// syncEnd is the version a sync write leaves its log at.
func syncEnd(w *Write) int64 {
	if n := len(w.Events); n > 0 {
		return w.Events[n-1].Version
	}
	return w.Sync.After
}

// syncBase checks a sync write against the twin's head and returns the
// head its events follow: the log cut back to Sync.After, or the
// snapshot at After that replaces a shorter log.
func syncBase(w *Write, h Head) (Head, error) {
	after := w.Sync.After
	switch {
	case after < 0:
		return Head{}, fmt.Errorf("sync after version %d: %w", after, ErrInvalidWrite)
	case after > h.Version:
		// Beyond this log: only a snapshot at After can stand for it.
		if w.Snapshot == nil || w.Snapshot.Version != after {
			return Head{}, fmt.Errorf("sync after version %d beyond head version %d without a snapshot at %d: %w", after, h.Version, after, ErrInvalidWrite)
		}
		return Head{Version: after, Epoch: h.Epoch, SnapshotVersion: after}, nil
	case after < h.SnapshotVersion:
		// The journal before the snapshot may be gone: the state at After
		// must come with the write.
		if w.Snapshot == nil || w.Snapshot.Version != after {
			return Head{}, fmt.Errorf("sync after version %d below snapshot version %d without a snapshot at %d: %w", after, h.SnapshotVersion, after, ErrInvalidWrite)
		}
		return Head{Version: after, Epoch: h.Epoch, SnapshotVersion: after}, nil
	}
	return Head{Version: after, Epoch: h.Epoch, SnapshotVersion: h.SnapshotVersion}, nil
}

// cutLog deletes what a sync write replaces: the twin's journal and audit
// entries after base.Version (all of the journal when a snapshot replaces
// it) and its history points of versions after base.Version, found by
// scanning the twin's series in every history bucket. It runs in its own
// batch segment (commitOps), so the store shows every earlier point.
func (s *Store) cutLog(b *pebble.Batch, w *Write, h, base Head, counts map[int64]int64) error {
	twin := w.TwinID
	from := base.Version + 1
	if base.SnapshotVersion == base.Version && base.SnapshotVersion != h.SnapshotVersion {
		from = 0 // a snapshot replaces the log
		if h.SnapshotVersion > 0 {
			if err := b.Delete(EncodeSnapshotKey(twin, h.SnapshotVersion), nil); err != nil {
				return err
			}
		}
	}
	jp, ap := twinPrefix(PrefixJournal, twin), twinPrefix(PrefixAudit, twin)
	if err := b.DeleteRange(EncodeJournalKey(twin, from), prefixEnd(jp), nil); err != nil {
		return err
	}
	if err := b.DeleteRange(EncodeAuditKey(twin, base.Version+1), prefixEnd(ap), nil); err != nil {
		return err
	}
	if base.Version >= h.Version {
		return nil // nothing after the cut had history
	}
	return s.scanTwinHistory(twin, base.Version, func(k HistoryKey, key, _ []byte) error {
		counts[HourBucket(k.SourceTime)]--
		return b.Delete(key, nil)
	})
}

// scanTwinHistory calls fn with each history point of the twin whose
// version is above after (its decoded key, its raw key, its value), bucket
// by bucket in time order: it scans the twin's series in every hour
// bucket the bucket counters list (about 168 seeks with 7-day retention).
// The key and value are valid only during the call.
func (s *Store) scanTwinHistory(twin string, after int64, fn func(k HistoryKey, key, value []byte) error) error {
	stats := []byte{PrefixHistoryStats}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: stats, UpperBound: prefixEnd(stats)})
	if err != nil {
		return err
	}
	var buckets []int64
	for it.First(); it.Valid(); it.Next() {
		if bucket, err := DecodeHistoryStatsKey(it.Key()); err == nil {
			buckets = append(buckets, bucket)
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	for _, bucket := range buckets {
		p := AppendString(historyBucketPrefix(bucket), twin)
		hit, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return err
		}
		for hit.First(); hit.Valid(); hit.Next() {
			k, err := DecodeHistoryKey(hit.Key())
			if err != nil || k.TwinID != twin || k.Version <= after {
				continue
			}
			if err := fn(k, hit.Key(), hit.Value()); err != nil {
				hit.Close()
				return err
			}
		}
		if err := errors.Join(hit.Error(), hit.Close()); err != nil {
			return err
		}
	}
	return nil
}
