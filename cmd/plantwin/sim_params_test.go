package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimRunParams runs the wind farm with --param turbines=50: the
// expectations pass on 50 turbines. A malformed --param, one given twice
// and one the scenario does not declare are usage errors (exit 2), the
// last with its place in the file.
func TestSimRunParams(t *testing.T) {
	const farm = "../../simulations/scenarios/wind-farm.yaml"
	report := filepath.Join(t.TempDir(), "farm.json")
	out, err := runCLI(t, "sim", "run", farm, "--param", "turbines=50", "--report", report)
	if err != nil || !strings.Contains(out, "PASS  turbine-7 bearing wear") || strings.Contains(out, "FAIL") {
		t.Fatalf("sim run --param turbines=50: %v\n%s", err, out)
	}
	var rep struct {
		Passed  bool
		Samples int64
	}
	b, err := os.ReadFile(report)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report: %v\n%.300s", err, b)
	}
	// 91 ticks of 50 turbines with 5 points and the farm's one point,
	// less turbine-23's 5 minutes offline.
	if want := int64(91*(50*5+1) - 30*5); !rep.Passed || rep.Samples != want {
		t.Errorf("passed %v, %d samples, want %d", rep.Passed, rep.Samples, want)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no value", []string{"--param", "turbines"}, `--param "turbines": want name=value`},
		{"no name", []string{"--param", "=5"}, `--param "=5": want name=value`},
		{"twice", []string{"--param", "turbines=5", "--param", "turbines=6"}, "--param turbines: given twice"},
		{"undeclared", []string{"--param", "turbnes=60"}, `wind-farm.yaml:22:1: params: unknown parameter "turbnes" given (did you mean "turbines"?)`},
		{"too few turbines", []string{"--param", "turbines=20"}, `faults[1].device: unknown device "turbine-42"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"sim", "run", farm}, tt.args...)...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %v, want 2 and %q in:\n%s", err, tt.want, out)
			}
		})
	}
}
