package persistence

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
)

// Benchmarks compare the group committer against the raw ceiling: one
// synced Pebble batch holding the same keys and values. Run with
//
//	go test ./persistence/ -run '^$' -bench 'Commit|RawSyncedBatch' -benchtime 3s
//
// Both use t.TempDir() on the real disk, so they measure fsync.

const benchEventSize = 128

var benchWritesPerBatch = []int{1, 16, 256, 4096}

func benchTwins(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("plant-1/line-%d/pump-%d", i%16, i)
	}
	return ids
}

// BenchmarkCommit submits n Writes (one event each, distinct twins) per
// iteration and waits for all of them; the committer groups and pipelines.
func BenchmarkCommit(b *testing.B) {
	for _, n := range benchWritesPerBatch {
		b.Run(fmt.Sprintf("writes=%d", n), func(b *testing.B) {
			cfg := DefaultConfig(b.TempDir())
			cfg.HistoryRetention = 0
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ids := benchTwins(n)
			data := make([]byte, benchEventSize)
			writes := make([]Write, n)
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				errSet error
			)
			done := func(err error) {
				if err != nil {
					mu.Lock()
					errSet = err
					mu.Unlock()
				}
				wg.Done()
			}
			version := int64(0)
			b.ReportAllocs()
			b.SetBytes(int64(n * benchEventSize))
			start := time.Now()
			for b.Loop() {
				version++
				wg.Add(n)
				for i := range writes {
					writes[i] = Write{TwinID: ids[i], Events: []Entry{{Version: version, Data: data}}}
					s.Submit(&writes[i], done)
				}
				wg.Wait()
				if errSet != nil {
					b.Fatal(errSet)
				}
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(int64(n)*version)/elapsed.Seconds(), "events/s")
			st := s.Stats()
			b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
		})
	}
}

// BenchmarkRawSyncedBatch writes the same journal and head keys and values
// as BenchmarkCommit in one synced Pebble batch per iteration: the ceiling
// for the committer.
func BenchmarkRawSyncedBatch(b *testing.B) {
	for _, n := range benchWritesPerBatch {
		b.Run(fmt.Sprintf("writes=%d", n), func(b *testing.B) {
			cfg := DefaultConfig(b.TempDir()).withDefaults()
			cache := pebble.NewCache(cfg.CacheSize)
			defer cache.Unref()
			db, err := pebble.Open(cfg.Dir, pebbleOptions(cfg, cache))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ids := benchTwins(n)
			data := make([]byte, benchEventSize)
			version := int64(0)
			b.ReportAllocs()
			b.SetBytes(int64(n * benchEventSize))
			start := time.Now()
			for b.Loop() {
				version++
				batch := db.NewBatch()
				for _, id := range ids {
					_ = batch.Set(EncodeJournalKey(id, version), appendJournalValue(nil, 0, data), nil)
					_ = batch.Set(EncodeHeadKey(id), appendHeadValue(nil, Head{Version: version}), nil)
				}
				if err := batch.Commit(pebble.Sync); err != nil {
					b.Fatal(err)
				}
				_ = batch.Close()
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(int64(n)*version)/elapsed.Seconds(), "events/s")
		})
	}
}

// BenchmarkCommitStream runs closed-loop clients (each its own twin, one
// Commit at a time, like twin actors) with and without pipelining (building
// the next batch while the previous one's WAL sync is in flight).
func BenchmarkCommitStream(b *testing.B) {
	for _, clients := range []int{16, 256} {
		for _, mode := range []string{"pipelined", "serial"} {
			b.Run(fmt.Sprintf("clients=%d/%s", clients, mode), func(b *testing.B) {
				cfg := DefaultConfig(b.TempDir())
				cfg.HistoryRetention = 0
				s, err := Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				// Set before the first op; the committer reads it after the
				// queue receive, which orders it.
				s.serialCommits = mode == "serial"
				ids := benchTwins(clients)
				data := make([]byte, benchEventSize)
				b.ReportAllocs()
				start := time.Now()
				var total int64
				for b.Loop() {
					// One round: every client commits 8 events in sequence.
					var wg sync.WaitGroup
					for _, id := range ids {
						wg.Add(1)
						go func() {
							defer wg.Done()
							h, _ := s.Head(id)
							for v := h.Version + 1; v <= h.Version+8; v++ {
								if err := s.Commit(b.Context(), &Write{TwinID: id, Events: []Entry{{Version: v, Data: data}}}); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
					total += int64(clients * 8)
				}
				b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
				st := s.Stats()
				b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
			})
		}
	}
}
