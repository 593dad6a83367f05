package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/plantwin/plantwin/twins"
)

const rulesPlant = `
models:
  - name: press
    properties:
      - {name: temperature, type: double}
      - {name: speed, type: double, writable: true}
    commands:
      - name: stop
      - name: set_speed
        parameters: [{name: rpm, type: int, required: true}]
    rules:
      - name: overheat
        when: temperature > 90.0
        for: 10s
        message: hot {temperature}
        actions: [{command: stop}]
      - name: drift
        when: 'avg(temperature, "30s") > 80.0'
twins:
  - id: press-1
    model: press
`

// TestRuleStateSurvivesSnapshotAndJournal checks that alarms, rule
// windows, commands and window buffers come back the same from a snapshot
// and from the journal's events.
func TestRuleStateSurvivesSnapshotAndJournal(t *testing.T) {
	cfg, err := twins.ParseConfig("plant.yaml", []byte(rulesPlant))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("press-1")
	s := twins.NewState(spec)
	sec := func(n int) int64 { return int64(n) * int64(time.Second) }
	var journal [][]byte
	handle := func(cmd any, now int64) {
		d, err := s.Handle(cmd, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range d.Events {
			data, err := encodeEvent(spec.Model, ev)
			if err != nil {
				t.Fatal(err)
			}
			journal = append(journal, data)
		}
	}
	for i, temp := range []float64{85, 95, 96, 97} {
		handle(twins.ApplyTelemetry{Samples: []twins.Sample{{Property: "temperature", Value: twins.Double(temp), SourceTime: sec(i * 5)}}}, sec(i*5))
	}
	handle(twins.InvokeCommand{Name: "set_speed", Args: map[string]twins.Value{"rpm": twins.Int(7)}, Key: "k", Actor: "token:op"}, sec(16))
	handle(twins.DispatchCommand{ID: "c2"}, sec(16))
	handle(twins.AcknowledgeAlarm{Name: "overheat", Actor: "token:op"}, sec(17))
	handle(twins.ShelveAlarm{Name: "drift", Until: sec(100), Actor: "token:op", Reason: "calibration"}, sec(18))
	handle(twins.ApplyTelemetry{Samples: []twins.Sample{{Property: "temperature", Value: twins.Double(99), SourceTime: sec(19)}}}, sec(19))
	if len(s.Commands) != 2 || s.Alarms[0].State != twins.AlarmActiveAcked || s.Pending[1] == 0 && !s.Alarms[1].Active {
		t.Fatalf("setup: commands %+v alarms %+v pending %v", s.Commands, s.Alarms, s.Pending)
	}

	want := fmt.Sprintf("%+v|%+v|%+v|%+v|%d|%d", s.Alarms, s.Pending, s.Commands, s.Windows, s.CommandSeq, s.Watermark)
	data, err := encodeSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	fromSnap := twins.NewState(spec)
	if err := decodeSnapshot(fromSnap, data); err != nil {
		t.Fatal(err)
	}
	fromJournal := twins.NewState(spec)
	for _, data := range journal {
		ev, err := decodeEvent(spec.Model, data)
		if err != nil {
			t.Fatal(err)
		}
		fromJournal.Apply(ev)
	}
	for name, r := range map[string]*twins.State{"snapshot": fromSnap, "journal": fromJournal} {
		got := fmt.Sprintf("%+v|%+v|%+v|%+v|%d|%d", r.Alarms, r.Pending, r.Commands, r.Windows, r.CommandSeq, r.Watermark)
		if got != want {
			t.Errorf("from the %s:\n%s\nwant:\n%s", name, got, want)
		}
	}
}
