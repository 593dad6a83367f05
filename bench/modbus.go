package bench

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/edge"
	edgemodbus "github.com/plantwin/plantwin/edge/modbus"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

// ModbusOptions configures the Modbus benchmark.
type ModbusOptions struct {
	// Twins bound to one simulated device, each with 10 float32 points
	// (20 holding registers).
	Twins int
	// Interval is the poll group's interval (the connector polls back to
	// back when a poll takes longer).
	Interval time.Duration
	// Duration of each measurement.
	Duration time.Duration
	// Dir holds the store (default: a temporary directory).
	Dir string
}

// DefaultModbusOptions are the figures docs/BENCHMARKS.md records.
func DefaultModbusOptions() ModbusOptions {
	return ModbusOptions{Twins: 1000, Interval: 10 * time.Millisecond, Duration: 20 * time.Second}
}

// ModbusResult holds the Modbus benchmark's figures.
type ModbusResult struct {
	Registers, Requests int // per full poll
	// Raw ceiling: a bare simonvetter/modbus client reading the same
	// requests back to back from the same simulated device.
	RawRequestsPerSec, RawRegistersPerSec float64
	// Through the connector into durable twins.
	RequestsPerSec, RegistersPerSec, ValuesPerSec float64
	Polls                                         int64
}

func modbusBenchYAML(n int, addr string, interval time.Duration) string {
	var b strings.Builder
	b.WriteString("models:\n  - name: meter\n    properties:\n")
	for k := 0; k < 10; k++ {
		fmt.Fprintf(&b, "      - {name: p%d, type: double}\n", k)
	}
	width := len(fmt.Sprint(n))
	fmt.Fprintf(&b, "twins:\n  - id: m-{%0*d..%d}\n    model: meter\n", width, 1, n)
	fmt.Fprintf(&b, "connectors:\n  - name: plc\n    protocol: modbus\n    endpoint: tcp://%s\n    modbus:\n      timeout: 2s\n      poll_groups: [{name: all, interval: %v}]\n", addr, interval)
	fmt.Fprintf(&b, "bindings:\n  - connector: plc\n    twin: m-{%0*d..%d}\n    properties:\n", width, 1, n)
	for k := 0; k < 10; k++ {
		fmt.Fprintf(&b, "      p%d: {table: holding, address: \"20*({n}-1) + %d\", type: float32}\n", k, 2*k)
	}
	return b.String()
}

// RunModbus measures Modbus reads into twins beside the raw client rate.
func RunModbus(ctx context.Context, o ModbusOptions, w io.Writer) (*ModbusResult, error) {
	if o.Twins < 1 || o.Twins*20 > 65536 {
		return nil, fmt.Errorf("bench: modbus twins %d: want 1..3276 (20 registers each in one device)", o.Twins)
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "plantwin-modbusbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	if err := dev.Start(); err != nil {
		return nil, err
	}
	defer dev.Stop()
	regs := o.Twins * 20
	for a := 0; a < regs; a += 2 {
		bits := math.Float32bits(float32(a) / 7)
		dev.SetHolding(1, uint16(a), uint16(bits>>16), uint16(bits))
	}
	// A float32 never straddles two requests, so a full request holds 62
	// of them: 124 registers.
	const perReq = 124
	res := &ModbusResult{Registers: regs, Requests: (regs + perReq - 1) / perReq}

	// The raw ceiling: the same reads, back to back, no runtime.
	client, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + dev.Addr(), Timeout: 2 * time.Second, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return nil, err
	}
	if err := client.Open(); err != nil {
		return nil, err
	}
	logf(w, "modbus: raw client reading %d registers in %d requests, back to back, for %v", regs, res.Requests, o.Duration)
	start := time.Now()
	var reqs, read int
	for time.Since(start) < o.Duration && ctx.Err() == nil {
		for a := 0; a < regs; a += perReq {
			q := min(perReq, regs-a)
			if _, err := client.ReadRegisters(uint16(a), uint16(q), mb.HOLDING_REGISTER); err != nil {
				client.Close()
				return nil, fmt.Errorf("bench: raw modbus read: %w", err)
			}
			reqs++
			read += q
		}
	}
	el := time.Since(start).Seconds()
	client.Close()
	res.RawRequestsPerSec, res.RawRegistersPerSec = float64(reqs)/el, float64(read)/el

	// Through the connector into twins.
	cfgText := modbusBenchYAML(o.Twins, dev.Addr(), o.Interval)
	plant, err := twins.ParseConfig("modbus-bench.yaml", []byte(cfgText))
	if err != nil {
		return nil, err
	}
	ecfg, err := edge.ParseConfig("modbus-bench.yaml", []byte(cfgText), plant)
	if err != nil {
		return nil, err
	}
	store, err := persistence.Open(persistence.DefaultConfig(o.Dir))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	rt, err := actors.Start(actors.Config{Twins: plant, Store: store, PassivateAfter: -1,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	sink := edge.NewSink(rt)
	cc, _ := ecfg.Connector("plc")
	conn, err := edgemodbus.New(cc, ecfg.BindingsOf("plc"), sink, nil, nil)
	if err != nil {
		return nil, err
	}
	if got := conn.Requests(); got != res.Requests {
		return nil, fmt.Errorf("bench: the connector plans %d requests per poll, want %d", got, res.Requests)
	}
	conn.Start()
	defer conn.Stop()
	// Warm up: every twin activated.
	deadline := time.Now().Add(time.Minute)
	for sink.Stats().Accepted < int64(o.Twins*10) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("bench: modbus warm-up: %+v", sink.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	logf(w, "modbus: connector polling every %v into %d twins (10 values each) for %v", o.Interval, o.Twins, o.Duration)
	reads0, acc0 := dev.Reads(), sink.Stats().Accepted
	start = time.Now()
	select {
	case <-time.After(o.Duration):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	el = time.Since(start).Seconds()
	reads, acc := dev.Reads()-reads0, sink.Stats().Accepted-acc0
	res.RequestsPerSec = float64(reads) / el
	res.RegistersPerSec = res.RequestsPerSec * float64(regs) / float64(res.Requests)
	res.ValuesPerSec = float64(acc) / el
	res.Polls = reads / int64(res.Requests)
	if st := sink.Stats(); st.FailedBatches > 0 || st.Rejected > 0 {
		return nil, fmt.Errorf("bench: modbus: %d batches failed, %d samples rejected", st.FailedBatches, st.Rejected)
	}
	fmt.Fprintf(w, "\n== Modbus TCP benchmark: %d registers (%d twins x 10 float32) in %d requests per poll, loopback ==\n", regs, o.Twins, res.Requests)
	fmt.Fprintf(w, "raw client:  %8.0f requests/s %10.0f registers/s\n", res.RawRequestsPerSec, res.RawRegistersPerSec)
	fmt.Fprintf(w, "connector:   %8.0f requests/s %10.0f registers/s  = %.0f%% of raw; %.0f values/s durably applied to twins (%d polls)\n",
		res.RequestsPerSec, res.RegistersPerSec, 100*res.RequestsPerSec/res.RawRequestsPerSec, res.ValuesPerSec, res.Polls)
	return res, nil
}
