package twins

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchRulesConfig is a 10-property model with n rules in the mix of a
// real cell: thresholds with quality, a for: window, hysteresis, a prev
// comparison, two window functions, labels.
func benchRulesConfig(n int) string {
	rules := []string{
		`{name: r1, when: 'p1 > 90.0 && quality.p1 == "good"', for: 10s, clear_when: 'p1 < 85.0'}`,
		`{name: r2, when: 'p2 < 5.0', severity: high}`,
		`{name: r3, when: 'has(prev.p3) && p3 - prev.p3 > 20.0'}`,
		`{name: r4, when: 'avg(p4, "30s") > 70.0'}`,
		`{name: r5, when: 'rate(p5, "10s") > 2.0'}`,
		`{name: r6, when: 'p6 > p7 + 10.0'}`,
		`{name: r7, when: 'labels.line == "L1" && p8 > 99.0'}`,
		`{name: r8, when: 'p9 != 0.0 && p10 / p9 > 3.0'}`,
		`{name: r9, when: 'max(p1, "1m") - min(p1, "1m") > 40.0'}`,
		`{name: r10, when: 'p1 + p2 + p3 > 250.0', severity: critical}`,
	}
	var b strings.Builder
	b.WriteString("models:\n  - name: cell\n    properties:\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "      - {name: p%d, type: double}\n", i)
	}
	if n > 0 {
		b.WriteString("    rules:\n")
		for _, r := range rules[:n] {
			b.WriteString("      - " + r + "\n")
		}
	}
	b.WriteString("twins:\n  - {id: c1, model: cell, labels: {line: L1}}\n")
	return b.String()
}

// BenchmarkRuleEvaluation measures one telemetry update (one sample, one
// source time) through State.Handle: decided, applied and, with rules,
// evaluated by every rule of the model. "rules=0" is the same update
// without rules: the ceiling the rules' cost is measured against.
func BenchmarkRuleEvaluation(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			cfg, err := ParseConfig("bench.yaml", []byte(benchRulesConfig(n)))
			if err != nil {
				b.Fatal(err)
			}
			spec, _ := cfg.Twin("c1")
			s := NewState(spec)
			// Every property reported once, so every rule has its inputs.
			var all ApplyTelemetry
			for i := 1; i <= 10; i++ {
				all.Samples = append(all.Samples, Sample{Property: fmt.Sprintf("p%d", i), Value: Double(50), SourceTime: 1})
			}
			if _, err := s.Handle(all, 1); err != nil {
				b.Fatal(err)
			}
			props := make([]string, 10)
			for i := range props {
				props[i] = fmt.Sprintf("p%d", i+1)
			}
			cmd := ApplyTelemetry{Samples: make([]Sample, 1)}
			t := int64(time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t += int64(100 * time.Millisecond)
				cmd.Samples[0] = Sample{Property: props[i%10], Value: Double(float64(40 + i%20)), SourceTime: t}
				if _, err := s.Handle(&cmd, t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
