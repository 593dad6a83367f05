package persistence

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

func TestAuditKeyRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		twinID  string
		version int64
	}{
		{"plain", "boiler-1", 42},
		{"empty twin", "", 0},
		{"nul inside", "a\x00b", 7},
		{"only nuls", "\x00\x00", 1},
		{"nul and escape bytes", "\x00\xff\x00\x01", 3},
		{"max version", "t", math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := EncodeAuditKey(tc.twinID, tc.version)
			if key[0] != PrefixAudit {
				t.Fatalf("EncodeAuditKey(%q, %d) = %x, want prefix 0x%02x", tc.twinID, tc.version, key, PrefixAudit)
			}
			twinID, version, err := DecodeAuditKey(key)
			if err != nil {
				t.Fatalf("DecodeAuditKey(%x): %v", key, err)
			}
			if twinID != tc.twinID || version != tc.version {
				t.Errorf("DecodeAuditKey(%x) = %q, %d; want %q, %d", key, twinID, version, tc.twinID, tc.version)
			}
		})
	}
}

func TestAuditKeyOrdering(t *testing.T) {
	type tv struct {
		twin    string
		version int64
	}
	// Sorted by (twin, version): numeric version order (2 before 10), and a
	// twin's keys all sort before those of a twin extending its id.
	want := []tv{
		{"", 0}, {"a", 1}, {"a", 2}, {"a", 10}, {"a", 256}, {"a", math.MaxInt64},
		{"a\x00", 0}, {"a\x00b", 2}, {"ab", 0}, {"ab", 10}, {"b", 0},
	}
	keys := make([][]byte, len(want))
	for i, k := range want {
		keys[i] = EncodeAuditKey(k.twin, k.version)
	}
	sorted := append([][]byte(nil), keys...)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	if diff := gocmp.Diff(keys, sorted); diff != "" {
		t.Errorf("byte order differs from (twin, version) order (-want +got):\n%s", diff)
	}
}

func TestMalformedAuditKeys(t *testing.T) {
	good := EncodeAuditKey("a", 1)
	tests := []struct {
		name string
		key  []byte
	}{
		{"empty", nil},
		{"journal key", EncodeJournalKey("a", 1)},
		{"unterminated", []byte{PrefixAudit, 'a'}},
		{"short version", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"negative version", append(good[:len(good)-8:len(good)-8], 0x80, 0, 0, 0, 0, 0, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeAuditKey(tc.key); !errors.Is(err, ErrMalformedKey) {
				t.Errorf("DecodeAuditKey(%x) error = %v, want ErrMalformedKey", tc.key, err)
			}
		})
	}
}

