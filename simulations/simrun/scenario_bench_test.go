package simrun

import (
	"context"
	"testing"
	"time"

	"github.com/plantwin/plantwin/simulations/scenario"
)

// BenchmarkScenarios runs each bundled scenario at full speed (lockstep,
// no pacing) once per iteration and reports how much faster than real
// time it runs (speedup: simulated seconds per wall second, the node's
// start and stop included) and the samples applied per wall second. Each
// run must pass its expectations.
//
//	go test ./simulations/simrun -run '^$' -bench BenchmarkScenarios -benchtime 1x
func BenchmarkScenarios(b *testing.B) {
	for _, bc := range []struct {
		name   string
		file   string
		params map[string]string
	}{
		{"press-line", "press-line.yaml", nil},
		{"process-line", "process-line.yaml", nil},
		{"wind-farm/turbines=1000", "wind-farm.yaml", map[string]string{"turbines": "1000"}},
		{"wind-farm/turbines=10000", "wind-farm.yaml", map[string]string{"turbines": "10000"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sc, err := scenario.LoadWith("../scenarios/"+bc.file, bc.params)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var wall time.Duration
			var samples, runs int64
			for b.Loop() {
				start := time.Now()
				rep, err := Run(context.Background(), sc, Options{})
				wall += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if !rep.Passed {
					for _, e := range rep.Expectations {
						if !e.Passed {
							b.Errorf("%s: %s", e.Name, e.Detail)
						}
					}
					b.FailNow()
				}
				samples += rep.Samples
				runs++
			}
			b.ReportMetric(float64(runs)*sc.Duration.Seconds()/wall.Seconds(), "speedup")
			b.ReportMetric(float64(samples)/wall.Seconds(), "samples/s")
		})
	}
}
