package persistence

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults used by DefaultConfig and by Open for zero fields.
const (
	DefaultCacheSize         int64  = 256 << 20
	DefaultMemTableSize      uint64 = 128 << 20
	DefaultHistoryRetention         = 7 * 24 * time.Hour
	DefaultRetentionInterval        = time.Hour
	DefaultMaxCommitBatch           = 4096
)

// Config configures a Store.
type Config struct {
	// Dir is the data directory. Required. Created if missing.
	Dir string
	// FS is the file system; nil means vfs.Default. Tests pass
	// vfs.NewStrictMem() or an errorfs wrapper.
	FS vfs.FS
	// CacheSize is the Pebble block cache size in bytes. Default 256 MiB.
	CacheSize int64
	// MemTableSize is the size of one Pebble memtable in bytes. Default 128 MiB.
	MemTableSize uint64
	// HistoryRetention is how long history points are kept, measured from
	// their source time against the wall clock. 0 keeps history forever.
	// DefaultConfig sets 7 days.
	HistoryRetention time.Duration
	// RetentionInterval is how often the retention goroutine prunes history
	// (wall time). Default 1h.
	RetentionInterval time.Duration
	// MaxCommitBatch is the maximum number of Writes grouped into one synced
	// Pebble batch. Default 4096. The submit queue holds 2*MaxCommitBatch
	// operations.
	MaxCommitBatch int
	// Logger receives the store's and Pebble's logs; nil discards them.
	Logger *slog.Logger
	// Registerer registers the store's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the production configuration for a store in dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:               dir,
		CacheSize:         DefaultCacheSize,
		MemTableSize:      DefaultMemTableSize,
		HistoryRetention:  DefaultHistoryRetention,
		RetentionInterval: DefaultRetentionInterval,
		MaxCommitBatch:    DefaultMaxCommitBatch,
	}
}

