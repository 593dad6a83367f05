package simrun

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations/recording"
	"github.com/plantwin/plantwin/twins"
)

// BenchmarkReplayDirect replays a recording of 1,000 twins × 5 doubles a
// second for 50 s (250,000 samples) into an embedded node, in lockstep,
// and reports samples/s. In the same run it measures the node's raw
// ingest ceiling: the same batches submitted with Runtime.Submit,
// pipelined a few blocks deep, and waited durable, without the
// recording's reader nor the virtual clock's lockstep
// (ceiling-samples/s); pct-of-ceiling is the ratio.
func BenchmarkReplayDirect(b *testing.B) {
	const nTwins, nProps, nBlocks = 1000, 5, 50
	var yaml strings.Builder
	yaml.WriteString("models:\n  - name: m\n    properties:\n")
	for p := range nProps {
		fmt.Fprintf(&yaml, "      - {name: p%d, type: double}\n", p)
	}
	fmt.Fprintf(&yaml, "twins:\n  - {id: \"m-{0001..%04d}\", model: m}\n", nTwins)
	plant, err := twins.ParseConfig("bench.yaml", []byte(yaml.String()))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := recording.NewWriter(&buf, recording.Header{Scenario: "bench", Origin: Origin, Tick: time.Second, Plant: []byte(yaml.String())})
	if err != nil {
		b.Fatal(err)
	}
	for k := range nBlocks {
		at := time.Duration(k) * time.Second
		for _, spec := range plant.Twins {
			for p := range nProps {
				w.Sample(recording.Sample{At: at, Twin: spec.ID, Property: fmt.Sprintf("p%d", p), Value: twins.Double(float64(k*p) + 0.5), Quality: twins.QualityGood})
			}
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	_, blocks, err := recording.ReadAll(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	const total = nTwins * nProps * nBlocks
	b.ReportAllocs()
	var replayed, ceiling time.Duration
	for b.Loop() {
		rd, err := recording.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Replay(context.Background(), rd, ReplayOptions{Plant: plant})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Samples != total || rep.Rejected != 0 {
			b.Fatalf("report %+v", rep)
		}
		replayed += time.Duration(rep.WallSeconds * float64(time.Second))
		ceiling += ingestCeiling(b, plant, blocks)
	}
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(total*n/replayed.Seconds(), "samples/s")
	b.ReportMetric(total*n/ceiling.Seconds(), "ceiling-samples/s")
	b.ReportMetric(100*ceiling.Seconds()/replayed.Seconds(), "pct-of-ceiling")
	b.ReportMetric(float64(len(data))/total, "bytes/sample")
}

// ceilingWindow is how many blocks ingestCeiling keeps in flight.
const ceilingWindow = 4

// ingestCeiling starts a node like Replay does and returns how long it
// takes to apply the blocks' batches, pipelined (ceilingWindow blocks in
// flight), until every one is durable.
func ingestCeiling(b *testing.B, plant *twins.Config, blocks []recording.Block) time.Duration {
	b.Helper()
	store, err := persistence.Open(persistence.DefaultConfig(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	// The clock at the last block: no sample is ahead of it.
	clock := actors.NewVirtualClock(Origin.Add(blocks[len(blocks)-1].At))
	rt, err := actors.Start(actors.Config{Twins: plant, Store: store, Clock: clock, PassivateAfter: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	all := make([][]*pb.ApplyTelemetry, len(blocks))
	for i, blk := range blocks {
		batches, err := batchBlock(plant, "bench.yaml", blk, Origin.Add(blk.At).UnixNano())
		if err != nil {
			b.Fatal(err)
		}
		all[i] = batches
	}
	var mu sync.Mutex
	var first error
	done := make([]sync.WaitGroup, len(blocks))
	start := time.Now()
	for i, batches := range all {
		// Up to ceilingWindow blocks in flight: the node's queues stay
		// short enough that no batch waits out its deadline.
		if i >= ceilingWindow {
			done[i-ceilingWindow].Wait()
		}
		for _, batch := range batches {
			done[i].Add(1)
			rt.Submit(batch, func(rep *pb.TelemetryApplied, err error) {
				defer done[i].Done()
				if err == nil && len(rep.GetRejected()) > 0 {
					err = fmt.Errorf("twin %s rejected %v", rep.TwinId, rep.GetRejected()[0])
				}
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			})
		}
	}
	for i := range done {
		done[i].Wait()
	}
	took := time.Since(start)
	if first != nil {
		b.Fatal(first)
	}
	return took
}
