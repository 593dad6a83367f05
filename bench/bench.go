package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

// Options configures a benchmark run.
type Options struct {
	// Sizes are the numbers of active twins to measure, e.g. 10000, 100000.
	Sizes []int
	// Duration is how long durable ingest is sustained per size.
	Duration time.Duration
	// CeilingDuration is how long each raw ceiling is measured.
	CeilingDuration time.Duration
	// InFlight bounds the batches submitted and not yet acknowledged.
	InFlight int
	// SamplesPerUpdate is the number of property values per update (1..10).
	SamplesPerUpdate int
	// MemoryTwins is the number of idle twins for the memory figure (0: skip).
	MemoryTwins int
	// Dir holds the stores (a fresh subdirectory per size).
	Dir string
	// Progress is how often progress lines are printed.
	Progress time.Duration
	// GOGC is the garbage collector setting in force, for the report.
	GOGC string
	// MemProfile, if set, receives a heap profile taken while the idle
	// twins of the memory figure are live.
	MemProfile string
}

// DefaultOptions are the figures docs/BENCHMARKS.md records.
func DefaultOptions() Options {
	return Options{
		Sizes:            []int{10000, 100000},
		Duration:         60 * time.Second,
		CeilingDuration:  10 * time.Second,
		InFlight:         20000,
		SamplesPerUpdate: 1,
		MemoryTwins:      100000,
		Progress:         5 * time.Second,
	}
}

// Result is one size's figures.
type Result struct {
	Twins            int
	Updates          int64
	Elapsed          time.Duration
	UpdatesPerSec    float64
	P50, P99         time.Duration // submit-to-acknowledge latency
	Failed           int64
	BytesPerUpdate   float64
	WritesPerCommit  float64
	ActorSendPerSec  float64 // raw ceiling: protoactor local sends to Twins actors
	PebbleSyncedRate float64 // raw ceiling: updates/s as synced Pebble batches
	L0Sublevels      int32
	WriteStalls      int64
}

// MemoryResult is the idle-twin memory figure.
type MemoryResult struct {
	Twins       int
	Properties  int
	HeapPerTwin float64 // bytes of Go heap in use per idle twin
	RSSPerTwin  float64 // bytes of resident memory per idle twin

	ActivationPerSec float64
}

