package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimRun runs the short press scenario through the CLI: the
// expectations pass, the JSON report holds them with the alarm and the
// command; a scenario whose expectation fails exits 1, a broken file 2
// with its position.
func TestSimRun(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "press.json")
	out, err := runCLI(t, "sim", "run", "../../simulations/simrun/testdata/press.yaml", "--report", report,
		"--report", filepath.Join(dir, "press.html"), "--report", filepath.Join(dir, "press.xml"))
	if err != nil || !strings.Contains(out, "PASS  overheat on press-2") {
		t.Fatalf("sim run: %v\n%s", err, out)
	}
	var rep struct {
		Passed       bool
		Expectations []struct {
			Name, Detail string
			Passed       bool
		}
		Alarms   []struct{ Twin, Name, RaisedAt, ClearedAt string }
		Commands []struct{ Twin, Name, Status, InvokedBy string }
	}
	b, err := os.ReadFile(report)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	if !rep.Passed || len(rep.Expectations) != 4 || len(rep.Alarms) != 1 || rep.Alarms[0].RaisedAt != "1m5s" || len(rep.Commands) != 1 || rep.Commands[0].Status != "succeeded" {
		t.Errorf("report %s", b)
	}

	for _, f := range []string{"press.html", "press.xml"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("report %s not written: %v", f, err)
		}
	}
	if out, err := runCLI(t, "sim", "run", "x.yaml", "--report", "r.pdf"); err == nil || !strings.Contains(out, "want a .json, .html or .xml") {
		t.Errorf("a .pdf report: %v\n%s", err, out)
	}

	data, err := os.ReadFile("../../simulations/simrun/testdata/press.yaml")
	if err != nil {
		t.Fatal(err)
	}
	failing := filepath.Join(dir, "failing.yaml")
	if err := os.WriteFile(failing, []byte(strings.Replace(string(data), "raised_within: [1m, 1m10s]", "raised_within: [10s, 20s]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "sim", "run", failing)
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "FAIL  overheat on press-2: overheat raised on press-2 at 1m5s, not within [10s, 20s]") {
		t.Fatalf("failing expectation: %v\n%s", err, out)
	}
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(data), "tick: 100ms", "tick: fast", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "sim", "run", broken)
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "broken.yaml:5:") {
		t.Fatalf("broken scenario: %v\n%s", err, out)
	}
}
