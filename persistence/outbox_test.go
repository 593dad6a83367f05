package persistence

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/google/go-cmp/cmp"
)

type outboxEntry struct {
	Seq  uint64
	Data string
}

func mustOutbox(t testing.TB, s *Store, name string, maxBytes int64, policy OutboxPolicy) *Outbox {
	t.Helper()
	o, err := s.Outbox(name, maxBytes, policy)
	if err != nil {
		t.Fatalf("Outbox(%s): %v", name, err)
	}
	return o
}

func mustAppend(t testing.TB, o *Outbox, data string) uint64 {
	t.Helper()
	seq, _, err := o.Append([]byte(data))
	if err != nil {
		t.Fatalf("Append(%q) to outbox %s: %v", data, o.name, err)
	}
	return seq
}

func mustAck(t testing.TB, o *Outbox, seq uint64) {
	t.Helper()
	if err := o.Ack(seq); err != nil {
		t.Fatalf("Ack(%d) on outbox %s: %v", seq, o.name, err)
	}
}

// peek returns up to max oldest entries, copying their data.
func peek(t testing.TB, o *Outbox, max int) []outboxEntry {
	t.Helper()
	var got []outboxEntry
	err := o.Peek(max, func(seq uint64, data []byte) error {
		got = append(got, outboxEntry{seq, string(data)})
		return nil
	})
	if err != nil {
		t.Fatalf("Peek(%d) on outbox %s: %v", max, o.name, err)
	}
	return got
}

// outboxState is what an outbox reports about itself.
type outboxState struct {
	Entries []outboxEntry
	Len     int
	Bytes   int64
	Dropped int64
	Refused int64
}

func stateOf(t testing.TB, o *Outbox) outboxState {
	t.Helper()
	return outboxState{peek(t, o, 1<<20), o.Len(), o.Bytes(), o.Dropped(), o.Refused()}
}

// outboxEntries returns the entries from..to with data "e<seq>".
func outboxEntries(from, to uint64) []outboxEntry {
	var out []outboxEntry
	for seq := from; seq <= to; seq++ {
		out = append(out, outboxEntry{seq, fmt.Sprintf("e%d", seq)})
	}
	return out
}

func dataBytes(entries []outboxEntry) int64 {
	var n int64
	for _, e := range entries {
		n += int64(len(e.Data))
	}
	return n
}

func TestOutboxAppendPeekAck(t *testing.T) {
	tests := []struct {
		name    string
		ack     uint64 // 0: no Ack
		peekMax int
		want    []outboxEntry
		wantLen int
		nextSeq uint64 // of an Append after the Ack
	}{
		{"peek all", 0, 10, outboxEntries(1, 5), 5, 6},
		{"peek some", 0, 2, outboxEntries(1, 2), 5, 6},
		{"peek none", 0, 0, nil, 5, 6},
		{"peek negative", 0, -1, nil, 5, 6},
		{"ack partial", 2, 10, outboxEntries(3, 5), 3, 6},
		{"ack partial peek one", 3, 1, outboxEntries(4, 4), 2, 6},
		{"ack all", 5, 10, nil, 0, 6},
		{"ack beyond newest", 100, 10, nil, 0, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, testConfig(t, nil))
			o := mustOutbox(t, s, "plc", 1<<20, OutboxRefuseNewest)
			for want := uint64(1); want <= 5; want++ {
				if seq := mustAppend(t, o, fmt.Sprintf("e%d", want)); seq != want {
					t.Fatalf("Append returned sequence %d, want %d", seq, want)
				}
			}
			if tc.ack != 0 {
				mustAck(t, o, tc.ack)
				mustAck(t, o, tc.ack) // again: a no-op
			}
			if diff := cmp.Diff(tc.want, peek(t, o, tc.peekMax)); diff != "" {
				t.Errorf("Peek(%d) (-want +got):\n%s", tc.peekMax, diff)
			}
			if o.Len() != tc.wantLen || o.Bytes() != int64(2*tc.wantLen) {
				t.Errorf("Len, Bytes = %d, %d, want %d, %d", o.Len(), o.Bytes(), tc.wantLen, 2*tc.wantLen)
			}
			if seq := mustAppend(t, o, "next"); seq != tc.nextSeq {
				t.Errorf("next Append returned sequence %d, want %d", seq, tc.nextSeq)
			}
		})
	}
}