func benchModelYAML(n int) string {
	var b strings.Builder
	b.WriteString("models:\n  - name: meter\n    properties:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "      - {name: p%d, type: double, unit: kW}\n", i)
	}
	width := len(strconv.Itoa(n))
	fmt.Fprintf(&b, "twins:\n  - id: t-{%0*d..%d}\n    model: meter\n", width, 1, n)
	return b.String()
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Run runs the benchmark, printing progress and results to w.
func Run(ctx context.Context, o Options, w io.Writer) ([]Result, *MemoryResult, error) {
	if o.SamplesPerUpdate < 1 || o.SamplesPerUpdate > 10 {
		return nil, nil, fmt.Errorf("bench: samples per update %d: want 1..10", o.SamplesPerUpdate)
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "plantwin-bench-")
		if err != nil {
			return nil, nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	logf(w, "plantwin bench: %s, %d CPUs, GOMAXPROCS %d, GOGC %s", runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), orDefault(o.GOGC, "100"))
	// Memory first, in a fresh heap: later phases leave fragmentation that
	// would be charged to the idle twins.
	var mem *MemoryResult
	if o.MemoryTwins > 0 {
		m, err := measureMemory(ctx, o, w)
		if err != nil {
			return nil, nil, err
		}
		mem = &m
	}
	var results []Result
	for _, n := range o.Sizes {
		r, err := runSize(ctx, o, n, w)
		if err != nil {
			return results, mem, err
		}
		results = append(results, r)
		if ctx.Err() != nil {
			return results, mem, ctx.Err()
		}
	}
	printSummary(w, results, mem)
	return results, mem, nil
}

type node struct {
	store *persistence.Store
	rt    *actors.Runtime
	cfg   *twins.Config
}

func startNode(dir string, n int) (*node, error) {
	cfg, err := twins.ParseConfig("bench.yaml", []byte(benchModelYAML(n)))
	if err != nil {
		return nil, err
	}
	store, err := persistence.Open(persistence.DefaultConfig(dir))
	if err != nil {
		return nil, err
	}
	rt, err := actors.Start(actors.Config{
		Twins:          cfg,
		Store:          store,
		PassivateAfter: -1,
		SnapshotEvery:  1000,
		RequestTimeout: 2 * time.Minute,
		RetryInterval:  time.Minute,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &node{store: store, rt: rt, cfg: cfg}, nil
}

func (n *node) close() {
	n.rt.Close()
	n.store.Close()
}

// ids returns the declared twin ids in order.
func (n *node) ids() []string {
	ids := make([]string, len(n.cfg.Twins))
	for i, t := range n.cfg.Twins {
		ids[i] = t.ID
	}
	return ids
}

// activateAll sends one batch of samples values to every twin, so all are
// active, and returns how many batches failed.
func activateAll(ctx context.Context, rt *actors.Runtime, ids []string, samples, inFlight int) int64 {
	l := &load{}
	stop := make(chan struct{})
	go func() {
		for l.acked.Load()+l.failed.Load() < int64(len(ids)) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
	}()
	l.run(ctx, rt, ids, samples, inFlight, stop)
	return l.failed.Load()
}

// load keeps up to inFlight batches outstanding, round-robin over twins,
// until stop is closed; it returns the acknowledged count and latencies.
type load struct {
	acked, failed atomic.Int64
	mu            sync.Mutex
	lat           []time.Duration // sampled latencies
}

func (l *load) run(ctx context.Context, rt *actors.Runtime, ids []string, samples, inFlight int, stop <-chan struct{}) {
	sem := make(chan struct{}, inFlight)
	var ts atomic.Int64
	ts.Store(time.Now().Add(-time.Hour).UnixNano())
	var i int
	var seq int64
	for {
		select {
		case <-stop:
			for j := 0; j < inFlight; j++ { // wait for the tail
				sem <- struct{}{}
			}
			return
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		id := ids[i]
		i++
		if i == len(ids) {
			i = 0
		}
		seq++
		b := &pb.ApplyTelemetry{TwinId: id, Samples: make([]*pb.Sample, samples)}
		src := ts.Add(1)
		for k := 0; k < samples; k++ {
			b.Samples[k] = &pb.Sample{Property: propName[k], Value: &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: float64(seq % 1000)}}, SourceTimeUnixNano: src}
		}
		start := time.Now()
		sampleLat := seq%64 == 0
		rt.Submit(b, func(_ *pb.TelemetryApplied, err error) {
			if err != nil {
				l.failed.Add(1)
			} else {
				l.acked.Add(1)
			}
			if sampleLat {
				d := time.Since(start)
				l.mu.Lock()
				l.lat = append(l.lat, d)
				l.mu.Unlock()
			}
			<-sem
		})
	}
}

var propName = func() []string {
	s := make([]string, 10)
	for i := range s {
		s[i] = "p" + strconv.Itoa(i)
	}
	return s
}()

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(math.Min(float64(len(d)-1), p*float64(len(d))))]
}

