package simrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/simulations/recording"
	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/twins"
)

// ReplayOptions configure a replay.
type ReplayOptions struct {
	Speed    float64       // simulated seconds per wall second; 0: as fast as lockstep allows
	Data     string        // the node's store; "": a fresh temporary directory
	Progress io.Writer     // progress lines (nil: none)
	Every    time.Duration // progress interval (wall time), default 1s
	Logger   *slog.Logger  // nil: errors only, to stderr
	Plant    *twins.Config // nil: parse the recording's (Header.Plant)
	// Size is the recording's size in bytes, for the progress line's
	// percentage and ETA; 0: unknown (no percentage).
	Size int64
	// Expose feeds the samples through protocol servers read by the
	// node's own connectors, as scenario devices exposed that way are
	// (one simulated device per twin, addresses generated): modbus, opcua
	// or mqtt. 0 or scenario.ExposeDirect: straight into the twins.
	Expose scenario.Expose
}

// ReplayReport is what a replay did.
type ReplayReport struct {
	Samples     int64         // samples applied to the twins, rejected ones included
	Blocks      int           // blocks of the recording
	Simulated   time.Duration // from the first block's time to the latest
	WallSeconds float64       // from the first block to the end
	Rejected    int64         // samples the twins refused (unknown property, wrong type, out of range)
}

// maxRejectLogs bounds the rejections a replay logs one by one.
const maxRejectLogs = 10

// Replay feeds a recording's samples into an embedded node, in lockstep
// on a virtual clock, the way Run feeds a scenario's: the node starts on a
// fresh store (o.Data to keep it) with the plant and a virtual clock at
// the header's Origin (Origin, 2026-01-01, when it is zero); for each
// block the clock moves to Origin+At (firing the twins' timers), the
// block's samples are applied, a batch per twin with source time
// Origin+At, and made durable, and the next block waits until the twins
// have no work in hand (actors.Runtime.Busy).
// o.Speed paces the blocks to wall time. The recording's events are
// outcomes and are not replayed. The node has no devices: commands the
// twins decide fail ("no edge connector"). A sample of a twin the plant
// does not have is an error naming the twin and the block's time; samples
// the twins refuse are counted in Rejected.
func Replay(ctx context.Context, r *recording.Reader, o ReplayOptions) (*ReplayReport, error) {
	h := r.Header()
	plant := o.Plant
	plantName := h.PlantName
	if plantName == "" {
		plantName = "the recording's plant"
	}
	if plant == nil {
		if len(h.Plant) == 0 {
			return nil, errors.New("simrun: replay: the recording carries no plant configuration; give one (--plant)")
		}
		cfg, err := twins.ParseConfig(plantName, h.Plant)
		if err != nil {
			return nil, err
		}
		plant = cfg
	}
	origin := h.Origin
	if origin.IsZero() {
		origin = Origin
	}
	if origin.Before(minTime) || origin.After(maxTime) {
		return nil, fmt.Errorf("simrun: replay: origin %s is outside the years 1678 to 2262", origin.Format(time.RFC3339))
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	n, err := startNode(plant, origin, o.Data, o.Logger)
	if err != nil {
		return nil, err
	}
	defer n.close()
	log, clock, rt := n.log, n.clock, n.rt
	var srv *served
	if o.Expose != 0 && o.Expose != scenario.ExposeDirect {
		sc := replayScenario(plant, o.Expose)
		if srv, err = newServed(sc, nil, nil, clock.Now, log, servedOptions{Lockstep: true}); err != nil {
			return nil, fmt.Errorf("simrun: replay over %s: %w", o.Expose, err)
		}
		defer srv.stop()
		if err := srv.start(ctx, rt, rt, clock); err != nil {
			return nil, fmt.Errorf("simrun: replay over %s: %w", o.Expose, err)
		}
		rt.SetDevice(edge.Device(srv.host))
	}

	name := h.Scenario
	if name == "" {
		name = "recording"
	}
	rep := &ReplayReport{}
	var rejected atomic.Int64
	var first, latest time.Duration
	start := time.Now()
	lastProgress := start
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		blk, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("simrun: replay: %w", err)
		}
		at := origin.Add(blk.At)
		if at.Before(minTime) || at.After(maxTime) {
			return nil, fmt.Errorf("simrun: replay: t=%v: %s is outside the years 1678 to 2262", blk.At, at.Format(time.RFC3339))
		}
		if rep.Blocks == 0 {
			first, latest = blk.At, blk.At
		}
		latest = max(latest, blk.At)
		rep.Blocks++
		batches, err := batchBlock(plant, plantName, blk, at.UnixNano())
		if err != nil {
			return nil, err
		}
		// The clock first: the block's samples are measured at its time.
		clock.Set(at)
		if srv != nil {
			if err := srv.step(ctx, frameOf(blk)); err != nil {
				return nil, fmt.Errorf("simrun: replay: t=%v: %w", blk.At, err)
			}
		} else if err := applyCounting(rt, batches, &rejected, log); err != nil {
			return nil, fmt.Errorf("simrun: replay: t=%v: %w", blk.At, err)
		}
		rep.Samples += int64(len(blk.Samples))
		if err := quiesce(rt, nil); err != nil {
			return nil, fmt.Errorf("simrun: replay: t=%v: %w", blk.At, err)
		}
		if o.Speed > 0 {
			// Paced: block time T is due at wall time start + (T - first)/speed.
			if wait := time.Until(start.Add(time.Duration(float64(blk.At-first) / o.Speed))); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		if o.Progress != nil && time.Since(lastProgress) >= o.Every {
			lastProgress = time.Now()
			el := time.Since(start)
			rate := float64(rep.Samples) / el.Seconds()
			if o.Size > 0 {
				done := min(float64(r.Offset())/float64(o.Size), 1)
				eta := time.Duration(float64(el) * (1 - done) / max(done, 1e-9))
				fmt.Fprintf(o.Progress, "replay %-20s %s %5.1f%%  t=%v  %.0f samples/s  eta %v\n", name, progressBar(done), 100*done,
					blk.At.Round(time.Second), rate, eta.Round(time.Second))
			} else {
				fmt.Fprintf(o.Progress, "replay %-20s t=%v  %d samples  %.0f samples/s\n", name, blk.At.Round(time.Second), rep.Samples, rate)
			}
		}
	}
	if err := quiesce(rt, nil); err != nil {
		return nil, fmt.Errorf("simrun: replay: at the end: %w", err)
	}
	rep.Simulated = latest - first
	rep.WallSeconds = time.Since(start).Seconds()
	rep.Rejected = rejected.Load()
	if srv != nil {
		for _, sd := range srv.devs {
			rep.Rejected += sd.sink.Stats().Rejected
		}
	}
	return rep, nil
}

