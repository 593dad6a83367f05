package twins

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const pressConfig = `
models:
  - name: press
    properties:
      - {name: temperature, type: double, unit: °C}
      - {name: speed, type: double, writable: true}
      - {name: running, type: bool}
    commands:
      - name: stop
      - name: start
      - name: set_speed
        parameters:
          - {name: rpm, type: double, min: 0, max: 3000, required: true}
    rules:
      - name: overheat
        when: temperature > 90.0 && quality.temperature == "good"
        for: 10s
        clear_when: temperature < 85.0
        severity: critical
        message: temperature {temperature} above 90
        actions:
          - command: stop
          - set_desired: {speed: 0}
        blocks: [start]
twins:
  - id: press-1
    model: press
`

// at is an event time: second n of the test's day.
func at(n float64) int64 { return int64(n * float64(time.Second)) }

func pressState(t *testing.T) *State {
	t.Helper()
	cfg, err := ParseConfig("press.yaml", []byte(pressConfig))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("press-1")
	return NewState(spec)
}

// step is one input of a scenario: samples of temperature at source times
// (server time = the newest source time), or a tick at server time.
type step struct {
	temps []float64 // value, time pairs flattened: v0, t0, v1, t1...
	bad   bool      // the samples have bad quality
	tick  float64   // > 0: a Tick at this second
}

func temps(vt ...float64) step { return step{temps: vt} }
func tick(at float64) step     { return step{tick: at} }

// describe renders the events of a decision that a rule author cares
// about, with their event times in seconds.
func describe(s *State, evs []Event) []string {
	var out []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case AlarmChanged:
			out = append(out, fmt.Sprintf("%s %s @%g", s.Spec.Model.Rules[e.Rule].Name, e.Kind, float64(e.At)/1e9))
		case RulePending:
			out = append(out, fmt.Sprintf("pending %s @%g", s.Spec.Model.Rules[e.Rule].Name, float64(e.Since)/1e9))
		case CommandChanged:
			out = append(out, fmt.Sprintf("command %s %s %s", e.Command.ID, e.Command.Name, e.Command.Status))
		case DesiredSet:
			out = append(out, fmt.Sprintf("desired %s=%s", s.Spec.Model.Properties[e.Property].Name, e.Value))
		case WatermarkAdvanced:
			out = append(out, fmt.Sprintf("watermark @%g", float64(e.To)/1e9))
		}
	}
	return out
}

func run(t *testing.T, s *State, steps []step) []string {
	t.Helper()
	var out []string
	for _, st := range steps {
		var d Decision
		var err error
		if st.tick > 0 {
			d, err = s.Handle(Tick{Now: at(st.tick)}, at(st.tick))
		} else {
			var c ApplyTelemetry
			var now int64
			for i := 0; i+1 < len(st.temps); i += 2 {
				q := QualityGood
				if st.bad {
					q = QualityBad
				}
				c.Samples = append(c.Samples, Sample{Property: "temperature", Value: Double(st.temps[i]), SourceTime: at(st.temps[i+1]), Quality: q})
				now = max(now, at(st.temps[i+1]))
			}
			d, err = s.Handle(c, now)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, describe(s, d.Events)...)
	}
	return out
}

