package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// FormatVersion is the value and store format this build writes and reads.
// Every journal, snapshot, head and history value starts with it, and the
// store format marker holds it.
const FormatVersion = 1

// errFormat reports a value whose leading format byte is not FormatVersion.
type errFormat struct{ found byte }

func (e errFormat) Error() string {
	return fmt.Sprintf("found format %d, this build reads %d", e.found, FormatVersion)
}

func (e errFormat) Unwrap() error { return ErrUnknownFormat }

// errTruncated reports a value too short for its framing.
var errTruncated = errors.New("truncated value")

func checkFormat(v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: empty value", ErrCorrupt)
	}
	if v[0] != FormatVersion {
		return nil, errFormat{found: v[0]}
	}
	return v[1:], nil
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: %w", ErrCorrupt, errTruncated)
	}
	return v, b[n:], nil
}

func readVersion(b []byte) (int64, []byte, error) {
	v, rest, err := readUvarint(b)
	if err != nil {
		return 0, nil, err
	}
	if v > math.MaxInt64 {
		return 0, nil, fmt.Errorf("%w: version out of range", ErrCorrupt)
	}
	return int64(v), rest, nil
}

// appendJournalValue frames an event: format | epoch (uvarint) | data.
func appendJournalValue(dst []byte, epoch uint64, data []byte) []byte {
	dst = append(dst, FormatVersion)
	dst = binary.AppendUvarint(dst, epoch)
	return append(dst, data...)
}

// decodeJournalValue returns the epoch and the caller's bytes (aliasing v).
func decodeJournalValue(v []byte) (epoch uint64, data []byte, err error) {
	b, err := checkFormat(v)
	if err != nil {
		return 0, nil, err
	}
	epoch, b, err = readUvarint(b)
	if err != nil {
		return 0, nil, err
	}
	return epoch, b, nil
}

// appendPlainValue frames snapshot and history data: format | data.
func appendPlainValue(dst []byte, data []byte) []byte {
	return append(append(dst, FormatVersion), data...)
}

func decodePlainValue(v []byte) ([]byte, error) { return checkFormat(v) }

// appendHeadValue frames a head: format | version | epoch | snapshot version
// (uvarints).
func appendHeadValue(dst []byte, h Head) []byte {
	dst = append(dst, FormatVersion)
	dst = binary.AppendUvarint(dst, uint64(h.Version))
	dst = binary.AppendUvarint(dst, h.Epoch)
	return binary.AppendUvarint(dst, uint64(h.SnapshotVersion))
}

// appendFenceValue frames a fence record: format | promised epoch |
// roster version | promiser (length-prefixed).
func appendFenceValue(dst []byte, f Fence) []byte {
	dst = append(dst, FormatVersion)
	dst = binary.AppendUvarint(dst, f.Promised)
	dst = binary.AppendUvarint(dst, f.RosterVersion)
	dst = binary.AppendUvarint(dst, uint64(len(f.By)))
	return append(dst, f.By...)
}

func decodeFenceValue(v []byte) (Fence, error) {
	var f Fence
	b, err := checkFormat(v)
	if err != nil {
		return f, err
	}
	if f.Promised, b, err = readUvarint(b); err != nil {
		return f, err
	}
	if f.RosterVersion, b, err = readUvarint(b); err != nil {
		return f, err
	}
	n, b, err := readUvarint(b)
	if err != nil {
		return f, err
	}
	if n != uint64(len(b)) {
		return f, fmt.Errorf("%w: fence promiser of %d bytes, %d left", ErrCorrupt, n, len(b))
	}
	f.By = string(b)
	return f, nil
}

func decodeHeadValue(v []byte) (Head, error) {
	var h Head
	b, err := checkFormat(v)
	if err != nil {
		return h, err
	}
	if h.Version, b, err = readVersion(b); err != nil {
		return h, err
	}
	if h.Epoch, b, err = readUvarint(b); err != nil {
		return h, err
	}
	if h.SnapshotVersion, b, err = readVersion(b); err != nil {
		return h, err
	}
	if len(b) != 0 {
		return h, fmt.Errorf("%w: %d trailing bytes in head", ErrCorrupt, len(b))
	}
	return h, nil
}

// appendCount frames a history bucket counter: format | count (uvarint).
func appendCount(dst []byte, n uint64) []byte {
	return binary.AppendUvarint(append(dst, FormatVersion), n)
}

func decodeCount(v []byte) (uint64, error) {
	b, err := checkFormat(v)
	if err != nil {
		return 0, err
	}
	n, _, err := readUvarint(b)
	return n, err
}
