package persistence

import (
	"bytes"
	"cmp"
	"math"
	"testing"
)

// FuzzTwinKey checks journal keys (twin, version): decode(encode(x)) == x,
// byte order == (twin, version) order, and that decoding arbitrary bytes as
// any twin key kind never panics.
func FuzzTwinKey(f *testing.F) {
	f.Add("pump-1", int64(1), "pump-2", int64(0), []byte{PrefixJournal})
	f.Add("a\x00", int64(7), "a", int64(7), []byte{PrefixJournal, 'a', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add("", int64(0), "\x00\xff", int64(math.MaxInt64), []byte{PrefixHead, 0, 0xff, 0})
	f.Add("x", int64(256), "x", int64(255), []byte{})
	f.Fuzz(func(t *testing.T, twinA string, verA int64, twinB string, verB int64, raw []byte) {
		verA &= math.MaxInt64
		verB &= math.MaxInt64
		ka, kb := EncodeJournalKey(twinA, verA), EncodeJournalKey(twinB, verB)
		gotTwin, gotVer, err := DecodeJournalKey(ka)
		if err != nil || gotTwin != twinA || gotVer != verA {
			t.Fatalf("DecodeJournalKey(EncodeJournalKey(%q, %d)) = %q, %d, %v", twinA, verA, gotTwin, gotVer, err)
		}
		want := cmp.Or(cmp.Compare(twinA, twinB), cmp.Compare(verA, verB))
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("order of (%q,%d) vs (%q,%d): bytes %d, want %d", twinA, verA, twinB, verB, got, want)
		}
		if id, err := DecodeHeadKey(EncodeHeadKey(twinA)); err != nil || id != twinA {
			t.Fatalf("DecodeHeadKey(EncodeHeadKey(%q)) = %q, %v", twinA, id, err)
		}
		// Arbitrary bytes: errors are fine, panics are not.
		_, _, _ = DecodeJournalKey(raw)
		_, _, _ = DecodeSnapshotKey(raw)
		_, _ = DecodeHeadKey(raw)
		_, _, _ = DecodeString(raw)
		_, _, _ = decodeJournalValue(raw)
		_, _ = decodeHeadValue(raw)
		_, _ = decodeFenceValue(raw)
		// A fence record round-trips, with the twin and a version as its
		// promiser and numbers.
		fence := Fence{Promised: uint64(verA), By: twinB, RosterVersion: uint64(verB)}
		if got, err := decodeFenceValue(appendFenceValue(nil, fence)); err != nil || got != fence {
			t.Fatalf("fence %+v round-trips as %+v, %v", fence, got, err)
		}
	})
}

// FuzzHistoryKey checks history keys: round trip, byte order == (bucket,
// twin, property, time, version) order, and no panics on arbitrary bytes.
func FuzzHistoryKey(f *testing.F) {
	f.Add("t", "temp", int64(0), int64(1), "t", "temp", int64(1), int64(0), []byte{PrefixHistory})
	f.Add("t", "a\x00", int64(-1), int64(0), "t", "a", int64(3600e9), int64(0), []byte{PrefixHistoryStats, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add("", "", int64(math.MinInt64), int64(0), "", "", int64(math.MaxInt64), int64(math.MaxInt64), []byte{})
	f.Add("b", "p", int64(3599999999999), int64(2), "a", "p", int64(3600000000000), int64(2), []byte{PrefixHistory, 0x80, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 1})
	f.Fuzz(func(t *testing.T, twinA, propA string, timeA, verA int64, twinB, propB string, timeB, verB int64, raw []byte) {
		a := HistoryKey{TwinID: twinA, Property: propA, SourceTime: timeA, Version: verA & math.MaxInt64}
		b := HistoryKey{TwinID: twinB, Property: propB, SourceTime: timeB, Version: verB & math.MaxInt64}
		ka, kb := EncodeHistoryKey(a), EncodeHistoryKey(b)
		got, err := DecodeHistoryKey(ka)
		if err != nil || got != a {
			t.Fatalf("DecodeHistoryKey(EncodeHistoryKey(%+v)) = %+v, %v", a, got, err)
		}
		want := cmp.Or(
			cmp.Compare(HourBucket(a.SourceTime), HourBucket(b.SourceTime)),
			cmp.Compare(a.TwinID, b.TwinID),
			cmp.Compare(a.Property, b.Property),
			cmp.Compare(a.SourceTime, b.SourceTime),
			cmp.Compare(a.Version, b.Version),
		)
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("order of %+v vs %+v: bytes %d, want %d", a, b, got, want)
		}
		if bucket, err := DecodeHistoryStatsKey(EncodeHistoryStatsKey(HourBucket(timeA))); err != nil || bucket != HourBucket(timeA) {
			t.Fatalf("DecodeHistoryStatsKey round trip of %d = %d, %v", HourBucket(timeA), bucket, err)
		}
		_, _ = DecodeHistoryKey(raw)
		_, _ = DecodeHistoryStatsKey(raw)
		_, _ = decodePlainValue(raw)
		_, _ = decodeCount(raw)
	})
}
