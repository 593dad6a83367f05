package persistence

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
)

// outboxNameMax is the longest outbox name accepted.
const outboxNameMax = 64

// OutboxPolicy says what Append does when the outbox is full.
type OutboxPolicy uint8

const (
	// OutboxDropOldest deletes the oldest entries to make room (counted by
	// Outbox.Dropped).
	OutboxDropOldest OutboxPolicy = iota + 1
	// OutboxRefuseNewest refuses the new entry with ErrOutboxFull (counted
	// by Outbox.Refused).
	OutboxRefuseNewest
)

// ErrOutboxFull refuses an entry that does not fit in an outbox: under
// OutboxRefuseNewest when the outbox is full, and under either policy when
// the entry alone is larger than the outbox.
var ErrOutboxFull = errors.New("persistence: outbox full")

// Outbox is one connector's durable FIFO of opaque entries. Safe for
// concurrent use.
//
// Entries live under 0x08 | name | sequence (8 bytes big-endian), valued
// 1 | data. Sequences start at 1 and grow by one per Append, also across
// reopen: the key at sequence 0 records the highest sequence deleted (by Ack
// or by dropping), so an outbox emptied by Ack still continues after its
// last sequence. Every change is one synced Pebble batch, and deletions are
// range deletions of a prefix of the sequence, so the live entries are
// always one contiguous range of sequences, also after a crash.
//
// Appends are serialized: each one holds the outbox's lock through its
// synced write (one fsync per Append; Pebble groups the fsyncs of
// concurrent writers to other outboxes and the committer). Peek does not
// take the lock: it runs while an Append waits for its fsync, and does not
// see that entry until the Append returns. Open at most one Outbox per name
// on a Store: two would assign the same sequences.
type Outbox struct {
	s        *Store
	name     string
	prefix   []byte // 0x08 | name
	maxBytes int64
	policy   OutboxPolicy

	mu struct {
		sync.Mutex
		first  uint64  // oldest live sequence; == next when empty
		next   uint64  // sequence of the next Append
		sizes  []int64 // data sizes of sequences first..next-1
		failed error   // first write error; later writes fail with ErrFailed
	}

	// Read without the lock; written under mu after each synced write.
	first   atomic.Uint64 // mirror of mu.first, Peek's lower bound
	next    atomic.Uint64 // mirror of mu.next, Peek's upper bound
	length  atomic.Int64
	bytes   atomic.Int64
	dropped atomic.Int64
	refused atomic.Int64
}

// Outbox opens (creating or recovering) the outbox called name (a connector
// name, [A-Za-z0-9._-]{1,64}) bounded to maxBytes (> 0) of entry data.
// Opening recovers the sequence range, count and bytes by scanning its keys
// once. Bytes count the callers' data, not keys or framing.
func (s *Store) Outbox(name string, maxBytes int64, policy OutboxPolicy) (*Outbox, error) {
	if !validOutboxName(name) {
		return nil, fmt.Errorf("persistence: open outbox %q: name must match [A-Za-z0-9._-]{1,%d}", name, outboxNameMax)
	}
	if maxBytes <= 0 {
		return nil, fmt.Errorf("persistence: open outbox %s: max bytes %d, must be > 0", name, maxBytes)
	}
	if policy != OutboxDropOldest && policy != OutboxRefuseNewest {
		return nil, fmt.Errorf("persistence: open outbox %s: unknown policy %d", name, uint8(policy))
	}
	if err := s.acquire(); err != nil {
		return nil, fmt.Errorf("persistence: open outbox %s: %w", name, err)
	}
	defer s.release()

	o := &Outbox{
		s:        s,
		name:     name,
		prefix:   twinPrefix(PrefixOutbox, name),
		maxBytes: maxBytes,
		policy:   policy,
	}
	if err := o.recover(); err != nil {
		return nil, fmt.Errorf("persistence: open outbox %s: %w", name, err)
	}
	return o, nil
}