func TestRuleEvaluationOnEventTime(t *testing.T) {
	raise := []string{"overheat raised @%g", "command c1 stop pending", "desired speed=0"}
	raised := func(at float64) []string {
		r := append([]string(nil), raise...)
		r[0] = fmt.Sprintf(r[0], at)
		return r
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"below threshold", []step{temps(80, 1, 85, 2)}, nil},
		{"for window holds: raised when it ends, at its event time",
			[]step{temps(95, 1), temps(96, 5), temps(97, 11)},
			cat([]string{"pending overheat @1"}, raised(11))},
		{"for window broken: nothing raised",
			[]step{temps(95, 1), temps(80, 5), temps(95, 8), temps(96, 12)},
			[]string{"pending overheat @1", "pending overheat @0", "pending overheat @8"}},
		{"hysteresis: stays active between clear_when and when",
			[]step{temps(95, 1), temps(95, 11), temps(88, 12), temps(86, 13), temps(84, 14)},
			cat([]string{"pending overheat @1"}, raised(11), []string{"overheat cleared @14"})},
		{"one batch: the window is judged on the batch's newest event time",
			[]step{temps(95, 1, 96, 6, 97, 12)},
			cat([]string{"pending overheat @1"}, raised(12))},
		{"out of order: a late sample does not move event time back",
			[]step{temps(95, 1), temps(96, 12), temps(20, 3)},
			cat([]string{"pending overheat @1"}, raised(12))},
		{"bad quality: the condition requires good quality",
			[]step{{temps: []float64{95, 1, 96, 20}, bad: true}}, nil},
		{"quiet device: the window closes on the clock at its due event time",
			[]step{temps(95, 1), tick(5), tick(30)},
			cat([]string{"pending overheat @1", "watermark @11"}, raised(11))},
		{"quiet device below threshold: ticks decide nothing",
			[]step{temps(50, 1), tick(100)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := pressState(t)
			got := run(t, s, tc.steps)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// The same input gives the same decisions at the same times.
			again := run(t, pressState(t), tc.steps)
			if strings.Join(got, "\n") != strings.Join(again, "\n") {
				t.Errorf("replay decided differently:\n%s\nvs\n%s", strings.Join(got, "\n"), strings.Join(again, "\n"))
			}
		})
	}
}

func TestRuleRaisePersistsThroughApply(t *testing.T) {
	s := pressState(t)
	var all []Event
	for _, st := range []step{temps(95, 1), tick(20), temps(80, 21)} {
		before := s.Version
		var d Decision
		if st.tick > 0 {
			d, _ = s.Handle(Tick{Now: at(st.tick)}, at(st.tick))
		} else {
			d, _ = s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "temperature", Value: Double(st.temps[0]), SourceTime: at(st.temps[1])}}}, at(st.temps[1]))
		}
		if s.Version != before+int64(len(d.Events)) {
			t.Fatalf("version %d after %d events from %d", s.Version, len(d.Events), before)
		}
		all = append(all, d.Events...)
	}
	// Folding the journal into a fresh state gives the same alarms,
	// windows and commands: that is what recovery does.
	r := pressState(t)
	for _, ev := range all {
		r.Apply(ev)
	}
	a, _ := r.Alarm("overheat")
	if a.State != AlarmClearedUnacked || a.RaisedAt != at(11) || a.ClearedAt != at(21) || a.Message != "temperature 95 °C above 90" {
		t.Errorf("recovered alarm %+v", *a)
	}
	if len(r.Commands) != 1 || r.Commands[0].Actor != "rule:overheat" || r.Commands[0].Status != CommandPending {
		t.Errorf("recovered commands %+v", r.Commands)
	}
	if r.Version != s.Version || r.Watermark != s.Watermark {
		t.Errorf("recovered version %d watermark %d, want %d %d", r.Version, r.Watermark, s.Version, s.Watermark)
	}
}

func TestAlarmAckAndShelve(t *testing.T) {
	s := pressState(t)
	run(t, s, []step{temps(95, 1), temps(95, 11)})
	if _, err := s.Handle(AcknowledgeAlarm{Name: "nope", Actor: "token:op"}, at(12)); !errors.Is(err, ErrNoSuchAlarm) {
		t.Fatalf("unknown alarm: %v", err)
	}
	d, err := s.Handle(AcknowledgeAlarm{Name: "overheat", Actor: "token:op"}, at(12))
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("ack: %v %v", d, err)
	}
	if a, _ := s.Alarm("overheat"); a.State != AlarmActiveAcked || a.AckedBy != "token:op" {
		t.Fatalf("after ack %+v", *a)
	}
	if _, err := s.Handle(AcknowledgeAlarm{Name: "overheat", Actor: "token:op"}, at(13)); !errors.Is(err, ErrNothingToAcknowledge) {
		t.Fatalf("second ack: %v", err)
	}
	if _, err := s.Handle(ShelveAlarm{Name: "overheat", Until: at(100), Actor: "token:op", Reason: "sensor swap"}, at(14)); err != nil {
		t.Fatal(err)
	}
	if s.Due() != at(100) && s.Due() > at(100) {
		t.Errorf("due %d", s.Due())
	}
	d, _ = s.Handle(Tick{Now: at(100)}, at(100))
	if got := describe(s, d.Events); len(got) == 0 || got[0] != "overheat unshelved @100" {
		t.Errorf("expiry: %v", got)
	}
	// Cleared acknowledged: back to normal without another ack.
	run(t, s, []step{temps(80, 101)})
	if a, _ := s.Alarm("overheat"); a.State != AlarmNormal {
		t.Errorf("after clear %v", a.State)
	}
}

