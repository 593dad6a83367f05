package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cockroachdb/pebble"
	mb "github.com/simonvetter/modbus"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/edge"
	edgemodbus "github.com/plantwin/plantwin/edge/modbus"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

// RulesOptions configures the rule-to-device latency benchmark.
type RulesOptions struct {
	Twins    int           // cells on the PLC, each polled every Interval: Twins/Interval updates/s of background load
	Interval time.Duration // poll interval
	Trials   int           // trips measured
	Dir      string        // the store (default: temporary)
	Progress time.Duration
}

// DefaultRulesOptions: 1,000 cells polled every 100 ms (10,000 durable
// updates/s, each evaluated by 10 rules), 200 trips.
func DefaultRulesOptions() RulesOptions {
	return RulesOptions{Twins: 1000, Interval: 100 * time.Millisecond, Trials: 200, Progress: 5 * time.Second}
}

// RulesResult holds the latency figures.
type RulesResult struct {
	Background float64 // durable updates/s applied while measuring
	P50, P99   time.Duration
	Max        time.Duration
	// DecidedP50/P99: from the sample's source time to the twin deciding
	// the alarm and its command (the rest is journaling and the write).
	DecidedP50, DecidedP99 time.Duration
	// RawWriteP50/P99: a bare Modbus client's coil write round trip to the
	// same device; RawSyncP50/P99: one synced Pebble batch on the same
	// disk — the two floors of the path (the decision is journaled before
	// the write goes out).
	RawWriteP50, RawWriteP99 time.Duration
	RawSyncP50, RawSyncP99   time.Duration
}

// rulesBenchYAML: cells on one PLC; level in holding register n, the trip
// command writes coil n; ten rules per model, one of which trips.
func rulesBenchYAML(n int, addr string, interval time.Duration) string {
	return fmt.Sprintf(`models:
  - name: cell
    properties:
      - {name: level, type: int}
    commands:
      - name: trip
    rules:
      - {name: high, when: 'level > 1000', clear_when: 'level < 10', severity: critical, actions: [{command: trip}]}
      - {name: r2, when: 'level > 5000 && quality.level == "good"'}
      - {name: r3, when: 'level < -1'}
      - {name: r4, when: 'avg(level, "10s") > 9000.0'}
      - {name: r5, when: 'max(level, "30s") > 9500.0'}
      - {name: r6, when: 'rate(level, "5s") > 10000.0'}
      - {name: r7, when: 'has(prev.level) && level - prev.level > 5000'}
      - {name: r8, when: 'level > 8000', for: 5s}
      - {name: r9, when: 'labels.line == "none" && level > 1'}
      - {name: r10, when: 'count(level, "10s") > 1000.0'}
twins:
  - id: cell-{1..%d}
    model: cell
    labels: {line: L1}
connectors:
  - name: plc
    protocol: modbus
    endpoint: tcp://%s
    modbus:
      timeout: 2s
      poll_groups: [{name: fast, interval: %s}]
bindings:
  - connector: plc
    twin: cell-{1..%d}
    properties:
      level: {table: holding, address: "{n}", type: uint16}
    commands:
      trip: {table: coil, address: "{n}", value: "true"}
`, n, addr, interval, n)
}

