package simrun

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
