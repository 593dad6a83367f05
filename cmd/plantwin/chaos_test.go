package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// chaosIn is a client's operation on one twin: a write of a unique x, or
// a read.
type chaosIn struct {
	twin  string
	write bool
	x     int64
}

// chaosOut is what the client got: for a write the twin's version after
// it, for a read the version and x; known is false when the call failed
// or timed out (a write may then have been applied or not).
type chaosOut struct {
	known   bool
	version int64
	x       int64
}

// chaosState is a twin as the model sees it: its x, and the version the
// latest write returned.
type chaosState struct{ x, version int64 }

// chaosModel is a linearizable register per twin whose writes return
// strictly growing versions: two acknowledged writes with one version —
// two activations accepting writes — are illegal, and so is a read of a
// value older than an acknowledged write (a lost update) or of a value
// no write could have left. A write whose outcome is unknown may or may
// not have been applied. Reads check x only: a write re-sent to a new
// owner after a crash can be applied twice (exactly-once across
// activations is not built), so its version may be ahead of the one its
// client was told.
var chaosModel = (&porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			in := op.Input.(chaosIn)
			by[in.twin] = append(by[in.twin], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []any { return []any{chaosState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(chaosState), input.(chaosIn), output.(chaosOut)
		switch {
		case in.write && !out.known:
			return []any{s, chaosState{x: in.x, version: s.version}}
		case in.write && out.version > s.version:
			return []any{chaosState{x: in.x, version: out.version}}
		case in.write:
			return nil
		case out.x == s.x:
			return []any{s}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(chaosIn), output.(chaosOut)
		switch {
		case in.write && out.known:
			return fmt.Sprintf("%s set x=%d → v%d", in.twin, in.x, out.version)
		case in.write:
			return fmt.Sprintf("%s set x=%d → ?", in.twin, in.x)
		}
		return fmt.Sprintf("%s get → v%d x=%d", in.twin, out.version, out.x)
	},
	DescribeState: func(state any) string {
		s := state.(chaosState)
		return fmt.Sprintf("x=%d (≥ v%d)", s.x, s.version)
	},
}).ToModel()

// history records clients' operations on the cluster for porcupine.
type history struct {
	epoch  time.Time
	mu     sync.Mutex
	ops    []porcupine.Operation
	writes int
	acked  int
	// via records, per operation, the API address it went through.
	via []string
}

func newHistory() *history { return &history{epoch: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.epoch)) }

// run starts clients goroutines that, until ctx ends, write a unique x
// to a random one of twins twins (cell-1...) or read one back, through
// the API address pick returns, each call bounded by 2 s.
func (h *history) run(ctx context.Context, wg *sync.WaitGroup, seed int64, clients, twins int, pick func(r *rand.Rand) string, client func(addr string) pb.TwinServiceClient) {
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(seed), uint64(c+1)))
			for seq := int64(1); ctx.Err() == nil; seq++ {
				addr := pick(r)
				in := chaosIn{twin: fmt.Sprintf("cell-%d", 1+r.IntN(twins)), write: r.IntN(2) == 0, x: int64(c+1)*1_000_000 + seq}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				call := h.now()
				var out chaosOut
				if in.write {
					resp, err := client(addr).UpdateDesired(cctx, &pb.UpdateDesiredRequest{TwinId: in.twin,
						Values: map[string]*pb.Value{"x": {Kind: &pb.Value_IntValue{IntValue: in.x}}}})
					if err == nil {
						out = chaosOut{known: true, version: resp.Version}
					}
				} else if tw, err := readTwin(cctx, client(addr), in.twin, r.IntN(2) == 0); err == nil {
					out = chaosOut{known: true, version: tw.Version}
					if d := tw.Desired["x"]; d != nil {
						out.x = d.Value.GetIntValue()
					}
				}
				ret := h.now()
				cancel()
				if !out.known && !in.write {
					continue // a failed read says nothing
				}
				if !out.known {
					ret = -1 // may take effect any time until the end
				}
				h.mu.Lock()
				if in.write {
					h.writes++
					if out.known {
						h.acked++
					}
				}
				h.ops = append(h.ops, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				h.via = append(h.via, addr)
				h.mu.Unlock()
			}
		}()
	}
}

// readTwin reads one twin with GetTwin (answered by its owner) or, when
// list is true, out of ListTwins (the query's fan-out, answered from a
// quorum of each twin's replicas without activating it).
func readTwin(ctx context.Context, c pb.TwinServiceClient, id string, list bool) (*pb.Twin, error) {
	if !list {
		return c.GetTwin(ctx, &pb.GetTwinRequest{Id: id})
	}
	resp, err := c.ListTwins(ctx, &pb.ListTwinsRequest{PageSize: 1000})
	if err != nil {
		return nil, err
	}
	for _, tw := range resp.Twins {
		if tw.Id == id {
			return tw, nil
		}
	}
	return nil, fmt.Errorf("ListTwins lacks twin %s", id)
}

