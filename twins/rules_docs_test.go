package twins

import (
	"os"
	"strings"
	"testing"
	"time"
)

// yamlBlocks returns the ```yaml blocks of a Markdown text, in order.
func yamlBlocks(doc string) []string {
	var blocks []string
	for {
		_, rest, ok := strings.Cut(doc, "```yaml\n")
		if !ok {
			return blocks
		}
		block, after, ok := strings.Cut(rest, "```")
		if !ok {
			return blocks
		}
		blocks = append(blocks, block)
		doc = after
	}
}

// TestRulesDocExample parses the examples of docs/rules.md and checks the
// rules they declare.
func TestRulesDocExample(t *testing.T) {
	data, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	blocks := yamlBlocks(doc)
	if len(blocks) == 0 {
		t.Fatal("no yaml example in docs/rules.md")
	}
	example := blocks[0]
	cfg, err := ParseConfig("rules.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("press")
	if len(m.Rules) != 3 || len(cfg.Twins) != 4 {
		t.Fatalf("parsed %d rules, %d twins", len(m.Rules), len(cfg.Twins))
	}
	overheat := m.Rules[0]
	if overheat.Severity != SeverityHigh || overheat.For != 10*time.Second || len(overheat.Actions) != 1 ||
		overheat.Actions[0].Command != "stop" || overheat.Actions[0].Args["reason"].AsString() != "overheat" ||
		len(overheat.Blocks) != 1 || overheat.Blocks[0] != "start" {
		t.Errorf("overheat parsed as %+v", overheat)
	}
	if len(m.Windows) != 1 || m.Windows[0].Kind != WindowDelta || m.Windows[0].Span != time.Minute {
		t.Errorf("windows %+v, want delta(temperature, 1m)", m.Windows)
	}
	// The error shown in the doc is what a misspelt property gives.
	bad := strings.Replace(example, "when: temperature > 90.0", "when: temprature > 90.0", 1)
	_, err = ParseConfig("plant.yaml", []byte(bad))
	want := "plant.yaml:9:15: models[0].rules[0].when: line 1, column 1: undeclared reference to 'temprature'"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(doc, want) {
		t.Fatalf("error %v, want it (and the doc) to contain %q", err, want)
	}

	// Every other whole-file example parses (fragments start elsewhere).
	files := 0
	for i, b := range blocks[1:] {
		if !strings.HasPrefix(b, "models:") {
			continue
		}
		files++
		if _, err := ParseConfig("rules.md", []byte(b)); err != nil {
			t.Errorf("yaml example %d: %v", i+2, err)
		}
	}
	if files == 0 {
		t.Error("docs/rules.md has no end-to-end example")
	}

	// The window errors quoted in the doc are the parser's.
	for _, tc := range []struct{ when, want string }{
		{`avg(temperature, "25h") > 80.0`, `line 1, column 18: avg: the window must be a literal duration such as "30s", above 0 and at most 24h0m0s`},
		{`avg(mode, "1m") > 1.0`, `avg needs a numeric property; mode is enum (count works on any)`},
	} {
		bad := strings.Replace(example, `delta(temperature, "1m") > 10.0`, tc.when, 1)
		_, err := ParseConfig("plant.yaml", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.when, err, tc.want)
		}
		if want := strings.Replace(tc.want, "mode", "state", 1); !strings.Contains(doc, want) {
			t.Errorf("the doc does not quote %q", want)
		}
	}
}

// TestConfigDocRules parses the rules example of docs/config.md.
func TestConfigDocRules(t *testing.T) {
	data, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## rules\n")
	if !ok {
		t.Fatal("docs/config.md has no rules section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := yamlBlocks(section)
	if len(blocks) == 0 {
		t.Fatal("no yaml example in the rules section of docs/config.md")
	}
	cfg, err := ParseConfig("config.md", []byte(blocks[0]))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("pump")
	if m == nil || len(m.Rules) != 2 {
		t.Fatalf("model pump: %+v", m)
	}
	trip := m.Rules[1]
	if len(trip.Actions) != 2 || trip.Actions[0].Command != "stop" || trip.Actions[1].Property != "setpoint" || len(trip.Blocks) != 1 {
		t.Errorf("rule %s: actions %+v, blocks %v", trip.Name, trip.Actions, trip.Blocks)
	}
	sp, _ := m.Property("setpoint")
	if sp.Tolerance != 0.5 || sp.Settle != 5*time.Second {
		t.Errorf("setpoint: tolerance %g, settle %s", sp.Tolerance, sp.Settle)
	}
}