func runSize(ctx context.Context, o Options, n int, w io.Writer) (Result, error) {
	res := Result{Twins: n}
	dir, err := os.MkdirTemp(o.Dir, fmt.Sprintf("size-%d-", n))
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	logf(w, "== %d twins: raw protoactor local send rate to %d actors (%v)", n, n, o.CeilingDuration)
	res.ActorSendPerSec = actorSendCeiling(n, o.CeilingDuration)
	logf(w, "   %.0f msgs/s", res.ActorSendPerSec)

	nd, err := startNode(dir, n)
	if err != nil {
		return res, err
	}
	defer nd.close()
	ids := nd.ids()
	logf(w, "   activating %d twins", n)
	actStart := time.Now()
	failed := activateAll(ctx, nd.rt, ids, o.SamplesPerUpdate, o.InFlight)
	logf(w, "   %d twins active in %v (%d failed)", nd.rt.ActiveTwins(), time.Since(actStart).Round(time.Millisecond), failed)

	logf(w, "   durable ingest, %d sample(s) per update, %d batches in flight, for %v", o.SamplesPerUpdate, o.InFlight, o.Duration)
	st0 := nd.store.Stats()
	l := &load{}
	stop := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	go func() { l.run(ctx, nd.rt, ids, o.SamplesPerUpdate, o.InFlight, stop); close(done) }()
	tick := time.NewTicker(o.Progress)
	last, lastT := int64(0), start
	end := time.After(o.Duration)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case now := <-tick.C:
			a := l.acked.Load()
			st := nd.store.Stats()
			logf(w, "   %5.0fs  %9.0f updates/s  total %d  failed %d  L0 sublevels %d  stalls %d",
				now.Sub(start).Seconds(), float64(a-last)/now.Sub(lastT).Seconds(), a, l.failed.Load(), st.L0Sublevels, st.WriteStalls)
			last, lastT = a, now
		}
	}
	tick.Stop()
	close(stop)
	<-done
	res.Elapsed = time.Since(start)
	res.Updates = l.acked.Load()
	res.Failed = l.failed.Load()
	res.UpdatesPerSec = float64(res.Updates) / res.Elapsed.Seconds()
	res.P50, res.P99 = percentile(l.lat, 0.5), percentile(l.lat, 0.99)
	st1 := nd.store.Stats()
	if dw := st1.Writes - st0.Writes; dw > 0 {
		res.BytesPerUpdate = float64(st1.Bytes-st0.Bytes) / float64(dw)
		if dc := st1.Commits - st0.Commits; dc > 0 {
			res.WritesPerCommit = float64(dw) / float64(dc)
		}
	}
	res.L0Sublevels, res.WriteStalls = st1.L0Sublevels, st1.WriteStalls
	logf(w, "   durable: %.0f updates/s (p50 %v, p99 %v), %.0f bytes and %.0f writes per synced batch",
		res.UpdatesPerSec, res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.BytesPerUpdate, res.WritesPerCommit)

	logf(w, "   raw Pebble synced batches of %.0f-byte updates, %.0f per batch (%v)", res.BytesPerUpdate, res.WritesPerCommit, o.CeilingDuration)
	res.PebbleSyncedRate, err = pebbleCeiling(nd.store.DB(), int(res.BytesPerUpdate), int(math.Max(1, res.WritesPerCommit)), o.CeilingDuration)
	if err != nil {
		return res, err
	}
	logf(w, "   %.0f updates/s", res.PebbleSyncedRate)
	return res, nil
}

// countActor counts messages; the ceiling's receiver.
type countActor struct{ n *atomic.Int64 }

func (c *countActor) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*pb.ApplyTelemetry); ok {
		c.n.Add(1)
	}
}

// actorSendCeiling measures protoactor's local send rate from two senders
// to n trivial actors, messages processed per second.
func actorSendCeiling(n int, d time.Duration) float64 {
	sys := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	})))
	defer sys.Shutdown()
	var received atomic.Int64
	pids := make([]*actor.PID, n)
	props := actor.PropsFromProducer(func() actor.Actor { return &countActor{n: &received} })
	for i := range pids {
		pids[i] = sys.Root.Spawn(props)
	}
	msg := &pb.ApplyTelemetry{TwinId: "x", Samples: []*pb.Sample{{Property: "p0"}}}
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	senders := runtime.GOMAXPROCS(0)
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := s; ; i += senders {
				if i >= n {
					i = s
				}
				select {
				case <-stop:
					return
				default:
				}
				// Stay within 100k messages in flight, as the ingest path does.
				for sent.Load()-received.Load() > 100000 {
					runtime.Gosched()
				}
				sys.Root.Send(pids[i], msg)
				sent.Add(1)
			}
		}(s)
	}
	start := time.Now()
	time.Sleep(d)
	close(stop)
	wg.Wait()
	got := received.Load()
	return float64(got) / time.Since(start).Seconds()
}

