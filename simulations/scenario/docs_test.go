package scenario

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/twins"
)

// blocks returns the fenced blocks of a Markdown text in the given
// language, in order.
func blocks(doc, lang string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(doc, "```"+lang+"\n")
		if !ok {
			return out
		}
		block, after, ok := strings.Cut(rest, "```")
		if !ok {
			return out
		}
		out = append(out, block)
		doc = after
	}
}

// docExample returns the example of docs/simulations.md: the scenario and
// a file system with the plant and the CSV file beside it.
func docExample(t testing.TB) (string, fstest.MapFS) {
	t.Helper()
	data, err := os.ReadFile("../../docs/simulations.md")
	if err != nil {
		t.Fatal(err)
	}
	ys, cs := blocks(string(data), "yaml"), blocks(string(data), "csv")
	if len(ys) < 2 || len(cs) < 1 {
		t.Fatalf("docs/simulations.md has %d yaml and %d csv blocks, want 2 and 1", len(ys), len(cs))
	}
	return ys[0], fstest.MapFS{
		"plant.yaml":    {Data: []byte(ys[1])},
		"data/flow.csv": {Data: []byte(cs[0])},
	}
}

// docFS is the file system of the docs' example.
func docFS(t testing.TB) fstest.MapFS {
	_, fsys := docExample(t)
	return fsys
}

var twinsOne = twins.Double(1)

// TestDocExampleIsGolden keeps testdata/ (read through the operating
// system by TestLoad) identical to the example of the docs.
func TestDocExampleIsGolden(t *testing.T) {
	example, fsys := docExample(t)
	files := map[string][]byte{"press-line.yaml": []byte(example)}
	for name, f := range fsys {
		files[name] = f.Data
	}
	for name, want := range files {
		got, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("testdata/%s differs from docs/simulations.md (-doc +testdata):\n%s", name, diff)
		}
	}
}

// TestDocExample parses the complete example of docs/simulations.md and
// checks what it declares.
func TestDocExample(t *testing.T) {
	example, fsys := docExample(t)
	sc, err := ParseFS(fsys, "press-line.yaml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "press-line" || sc.Seed != 42 || sc.Duration != 10*time.Minute || sc.Tick != 100*time.Millisecond || sc.PlantFile != "plant.yaml" || sc.Plant == nil {
		t.Errorf("header parsed as %+v", sc)
	}
	var names []string
	for _, d := range sc.Devices {
		names = append(names, d.Name+">"+d.Twin+"/"+d.Expose.String())
	}
	if diff := cmp.Diff([]string{"press-1>press-1/direct", "press-2>press-2/direct", "press-3>press-3/direct", "furnace-1>furnace-1/opcua"}, names); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	p2, _ := sc.Device("press-2")
	kinds := map[string]string{}
	for _, pt := range p2.Points {
		kinds[pt.Name] = pt.Signal.Kind() + "/" + pt.Type.String()
	}
	wantKinds := map[string]string{
		"temperature": "sine/double", "speed": "constant/double", "level": "ramp/double", "valve": "square/bool",
		"pressure": "step/double", "stroke": "sawtooth/double", "vibration": "random_walk/double", "ambient": "noise/double",
		"flow": "csv/double", "power": "expr/double", "running": "constant/bool",
	}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("press-2 signals (-want +got):\n%s", diff)
	}
	if len(sc.Faults) != 7 || len(sc.Expect) != 4 {
		t.Errorf("%d faults and %d expectations, want 7 and 4", len(sc.Faults), len(sc.Expect))
	}
	furnace, _ := sc.Device("furnace-1")
	if got := furnace.Points[0].Address; !cmp.Equal(got, map[string]any{"node_id": "ns=2;s=Furnace1.Temperature"}) {
		t.Errorf("furnace address %v", got)
	}
	end := sc.Expect[3]
	if end.Kind != ExpectEndState || !end.AtEnd["running"].Equal(twins.Bool(false)) {
		t.Errorf("end state parsed as %+v", end)
	}
}

// TestDocErrors checks the error messages the docs show: each is what the
// example gives with one mistake.
func TestDocErrors(t *testing.T) {
	example, fsys := docExample(t)
	data, err := os.ReadFile("../../docs/simulations.md")
	if err != nil {
		t.Fatal(err)
	}
	texts := blocks(string(data), "text")
	if len(texts) == 0 {
		t.Fatal("no error example in docs/simulations.md")
	}
	shown := strings.Split(strings.TrimSpace(texts[len(texts)-1]), "\n")
	bad := example
	for _, r := range [][2]string{
		{"period: 2m, phase: 0s", "perod: 2m, phase: 0s"},
		{"duty: 0.5", "duty: 1.5"},
		{"{at: 3m, device: press-1", "{at: 12m, device: press-1"},
		{"add: 200ms", "add: 200"},
	} {
		if !strings.Contains(bad, r[0]) {
			t.Fatalf("the example has no %q", r[0])
		}
		bad = strings.Replace(bad, r[0], r[1], 1)
	}
	_, err = ParseFS(fsys, "press-line.yaml", []byte(bad))
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	// The misspelt period is also missing; the docs show the first line
	// of each mistake.
	var firsts []string
	for _, l := range got {
		if !strings.Contains(l, `missing required parameter "period"`) {
			firsts = append(firsts, l)
		}
	}
	if diff := cmp.Diff(shown, firsts); diff != "" {
		t.Errorf("errors (-docs +got):\n%s", diff)
	}
}
