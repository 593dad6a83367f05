package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plantwin/plantwin/simulations/recording"
)

const simPlant = `models:
  - name: tank
    properties:
      - {name: temperature, type: double, unit: degC}
      - {name: on, type: bool}
      - {name: note, type: string}
    rules:
      - name: overheat
        when: temperature > 90.0
        for: 2s
        severity: high
twins:
  - {id: "tank-{1..2}", model: tank}
`

// simFiles writes the plant and a CSV of samples into a fresh directory.
func simFiles(t *testing.T) (dir, plant, csv string) {
	t.Helper()
	dir = t.TempDir()
	plant, csv = filepath.Join(dir, "plant.yaml"), filepath.Join(dir, "in.csv")
	in := "at,twin,property,value,quality\n" +
		"2026-05-01T10:00:00.5Z,tank-1,temperature,50.0,good\n" +
		"2026-05-01T10:00:01.5Z,tank-1,temperature,95.5,good\n" +
		"2026-05-01T10:00:05.5Z,tank-1,temperature,97.25,uncertain\n" +
		"2026-05-01T10:00:05.5Z,tank-2,on,true,good\n" +
		"2026-05-01T10:00:05.5Z,tank-2,note,\"\"\"42\"\"\",good\n"
	if err := os.WriteFile(plant, []byte(simPlant), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csv, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, plant, csv
}

// TestSimCSV imports a CSV file into a recording carrying the plant and
// exports it back: the samples come back at seconds from the origin (the
// first row's time truncated to the second). Bad input exits 2 with the
// file and position.
func TestSimCSV(t *testing.T) {
	dir, plant, csv := simFiles(t)
	rec, out := filepath.Join(dir, "x.ptrec"), filepath.Join(dir, "out.csv")
	got, err := runCLI(t, "sim", "import", csv, "--out", rec, "--plant", plant)
	if err != nil || !strings.Contains(got, "5 samples in 3 blocks written to "+rec+" (origin 2026-05-01T10:00:00Z)") {
		t.Fatalf("import: %v\n%s", err, got)
	}
	f, err := os.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := recording.ReadAll(f)
	f.Close()
	if err != nil || string(h.Plant) != simPlant || h.PlantName != plant {
		t.Errorf("the recording's header %+v: %v", h, err)
	}
	got, err = runCLI(t, "sim", "export", rec, "--csv", out)
	if err != nil || !strings.Contains(got, "5 samples written to "+out) {
		t.Fatalf("export: %v\n%s", err, got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "at,twin,property,value,quality\n" +
		"0.5,tank-1,temperature,50.0,good\n" +
		"1.5,tank-1,temperature,95.5,good\n" +
		"5.5,tank-1,temperature,97.25,uncertain\n" +
		"5.5,tank-2,note,\"\"\"42\"\"\",good\n" +
		"5.5,tank-2,on,true,good\n"
	if string(b) != want {
		t.Errorf("exported:\n%s\nwant:\n%s", b, want)
	}
	// The export imports again (at in seconds, --origin) to the same
	// recording.
	again := filepath.Join(dir, "again.ptrec")
	if got, err := runCLI(t, "sim", "import", out, "--out", again, "--plant", plant, "--origin", "2026-05-01T10:00:00Z"); err != nil {
		t.Fatalf("import of the export: %v\n%s", err, got)
	}
	a, _ := os.ReadFile(rec)
	c, _ := os.ReadFile(again)
	if !bytes.Equal(a, c) {
		t.Errorf("the export imported again gives another recording")
	}

	for _, tc := range []struct{ name, csv, want string }{
		{"bad value", "at,twin,property,value\n1,tank-1,temperature,1e999\n", "bad.csv:2:22: value: number 1e999 is out of the double range"},
		{"unknown twin", "at,twin,property,value\n1,tank-9,temperature,1\n", "bad.csv: at 1s: twin tank-9 is not in " + plant},
		{"unknown property", "at,twin,property,value\n1,tank-1,pressure,1\n", "bad.csv: at 1s: twin tank-1 (model tank) has no property pressure"},
	} {
		bad := filepath.Join(dir, "bad.csv")
		if err := os.WriteFile(bad, []byte(tc.csv), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := runCLI(t, "sim", "import", bad, "--out", filepath.Join(dir, "bad.ptrec"), "--plant", plant)
		if exitCode(err) != 2 || !strings.Contains(got, tc.want) {
			t.Errorf("%s: exit %d\n%s\nwant %q", tc.name, exitCode(err), got, tc.want)
		}
	}
	if got, err := runCLI(t, "sim", "export", rec); exitCode(err) != 2 || !strings.Contains(got, "--csv OUT.csv is required") {
		t.Errorf("export without --csv: exit %d\n%s", exitCode(err), got)
	}
}

// TestSimReplay replays an imported recording into a kept data directory;
// a truncated recording exits 2 naming the file and the offset.
func TestSimReplay(t *testing.T) {
	dir, plant, csv := simFiles(t)
	rec := filepath.Join(dir, "x.ptrec")
	if got, err := runCLI(t, "sim", "import", csv, "--out", rec, "--plant", plant); err != nil {
		t.Fatalf("import: %v\n%s", err, got)
	}
	got, err := runCLI(t, "sim", "replay", rec, "--data", filepath.Join(dir, "data"), "--speed", "max")
	if err != nil || !strings.Contains(got, rec+": 5 samples in 3 blocks, 5s simulated in ") || !strings.Contains(got, ", 0 rejected") {
		t.Fatalf("replay: %v\n%s", err, got)
	}
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.ptrec")
	if err := os.WriteFile(trunc, data[:len(data)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = runCLI(t, "sim", "replay", trunc, "--plant", plant)
	if exitCode(err) != 2 || !regexp.MustCompile(`trunc\.ptrec: (simrun: replay: )?recording: offset \d+: unexpected end of file`).MatchString(got) {
		t.Errorf("truncated recording: exit %d\n%s", exitCode(err), got)
	}
	if got, err := runCLI(t, "sim", "replay", rec, "--speed", "fast"); exitCode(err) != 2 || !strings.Contains(got, `--speed "fast"`) {
		t.Errorf("bad --speed: exit %d\n%s", exitCode(err), got)
	}
}

// TestSimRecord records a demo node's telemetry: for a --duration, of two
// twins, with the plant stored; and until SIGINT, which closes the file
// properly. The recording replays.
func TestSimRecord(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--demo-period", "200ms")
	dir := t.TempDir()
	rec := filepath.Join(dir, "two.ptrec")
	const demo = "../../simulations/demo/demo.yaml"
	got, err := runCLI(t, "sim", "record", "--server", n.addr, "--out", rec, "--duration", "3s", "--twin", "pump-L1-01", "--twin", "pump-L1-02", "--plant", demo)
	m := regexp.MustCompile(`recorded (\d+) samples of 2 twins and \d+ events to `).FindStringSubmatch(got)
	if err != nil || m == nil {
		t.Fatalf("record: %v\n%s", err, got)
	}
	f, err := os.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	h, blocks, err := recording.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	plant, _ := os.ReadFile(demo)
	if !bytes.Equal(h.Plant, plant) || h.Origin.Nanosecond() != 0 || h.Origin.IsZero() {
		t.Errorf("header: origin %v, plant of %d bytes from %s", h.Origin, len(h.Plant), h.PlantName)
	}
	samples := 0
	for _, b := range blocks {
		for _, s := range b.Samples {
			if s.Twin != "pump-L1-01" && s.Twin != "pump-L1-02" {
				t.Fatalf("a sample of %s", s.Twin)
			}
			samples++
		}
	}
	if strconv.Itoa(samples) != m[1] || samples == 0 {
		t.Errorf("%d samples in the file, %s printed", samples, m[1])
	}
	got, err = runCLI(t, "sim", "replay", rec)
	if err != nil || !strings.Contains(got, ", 0 rejected") {
		t.Errorf("replay of the capture: %v\n%s", err, got)
	}

	// Until interrupted.
	all := filepath.Join(dir, "all.ptrec")
	cmd := exec.Command(binary, "sim", "record", "--server", n.addr, "--out", all)
	var stdout syncBuffer
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	progress := regexp.MustCompile(`record .*all\.ptrec: [1-9]\d* samples`)
	waitFor(t, 30*time.Second, "samples recorded", func() bool { return progress.MatchString(stderr.String()) })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("record after SIGINT: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "recorded ") {
		t.Errorf("no counts printed:\n%s", stdout.String())
	}
	f, err = os.Open(all)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, blocks, err := recording.ReadAll(f); err != nil || len(blocks) == 0 {
		t.Errorf("the interrupted recording: %d blocks, %v", len(blocks), err)
	}
	n.stop()
}
