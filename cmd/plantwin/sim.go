package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/simulations/simrun"
)

func newSimCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sim", Short: "Run plant scenarios against the runtime on a virtual clock"}
	cmd.AddCommand(newSimRunCmd())
	return cmd
}

func newSimRunCmd() *cobra.Command {
	var seed uint64
	var data string
	var reports []string
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario against an embedded node and check its expectations",
		Long: `Run a scenario file (docs/simulations.md) against an embedded node on a
virtual clock, as fast as the node allows: each tick the simulated devices'
samples are applied to their twins and made durable, the clock moves on, and
the next tick waits until the commands the twins decided have reached the
simulated devices. Progress goes to stderr. Prints each expectation's
verdict and exits 1 when one fails. --report FILE.json writes the run's
report. This build runs devices exposed "direct" only; protocol servers,
--speed, --record and HTML and JUnit reports come later.`,
		Example: `  plantwin sim run simulations/simrun/testdata/press.yaml --report press.json`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, r := range reports {
				if ext := strings.ToLower(filepath.Ext(r)); ext != ".json" {
					return usage(fmt.Errorf("--report %s: this build writes .json reports only", r))
				}
			}
			sc, err := scenario.Load(args[0])
			if err != nil {
				return usage(err)
			}
			rep, err := simrun.Run(cmd.Context(), sc, simrun.Options{Seed: seed, Data: data, Progress: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			for _, r := range reports {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(r, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s, seed %d: %s simulated in %.1fs, %d samples\n", rep.Scenario, rep.Seed, rep.Simulated, rep.WallSeconds, rep.Samples)
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
	f.StringVar(&data, "data", "", "the node's data directory (default: a fresh temporary one)")
	f.StringArrayVar(&reports, "report", nil, "write the report to this file (.json); repeatable")
	return cmd
}