// check fails t unless the history is linearizable per twin; on failure
// it writes porcupine's visualisation, the history and the nodes' logs
// (to $PLANTWIN_CHAOS_OUT when set).
func (h *history) check(t *testing.T, nodes map[string]*node) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Logf("%d operations, %d writes (%d acknowledged)", len(h.ops), h.writes, h.acked)
	if h.acked < 100 {
		t.Fatalf("only %d writes acknowledged: the cluster hardly served", h.acked)
	}
	// A write whose outcome is unknown stays pending to the end. Those
	// whose value no read ever returned are dropped: "not applied" is
	// then always a valid choice for them (the model's reads look at x
	// only), and keeping them would make the check explode.
	end := h.now() + 1
	observed := map[int64]bool{}
	for _, op := range h.ops {
		if in := op.Input.(chaosIn); !in.write {
			observed[op.Output.(chaosOut).x] = true
		}
	}
	var kept []porcupine.Operation
	for _, op := range h.ops {
		if op.Return < 0 {
			if !observed[op.Input.(chaosIn).x] {
				continue
			}
			op.Return = end
		}
		kept = append(kept, op)
	}
	res, info := porcupine.CheckOperationsVerbose(chaosModel, kept, 2*time.Minute)
	if res == porcupine.Ok {
		return
	}
	dir := os.Getenv("PLANTWIN_CHAOS_OUT")
	if dir == "" {
		// Kept after the test (not t.TempDir), for the post-mortem.
		var err error
		if dir, err = os.MkdirTemp("", "plantwin-chaos-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Log(anomalies(kept))
	path := filepath.Join(dir, "chaos.html")
	if err := porcupine.VisualizePath(chaosModel, info, path); err != nil {
		t.Log(err)
	}
	var b []byte
	for _, op := range kept {
		in, out := op.Input.(chaosIn), op.Output.(chaosOut)
		b = fmt.Appendf(b, "%d %d %d %s %v %d %v %d %d\n", op.ClientId, op.Call, op.Return, in.twin, in.write, in.x, out.known, out.version, out.x)
	}
	_ = os.WriteFile(filepath.Join(dir, "chaos-history.txt"), b, 0o644)
	for name, n := range nodes {
		_ = os.WriteFile(filepath.Join(dir, name+".log"), []byte(n.logs.String()), 0o644)
	}
	t.Fatalf("history is %s, not linearizable; visualisation, history and node logs in %s", res, dir)
}

// openStores opens the nodes' stores (stopped) for the final checks.
func openStores(t *testing.T, dirs map[string]string) map[string]*persistence.Store {
	t.Helper()
	stores := map[string]*persistence.Store{}
	for name, dir := range dirs {
		s, err := persistence.Open(persistence.DefaultConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[name] = s
	}
	return stores
}

// cells names twins cell-1...cell-n for the journal check.
func cells(n int) map[string]int64 {
	out := map[string]int64{}
	for i := 1; i <= n; i++ {
		out[fmt.Sprintf("cell-%d", i)] = 0
	}
	return out
}

// clientCache keeps one API client per address.
func clientCache(t *testing.T) func(addr string) pb.TwinServiceClient {
	var mu sync.Mutex
	clients := map[string]pb.TwinServiceClient{}
	return func(addr string) pb.TwinServiceClient {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[addr]; ok {
			return c
		}
		c := (&node{t: t, addr: addr}).client()
		clients[addr] = c
		return c
	}
}

// TestClusterChaos runs three `plantwin serve` processes over eight
// twins while six clients write unique values and read them back through
// random nodes, and a seeded chaos loop SIGKILLs, SIGTERMs or freezes
// (SIGSTOP, a false suspicion: a zombie that wakes up still believing it
// owns its twins) a random node and restarts it, round after round. The
// recorded history must be linearizable per twin (porcupine), and
// wherever two stores hold the same journal version they hold the same
// entry written by the same activation.
func TestClusterChaos(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("PLANTWIN_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("chaos seed %d (PLANTWIN_CHAOS_SEED=%d reproduces the schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	base := freePorts(t, 3)
	gossip := func(i int) string { return "127.0.0.1:" + strconv.Itoa(base+i) }
	names := []string{"n1", "n2", "n3"}
	dirs := map[string]string{}
	for _, n := range names {
		dirs[n] = t.TempDir()
	}
	config := filepath.Join("testdata", "chaos.yaml")
	started := map[string]bool{}
	start := func(i int) *node {
		name := names[i]
		args := []string{"--config", config, "--node-name", name, "--data", dirs[name], "--bind", gossip(i),
			"--cluster-profile", "local", "--passivate-after", "3s", "--snapshot-every", "20"}
		if i > 0 || started[name] {
			// Every node but the founder's first start joins the others.
			for j := range names {
				if j != i {
					args = append(args, "--join", gossip(j))
				}
			}
		}
		started[name] = true
		return startNode(t, args...)
	}
	var mu sync.Mutex
	nodes := make([]*node, 3)
	for i := range names {
		nodes[i] = start(i)
	}
	waitFor(t, 60*time.Second, "three members", func() bool { return len(members(t, nodes[0].addr)) == 3 })

	h := newHistory()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.run(ctx, &wg, seed, 6, 8, func(r *rand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		return nodes[r.IntN(3)].addr
	}, clientCache(t))

	rounds := 8
	if s := os.Getenv("PLANTWIN_CHAOS_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	for round := range rounds {
		i := rng.IntN(3)
		mu.Lock()
		n := nodes[i]
		mu.Unlock()
		time.Sleep(time.Duration(2+rng.IntN(3)) * time.Second) // clients run on the cluster as it is
		switch kind := rng.IntN(3); kind {
		case 0:
			t.Logf("round %d: SIGKILL %s", round, names[i])
			n.kill()
		case 1:
			t.Logf("round %d: SIGTERM %s", round, names[i])
			n.stop()
		case 2:
			t.Logf("round %d: SIGSTOP %s for 6s", round, names[i])
			n.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(6 * time.Second)
			n.cmd.Process.Signal(syscall.SIGCONT)
			continue
		}
		time.Sleep(time.Duration(2+rng.IntN(3)) * time.Second) // the survivors serve alone
		restarted := start(i)
		mu.Lock()
		nodes[i] = restarted
		mu.Unlock()
	}
	time.Sleep(3 * time.Second) // a last stretch on the healed cluster
	stop()
	wg.Wait()
	h.check(t, map[string]*node{"n1": nodes[0], "n2": nodes[1], "n3": nodes[2]})

	for i := range names {
		nodes[i].stop()
	}
	checkJournalsAgree(t, openStores(t, dirs), cells(8))
}

// anomalies describes what makes a history suspicious, for the log of a
// failed check: acknowledged writes of one twin that share a version
// (two activations, or one request applied twice), and reads that
// returned an older version than a write acknowledged before they began.
func anomalies(ops []porcupine.Operation) string {
	byVersion := map[string]map[int64][]porcupine.Operation{}
	acked := map[string][]porcupine.Operation{}
	for _, op := range ops {
		in, out := op.Input.(chaosIn), op.Output.(chaosOut)
		if in.write && out.known {
			if byVersion[in.twin] == nil {
				byVersion[in.twin] = map[int64][]porcupine.Operation{}
			}
			byVersion[in.twin][out.version] = append(byVersion[in.twin][out.version], op)
			acked[in.twin] = append(acked[in.twin], op)
		}
	}
	var b strings.Builder
	n := 0
	for twin, vs := range byVersion {
		for v, same := range vs {
			if len(same) > 1 && n < 10 {
				n++
				fmt.Fprintf(&b, "\n%s: %d acknowledged writes got version %d:", twin, len(same), v)
				for _, op := range same {
					fmt.Fprintf(&b, " [client %d x=%d %d..%d]", op.ClientId, op.Input.(chaosIn).x, op.Call, op.Return)
				}
			}
		}
	}
	m := 0
	for _, r := range ops {
		in, out := r.Input.(chaosIn), r.Output.(chaosOut)
		if in.write || m >= 10 {
			continue
		}
		for _, wop := range acked[in.twin] {
			if wop.Return < r.Call && wop.Output.(chaosOut).version > out.version {
				m++
				fmt.Fprintf(&b, "\n%s: read [client %d %d..%d] returned v%d x=%d after write [client %d x=%d → v%d, returned %d]", in.twin, r.ClientId, r.Call, r.Return,
					out.version, out.x, wop.ClientId, wop.Input.(chaosIn).x, wop.Output.(chaosOut).version, wop.Return)
				break
			}
		}
	}
	if b.Len() == 0 {
		return "no duplicate versions and no stale reads: see the visualisation"
	}
	return "anomalies:" + b.String()
}