// FuzzAuditKey checks audit keys (twin, version): decode(encode(x)) == x,
// byte order == (twin, version) order, and that decoding arbitrary bytes
// never panics.
func FuzzAuditKey(f *testing.F) {
	f.Add("pump-1", int64(2), "pump-1", int64(10), []byte{PrefixAudit})
	f.Add("a", int64(7), "ab", int64(1), []byte{PrefixAudit, 'a', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add("a\x00", int64(0), "a", int64(math.MaxInt64), []byte{PrefixAudit, 0, 0xff, 0})
	f.Fuzz(func(t *testing.T, twinA string, verA int64, twinB string, verB int64, raw []byte) {
		verA &= math.MaxInt64
		verB &= math.MaxInt64
		ka, kb := EncodeAuditKey(twinA, verA), EncodeAuditKey(twinB, verB)
		gotTwin, gotVer, err := DecodeAuditKey(ka)
		if err != nil || gotTwin != twinA || gotVer != verA {
			t.Fatalf("DecodeAuditKey(EncodeAuditKey(%q, %d)) = %q, %d, %v", twinA, verA, gotTwin, gotVer, err)
		}
		want := cmp.Or(cmp.Compare(twinA, twinB), cmp.Compare(verA, verB))
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("order of (%q,%d) vs (%q,%d): bytes %d, want %d", twinA, verA, twinB, verB, got, want)
		}
		_, _, _ = DecodeAuditKey(raw)
	})
}

type auditEntry struct {
	Version int64
	Data    string
}

func readAudit(t testing.TB, s *Store, twinID string, after int64, limit int) []auditEntry {
	t.Helper()
	var got []auditEntry
	err := s.ReadAudit(twinID, after, limit, func(v int64, d []byte) error {
		got = append(got, auditEntry{v, string(d)})
		return nil
	})
	if err != nil {
		t.Fatalf("ReadAudit(%s, %d, %d): %v", twinID, after, limit, err)
	}
	return got
}

// audits returns one audit entry per version, with data "audit-<twin>-<v>".
func audits(twinID string, versions ...int64) []Entry {
	out := make([]Entry, len(versions))
	for i, v := range versions {
		out[i] = Entry{Version: v, Data: []byte(fmt.Sprintf("audit-%s-%d", twinID, v))}
	}
	return out
}

func wantAudit(twinID string, versions ...int64) []auditEntry {
	var out []auditEntry
	for _, e := range audits(twinID, versions...) {
		out = append(out, auditEntry{e.Version, string(e.Data)})
	}
	return out
}

func TestAuditReadAfterLimit(t *testing.T) {
	s := mustOpen(t, testConfig(t, nil))
	// Twins "a" and "ab": the id of one is a prefix of the other's.
	for _, id := range []string{"a", "ab"} {
		epoch := mustActivate(t, s, id)
		mustCommit(t, s, &Write{TwinID: id, Epoch: epoch, Events: events(id, 1, 5), Audit: audits(id, 5, 2)})
		mustCommit(t, s, &Write{TwinID: id, Epoch: epoch, Events: events(id, 6, 4)})
		mustCommit(t, s, &Write{TwinID: id, Epoch: epoch, Events: events(id, 10, 3), Audit: audits(id, 10, 12)})
	}
	tests := []struct {
		name  string
		twin  string
		after int64
		limit int
		want  []auditEntry
	}{
		{"all", "a", 0, 0, wantAudit("a", 2, 5, 10, 12)},
		{"negative after", "a", -7, 0, wantAudit("a", 2, 5, 10, 12)},
		{"negative limit", "a", 0, -1, wantAudit("a", 2, 5, 10, 12)},
		{"after is exclusive", "a", 2, 0, wantAudit("a", 5, 10, 12)},
		{"after between entries", "a", 6, 0, wantAudit("a", 10, 12)},
		{"limit", "a", 0, 2, wantAudit("a", 2, 5)},
		{"after and limit", "a", 2, 2, wantAudit("a", 5, 10)},
		{"limit above count", "a", 5, 10, wantAudit("a", 10, 12)},
		{"after last", "a", 12, 0, nil},
		{"after max", "a", math.MaxInt64, 0, nil},
		{"longer id", "ab", 0, 0, wantAudit("ab", 2, 5, 10, 12)},
		{"unknown twin", "b", 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := readAudit(t, s, tc.twin, tc.after, tc.limit)
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadAudit(%q, %d, %d) (-want +got):\n%s", tc.twin, tc.after, tc.limit, diff)
			}
		})
	}

	t.Run("fn error stops", func(t *testing.T) {
		errStop := errors.New("stop")
		var got []int64
		err := s.ReadAudit("a", 0, 0, func(v int64, _ []byte) error {
			got = append(got, v)
			if v == 5 {
				return errStop
			}
			return nil
		})
		if err != errStop {
			t.Errorf("ReadAudit error = %v, want fn's error unwrapped", err)
		}
		if diff := gocmp.Diff([]int64{2, 5}, got); diff != "" {
			t.Errorf("versions passed to fn (-want +got):\n%s", diff)
		}
	})
}

// TestAuditOutlivesJournalTail checks that snapshots, which delete the
// journal tail, keep the audit entries.
func TestAuditOutlivesJournalTail(t *testing.T) {
	s := mustOpen(t, testConfig(t, nil))
	epoch := mustActivate(t, s, "t")
	mustCommit(t, s, &Write{TwinID: "t", Epoch: epoch, Events: events("t", 1, 3), Audit: audits("t", 1, 3),
		Snapshot: &Snapshot{Version: 3, Data: []byte("s3")}})
	mustCommit(t, s, &Write{TwinID: "t", Epoch: epoch, Events: events("t", 4, 3),
		Snapshot: &Snapshot{Version: 6, Data: []byte("s6")}})
	mustCommit(t, s, &Write{TwinID: "t", Epoch: epoch, Events: events("t", 7, 1),
		Snapshot: &Snapshot{Version: 7, Data: []byte("s7")}})
	if j := readJournal(t, s, "t", 0); len(j) == 0 || j[0].Version != 6 {
		t.Fatalf("journal after snapshots starts at %+v, want version 6 (tail deleted)", j)
	}
	if diff := gocmp.Diff(wantAudit("t", 1, 3), readAudit(t, s, "t", 0, 0)); diff != "" {
		t.Errorf("audit after journal compaction (-want +got):\n%s", diff)
	}
}

