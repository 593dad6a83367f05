package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// Restore copies the checkpoint in from (written by Store.Checkpoint) into
// dataDir, the data directory of a stopped node, on the local file system.
// It verifies that from is a plantwin store of a known format, refuses a
// dataDir that is locked by a running store or is not empty, copies the
// files (fsyncing each and the directory) and finally opens and closes the
// restored store to verify it. On failure after copying it removes the
// files it copied.
func Restore(from, dataDir string) error {
	from, err := filepath.Abs(from)
	if err != nil {
		return fmt.Errorf("persistence: restore from %s: %w", from, err)
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("persistence: restore into %s: %w", dataDir, err)
	}
	wrap := func(err error) error {
		return fmt.Errorf("persistence: restore %s into %s: %w", from, dataDir, err)
	}
	if from == dataDir {
		return wrap(errors.New("source and target are the same directory"))
	}
	if err := verifyCheckpoint(from); err != nil {
		return wrap(err)
	}
	if err := checkRestoreTarget(dataDir); err != nil {
		return wrap(err)
	}

	names, err := copyDir(from, dataDir)
	if err != nil {
		removeFiles(dataDir, names)
		return wrap(err)
	}
	cfg := DefaultConfig(dataDir)
	cfg.CacheSize = 8 << 20
	cfg.HistoryRetention = 0
	s, err := Open(cfg)
	if err == nil {
		err = s.Close()
	}
	if err != nil {
		removeFiles(dataDir, names)
		return wrap(fmt.Errorf("verify restored store: %w", err))
	}
	return nil
}

// verifyCheckpoint opens dir read-only and checks its format marker.
func verifyCheckpoint(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, ErrorIfNotExists: true, Logger: pebbleLogger{log: discardLogger()}})
	if err != nil {
		return fmt.Errorf("source is not a Pebble store: %w", err)
	}
	defer db.Close()
	v, closer, err := db.Get(formatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("source has no plantwin format marker: %w", ErrUnknownFormat)
	}
	if err != nil {
		return fmt.Errorf("source: read format marker: %w", err)
	}
	defer closer.Close()
	found, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) {
		return fmt.Errorf("source: format marker %x: %w", v, ErrCorrupt)
	}
	if found != FormatVersion {
		return fmt.Errorf("source store format: found %d, this build reads %d: %w", found, FormatVersion, ErrUnknownFormat)
	}
	return nil
}

// checkRestoreTarget refuses a dataDir that a running store has locked or
// that holds any file. A missing dataDir is fine.
func checkRestoreTarget(dataDir string) error {
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	for _, e := range entries {
		if e.Name() != "LOCK" {
			continue
		}
		// Pebble holds LOCK while a store is open: in another process an
		// fcntl lock, in this one an entry in vfs.Default's table (keyed by
		// path, which is why Open makes on-disk paths absolute).
		l, err := vfs.Default.Lock(filepath.Join(dataDir, "LOCK"))
		if err != nil {
			return fmt.Errorf("target is in use by a running node (LOCK held): %w", err)
		}
		_ = l.Close()
	}
	if len(entries) > 0 {
		return fmt.Errorf("target is not empty (%d entries, e.g. %s)", len(entries), entries[0].Name())
	}
	return nil
}

// copyDir copies the regular files of src into dst (created if needed),
// syncing each file and dst. It returns the names copied so far.
func copyDir(src, dst string) ([]string, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return names, fmt.Errorf("unexpected non-regular file %s in checkpoint", e.Name())
		}
		names = append(names, e.Name())
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return names, err
		}
	}
	d, err := os.Open(dst)
	if err != nil {
		return names, err
	}
	defer d.Close()
	return names, d.Sync()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return fmt.Errorf("sync %s: %w", dst, err)
	}
	return out.Close()
}

func removeFiles(dir string, names []string) {
	for _, n := range names {
		_ = os.Remove(filepath.Join(dir, n))
	}
}
