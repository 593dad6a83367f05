package scenario

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// paramsPlant is a plant whose twins and rule use the scenario's
// parameters.
const paramsPlant = `models:
  - name: press
    properties:
      - {name: temp, type: double}
    rules:
      - {name: overheat, when: temp > ${limit}}
twins:
  - {id: "p{1..${presses}}", model: press}
`

// paramsScenario uses its parameters in a device template, a CSV file's
// name, an expectation's twin and bounds, and names paramsPlant.
const paramsScenario = `name: params
description: costs $${x}
params:
  presses: {default: 2, description: how many presses}
  limit: 90.0
  flow: "01"
duration: 2m
plant: pplant.yaml
devices:
  - name: p{1..${presses}}
    points:
      temp: {signal: {csv: {file: flow-${flow}.csv, column: flow}}}
expect:
  - {name: quiet, twin: p${presses}, property: temp, within: [0, ${limit}]}
`

// paramsFS is testFS with paramsPlant.
func paramsFS() fstest.MapFS {
	fsys := maps.Clone(testFS)
	fsys["pplant.yaml"] = &fstest.MapFile{Data: []byte(paramsPlant)}
	fsys["bad-plant.yaml"] = &fstest.MapFile{Data: []byte("models:\n  - name: press\n    description: ${nope}\n")}
	return fsys
}

func parseParams(t *testing.T, src string, given map[string]string) (*Scenario, error) {
	t.Helper()
	return parse("bad.yaml", []byte(src), fsReader(paramsFS(), "bad.yaml"), defaultLimits, given)
}

