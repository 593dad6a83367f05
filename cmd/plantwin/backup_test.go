package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackupRestoreRoundTrip backs up a live node while telemetry flows,
// restores the backup into a fresh data directory, and starts a node on it.
func TestBackupRestoreRoundTrip(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, "--demo", "--data", data, "--demo-period", "100ms")
	waitFor(t, 60*time.Second, "twins at version 5", func() bool {
		for _, v := range n.versions() {
			if v < 5 {
				return false
			}
		}
		return true
	})
	before := n.versions()
	bdir := filepath.Join(t.TempDir(), "backup")
	out, err := runCLI(t, "backup", "--server", n.addr, "--to", bdir)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if !strings.Contains(out, "backup of "+n.addr+" written to "+bdir) {
		t.Fatalf("backup output does not confirm the backup:\n%s", out)
	}
	after := n.versions()
	n.stop()

	// A second backup into the now non-empty directory is refused.
	if out, err := runCLI(t, "backup", "--server", "127.0.0.1:1", "--to", bdir); err == nil || !strings.Contains(out, "is not empty") {
		t.Fatalf("backup into a non-empty directory: err=%v output:\n%s", err, out)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := runCLI(t, "restore", "--from", bdir, "--data", restored); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// Restoring over a store that holds data is refused.
	if out, err := runCLI(t, "restore", "--from", bdir, "--data", data); err == nil {
		t.Fatalf("restore into a non-empty data directory succeeded:\n%s", out)
	}
	// Restoring from something that is not a backup is refused.
	junk := t.TempDir()
	os.WriteFile(filepath.Join(junk, "README"), []byte("not a store"), 0o644)
	if out, err := runCLI(t, "restore", "--from", junk, "--data", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Fatalf("restore from a non-backup succeeded:\n%s", out)
	}

	// The demo generator idles (1h period) and feeds the twins directly,
	// so the restored versions stay put (over the protocols, the
	// connectors' first poll at start would add a version).
	n2 := startNode(t, "--demo", "--demo-feed", "direct", "--data", restored, "--demo-period", "1h")
	got := n2.versions()
	if len(got) != len(before) {
		t.Fatalf("restored node lists %d twins, want %d", len(got), len(before))
	}
	for id, v := range got {
		if v < before[id] || v > after[id] {
			t.Errorf("twin %s: restored version %d, want between %d (before backup) and %d (after)", id, v, before[id], after[id])
		}
	}
	n2.stop()
}

// TestServeRejectsBadConfig checks that a bad configuration stops serve
// with an error naming file, line and field.
func TestServeRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plant.yaml")
	os.WriteFile(path, []byte(`models:
  - name: pump
    properties:
      - {name: flow, type: doubel}
twins:
  - id: p1
    model: pump
`), 0o644)
	out, err := runCLI(t, "serve", "--config", path, "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0")
	if err == nil {
		t.Fatalf("serve accepted a bad config:\n%s", out)
	}
	for _, want := range []string{"plant.yaml:4:", "models[0].properties[0].type", "doubel"} {
		if !strings.Contains(out, want) {
			t.Errorf("error output lacks %q:\n%s", want, out)
		}
	}
}

// TestServeRefusesExposedListener checks the loopback guard.
func TestServeRefusesExposedListener(t *testing.T) {
	out, err := runCLI(t, "serve", "--demo", "--data", t.TempDir(), "--listen", "0.0.0.0:0")
	if err == nil || !strings.Contains(out, "not a loopback address") || !strings.Contains(out, "--insecure") {
		t.Fatalf("serve on 0.0.0.0 without --insecure: err=%v\n%s", err, out)
	}
}

// TestServeRefusesLockedDataDir starts a second node on a data directory a
// running node holds.
func TestServeRefusesLockedDataDir(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, "--demo", "--data", data)
	out, err := runCLI(t, "serve", "--demo", "--data", data, "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(out, "locked by another process") {
		t.Fatalf("second serve on a locked data directory: err=%v\n%s", err, out)
	}
	n.stop()
}
