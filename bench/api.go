package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/gateway"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

// APIOptions configures the gRPC API benchmark.
type APIOptions struct {
	// Twins declared and activated (each label group holds GroupSize).
	Twins int
	// GroupSize is the number of twins per label group (the watchers'
	// filter).
	GroupSize int
	// Clients are the concurrent client counts for GetTwin and the
	// empty-RPC ceiling.
	Clients []int
	// RPCDuration is how long each GetTwin / ceiling point runs.
	RPCDuration time.Duration
	// Watchers is the number of watch streams, each over one label group.
	Watchers int
	// WatchRate is the paced update rate (updates/s) during the watch run.
	WatchRate int
	// WatchDuration is how long the watch run lasts.
	WatchDuration time.Duration
	// SlowDuration is how long each half of the slow-watcher comparison
	// runs (ingest at full speed without, then with, a stalled watcher).
	SlowDuration time.Duration
	// InFlight bounds ingest batches in flight at full speed.
	InFlight int
	// WatchBuffer is each watch stream's buffer (gateway.Options); 0: the
	// gateway's default.
	WatchBuffer int
	// Dir holds the store (default: a temporary directory).
	Dir string
	// Progress is how often progress lines are printed.
	Progress time.Duration
}

// DefaultAPIOptions are the figures docs/BENCHMARKS.md records.
func DefaultAPIOptions() APIOptions {
	return APIOptions{
		Twins:         100000,
		GroupSize:     100,
		Clients:       []int{1, 16, 64},
		RPCDuration:   5 * time.Second,
		Watchers:      1000,
		WatchRate:     10000,
		WatchDuration: 20 * time.Second,
		SlowDuration:  10 * time.Second,
		InFlight:      20000,
		Progress:      5 * time.Second,
	}
}

// RPCPoint is one concurrency level of a unary call.
type RPCPoint struct {
	Clients  int
	PerSec   float64
	P50, P99 time.Duration
	Errors   int64
	Ceiling  float64 // empty RPC (health Check) calls/s at the same concurrency
	CeilP50  time.Duration
	CeilP99  time.Duration
}

// APIResult holds the API benchmark's figures.
type APIResult struct {
	Twins   int
	GetTwin []RPCPoint
	// ListStatic is the time of one ListTwins call with a label filter
	// (one page of GroupSize twins, total counted over all twins).
	ListStatic time.Duration
	// ListState is the time to list every page of a state filter that
	// must read all twins' state.
	ListState        time.Duration
	ListStateMatched int
	// Watch delivery: from the twin applying a change to the watcher
	// receiving it.
	Watchers                     int
	WatchUpdates                 int64
	WatchDelivered               int64
	WatchP50, WatchP99, WatchMax time.Duration
	WatchLagged                  int64
	WatchExpected                int64 // deliveries due (updates x watchers of their group)
	// AckP50/AckP99: submit to durable acknowledgement of the same
	// updates (the part of watch latency spent making the change durable).
	AckP50, AckP99 time.Duration
	// Ingest at full speed without and with a stalled watcher.
	IngestAlone, IngestWithSlow float64
	SlowDropped                 int64
}

func apiModelYAML(n, group int) string {
	var b strings.Builder
	b.WriteString("models:\n  - name: meter\n    properties:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "      - {name: p%d, type: double, unit: kW}\n", i)
	}
	b.WriteString("twins:\n")
	for g := 0; g*group < n; g++ {
		fmt.Fprintf(&b, "  - id: t-%05d-{%03d..%03d}\n    model: meter\n    labels: {group: g%05d}\n", g, 1, min(group, n-g*group), g)
	}
	return b.String()
}

