package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/edge"
	edgeopcua "github.com/plantwin/plantwin/edge/opcua"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

// OPCUAOptions configures the OPC UA benchmark.
type OPCUAOptions struct {
	Twins      int           // twins, each with Properties monitored items
	Properties int           // 1..20
	Interval   time.Duration // the server changes every value this often; also the sampling and publishing interval
	Duration   time.Duration // of each measurement
	Dir        string        // the store (default: temporary)
}

// DefaultOPCUAOptions are the figures docs/BENCHMARKS.md records:
// 10,000 monitored items at 100 ms.
func DefaultOPCUAOptions() OPCUAOptions {
	return OPCUAOptions{Twins: 1000, Properties: 10, Interval: 100 * time.Millisecond, Duration: 15 * time.Second}
}

// OPCUAResult holds the OPC UA benchmark's figures.
type OPCUAResult struct {
	Items   int
	Changed float64 // values/s the server changed
	// ClientOnly: values/s a bare gopcua subscription received from the
	// same server and generator.
	ClientOnly float64
	// Twins: values/s the connector durably applied to twins.
	Twins float64
}

func opcuaBenchYAML(n, props int, endpoint string, interval time.Duration) string {
	width := len(strconv.Itoa(n))
	var p, b strings.Builder
	for k := 1; k <= props; k++ {
		fmt.Fprintf(&p, "      - {name: p%d, type: double}\n", k)
		fmt.Fprintf(&b, "      p%d: {node_id: \"ns=2;s=T{n}.P%d\"}\n", k, k)
	}
	return fmt.Sprintf(`models:
  - name: turbine
    properties:
%stwins:
  - id: t-{%0*d..%d}
    model: turbine
connectors:
  - name: scada
    protocol: opcua
    endpoint: %s
    opcua: {publishing_interval: %s, batch_size: 1000, watchdog: 30s}
bindings:
  - connector: scada
    twin: t-{%0*d..%d}
    properties:
%s`, p.String(), width, 1, n, endpoint, interval, width, 1, n, b.String())
}

// opcuaGenerator changes every variable each interval until stopped and
// counts the changes.
type opcuaGenerator struct {
	srv     *simulations.OPCUAServer
	names   []string
	every   time.Duration
	changes atomic.Int64
	stop    chan struct{}
	done    chan struct{}
}

func (g *opcuaGenerator) run() {
	defer close(g.done)
	t := time.NewTicker(g.every)
	defer t.Stop()
	for round := 1; ; round++ {
		now := time.Now()
		for i, name := range g.names {
			if err := g.srv.Set(name, float64(round)+float64(i)/1e6, now); err == nil {
				g.changes.Add(1)
			}
		}
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
	}
}

// halt stops the generator and waits for it.
func (g *opcuaGenerator) halt() {
	close(g.stop)
	<-g.done
}

// measure runs the generator for d and returns its rate and the rate of
// count over the same time.
func (g *opcuaGenerator) measure(d time.Duration, count func() int64) (changed, counted float64) {
	c0, n0, start := g.changes.Load(), count(), time.Now()
	time.Sleep(d)
	el := time.Since(start).Seconds()
	return float64(g.changes.Load()-c0) / el, float64(count()-n0) / el
}

