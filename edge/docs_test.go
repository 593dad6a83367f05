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
	rest, _, _ = strings.Cut(rest, "\n## ")
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	example, rest, ok2 := strings.Cut(rest, "```")
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
	// Every later yaml example of the section is a whole file too.
	n := 2
	for ; ; n++ {
		_, r, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			break
		}
		example, rest, _ = strings.Cut(r, "```")
		plant, err := twins.ParseConfig("config.md", []byte(example))
		if err != nil {
			t.Fatalf("example %d: %v", n, err)
		}
		if _, err := ParseConfig("config.md", []byte(example), plant); err != nil {
			t.Fatalf("example %d: %v", n, err)
		}
	}
	if n < 3 {
		t.Fatalf("%d yaml examples in the section, want the Modbus and the OPC UA one", n-1)
	}
}