// RunAPI runs the API benchmark in this process over loopback gRPC.
func RunAPI(ctx context.Context, o APIOptions, w io.Writer) (*APIResult, error) {
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "plantwin-apibench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	cfg, err := twins.ParseConfig("apibench.yaml", []byte(apiModelYAML(o.Twins, o.GroupSize)))
	if err != nil {
		return nil, err
	}
	store, err := persistence.Open(persistence.DefaultConfig(o.Dir))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	rt, err := actors.Start(actors.Config{
		Twins: cfg, Store: store, PassivateAfter: -1, RequestTimeout: 2 * time.Minute, RetryInterval: time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	srv := gateway.New(rt, gateway.Options{WatchBuffer: o.WatchBuffer})
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	srv.SetServing(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go gs.Serve(lis)
	defer func() { srv.Shutdown(); gs.Stop() }()
	addr := lis.Addr().String()

	ids := make([]string, len(cfg.Twins))
	for i, t := range cfg.Twins {
		ids[i] = t.ID
	}
	res := &APIResult{Twins: len(ids), Watchers: o.Watchers}
	logf(w, "api: activating %d twins (one update each)", len(ids))
	if failed := activateAll(ctx, rt, ids, 10, o.InFlight); failed > 0 {
		return nil, fmt.Errorf("bench: %d activation batches failed", failed)
	}

	settle(store, w)

	conns := make([]*grpc.ClientConn, 64)
	for i := range conns {
		if conns[i], err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			return nil, err
		}
		defer conns[i].Close()
	}

	// Unary calls: the empty-RPC ceiling and GetTwin at each concurrency.
	for _, c := range o.Clients {
		ceil := runUnary(ctx, conns, c, o.RPCDuration, func(ctx context.Context, cc *grpc.ClientConn, _ *rand.Rand) error {
			_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		})
		get := runUnary(ctx, conns, c, o.RPCDuration, func(ctx context.Context, cc *grpc.ClientConn, r *rand.Rand) error {
			_, err := pb.NewTwinServiceClient(cc).GetTwin(ctx, &pb.GetTwinRequest{Id: ids[r.IntN(len(ids))]})
			return err
		})
		get.Ceiling, get.CeilP50, get.CeilP99 = ceil.PerSec, ceil.P50, ceil.P99
		res.GetTwin = append(res.GetTwin, get)
		logf(w, "api: GetTwin %2d clients: %8.0f/s p50 %v p99 %v (empty RPC %8.0f/s p50 %v p99 %v) = %.0f%% of the ceiling",
			c, get.PerSec, get.P50, get.P99, ceil.PerSec, ceil.P50, ceil.P99, 100*get.PerSec/ceil.PerSec)
	}

	// ListTwins over every twin: a label filter, then a state filter.
	tc := pb.NewTwinServiceClient(conns[0])
	groups := (len(ids) + o.GroupSize - 1) / o.GroupSize
	start := time.Now()
	for i := 0; i < 10; i++ {
		resp, err := tc.ListTwins(ctx, &pb.ListTwinsRequest{Filter: fmt.Sprintf(`labels.group == "g%05d"`, (i*7)%groups), PageSize: int32(o.GroupSize)})
		if err != nil {
			return nil, err
		}
		if len(resp.Twins) != min(o.GroupSize, len(ids)) {
			return nil, fmt.Errorf("bench: label filter listed %d twins", len(resp.Twins))
		}
	}
	res.ListStatic = time.Since(start) / 10
	start = time.Now()
	req := &pb.ListTwinsRequest{Filter: `reported.p0.value >= 0.0 && reported.p1.value < 1e9`, PageSize: 1000}
	for {
		resp, err := tc.ListTwins(ctx, req)
		if err != nil {
			return nil, err
		}
		res.ListStateMatched += len(resp.Twins)
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	res.ListState = time.Since(start)
	logf(w, "api: ListTwins label filter over %d twins: %v per call (one page of %d); state filter, every page: %v for %d twins (%.0f twins/s)",
		len(ids), res.ListStatic, o.GroupSize, res.ListState, res.ListStateMatched, float64(res.ListStateMatched)/res.ListState.Seconds())

	if err := runWatch(ctx, o, rt, conns, ids, res, w); err != nil {
		return nil, err
	}
	if err := runSlowWatcher(ctx, o, rt, conns[0], ids, res, w); err != nil {
		return nil, err
	}
	printAPISummary(w, o, res)
	return res, nil
}

// settle waits (at most a minute) until Pebble has no flush or compaction
// running for a second, so the figures do not measure the activation's
// compaction debt, and collects garbage.
func settle(store *persistence.Store, w io.Writer) {
	start := time.Now()
	quietSince := time.Time{}
	for time.Since(start) < time.Minute {
		m := store.DB().Metrics()
		if m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0 {
			quietSince = time.Time{}
		} else if quietSince.IsZero() {
			quietSince = time.Now()
		} else if time.Since(quietSince) > time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	runtime.GC()
	logf(w, "api: store settled after %v", time.Since(start).Round(time.Millisecond))
}

// runUnary runs clients goroutines calling fn back to back for d.
func runUnary(ctx context.Context, conns []*grpc.ClientConn, clients int, d time.Duration, fn func(context.Context, *grpc.ClientConn, *rand.Rand) error) RPCPoint {
	p := RPCPoint{Clients: clients}
	var calls, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 7))
			cc := conns[c%len(conns)]
			local := make([]time.Duration, 0, 1<<14)
			for n := 0; ctx.Err() == nil; n++ {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				if err := fn(ctx, cc, r); err != nil {
					errs.Add(1)
				}
				local = append(local, time.Since(t0))
				calls.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	p.PerSec = float64(calls.Load()) / d.Seconds()
	p.P50, p.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	p.Errors = errs.Load()
	return p
}

// runWatch opens the watchers, paces updates over every twin and measures
// delivery latency.
func runWatch(ctx context.Context, o APIOptions, rt *actors.Runtime, conns []*grpc.ClientConn, ids []string, res *APIResult, w io.Writer) error {
	groups := (len(ids) + o.GroupSize - 1) / o.GroupSize
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var synced sync.WaitGroup
	var done sync.WaitGroup
	var delivered, lagged atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	errc := make(chan error, o.Watchers)
	logf(w, "api: opening %d watchers, each over %d twins", o.Watchers, o.GroupSize)
	for i := 0; i < o.Watchers; i++ {
		synced.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			g := i % groups
			stream, err := pb.NewTwinServiceClient(conns[i%len(conns)]).WatchTwins(wctx, &pb.WatchTwinsRequest{Filter: fmt.Sprintf(`labels.group == "g%05d"`, g)})
			if err != nil {
				errc <- err
				synced.Done()
				return
			}
			isSynced := false
			local := make([]time.Duration, 0, 1024)
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
				if !isSynced {
					synced.Done()
				}
			}()
			for {
				m, err := stream.Recv()
				if err != nil {
					return
				}
				switch ev := m.Event.(type) {
				case *pb.WatchTwinsResponse_Synced:
					if !isSynced {
						isSynced = true
						synced.Done()
					}
				case *pb.WatchTwinsResponse_Change:
					local = append(local, time.Since(ev.Change.Time.AsTime()))
					delivered.Add(1)
				case *pb.WatchTwinsResponse_Lagged:
					lagged.Add(1)
				}
			}
		}()
	}
	synced.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("bench: open watch: %w", err)
	default:
	}
	logf(w, "api: watchers synced; pacing %d updates/s over %d twins for %v", o.WatchRate, len(ids), o.WatchDuration)
	perGroup := make([]int64, groups)
	for i := 0; i < o.Watchers; i++ {
		perGroup[i%groups]++
	}
	var sent, acked, failed, expected atomic.Int64
	var ackMu sync.Mutex
	var ackLat []time.Duration
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	perTick := o.WatchRate / 100
	r := rand.New(rand.NewPCG(42, 42))
	end := time.Now().Add(o.WatchDuration)
	nextLog := time.Now().Add(o.Progress)
	for now := range tick.C {
		if now.After(end) || ctx.Err() != nil {
			break
		}
		for k := 0; k < perTick; k++ {
			idx := r.IntN(len(ids))
			sent.Add(1)
			t0 := time.Now()
			watchers := perGroup[idx/o.GroupSize]
			rt.Submit(&pb.ApplyTelemetry{TwinId: ids[idx], Samples: []*pb.Sample{{Property: "p0", Value: &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: r.Float64()}}}}},
				func(_ *pb.TelemetryApplied, err error) {
					if err != nil {
						failed.Add(1)
						return
					}
					d := time.Since(t0)
					acked.Add(1)
					expected.Add(watchers)
					ackMu.Lock()
					ackLat = append(ackLat, d)
					ackMu.Unlock()
				})
		}
		if now.After(nextLog) {
			nextLog = now.Add(o.Progress)
			logf(w, "api: watch run: %d updates sent, %d delivered to watchers, %d lagged", sent.Load(), delivered.Load(), lagged.Load())
		}
	}
	// Let deliveries drain, then close the streams.
	deadline := time.Now().Add(10 * time.Second)
	for delivered.Load() < expected.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	done.Wait()
	res.WatchUpdates = acked.Load()
	res.WatchDelivered = delivered.Load()
	res.WatchLagged = lagged.Load()
	res.WatchP50, res.WatchP99 = percentile(lat, 0.50), percentile(lat, 0.99)
	res.WatchExpected = expected.Load()
	ackMu.Lock()
	res.AckP50, res.AckP99 = percentile(ackLat, 0.50), percentile(ackLat, 0.99)
	ackMu.Unlock()
	if len(lat) > 0 {
		res.WatchMax = lat[len(lat)-1]
	}
	logf(w, "api: watch: %d updates, %d of %d deliveries, p50 %v p99 %v max %v, %d lagged, %d failed updates; durable acknowledgement p50 %v p99 %v",
		res.WatchUpdates, res.WatchDelivered, res.WatchExpected, res.WatchP50, res.WatchP99, res.WatchMax, res.WatchLagged, failed.Load(), res.AckP50, res.AckP99)
	return nil
}