func TestCommandLifecycle(t *testing.T) {
	s := pressState(t)
	inv := InvokeCommand{Name: "set_speed", Args: map[string]Value{"rpm": Int(1200)}, Key: "k1", Actor: "token:op", Timeout: 2 * time.Second, TTL: 30 * time.Second}
	d, err := s.Handle(inv, at(1))
	if err != nil || d.Command == nil || d.Command.ID != "c1" || d.Command.Status != CommandPending {
		t.Fatalf("invoke: %+v %v", d.Command, err)
	}
	if d.Command.Args[0].Value.Type() != TypeDouble {
		t.Errorf("arg not coerced to double: %v", d.Command.Args)
	}
	// A repeated key (a re-delivered request) is a no-op returning the first.
	v := s.Version
	d, err = s.Handle(inv, at(2))
	if err != nil || len(d.Events) != 0 || d.Command.ID != "c1" || s.Version != v {
		t.Fatalf("repeat: %+v %v events %d", d.Command, err, len(d.Events))
	}
	for _, bad := range []struct {
		inv  InvokeCommand
		want error
	}{
		{InvokeCommand{Name: "launch"}, ErrNoSuchCommand},
		{InvokeCommand{Name: "set_speed"}, ErrInvalidArgs},
		{InvokeCommand{Name: "set_speed", Args: map[string]Value{"rpm": Int(9000)}}, ErrInvalidArgs},
		{InvokeCommand{Name: "set_speed", Args: map[string]Value{"rpm": Int(1), "x": Int(1)}}, ErrInvalidArgs},
		{InvokeCommand{Name: "stop", Key: "k1"}, ErrInvalidArgs},
	} {
		if _, err := s.Handle(bad.inv, at(3)); !errors.Is(err, bad.want) {
			t.Errorf("%+v: %v, want %v", bad.inv, err, bad.want)
		}
	}
	if got := s.ReadyCommands(at(3)); len(got) != 1 || got[0] != "c1" {
		t.Fatalf("ready %v", got)
	}
	// Attempt 1: the device is unreachable; retried after a backoff.
	s.Handle(DispatchCommand{ID: "c1"}, at(3))
	d, _ = s.Handle(CommandOutcome{ID: "c1", Attempt: 1, Err: "device not connected", Retry: true}, at(4))
	if d.Command.Status != CommandPending || d.Command.NextAttempt <= at(4) {
		t.Fatalf("retry: %+v", d.Command)
	}
	if len(s.ReadyCommands(at(4))) != 0 {
		t.Error("dispatchable before its backoff")
	}
	// Attempt 2: a late answer to attempt 1 changes nothing; the real one succeeds.
	s.Handle(DispatchCommand{ID: "c1"}, at(5))
	if d, _ := s.Handle(CommandOutcome{ID: "c1", Attempt: 1}, at(5)); len(d.Events) != 0 {
		t.Error("late answer applied")
	}
	d, _ = s.Handle(CommandOutcome{ID: "c1", Attempt: 2}, at(6))
	if d.Command.Status != CommandSucceeded || d.Command.Attempts != 2 || d.Command.Completed != at(6) {
		t.Fatalf("success: %+v", d.Command)
	}

	// A device that rejects the command: failed with its reason, not retried.
	d, _ = s.Handle(InvokeCommand{Name: "stop"}, at(10))
	id := d.Command.ID
	s.Handle(DispatchCommand{ID: id}, at(10))
	d, _ = s.Handle(CommandOutcome{ID: id, Attempt: 1, Err: "modbus exception 2 (illegal data address)"}, at(10))
	if d.Command.Status != CommandFailed || !strings.Contains(d.Command.Error, "illegal data address") {
		t.Errorf("rejected: %+v", d.Command)
	}

	// No answer within the timeout.
	d, _ = s.Handle(InvokeCommand{Name: "stop", Timeout: time.Second}, at(20))
	id = d.Command.ID
	s.Handle(DispatchCommand{ID: id}, at(20))
	if s.Due() != at(21) {
		t.Errorf("due %v, want the deadline", s.Due())
	}
	s.Handle(Tick{Now: at(21)}, at(21))
	if c, _ := s.Command(id); c.Status != CommandTimedOut {
		t.Errorf("timeout: %+v", c)
	}

	// Offline: not dispatched; timed out when its time-to-live ends.
	s.Handle(SetConnectivity{Connectivity: ConnectivityOffline}, at(30))
	d, _ = s.Handle(InvokeCommand{Name: "stop", TTL: 5 * time.Second}, at(30))
	id = d.Command.ID
	if len(s.ReadyCommands(at(31))) != 0 {
		t.Error("dispatchable while offline")
	}
	s.Handle(Tick{Now: at(35)}, at(35))
	if c, _ := s.Command(id); c.Status != CommandTimedOut || !strings.Contains(c.Error, "offline") {
		t.Errorf("ttl: %+v", c)
	}

	// A restart while dispatched: failed, outcome unknown, not sent again.
	s.Handle(SetConnectivity{Connectivity: ConnectivityOnline}, at(40))
	d, _ = s.Handle(InvokeCommand{Name: "stop"}, at(40))
	id = d.Command.ID
	s.Handle(DispatchCommand{ID: id}, at(40))
	s.Handle(Tick{Now: at(41), Restarted: true}, at(41))
	if c, _ := s.Command(id); c.Status != CommandFailed || !strings.Contains(c.Error, "outcome unknown") {
		t.Errorf("restart: %+v", c)
	}
}

