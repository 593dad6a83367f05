package actors

import (
	"context"
	"strings"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

const linePlant = `
models:
  - name: line
    properties:
      - {name: speed, type: double}
    commands:
      - name: stop
        parameters: [{name: reason, type: string}]
      - name: slow
  - name: press
    properties:
      - {name: temperature, type: double}
    commands:
      - name: slow
    rules:
      - name: overheat
        when: temperature > 90.0
        message: press at {temperature}
        actions:
          - {command: stop, target: parent, args: {reason: overheat}}
          - {emit: 'press {temperature} too hot, line stopping'}
  - name: cell
    properties:
      - {name: temperature, type: double}
    commands:
      - name: slow
  - name: guard
    properties:
      - {name: open, type: bool}
    rules:
      - name: door
        when: open
        actions: [{command: slow, target: children}]
twins:
  - {id: line-1, model: line}
  - {id: press-1, model: press, parent: line-1}
  - {id: press-2, model: press, parent: line-1}
  - {id: guard-1, model: guard}
  - {id: cell-1, model: cell, parent: guard-1}
  - {id: cell-2, model: cell, parent: guard-1}
`

// TestRuleCommandsReachRelatedTwins: a press's rule stops its line (the
// parent), a guard's rule slows its cells (the children); each command is
// created once on the related twin, by the rule, and the message the rule
// emits reaches watchers.
func TestRuleCommandsReachRelatedTwins(t *testing.T) {
	cfg, err := twins.ParseConfig("line.yaml", []byte(linePlant))
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Start(Config{Twins: cfg, Store: store})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	n := &testNode{rt: rt, store: store}
	t.Cleanup(n.close)
	sub := rt.Subscribe([]string{"press-1"}, 64)
	defer sub.Close()

	now := time.Now().UnixNano()
	apply(t, rt, "press-1", &pb.Sample{Property: "temperature", Value: dbl(95.5), SourceTimeUnixNano: now})
	apply(t, rt, "guard-1", &pb.Sample{Property: "open", Value: boolean(true), SourceTimeUnixNano: now})
	commands := func(id string) []twins.CommandRecord {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, _, err := rt.State(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Commands
	}
	until(t, "line-1 to get the stop", func() bool { return len(commands("line-1")) > 0 })
	until(t, "both cells to get slow", func() bool { return len(commands("cell-1")) > 0 && len(commands("cell-2")) > 0 })
	c := commands("line-1")
	if len(c) != 1 || c[0].Name != "stop" || c[0].Actor != "rule:overheat@press-1" || c[0].Args[0].Value.AsString() != "overheat" {
		t.Fatalf("line-1 commands %+v", c)
	}
	if c := commands("cell-2"); len(c) != 1 || c[0].Name != "slow" || c[0].Actor != "rule:door@guard-1" {
		t.Fatalf("cell-2 commands %+v", c)
	}
	if c := commands("press-2"); len(c) != 0 {
		t.Errorf("press-2 got %+v", c)
	}
	var emitted string
	deadline := time.After(10 * time.Second)
	for emitted == "" {
		select {
		case ch := <-sub.C():
			for _, ev := range ch.Events {
				if pc := ChangeToProto(ch.Spec, ev.Version, ev.Event); pc.RuleEvent != "" && !strings.Contains(pc.RuleEvent, " on parent") {
					emitted = pc.RuleEvent
				}
			}
		case <-deadline:
			t.Fatal("no emitted message on the feed")
		}
	}
	if emitted != "overheat: press 95.5 too hot, line stopping" {
		t.Errorf("emitted %q", emitted)
	}
	audit, err := rt.ReadAudit("press-1", 0, 0)
	var trail []string
	for _, e := range audit {
		trail = append(trail, e.Actor+" "+e.Action+" "+e.Detail)
	}
	want := []string{"rule:overheat raised overheat → active_unacked: press at 95.5", `rule:overheat command_requested overheat: stop reason="overheat" on parent`}
	if err != nil || strings.Join(trail, "\n") != strings.Join(want, "\n") {
		t.Errorf("press-1 audit:\n%s\nwant:\n%s (%v)", strings.Join(trail, "\n"), strings.Join(want, "\n"), err)
	}
}

func TestRelatedCommandMustExist(t *testing.T) {
	bad := strings.Replace(linePlant, "    commands:\n      - name: slow\n  - name: guard", "  - name: guard", 1)
	_, err := twins.ParseConfig("line.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), `has no command "slow"`) || !strings.Contains(err.Error(), "line.yaml:") {
		t.Fatalf("err %v", err)
	}
}

const rollupPlant = `
models:
  - name: line
    properties:
      - {name: target, type: double}
    rules:
      - {name: faults, when: 'children.count(state == "fault") >= 2', severity: critical}
      - {name: underpowered, when: 'children.sum("power") < 50.0'}
  - name: pump
    properties:
      - {name: power, type: double}
      - {name: state, type: enum, values: [run, fault]}
twins:
  - {id: line-1, model: line}
  - id: pump-{1..3}
    model: pump
    parent: line-1
`

// TestRollupsFollowChildren: a line's rules read roll-ups over its pumps;
// the pumps report as they change, and a line activated later (after its
// pumps changed) starts from their stored state.
func TestRollupsFollowChildren(t *testing.T) {
	cfg, err := twins.ParseConfig("line.yaml", []byte(rollupPlant))
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Start(Config{Twins: cfg, Store: store, PassivateAfter: 200 * time.Millisecond})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	n := &testNode{rt: rt, store: store}
	t.Cleanup(n.close)
	now := time.Now().UnixNano()
	pump := func(id string, power float64, state string) {
		apply(t, rt, id, &pb.Sample{Property: "power", Value: dbl(power), SourceTimeUnixNano: now},
			&pb.Sample{Property: "state", Value: &pb.Value{Kind: &pb.Value_EnumValue{EnumValue: state}}, SourceTimeUnixNano: now})
		now++
	}
	// The pumps change before the line was ever activated.
	pump("pump-1", 10, "fault")
	pump("pump-2", 10, "run")
	pump("pump-3", 10, "run")
	alarm := func(name string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, _, err := rt.State(ctx, "line-1")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := st.Alarm(name)
		return a.Active
	}
	// Activating the line loads its pumps; the next report decides.
	getTwin(t, rt, "line-1")
	pump("pump-2", 10, "fault")
	until(t, "two pumps in fault raise the line's alarm", func() bool { return alarm("faults") })
	until(t, "30 of power under 50 raises underpowered", func() bool { return alarm("underpowered") })
	pump("pump-3", 40, "run")
	until(t, "70 of power clears underpowered", func() bool { return !alarm("underpowered") })
	pump("pump-1", 10, "run")
	until(t, "one pump in fault clears the faults alarm", func() bool { return !alarm("faults") })
}
