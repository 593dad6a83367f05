package edge

import (
	"os"
	"strings"
	"testing"

	"github.com/plantwin/plantwin/twins"
)

// TestRulesDocEndToEnd parses the end-to-end example of docs/rules.md (a
// press on Modbus that stops on overheat) as serve does: the plant, then
// its connectors and bindings.
func TestRulesDocEndToEnd(t *testing.T) {
	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n## End to end")
	if !ok {
		t.Fatal("docs/rules.md has no end-to-end section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml example in the end-to-end section")
	}
	plant, err := twins.ParseConfig("plant.yaml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("plant.yaml", []byte(example), plant)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Connectors) != 1 || len(cfg.Bindings) != 1 || len(cfg.Bindings[0].Points) != 3 || len(cfg.Bindings[0].Commands) != 2 {
		t.Fatalf("parsed %d connectors, %d bindings", len(cfg.Connectors), len(cfg.Bindings))
	}
	m, _ := plant.Model("press")
	if len(m.Rules) != 2 || len(m.Rules[1].Actions) != 1 || m.Rules[1].Actions[0].Command != "stop" || len(m.Rules[1].Blocks) != 1 {
		t.Fatalf("press rules: %+v", m.Rules)
	}
	for _, c := range cfg.Bindings[0].Commands {
		if c.Table != "coil" || c.Address != 0 {
			t.Errorf("command %s bound to %s %d, want coil 0", c.Command, c.Table, c.Address)
		}
	}
}
