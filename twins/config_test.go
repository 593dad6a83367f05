package twins

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/internal/suggest"
)

func TestLoadExample(t *testing.T) {
	c, err := LoadConfig("testdata/plant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(IngestPolicy{MaxFutureSkew: 5 * time.Minute, Future: FutureReject}, c.Ingest); diff != "" {
		t.Errorf("Ingest (-want +got):\n%s", diff)
	}
	if len(c.Models) != 2 || len(c.Twins) != 501 {
		t.Fatalf("got %d models and %d twins, want 2 and 501", len(c.Models), len(c.Twins))
	}
	turbine, ok := c.Model("turbine")
	if !ok {
		t.Fatal("model turbine missing")
	}
	setpoint, ok := turbine.Property("setpoint")
	if !ok {
		t.Fatal("property setpoint missing")
	}
	f := func(v float64) *float64 { return &v }
	wantSetpoint := Property{Name: "setpoint", Unit: "kW", Type: TypeDouble, Min: f(0), Max: f(5000), Writable: true, Index: 2}
	if diff := cmp.Diff(wantSetpoint, *setpoint); diff != "" {
		t.Errorf("setpoint (-want +got):\n%s", diff)
	}
	state, _ := turbine.Property("state")
	if diff := cmp.Diff([]string{"running", "stopped", "fault"}, state.Enum); diff != "" {
		t.Errorf("state values (-want +got):\n%s", diff)
	}
	stop, ok := turbine.Command("stop")
	if !ok {
		t.Fatal("command stop missing")
	}
	wantStop := Command{Name: "stop", Description: "Stop the turbine", Parameters: []Parameter{{Name: "reason", Type: TypeString}}}
	if diff := cmp.Diff(wantStop, *stop); diff != "" {
		t.Errorf("stop (-want +got):\n%s", diff)
	}

	spec, ok := c.Twin("turbine-042")
	if !ok {
		t.Fatal("twin turbine-042 missing")
	}
	if spec.Model != turbine {
		t.Error("turbine-042 does not point at the turbine model")
	}
	wantSpec := Spec{ID: "turbine-042", ModelName: "turbine", Labels: map[string]string{"site": "north", "row": "042"}, Parent: "farm-1"}
	got := *spec
	got.Model = nil
	if diff := cmp.Diff(wantSpec, got); diff != "" {
		t.Errorf("turbine-042 (-want +got):\n%s", diff)
	}
	for _, id := range []string{"farm-1", "turbine-001", "turbine-500"} {
		if _, ok := c.Twin(id); !ok {
			t.Errorf("twin %s missing", id)
		}
	}
	for _, id := range []string{"turbine-000", "turbine-501", "turbine-42"} {
		if _, ok := c.Twin(id); ok {
			t.Errorf("twin %s exists", id)
		}
	}
	children := c.Children("farm-1")
	if len(children) != 500 || children[0].ID != "turbine-001" || children[499].ID != "turbine-500" {
		t.Errorf("Children(farm-1) has %d twins", len(children))
	}
	if got := c.Children("turbine-001"); len(got) != 0 {
		t.Errorf("Children(turbine-001) = %v", got)
	}
}