// Validate checks the configuration without touching the disk. Zero values
// of CacheSize, MemTableSize, RetentionInterval and MaxCommitBatch are
// valid and mean the default.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("cache size %d is negative", c.CacheSize))
	}
	if c.MemTableSize != 0 && c.MemTableSize < 1<<20 {
		errs = append(errs, fmt.Errorf("memtable size %d is below 1 MiB", c.MemTableSize))
	}
	if c.MemTableSize >= 4<<30 {
		errs = append(errs, fmt.Errorf("memtable size %d must be below 4 GiB", c.MemTableSize))
	}
	if c.HistoryRetention < 0 {
		errs = append(errs, fmt.Errorf("history retention %s is negative", c.HistoryRetention))
	}
	if c.RetentionInterval < 0 {
		errs = append(errs, fmt.Errorf("retention interval %s is negative", c.RetentionInterval))
	}
	if c.MaxCommitBatch < 0 {
		errs = append(errs, fmt.Errorf("max commit batch %d is negative", c.MaxCommitBatch))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("persistence: invalid config: %w", err)
	}
	return nil
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = DefaultRetentionInterval
	}
	if c.MaxCommitBatch == 0 {
		c.MaxCommitBatch = DefaultMaxCommitBatch
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// pebbleOptions tunes Pebble for this workload: a stream of small synced
// group commits (journal + head + history), few point reads (heads on first
// activation), short range scans (journal tail replay, history ranges) and
// bulk range deletions (journal truncation, history retention). Pebble's
// defaults (8 MiB cache, 4 MiB memtable, one compaction) are sized for
// embedding in tests, not for a node ingesting ~100k values/s.
func pebbleOptions(c Config, cache *pebble.Cache) *pebble.Options {
	o := &pebble.Options{
		FS: c.FS,
		// Block cache shared by all levels. History range reads and journal
		// replays are served from it; 256 MiB holds several hours of recent
		// history blocks for a medium plant.
		Cache: cache,
		// Large memtables absorb the write stream; fewer, larger flushes mean
		// fewer L0 files and less write amplification. 128 MiB also sets the
		// large-batch threshold (MemTableSize/2) far above our group commits.
		MemTableSize: c.MemTableSize,
		// Allow up to 4 memtables (one active, three flushing/queued) before
		// stalling writes: a slow flush during a burst delays commits instead
		// of stopping them.
		MemTableStopWritesThreshold: 4,
		// Let L0 collect 8 sublevels before compacting it into Lbase. Journal
		// and history keys arrive in twin order, not time order, so every
		// flushed file overlaps all of Lbase: compacting at 2 sublevels
		// rewrote Lbase for every two flushes and cost a fifth of the CPU
		// under sustained ingest (sustained 60 s rate fell from ~95k to
		// ~65k updates/s); at 8 it stays near the initial rate. Reads touch
		// a few more L0 files in exchange.
		L0CompactionThreshold: 8,
		// Stop writes only at 36 L0 sublevels (default 12). A write stall
		// blocks every twin's acknowledgements; temporarily higher read
		// amplification is the cheaper failure mode for this workload.
		L0StopWritesThreshold: 36,
		// Base level sized to a few memtables so L0->Lbase compactions are not
		// dwarfed by Lbase itself.
		LBaseMaxBytes: 512 << 20,
		// More than one compaction when L0 or compaction debt builds up; the
		// committer needs CPU too, so at most half the cores (minimum 2 so a
		// long bottom-level compaction cannot starve L0).
		MaxConcurrentCompactions: func() int { return max(2, runtime.NumCPU()/2) },
		// Smooth out sstable writeback: sync every 1 MiB instead of one large
		// fsync at the end of each file, which would stall the WAL fsyncs that
		// acknowledge commits.
		BytesPerSync: 1 << 20,
		// The WAL is fsynced by every group commit; background WAL syncs would
		// only add fsyncs.
		WALBytesPerSync: 0,
		// No minimum sync interval: the committer already groups writes and
		// pipelines batches, and a minimum interval would add its full length
		// to every acknowledgement.
		WALMinSyncInterval: func() time.Duration { return 0 },
		// Sstables are opened lazily; history scans over days touch many files.
		MaxOpenFiles: 5000,
		// Pin the on-disk format explicitly so upgrading Pebble never ratchets
		// the format silently (a ratchet would prevent a downgrade).
		FormatMajorVersion: pebble.FormatVirtualSSTables,
		Logger:             pebbleLogger{log: c.Logger},
	}
	// Start the second concurrent compaction after 4 L0 sublevels instead of
	// 10: on 2 cores we would rather compact early than fall behind.
	o.Experimental.L0CompactionConcurrency = 4
	// ... or after 256 MiB of compaction debt (default 1 GiB).
	o.Experimental.CompactionDebtConcurrency = 256 << 20

	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		l := &o.Levels[i]
		// 32 KiB data blocks: history and journal reads are scans, where
		// bigger blocks compress better and need fewer index entries.
		l.BlockSize = 32 << 10
		// Two-level index once an index block passes 256 KiB, so large
		// bottom-level files do not pin one huge index block in the cache.
		l.IndexBlockSize = 256 << 10
		// Bloom filters (10 bits/key, ~1% false positives) on every level:
		// head lookups for twins seen for the first time miss, and without a
		// filter each miss reads a block on every level.
		l.FilterPolicy = bloom.FilterPolicy(10)
		l.FilterType = pebble.TableFilter
		// Snappy everywhere: cheap on CPU (2 cores), and the caller's values
		// are already compact protobuf.
		l.Compression = pebble.SnappyCompression
		// 4 MiB files in L0 doubling per level up to 64 MiB: small files keep
		// compactions granular and let range deletions (retention) drop whole
		// files; capping the size bounds the work of one compaction.
		l.TargetFileSize = min(int64(4<<20)<<i, 64<<20)
	}
	o.EventListener = &pebble.EventListener{
		BackgroundError: func(err error) {
			c.Logger.Error("pebble background error", "err", err)
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			c.Logger.Warn("pebble write stall", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			c.Logger.Info("pebble write stall ended")
		},
	}
	return o
}

// pebbleLogger adapts slog to Pebble's logger. Pebble calls Fatalf only on
// broken invariants or when its commit pipeline cannot continue, and
// continues with a broken state if Fatalf returns; so Fatalf logs and
// panics (Pebble's default logger exits the process instead).
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble", "msg", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble fatal", "msg", msg)
	panic("persistence: pebble fatal: " + msg)
}