// RunRules measures the time from a sample's arrival at the Modbus
// connector (its source time) to the resulting command's write arriving at
// the device, under the connector's own background load.
func RunRules(ctx context.Context, o RulesOptions, w io.Writer) (*RulesResult, error) {
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "plantwin-bench-rules-")
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
	res := &RulesResult{}

	// Floor 1: a bare client's coil write round trip.
	client, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + dev.Addr(), Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := client.Open(); err != nil {
		return nil, err
	}
	var raw []time.Duration
	for i := range 1000 {
		t0 := time.Now()
		if err := client.WriteCoil(uint16(60000+i%100), true); err != nil {
			client.Close()
			return nil, fmt.Errorf("bench: raw modbus write: %w", err)
		}
		raw = append(raw, time.Since(t0))
	}
	client.Close()
	res.RawWriteP50, res.RawWriteP99 = percentile(raw, 0.50), percentile(raw, 0.99)

	// Floor 2: one synced Pebble batch.
	pdb, err := pebble.Open(filepath.Join(o.Dir, "raw"), &pebble.Options{})
	if err != nil {
		return nil, err
	}
	raw = raw[:0]
	for i := range 500 {
		b := pdb.NewBatch()
		_ = b.Set(fmt.Appendf(nil, "k%06d", i), make([]byte, 200), nil)
		t0 := time.Now()
		if err := b.Commit(pebble.Sync); err != nil {
			pdb.Close()
			return nil, err
		}
		raw = append(raw, time.Since(t0))
	}
	pdb.Close()
	res.RawSyncP50, res.RawSyncP99 = percentile(raw, 0.50), percentile(raw, 0.99)

	text := rulesBenchYAML(o.Twins, dev.Addr(), o.Interval)
	plant, err := twins.ParseConfig("rules-bench.yaml", []byte(text))
	if err != nil {
		return nil, err
	}
	ecfg, err := edge.ParseConfig("rules-bench.yaml", []byte(text), plant)
	if err != nil {
		return nil, err
	}
	store, err := persistence.Open(persistence.DefaultConfig(filepath.Join(o.Dir, "node")))
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
	rt.SetDevice(edge.Device(conn))
	conn.Start()
	defer conn.Stop()

	deadline := time.Now().Add(time.Minute)
	for sink.Stats().Accepted < int64(o.Twins*3) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("bench: rules warm-up: %+v", sink.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	logf(w, "rules: %d cells polled every %v (10 rules each); measuring %d trips", o.Twins, o.Interval, o.Trials)
	acc0, start := sink.Stats().Accepted, time.Now()
	var lat, decided []time.Duration
	lastProgress := time.Now()
	for k := range o.Trials {
		n := 1 + (k*37)%o.Twins
		id := fmt.Sprintf("cell-%d", n)
		writes := dev.CoilWrites(1, uint16(n))
		dev.SetHolding(1, uint16(n), 2000)
		tripDeadline := time.Now().Add(30 * time.Second)
		for dev.CoilWrites(1, uint16(n)) == writes {
			if time.Now().After(tripDeadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("bench: %s did not trip within 30s", id)
			}
			time.Sleep(200 * time.Microsecond)
		}
		wrote := dev.CoilWrittenAt(1, uint16(n))
		st, _, err := rt.State(ctx, id)
		if err != nil {
			return nil, err
		}
		a, _ := st.Alarm("high")
		lat = append(lat, wrote.Sub(time.Unix(0, a.RaisedAt)))
		for i := len(st.Commands) - 1; i >= 0; i-- {
			if c := st.Commands[i]; c.Name == "trip" {
				decided = append(decided, time.Duration(c.Created-a.RaisedAt))
				break
			}
		}
		dev.SetHolding(1, uint16(n), 0)
		for {
			st, _, err := rt.State(ctx, id)
			if err != nil {
				return nil, err
			}
			if a, _ := st.Alarm("high"); !a.Active {
				break
			}
			if time.Now().After(tripDeadline) {
				return nil, fmt.Errorf("bench: %s alarm did not clear", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if time.Since(lastProgress) >= o.Progress {
			lastProgress = time.Now()
			logf(w, "rules: %d/%d trips, p50 so far %v", k+1, o.Trials, percentile(slices.Clone(lat), 0.5).Round(10*time.Microsecond))
		}
	}
	res.Background = float64(sink.Stats().Accepted-acc0) / time.Since(start).Seconds()
	res.P50, res.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	res.Max = slices.Max(lat)
	res.DecidedP50, res.DecidedP99 = percentile(decided, 0.50), percentile(decided, 0.99)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Fprintf(w, "\n== Rule to device: sample at the Modbus connector → alarm → trip command written to the PLC, %d trips ==\n", o.Trials)
	fmt.Fprintf(w, "background:        %8.0f durable updates/s (%d cells every %v, 10 rules each)\n", res.Background, o.Twins, o.Interval)
	fmt.Fprintf(w, "sample → write:    p50 %v  p99 %v  max %v\n", r(res.P50), r(res.P99), r(res.Max))
	fmt.Fprintf(w, "  of which sample → decided in the twin: p50 %v  p99 %v\n", r(res.DecidedP50), r(res.DecidedP99))
	fmt.Fprintf(w, "floors, same run:  Modbus coil write round trip p50 %v p99 %v; one synced Pebble batch p50 %v p99 %v\n",
		r(res.RawWriteP50), r(res.RawWriteP99), r(res.RawSyncP50), r(res.RawSyncP99))
	return res, nil
}
