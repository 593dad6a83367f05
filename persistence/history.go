package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"
)

// ReadHistory calls fn for each history point of the twin's property with
// source time in [from, to), ordered by source time, ties by version. fn
// owns the point. It reads one seek per non-empty hour bucket, found from
// the bucket counters. It stops at fn's first error and returns it
// unwrapped.
func (s *Store) ReadHistory(twinID, property string, from, to int64, fn func(HistoryPoint) error) error {
	if from >= to {
		return nil
	}
	if err := s.acquire(); err != nil {
		return fmt.Errorf("persistence: read history of twin %s property %s: %w", twinID, property, err)
	}
	defer s.release()
	wrap := func(err error) error {
		return fmt.Errorf("persistence: read history of twin %s property %s in [%d,%d): %w", twinID, property, from, to, err)
	}

	// Non-empty buckets in range, from their counters.
	buckets, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: EncodeHistoryStatsKey(HourBucket(from)),
		UpperBound: prefixEnd(EncodeHistoryStatsKey(HourBucket(to - 1))),
	})
	if err != nil {
		return wrap(err)
	}
	defer buckets.Close()
	points, err := s.db.NewIter(nil)
	if err != nil {
		return wrap(err)
	}
	defer points.Close()

	for valid := buckets.First(); valid; valid = buckets.Next() {
		bucket, err := DecodeHistoryStatsKey(buckets.Key())
		if err != nil {
			return wrap(fmt.Errorf("bucket counter key %x: %w: %w", buckets.Key(), ErrCorrupt, err))
		}
		series := historySeriesPrefix(bucket, twinID, property)
		lower := appendOrderedInt64(append([]byte(nil), series...), from)
		upper := appendOrderedInt64(append([]byte(nil), series...), to)
		points.SetBounds(lower, upper)
		for ok := points.First(); ok; ok = points.Next() {
			p, err := decodeHistoryPoint(points.Key(), points.Value(), len(series), property)
			if err != nil {
				return wrap(err)
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		if err := points.Error(); err != nil {
			return wrap(err)
		}
	}
	if err := buckets.Error(); err != nil {
		return wrap(err)
	}
	return nil
}

// decodeHistoryPoint decodes the time and version that follow the series
// prefix (of length n) in key, and the value.
func decodeHistoryPoint(key, value []byte, n int, property string) (HistoryPoint, error) {
	if len(key) != n+16 {
		return HistoryPoint{}, fmt.Errorf("key %x: %w", key, ErrCorrupt)
	}
	t, rest, _ := decodeOrderedInt64(key[n:])
	version, _, err := decodeVersion(rest)
	if err != nil {
		return HistoryPoint{}, fmt.Errorf("key %x: %w: %w", key, ErrCorrupt, err)
	}
	data, err := decodePlainValue(value)
	if err != nil {
		return HistoryPoint{}, fmt.Errorf("point at %d version %d (key %x): %w", t, version, key, err)
	}
	return HistoryPoint{Property: property, SourceTime: t, Version: version, Data: clone(data)}, nil
}

// PruneHistory drops history older than before (Unix nanoseconds). History
// is dropped in whole hour buckets: every bucket that ends at or before
// `before` is deleted with one range deletion, so points in the bucket
// holding `before` stay until a later prune (at most one bucket more than
// asked is kept). deleted counts the points written into the dropped
// buckets. It runs through the committer, so it is ordered with writes.
func (s *Store) PruneHistory(before int64) (deleted int, err error) {
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	s.enqueue(context.Background(), &op{kind: opPrune, before: before, pruned: func(n int, err error) {
		ch <- result{n, err}
	}})
	r := <-ch
	return r.n, r.err
}

// applyPrune adds the deletion of every history bucket before
// HourBucket(before) to b and returns the number of points they held.
func (s *Store) applyPrune(b *pebble.Batch, before int64) (int, error) {
	end := HourBucket(before)
	statsLower, statsUpper := []byte{PrefixHistoryStats}, EncodeHistoryStatsKey(end)
	histLower, histUpper := []byte{PrefixHistory}, historyBucketPrefix(end)

	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: statsLower, UpperBound: statsUpper})
	if err != nil {
		return 0, err
	}
	var n uint64
	found := false
	for valid := it.First(); valid; valid = it.Next() {
		found = true
		c, err := decodeCount(it.Value())
		if err != nil {
			s.log.Error("history bucket counter unreadable", "key", fmt.Sprintf("%x", it.Key()), "err", err)
			continue
		}
		n += c
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, err
	}
	if !found {
		// Points without a counter should not exist; check so that a lost
		// counter cannot keep history forever.
		hit, err := s.db.NewIter(&pebble.IterOptions{LowerBound: histLower, UpperBound: histUpper})
		if err != nil {
			return 0, err
		}
		found = hit.First()
		if err := errors.Join(hit.Error(), hit.Close()); err != nil {
			return 0, err
		}
	}
	if !found {
		return 0, nil
	}
	if err := b.DeleteRange(histLower, histUpper, nil); err != nil {
		return 0, err
	}
	if err := b.DeleteRange(statsLower, statsUpper, nil); err != nil {
		return 0, err
	}
	return int(n), nil
}

// runRetention prunes history older than now-HistoryRetention at start and
// then every RetentionInterval of wall time (retention is an operational
// timer, not domain time). It stops when ctx is cancelled.
func (s *Store) runRetention(ctx context.Context) {
	defer close(s.retentionDone)
	if s.cfg.HistoryRetention <= 0 {
		return
	}
	prune := func() {
		before := time.Now().Add(-s.cfg.HistoryRetention).UnixNano()
		n, err := s.PruneHistory(before)
		switch {
		case errors.Is(err, ErrClosed):
		case err != nil:
			s.log.Error("history retention failed", "before", before, "err", err)
		case n > 0:
			s.log.Info("history pruned", "before", before, "points", n)
		}
	}
	prune()
	t := time.NewTicker(s.cfg.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			prune()
		}
	}
}

// ReadHistoryAfter calls fn with every history point of the twin whose
// version is above after, in hour buckets in time order (within a bucket
// by property, source time, version): what a replica catching up from
// version after lacks (docs/cluster-design.md §3.5). It scans the twin's
// series in every bucket retained.
func (s *Store) ReadHistoryAfter(twinID string, after int64, fn func(HistoryPoint) error) error {
	err := s.scanTwinHistory(twinID, after, func(k HistoryKey, _, value []byte) error {
		data, err := decodePlainValue(value)
		if err != nil {
			return fmt.Errorf("history point of %s %s at %d: %w", twinID, k.Property, k.SourceTime, err)
		}
		return fn(HistoryPoint{Property: k.Property, SourceTime: k.SourceTime, Version: k.Version, Data: clone(data)})
	})
	if err != nil {
		return fmt.Errorf("persistence: read history of twin %s after version %d: %w", twinID, after, err)
	}
	return nil
}