// validOutboxName reports whether name matches [A-Za-z0-9._-]{1,64}.
func validOutboxName(name string) bool {
	if len(name) == 0 || len(name) > outboxNameMax {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// recover scans the outbox's keys once and sets the sequence range, the
// sizes, the count and the bytes.
func (o *Outbox) recover() error {
	it, err := o.s.db.NewIter(&pebble.IterOptions{LowerBound: o.prefix, UpperBound: prefixEnd(o.prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	var (
		floor uint64 // highest sequence deleted
		first uint64 // oldest live sequence, 0 if none
		last  uint64
		sizes []int64
		total int64
	)
	for valid := it.First(); valid; valid = it.Next() {
		key := it.Key()
		seq, err := o.decodeKey(key)
		if err != nil {
			return err
		}
		if seq == 0 {
			if floor, err = decodeCount(it.Value()); err != nil {
				return fmt.Errorf("floor (key %x): %w", key, err)
			}
			continue
		}
		if first != 0 && seq != last+1 {
			return fmt.Errorf("sequence %d follows %d (key %x): %w", seq, last, key, ErrCorrupt)
		}
		data, err := decodePlainValue(it.Value())
		if err != nil {
			return fmt.Errorf("sequence %d (key %x): %w", seq, key, err)
		}
		if first == 0 {
			first = seq
		}
		last = seq
		sizes = append(sizes, int64(len(data)))
		total += int64(len(data))
	}
	if err := it.Error(); err != nil {
		return err
	}
	if first != 0 && first <= floor {
		return fmt.Errorf("sequence %d not above the deleted floor %d: %w", first, floor, ErrCorrupt)
	}
	next := max(floor, last) + 1
	if first == 0 {
		first = next
	}
	o.mu.first, o.mu.next, o.mu.sizes = first, next, sizes
	o.first.Store(first)
	o.next.Store(next)
	o.length.Store(int64(len(sizes)))
	o.bytes.Store(total)
	return nil
}

// key returns 0x08 | name | seq (8 bytes big-endian).
func (o *Outbox) key(seq uint64) []byte {
	return appendUint64(append(make([]byte, 0, len(o.prefix)+8), o.prefix...), seq)
}

// decodeKey returns the sequence of one of the outbox's keys.
func (o *Outbox) decodeKey(key []byte) (uint64, error) {
	return decodeOutboxSeq(o.prefix, key)
}

// decodeOutboxSeq returns the sequence of key, which must be prefix
// followed by 8 bytes.
func decodeOutboxSeq(prefix, key []byte) (uint64, error) {
	if len(key) != len(prefix)+8 || string(key[:len(prefix)]) != string(prefix) {
		return 0, fmt.Errorf("key %x: %w", key, ErrCorrupt)
	}
	seq, _, err := decodeUint64(key[len(prefix):])
	return seq, err
}

// Append stores data as the newest entry with a synced write and returns
// its sequence number and how many old entries were dropped to make room
// (OutboxDropOldest). An entry larger than maxBytes is refused with
// ErrOutboxFull under either policy. Drop and append happen in one batch.
// Append does not retain data. After a storage error, Append and Ack fail
// with ErrFailed until the store is reopened.
func (o *Outbox) Append(data []byte) (seq uint64, dropped int, err error) {
	size := int64(len(data))
	if size > o.maxBytes {
		o.refused.Add(1)
		return 0, 0, fmt.Errorf("persistence: append %d bytes to outbox %s: entry larger than the outbox (%d bytes): %w",
			size, o.name, o.maxBytes, ErrOutboxFull)
	}
	if err := o.s.acquire(); err != nil {
		return 0, 0, fmt.Errorf("persistence: append %d bytes to outbox %s: %w", size, o.name, err)
	}
	defer o.s.release()
	o.mu.Lock()
	defer o.mu.Unlock()
	wrap := func(err error) error {
		return fmt.Errorf("persistence: append %d bytes to outbox %s: %w", size, o.name, err)
	}
	if o.mu.failed != nil {
		return 0, 0, wrap(fmt.Errorf("%w: %w", ErrFailed, o.mu.failed))
	}

	// Entries to drop: the fewest oldest ones that make room.
	total := o.bytes.Load()
	var freed int64
	for total-freed+size > o.maxBytes {
		if o.policy == OutboxRefuseNewest {
			o.refused.Add(1)
			return 0, 0, wrap(fmt.Errorf("%d of %d bytes used: %w", total, o.maxBytes, ErrOutboxFull))
		}
		freed += o.mu.sizes[dropped] // size <= maxBytes, so this ends before the sizes do
		dropped++
	}

	seq = o.mu.next
	b := o.s.db.NewBatch()
	defer b.Close()
	if dropped > 0 {
		if err := o.deleteThrough(b, o.mu.first+uint64(dropped)-1); err != nil {
			return 0, 0, wrap(err)
		}
	}
	if err := b.Set(o.key(seq), appendPlainValue(make([]byte, 0, 1+len(data)), data), nil); err != nil {
		return 0, 0, wrap(err)
	}
	if err := o.commit(b); err != nil {
		return 0, 0, wrap(err)
	}

	o.mu.sizes = append(o.mu.sizes[dropped:], size)
	o.mu.first += uint64(dropped)
	o.mu.next++
	o.first.Store(o.mu.first)
	o.next.Store(o.mu.next)
	o.length.Add(1 - int64(dropped))
	o.bytes.Add(size - freed)
	o.dropped.Add(int64(dropped))
	return seq, dropped, nil
}

// deleteThrough adds to b the deletion of the entries from the oldest
// through seq, and the floor key recording seq. The caller holds mu and
// checked first <= seq < next.
func (o *Outbox) deleteThrough(b *pebble.Batch, seq uint64) error {
	if err := b.DeleteRange(o.key(o.mu.first), o.key(seq+1), nil); err != nil {
		return err
	}
	return b.Set(o.key(0), appendCount(nil, seq), nil)
}

// commit applies b and waits for its WAL sync. It uses ApplyNoSyncWait and
// SyncWait like the committer: Pebble's Apply turns a failed WAL write or
// sync into a fatal error, SyncWait returns it. On failure the outbox
// refuses further writes, since Pebble may hold (and show) a batch the
// outbox's state does not. The caller holds mu.
func (o *Outbox) commit(b *pebble.Batch) error {
	err := o.s.db.ApplyNoSyncWait(b, pebble.Sync)
	if err == nil {
		err = b.SyncWait()
	}
	if err != nil {
		o.mu.failed = err
	}
	return err
}

// Peek calls fn for up to max oldest entries in order (fn must not retain
// data after returning; the slice may be reused). max <= 0 reads nothing.
// Peek sees only appends that have returned (are synced). fn runs on the
// caller's goroutine and may call Ack and Append. Peek stops at fn's first
// error and returns it unwrapped.
func (o *Outbox) Peek(max int, fn func(seq uint64, data []byte) error) error {
	if max <= 0 {
		return nil
	}
	if err := o.s.acquire(); err != nil {
		return fmt.Errorf("persistence: peek outbox %s: %w", o.name, err)
	}
	defer o.s.release()
	wrap := func(err error) error {
		return fmt.Errorf("persistence: peek outbox %s: %w", o.name, err)
	}
	// Entries below first (>= 1, past the floor key) are deleted: the lower
	// bound skips their tombstones. Entries from next on are not yet synced
	// (an Append waits for its fsync): the upper bound hides them.
	it, err := o.s.db.NewIter(&pebble.IterOptions{
		LowerBound: o.key(o.first.Load()),
		UpperBound: o.key(o.next.Load()),
	})
	if err != nil {
		return wrap(err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		key := it.Key()
		seq, err := o.decodeKey(key)
		if err != nil {
			return wrap(err)
		}
		data, err := decodePlainValue(it.Value())
		if err != nil {
			return wrap(fmt.Errorf("sequence %d (key %x): %w", seq, key, err))
		}
		if err := fn(seq, data); err != nil {
			return err
		}
		if n++; n == max {
			break
		}
	}
	if err := it.Error(); err != nil {
		return wrap(err)
	}
	return nil
}

// Ack deletes every entry with sequence <= seq (synced). Acking beyond the
// newest is fine; acking nothing new writes nothing.
func (o *Outbox) Ack(seq uint64) error {
	if err := o.s.acquire(); err != nil {
		return fmt.Errorf("persistence: ack outbox %s through %d: %w", o.name, seq, err)
	}
	defer o.s.release()
	o.mu.Lock()
	defer o.mu.Unlock()
	wrap := func(err error) error {
		return fmt.Errorf("persistence: ack outbox %s through %d: %w", o.name, seq, err)
	}
	if o.mu.failed != nil {
		return wrap(fmt.Errorf("%w: %w", ErrFailed, o.mu.failed))
	}
	through := min(seq, o.mu.next-1)
	if through < o.mu.first {
		return nil
	}
	b := o.s.db.NewBatch()
	defer b.Close()
	if err := o.deleteThrough(b, through); err != nil {
		return wrap(err)
	}
	if err := o.commit(b); err != nil {
		return wrap(err)
	}
	n := int(through - o.mu.first + 1)
	var freed int64
	for _, sz := range o.mu.sizes[:n] {
		freed += sz
	}
	o.mu.sizes = o.mu.sizes[n:]
	o.mu.first = through + 1
	o.first.Store(o.mu.first)
	o.length.Add(-int64(n))
	o.bytes.Add(-freed)
	return nil
}

// Len reports the number of entries in the outbox.
func (o *Outbox) Len() int { return int(o.length.Load()) }

// Bytes reports the data bytes of the entries in the outbox (at most
// maxBytes).
func (o *Outbox) Bytes() int64 { return o.bytes.Load() }

// Dropped counts the entries deleted by OutboxDropOldest since the outbox
// was opened.
func (o *Outbox) Dropped() int64 { return o.dropped.Load() }

// Refused counts the entries refused with ErrOutboxFull since the outbox
// was opened, including entries larger than the outbox.
func (o *Outbox) Refused() int64 { return o.refused.Load() }
