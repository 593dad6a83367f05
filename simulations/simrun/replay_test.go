package simrun

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations/recording"
	"github.com/plantwin/plantwin/twins"
)

const replayPlant = `models:
  - name: tank
    properties:
      - {name: temperature, type: double, unit: degC}
      - {name: level, type: int}
    rules:
      - name: overheat
        when: temperature > 90.0
        for: 2s
        severity: high
twins:
  - {id: "tank-{1..2}", model: tank}
`

var replayOrigin = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// tankRecording is 10 s of two tanks at 1 s: tank-1 heats by 10 °C a
// second from 50 °C (above 90 °C from 5 s), tank-2 stays at 20 °C and
// reports a level; one sample of tank-2 has the wrong type. extra is
// added as it is.
func tankRecording(t *testing.T, plant string, extra ...recording.Sample) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := recording.NewWriter(&buf, recording.Header{Scenario: "tanks", Origin: replayOrigin, Tick: time.Second, PlantName: "plant.yaml", Plant: []byte(plant)})
	if err != nil {
		t.Fatal(err)
	}
	good := twins.QualityGood
	for s := range 11 {
		at := time.Duration(s) * time.Second
		w.Sample(recording.Sample{At: at, Twin: "tank-1", Property: "temperature", Value: twins.Double(50 + 10*float64(s)), Quality: good})
		w.Sample(recording.Sample{At: at, Twin: "tank-2", Property: "temperature", Value: twins.Double(20), Quality: good})
		w.Sample(recording.Sample{At: at, Twin: "tank-2", Property: "level", Value: twins.Int(int64(s)), Quality: good})
	}
	w.Sample(recording.Sample{At: 3 * time.Second, Twin: "tank-2", Property: "temperature", Value: twins.String("hot"), Quality: good})
	w.Event(recording.Event{At: 7 * time.Second, Twin: "tank-1", Kind: "alarm", Name: "overheat", Detail: "raised"})
	for _, s := range extra {
		w.Sample(s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReplay replays a recording into a node on a kept data directory:
// every sample is applied (the wrongly typed one refused and counted),
// and the node reopened on that directory holds the last values at their
// source times and the overheat alarm raised at 7 s of simulated time
// (above 90 °C from 5 s, for 2 s), as in lockstep on the virtual clock.
func TestReplay(t *testing.T) {
	data := tankRecording(t, replayPlant)
	rd, err := recording.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var progress strings.Builder
	rep, err := Replay(context.Background(), rd, ReplayOptions{Data: dir, Progress: &progress, Every: time.Nanosecond, Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	want := ReplayReport{Samples: 34, Blocks: 11, Simulated: 10 * time.Second, Rejected: 1}
	got := *rep
	got.WallSeconds = 0
	if got != want {
		t.Errorf("report %+v, want %+v", got, want)
	}
	if !strings.Contains(progress.String(), "replay tanks") || !strings.Contains(progress.String(), "t=10s") {
		t.Errorf("progress:\n%s", progress.String())
	}

	plant, err := twins.ParseConfig("plant.yaml", []byte(replayPlant))
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rt, err := actors.Start(actors.Config{Twins: plant, Store: store, Clock: actors.NewVirtualClock(replayOrigin.Add(10 * time.Second)), PassivateAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, tc := range []struct {
		twin, property string
		value          twins.Value
	}{
		{"tank-1", "temperature", twins.Double(150)},
		{"tank-2", "temperature", twins.Double(20)},
		{"tank-2", "level", twins.Int(10)},
	} {
		st, _, err := rt.State(context.Background(), tc.twin)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := st.Spec.Model.Property(tc.property)
		r := st.Reported[p.Index]
		if !r.Value.Equal(tc.value) || r.SourceTime != replayOrigin.Add(10*time.Second).UnixNano() {
			t.Errorf("%s.%s = %v at %v, want %v at 10s", tc.twin, tc.property, r.Value, time.Unix(0, r.SourceTime).Sub(replayOrigin), tc.value)
		}
	}
	st, _, err := rt.State(context.Background(), "tank-1")
	if err != nil {
		t.Fatal(err)
	}
	if a := st.Alarms[0]; !a.Active || a.RaisedAt != replayOrigin.Add(7*time.Second).UnixNano() {
		t.Errorf("overheat on tank-1: active %v raised at %v, want raised at 7s", a.Active, time.Unix(0, a.RaisedAt).Sub(replayOrigin))
	}
	st, _, err = rt.State(context.Background(), "tank-2")
	if err != nil {
		t.Fatal(err)
	}
	if a := st.Alarms[0]; a.RaisedAt != 0 {
		t.Errorf("overheat raised on tank-2 at %v", time.Unix(0, a.RaisedAt).Sub(replayOrigin))
	}
}

// TestReplayErrors: a twin the plant lacks is named with the block's
// time; a recording without a plant needs one; a damaged file is an error
// naming its offset.
func TestReplayErrors(t *testing.T) {
	replay := func(data []byte, o ReplayOptions) error {
		rd, err := recording.NewReader(bytes.NewReader(data))
		if err != nil {
			return err
		}
		_, err = Replay(context.Background(), rd, o)
		return err
	}
	stray := recording.Sample{At: 2 * time.Second, Twin: "tank-9", Property: "temperature", Value: twins.Double(1)}
	if err := replay(tankRecording(t, replayPlant, stray), ReplayOptions{}); err == nil || !strings.Contains(err.Error(), "t=2s: twin tank-9 is not in plant.yaml") {
		t.Errorf("unknown twin: %v", err)
	}
	if err := replay(tankRecording(t, ""), ReplayOptions{}); err == nil || !strings.Contains(err.Error(), "carries no plant") {
		t.Errorf("no plant: %v", err)
	}
	plant, err := twins.ParseConfig("given.yaml", []byte(replayPlant))
	if err != nil {
		t.Fatal(err)
	}
	data := tankRecording(t, "")
	err = replay(data[:len(data)-20], ReplayOptions{Plant: plant})
	if !errors.Is(err, recording.ErrCorrupt) || !strings.Contains(err.Error(), "offset") {
		t.Errorf("truncated: %v", err)
	}
	if err := replay(tankRecording(t, "models: [\n"), ReplayOptions{}); err == nil || !strings.Contains(err.Error(), "plant.yaml:") {
		t.Errorf("broken plant: %v", err)
	}
}

// TestPacedReplay: a paced replay of 10 s at 100x takes at least 100 ms
// and applies the same.
func TestPacedReplay(t *testing.T) {
	rd, err := recording.NewReader(bytes.NewReader(tankRecording(t, replayPlant)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := Replay(context.Background(), rd, ReplayOptions{Speed: 100})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 100*time.Millisecond || rep.Samples != 34 || rep.Rejected != 1 {
		t.Errorf("took %v, report %+v", took, rep)
	}
}
