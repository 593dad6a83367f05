package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/simulations/simrun"
)

// writeReport writes rep to the file name, in the format its extension
// names.
func writeReport(rep *simrun.Report, name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := rep.Write(f, name); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseSpeed reads --speed: "max" (0) or a positive factor.
func parseSpeed(s string) (float64, error) {
	if s == "max" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("--speed %q: want max or a positive factor such as 1, 10 or 100", s)
	}
	return f, nil
}

// loadScenario loads a scenario file with its --param values; its
// errors are usage errors (exit 2).
func loadScenario(path string, params []string) (*scenario.Scenario, error) {
	vals, err := parseParams(params)
	if err != nil {
		return nil, usage(err)
	}
	sc, err := scenario.LoadWith(path, vals)
	if err != nil {
		return nil, usage(err)
	}
	return sc, nil
}

// parseParams reads the --param flags: name=value, each name once.
func parseParams(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	vals := make(map[string]string, len(flags))
	for _, f := range flags {
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--param %q: want name=value, such as turbines=10000", f)
		}
		if _, dup := vals[name]; dup {
			return nil, fmt.Errorf("--param %s: given twice", name)
		}
		vals[name] = value
	}
	return vals, nil
}

func newSimCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sim", Short: "Run plant scenarios against the runtime on a virtual clock"}
	cmd.AddCommand(newSimRunCmd())
	cmd.AddCommand(newSimReplayCmd(), newSimExportCmd(), newSimImportCmd(), newSimRecordCmd(), newSimNodeConfigCmd())
	return cmd
}

