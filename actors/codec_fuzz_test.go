package actors

import (
	"testing"

	"github.com/plantwin/plantwin/twins"
)

// FuzzDecodeJournal feeds arbitrary bytes to the journal and snapshot
// decoders: they must return an error or a value, never panic, and an event
// that decodes must apply to a fresh state.
func FuzzDecodeJournal(f *testing.F) {
	cfg, err := twins.ParseConfig("fuzz.yaml", []byte(testConfig))
	if err != nil {
		f.Fatal(err)
	}
	spec, _ := cfg.Twin("pump-0001")
	st := twins.NewState(spec)
	dec, err := st.Decide(twins.ApplyTelemetry{Samples: []twins.Sample{
		{Property: "flow", Value: twins.Double(12.5), SourceTime: 1},
		{Property: "mode", Value: twins.Enum("auto"), SourceTime: 1},
	}}, 2)
	if err != nil {
		f.Fatal(err)
	}
	for _, ev := range dec.Events {
		b, err := encodeEvent(spec.Model, ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		st.Apply(ev)
	}
	snap, err := encodeSnapshot(st)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(snap)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if ev, err := decodeEvent(spec.Model, data); err == nil && ev != nil {
			twins.NewState(spec).Apply(ev)
		}
		_ = decodeSnapshot(twins.NewState(spec), data)
	})
}
