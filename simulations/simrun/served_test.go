package simrun

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/plantwin/plantwin/simulations/recording"
	"github.com/plantwin/plantwin/simulations/scenario"
)

// TestProtocolsInLockstep runs a plant served over Modbus TCP and OPC UA
// (testdata/protocols.yaml: presses on Modbus PLCs, a line on an OPC UA
// server, an overheat stopped over Modbus, a roll-up's command and a
// desired value written over OPC UA, a PLC off the network for 3 s) at
// full speed and paced at 10x: every expectation holds, and both runs
// give byte-identical recordings and the same outcomes.
func TestProtocolsInLockstep(t *testing.T) {
	sc := load(t, "protocols.yaml")
	var fast, paced bytes.Buffer
	a, err := Run(context.Background(), sc, Options{Record: &fast})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range a.Expectations {
		if !e.Passed {
			t.Errorf("%s: %s", e.Name, e.Detail)
		}
	}
	b, err := Run(context.Background(), sc, Options{Record: &paced, Speed: 10})
	if err != nil {
		t.Fatal(err)
	}
	if a.Recording.SHA256 != b.Recording.SHA256 || !bytes.Equal(fast.Bytes(), paced.Bytes()) {
		t.Errorf("recordings differ: %+v at full speed, %+v at 10x", a.Recording, b.Recording)
	}
	if x, y := fmt.Sprint(a.Alarms, a.Commands, a.Expectations, a.Final), fmt.Sprint(b.Alarms, b.Commands, b.Expectations, b.Final); x != y {
		t.Errorf("outcomes differ:\n%s\n%s", x, y)
	}
	// The recording holds what the twins ingested through the protocols:
	// press-3's outage shows as no samples and two connectivity changes.
	_, blocks, err := recording.ReadAll(bytes.NewReader(fast.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var conn []string
	press3 := 0
	for _, bl := range blocks {
		for _, s := range bl.Samples {
			if s.Twin == "press-3" && s.Property == "running" {
				press3++
			}
		}
		for _, e := range bl.Events {
			if e.Twin == "press-3" && e.Kind == "connectivity" {
				conn = append(conn, fmt.Sprintf("%v %s", bl.At, e.Name))
			}
		}
	}
	if want := fmt.Sprint([]string{"0s online", "8s offline", "11s online"}); fmt.Sprint(conn) != want {
		t.Errorf("press-3 connectivity %v, want %s", conn, want)
	}
	if press3 != 301-30 {
		t.Errorf("press-3 reported running %d times, want 271 (301 ticks less 3 s down)", press3)
	}
}

// TestProtocolFidelity: the same scenario over the protocols and in
// direct mode ends with the same twin states (numbers within float32's
// precision: the Modbus PLCs carry float32 registers), the same alarms
// and the same commands.
func TestProtocolFidelity(t *testing.T) {
	sc := load(t, "protocols.yaml")
	over, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := Run(context.Background(), sc, Options{Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	if x, y := fmt.Sprint(over.Alarms), fmt.Sprint(direct.Alarms); x != y {
		t.Errorf("alarms differ:\nprotocols %s\ndirect    %s", x, y)
	}
	if x, y := fmt.Sprint(over.Commands), fmt.Sprint(direct.Commands); x != y {
		t.Errorf("commands differ:\nprotocols %s\ndirect    %s", x, y)
	}
	if len(over.Final) != len(direct.Final) || len(over.Final) == 0 {
		t.Fatalf("final states: %d over the protocols, %d direct", len(over.Final), len(direct.Final))
	}
	for i, o := range over.Final {
		d := direct.Final[i]
		if o.Twin != d.Twin || len(o.Reported) != len(d.Reported) {
			t.Errorf("twin %s: %v over the protocols, %s: %v direct", o.Twin, o.Reported, d.Twin, d.Reported)
			continue
		}
		for p, ov := range o.Reported {
			dv := d.Reported[p]
			of, ok1 := ov.(float64)
			df, ok2 := dv.(float64)
			if ok1 && ok2 {
				if math.Abs(of-df) > 1e-6*math.Max(1, math.Abs(df)) {
					t.Errorf("%s.%s: %v over the protocols, %v direct", o.Twin, p, of, df)
				}
			} else if ov != dv {
				t.Errorf("%s.%s: %v over the protocols, %v direct", o.Twin, p, ov, dv)
			}
		}
	}
}

// TestReplayOverProtocols replays a run's recording (which carries its
// plant) through Modbus, OPC UA and MQTT servers, a device per twin, read
// by the node's connectors: every sample reaches its twin, none refused.
func TestReplayOverProtocols(t *testing.T) {
	var rec bytes.Buffer
	ran, err := Run(context.Background(), load(t, "protocols.yaml"), Options{Until: 10 * time.Second, Record: &rec, Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []scenario.Expose{scenario.ExposeModbus, scenario.ExposeOPCUA, scenario.ExposeMQTT} {
		r, err := recording.NewReader(bytes.NewReader(rec.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Replay(context.Background(), r, ReplayOptions{Expose: e})
		if err != nil {
			t.Fatalf("over %s: %v", e, err)
		}
		if rep.Samples != ran.Recording.Samples || rep.Rejected != 0 || rep.Blocks != 101 {
			t.Errorf("over %s: %+v, want %d samples in 101 blocks", e, rep, ran.Recording.Samples)
		}
	}
}

// TestWindFarmOverModbus: the bundled wind farm with 50 turbines, each a
// Modbus TCP PLC read by its own connector (--param expose=modbus), passes
// its expectations (the rules' curtail commands written to coils, a
// PLC off the network for 5 minutes), and over its first minute a run at
// full speed and one paced at 10x give the same recording.
func TestWindFarmOverModbus(t *testing.T) {
	sc, err := scenario.LoadWith("../scenarios/wind-farm.yaml", map[string]string{"turbines": "50", "expose": "modbus"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Expectations {
		if !e.Passed {
			t.Errorf("%s: %s", e.Name, e.Detail)
		}
	}
	var fast, paced bytes.Buffer
	a, err := Run(context.Background(), sc, Options{Until: time.Minute, Record: &fast})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), sc, Options{Until: time.Minute, Record: &paced, Speed: 10})
	if err != nil {
		t.Fatal(err)
	}
	if a.Recording.Samples == 0 || a.Recording.SHA256 != b.Recording.SHA256 {
		t.Errorf("recording %+v at full speed, %+v at 10x", a.Recording, b.Recording)
	}
}