// TestParams: ${name} is replaced in the scenario (a template, a CSV
// file's name, an expectation) and in its plant, by the default or by the
// value given; $${ is a literal ${.
func TestParams(t *testing.T) {
	for _, tt := range []struct {
		name       string
		given      map[string]string
		want       map[string]string
		devices    []string
		twins      int
		csv        float64 // the first value of p1's CSV
		expectTwin string
	}{
		{"defaults", nil, map[string]string{"presses": "2", "limit": "90.0", "flow": "01"}, []string{"p1", "p2"}, 2, 1, "p2"},
		{"overridden", map[string]string{"presses": "3", "flow": "02"}, map[string]string{"presses": "3", "limit": "90.0", "flow": "02"}, []string{"p1", "p2", "p3"}, 3, 2, "p3"},
		{"empty value", map[string]string{"limit": ""}, nil, nil, 0, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := parseParams(t, paramsScenario, tt.given)
			if tt.want == nil {
				// limit "" leaves "temp > " and "[0, ]": errors in both
				// files, at their lines.
				if err == nil || !strings.Contains(err.Error(), "bad.yaml:14:") || !strings.Contains(err.Error(), "pplant.yaml:6:") {
					t.Fatalf("want errors at bad.yaml:14 and pplant.yaml:6, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, sc.Params); diff != "" {
				t.Errorf("Params (-want +got):\n%s", diff)
			}
			var names []string
			for _, d := range sc.Devices {
				names = append(names, d.Name)
			}
			if diff := cmp.Diff(tt.devices, names); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
			if len(sc.Plant.Twins) != tt.twins || sc.Plant.Twins[0].Model.Rules[0].When != "temp > 90.0" {
				t.Errorf("plant: %d twins, rule %q", len(sc.Plant.Twins), sc.Plant.Twins[0].Model.Rules[0].When)
			}
			if c, ok := sc.Devices[0].Points[0].Signal.(*CSV); !ok || c.Values[0] != tt.csv || c.File != "flow-"+tt.want["flow"]+".csv" {
				t.Errorf("CSV signal %+v", sc.Devices[0].Points[0].Signal)
			}
			if e := sc.Expect[0]; e.Twin != tt.expectTwin || e.Max != 90 {
				t.Errorf("expectation %+v", e)
			}
			if sc.Description != "costs ${x}" {
				t.Errorf("description %q, want the escape made a literal ${", sc.Description)
			}
		})
	}
}

// TestParamsKeepLines: values are inserted on their line, so problems
// after a reference are reported at their line.
func TestParamsKeepLines(t *testing.T) {
	src := "name: s\nparams: {tick: 1s, n: 2}\nduration: 10m\ntick: ${tick}\ndevices:\n  - name: d{1..${n}}\n    points:\n      x: {signal: {constant: 1}}\n"
	sc, err := parseParams(t, src, map[string]string{"n": "20"})
	if err != nil || len(sc.Devices) != 20 {
		t.Fatalf("%v, %+v", err, sc)
	}
	_, err = parseParams(t, src+"      y: {signal: {sine: {amplitude: 1}}}\n      z: {signal: {constant: ${n}x}}\n", map[string]string{"tick": "fast"})
	want := []string{
		`bad.yaml:4:7: tick: invalid duration "fast" (want a Go duration such as 30s, 5m or 1h30m)`,
		`bad.yaml:9:26: devices[0].points.y.signal.sine.period: missing required parameter "period"`,
		`bad.yaml:10:30: devices[0].points.z.signal.constant: want a number, got "2x"`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestParamsNoDefault: a parameter without a default must be given.
func TestParamsNoDefault(t *testing.T) {
	src := "name: s\nparams:\n  n: {description: how many}\n  m:\nduration: 1m\ndevices:\n  - name: d{1..${n}}\n    points: {x: {signal: {constant: ${m}}}}\n"
	sc, err := parseParams(t, src, map[string]string{"n": "4", "m": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Devices) != 4 || sc.Devices[0].Points[0].Signal != (Constant{Value: 7}) {
		t.Errorf("devices %+v", sc.Devices)
	}
}

// TestParamErrors checks each problem with parameters and where it is
// reported.
func TestParamErrors(t *testing.T) {
	const head = "name: s\nduration: 1m\n"
	const dev = "devices:\n  - name: d\n    points: {x: {signal: {constant: 1}}}\n"
	for _, tt := range []struct {
		name  string
		yaml  string
		given map[string]string
		want  []string
	}{
		{"undeclared", head + "params: {n: 1}\ndevices:\n  - name: d{1..${m}}\n    points: {x: {signal: {constant: ${nn}}}}\n", nil, []string{
			`bad.yaml:5:16: params: ${m} names no declared parameter`,
			`bad.yaml:6:37: params: ${nn} names no declared parameter`,
		}},
		{"none declared", head + dev + "# ${n}\n", nil, []string{
			`bad.yaml:6:3: params: ${n} names no declared parameter (the scenario declares none: declare it under params:, or write $${ for a literal "${")`,
		}},
		{"undeclared in the plant", head + "plant: bad-plant.yaml\n" + dev, nil, []string{
			`bad-plant.yaml:3:18: params: ${nope} names no declared parameter (the scenario declares none: declare it under params:, or write $${ for a literal "${")`,
		}},
		{"given, not declared", head + "params:\n  turbines: 10\n" + dev, map[string]string{"turbnes": "5", "zzz": "1"}, []string{
			`bad.yaml:3:1: params: unknown parameter "turbnes" given (did you mean "turbines"?) (declared: turbines)`,
			`bad.yaml:3:1: params: unknown parameter "zzz" given (declared: turbines)`,
		}},
		{"given, none declared", head + dev, map[string]string{"n": "5"}, []string{
			`bad.yaml:1:1: params: parameter "n" given, but the scenario declares no parameters`,
		}},
		{"given on two lines", head + "params: {n: 1}\n" + dev, map[string]string{"n": "1\n2"}, []string{
			`bad.yaml:3:1: params.n: the value given, "1\n2", is not a single line`,
		}},
		{"no value", head + "params:\n  n: {description: how many}\n" + dev, nil, []string{
			`bad.yaml:4:3: params.n: no value: the parameter has no default, give one (plantwin sim run --param n=VALUE)`,
		}},
		{"unterminated", head + "params: {n: 1}\ndevices:\n  - name: d{1..${n\n    points: {x: {signal: {constant: 1}}}\n", nil, []string{
			`bad.yaml:5:16: params: unterminated "${" (want ${name}, a parameter's name in braces; write $${ for a literal "${")`,
		}},
		{"malformed", head + "params: {n: 1}\ndevices:\n  - name: d${N}-${}-${ n }\n", nil, []string{
			`bad.yaml:5:12: params: malformed reference "${N}": a parameter's name is lowercase letters, digits and _, starting with a letter`,
			`bad.yaml:5:17: params: malformed reference "${}": a parameter's name is lowercase letters, digits and _, starting with a letter`,
			`bad.yaml:5:21: params: malformed reference "${ n }": a parameter's name is lowercase letters, digits and _, starting with a letter`,
		}},
		{"default on two lines", head + "params:\n  n:\n    default: |\n      1\n      2\n" + dev, nil, []string{
			`bad.yaml:5:14: params.n.default: want a single line, got "1\n2\n"`,
		}},
		{"default not a scalar", head + "params:\n  n: [1, 2]\n  m: {default: {a: 1}}\n" + dev, nil, []string{
			`bad.yaml:4:6: params.n: want a single value (a number, a duration, a word), got a list`,
			`bad.yaml:5:16: params.m.default: want a single value (a number, a duration, a word), got a mapping`,
		}},
		{"reference in a declaration", head + "params:\n  n: 1\n  m: ${n}\n  k: {default: 1, description: more than ${n}}\n" + dev, nil, []string{
			`bad.yaml:5:6: params.m: a parameter's declaration cannot use ${...}`,
			`bad.yaml:6:32: params.k.description: a parameter's declaration cannot use ${...}`,
		}},
		{"bad names and fields", head + "params:\n  Turbines: 1\n  n: {defualt: 1}\n" + dev, nil, []string{
			`bad.yaml:4:3: params.Turbines: invalid parameter name "Turbines": want lowercase letters, digits and _, starting with a letter`,
			`bad.yaml:5:7: params.n.defualt: unknown field "defualt" (did you mean "default"?)`,
		}},
		{"not a mapping", head + "params: [n]\n" + dev, nil, []string{
			`bad.yaml:3:9: params: want a mapping, got a list`,
		}},
		{"misspelt section", head + "parms: {n: 1}\n" + dev, nil, []string{
			`bad.yaml:3:1: parms: unknown field "parms" (did you mean "params"?)`,
		}},
		{"yaml syntax", head + "params: {n: 1\n" + dev, nil, []string{
			"bad.yaml:2: invalid YAML: did not find expected ',' or '}'",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := parseParams(t, tt.yaml, tt.given)
			if err == nil {
				t.Fatalf("no error; parsed %+v", sc)
			}
			if sc != nil {
				t.Error("a scenario was returned with the error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			checkLocated(t, err, "bad.yaml")
		})
	}
}

// TestLoadWith reads a scenario and its plant from disk with parameters;
// Load uses the defaults.
func TestLoadWith(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"s.yaml": paramsScenario, "pplant.yaml": paramsPlant} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string][]byte{"flow-01.csv": testFS["flow-01.csv"].Data, "flow-02.csv": testFS["flow-02.csv"].Data} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "s.yaml")
	sc, err := Load(path)
	if err != nil || len(sc.Devices) != 2 || sc.Params["presses"] != "2" {
		t.Fatalf("Load: %v %+v", err, sc)
	}
	sc, err = LoadWith(path, map[string]string{"presses": "5"})
	if err != nil || len(sc.Devices) != 5 || len(sc.Plant.Twins) != 5 || sc.Params["presses"] != "5" {
		t.Fatalf("LoadWith: %v %+v", err, sc)
	}
	if _, err := LoadWith(path, map[string]string{"press": "5"}); err == nil || !strings.Contains(err.Error(), `s.yaml:3:1: params: unknown parameter "press" given (did you mean "presses"?)`) {
		t.Errorf("an undeclared parameter: %v", err)
	}
	if _, err := LoadWith(filepath.Join(dir, "none.yaml"), nil); err == nil {
		t.Error("a missing file loaded")
	}
}

// TestWindFarmParams: the bundled wind farm scales with its turbines
// parameter, in the devices and in the plant.
func TestWindFarmParams(t *testing.T) {
	for _, tt := range []struct {
		given map[string]string
		n     int
	}{
		{nil, 1000},
		{map[string]string{"turbines": "50"}, 50},
		{map[string]string{"turbines": "10000"}, 10000},
	} {
		sc, err := LoadWith("../scenarios/wind-farm.yaml", tt.given)
		if err != nil {
			t.Fatal(err)
		}
		// The farm's device and twin, and one per turbine.
		if len(sc.Devices) != tt.n+1 || len(sc.Plant.Twins) != tt.n+1 || len(sc.Plant.Children("farm-1")) != tt.n {
			t.Errorf("turbines=%d: %d devices, %d twins", tt.n, len(sc.Devices), len(sc.Plant.Twins))
		}
	}
	// Fewer turbines than the faults name is an error at the fault.
	_, err := LoadWith("../scenarios/wind-farm.yaml", map[string]string{"turbines": "40"})
	if err == nil || !strings.Contains(err.Error(), "turbine-42") {
		t.Errorf("40 turbines: %v", err)
	}
}

// TestDocParams parses the parameters example of docs/simulations.md with
// its defaults and with values given, and checks the errors the section
// shows against the bundled wind farm.
func TestDocParams(t *testing.T) {
	data, err := os.ReadFile("../../docs/simulations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	var example string
	for _, b := range blocks(doc, "yaml") {
		if strings.Contains(b, "\nparams:\n") {
			example = b
		}
	}
	if example == "" {
		t.Fatal("no params example in docs/simulations.md")
	}
	for _, tt := range []struct {
		given   map[string]string
		devices int
		horizon string
	}{
		{nil, 1000, "15m0s"},
		{map[string]string{"turbines": "3", "horizon": "5m"}, 3, "5m0s"},
	} {
		sc, err := parse("wind-farm.yaml", []byte(example), fsReader(testFS, "wind-farm.yaml"), defaultLimits, tt.given)
		if err != nil {
			t.Fatal(err)
		}
		if len(sc.Devices) != tt.devices || sc.Duration.String() != tt.horizon || sc.Devices[0].Name != "turbine-1" {
			t.Errorf("with %v: %d devices, duration %v", tt.given, len(sc.Devices), sc.Duration)
		}
	}

	farm, err := os.ReadFile("../scenarios/wind-farm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS("../scenarios")
	_, undeclared := ParseFS(fsys, "wind-farm.yaml", []byte(strings.Replace(string(farm), "{1..${turbines}}", "{1..${turbine}}", 1)))
	_, unknown := parse("wind-farm.yaml", farm, fsReader(fsys, "wind-farm.yaml"), defaultLimits, map[string]string{"turbnes": "5"})
	for _, err := range []error{undeclared, unknown} {
		if err == nil {
			t.Fatal("no error")
		}
		if line := strings.Split(err.Error(), "\n")[0]; !strings.Contains(doc, "`"+line+"`") {
			t.Errorf("docs/simulations.md does not show the error %s", line)
		}
	}
}