// TestOutboxDrainInPeek acknowledges from inside Peek's callback, as a
// drainer does, and stops at the callback's error.
func TestOutboxDrainInPeek(t *testing.T) {
	s := mustOpen(t, testConfig(t, nil))
	o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	for seq := uint64(1); seq <= 5; seq++ {
		mustAppend(t, o, fmt.Sprintf("e%d", seq))
	}
	errStop := errors.New("stop")
	var got []outboxEntry
	err := o.Peek(10, func(seq uint64, data []byte) error {
		got = append(got, outboxEntry{seq, string(data)})
		if seq == 3 {
			return errStop
		}
		return o.Ack(seq)
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Peek = %v, want the callback's error", err)
	}
	if diff := cmp.Diff(outboxEntries(1, 3), got); diff != "" {
		t.Errorf("entries seen (-want +got):\n%s", diff)
	}
	want := outboxState{Entries: outboxEntries(3, 5), Len: 3, Bytes: 6}
	if diff := cmp.Diff(want, stateOf(t, o)); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

// TestOutboxReopen checks that content, Len and Bytes are recovered and
// that sequences continue after reopen, also when Ack emptied the outbox.
func TestOutboxReopen(t *testing.T) {
	cfg := testConfig(t, nil)
	s := mustOpen(t, cfg)
	o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	for seq := uint64(1); seq <= 5; seq++ {
		mustAppend(t, o, fmt.Sprintf("e%d", seq))
	}
	mustAck(t, o, 2)

	reopen := func() *Outbox {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = mustOpen(t, cfg)
		return mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	}
	o = reopen()
	want := outboxState{Entries: outboxEntries(3, 5), Len: 3, Bytes: 6}
	if diff := cmp.Diff(want, stateOf(t, o)); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	if seq := mustAppend(t, o, "e6"); seq != 6 {
		t.Errorf("Append after reopen returned sequence %d, want 6", seq)
	}

	// Emptied by Ack: the sequence still continues.
	mustAck(t, o, 6)
	o = reopen()
	if diff := cmp.Diff(outboxState{}, stateOf(t, o)); diff != "" {
		t.Errorf("after Ack of everything and reopen (-want +got):\n%s", diff)
	}
	if seq := mustAppend(t, o, "e7"); seq != 7 {
		t.Errorf("Append after emptying and reopen returned sequence %d, want 7", seq)
	}

	// Acking beyond the newest does not move the sequence.
	mustAck(t, o, 1000)
	o = reopen()
	if seq := mustAppend(t, o, "e8"); seq != 8 {
		t.Errorf("Append after Ack(1000) and reopen returned sequence %d, want 8", seq)
	}
}

func TestOutboxPolicies(t *testing.T) {
	type step struct {
		ack         uint64 // if set, Ack instead of Append
		data        string
		wantSeq     uint64
		wantDropped int
		wantErr     error
	}
	const maxBytes = 10
	fill := []step{
		{data: "1111", wantSeq: 1},
		{data: "222", wantSeq: 2},
		{data: "33", wantSeq: 3},
		{data: "4", wantSeq: 4}, // exactly full
	}
	oversized := strings.Repeat("x", maxBytes+1)
	tests := []struct {
		name   string
		policy OutboxPolicy
		steps  []step
		want   outboxState
	}{
		{
			name:   "drop oldest",
			policy: OutboxDropOldest,
			steps: append(fill[:len(fill):len(fill)],
				step{data: "5555", wantSeq: 5, wantDropped: 1},       // drops 1111
				step{data: "666666", wantSeq: 6, wantDropped: 3},     // drops 222, 33, 4
				step{data: oversized, wantErr: ErrOutboxFull},        // refused, nothing dropped
				step{data: "7777777777", wantSeq: 7, wantDropped: 2}, // the whole outbox
			),
			want: outboxState{
				Entries: []outboxEntry{{7, "7777777777"}},
				Len:     1, Bytes: 10, Dropped: 6, Refused: 1,
			},
		},
		{
			name:   "refuse newest",
			policy: OutboxRefuseNewest,
			steps: append(fill[:len(fill):len(fill)],
				step{data: "5", wantErr: ErrOutboxFull},
				step{data: oversized, wantErr: ErrOutboxFull},
				step{ack: 1},
				step{data: "5555", wantSeq: 5},
				step{data: "", wantSeq: 6}, // empty entries fit a full outbox
				step{data: "6", wantErr: ErrOutboxFull},
			),
			want: outboxState{
				Entries: []outboxEntry{{2, "222"}, {3, "33"}, {4, "4"}, {5, "5555"}, {6, ""}},
				Len:     5, Bytes: 10, Refused: 3,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, nil)
			s := mustOpen(t, cfg)
			o := mustOutbox(t, s, "plc", maxBytes, tc.policy)
			for i, st := range tc.steps {
				if st.ack != 0 {
					mustAck(t, o, st.ack)
					continue
				}
				before := stateOf(t, o)
				seq, dropped, err := o.Append([]byte(st.data))
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("step %d: Append(%q) error %v, want %v", i, st.data, err, st.wantErr)
				}
				if seq != st.wantSeq || dropped != st.wantDropped {
					t.Errorf("step %d: Append(%q) = %d, %d, want %d, %d", i, st.data, seq, dropped, st.wantSeq, st.wantDropped)
				}
				after := stateOf(t, o)
				if err != nil {
					before.Refused++
					if diff := cmp.Diff(before, after); diff != "" {
						t.Errorf("step %d: refused Append changed the outbox (-before +after):\n%s", i, diff)
					}
				}
				if after.Bytes > maxBytes {
					t.Errorf("step %d: Bytes() = %d > %d", i, after.Bytes, maxBytes)
				}
			}
			if diff := cmp.Diff(tc.want, stateOf(t, o)); diff != "" {
				t.Errorf("final state (-want +got):\n%s", diff)
			}

			// Drops are durable; the counters start again from zero.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, cfg)
			o = mustOutbox(t, s, "plc", maxBytes, tc.policy)
			want := tc.want
			want.Dropped, want.Refused = 0, 0
			if diff := cmp.Diff(want, stateOf(t, o)); diff != "" {
				t.Errorf("after reopen (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOutboxIsolation checks that outboxes do not see each other's entries,
// also when one name is a prefix of another.
func TestOutboxIsolation(t *testing.T) {
	cfg := testConfig(t, nil)
	s := mustOpen(t, cfg)
	names := []string{"plc", "plc-2", "plc.2", "pl", "PLC"}
	open := func() map[string]*Outbox {
		boxes := make(map[string]*Outbox)
		for _, name := range names {
			boxes[name] = mustOutbox(t, s, name, 1<<20, OutboxDropOldest)
		}
		return boxes
	}
	boxes := open()
	for i, name := range names {
		for j := 0; j <= i; j++ {
			mustAppend(t, boxes[name], fmt.Sprintf("%s-%d", name, j))
		}
	}
	mustAck(t, boxes["plc"], 1)
	mustAck(t, boxes["pl"], 1000)

	check := func(stage string, boxes map[string]*Outbox) {
		t.Helper()
		for i, name := range names {
			var want []outboxEntry
			for j := 0; j <= i; j++ {
				want = append(want, outboxEntry{uint64(j + 1), fmt.Sprintf("%s-%d", name, j)})
			}
			if name == "plc" || name == "pl" { // acknowledged
				want = nil
			}
			if diff := cmp.Diff(want, peek(t, boxes[name], 100)); diff != "" {
				t.Errorf("%s: outbox %s (-want +got):\n%s", stage, name, diff)
			}
			if boxes[name].Len() != len(want) {
				t.Errorf("%s: outbox %s: Len() = %d, want %d", stage, name, boxes[name].Len(), len(want))
			}
		}
	}
	check("open", boxes)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	check("reopened", open())
}

// TestOutboxCrashDurability acknowledges appends and acks, then crashes
// (drops everything not synced) and checks that all of them survived.
func TestOutboxCrashDurability(t *testing.T) {
	fs := vfs.NewStrictMem()
	cfg := testConfig(t, fs)
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	for seq := uint64(1); seq <= 20; seq++ {
		mustAppend(t, o, fmt.Sprintf("e%d", seq))
	}
	mustAck(t, o, 5) // the last write before the crash

	fs.SetIgnoreSyncs(true)
	_ = s.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	s = mustOpen(t, cfg)
	o = mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	entries := outboxEntries(6, 20)
	want := outboxState{Entries: entries, Len: len(entries), Bytes: dataBytes(entries)}
	if diff := cmp.Diff(want, stateOf(t, o)); diff != "" {
		t.Errorf("after crash (-want +got):\n%s", diff)
	}
	if seq := mustAppend(t, o, "e21"); seq != 21 {
		t.Errorf("Append after crash returned sequence %d, want 21", seq)
	}
}

// TestOutboxSyncError fails a WAL sync under Append and checks that the
// Append fails, later writes fail with ErrFailed, and after a crash the
// outbox holds what was acknowledged.
func TestOutboxSyncError(t *testing.T) {
	mem := vfs.NewStrictMem()
	injected := errors.New("injected")
	var armed atomic.Bool
	fs := &syncGateFS{FS: mem}
	fs.setHook(func() error {
		if armed.Load() {
			return injected
		}
		return nil
	})
	s, err := Open(testConfig(t, fs))
	if err != nil {
		t.Fatal(err)
	}
	o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	mustAppend(t, o, "e1")
	mustAppend(t, o, "e2")

	armed.Store(true)
	if _, _, err := o.Append([]byte("e3")); err == nil {
		t.Fatal("Append acknowledged despite a failed WAL sync")
	}
	if _, _, err := o.Append([]byte("e4")); !errors.Is(err, ErrFailed) {
		t.Errorf("Append after failure = %v, want ErrFailed", err)
	}
	if err := o.Ack(1); !errors.Is(err, ErrFailed) {
		t.Errorf("Ack after failure = %v, want ErrFailed", err)
	}
	if o.Len() != 2 || o.Bytes() != 4 {
		t.Errorf("Len, Bytes after failure = %d, %d, want 2, 4", o.Len(), o.Bytes())
	}
	_ = s.Close() // may report the broken WAL

	armed.Store(false)
	mem.ResetToSyncedState()
	s = mustOpen(t, testConfig(t, mem))
	o = mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	if diff := cmp.Diff(outboxEntries(1, 2), peek(t, o, 10)); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
}

// TestOutboxPeekHidesUnsynced blocks an Append's WAL sync and checks that
// Peek and Len do not show the entry until the Append returns.
func TestOutboxPeekHidesUnsynced(t *testing.T) {
	fs := &syncGateFS{FS: vfs.NewStrictMem()}
	s := mustOpen(t, testConfig(t, fs))
	o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	mustAppend(t, o, "e1")

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
	defer fs.setHook(nil)
	type result struct {
		seq uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		seq, _, err := o.Append([]byte("e2"))
		done <- result{seq, err}
	}()
	<-entered // the WAL sync of e2 is in progress
	if diff := cmp.Diff(outboxState{Entries: outboxEntries(1, 1), Len: 1, Bytes: 2}, stateOf(t, o)); diff != "" {
		t.Errorf("while e2 is syncing (-want +got):\n%s", diff)
	}
	close(gate)
	if r := <-done; r.err != nil || r.seq != 2 {
		t.Fatalf("Append(e2) = %d, %v, want 2, nil", r.seq, r.err)
	}
	if diff := cmp.Diff(outboxState{Entries: outboxEntries(1, 2), Len: 2, Bytes: 4}, stateOf(t, o)); diff != "" {
		t.Errorf("after the sync (-want +got):\n%s", diff)
	}
}

// TestOutboxConcurrentAppend appends from 4 goroutines and checks that
// every entry is stored exactly once, under the sequence Append returned,
// in each goroutine's order.
func TestOutboxConcurrentAppend(t *testing.T) {
	s := mustOpen(t, testConfig(t, nil))
	o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	const writers, perWriter = 4, 25
	var mu sync.Mutex
	seqOf := make(map[string]uint64)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				data := fmt.Sprintf("w%d-%02d", w, i)
				seq, _, err := o.Append([]byte(data))
				if err != nil {
					t.Errorf("Append(%s): %v", data, err)
					return
				}
				mu.Lock()
				seqOf[data] = seq
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	got := peek(t, o, 1000)
	if len(got) != writers*perWriter {
		t.Fatalf("Peek returned %d entries, want %d", len(got), writers*perWriter)
	}
	lastSeq := make(map[byte]uint64)
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d has sequence %d, want %d", i, e.Seq, i+1)
		}
		if seq, ok := seqOf[e.Data]; !ok || seq != e.Seq {
			t.Errorf("entry %q at sequence %d; Append returned %d (known %t)", e.Data, e.Seq, seq, ok)
		}
		delete(seqOf, e.Data)
		w := e.Data[1]
		if e.Seq < lastSeq[w] {
			t.Errorf("writer %c: %q at sequence %d after sequence %d", w, e.Data, e.Seq, lastSeq[w])
		}
		lastSeq[w] = e.Seq
	}
	if len(seqOf) != 0 {
		t.Errorf("entries appended but not seen: %v", seqOf)
	}
	if o.Len() != writers*perWriter {
		t.Errorf("Len() = %d, want %d", o.Len(), writers*perWriter)
	}
}

func TestOutboxClosedStore(t *testing.T) {
	s := mustOpen(t, testConfig(t, nil))
	o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
	mustAppend(t, o, "e1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Append([]byte("e2")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := o.Peek(10, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Peek after Close = %v, want ErrClosed", err)
	}
	if err := o.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Outbox("plc", 1<<20, OutboxDropOldest); !errors.Is(err, ErrClosed) {
		t.Errorf("Outbox after Close = %v, want ErrClosed", err)
	}
	if o.Len() != 1 {
		t.Errorf("Len() after Close = %d, want 1", o.Len())
	}
}

func TestOutboxInvalidArguments(t *testing.T) {
	s := mustOpen(t, testConfig(t, vfs.NewMem()))
	tests := []struct {
		name     string
		box      string
		maxBytes int64
		policy   OutboxPolicy
		wantErr  bool
	}{
		{"longest name", strings.Repeat("a", 64), 1, OutboxDropOldest, false},
		{"all name characters", "Az09._-", 1, OutboxRefuseNewest, false},
		{"empty name", "", 1, OutboxDropOldest, true},
		{"name too long", strings.Repeat("a", 65), 1, OutboxDropOldest, true},
		{"slash in name", "a/b", 1, OutboxDropOldest, true},
		{"space in name", "a b", 1, OutboxDropOldest, true},
		{"nul in name", "a\x00b", 1, OutboxDropOldest, true},
		{"non-ASCII name", "plč", 1, OutboxDropOldest, true},
		{"zero max bytes", "plc", 0, OutboxDropOldest, true},
		{"negative max bytes", "plc", -1, OutboxDropOldest, true},
		{"zero policy", "plc", 1, 0, true},
		{"unknown policy", "plc", 1, OutboxRefuseNewest + 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Outbox(tc.box, tc.maxBytes, tc.policy)
			if (err != nil) != tc.wantErr {
				t.Errorf("Outbox(%q, %d, %d) = %v, want error %t", tc.box, tc.maxBytes, tc.policy, err, tc.wantErr)
			}
		})
	}
}

// TestOutboxCorruptKeys checks that Outbox refuses stored data it cannot
// trust, naming the problem, instead of panicking.
func TestOutboxCorruptKeys(t *testing.T) {
	key := func(seq uint64) []byte {
		return appendUint64(twinPrefix(PrefixOutbox, "plc"), seq)
	}
	tests := []struct {
		name    string
		key     []byte
		value   []byte
		wantErr error
	}{
		{"unknown value format", key(2), []byte{9, 'x'}, ErrUnknownFormat},
		{"empty value", key(2), nil, ErrCorrupt},
		{"gap in sequences", key(4), []byte{1, 'x'}, ErrCorrupt},
		{"short key", twinPrefix(PrefixOutbox, "plc"), []byte{1, 'x'}, ErrCorrupt},
		{"entry below the floor", key(0), appendCount(nil, 1), ErrCorrupt},
		{"corrupt floor", key(0), []byte{1, 0x80}, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, testConfig(t, vfs.NewMem()))
			o := mustOutbox(t, s, "plc", 1<<20, OutboxDropOldest)
			mustAppend(t, o, "e1")
			mustAppend(t, o, "e2")
			if err := s.DB().Set(tc.key, tc.value, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Outbox("plc", 1<<20, OutboxDropOldest); !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), "outbox plc") {
				t.Errorf("Outbox = %v, want %v naming the outbox", err, tc.wantErr)
			}
			// Other outboxes are unaffected.
			mustOutbox(t, s, "plc-2", 1<<20, OutboxDropOldest)
		})
	}
}

func FuzzOutboxKey(f *testing.F) {
	f.Add("plc", uint64(1), []byte{})
	f.Add("plc-2", uint64(1<<63), []byte{0x08, 'p', 'l', 'c', 0, 1})
	f.Add("a", uint64(0), []byte{0x08, 'a', 0, 1, 0, 0, 0, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, name string, seq uint64, raw []byte) {
		if !validOutboxName(name) {
			return
		}
		o := &Outbox{name: name, prefix: twinPrefix(PrefixOutbox, name)}
		got, err := o.decodeKey(o.key(seq))
		if err != nil || got != seq {
			t.Fatalf("decodeKey(key(%d)) = %d, %v", seq, got, err)
		}
		// Arbitrary bytes decode or fail, never panic; what decodes
		// re-encodes to the same key.
		if got, err := o.decodeKey(raw); err == nil && string(o.key(got)) != string(raw) {
			t.Fatalf("decodeKey(%x) = %d, which encodes as %x", raw, got, o.key(got))
		}
	})
}
