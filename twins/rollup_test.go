package twins

import (
	"strings"
	"testing"
)

const rollupConfig = `
models:
  - name: line
    properties:
      - {name: target, type: double}
    rules:
      - {name: underpowered, when: 'children.sum("power") < target', severity: high}
      - {name: faults, when: 'children.count(state == "fault") >= 2', severity: critical}
      - {name: hot, when: 'children.max("temperature") > 90.0 || children.avg("temperature") > 70.0'}
      - {name: thin, when: 'children.count() < 3'}
  - name: pump
    properties:
      - {name: power, type: double}
      - {name: temperature, type: double}
      - {name: state, type: enum, values: [run, fault]}
twins:
  - {id: line-1, model: line}
  - id: pump-{1..3}
    model: pump
    parent: line-1
`

func TestRollups(t *testing.T) {
	cfg, err := ParseConfig("line.yaml", []byte(rollupConfig))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("line")
	if got := strings.Join(m.RollupProperties(), ","); got != "power,state,temperature" {
		t.Errorf("roll-up properties %q", got)
	}
	spec, _ := cfg.Twin("line-1")
	s := NewState(spec)
	s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "target", Value: Double(100), SourceTime: at(1)}}}, at(1))
	report := func(child string, power, temp float64, state string, sec float64) []string {
		d, err := s.Handle(ChildReport{Child: child, Values: map[string]Value{"power": Double(power), "temperature": Double(temp), "state": Enum(state)}, At: at(sec)}, at(sec))
		if err != nil {
			t.Fatal(err)
		}
		return describe(s, d.Events)
	}
	steps := []struct {
		child       string
		power, temp float64
		state       string
		want        string
	}{
		{"pump-1", 30, 50, "run", "underpowered raised @2,thin raised @2"},
		{"pump-2", 30, 60, "run", ""},
		{"pump-3", 50, 95, "fault", "underpowered cleared @4,hot raised @4,thin cleared @4"},
		{"pump-2", 30, 60, "fault", "faults raised @5"},
		{"pump-3", 50, 65, "run", "faults cleared @6,hot cleared @6"},
	}
	for i, st := range steps {
		got := strings.Join(report(st.child, st.power, st.temp, st.state, float64(i+2)), ",")
		if got != st.want {
			t.Errorf("step %d (%s): %q, want %q", i, st.child, got, st.want)
		}
	}
	if c := s.Clone(); c.Kids != nil {
		t.Error("Clone copied the roll-up children")
	}
}

func TestRollupConfigErrors(t *testing.T) {
	base := strings.Split(rollupConfig, "    rules:")[0]
	tail := "  - name: pump\n    properties:\n      - {name: power, type: double}\ntwins:\n  - {id: l, model: line}\n"
	for _, tc := range []struct{ when, want string }{
		{`children.sum(power) > 1.0`, "property name in quotes"},
		{`children.count(state ==) > 1.0`, "Syntax error"},
		{`children.count(power + 1) > 1.0`, "bool condition"},
		{`children > 1`, "undeclared reference"},
	} {
		cfg := base + "    rules:\n      - {name: r, when: '" + tc.when + "'}\n" + tail
		_, err := ParseConfig("line.yaml", []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.when, err, tc.want)
		}
	}
}
