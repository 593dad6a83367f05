package edge

import (
	"os"
	"strings"
	"testing"

	"github.com/plantwin/plantwin/twins"
)

// TestDocsExample parses the connectors-and-bindings example of
// docs/config.md.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## connectors and bindings")
	if !ok {
		t.Fatal("docs/config.md has no connectors and bindings section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml example in the connectors and bindings section")
	}
	plant, err := twins.ParseConfig("config.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("config.md", []byte(example), plant)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Connectors) != 1 || len(cfg.Bindings) != 15 || len(cfg.Bindings[2].Points) != 4 || cfg.Bindings[2].Points[0].Address != 130 {
		t.Fatalf("parsed %d connectors, %d bindings", len(cfg.Connectors), len(cfg.Bindings))
	}
}
