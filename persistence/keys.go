package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Key spaces. Each starts with its own one-byte prefix so that a key space
// can be scanned, replicated or deleted as one contiguous range. The layout
// is documented in doc.go and docs/storage.md.
const (
	// PrefixMeta holds store-level metadata such as the format marker.
	PrefixMeta byte = 0x01
	// PrefixHead holds one head per twin: latest version, epoch, snapshot version.
	PrefixHead byte = 0x02
	// PrefixJournal holds the journal: one key per (twin, version).
	PrefixJournal byte = 0x03
	// PrefixSnapshot holds the latest snapshot of each twin.
	PrefixSnapshot byte = 0x04
	// PrefixHistory holds history points, bucketed by hour of source time.
	PrefixHistory byte = 0x05
	// PrefixHistoryBlock is reserved for a future compressed per-property
	// block layout of history; nothing writes it yet.
	PrefixHistoryBlock byte = 0x06
	// PrefixHistoryStats holds one point counter per history hour bucket.
	PrefixHistoryStats byte = 0x07
	// PrefixOutbox holds the store-and-forward outboxes of edge connectors: one
	// key per (connector, sequence), plus one floor key per connector at
	// sequence 0.
	PrefixOutbox byte = 0x08
	// PrefixAudit holds each twin's audit trail: one key per (twin, version)
	// of an event an identified actor caused — commands, desired values,
	// alarm acknowledgements and shelves.
	PrefixAudit byte = 0x09
	// PrefixWake holds the node's wake schedule: one key per twin with its
	// next due time, for twins that must act while nothing arrives.
	PrefixWake byte = 0x0A
	// PrefixFence holds each twin's fence record: the newest activation
	// epoch promised for it and to whom (Store.Fence).
	PrefixFence byte = 0x0B
)

// HistoryBucket is the width of one history time bucket. Retention deletes
// whole buckets with one range deletion.
const HistoryBucket = time.Hour

// ErrMalformedKey reports a key that does not decode as the expected kind.
var ErrMalformedKey = errors.New("persistence: malformed key")

// Bytes used by the order-preserving, prefix-free string encoding (the same
// scheme as CockroachDB's bytes encoding): 0x00 inside the string becomes
// 0x00 0xFF and the string ends with 0x00 0x01.
const (
	escapeByte    byte = 0x00
	escapedNul    byte = 0xFF
	terminatorEnd byte = 0x01
)

const signBit = uint64(1) << 63

// formatKey is the single store format marker key.
var formatKey = []byte{PrefixMeta, 'f', 'o', 'r', 'm', 'a', 't'}

// storeIDKey holds the store's random identity (Store.ID).
var storeIDKey = []byte{PrefixMeta, 's', 't', 'o', 'r', 'e', 'i', 'd'}

// EncodeFormatKey returns the key of the store format marker.
func EncodeFormatKey() []byte { return append([]byte(nil), formatKey...) }

// AppendString appends the order-preserving, prefix-free encoding of s to dst.
// For any strings a < b, AppendString(nil, a) < AppendString(nil, b), and no
// encoding is a prefix of another.
func AppendString(dst []byte, s string) []byte {
	for {
		i := indexByte(s, escapeByte)
		if i < 0 {
			break
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, escapeByte, escapedNul)
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, escapeByte, terminatorEnd)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// DecodeString decodes a string written by AppendString from the start of b
// and returns it with the remaining bytes.
func DecodeString(b []byte) (s string, rest []byte, err error) {
	var out []byte
	for {
		i := bytes.IndexByte(b, escapeByte)
		if i < 0 || i+1 >= len(b) {
			return "", nil, fmt.Errorf("%w: unterminated string", ErrMalformedKey)
		}
		switch b[i+1] {
		case terminatorEnd:
			if out == nil {
				return string(b[:i]), b[i+2:], nil
			}
			out = append(out, b[:i]...)
			return string(out), b[i+2:], nil
		case escapedNul:
			out = append(out, b[:i]...)
			out = append(out, 0)
			b = b[i+2:]
		default:
			return "", nil, fmt.Errorf("%w: bad escape 0x%02x", ErrMalformedKey, b[i+1])
		}
	}
}

// appendUint64 appends v as 8 bytes big-endian.
func appendUint64(dst []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, v)
}