func TestInterlockBlocksCommand(t *testing.T) {
	s := pressState(t)
	run(t, s, []step{temps(95, 1), temps(95, 11)})
	d, err := s.Handle(InvokeCommand{Name: "start", Actor: "token:op"}, at(12))
	if err != nil {
		t.Fatal(err)
	}
	if d.Command.Status != CommandFailed || !strings.Contains(d.Command.Error, "blocked by interlock overheat") {
		t.Errorf("start during overheat: %+v", d.Command)
	}
	run(t, s, []step{temps(80, 13)})
	d, _ = s.Handle(InvokeCommand{Name: "start", Actor: "token:op"}, at(14))
	if d.Command.Status != CommandPending {
		t.Errorf("start after clear: %+v", d.Command)
	}
}

func TestFinishedCommandsAreBounded(t *testing.T) {
	s := pressState(t)
	for i := range 200 {
		d, _ := s.Handle(InvokeCommand{Name: "stop"}, at(float64(i)))
		s.Handle(DispatchCommand{ID: d.Command.ID}, at(float64(i)))
		s.Handle(CommandOutcome{ID: d.Command.ID, Attempt: 1}, at(float64(i)))
	}
	if len(s.Commands) != keepFinishedCommands || s.Commands[len(s.Commands)-1].ID != "c200" {
		t.Errorf("%d commands kept, newest %s", len(s.Commands), s.Commands[len(s.Commands)-1].ID)
	}
}

