package actors

import (
	"context"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

const quietPlant = `
models:
  - name: oven
    properties:
      - {name: temperature, type: double}
    rules:
      - name: overheat
        when: temperature > 90.0
        for: 3s
twins:
  - id: oven-{1..3}
    model: oven
`

func startRulesNode(t *testing.T, dir string, mod func(*Config)) *testNode {
	t.Helper()
	cfg, err := twins.ParseConfig("oven.yaml", []byte(quietPlant))
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Twins: cfg, Store: store}
	if mod != nil {
		mod(&c)
	}
	rt, err := Start(c)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	n := &testNode{rt: rt, store: store}
	t.Cleanup(n.close)
	return n
}

func alarmActive(t *testing.T, rt *Runtime, id string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, _, err := rt.State(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st.Alarms[0].Active
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQuietTwinPassivatesAndIsWokenOnTime: a device sends one hot sample
// and goes quiet. The twin passivates with its for: window open; the
// node's wake schedule activates it when the window ends, and the alarm
// is raised at the window's due event time though nothing arrived.
func TestQuietTwinPassivatesAndIsWokenOnTime(t *testing.T) {
	n := startRulesNode(t, t.TempDir(), func(c *Config) { c.PassivateAfter = 100 * time.Millisecond })
	start := time.Now()
	src := start.UnixNano()
	apply(t, n.rt, "oven-1", &pb.Sample{Property: "temperature", Value: dbl(95), SourceTimeUnixNano: src})
	until(t, "the twin to passivate with its window open", func() bool { return n.rt.ActiveTwins() == 0 })
	if took := time.Since(start); took > 2900*time.Millisecond {
		t.Fatalf("passivation took %v, longer than the rule's 3s window", took)
	}
	if alarmActive(t, n.rt, "oven-1") {
		t.Fatal("alarm raised before its window ended")
	}
	until(t, "the wake schedule to raise the alarm", func() bool { return alarmActive(t, n.rt, "oven-1") })
	st, _, _ := n.rt.State(context.Background(), "oven-1")
	if want := src + int64(3*time.Second); st.Alarms[0].RaisedAt != want {
		t.Errorf("raised at %d, want the window's end %d", st.Alarms[0].RaisedAt, want)
	}
}

// TestWakeScheduleSurvivesRestart: the node stops with a window open and
// restarts; without any new sample the alarm is raised on time.
func TestWakeScheduleSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startRulesNode(t, dir, nil)
	src := time.Now().UnixNano()
	apply(t, n.rt, "oven-2", &pb.Sample{Property: "temperature", Value: dbl(97), SourceTimeUnixNano: src})
	n.close()
	n = startRulesNode(t, dir, nil)
	until(t, "the restarted node to raise the alarm", func() bool { return alarmActive(t, n.rt, "oven-2") })
	if alarmActive(t, n.rt, "oven-3") {
		t.Error("a twin without a due time raised an alarm")
	}
}