func newSimRunCmd() *cobra.Command {
	var seed uint64
	var data, speed string
	var reports, params []string
	var record string
	var direct bool
	var until time.Duration
	var basePort int
	var co clientOptions
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario against an embedded node and check its expectations",
		Long: `Run a scenario file (docs/simulations.md) against an embedded node on a
virtual clock, as fast as the node allows: each tick the simulated devices'
samples are applied to their twins and made durable, the clock moves on, and
the next tick waits until the commands the twins decided have reached the
simulated devices. Progress goes to stderr. Prints each expectation's
verdict and exits 1 when one fails. --speed paces the run to wall time
(1: real time, 10: ten times faster); the default, max, runs as fast as
lockstep allows. --param name=value sets a parameter the scenario
declares (params:), overriding its default. --report FILE writes the
run's report in the format its extension names: .json, .html (self-contained, with
charts of the signals and the alarm timeline) or .xml (JUnit).

Devices exposed over modbus, opcua or mqtt are served on loopback
(simulated PLCs, an OPC UA server, a Mosquitto broker) and read by the
node's own edge connectors, in lockstep: the same
scenario and seed give the same outcomes and the same recording at any
speed. --direct feeds every device straight into its twin instead.
--record FILE writes the run's canonical recording (what the twins
ingested, and the alarms, commands and rule actions that came of it);
its SHA-256 is printed, equal for equal runs. --until D stops the run
at simulated time D.

--server ADDR runs the scenario in real time against a running node
instead (not reproducible bit for bit): the devices are served on
loopback from --base-port up, where the node's configuration expects
them (plantwin sim node-config writes it), and the expectations are
checked against what the node reports over its API. The connection flags
(--token, --ca, ...) are those of plantwin twins.`,
		Example: `  plantwin sim run simulations/simrun/testdata/press.yaml --report press.html --report press.xml`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, r := range reports {
				if !simrun.ReportFormatOK(r) {
					return usage(fmt.Errorf("--report %s: want a .json, .html or .xml (JUnit) file", r))
				}
			}
			pace, err := parseSpeed(speed)
			if err != nil {
				return usage(err)
			}
			sc, err := loadScenario(args[0], params)
			if err != nil {
				return err
			}
			o := simrun.Options{Seed: seed, Speed: pace, Data: data, Progress: cmd.ErrOrStderr(), Direct: direct, Until: until, BasePort: basePort}
			if cmd.Flags().Changed("server") {
				if cmd.Flags().Changed("speed") && pace != 1 {
					return usage(errors.New("--server runs in real time: --speed must be 1 or left out"))
				}
				if record != "" || data != "" || direct {
					return usage(errors.New("--server takes none of --record, --data and --direct (the running node has its own store; plantwin sim record captures what it ingests)"))
				}
				conn, err := co.dial()
				if err != nil {
					return err
				}
				defer conn.Close()
				o.Node, o.Speed = pb.NewTwinServiceClient(conn), 1
			}
			var recFile *os.File
			if record != "" {
				if recFile, err = os.Create(record); err != nil {
					return err
				}
				defer recFile.Close()
				o.Record = recFile
			}
			rep, err := simrun.Run(cmd.Context(), sc, o)
			if err != nil {
				return err
			}
			if recFile != nil {
				if err := recFile.Close(); err != nil {
					return err
				}
			}
			for _, r := range reports {
				if err := writeReport(rep, r); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s, seed %d: %s simulated in %.1fs, %d samples\n", rep.Scenario, rep.Seed, rep.Simulated, rep.WallSeconds, rep.Samples)
			if r := rep.Recording; r != nil {
				fmt.Fprintf(w, "recording %s: %d samples, %d events, %d bytes, sha256 %s\n", record, r.Samples, r.Events, r.Bytes, r.SHA256)
			}
			failed := 0
			for _, e := range rep.Expectations {
				mark := "PASS"
				if !e.Passed {
					mark, failed = "FAIL", failed+1
				}
				fmt.Fprintf(w, "%s  %s: %s\n", mark, e.Name, e.Detail)
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d expectations failed", failed, len(rep.Expectations))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&seed, "seed", 0, "random seed (0: the scenario's)")
	f.StringVar(&speed, "speed", "max", "simulated time per wall time: 1 (real time), 10, 100, ... or max (as fast as lockstep allows)")
	f.StringVar(&data, "data", "", "the node's data directory (default: a fresh temporary one)")
	f.StringArrayVar(&reports, "report", nil, "write the report to this file (.json, .html or .xml); repeatable")
	co.register(cmd, false)
	f.IntVar(&basePort, "base-port", simrun.DefaultBasePort, "with --server: the first device's port (the node's configuration must match: plantwin sim node-config)")
	f.StringVar(&record, "record", "", "write the run's canonical recording to this file")
	f.BoolVar(&direct, "direct", false, "feed every device straight into its twin (skip the protocol servers)")
	f.DurationVar(&until, "until", 0, "stop at this simulated time (default: the scenario's duration)")
	f.StringArrayVar(&params, "param", nil, "set a scenario parameter (params:), name=value; repeatable")
	return cmd
}

func newSimNodeConfigCmd() *cobra.Command {
	var host, out string
	var basePort int
	var params []string
	cmd := &cobra.Command{
		Use:   "node-config SCENARIO",
		Short: "Write the configuration of a node that is to run a scenario's devices",
		Long: `Write a plant configuration file (models, twins and rules of the
scenario's plant, and connectors and bindings that read its simulated
devices) for a node that plantwin sim run --server is to drive: the i-th
device of the scenario is served on --host:--base-port+i, the MQTT broker
after the last device. Every device must be exposed over opcua, modbus or
mqtt. Start the node with it, then run the scenario against it with the
same --base-port.`,
		Example: `  plantwin sim node-config simulations/scenarios/press-line.yaml --out press-node.yaml
  plantwin serve --config press-node.yaml --data ./press-data &
  plantwin sim run simulations/scenarios/press-line.yaml --server 127.0.0.1:7070`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := loadScenario(args[0], params)
			if err != nil {
				return err
			}
			data, err := simrun.NodeConfig(sc, host, basePort)
			if err != nil {
				return usage(err)
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			return os.WriteFile(out, data, 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", "127.0.0.1", "the host the devices are served on")
	f.IntVar(&basePort, "base-port", simrun.DefaultBasePort, "the first device's port")
	f.StringVar(&out, "out", "", "write to this file (default: stdout)")
	f.StringArrayVar(&params, "param", nil, "set a scenario parameter (params:), name=value; repeatable")
	return cmd
}