func TestRuleActionConfigErrors(t *testing.T) {
	base := strings.Split(pressConfig, "        actions:")[0]
	for _, tc := range []struct{ yaml, want string }{
		{"        actions:\n          - command: launch\n", `no command "launch"`},
		{"        actions:\n          - set_desired: {temperature: 1}\n", "not writable"},
		{"        actions:\n          - command: set_speed\n", "needs argument rpm"},
		{"        actions:\n          - command: set_speed\n            args: {rpm: 9000}\n", "above max 3000"},
		{"        actions:\n          - command: stop\n            set_desired: {speed: 0}\n", "one of command, set_desired or emit"},
		{"        blocks: [starts]\n", `did you mean "start"`},
		{"        actions:\n          - {command: stop, target: uncle}\n", "want self, parent or children"},
		{"        actions:\n          - {}\n", "needs command, set_desired or emit"},
	} {
		_, err := ParseConfig("press.yaml", []byte(base+tc.yaml+"twins:\n  - id: p\n    model: press\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "press.yaml:") {
			t.Errorf("%q: %v, want %q with a position", tc.yaml, err, tc.want)
		}
	}
}

const reconcileConfig = `
models:
  - name: heater
    properties:
      - {name: setpoint, type: double, writable: true, tolerance: 0.5, settle: 5s}
twins:
  - id: h1
    model: heater
`

func TestDesiredReconciliation(t *testing.T) {
	cfg, err := ParseConfig("heater.yaml", []byte(reconcileConfig))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("h1")
	s := NewState(spec)
	report := func(v float64, sec float64) {
		if _, err := s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "setpoint", Value: Double(v), SourceTime: at(sec)}}}, at(sec)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := func() *CommandRecord {
		return &s.Commands[len(s.Commands)-1]
	}
	// Without a write binding the desired value is only recorded.
	d, _ := s.Handle(SetDesired{Property: "setpoint", Value: Double(20), Actor: "token:op"}, at(1))
	if len(d.Events) != 1 || len(s.Commands) != 0 {
		t.Fatalf("unbound: %d events, %d commands", len(d.Events), len(s.Commands))
	}
	// Reconciled: a write; the device takes it; reported reaches 19.7 (within 0.5).
	d, _ = s.Handle(SetDesired{Property: "setpoint", Value: Double(20), Actor: "token:op", Reconcile: true}, at(2))
	if d.Command == nil || d.Command.Name != "write" || d.Command.Property != "setpoint" || d.Command.Status != CommandPending {
		t.Fatalf("write: %+v", d.Command)
	}
	id := d.Command.ID
	s.Handle(DispatchCommand{ID: id}, at(2))
	s.Handle(CommandOutcome{ID: id, Attempt: 1}, at(3))
	if c := cmd(); c.Status != CommandDispatched || c.Acked != at(3) || c.Deadline != at(8) {
		t.Fatalf("acked: %+v", c)
	}
	report(15, 4)
	if cmd().Status != CommandDispatched {
		t.Fatal("succeeded before the reported value reached the desired one")
	}
	report(19.7, 5)
	if c := cmd(); c.Status != CommandSucceeded || c.Completed != at(5) {
		t.Fatalf("in sync: %+v", c)
	}

	// A device that takes writes but never gets there: written again
	// after each settle time, then given up with the reason.
	d, _ = s.Handle(SetDesired{Property: "setpoint", Value: Double(30), Actor: "token:op", Reconcile: true}, at(10))
	id = d.Command.ID
	now := 10.0
	for attempt := 1; attempt <= MaxCommandAttempts; attempt++ {
		if c, _ := s.Command(id); c.Status != CommandPending {
			t.Fatalf("attempt %d: %+v", attempt, c)
		}
		s.Handle(DispatchCommand{ID: id}, at(now))
		s.Handle(CommandOutcome{ID: id, Attempt: attempt}, at(now))
		now += 5
		s.Handle(Tick{Now: at(now)}, at(now))
	}
	c, _ := s.Command(id)
	if c.Status != CommandFailed || !strings.Contains(c.Error, "reported setpoint 19.7, want 30 ± 0.5 after 5 writes; gave up") {
		t.Errorf("gave up: %+v", c)
	}

	// A newer desired value supersedes an unfinished write.
	d, _ = s.Handle(SetDesired{Property: "setpoint", Value: Double(40), Reconcile: true}, at(100))
	first := d.Command.ID
	d, _ = s.Handle(SetDesired{Property: "setpoint", Value: Double(41), Reconcile: true}, at(101))
	if c, _ := s.Command(first); c.Status != CommandFailed || !strings.Contains(c.Error, "superseded by "+d.Command.ID) {
		t.Errorf("superseded: %+v", c)
	}
	// A restart does not lose a write waiting for its value.
	s.Handle(DispatchCommand{ID: d.Command.ID}, at(102))
	s.Handle(CommandOutcome{ID: d.Command.ID, Attempt: 1}, at(102))
	s.Handle(Tick{Now: at(103), Restarted: true}, at(103))
	if c, _ := s.Command(d.Command.ID); c.Status != CommandDispatched {
		t.Errorf("after restart: %+v", c)
	}
}

// TestQuietDeviceWithLaggingClock: a device whose clock runs 60 s behind
// the runtime's goes quiet with a for: window open; the window closes 10 s
// of the device's time later, not at once.
func TestQuietDeviceWithLaggingClock(t *testing.T) {
	s := pressState(t)
	lag := at(60)
	s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "temperature", Value: Double(95), SourceTime: at(1)}}}, at(1)+lag)
	if due := s.Due(); due != at(11)+lag {
		t.Fatalf("due %v, want the window's end on the runtime's clock %v", time.Duration(due), time.Duration(at(11)+lag))
	}
	if d, _ := s.Handle(Tick{Now: at(5) + lag}, at(5)+lag); len(d.Events) != 0 {
		t.Fatalf("tick 4 s after the sample decided %v", describe(s, d.Events))
	}
	d, _ := s.Handle(Tick{Now: at(11) + lag}, at(11)+lag)
	if got := describe(s, d.Events); len(got) < 2 || got[0] != "watermark @11" || got[1] != "overheat raised @11" {
		t.Fatalf("tick at the window's end: %v", got)
	}
}