func TestParseConfig(t *testing.T) {
	const models = "models:\n  - name: m\n    properties: [{name: p, type: int}]\n"
	tests := []struct {
		name string
		yaml string
		// ids lists the expected twin ids with their parent and "row" label.
		twins  [][3]string
		ingest IngestPolicy
	}{
		{
			name:   "models only",
			yaml:   models,
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "template without padding",
			yaml:   models + "twins:\n  - id: a{8..11}\n    model: m\n",
			twins:  [][3]string{{"a8"}, {"a9"}, {"a10"}, {"a11"}},
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "template padding from lower bound",
			yaml:   models + "twins:\n  - id: a-{098..101}-x\n    model: m\n    labels: {row: \"r{n}\"}\n",
			twins:  [][3]string{{"a-098-x", "", "r098"}, {"a-099-x", "", "r099"}, {"a-100-x", "", "r100"}, {"a-101-x", "", "r101"}},
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "template parent",
			yaml:   models + "twins:\n  - id: row{1..2}\n    model: m\n  - id: t{1..2}\n    model: m\n    parent: row{n}\n",
			twins:  [][3]string{{"row1"}, {"row2"}, {"t1", "row1"}, {"t2", "row2"}},
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "single element range",
			yaml:   models + "twins:\n  - {id: \"x{5..5}\", model: m}\n",
			twins:  [][3]string{{"x5"}},
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "parent declared later",
			yaml:   models + "twins:\n  - {id: child, model: m, parent: root}\n  - {id: root, model: m}\n",
			twins:  [][3]string{{"child", "root"}, {"root"}},
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "ingest clamp",
			yaml:   "ingest:\n  max_future_skew: 30s\n  future_policy: clamp\n" + models,
			ingest: IngestPolicy{MaxFutureSkew: 30 * time.Second, Future: FutureClamp},
		},
		{
			name:   "ingest partial",
			yaml:   "ingest:\n  max_future_skew: 0s\n" + models,
			ingest: IngestPolicy{Future: FutureReject},
		},
		{
			name:   "reserved sections are ignored",
			yaml:   models + "connectors: [{whatever: 1}]\nbindings: {}\nrules: x\nruntime: {a: b}\nedge: null\n",
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "anchors and aliases",
			yaml:   "models:\n  - name: m\n    properties:\n      - &p {name: p, type: int}\n  - name: n\n    properties: [*p]\ntwins:\n  - {id: a, model: m, labels: &l {row: x}}\n  - {id: b, model: n, labels: *l}\n",
			twins:  [][3]string{{"a", "", "x"}, {"b", "", "x"}},
			ingest: DefaultIngestPolicy(),
		},
		{
			name:   "ids with all allowed characters",
			yaml:   models + "twins:\n  - {id: \"Plant.A_1:line/2-x\", model: m}\n  - {id: \"0\", model: m}\n  - {id: 42, model: m}\n",
			twins:  [][3]string{{"Plant.A_1:line/2-x"}, {"0"}, {"42"}},
			ingest: DefaultIngestPolicy(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("good.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got [][3]string
			for _, s := range c.Twins {
				got = append(got, [3]string{s.ID, s.Parent, s.Labels["row"]})
				if s.Model == nil {
					t.Errorf("twin %s has no model", s.ID)
				}
				if found, ok := c.Twin(s.ID); !ok || found != s {
					t.Errorf("Twin(%s) = %v, %v", s.ID, found, ok)
				}
			}
			if diff := cmp.Diff(tt.twins, got); diff != "" {
				t.Errorf("twins (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.ingest, c.Ingest); diff != "" {
				t.Errorf("ingest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	const m = "models:\n  - name: m\n    properties: [{name: p, type: int}]\n" // lines 1-3
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error text
	}{
		{"empty document", "", []string{"bad.yaml:1:1: empty configuration"}},
		{"only a comment", "# nothing\n", []string{"bad.yaml:1:1: empty configuration"}},
		{"empty mapping", "{}\n", []string{"bad.yaml:1:1: empty configuration"}},
		{"not a mapping", "- a\n- b\n", []string{"bad.yaml:1:1: want a mapping, got a list"}},
		{"yaml syntax", "models:\n  - name: m\n  bad\n", []string{"bad.yaml:3: invalid YAML: could not find expected ':'"}},
		{"unknown anchor", "models: *x\n", []string{"bad.yaml:1: invalid YAML: unknown anchor"}},
		{"null sections", "models:\ntwins:\n", []string{"bad.yaml:1:1: empty configuration"}},
		{"tab indentation", "models:\n\t- name: m\n", []string{"bad.yaml:2: invalid YAML"}},
		{
			"unknown top-level key",
			m + "modles: []\n",
			[]string{`bad.yaml:4:1: modles: unknown field "modles" (did you mean "models"?)`},
		},
		{
			"unknown property field with suggestion",
			"models:\n  - name: m\n    properties:\n      - {name: p, type: double, unti: kW}\n",
			[]string{`bad.yaml:4:33: models[0].properties[0].unti: unknown field "unti" (did you mean "unit"?)`},
		},
		{
			"unknown type",
			"models:\n  - name: turbine\n    properties:\n      - name: power\n        type: doubel\n",
			[]string{`bad.yaml:5:15: models[0].properties[0].type: unknown type "doubel" (want bool, int, double, string or enum)`},
		},
		{
			"missing type",
			"models:\n  - name: m\n    properties:\n      - name: p\n",
			[]string{`bad.yaml:4:9: models[0].properties[0].type: missing required field "type"`},
		},
		{
			"missing model name",
			"models:\n  - description: x\n",
			[]string{`bad.yaml:2:5: models[0].name: missing required field "name"`},
		},
		{
			"invalid model name",
			"models:\n  - name: Turbine\n",
			[]string{`bad.yaml:2:11: models[0].name: invalid name "Turbine"`},
		},
		{
			"invalid property name",
			"models:\n  - name: m\n    properties: [{name: 1p, type: int}]\n",
			[]string{`bad.yaml:3:25: models[0].properties[0].name: invalid name "1p"`},
		},
		{
			"duplicate model",
			m + "  - name: m\n",
			[]string{`bad.yaml:4:11: models[1].name: duplicate model "m" (first declared at line 2)`},
		},
		{
			"duplicate property",
			"models:\n  - name: m\n    properties:\n      - {name: p, type: int}\n      - {name: p, type: bool}\n",
			[]string{`bad.yaml:5:16: models[0].properties[1].name: duplicate property "p" (first declared at line 4)`},
		},
		{
			"duplicate command and parameter",
			"models:\n  - name: m\n    commands:\n      - name: stop\n        parameters: [{name: a, type: int}, {name: a, type: int}]\n      - name: stop\n",
			[]string{
				`bad.yaml:5:51: models[0].commands[0].parameters[1].name: duplicate parameter "a" (first declared at line 5)`,
				`bad.yaml:6:15: models[0].commands[1].name: duplicate command "stop" (first declared at line 4)`,
			},
		},
		{
			"duplicate key",
			"models:\n  - name: m\n    name: n\n",
			[]string{`bad.yaml:3:5: models[0].name: duplicate key "name" (first at line 2)`},
		},
		{
			"enum without values",
			"models:\n  - name: m\n    properties:\n      - {name: s, type: enum}\n",
			[]string{`bad.yaml:4:9: models[0].properties[0].values: missing required field "values"`},
		},
		{
			"enum with empty values",
			"models:\n  - name: m\n    properties:\n      - {name: s, type: enum, values: []}\n",
			[]string{`bad.yaml:4:39: models[0].properties[0].values: must list at least one value`},
		},
		{
			"duplicate enum value",
			"models:\n  - name: m\n    properties:\n      - {name: s, type: enum, values: [a, b, a]}\n",
			[]string{`bad.yaml:4:46: models[0].properties[0].values[2]: duplicate enum value "a"`},
		},
		{
			"values on non-enum",
			"models:\n  - name: m\n    properties:\n      - {name: s, type: string, values: [a]}\n",
			[]string{`bad.yaml:4:33: models[0].properties[0].values: values are only allowed for enum properties`},
		},
		{
			"min above max",
			"models:\n  - name: m\n    properties:\n      - {name: p, type: double, min: 10, max: 5}\n",
			[]string{`bad.yaml:4:47: models[0].properties[0].max: max 5 is below min 10`},
		},
		{
			"min on string",
			"models:\n  - name: m\n    properties:\n      - {name: p, type: string, min: 1}\n",
			[]string{`bad.yaml:4:33: models[0].properties[0].min: min is only allowed for int and double properties`},
		},
		{
			"max not a number",
			"models:\n  - name: m\n    properties:\n      - {name: p, type: int, max: lots}\n",
			[]string{`bad.yaml:4:35: models[0].properties[0].max: want a number, got "lots"`},
		},
		{
			"max infinite",
			"models:\n  - name: m\n    properties:\n      - {name: p, type: int, max: .inf}\n",
			[]string{`bad.yaml:4:35: models[0].properties[0].max: want a finite number`},
		},
		{
			"writable not a bool",
			"models:\n  - name: m\n    properties:\n      - {name: p, type: int, writable: yes}\n",
			[]string{`bad.yaml:4:40: models[0].properties[0].writable: want true or false, got "yes"`},
		},
		{
			"parameter with bad type",
			"models:\n  - name: m\n    commands:\n      - name: go\n        parameters:\n          - {name: speed, type: float}\n",
			[]string{`bad.yaml:6:33: models[0].commands[0].parameters[0].type: unknown type "float"`},
		},
		{
			"properties not a list",
			"models:\n  - name: m\n    properties: {name: p}\n",
			[]string{`bad.yaml:3:17: models[0].properties: want a list, got a mapping`},
		},
		{
			"bad duration",
			"ingest: {max_future_skew: 300}\n" + m,
			[]string{`bad.yaml:1:27: ingest.max_future_skew: invalid duration "300"`},
		},
		{
			"negative duration",
			"ingest: {max_future_skew: -1m}\n" + m,
			[]string{`bad.yaml:1:27: ingest.max_future_skew: must not be negative`},
		},
		{
			"bad future policy",
			"ingest:\n  future_policy: drop\n" + m,
			[]string{`bad.yaml:2:18: ingest.future_policy: unknown policy "drop" (want reject or clamp)`},
		},
		{
			"twin with unknown model",
			m + "twins:\n  - id: a\n    model: n\n",
			[]string{`bad.yaml:6:12: twins[0].model: unknown model "n"`},
		},
		{
			"twin with misspelt model",
			"models:\n  - name: turbine\ntwins:\n  - id: a\n    model: turbin\n",
			[]string{`bad.yaml:5:12: twins[0].model: unknown model "turbin" (did you mean "turbine"?)`},
		},
		{
			"twin without id and model",
			m + "twins:\n  - parent: x\n",
			[]string{
				`bad.yaml:5:5: twins[0].id: missing required field "id"`,
				`bad.yaml:5:5: twins[0].model: missing required field "model"`,
			},
		},
		{
			"invalid twin id",
			m + "twins:\n  - {id: -a, model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: invalid twin id "-a"`},
		},
		{
			"twin id too long",
			m + "twins:\n  - {id: " + strings.Repeat("a", 129) + ", model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: invalid twin id`},
		},
		{
			"template expands beyond 128 characters",
			m + "twins:\n  - {id: \"" + strings.Repeat("a", 125) + "{1..1000}\", model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: template`, "expands to an invalid twin id"},
		},
		{
			"duplicate twin",
			m + "twins:\n  - {id: a, model: m}\n  - {id: a, model: m}\n",
			[]string{`bad.yaml:6:10: twins[1].id: duplicate twin id "a" (first declared at line 5)`},
		},
		{
			"overlapping templates",
			m + "twins:\n  - id: t{001..500}\n    model: m\n  - id: t{450..600}\n    model: m\n",
			[]string{`bad.yaml:7:9: twins[1].id: duplicate twin id "t450" (first declared at line 5) and 50 more duplicates`},
		},
		{
			"reversed range",
			m + "twins:\n  - {id: \"t{9..1}\", model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: invalid template range {9..1}: 9 is above 1`},
		},
		{
			"malformed range",
			m + "twins:\n  - {id: \"t{a..b}\", model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: invalid template range "{a..b}"`},
		},
		{
			"unclosed range",
			m + "twins:\n  - {id: \"t{1..2\", model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: invalid template "t{1..2": missing }`},
		},
		{
			"two ranges",
			m + "twins:\n  - {id: \"t{1..2}-{1..2}\", model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: invalid template "t{1..2}-{1..2}": only one {A..B} range per id`},
		},
		{
			"range too large",
			m + "twins:\n  - {id: \"t{0..1000000}\", model: m}\n",
			[]string{`bad.yaml:5:10: twins[0].id: template "t{0..1000000}" expands to 1000001 twins`},
		},
		{
			"total too large",
			m + "twins:\n  - {id: \"a{1..600000}\", model: m}\n  - {id: \"b{1..600000}\", model: m}\n",
			[]string{`bad.yaml:6:10: twins[1].id: too many twins: 600000 declared so far plus 600000 here exceeds the limit of 1000000`},
		},
		{
			"{n} without range",
			m + "twins:\n  - {id: a, model: m, parent: \"p{n}\", labels: {row: \"{n}\"}}\n",
			[]string{
				`bad.yaml:5:31: twins[0].parent: {n} is only allowed when the id has a {A..B} range`,
				`bad.yaml:5:47: twins[0].labels: {n} is only allowed`,
			},
		},
		{
			"unknown parent",
			m + "twins:\n  - {id: a, model: m, parent: b}\n",
			[]string{`bad.yaml:5:31: twins[0].parent: parent "b" is not a declared twin`},
		},
		{
			"unknown templated parents",
			m + "twins:\n  - {id: row1, model: m}\n  - id: t{1..3}\n    model: m\n    parent: row{n}\n",
			[]string{`bad.yaml:8:13: twins[1].parent: parent "row2" is not a declared twin (and 1 more missing parents)`},
		},
		{
			"own parent",
			m + "twins:\n  - {id: a, model: m, parent: a}\n",
			[]string{`bad.yaml:5:31: twins[0].parent: twin "a" is its own parent`},
		},
		{
			"parent cycle",
			m + "twins:\n  - {id: a, model: m, parent: c}\n  - {id: b, model: m, parent: a}\n  - {id: c, model: m, parent: b}\n",
			[]string{`bad.yaml:5:31: twins[0].parent: parent cycle: a -> c -> b -> a`},
		},
		{
			"bad label key",
			m + "twins:\n  - {id: a, model: m, labels: {Site: x}}\n",
			[]string{`bad.yaml:5:32: twins[0].labels.Site: invalid label key "Site"`},
		},
		{
			"label value not a string",
			m + "twins:\n  - {id: a, model: m, labels: {site: [x]}}\n",
			[]string{`bad.yaml:5:38: twins[0].labels.site: want a string, got a list`},
		},
		{
			"unknown twin field",
			m + "twins:\n  - {id: a, model: m, lables: {}}\n",
			[]string{`bad.yaml:5:23: twins[0].lables: unknown field "lables" (did you mean "labels"?)`},
		},
		{
			"merge keys",
			"models:\n  - &a {name: m}\n  - <<: *a\n    name: n\n",
			[]string{`bad.yaml:3:5: models[1].<<: merge keys (<<) are not supported`},
		},
		{
			"several errors in document order",
			"twins:\n  - {id: a, model: x}\nmodels:\n  - name: m\n    properties: [{name: p, type: text}]\n",
			[]string{
				"bad.yaml:2:20: twins[0].model: unknown model \"x\"\nbad.yaml:5:34: models[0].properties[0].type: unknown type \"text\"",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("ParseConfig succeeded: %d twins", len(c.Twins))
			}
			if c != nil {
				t.Error("ParseConfig returned a config with the error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain\n\t%s\ngot:\n\t%s", w, strings.ReplaceAll(err.Error(), "\n", "\n\t"))
				}
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != "bad.yaml" || ce.Line < 1 {
				t.Errorf("errors.As(*ConfigError) = %#v", ce)
			}
		})
	}
}

func TestParseConfigErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("models:\n  - name: m\n    properties:\n")
	for i := range 100 {
		b.WriteString("      - {name: p" + strconv.Itoa(i) + ", type: nope}\n")
	}
	_, err := ParseConfig("cap.yaml", []byte(b.String()))
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not joined", err)
	}
	errs := joined.Unwrap()
	if len(errs) != maxErrors+1 {
		t.Errorf("got %d errors, want %d", len(errs), maxErrors+1)
	}
	if last := errs[len(errs)-1].Error(); !strings.Contains(last, "too many errors") {
		t.Errorf("last error = %q", last)
	}
	for _, e := range errs[:maxErrors] {
		var ce *ConfigError
		if !errors.As(e, &ce) || ce.Field == "" {
			t.Errorf("error %v is not a located ConfigError", e)
		}
	}
}

// TestParseConfigAliasBomb checks that aliases cannot blow up the work
// done for a small document.
func TestParseConfigAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("runtime:\n  v: &v [")
	for i := range 50 {
		b.WriteString("s" + strconv.Itoa(i) + ", ")
	}
	b.WriteString("x]\n  ps: &ps [")
	for i := range 50 {
		b.WriteString("{name: p" + strconv.Itoa(i) + ", type: enum, values: *v}, ")
	}
	b.WriteString("{name: x, type: int}]\n  m: &m {name: m, properties: *ps}\nmodels: [")
	for range 2000 {
		b.WriteString("*m, ")
	}
	b.WriteString("*m]\n")
	_, err := ParseConfig("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("ParseConfig = %v, want excessive aliasing", err)
	}
}

func TestConfigErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  ConfigError
		want string
	}{
		{"full", ConfigError{File: "plant.yaml", Line: 12, Column: 7, Field: "models[0].properties[1].type", Msg: "unknown type"}, "plant.yaml:12:7: models[0].properties[1].type: unknown type"},
		{"no field", ConfigError{File: "plant.yaml", Line: 3, Column: 1, Msg: "bad"}, "plant.yaml:3:1: bad"},
		{"no column", ConfigError{File: "plant.yaml", Line: 3, Msg: "invalid YAML"}, "plant.yaml:3: invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadConfig(missing) = %v, want fs.ErrNotExist", err)
	}
	path := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(path, []byte("models:\n  - name: M\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2:11: models[0].name:") {
		t.Errorf("LoadConfig = %v, want an error located in %s", err, path)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"unit", "unit", 0},
		{"unti", "unit", 1},
		{"modles", "models", 1},
		{"lables", "labels", 1},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := suggest.Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestDocsExample parses the complete example of docs/config.md and checks
// it is the same as testdata/plant.yaml.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatalf("read docs/config.md: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Complete example")
	if !ok {
		t.Fatal("docs/config.md has no complete example")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("unterminated yaml block")
	}
	want, err := os.ReadFile("testdata/plant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), example); diff != "" {
		t.Errorf("docs example differs from testdata/plant.yaml (-testdata +docs):\n%s", diff)
	}
	if _, err := ParseConfig("config.md", []byte(example)); err != nil {
		t.Error(err)
	}
}