func TestAuditVersionNotAmongEventsRejected(t *testing.T) {
	tests := []struct {
		name   string
		events []Entry
		audit  []Entry
	}{
		{"after last event", events("t", 3, 2), audits("t", 5)},
		{"before first event", events("t", 3, 2), audits("t", 2)},
		{"one of several outside", events("t", 3, 2), audits("t", 3, 4, 9)},
		{"no events", nil, audits("t", 2)},
		{"negative version", events("t", 3, 2), audits("t", -1)},
		{"repeated version", events("t", 3, 2), audits("t", 4, 4)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, testConfig(t, nil))
			epoch := mustActivate(t, s, "t")
			mustCommit(t, s, &Write{TwinID: "t", Epoch: epoch, Events: events("t", 1, 2), Audit: audits("t", 1)})
			before, err := s.Head("t")
			if err != nil {
				t.Fatal(err)
			}

			w := &Write{
				TwinID:   "t",
				Epoch:    epoch,
				Events:   tc.events,
				Snapshot: &Snapshot{Version: 2, Data: []byte("snap")},
				History:  []HistoryPoint{{Property: "temp", SourceTime: 1, Version: 3, Data: []byte("21")}},
				Audit:    tc.audit,
			}
			err = s.Commit(t.Context(), w)
			if !errors.Is(err, ErrInvalidWrite) || !strings.Contains(err.Error(), "audit") {
				t.Fatalf("Commit = %v, want ErrInvalidWrite naming the audit entry", err)
			}

			// Nothing of the rejected Write is stored.
			if after, err := s.Head("t"); err != nil || after != before {
				t.Errorf("Head = %+v, %v; want %+v (unchanged)", after, err, before)
			}
			if diff := gocmp.Diff([]journalEntry{{1, epoch, "t-1"}, {2, epoch, "t-2"}}, readJournal(t, s, "t", 0)); diff != "" {
				t.Errorf("journal (-want +got):\n%s", diff)
			}
			if diff := gocmp.Diff(wantAudit("t", 1), readAudit(t, s, "t", 0, 0)); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			if _, ok, err := s.LoadSnapshot("t"); err != nil || ok {
				t.Errorf("LoadSnapshot = found %v, %v; want none", ok, err)
			}
			var points int
			if err := s.ReadHistory("t", "temp", 0, 10, func(HistoryPoint) error { points++; return nil }); err != nil {
				t.Fatal(err)
			}
			if points != 0 {
				t.Errorf("ReadHistory returned %d points, want 0", points)
			}

			// The store still takes valid writes.
			mustCommit(t, s, &Write{TwinID: "t", Epoch: epoch, Events: events("t", 3, 1), Audit: audits("t", 3)})
			if diff := gocmp.Diff(wantAudit("t", 1, 3), readAudit(t, s, "t", 0, 0)); diff != "" {
				t.Errorf("audit after a valid write (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuditSurvivesReopen(t *testing.T) {
	cfg := testConfig(t, nil)
	s := mustOpen(t, cfg)
	epoch := mustActivate(t, s, "a\x00b")
	mustCommit(t, s, &Write{TwinID: "a\x00b", Epoch: epoch, Events: events("a\x00b", 1, 3), Audit: audits("a\x00b", 1, 3)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadAudit("a\x00b", 0, 0, func(int64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadAudit after Close = %v, want ErrClosed", err)
	}

	s = mustOpen(t, cfg)
	if diff := gocmp.Diff(wantAudit("a\x00b", 1, 3), readAudit(t, s, "a\x00b", 0, 0)); diff != "" {
		t.Errorf("audit after reopen (-want +got):\n%s", diff)
	}
}

func TestWakeSchedule(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := func(v int64) *int64 { return &v }
	for i, w := range []*Write{
		{TwinID: "a", Events: []Entry{{Version: 1, Data: []byte("e")}}, Wake: at(500)},
		{TwinID: "b\x00x", Events: []Entry{{Version: 1, Data: []byte("e")}}, Wake: at(100)},
		{TwinID: "c", Events: []Entry{{Version: 1, Data: []byte("e")}}, Wake: at(7)},
		{TwinID: "c", Events: []Entry{{Version: 2, Data: []byte("e")}}, Wake: at(0)},
		{TwinID: "a", Events: []Entry{{Version: 2, Data: []byte("e")}}}, // nil: unchanged
	} {
		epoch, _, err := s.Activate(w.TwinID)
		if err != nil {
			t.Fatal(err)
		}
		w.Epoch = epoch
		if err := s.Commit(ctx, w); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	scan := func(s *Store) string {
		var got []string
		if err := s.ScanWake(func(id string, due int64) error {
			got = append(got, fmt.Sprintf("%q=%d", id, due))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, " ")
	}
	want := `"a"=500 "b\x00x"=100`
	if got := scan(s); got != want {
		t.Errorf("wake schedule %s, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := scan(s); got != want {
		t.Errorf("after reopen %s, want %s", got, want)
	}
}