// replayScenario describes the plant's twins as devices exposed over e,
// one per twin, a point per property, so that a replay can serve them.
func replayScenario(plant *twins.Config, e scenario.Expose) *scenario.Scenario {
	sc := &scenario.Scenario{Name: "replay", Plant: plant}
	for _, t := range plant.Twins {
		d := &scenario.Device{Name: t.ID, Twin: t.ID, Expose: e}
		for i := range t.Model.Properties {
			p := &t.Model.Properties[i]
			d.Points = append(d.Points, &scenario.Point{Name: p.Name, Type: p.Type})
		}
		sc.Devices = append(sc.Devices, d)
	}
	return sc
}

// frameOf is a recording's block as a frame of the served devices (a
// device per twin).
func frameOf(blk recording.Block) scenario.Frame {
	f := scenario.Frame{T: blk.At, Samples: make([]scenario.PointSample, len(blk.Samples))}
	for i, s := range blk.Samples {
		f.Samples[i] = scenario.PointSample{Device: s.Twin, Twin: s.Twin, Point: s.Property, At: s.At, Value: s.Value, Quality: s.Quality}
	}
	return f
}

// The times a source time in Unix nanoseconds can hold.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// batchBlock turns a block's samples (sorted by twin) into a telemetry
// batch per twin with source time unixNano. The block's values and
// samples are allocated together.
func batchBlock(plant *twins.Config, plantName string, blk recording.Block, unixNano int64) ([]*pb.ApplyTelemetry, error) {
	groups := 0
	for i, s := range blk.Samples {
		if i == 0 || s.Twin != blk.Samples[i-1].Twin {
			if _, ok := plant.Twin(s.Twin); !ok {
				return nil, fmt.Errorf("simrun: replay: t=%v: twin %s is not in %s", blk.At, s.Twin, plantName)
			}
			groups++
		}
	}
	batches := make([]*pb.ApplyTelemetry, 0, groups)
	msgs := make([]pb.ApplyTelemetry, groups)
	samples := make([]pb.Sample, len(blk.Samples))
	ptrs := make([]*pb.Sample, len(blk.Samples))
	doubles := make([]pb.Value_DoubleValue, len(blk.Samples))
	values := make([]pb.Value, len(blk.Samples))
	for i := 0; i < len(blk.Samples); {
		j := i + 1
		for j < len(blk.Samples) && blk.Samples[j].Twin == blk.Samples[i].Twin {
			j++
		}
		m := &msgs[len(batches)]
		m.TwinId = blk.Samples[i].Twin
		for k := i; k < j; k++ {
			s := blk.Samples[k]
			p := &samples[k]
			p.Property, p.SourceTimeUnixNano, p.Quality = s.Property, unixNano, pb.Quality(s.Quality)
			if s.Value.Type() == twins.TypeDouble {
				doubles[k].DoubleValue = s.Value.AsDouble()
				values[k].Kind = &doubles[k]
				p.Value = &values[k]
			} else {
				p.Value = actors.ValueToProto(s.Value)
			}
			ptrs[k] = p
		}
		m.Samples = ptrs[i:j:j]
		batches = append(batches, m)
		i = j
	}
	return batches, nil
}

// applyCounting applies every batch and waits until each is durable,
// counting (and logging the first few of) the samples the twins refused.
func applyCounting(rt *actors.Runtime, batches []*pb.ApplyTelemetry, rejected *atomic.Int64, log *slog.Logger) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, b := range batches {
		wg.Add(1)
		rt.Submit(b, func(rep *pb.TelemetryApplied, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			for _, r := range rep.GetRejected() {
				if n := rejected.Add(1); n <= maxRejectLogs {
					log.Warn("sample rejected", "twin", rep.TwinId, "property", r.Property, "reason", r.Reason, "detail", r.Detail)
					if n == maxRejectLogs {
						log.Warn("further rejections are counted, not logged")
					}
				}
			}
		})
	}
	wg.Wait()
	return first
}
