package twins

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const windowConfig = `
models:
  - name: pump
    properties:
      - {name: pressure, type: double, unit: bar}
      - {name: state, type: enum, values: [run, fault]}
    rules:
      - {name: high_avg, when: 'avg(pressure, "10s") > 5.0'}
      - {name: spread, when: 'max(pressure, "10s") - min(pressure, "10s") > 4.0'}
      - {name: rising, when: 'rate(pressure, "10s") > 0.5'}
      - {name: jump, when: 'delta(pressure, "5s") > 3.0'}
      - {name: chatter, when: 'count(state, "10s") >= 4.0'}
twins:
  - id: p1
    model: pump
`

func windowState(t *testing.T) *State {
	t.Helper()
	cfg, err := ParseConfig("pump.yaml", []byte(windowConfig))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("p1")
	return NewState(spec)
}

// feed applies samples "pressure@second=value" or "state@second=symbol",
// each as its own batch with server time = its source time, and returns
// the alarm transitions decided, "rule kind @second".
func feed(t *testing.T, s *State, samples ...string) []string {
	t.Helper()
	var out []string
	for _, smp := range samples {
		var prop, val string
		var sec float64
		bad := strings.HasSuffix(smp, "!bad")
		smp = strings.TrimSuffix(smp, "!bad")
		at, v, _ := strings.Cut(smp, "=")
		prop, secStr, _ := strings.Cut(at, "@")
		fmt.Sscan(secStr, &sec)
		val = v
		var value Value
		if prop == "state" {
			value = Enum(val)
		} else {
			var f float64
			fmt.Sscan(val, &f)
			value = Double(f)
		}
		q := QualityGood
		if bad {
			q = QualityBad
		}
		d, err := s.Handle(ApplyTelemetry{Samples: []Sample{{Property: prop, Value: value, SourceTime: at2(sec), Quality: q}}}, at2(sec)+1)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range d.Events {
			if a, ok := ev.(AlarmChanged); ok {
				out = append(out, fmt.Sprintf("%s %s @%g", s.Spec.Model.Rules[a.Rule].Name, a.Kind, float64(a.At)/1e9))
			}
		}
	}
	return out
}

func at2(sec float64) int64 { return int64(sec * float64(time.Second)) }

func TestWindowFunctions(t *testing.T) {
	cases := []struct {
		name    string
		samples []string
		want    []string
	}{
		{"average above 5 over 10s", []string{"pressure@1=4", "pressure@2=6", "pressure@3=7"},
			[]string{"rising raised @2", "high_avg raised @3"}},
		{"old samples leave the window", []string{"pressure@1=9", "pressure@2=1", "pressure@12=1", "pressure@13=1"},
			[]string{"high_avg raised @1", "high_avg cleared @2", "spread raised @2", "spread cleared @12"}},
		{"min and max spread", []string{"pressure@1=1", "pressure@2=3", "pressure@3=5.5"},
			[]string{"rising raised @2", "spread raised @3", "jump raised @3"}},
		{"rate needs two times; delta over 5s", []string{"pressure@1=1", "pressure@2=2", "pressure@4=4.5"},
			[]string{"rising raised @2", "jump raised @4"}},
		{"a late sample lands in its place", []string{"pressure@10=1", "pressure@4=1", "pressure@11=1"}, nil},
		{"bad quality stays out of the window", []string{"pressure@1=2", "pressure@2=50!bad", "pressure@3=2"}, nil},
		{"count of any type", []string{"state@1=run", "state@2=fault", "state@3=run", "state@4=fault"},
			[]string{"chatter raised @4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := windowState(t)
			got := feed(t, s, tc.samples...)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestWindowBufferBounded(t *testing.T) {
	b := WindowBuffer{Span: int64(time.Hour)}
	for i := range MaxWindowPoints + 100 {
		b.add(int64(i), float64(i))
	}
	if len(b.Times) != MaxWindowPoints || b.Times[0] != 100 {
		t.Errorf("%d points, oldest %d", len(b.Times), b.Times[0])
	}
	if v, ok := b.value(WindowCount, int64(time.Hour), int64(MaxWindowPoints+99)); !ok || v != MaxWindowPoints {
		t.Errorf("count %v %v", v, ok)
	}
}

func TestWindowsRecoverThroughApply(t *testing.T) {
	s := windowState(t)
	var evs []Event
	for i := range 5 {
		d, _ := s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "pressure", Value: Double(float64(i)), SourceTime: at2(float64(i))}}}, at2(float64(i)))
		evs = append(evs, d.Events...)
	}
	r := windowState(t)
	for _, ev := range evs {
		r.Apply(ev)
	}
	if fmt.Sprint(r.Windows) != fmt.Sprint(s.Windows) {
		t.Errorf("replayed windows %v, want %v", r.Windows, s.Windows)
	}
	c := s.Clone()
	c.Windows[0].add(at2(9), 100)
	if len(s.Windows[0].Times) != 5 {
		t.Error("Clone shares window buffers")
	}
}

func TestWindowConfigErrors(t *testing.T) {
	base := strings.Split(windowConfig, "    rules:")[0]
	for _, tc := range []struct{ when, want string }{
		{`avg(pressure * 2.0, "10s") > 1.0`, "first argument must be a property name"},
		{`avg(flow, "10s") > 1.0`, `no property "flow"`},
		{`avg(state, "10s") > 1.0`, "needs a numeric property"},
		{`max(pressure, "ten seconds") > 1.0`, "literal duration"},
		{`min(pressure, "48h") > 1.0`, "at most 24h"},
	} {
		cfg := base + "    rules:\n      - {name: r, when: '" + tc.when + "'}\ntwins:\n  - {id: p1, model: pump}\n"
		_, err := ParseConfig("pump.yaml", []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "column") {
			t.Errorf("%s: %v, want %q with a column", tc.when, err, tc.want)
		}
	}
}