// runSlowWatcher measures full-speed ingest alone, then with a watcher on
// every twin that never reads.
func runSlowWatcher(ctx context.Context, o APIOptions, rt *actors.Runtime, cc *grpc.ClientConn, ids []string, res *APIResult, w io.Writer) error {
	measure := func() float64 {
		l := &load{}
		stop := make(chan struct{})
		start := time.Now()
		time.AfterFunc(o.SlowDuration, func() { close(stop) })
		l.run(ctx, rt, ids, 1, o.InFlight, stop)
		return float64(l.acked.Load()) / time.Since(start).Seconds()
	}
	logf(w, "api: ingest at full speed for %v without watchers", o.SlowDuration)
	res.IngestAlone = measure()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewTwinServiceClient(cc).WatchTwins(wctx, &pb.WatchTwinsRequest{Filter: `model == "meter"`})
	if err != nil {
		return err
	}
	for { // read the initial sync, then stall
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		if m.GetSynced() != nil {
			break
		}
	}
	logf(w, "api: ingest at full speed for %v with a stalled watcher on all %d twins", o.SlowDuration, len(ids))
	res.IngestWithSlow = measure()
	// Now read what the watcher was sent: a LAGGED event if it fell
	// behind. Reading stops at the first LAGGED, or after 5 s without one
	// (then the watcher kept up: its buffer never filled).
	lag := make(chan int64, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if l := m.GetLagged(); l != nil {
				lag <- l.Dropped
				return
			}
		}
	}()
	select {
	case res.SlowDropped = <-lag:
	case <-time.After(5 * time.Second):
	}
	cancel()
	logf(w, "api: ingest %.0f/s alone, %.0f/s with a stalled watcher (%d changes dropped for it, then it was resynced)",
		res.IngestAlone, res.IngestWithSlow, res.SlowDropped)
	return nil
}