// pebbleCeiling writes synced batches of perBatch updates of size bytes
// each into db (a scratch key range, deleted afterwards), measured with
// several committers in parallel as the store's pipeline has.
func pebbleCeiling(db *pebble.DB, size, perBatch int, d time.Duration) (float64, error) {
	if size <= 0 {
		size = 128
	}
	scratch := []byte{0xfe}
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i)
	}
	var updates atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			key := make([]byte, 0, 32)
			var seq uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := db.NewBatch()
				for i := 0; i < perBatch; i++ {
					seq++
					key = append(key[:0], scratch...)
					key = strconv.AppendUint(append(key, byte(c)), seq, 10)
					if err := b.Set(key, val, nil); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
				if err := b.Commit(pebble.Sync); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				b.Close()
				updates.Add(int64(perBatch))
			}
		}(c)
	}
	start := time.Now()
	time.Sleep(d)
	close(stop)
	wg.Wait()
	el := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	if err := db.DeleteRange(scratch, []byte{0xff}, pebble.Sync); err != nil {
		return 0, err
	}
	return float64(updates.Load()) / el.Seconds(), nil
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func heapInUse() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// measureMemory activates MemoryTwins twins with all 10 properties
// reported, lets them go idle, and measures memory per twin.
func measureMemory(ctx context.Context, o Options, w io.Writer) (MemoryResult, error) {
	n := o.MemoryTwins
	res := MemoryResult{Twins: n, Properties: 10}
	dir, err := os.MkdirTemp(o.Dir, "memory-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	logf(w, "== memory: %d idle twins with 10 reported properties", n)
	nd, err := startNode(dir, n)
	if err != nil {
		return res, err
	}
	defer nd.close()
	ids := nd.ids()
	h0, r0 := heapInUse(), rss()
	start := time.Now()
	failed := activateAll(ctx, nd.rt, ids, 10, o.InFlight)
	res.ActivationPerSec = float64(n) / time.Since(start).Seconds()
	if failed > 0 {
		return res, fmt.Errorf("bench: %d activations failed", failed)
	}
	// Let commit buffers drain, and flush Pebble's memtable: the activation
	// writes filled it (off the Go heap), and it is a bounded write buffer,
	// not memory the twins hold. Then measure.
	time.Sleep(2 * time.Second)
	if err := nd.store.DB().Flush(); err != nil {
		return res, err
	}
	h1, r1 := heapInUse(), rss()
	res.HeapPerTwin = float64(int64(h1)-int64(h0)) / float64(n)
	res.RSSPerTwin = float64(int64(r1)-int64(r0)) / float64(n)
	if o.MemProfile != "" {
		f, err := os.Create(o.MemProfile)
		if err != nil {
			return res, err
		}
		err = pprof.WriteHeapProfile(f)
		f.Close()
		if err != nil {
			return res, err
		}
	}
	logf(w, "   %d active; %.0f activations/s; heap %.0f B/twin, RSS %.0f B/twin", nd.rt.ActiveTwins(), res.ActivationPerSec, res.HeapPerTwin, res.RSSPerTwin)
	return res, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func printSummary(w io.Writer, rs []Result, m *MemoryResult) {
	fmt.Fprintf(w, "\nSUMMARY (%s, %d CPUs)\n", runtime.Version(), runtime.NumCPU())
	fmt.Fprintf(w, "%-8s %14s %10s %10s %16s %16s %10s %10s\n", "twins", "durable upd/s", "p50", "p99", "actor send/s", "pebble sync upd/s", "% actor", "% pebble")
	for _, r := range rs {
		fmt.Fprintf(w, "%-8d %14.0f %10v %10v %16.0f %16.0f %9.1f%% %9.1f%%\n", r.Twins, r.UpdatesPerSec, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond),
			r.ActorSendPerSec, r.PebbleSyncedRate, 100*r.UpdatesPerSec/r.ActorSendPerSec, 100*r.UpdatesPerSec/r.PebbleSyncedRate)
	}
	if m != nil {
		fmt.Fprintf(w, "memory: %d idle twins x %d properties: %.0f B heap/twin, %.0f B RSS/twin\n", m.Twins, m.Properties, m.HeapPerTwin, m.RSSPerTwin)
	}
}
