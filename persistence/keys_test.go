package persistence

import (
	"bytes"
	"errors"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStringEncodingRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"plain", "pump-7"},
		{"nul", "a\x00b"},
		{"leading nul", "\x00"},
		{"nul ff", "\x00\xff\x00\x01"},
		{"unicode", "Kessel/Brenner Ü"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := AppendString(nil, tc.in)
			got, rest, err := DecodeString(append(enc, 'x'))
			if err != nil {
				t.Fatalf("DecodeString(%x): %v", enc, err)
			}
			if got != tc.in || string(rest) != "x" {
				t.Errorf("DecodeString = %q, rest %q; want %q, rest \"x\"", got, rest, tc.in)
			}
		})
	}
}

func TestJournalKeyOrdering(t *testing.T) {
	type tv struct {
		twin    string
		version int64
	}
	// Sorted by (twin, version).
	want := []tv{
		{"", 0}, {"", 1}, {"a", 0}, {"a", 1}, {"a", 255}, {"a", 256}, {"a", math.MaxInt64},
		{"a\x00", 0}, {"a\x00\x00", 0}, {"a\x00b", 0}, {"a\x01", 0}, {"ab", 0}, {"b", 0},
	}
	keys := make([][]byte, len(want))
	for i, k := range want {
		keys[i] = EncodeJournalKey(k.twin, k.version)
		twin, v, err := DecodeJournalKey(keys[i])
		if err != nil || twin != k.twin || v != k.version {
			t.Errorf("DecodeJournalKey(%x) = %q, %d, %v; want %q, %d", keys[i], twin, v, err, k.twin, k.version)
		}
	}
	shuffled := append([][]byte(nil), keys...)
	sort.Slice(shuffled, func(i, j int) bool { return bytes.Compare(shuffled[i], shuffled[j]) < 0 })
	if diff := cmp.Diff(keys, shuffled); diff != "" {
		t.Errorf("byte order differs from (twin, version) order (-want +got):\n%s", diff)
	}
}

func TestKeyRoundTrips(t *testing.T) {
	hk := HistoryKey{TwinID: "t\x00", Property: "temp", SourceTime: -5, Version: 9}
	tests := []struct {
		name   string
		encode func() []byte
		decode func([]byte) (any, error)
		want   any
	}{
		{"head", func() []byte { return EncodeHeadKey("boiler-1") },
			func(b []byte) (any, error) { return DecodeHeadKey(b) }, "boiler-1"},
		{"snapshot", func() []byte { return EncodeSnapshotKey("b", 42) },
			func(b []byte) (any, error) { id, v, err := DecodeSnapshotKey(b); return [2]any{id, v}, err }, [2]any{"b", int64(42)}},
		{"history", func() []byte { return EncodeHistoryKey(hk) },
			func(b []byte) (any, error) { return DecodeHistoryKey(b) }, hk},
		{"history stats", func() []byte { return EncodeHistoryStatsKey(-3) },
			func(b []byte) (any, error) { return DecodeHistoryStatsKey(b) }, int64(-3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decode(tc.encode())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMalformedKeys(t *testing.T) {
	good := EncodeJournalKey("a", 1)
	tests := []struct {
		name string
		key  []byte
	}{
		{"empty", nil},
		{"wrong prefix", append([]byte{PrefixHead}, good[1:]...)},
		{"unterminated", []byte{PrefixJournal, 'a'}},
		{"bad escape", []byte{PrefixJournal, 'a', 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"short version", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"negative version", append(good[:len(good)-8:len(good)-8], 0x80, 0, 0, 0, 0, 0, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeJournalKey(tc.key); !errors.Is(err, ErrMalformedKey) {
				t.Errorf("DecodeJournalKey(%x) error = %v, want ErrMalformedKey", tc.key, err)
			}
		})
	}
	// A history key whose bucket does not hold its time.
	k := EncodeHistoryKey(HistoryKey{TwinID: "a", Property: "p", SourceTime: 0})
	k[8] ^= 1 // last byte of the bucket
	if _, err := DecodeHistoryKey(k); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("DecodeHistoryKey(bucket mismatch) error = %v, want ErrMalformedKey", err)
	}
}

func TestHistoryKeyOrdering(t *testing.T) {
	h := int64(time.Hour)
	// Sorted by (bucket, twin, property, time, version).
	want := []HistoryKey{
		{"b", "p", -h - 1, 0},
		{"a", "p", -1, 0},
		{"a", "p", 0, 0},
		{"a", "p", 0, 1},
		{"a", "p", h - 1, 0},
		{"a", "q", 5, 0},
		{"b", "a", 1, 0},
		{"a", "p", h, 0},
	}
	keys := make([][]byte, len(want))
	for i, k := range want {
		keys[i] = EncodeHistoryKey(k)
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) >= 0 {
			t.Errorf("key %d (%+v) does not sort before key %d (%+v)", i-1, want[i-1], i, want[i])
		}
	}
}

func TestHourBucket(t *testing.T) {
	h := int64(time.Hour)
	tests := []struct {
		t, want int64
	}{{0, 0}, {h - 1, 0}, {h, 1}, {-1, -1}, {-h, -1}, {-h - 1, -2}, {math.MinInt64, math.MinInt64/h - 1}}
	for _, tc := range tests {
		if got := HourBucket(tc.t); got != tc.want {
			t.Errorf("HourBucket(%d) = %d, want %d", tc.t, got, tc.want)
		}
	}
}