func TestRuleSetDesiredIsReconciled(t *testing.T) {
	s := pressState(t)
	s.Reconcile = func(p string) bool { return p == "speed" }
	got := run(t, s, []step{temps(95, 1), temps(95, 11)})
	want := []string{"pending overheat @1", "overheat raised @11", "command c1 stop pending", "desired speed=0", "command c2 write pending"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c, _ := s.Command("c2")
	if c.Rule != "overheat" || c.Actor != "rule:overheat" || c.Property != "speed" {
		t.Errorf("write %+v", c)
	}
	// Two telemetry events and the five above: one version each.
	if s.Version != 7 {
		t.Errorf("version %d, want 7", s.Version)
	}
}

func TestRuleOnConnectivity(t *testing.T) {
	cfg, err := ParseConfig("plc.yaml", []byte(`
models:
  - name: plc
    properties:
      - {name: temperature, type: double}
    rules:
      - {name: lost, when: '!online', for: 5s, severity: high, message: 'PLC offline, last {temperature}'}
twins:
  - {id: plc-1, model: plc}
`))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("plc-1")
	s := NewState(spec)
	s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "temperature", Value: Double(21.123456), SourceTime: at(1)}}}, at(1))
	s.Handle(SetConnectivity{Connectivity: ConnectivityOffline}, at(2))
	if s.Pending[0] != at(2) {
		t.Fatalf("window not opened by going offline: %v", s.Pending)
	}
	d, _ := s.Handle(Tick{Now: at(7)}, at(7))
	got := describe(s, d.Events)
	if len(got) < 2 || got[1] != "lost raised @7" {
		t.Fatalf("tick: %v", got)
	}
	if a, _ := s.Alarm("lost"); a.Message != "PLC offline, last 21.123" {
		t.Errorf("message %q", a.Message)
	}
	d, _ = s.Handle(SetConnectivity{Connectivity: ConnectivityOnline}, at(8))
	if got := describe(s, d.Events); len(got) != 1 || got[0] != "lost cleared @8" {
		t.Errorf("back online: %v", got)
	}
}

func TestRuleDependencies(t *testing.T) {
	cfg, err := ParseConfig("deps.yaml", []byte(benchRulesConfig(10)))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("cell")
	got := map[string]string{}
	for _, r := range m.Rules {
		var names []string
		for _, i := range r.deps.props {
			names = append(names, m.Properties[i].Name)
		}
		d := strings.Join(names, ",")
		if r.deps.always {
			d = "always"
		}
		got[r.Name] = d
	}
	want := map[string]string{
		"r1": "p1", "r2": "p2", "r3": "p3", "r4": "always", "r5": "always", "r6": "p6,p7",
		"r7": "p8", "r8": "p9,p10", "r9": "always", "r10": "p1,p2,p3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s reads %q, want %q", k, got[k], v)
		}
	}
	// A rule that does not read the updated property is not evaluated,
	// and its open window still ends on time.
	spec, _ := cfg.Twin("c1")
	s := NewState(spec)
	s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "p1", Value: Double(95), SourceTime: at(1)}}}, at(1))
	if s.Pending[0] != at(1) {
		t.Fatalf("r1 window %v", s.Pending[0])
	}
	d, _ := s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "p2", Value: Double(50), SourceTime: at(20)}}}, at(20))
	for _, ev := range d.Events {
		if a, ok := ev.(AlarmChanged); ok && a.Rule == 0 {
			t.Errorf("r1 evaluated on a p2 update: %+v", a)
		}
	}
	d, _ = s.Handle(Tick{Now: at(20)}, at(20))
	if a, _ := s.Alarm("r1"); !a.Active || a.RaisedAt != at(11) {
		t.Errorf("r1 after the tick: %+v (events %v)", *a, describe(s, d.Events))
	}
}
