package twins

import (
	"os"
	"strings"
	"testing"
)

// TestRulesDocExample parses the example of docs/rules.md and checks the
// rules it declares.
func TestRulesDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml example in docs/rules.md")
	}
	cfg, err := ParseConfig("rules.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("press")
	if len(m.Rules) != 3 || m.Rules[0].Severity != SeverityHigh || len(cfg.Twins) != 4 {
		t.Fatalf("parsed %d rules, %d twins", len(m.Rules), len(cfg.Twins))
	}
	// The error shown in the doc is what a misspelt property gives.
	bad := strings.Replace(example, "when: temperature > 90.0", "when: temprature > 90.0", 1)
	_, err = ParseConfig("plant.yaml", []byte(bad))
	want := "plant.yaml:9:15: models[0].rules[0].when: line 1, column 1: undeclared reference to 'temprature'"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(string(doc), want) {
		t.Fatalf("error %v, want it (and the doc) to contain %q", err, want)
	}
}