// RunOPCUA measures values from an OPC UA subscription into twins beside
// what a bare gopcua subscription receives from the same server.
func RunOPCUA(ctx context.Context, o OPCUAOptions, w io.Writer) (*OPCUAResult, error) {
	if o.Properties < 1 || o.Properties > 20 {
		return nil, fmt.Errorf("bench: opcua properties %d: want 1..20", o.Properties)
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "plantwin-opcuabench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	srv := simulations.NewOPCUAServer()
	var names []string
	width := len(strconv.Itoa(o.Twins)) // the twin template's zero padding, which {n} keeps
	for n := 1; n <= o.Twins; n++ {
		for k := 1; k <= o.Properties; k++ {
			name := fmt.Sprintf("T%0*d.P%d", width, n, k)
			if err := srv.AddVariable(name, 0.0); err != nil {
				return nil, err
			}
			names = append(names, name)
		}
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer srv.Stop()
	res := &OPCUAResult{Items: len(names)}
	// One generator per phase, stopped while its subscription still
	// consumes: gopcua's server blocks Set (holding its monitored-item
	// lock) when a subscription's notification queue is full, so a
	// generator outliving its consumer would stall the server.
	startGen := func() *opcuaGenerator {
		g := &opcuaGenerator{srv: srv, names: names, every: o.Interval, stop: make(chan struct{}), done: make(chan struct{})}
		go g.run()
		return g
	}

	// Client only: a bare gopcua subscription over the same items.
	logf(w, "opcua: client only: %d monitored items changed every %v, one bare gopcua subscription", len(names), o.Interval)
	var got atomic.Int64
	if err := bareSubscription(ctx, srv.Endpoint(), names, o.Interval, &got, func() {
		logf(w, "opcua: client only: subscribed; measuring for %v", o.Duration)
		gen := startGen()
		_, res.ClientOnly = gen.measure(o.Duration, got.Load)
		gen.halt()
		logf(w, "opcua: client only: %.0f values/s", res.ClientOnly)
	}); err != nil {
		return nil, err
	}

	// Through the connector into durable twins.
	text := opcuaBenchYAML(o.Twins, o.Properties, srv.Endpoint(), o.Interval)
	plant, err := twins.ParseConfig("opcua-bench.yaml", []byte(text))
	if err != nil {
		return nil, err
	}
	ecfg, err := edge.ParseConfig("opcua-bench.yaml", []byte(text), plant)
	if err != nil {
		return nil, err
	}
	store, err := persistence.Open(persistence.DefaultConfig(o.Dir + "/store"))
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
	cc, _ := ecfg.Connector("scada")
	conn, err := edgeopcua.New(cc, ecfg.BindingsOf("scada"), sink, nil, nil)
	if err != nil {
		return nil, err
	}
	conn.Start()
	defer conn.Stop()
	logf(w, "opcua: connector: the same server into %d durable twins (%d items in batches of 1000)", len(plant.Twins), conn.Items())
	deadline := time.Now().Add(60 * time.Second)
	for sink.Stats().Accepted < int64(len(names)) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: opcua connector delivered %d of the first %d values in 60s: %+v", sink.Stats().Accepted, len(names), conn.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	logf(w, "opcua: connector: subscribed; measuring for %v", o.Duration)
	gen := startGen()
	res.Changed, res.Twins = gen.measure(o.Duration, func() int64 { return sink.Stats().Accepted })
	gen.halt()
	st := sink.Stats()
	fmt.Fprintf(w, "\n== OPC UA benchmark: %d monitored items (%d twins × %d), sampling and publishing every %v, loopback gopcua server ==\n",
		len(names), len(plant.Twins), o.Properties, o.Interval)
	fmt.Fprintf(w, "server:       %8.0f values/s changed\nclient only:  %8.0f values/s received by a bare gopcua subscription\nconnector:    %8.0f values/s durably applied to twins = %.0f%% of client only (failed batches %d, rejected %d)\n",
		res.Changed, res.ClientOnly, res.Twins, 100*res.Twins/res.ClientOnly, st.FailedBatches, st.Rejected)
	return res, nil
}

// bareSubscription subscribes to every name, counts the values into got
// while measure runs, and closes.
func bareSubscription(ctx context.Context, endpoint string, names []string, interval time.Duration, got *atomic.Int64, measure func()) error {
	c, err := edgeopcua.Dial(ctx, endpoint, edge.DefaultOPCUAConnector(), edgeopcua.DialOptions{})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	notes := make(chan *opcua.PublishNotificationData, 256)
	sub, err := c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: interval}, notes)
	if err != nil {
		return fmt.Errorf("bench: opcua subscribe: %w", err)
	}
	defer sub.Cancel(context.Background())
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case n := <-notes:
				if dc, ok := n.Value.(*ua.DataChangeNotification); ok {
					got.Add(int64(len(dc.MonitoredItems)))
				}
			}
		}
	}()
	defer close(done)
	for start := 0; start < len(names); start += 1000 {
		var reqs []*ua.MonitoredItemCreateRequest
		for h := start; h < min(start+1000, len(names)); h++ {
			reqs = append(reqs, opcua.NewMonitoredItemCreateRequestWithDefaults(ua.NewStringNodeID(2, names[h]), ua.AttributeIDValue, uint32(h)))
		}
		if _, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth, reqs...); err != nil {
			return fmt.Errorf("bench: opcua monitor: %w", err)
		}
	}
	measure()
	return nil
}
