package simulations

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

func TestDemoConfig(t *testing.T) {
	cfg, err := DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Models) != 3 || len(cfg.Twins) < 100 {
		t.Fatalf("demo has %d models and %d twins, want 3 and at least 100", len(cfg.Models), len(cfg.Twins))
	}
	if got := len(cfg.Children("line-2")); got != 30 {
		t.Errorf("line-2 has %d children, want 30", got)
	}
}

// recorder is a Sink that keeps what it gets and acknowledges everything.
type recorder struct {
	mu      sync.Mutex
	batches []*pb.ApplyTelemetry
	online  int
}

func (r *recorder) Submit(b *pb.ApplyTelemetry, done func(*pb.TelemetryApplied, error)) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	done(&pb.TelemetryApplied{TwinId: b.TwinId, Accepted: int32(len(b.Samples))}, nil)
}

func (r *recorder) SubmitConnectivity(id string, c pb.Connectivity, done func(*pb.TelemetryApplied, error)) {
	r.mu.Lock()
	r.online++
	r.mu.Unlock()
	done(&pb.TelemetryApplied{TwinId: id}, nil)
}

func runGenerator(t *testing.T, seed uint64, ticks int) *recorder {
	t.Helper()
	cfg, err := DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	clock := actors.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := &recorder{}
	g := NewGenerator(rec, clock, cfg, time.Second, seed, nil)
	g.Start()
	clock.Advance(time.Duration(ticks) * time.Second)
	g.Stop()
	return rec
}

// TestGeneratorIsDeterministicAndValid runs the demo feed on a virtual
// clock twice with the same seed and checks the batches are identical, one
// per twin per tick, and valid for the twins' models.
func TestGeneratorIsDeterministicAndValid(t *testing.T) {
	const ticks = 5
	a, b := runGenerator(t, 7, ticks), runGenerator(t, 7, ticks)
	cfg, _ := DemoConfig()
	if want := ticks * len(cfg.Twins); len(a.batches) != want {
		t.Fatalf("%d batches in %d ticks, want %d", len(a.batches), ticks, want)
	}
	if a.online != len(cfg.Twins) {
		t.Errorf("%d twins marked online, want %d", a.online, len(cfg.Twins))
	}
	for i := range a.batches {
		if !proto.Equal(a.batches[i], b.batches[i]) {
			t.Fatalf("batch %d differs between runs with the same seed:\n%v\n%v", i, a.batches[i], b.batches[i])
		}
	}
	// Every sample passes the model's validation.
	for _, batch := range a.batches {
		spec, _ := cfg.Twin(batch.TwinId)
		st := twins.NewState(spec)
		cmd := twins.ApplyTelemetry{Policy: twins.DefaultIngestPolicy()}
		for _, s := range batch.Samples {
			cmd.Samples = append(cmd.Samples, twins.Sample{Property: s.Property, Value: actors.ValueFromProto(s.Value), SourceTime: s.SourceTimeUnixNano})
		}
		dec, err := st.Decide(cmd, batch.Samples[0].SourceTimeUnixNano)
		if err != nil {
			t.Fatal(err)
		}
		if len(dec.Rejected) > 0 {
			t.Fatalf("twin %s: demo sample rejected: %+v", batch.TwinId, dec.Rejected[0])
		}
	}
	c := runGenerator(t, 8, ticks)
	same := true
	for i := range a.batches {
		if !proto.Equal(a.batches[i], c.batches[i]) {
			same = false
			break
		}
	}
	if same {
		t.Error("different seeds gave identical batches")
	}
}
