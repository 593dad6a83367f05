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
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			o.MemProfile = memProfile
			o.GOGC = tuneGC()
			_, _, err = bench.Run(cmd.Context(), o, cmd.OutOrStdout())
			return err
		},
	}
	cmd.AddCommand(newBenchAPICmd(), newBenchModbusCmd(), newBenchMQTTCmd(), newBenchOPCUACmd(), newBenchRulesCmd())
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

func newBenchAPICmd() *cobra.Command {
	o := bench.DefaultAPIOptions()
	var clients, cpuProfile string
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Measure the gRPC API: GetTwin, ListTwins, Watch delivery, a stalled watcher",
		Long: `Run the API benchmark in this process over loopback gRPC (no TLS): GetTwin
throughput and latency at each --clients level beside the empty-RPC ceiling
(health Check) measured in the same run; ListTwins with a label filter and
with a state filter over every twin; Watch delivery latency with --watchers
streams, each over one label group, under --watch-rate paced updates; and
full-speed ingest without and with a watcher that never reads.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Clients = nil
			for _, s := range strings.Split(clients, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n <= 0 || n > 64 {
					return usage(fmt.Errorf("--clients %q: want comma-separated counts from 1 to 64", clients))
				}
				o.Clients = append(o.Clients, n)
			}
			if o.Twins < o.GroupSize || o.GroupSize <= 0 || o.Watchers <= 0 || o.WatchRate < 100 {
				return usage(fmt.Errorf("want --twins >= --group-size > 0, --watchers > 0, --watch-rate >= 100"))
			}
			tuneGC()
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			_, err = bench.RunAPI(cmd.Context(), o, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Twins, "twins", o.Twins, "twins declared and activated")
	f.IntVar(&o.GroupSize, "group-size", o.GroupSize, "twins per label group (each watcher watches one group)")
	f.StringVar(&clients, "clients", "1,16,64", "concurrent clients for GetTwin and the ceiling, comma separated")
	f.DurationVar(&o.RPCDuration, "rpc-duration", o.RPCDuration, "duration of each GetTwin and ceiling point")
	f.IntVar(&o.Watchers, "watchers", o.Watchers, "watch streams")
	f.IntVar(&o.WatchRate, "watch-rate", o.WatchRate, "paced updates per second during the watch run")
	f.DurationVar(&o.WatchDuration, "watch-duration", o.WatchDuration, "duration of the watch run")
	f.DurationVar(&o.SlowDuration, "slow-duration", o.SlowDuration, "duration of each half of the stalled-watcher comparison")
	f.IntVar(&o.InFlight, "in-flight", o.InFlight, "ingest batches in flight at full speed")
	f.StringVar(&o.Dir, "dir", "", "directory for the store (default: a temporary directory)")
	f.DurationVar(&o.Progress, "progress", o.Progress, "progress interval")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	return cmd
}

// startCPUProfile writes a CPU profile to path ("" : none) until the
// returned function is called.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func newBenchModbusCmd() *cobra.Command {
	o := bench.DefaultModbusOptions()
	cmd := &cobra.Command{
		Use:   "modbus",
		Short: "Measure Modbus TCP polling into twins beside a bare client's rate",
		Long: `Serve a simulated Modbus TCP device on loopback with --twins x 10 float32
values, read it back to back with a bare simonvetter/modbus client (the raw
ceiling), then poll it with the connector every --interval into durable
twins, and print requests/s, registers/s and values/s of both.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tuneGC()
			_, err := bench.RunModbus(cmd.Context(), o, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Twins, "twins", o.Twins, "twins on the device, 10 float32 values each (at most 3276)")
	f.DurationVar(&o.Interval, "interval", o.Interval, "poll interval")
	f.DurationVar(&o.Duration, "duration", o.Duration, "duration of each measurement")
	f.StringVar(&o.Dir, "dir", "", "directory for the store (default: a temporary directory)")
	return cmd
}

func newBenchRulesCmd() *cobra.Command {
	o := bench.DefaultRulesOptions()
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Measure the time from a sample at the connector to the rule's command written to the device",
		Long: `Serve a simulated PLC over Modbus TCP on loopback with --twins cells, each
polled every --interval by the connector into durable twins whose model has
10 rules (the background load: twins/interval updates/s). Then, --trials
times, raise one cell's level over its trip threshold and measure from the
sample's source time (its arrival at the connector; the poll interval is
excluded) to the trip command's coil write arriving at the PLC. Printed
beside the floors measured in the same run: a bare client's coil write round
trip, and one synced Pebble batch.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tuneGC()
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			_, err = bench.RunRules(cmd.Context(), o, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Twins, "twins", o.Twins, "cells on the PLC (at most 60000)")
	f.DurationVar(&o.Interval, "interval", o.Interval, "poll interval")
	f.IntVar(&o.Trials, "trials", o.Trials, "trips measured")
	f.StringVar(&o.Dir, "dir", "", "directory for the store (default: a temporary directory)")
	f.DurationVar(&o.Progress, "progress", o.Progress, "progress interval")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	return cmd
}

func newBenchMQTTCmd() *cobra.Command {
	o := bench.DefaultMQTTOptions()
	cmd := &cobra.Command{
		Use:   "mqtt",
		Short: "Measure MQTT messages into twins beside the broker-only rate",
		Long: `Start a Mosquitto broker on loopback, publish JSON messages for --twins twins
at --rate with a generator and count what a bare subscriber receives (the
broker-only rate), then run the same generator into the MQTT connector and
count the values durably applied to twins.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tuneGC()
			_, err := bench.RunMQTT(cmd.Context(), o, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Twins, "twins", o.Twins, "twins (one topic each)")
	f.IntVar(&o.Rate, "rate", o.Rate, "generator rate, messages per second")
	f.DurationVar(&o.Duration, "duration", o.Duration, "duration of each measurement")
	f.StringVar(&o.Dir, "dir", "", "directory for the broker and the store (default: a temporary directory)")
	return cmd
}

func newBenchOPCUACmd() *cobra.Command {
	o := bench.DefaultOPCUAOptions()
	cmd := &cobra.Command{
		Use:   "opcua",
		Short: "Measure OPC UA subscription values into twins beside a bare gopcua subscription",
		Long: `Start a simulated OPC UA server on loopback with --twins × --properties
variables that all change every --interval, count what one bare gopcua
subscription over all of them receives (the client-only rate), then run the
OPC UA connector against the same server and count the values durably
applied to twins.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tuneGC()
			_, err := bench.RunOPCUA(cmd.Context(), o, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Twins, "twins", o.Twins, "twins")
	f.IntVar(&o.Properties, "properties", o.Properties, "monitored properties per twin, 1..20")
	f.DurationVar(&o.Interval, "interval", o.Interval, "how often the server changes every value; also the sampling and publishing interval")
	f.DurationVar(&o.Duration, "duration", o.Duration, "duration of each measurement")
	f.StringVar(&o.Dir, "dir", "", "directory for the store (default: a temporary directory)")
	return cmd
}
