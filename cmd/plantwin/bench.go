package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plantwin/plantwin/bench"
)

func newBenchCmd() *cobra.Command {
	o := bench.DefaultOptions()
	var sizes, cpuProfile, memProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure durable ingest and memory per twin beside raw protoactor and Pebble ceilings",
		Long: `Run the system benchmark in this process: for each size, durable ingest
into that many active twins for --duration, printed beside the raw ceilings
measured in the same run (protoactor local sends to that many actors; Pebble
synced batches of the bytes an update writes), then resident memory per idle
twin with 10 properties. Progress is printed every --progress.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Sizes = nil
			for _, s := range strings.Split(sizes, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n <= 0 {
					return fmt.Errorf("--twins %q: want comma-separated positive counts", sizes)
				}
				o.Sizes = append(o.Sizes, n)
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			o.MemProfile = memProfile
			o.GOGC = tuneGC()
			_, _, err := bench.Run(cmd.Context(), o, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&sizes, "twins", "10000,100000", "active twin counts to measure, comma separated")
	f.DurationVar(&o.Duration, "duration", o.Duration, "how long ingest is sustained per size")
	f.DurationVar(&o.CeilingDuration, "ceiling-duration", o.CeilingDuration, "how long each raw ceiling is measured")
	f.IntVar(&o.InFlight, "in-flight", o.InFlight, "batches submitted and not yet acknowledged")
	f.IntVar(&o.SamplesPerUpdate, "samples", o.SamplesPerUpdate, "property values per update (1..10)")
	f.IntVar(&o.MemoryTwins, "memory-twins", o.MemoryTwins, "idle twins for the memory figure (0: skip)")
	f.StringVar(&o.Dir, "dir", "", "directory for the benchmark stores (default: a temporary directory)")
	f.DurationVar(&o.Progress, "progress", 5*time.Second, "progress interval")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.StringVar(&memProfile, "memprofile", "", "write a heap profile, taken while the memory figure's idle twins are live, to this file")
	return cmd
}
