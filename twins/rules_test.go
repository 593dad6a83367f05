package twins

import (
	"strings"
	"testing"
	"time"
)

const rulesConfig = `
models:
  - name: press
    properties:
      - {name: temperature, type: double}
      - {name: running, type: bool}
      - {name: mode, type: enum, values: [auto, manual]}
    rules:
      - name: overheat
        when: temperature > 90.0 && quality.temperature == "good"
        for: 10s
        clear_when: temperature < 85.0
        severity: high
        message: temperature above 90
      - name: jump
        when: has(prev.temperature) && temperature - prev.temperature > 20.0
      - name: stopped_in_auto
        when: '!running && mode == "auto" && labels.line == "L1"'
        severity: low
twins:
  - id: press-1
    model: press
    labels: {line: L1}
`

func rulesState(t *testing.T) (*Model, *State) {
	t.Helper()
	cfg, err := ParseConfig("rules.yaml", []byte(rulesConfig))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("press-1")
	return spec.Model, NewState(spec)
}

func report(s *State, name string, v Value, q Quality) {
	p, _ := s.Spec.Model.Property(name)
	s.Reported[p.Index] = Reported{Value: v, Quality: q}
}

func TestRuleParsing(t *testing.T) {
	m, _ := rulesState(t)
	if len(m.Rules) != 3 {
		t.Fatalf("%d rules", len(m.Rules))
	}
	r := m.Rules[0]
	if r.Name != "overheat" || r.For != 10*time.Second || r.Severity != SeverityHigh || r.ClearWhen != "temperature < 85.0" || r.Message != "temperature above 90" {
		t.Errorf("overheat = %+v", r)
	}
	if m.Rules[1].Severity != SeverityMedium {
		t.Errorf("default severity %v", m.Rules[1].Severity)
	}
}

func TestRuleConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want string
	}{
		{`{name: a, when: "temprature > 1.0"}`, `rules.yaml:8:`},
		{`{name: a, when: "temprature > 1.0"}`, `undeclared reference to 'temprature'`},
		{`{name: a, when: "temperature + 1.0"}`, "a condition must be a bool expression, not double"},
		{`{name: a}`, `missing required field "when"`},
		{`{name: a, when: "running", for: soon}`, `invalid duration "soon"`},
		{`{name: a, when: "running", severity: urgent}`, "urgent"},
		{`{name: a, when: "running", clear_when: "running >"}`, "clear_when"},
		{`{name: a, when: "running", colour: red}`, "colour"},
	} {
		text := "models:\n  - name: m\n    properties:\n      - {name: temperature, type: double}\n      - {name: running, type: bool}\n    rules:\n      - {name: ok, when: running}\n      - " + tc.rule + "\n"
		_, err := ParseConfig("rules.yaml", []byte(text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rule %s: error %v, want it to contain %q", tc.rule, err, tc.want)
		}
	}
}

func TestRuleStepForAndHysteresis(t *testing.T) {
	m, s := rulesState(t)
	r := &m.Rules[0] // overheat: > 90 for 10s, clears below 85
	sec := int64(time.Second)
	t0 := int64(1_000) * sec

	report(s, "temperature", Double(95), QualityGood)
	out, rs := r.Step(RuleInput{State: s}, RuleState{}, false, t0)
	if out.Action != RuleNone || rs.PendingSince != t0 || out.Due != t0+10*sec {
		t.Fatalf("first breach: %+v %+v", out, rs)
	}
	out, rs = r.Step(RuleInput{State: s}, rs, false, t0+9*sec)
	if out.Action != RuleNone || rs.PendingSince != t0 {
		t.Fatalf("within for: %+v %+v", out, rs)
	}
	out, rs = r.Step(RuleInput{State: s}, rs, false, t0+10*sec)
	if out.Action != RuleRaise || out.Message != "temperature above 90" || rs.PendingSince != 0 {
		t.Fatalf("for elapsed: %+v %+v", out, rs)
	}
	// Active: 88 is below the raise level but above the clear level.
	report(s, "temperature", Double(88), QualityGood)
	if out, _ = r.Step(RuleInput{State: s}, RuleState{}, true, t0+11*sec); out.Action != RuleNone {
		t.Fatalf("hysteresis band: %+v", out)
	}
	report(s, "temperature", Double(84), QualityGood)
	if out, _ = r.Step(RuleInput{State: s}, RuleState{}, true, t0+12*sec); out.Action != RuleClear {
		t.Fatalf("below clear level: %+v", out)
	}
	// A breach that ends before For resets the window.
	report(s, "temperature", Double(95), QualityGood)
	_, rs = r.Step(RuleInput{State: s}, RuleState{}, false, t0+20*sec)
	report(s, "temperature", Double(80), QualityGood)
	out, rs = r.Step(RuleInput{State: s}, rs, false, t0+25*sec)
	if out.Action != RuleNone || rs.PendingSince != 0 {
		t.Fatalf("breach ended: %+v %+v", out, rs)
	}
	// Bad quality: the condition requires good.
	report(s, "temperature", Double(99), QualityBad)
	if out, rs = r.Step(RuleInput{State: s}, RuleState{}, false, t0+30*sec); out.Action != RuleNone || rs.PendingSince != 0 {
		t.Fatalf("bad quality: %+v %+v", out, rs)
	}
}