// appendOrderedInt64 appends v as 8 bytes big-endian with the sign bit
// flipped, so that negative values sort before positive ones.
func appendOrderedInt64(dst []byte, v int64) []byte {
	return appendUint64(dst, uint64(v)^signBit)
}

func decodeUint64(b []byte) (uint64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: need 8 bytes, have %d", ErrMalformedKey, len(b))
	}
	return binary.BigEndian.Uint64(b), b[8:], nil
}

func decodeOrderedInt64(b []byte) (int64, []byte, error) {
	u, rest, err := decodeUint64(b)
	return int64(u ^ signBit), rest, err
}

// decodeVersion decodes an 8-byte big-endian version, which must be >= 0.
func decodeVersion(b []byte) (int64, []byte, error) {
	u, rest, err := decodeUint64(b)
	if err != nil {
		return 0, nil, err
	}
	if u > math.MaxInt64 {
		return 0, nil, fmt.Errorf("%w: negative version", ErrMalformedKey)
	}
	return int64(u), rest, nil
}

func checkPrefix(key []byte, prefix byte) ([]byte, error) {
	if len(key) == 0 || key[0] != prefix {
		return nil, fmt.Errorf("%w: want prefix 0x%02x", ErrMalformedKey, prefix)
	}
	return key[1:], nil
}

func checkEnd(rest []byte) error {
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformedKey, len(rest))
	}
	return nil
}

// twinPrefix returns prefix | twin id, the common prefix of all keys of one
// twin in the key space.
func twinPrefix(prefix byte, twinID string) []byte {
	return AppendString(append(make([]byte, 0, len(twinID)+11), prefix), twinID)
}

// EncodeHeadKey returns 0x02 | twin.
func EncodeHeadKey(twinID string) []byte { return twinPrefix(PrefixHead, twinID) }

// DecodeHeadKey decodes a key written by EncodeHeadKey.
func DecodeHeadKey(key []byte) (twinID string, err error) {
	b, err := checkPrefix(key, PrefixHead)
	if err != nil {
		return "", err
	}
	twinID, b, err = DecodeString(b)
	if err != nil {
		return "", err
	}
	return twinID, checkEnd(b)
}

// EncodeJournalKey returns 0x03 | twin | version (8 bytes big-endian).
// version must be >= 0.
func EncodeJournalKey(twinID string, version int64) []byte {
	return appendUint64(twinPrefix(PrefixJournal, twinID), uint64(version))
}

// DecodeJournalKey decodes a key written by EncodeJournalKey.
func DecodeJournalKey(key []byte) (twinID string, version int64, err error) {
	return decodeTwinVersionKey(key, PrefixJournal)
}

// EncodeSnapshotKey returns 0x04 | twin | version (8 bytes big-endian).
// version must be >= 0. The store keeps one snapshot key per twin.
func EncodeSnapshotKey(twinID string, version int64) []byte {
	return appendUint64(twinPrefix(PrefixSnapshot, twinID), uint64(version))
}

// DecodeSnapshotKey decodes a key written by EncodeSnapshotKey.
func DecodeSnapshotKey(key []byte) (twinID string, version int64, err error) {
	return decodeTwinVersionKey(key, PrefixSnapshot)
}

// EncodeAuditKey returns 0x09 | twin | version (8 bytes big-endian), the key
// of the audit entry of the twin's event at version. version must be >= 0.
func EncodeAuditKey(twinID string, version int64) []byte {
	return appendUint64(twinPrefix(PrefixAudit, twinID), uint64(version))
}

// EncodeWakeKey returns 0x0A | twin, the key of a twin's due time.
func EncodeWakeKey(twinID string) []byte { return twinPrefix(PrefixWake, twinID) }

