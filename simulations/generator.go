package simulations

import (
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

// Sink takes telemetry batches; *actors.Runtime is one.
type Sink interface {
	Submit(batch *pb.ApplyTelemetry, done func(*pb.TelemetryApplied, error))
	SubmitConnectivity(twinID string, c pb.Connectivity, done func(*pb.TelemetryApplied, error))
}

// Generator feeds every twin of a configuration with plausible values on a
// fixed period of the clock: each property follows a sine around the
// middle of its range plus seeded noise, enums and bools change now and
// then. The same seed and clock give the same values.
type Generator struct {
	sink   Sink
	clock  actors.Clock
	cfg    *twins.Config
	period time.Duration
	log    *slog.Logger
	rng    *rand.Rand // used only from the tick callback, one at a time

	sent, failed atomic.Int64

	// ackLog, if set, gets one line per acknowledged batch:
	// "TWIN VERSION SOURCE_TIME_NS PROPERTY VALUE" for the batch's first
	// sample. The crash test reads it to check nothing acknowledged is lost.
	ackMu  sync.Mutex
	ackLog io.Writer

	mu struct {
		sync.Mutex
		timer   actors.Timer
		stopped bool
		tick    int64
		next    time.Time // deadline of the next tick: fixed rate, no drift
	}
}

// NewGenerator returns a stopped generator; seed fixes its noise.
func NewGenerator(sink Sink, clock actors.Clock, cfg *twins.Config, period time.Duration, seed uint64, log *slog.Logger) *Generator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Generator{sink: sink, clock: clock, cfg: cfg, period: period, log: log, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetAckLog makes the generator record every acknowledged batch in w.
// Call before Start.
func (g *Generator) SetAckLog(w io.Writer) { g.ackLog = w }

// Start marks every twin online and schedules the first tick one period
// from now.
func (g *Generator) Start() {
	for _, t := range g.cfg.Twins {
		g.sink.SubmitConnectivity(t.ID, pb.Connectivity_CONNECTIVITY_ONLINE, func(_ *pb.TelemetryApplied, err error) {
			if err != nil {
				g.log.Warn("demo connectivity failed", "err", err)
			}
		})
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mu.next = g.clock.Now().Add(g.period)
	g.mu.timer = g.clock.AfterFunc(g.period, g.tick)
}

// Stop cancels the next tick; batches already sent still complete.
func (g *Generator) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mu.stopped = true
	if g.mu.timer != nil {
		g.mu.timer.Stop()
	}
}

// Stats returns batches acknowledged and failed so far.
func (g *Generator) Stats() (sent, failed int64) { return g.sent.Load(), g.failed.Load() }

func (g *Generator) tick() {
	g.mu.Lock()
	if g.mu.stopped {
		g.mu.Unlock()
		return
	}
	g.mu.tick++
	n := g.mu.tick
	g.mu.Unlock()

	now := g.clock.Now()
	for _, t := range g.cfg.Twins {
		b := g.Batch(t, now, n)
		g.sink.Submit(b, func(rep *pb.TelemetryApplied, err error) { g.done(b, rep, err) })
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.mu.stopped {
		// Fixed rate: the next tick is one period after the previous
		// deadline, not after this tick's work, so every twin gets exactly
		// one batch per period. A tick that overran skips ahead.
		now := g.clock.Now()
		g.mu.next = g.mu.next.Add(g.period)
		if g.mu.next.Before(now) {
			g.mu.next = now
		}
		g.mu.timer = g.clock.AfterFunc(g.mu.next.Sub(now), g.tick)
	}
}

func (g *Generator) done(b *pb.ApplyTelemetry, rep *pb.TelemetryApplied, err error) {
	if err != nil {
		if g.failed.Add(1)%1000 == 1 {
			g.log.Warn("demo batch failed", "err", err)
		}
		return
	}
	g.sent.Add(1)
	if g.ackLog != nil && len(b.Samples) > 0 && rep.Accepted > 0 {
		s := b.Samples[0]
		g.ackMu.Lock()
		fmt.Fprintf(g.ackLog, "%s %d %d %s %s\n", rep.TwinId, rep.Version, s.SourceTimeUnixNano, s.Property, ValueText(s.Value))
		g.ackMu.Unlock()
	}
}

// ValueText renders a value compactly and unambiguously, with its type
// ("double:12.5", "enum:running"), as the ack log writes it.
func ValueText(v *pb.Value) string {
	switch k := v.GetKind().(type) {
	case *pb.Value_BoolValue:
		return fmt.Sprintf("bool:%v", k.BoolValue)
	case *pb.Value_IntValue:
		return fmt.Sprintf("int:%d", k.IntValue)
	case *pb.Value_DoubleValue:
		return fmt.Sprintf("double:%v", k.DoubleValue)
	case *pb.Value_StringValue:
		return fmt.Sprintf("string:%q", k.StringValue)
	case *pb.Value_EnumValue:
		return fmt.Sprintf("enum:%s", k.EnumValue)
	}
	return "none"
}

// Batch returns tick n's samples for one twin, time-stamped now.
func (g *Generator) Batch(t *twins.Spec, now time.Time, n int64) *pb.ApplyTelemetry {
	h := fnv.New64a()
	h.Write([]byte(t.ID))
	phase := float64(h.Sum64()%1000) / 1000 * 2 * math.Pi
	ts := now.UnixNano()
	b := &pb.ApplyTelemetry{TwinId: t.ID}
	for i := range t.Model.Properties {
		p := &t.Model.Properties[i]
		if p.Writable {
			continue // desired-state territory, not telemetry
		}
		v := g.value(p, phase+float64(i), n)
		if v == nil {
			continue
		}
		b.Samples = append(b.Samples, &pb.Sample{Property: p.Name, Value: v, SourceTimeUnixNano: ts, Quality: pb.Quality_QUALITY_GOOD})
	}
	return b
}

func (g *Generator) value(p *twins.Property, phase float64, n int64) *pb.Value {
	lo, hi := 0.0, 100.0
	if p.Min != nil {
		lo = *p.Min
	}
	if p.Max != nil {
		hi = *p.Max
	} else if p.Min != nil {
		hi = lo + 100000
	}
	mid, amp := (lo+hi)/2, (hi-lo)/4
	x := mid + amp*math.Sin(float64(n)/30+phase) + amp*0.1*(g.rng.Float64()*2-1)
	x = math.Max(lo, math.Min(hi, x))
	switch p.Type {
	case twins.TypeDouble:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: math.Round(x*100) / 100}}
	case twins.TypeInt:
		if p.Max == nil {
			return &pb.Value{Kind: &pb.Value_IntValue{IntValue: int64(lo) + n}}
		}
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: int64(math.Round(x))}}
	case twins.TypeBool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: math.Sin(float64(n)/60+phase) > -0.9}}
	case twins.TypeEnum:
		if len(p.Enum) == 0 {
			return nil
		}
		idx := 0
		if g.rng.IntN(100) == 0 {
			idx = g.rng.IntN(len(p.Enum))
		}
		return &pb.Value{Kind: &pb.Value_EnumValue{EnumValue: p.Enum[idx]}}
	case twins.TypeString:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: "SN-" + p.Name}}
	}
	return nil
}