func TestRuleStepPrevLabelsAndAbsentValues(t *testing.T) {
	m, s := rulesState(t)
	jump, stopped := &m.Rules[1], &m.Rules[2]

	// Never reported: the condition cannot hold, and says why.
	out, _ := stopped.Step(RuleInput{State: s}, RuleState{}, false, 1)
	if out.Action != RuleNone || out.Err == nil {
		t.Fatalf("absent values: %+v", out)
	}
	report(s, "running", Bool(false), QualityGood)
	report(s, "mode", Enum("auto"), QualityGood)
	if out, _ = stopped.Step(RuleInput{State: s}, RuleState{}, false, 2); out.Action != RuleRaise || out.Message != stopped.When {
		t.Fatalf("stopped in auto on L1: %+v", out)
	}
	// A jump of more than 20 between two samples.
	report(s, "temperature", Double(50), QualityGood)
	prev := append([]Reported(nil), s.Reported...)
	report(s, "temperature", Double(75), QualityGood)
	if out, _ = jump.Step(RuleInput{State: s, Prev: prev}, RuleState{}, false, 3); out.Action != RuleRaise {
		t.Fatalf("jump: %+v", out)
	}
	// Without a previous value the has() guard keeps it false, no error.
	s2 := NewState(s.Spec)
	report(s2, "temperature", Double(75), QualityGood)
	if out, _ = jump.Step(RuleInput{State: s2, Prev: make([]Reported, len(s2.Reported))}, RuleState{}, false, 3); out.Action != RuleNone || out.Err != nil {
		t.Fatalf("first value: %+v", out)
	}
	// Active without clear_when: clears when when no longer holds.
	report(s, "temperature", Double(76), QualityGood)
	prev = append([]Reported(nil), s.Reported...)
	if out, _ = jump.Step(RuleInput{State: s, Prev: prev}, RuleState{}, true, 4); out.Action != RuleClear {
		t.Fatalf("jump over: %+v", out)
	}
}

func TestTwinOverridesRules(t *testing.T) {
	cfg, err := ParseConfig("plant.yaml", []byte(`
models:
  - name: press
    properties:
      - {name: temperature, type: double}
    rules:
      - {name: overheat, when: temperature > 90.0, severity: high}
      - {name: cold, when: temperature < 5.0}
twins:
  - id: press-{1..2}
    model: press
  - id: press-old
    model: press
    rules:
      - {name: overheat, when: temperature > 80.0, severity: critical}   # an older press runs cooler
      - {name: cold, disabled: true}
      - {name: frozen, when: temperature < 0.0}
`))
	if err != nil {
		t.Fatal(err)
	}
	std, _ := cfg.Twin("press-1")
	old, _ := cfg.Twin("press-old")
	names := func(m *Model) string {
		var out []string
		for _, r := range m.Rules {
			out = append(out, r.Name+":"+r.When+":"+r.Severity.String())
		}
		return strings.Join(out, " ")
	}
	if got := names(std.Model); got != "overheat:temperature > 90.0:high cold:temperature < 5.0:medium" {
		t.Errorf("model rules %q", got)
	}
	if got := names(old.Model); got != "overheat:temperature > 80.0:critical frozen:temperature < 0.0:medium" {
		t.Errorf("press-old rules %q", got)
	}
	if old.ModelName != "press" || old.Model.Fingerprint == std.Model.Fingerprint || old.Model.Name != "press" {
		t.Errorf("press-old model %s fingerprint %x vs %x", old.ModelName, old.Model.Fingerprint, std.Model.Fingerprint)
	}
	s := NewState(old)
	d, _ := s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "temperature", Value: Double(85), SourceTime: 1}}}, 1)
	raised := false
	for _, ev := range d.Events {
		if a, ok := ev.(AlarmChanged); ok && a.Kind == AlarmRaised && s.Spec.Model.Rules[a.Rule].Name == "overheat" {
			raised = true
		}
	}
	if !raised {
		t.Error("press-old's own threshold did not raise at 85")
	}
	_, err = ParseConfig("plant.yaml", []byte(`
models:
  - name: press
    properties:
      - {name: temperature, type: double}
twins:
  - id: p
    model: press
    rules:
      - {name: bad, when: temprature > 1.0}
`))
	if err == nil || !strings.Contains(err.Error(), "plant.yaml:10:") || !strings.Contains(err.Error(), "temprature") {
		t.Errorf("a twin's broken rule: %v", err)
	}
}