func printAPISummary(w io.Writer, o APIOptions, r *APIResult) {
	fmt.Fprintf(w, "\n== API benchmark, %d twins, loopback gRPC, no TLS ==\n", r.Twins)
	fmt.Fprintf(w, "%-8s %12s %10s %10s   %12s %10s %10s  %s\n", "clients", "GetTwin/s", "p50", "p99", "emptyRPC/s", "p50", "p99", "ratio")
	for _, p := range r.GetTwin {
		fmt.Fprintf(w, "%-8d %12.0f %10v %10v   %12.0f %10v %10v  %.0f%%\n", p.Clients, p.PerSec, p.P50.Round(time.Microsecond), p.P99.Round(time.Microsecond),
			p.Ceiling, p.CeilP50.Round(time.Microsecond), p.CeilP99.Round(time.Microsecond), 100*p.PerSec/p.Ceiling)
	}
	fmt.Fprintf(w, "ListTwins, label filter (%d of %d twins): %v per call\n", o.GroupSize, r.Twins, r.ListStatic.Round(time.Microsecond))
	fmt.Fprintf(w, "ListTwins, state filter over all %d twins, every page: %v (%.0f twins/s)\n", r.Twins, r.ListState.Round(time.Millisecond), float64(r.ListStateMatched)/r.ListState.Seconds())
	fmt.Fprintf(w, "Watch: %d watchers x %d twins, %d updates/s: p50 %v p99 %v max %v, %d of %d deliveries, %d lagged (durable ack of the same updates: p50 %v p99 %v)\n",
		r.Watchers, o.GroupSize, o.WatchRate, r.WatchP50.Round(time.Microsecond), r.WatchP99.Round(time.Microsecond), r.WatchMax.Round(time.Microsecond), r.WatchDelivered, r.WatchExpected, r.WatchLagged, r.AckP50.Round(time.Microsecond), r.AckP99.Round(time.Microsecond))
	fmt.Fprintf(w, "Ingest, full speed: %.0f/s alone, %.0f/s with a stalled watcher on every twin (%.0f%%)\n", r.IngestAlone, r.IngestWithSlow, 100*r.IngestWithSlow/r.IngestAlone)
}
