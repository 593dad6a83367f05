package twins

import (
	"errors"
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

// docSection returns the text of docs/rules.md from the heading that
// starts with title to the next heading of the same level.
func docSection(t *testing.T, doc, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n## "+title)
	if !ok {
		t.Fatalf("docs/rules.md has no section %q", title)
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}

// TestRulesDocOutputs replays the end-to-end press of docs/rules.md on
// its twin and checks that the messages and errors the doc quotes are
// what the twin says: rounded {temperature} in messages, the interlock's
// refusal, and an acknowledgement with nothing to acknowledge.
func TestRulesDocOutputs(t *testing.T) {
	data, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	blocks := yamlBlocks(docSection(t, doc, "End to end"))
	if len(blocks) == 0 {
		t.Fatal("no yaml example in the end-to-end section")
	}
	cfg, err := ParseConfig("plant.yaml", []byte(blocks[0]))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("press-1")
	s := NewState(spec)
	quoted := func(got string) {
		t.Helper()
		if !strings.Contains(doc, got) {
			t.Errorf("docs/rules.md does not quote %q", got)
		}
	}

	// Nothing to acknowledge yet.
	_, err = s.Handle(AcknowledgeAlarm{Name: "overheat", Actor: "anonymous"}, at(1))
	if !errors.Is(err, ErrNothingToAcknowledge) {
		t.Fatalf("ack of a normal alarm: %v", err)
	}
	quoted("FailedPrecondition: " + err.Error())

	// float32 register readings: the warning at once, the trip 5 s later.
	temp := func(v float64, sec float64) {
		t.Helper()
		if _, err := s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "temperature", Value: Double(v), SourceTime: at(sec)}}}, at(sec)); err != nil {
			t.Fatal(err)
		}
	}
	temp(101.26077270507812, 1)
	temp(103.75531768798828, 6)
	for name, want := range map[string]string{
		"temperature_high": "press running hot, 101.261 °C",
		"overheat":         "press temperature 103.755 °C above 90, stopping",
	} {
		a, _ := s.Alarm(name)
		if !a.Active || a.Message != want {
			t.Errorf("%s: active %v, message %q, want %q", name, a.Active, a.Message, want)
		}
		quoted(want)
	}
	d, err := s.Handle(InvokeCommand{Name: "start", Actor: "anonymous"}, at(6))
	if err != nil || d.Command == nil || d.Command.Status != CommandFailed {
		t.Fatalf("start during the trip: %+v, %v", d.Command, err)
	}
	quoted("  " + d.Command.Error + "\n")
}

// TestRulesDocOnline checks the plc_lost example of docs/rules.md: raised
// 30 s after the device went offline, with no sample in between, and
// cleared when it is back.
func TestRulesDocOnline(t *testing.T) {
	data, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	var example string
	for _, b := range yamlBlocks(docSection(t, string(data), "The condition language")) {
		if strings.Contains(b, "plc_lost") {
			example = b
		}
	}
	cfg, err := ParseConfig("plc.yaml", []byte(example))
	if err != nil {
		t.Fatalf("plc_lost example: %v", err)
	}
	spec, _ := cfg.Twin("plc-1")
	s := NewState(spec)
	s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "temperature", Value: Double(21.5), SourceTime: at(1)}}}, at(1))
	s.Handle(SetConnectivity{Connectivity: ConnectivityOffline}, at(2))
	s.Handle(Tick{Now: at(31)}, at(31))
	if a, _ := s.Alarm("plc_lost"); a.Active {
		t.Fatalf("raised after 29 s offline: %+v", *a)
	}
	s.Handle(Tick{Now: at(32)}, at(32))
	a, _ := s.Alarm("plc_lost")
	if !a.Active || a.RaisedAt != at(32) || a.Message != "PLC unreachable, last temperature 21.5 °C" {
		t.Fatalf("after 30 s offline: %+v", *a)
	}
	s.Handle(SetConnectivity{Connectivity: ConnectivityOnline}, at(40))
	if a, _ := s.Alarm("plc_lost"); a.Active {
		t.Errorf("still active back online: %+v", *a)
	}
}

// TestRulesDocLaggingClock: as docs/rules.md says, a quiet device whose
// clock is a minute behind the node's raises a for: 10s alarm 10 s after
// its condition started to hold, not at once.
func TestRulesDocLaggingClock(t *testing.T) {
	data, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("rules.md", []byte(yamlBlocks(string(data))[0]))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := cfg.Twin("press-01")
	s := NewState(spec)
	lag := at(60)
	s.Handle(ApplyTelemetry{Samples: []Sample{{Property: "temperature", Value: Double(95), SourceTime: at(1)}}}, at(1)+lag)
	s.Handle(Tick{Now: at(10) + lag}, at(10)+lag)
	if a, _ := s.Alarm("overheat"); a.Active {
		t.Fatalf("raised 9 s after the sample: %+v", *a)
	}
	s.Handle(Tick{Now: at(11) + lag}, at(11)+lag)
	if a, _ := s.Alarm("overheat"); !a.Active || a.RaisedAt != at(11) {
		t.Fatalf("10 s after the sample: %+v", *a)
	}
}
