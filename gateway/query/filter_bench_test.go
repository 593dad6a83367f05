package query

import (
	"fmt"
	"testing"

	"github.com/plantwin/plantwin/twins"
)

// benchConfig declares 1000 turbines of a model with ten properties, so that
// property lookups go through the index ParseConfig builds.
const benchConfig = `
models:
  - name: farm
    properties: []
  - name: turbine
    properties:
      - {name: power, type: double, unit: kW}
      - {name: state, type: enum, values: [running, stopped, fault]}
      - {name: setpoint, type: double, unit: kW, writable: true}
      - {name: blade_count, type: int}
      - {name: online, type: bool}
      - {name: serial, type: string}
      - {name: wind_speed, type: double, unit: m/s}
      - {name: rotor_rpm, type: double}
      - {name: yaw, type: double}
      - {name: temperature, type: double, unit: degC}
twins:
  - id: farm-1
    model: farm
  - id: turbine-{0001..1000}
    model: turbine
    parent: farm-1
    labels: {site: north, line: "L{n}"}
`

// benchStates returns the states of the 1000 turbines with every property
// reported.
func benchStates(b *testing.B) []*twins.State {
	cfg, err := twins.ParseConfig("bench.yaml", []byte(benchConfig))
	if err != nil {
		b.Fatal(err)
	}
	var states []*twins.State
	for i, spec := range cfg.Twins {
		if spec.ModelName != "turbine" {
			continue
		}
		st := twins.NewState(spec)
		vals := []twins.Value{
			twins.Double(float64(i * 5)),
			twins.Enum("running"),
			twins.Double(3000),
			twins.Int(3),
			twins.Bool(true),
			twins.String(fmt.Sprintf("SN-%d", i)),
			twins.Double(8.5),
			twins.Double(14),
			twins.Double(270),
			twins.Double(60 + float64(i%40)),
		}
		for j, v := range vals {
			st.Reported[j] = twins.Reported{Value: v, SourceTime: t0, ServerTime: t0, Quality: twins.QualityGood}
		}
		states = append(states, st)
	}
	return states
}

// BenchmarkMatch measures one Match call, cycling through 1000 twins.
func BenchmarkMatch(b *testing.B) {
	states := benchStates(b)
	for _, bc := range []struct{ name, expr string }{
		{"static", `labels.line == "L2"`},
		{"reported", `reported.temperature.value > 80`},
		{"two-clause", `reported.temperature.value > 80 && labels.line == "L2"`},
		{"two-clause-reported-first-fails", `reported.power.value > 4000 && labels.site == "north"`},
		{"quality-and-time", `reported.power.quality == "good" && reported.power.source_time > timestamp('2024-01-01T00:00:00Z')`},
		{"exists", `reported.exists(p, reported[p].quality == "bad")`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := Compile(bc.expr)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := f.Match(states[i], true); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(states) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkMatchSpec measures deciding a static filter on a spec.
func BenchmarkMatchSpec(b *testing.B) {
	states := benchStates(b)
	f, err := Compile(`labels.line == "L2" && model == "turbine"`)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := f.MatchSpec(states[i].Spec); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(states) {
			i = 0
		}
	}
}

// BenchmarkCompile measures compiling a two-clause filter.
func BenchmarkCompile(b *testing.B) {
	Compile("true") // build the shared environment outside the loop
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(`reported.temperature.value > 80 && labels.line == "L2"`); err != nil {
			b.Fatal(err)
		}
	}
}
