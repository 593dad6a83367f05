// Package persistence is a node's durable storage: one Pebble store holding
// each twin's journal of events, its latest snapshot, its head (latest
// version and activation epoch, for fencing), per-property history, its
// audit trail, and checkpoints for backup and restore. Values are opaque
// bytes from the caller (the actors package encodes protobuf); persistence
// adds framing.
//
// # Writes and durability
//
// Writes go through one committer goroutine (group commit). Submit queues a
// Write on a channel of capacity 2*MaxCommitBatch and returns; when the
// channel is full Submit blocks (back-pressure). The committer drains up to
// MaxCommitBatch operations, validates each against an in-memory cache of
// twin heads (it is the only writer of heads), adds the valid ones to one
// Pebble batch and applies it with ApplyNoSyncWait; a syncer goroutine then
// waits for the batch's WAL fsync (Batch.SyncWait) and calls the done
// callbacks in submission order. While one batch's fsync is in flight the
// committer builds and applies the next one, which Pebble's WAL writer syncs
// as soon as the previous fsync ends (at most two batches in flight). done(nil) therefore always means
// "fsynced". A rejected Write (ErrFenced, ErrVersionGap, ErrInvalidWrite)
// fails alone. If a commit fails (an I/O error), the store fails every later
// write with ErrFailed until it is reopened, because its in-memory heads may
// no longer match the disk.
//
// Reads (Head, LoadSnapshot, ReadJournal, ReadHistory, ReadAudit) go
// straight to Pebble and may observe a batch that is applied but not yet
// synced.
//
// # Fencing
//
// Activate bumps a twin's epoch (newest seen or promised + 1) with a
// synced write: the head's epoch is the twin's log epoch. Fence records a
// promise of an epoch above the log epoch and every earlier promise (the
// replicated cluster's activations). A Write carrying an epoch below the
// log epoch or a promise fails with ErrFenced. A plain Write must carry
// the log epoch itself; a newer activation's first Write is a sync write
// (Write.Sync: the log cut back to a version, or replaced by a snapshot,
// then the Write's events), which makes its epoch the log epoch; a plain
// Write of a newer epoch fails with ErrNeedsSync.
//
// # Key layout
//
// Every key starts with a one-byte prefix naming its key space. Twin ids and
// property names are encoded order-preserving and prefix-free (0x00 becomes
// 0x00 0xFF, the string ends with 0x00 0x01, as in CockroachDB); versions
// are 8-byte big-endian; times and buckets are 8-byte big-endian with the
// sign bit flipped. Every value starts with the format version byte (1).
//
//	prefix key                                              value                                  writer
//	0x01   0x01 "format"                                    store format version (uvarint)         Open (new store)
//	0x01   0x01 "storeid"                                   16 random bytes (Store.ID)             Open (when absent)
//	0x01   0x01 NAME                                        the caller's bytes                     PutMeta (e.g. "roster")
//	0x02   0x02 twin                                        1 | version | epoch | snapshot version committer (every write, Activate)
//	0x03   0x03 twin version                                1 | epoch (uvarint) | event bytes      committer
//	0x04   0x04 twin version                                1 | snapshot bytes                     committer; one key per twin
//	0x05   0x05 hour-bucket twin property source-time ver   1 | point bytes                        committer
//	0x06   reserved: compressed per-property history blocks
//	0x07   0x07 hour-bucket                                 1 | points written (uvarint)           committer
//	0x08   0x08 connector sequence                          1 | batch bytes                        Outbox (edge store-and-forward)
//	0x09   0x09 twin version                                1 | audit bytes                        committer, with the event
//	0x0A   0x0A twin                                        1 | due (8 bytes, unix ns)             committer; the node's wake schedule
//	0x0B   0x0B twin                                        1 | promised epoch | roster version | len | promiser   committer (Fence)
//
// Journal and snapshot keys are (twin, version) so a replica can ship and
// compare them; the head answers "latest version and epoch of twin X" with
// one Get and one seek to the twin's last journal key (the head key is
// rewritten only when the epoch or snapshot changes, so an ordinary update
// writes its journal entry and history points and nothing else). A new snapshot deletes the previous snapshot key and the journal
// entries older than the previous snapshot, keeping one snapshot interval of
// tail for replicas catching up. History is bucketed by hour first, so
// retention drops whole buckets with one DeleteRange, and a read of (twin,
// property, [from,to)) is one seek per non-empty bucket, found from the
// bucket counters (0x07). Audit keys (0x09) are (twin, version) like
// journal keys, so an entry names its event, but audit entries are deleted
// neither with the journal tail nor by history retention: they stay as long
// as the twin is declared. Wake keys (0x0A) hold each twin's next due time
// (a rule window ending, a shelve running out, a command deadline), so that
// a node that restarts wakes the twins whose time comes while nothing
// arrives for them. See docs/storage.md.
//
// # Concurrency
//
// All Store methods are safe for concurrent use. Submit's done callback
// runs on the syncer goroutine and must not block. The fn of ReadJournal,
// ReadHistory and ReadAudit runs on the caller's goroutine and owns the
// bytes it gets.
// Close is idempotent: it stops intake, commits what is queued, stops the
// goroutines (committer, syncer, retention) and closes Pebble.
package persistence
