package simrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plantwin/plantwin/simulations/scenario"
)

func load(t *testing.T, name string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Load("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestPressScenario runs the short press scenario in direct mode: the
// spike on press-2 raises its overheat alarm after the rule's 5 s, the
// rule's stop reaches the simulated press, which stops; press-1 stays
// quiet. Every expectation holds, and a second run with the seed decides
// the same at the same simulated times.
func TestPressScenario(t *testing.T) {
	var progress strings.Builder
	rep, err := Run(context.Background(), load(t, "press.yaml"), Options{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if !rep.Passed {
		t.Fatalf("expectations failed:\n%s", js)
	}
	if len(rep.Alarms) != 1 || rep.Alarms[0].Twin != "press-2" || rep.Alarms[0].RaisedAt != "1m5s" || rep.Alarms[0].ClearedAt == "" {
		t.Errorf("alarms %+v", rep.Alarms)
	}
	if len(rep.Commands) != 1 || rep.Commands[0].InvokedBy != "rule:overheat" || rep.Commands[0].DispatchedAt != "1m5s" {
		t.Errorf("commands %+v", rep.Commands)
	}
	again, err := Run(context.Background(), load(t, "press.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := fmt.Sprint(rep.Alarms, rep.Commands, rep.Expectations), fmt.Sprint(again.Alarms, again.Commands, again.Expectations)
	if a != b {
		t.Errorf("a second run differs:\n%s\n%s", a, b)
	}
}

// TestFailingExpectation: an expectation that does not hold fails the run
// with a detail saying what happened instead.
func TestFailingExpectation(t *testing.T) {
	sc := load(t, "press.yaml")
	sc.Expect[0].RaisedWithin.To = sc.Expect[0].RaisedWithin.From + 1
	rep, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || rep.Expectations[0].Passed || !strings.Contains(rep.Expectations[0].Detail, "raised on press-2 at 1m5s, not within") {
		t.Errorf("report %+v", rep.Expectations)
	}
}

// TestPacedRunDecidesAlike: --speed paces the run to wall time (10 s
// simulated at 10x takes at least 1 s) and decides exactly as the run at
// full speed.
func TestPacedRunDecidesAlike(t *testing.T) {
	sc := load(t, "press.yaml")
	sc.Duration = 10 * time.Second
	sc.Faults[0].At = 2 * time.Second
	sc.Expect = sc.Expect[:1]
	sc.Expect[0].RaisedWithin.From, sc.Expect[0].RaisedWithin.To = 6*time.Second, 8*time.Second
	fast, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	paced, err := Run(context.Background(), sc, Options{Speed: 10})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("10 s at 10x took %v", took)
	}
	if !fast.Passed || fmt.Sprint(fast.Alarms, fast.Commands) != fmt.Sprint(paced.Alarms, paced.Commands) {
		t.Errorf("full speed %+v %+v\npaced %+v %+v", fast.Alarms, fast.Expectations, paced.Alarms, paced.Commands)
	}
}

// TestBundledScenarios runs every scenario under simulations/scenarios
// with its expectations, with its seed and with another, and checks over
// a short horizon that a run at full speed and one paced at 10x give the
// same recording.
func TestBundledScenarios(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bundled scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := scenario.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), sc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range rep.Expectations {
				if !e.Passed {
					t.Errorf("%s: %s", e.Name, e.Detail)
				}
			}
			// The expectations hold for another seed too.
			other, err := Run(context.Background(), sc, Options{Seed: sc.Seed + 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range other.Expectations {
				if !e.Passed {
					t.Errorf("seed %d: %s: %s", other.Seed, e.Name, e.Detail)
				}
			}
			// Determinism over a short horizon: at full speed and paced,
			// the same recording.
			until := min(sc.Duration, 20*time.Second)
			var fast, paced bytes.Buffer
			a, err := Run(context.Background(), sc, Options{Until: until, Record: &fast})
			if err != nil {
				t.Fatal(err)
			}
			b, err := Run(context.Background(), sc, Options{Until: until, Record: &paced, Speed: 10})
			if err != nil {
				t.Fatal(err)
			}
			if a.Recording.Samples == 0 || a.Recording.SHA256 != b.Recording.SHA256 {
				t.Errorf("over %v: recording %+v at full speed, %+v at 10x", until, a.Recording, b.Recording)
			}
		})
	}
}