// EncodeFenceKey returns the key of the twin's fence record.
func EncodeFenceKey(twinID string) []byte { return twinPrefix(PrefixFence, twinID) }

// DecodeAuditKey decodes a key written by EncodeAuditKey.
func DecodeAuditKey(key []byte) (twinID string, version int64, err error) {
	return decodeTwinVersionKey(key, PrefixAudit)
}

func decodeTwinVersionKey(key []byte, prefix byte) (string, int64, error) {
	b, err := checkPrefix(key, prefix)
	if err != nil {
		return "", 0, err
	}
	twinID, b, err := DecodeString(b)
	if err != nil {
		return "", 0, err
	}
	version, b, err := decodeVersion(b)
	if err != nil {
		return "", 0, err
	}
	return twinID, version, checkEnd(b)
}

// HourBucket returns the history bucket (hours since the Unix epoch,
// rounded towards minus infinity) holding source time t (Unix nanoseconds).
func HourBucket(t int64) int64 {
	const h = int64(HistoryBucket)
	q := t / h
	if t%h < 0 {
		q--
	}
	return q
}

// HistoryKey is the decoded form of a history point key.
type HistoryKey struct {
	TwinID     string
	Property   string
	SourceTime int64 // Unix nanoseconds
	Version    int64
}

// historyBucketPrefix returns 0x05 | bucket.
func historyBucketPrefix(bucket int64) []byte {
	return appendOrderedInt64([]byte{PrefixHistory}, bucket)
}

// historySeriesPrefix returns 0x05 | bucket | twin | property.
func historySeriesPrefix(bucket int64, twinID, property string) []byte {
	b := historyBucketPrefix(bucket)
	b = AppendString(b, twinID)
	return AppendString(b, property)
}

// EncodeHistoryKey returns
// 0x05 | hour bucket (8B, sign flipped) | twin | property | source time (8B,
// sign flipped) | version (8B big-endian). version must be >= 0.
func EncodeHistoryKey(k HistoryKey) []byte {
	b := historySeriesPrefix(HourBucket(k.SourceTime), k.TwinID, k.Property)
	b = appendOrderedInt64(b, k.SourceTime)
	return appendUint64(b, uint64(k.Version))
}

// DecodeHistoryKey decodes a key written by EncodeHistoryKey. It rejects a
// key whose bucket does not match its source time.
func DecodeHistoryKey(key []byte) (HistoryKey, error) {
	var k HistoryKey
	b, err := checkPrefix(key, PrefixHistory)
	if err != nil {
		return k, err
	}
	bucket, b, err := decodeOrderedInt64(b)
	if err != nil {
		return k, err
	}
	if k.TwinID, b, err = DecodeString(b); err != nil {
		return k, err
	}
	if k.Property, b, err = DecodeString(b); err != nil {
		return k, err
	}
	if k.SourceTime, b, err = decodeOrderedInt64(b); err != nil {
		return k, err
	}
	if HourBucket(k.SourceTime) != bucket {
		return k, fmt.Errorf("%w: bucket %d does not hold source time %d", ErrMalformedKey, bucket, k.SourceTime)
	}
	if k.Version, b, err = decodeVersion(b); err != nil {
		return k, err
	}
	return k, checkEnd(b)
}

// EncodeHistoryStatsKey returns 0x07 | bucket (8B, sign flipped), the key of
// the point counter of one history bucket.
func EncodeHistoryStatsKey(bucket int64) []byte {
	return appendOrderedInt64([]byte{PrefixHistoryStats}, bucket)
}

// DecodeHistoryStatsKey decodes a key written by EncodeHistoryStatsKey.
func DecodeHistoryStatsKey(key []byte) (bucket int64, err error) {
	b, err := checkPrefix(key, PrefixHistoryStats)
	if err != nil {
		return 0, err
	}
	bucket, b, err = decodeOrderedInt64(b)
	if err != nil {
		return 0, err
	}
	return bucket, checkEnd(b)
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil if there is none.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
