package persistence

import "errors"

// Errors returned by the store. Callers test them with errors.Is; the
// returned errors wrap them with the operation and the twin id or key.
var (
	// ErrFenced rejects a Write whose epoch is older than the newest epoch
	// the store has seen for the twin: it comes from a stale activation.
	ErrFenced = errors.New("persistence: fenced: stale activation epoch")
	// ErrNeedsSync rejects a plain Write whose epoch is newer than the
	// twin's log epoch: the writer must first bring this store's log in
	// line with a sync write (Write.Sync).
	ErrNeedsSync = errors.New("persistence: the log needs a sync write from the newer activation first")
	// ErrVersionGap rejects a Write whose events do not continue the twin's
	// journal (first version != head version + 1, or versions not contiguous).
	ErrVersionGap = errors.New("persistence: version gap")
	// ErrClosed is returned after Close, and for queued writes that could not
	// be committed while closing.
	ErrClosed = errors.New("persistence: store closed")
	// ErrUnknownFormat reports a store or value written in a format this
	// build does not read.
	ErrUnknownFormat = errors.New("persistence: unknown format")
	// ErrCorrupt reports a stored value or key that does not decode.
	ErrCorrupt = errors.New("persistence: corrupt data")
	// ErrInvalidWrite rejects a malformed Write (empty twin id, snapshot
	// version out of range, negative versions).
	ErrInvalidWrite = errors.New("persistence: invalid write")
	// ErrFailed is returned for every write after a commit failed: the
	// store's in-memory view may no longer match the disk, so it refuses
	// further writes until it is reopened.
	ErrFailed = errors.New("persistence: store failed after a storage error; reopen it")
	// ErrLocked reports a data directory another process holds open.
	ErrLocked = errors.New("persistence: data directory locked")
)
