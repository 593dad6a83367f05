package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// benchCluster is a cluster of `plantwin serve` processes for the
// benchmarks: node i binds gossip to base+i.
type benchCluster struct {
	b       *testing.B
	config  string
	profile string
	base    int
	dirs    []string
	nodes   []*node
	clients map[string]pb.TwinServiceClient
	mu      sync.Mutex
}

const benchTwins = 48

func newBenchCluster(b *testing.B, profile string) *benchCluster {
	config := filepath.Join(b.TempDir(), "cells.yaml")
	spec := fmt.Sprintf("models:\n  - name: cell\n    properties:\n      - {name: x, type: int, writable: true}\ntwins:\n  - {id: \"cell-{1..%d}\", model: cell}\n", benchTwins)
	if err := os.WriteFile(config, []byte(spec), 0o644); err != nil {
		b.Fatal(err)
	}
	return &benchCluster{b: b, config: config, profile: profile, base: freePorts(b, 3), clients: map[string]pb.TwinServiceClient{}}
}

// start starts node i (n1, n2, ...): the first founds the cluster, the
// others join it; a restart on the same data joins the others.
func (c *benchCluster) start(i int) *node {
	for len(c.dirs) <= i {
		c.dirs = append(c.dirs, c.b.TempDir())
		c.nodes = append(c.nodes, nil)
	}
	args := []string{"--config", c.config, "--node-name", "n" + strconv.Itoa(i+1), "--data", c.dirs[i],
		"--bind", "127.0.0.1:" + strconv.Itoa(c.base+i), "--cluster-profile", c.profile, "--passivate-after", "-1s"}
	if i > 0 {
		args = append(args, "--join", "127.0.0.1:"+strconv.Itoa(c.base))
	}
	n := startNode(c.b, args...)
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return n
}

func (c *benchCluster) client(i int) pb.TwinServiceClient {
	c.mu.Lock()
	addr := c.nodes[i].addr
	cl, ok := c.clients[addr]
	c.mu.Unlock()
	if !ok {
		cl = (&node{t: c.b, addr: addr}).client()
		c.mu.Lock()
		c.clients[addr] = cl
		c.mu.Unlock()
	}
	return cl
}

func (c *benchCluster) waitServing(n int) {
	waitFor(c.b, 90*time.Second, fmt.Sprintf("%d members alive", n), func() bool {
		k := 0
		for _, m := range members(c.b, c.nodes[0].addr) {
			if m.State == "alive" {
				k++
			}
		}
		return k == n
	})
}

func (c *benchCluster) stop() {
	for i := len(c.nodes) - 1; i >= 0; i-- {
		if c.nodes[i] != nil && c.nodes[i].cmd.ProcessState == nil {
			c.nodes[i].stop()
		}
	}
}

func set(ctx context.Context, cl pb.TwinServiceClient, twin string, x int64) error {
	_, err := cl.UpdateDesired(ctx, &pb.UpdateDesiredRequest{TwinId: twin, Values: map[string]*pb.Value{"x": {Kind: &pb.Value_IntValue{IntValue: x}}}})
	return err
}

// throughput runs writers writers through the cluster's nodes in turn
// for d and returns acknowledged updates per second.
func (c *benchCluster) throughput(writers int, d time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var acked atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		cl := c.client(w % len(c.nodes))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := int64(1); ctx.Err() == nil; x++ {
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				if set(rctx, cl, fmt.Sprintf("cell-%d", 1+(w+int(x))%benchTwins), x) == nil {
					acked.Add(1)
				}
				rcancel()
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(acked.Load()) / time.Since(start).Seconds()
}

// probe writes every twin every period through node via, and records
// when each write was acknowledged.
type probe struct {
	mu   sync.Mutex
	acks map[string][]time.Time
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func (c *benchCluster) probe(via int, period time.Duration) *probe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &probe{acks: map[string][]time.Time{}, stop: cancel}
	cl := c.client(via)
	for i := 1; i <= benchTwins; i++ {
		twin := fmt.Sprintf("cell-%d", i)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(period)
			defer t.Stop()
			for x := int64(1); ctx.Err() == nil; x++ {
				// A long deadline: the node retries the write itself (on
				// the new owner as soon as it knows it), so the ack time is
				// when the twin was available again, not when the probe
				// happened to ask.
				rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
				if set(rctx, cl, twin, x) == nil {
					p.mu.Lock()
					p.acks[twin] = append(p.acks[twin], time.Now())
					p.mu.Unlock()
				}
				rcancel()
				select {
				case <-ctx.Done():
				case <-t.C:
				}
			}
		}()
	}
	return p
}

// gaps returns, per twin, the longest time between two acknowledged
// writes in [from, to], less the probe period: how long it was
// unavailable around an event in that window. Sorted.
func (p *probe) gaps(from, to time.Time, period time.Duration) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for _, acks := range p.acks {
		var longest time.Duration
		prev := from
		for _, a := range acks {
			if a.Before(from) {
				continue
			}
			if a.After(to) {
				break
			}
			longest = max(longest, a.Sub(prev))
			prev = a
		}
		out = append(out, max(0, longest-period))
	}
	slices.Sort(out)
	return out
}

func percentile[T any](sorted []T, q float64) T {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// BenchmarkCluster measures three `plantwin serve` processes on this
// machine (they share its cores and disk): acknowledged writes per second
// with 1, 2 and 3 nodes (one node is the ceiling of the same run), the
// latency of a write and a read whose twin is on the answering node or
// on another, and how long twins are unavailable when a node joins, is
// drained and crashes (local profile; and the crash again with the lan
// profile). Run it with `make bench-cluster`; each figure is printed.
func BenchmarkCluster(b *testing.B) {
	for range b.N {
		benchCluster1(b)
	}
}

func benchCluster1(b *testing.B) {
	const period = 50 * time.Millisecond
	const writers = 32
	d := 8 * time.Second

	// Throughput with 1, 2, 3 nodes.
	c := newBenchCluster(b, "local")
	defer c.stop()
	c.start(0)
	c.waitServing(1)
	one := c.throughput(writers, d)
	b.Logf("1 node: %.0f acknowledged writes/s (%d writers; the ceiling of this run)", one, writers)
	c.start(1)
	c.waitServing(2)
	two := c.throughput(writers, d)
	b.Logf("2 nodes: %.0f acknowledged writes/s (%.0f%% of 1 node)", two, 100*two/one)

	// Join: unavailability while n3 joins under the probe.
	p := c.probe(0, period)
	time.Sleep(2 * time.Second)
	joined := time.Now()
	c.start(2)
	c.waitServing(3)
	time.Sleep(3 * time.Second)
	join := p.gaps(joined.Add(-time.Second), time.Now(), period)
	p.stop()
	p.wg.Wait()
	b.Logf("join of n3: twins unavailable max %v, median %v", join[len(join)-1].Round(time.Millisecond), percentile(join, 0.5).Round(time.Millisecond))
	three := c.throughput(writers, d)
	b.Logf("3 nodes: %.0f acknowledged writes/s (%.0f%% of 1 node)", three, 100*three/one)

	// Latency through n1, twin local vs on another node.
	owner := map[string]string{}
	cl := c.client(0)
	for i := 1; i <= benchTwins; i++ {
		tw, err := cl.GetTwin(context.Background(), &pb.GetTwinRequest{Id: fmt.Sprintf("cell-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		owner[tw.Id] = tw.Node
	}
	lat := map[string][]time.Duration{}
	for round := range 20 {
		for i := 1; i <= benchTwins; i++ {
			twin := fmt.Sprintf("cell-%d", i)
			where := "remote"
			if owner[twin] == "n1" {
				where = "local"
			}
			t0 := time.Now()
			if err := set(context.Background(), cl, twin, int64(1000+round)); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := cl.GetTwin(context.Background(), &pb.GetTwinRequest{Id: twin}); err != nil {
				b.Fatal(err)
			}
			lat["write "+where] = append(lat["write "+where], t1.Sub(t0))
			lat["read "+where] = append(lat["read "+where], time.Since(t1))
		}
	}
	for _, k := range []string{"write local", "write remote", "read local", "read remote"} {
		v := lat[k]
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		b.Logf("%s (through n1): p50 %v, p99 %v, %d calls", k, percentile(v, 0.5).Round(10*time.Microsecond), percentile(v, 0.99).Round(10*time.Microsecond), len(v))
	}

	// A query through n1 fans out to the three nodes (one message each)
	// and reads every twin from a quorum of its replicas.
	var lists []time.Duration
	for range 50 {
		t0 := time.Now()
		resp, err := cl.ListTwins(context.Background(), &pb.ListTwinsRequest{PageSize: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Twins) != benchTwins {
			b.Fatalf("ListTwins: %d twins, want %d", len(resp.Twins), benchTwins)
		}
		lists = append(lists, time.Since(t0))
	}
	slices.Sort(lists)
	b.Logf("ListTwins of all %d twins (through n1): p50 %v, p99 %v, %d calls", benchTwins, percentile(lists, 0.5).Round(10*time.Microsecond), percentile(lists, 0.99).Round(10*time.Microsecond), len(lists))

	// Drain of n2, then its stop and restart; then a crash of n2.
	p = c.probe(0, period)
	time.Sleep(2 * time.Second)
	drained := time.Now()
	out, err := runCLI(b, "cluster", "drain", "n2", "--server", c.nodes[0].addr)
	if err != nil {
		b.Fatalf("drain: %v\n%s", err, out)
	}
	time.Sleep(3 * time.Second)
	drain := p.gaps(drained.Add(-time.Second), time.Now(), period)
	b.Logf("drain of n2 (%s): twins unavailable max %v, median %v", out[:len(out)-1], drain[len(drain)-1].Round(time.Millisecond), percentile(drain, 0.5).Round(time.Millisecond))
	c.nodes[1].stop()
	c.start(1)
	c.waitServing(3)
	// The probe's writes bring n2's twins back to it: wait until it runs
	// them, or the crash would measure nothing.
	waitFor(b, 30*time.Second, "n2 running twins again", func() bool {
		for _, m := range members(b, c.nodes[0].addr) {
			if m.Name == "n2" {
				return m.Twins > 0
			}
		}
		return false
	})
	time.Sleep(2 * time.Second)
	crashed := time.Now()
	c.nodes[1].kill()
	time.Sleep(15 * time.Second)
	crashLocal := p.gaps(crashed.Add(-time.Second), time.Now(), period)
	p.stop()
	p.wg.Wait()
	b.Logf("SIGKILL of n2, local profile: twins unavailable max %v, median %v", crashLocal[len(crashLocal)-1].Round(time.Millisecond), percentile(crashLocal, 0.5).Round(time.Millisecond))
	c.stop()

	b.ReportMetric(one, "writes/s-1node")
	b.ReportMetric(two, "writes/s-2nodes")
	b.ReportMetric(three, "writes/s-3nodes")
	b.ReportMetric(join[len(join)-1].Seconds(), "s-join-max")
	b.ReportMetric(drain[len(drain)-1].Seconds(), "s-drain-max")
	b.ReportMetric(crashLocal[len(crashLocal)-1].Seconds(), "s-crash-local-max")
}

// BenchmarkClusterCrash measures how long twins are unavailable when one
// of three nodes is SIGKILLed, per memberlist profile: the probe writes
// every twin every 50 ms through n1 and the gap around the kill is
// taken per twin. Run it with `make bench-cluster`.
// PLANTWIN_BENCH_PROFILES picks the profiles (space-separated);
// PLANTWIN_BENCH_DUMP=PREFIX writes n1's and n3's logs to PREFIX-n1 and
// PREFIX-n3 and prints every gap over 1 s, to see where the time went.
func BenchmarkClusterCrash(b *testing.B) {
	const period = 50 * time.Millisecond
	for _, profile := range strings.Fields(envOr("PLANTWIN_BENCH_PROFILES", "lan lan-conservative")) {
		b.Run(profile, func(b *testing.B) {
			l := newBenchCluster(b, profile)
			defer l.stop()
			for i := range 3 {
				l.start(i)
			}
			l.waitServing(3)
			p := l.probe(0, period)
			time.Sleep(3 * time.Second)
			crashed := time.Now()
			l.nodes[1].kill()
			time.Sleep(20 * time.Second)
			gaps := p.gaps(crashed.Add(-time.Second), time.Now(), period)
			p.stop()
			p.wg.Wait()
			b.Logf("SIGKILL of n2, %s profile: twins unavailable max %v, median %v", profile, gaps[len(gaps)-1].Round(time.Millisecond), percentile(gaps, 0.5).Round(time.Millisecond))
			b.ReportMetric(gaps[len(gaps)-1].Seconds(), "s-crash-max")
			if f := os.Getenv("PLANTWIN_BENCH_DUMP"); f != "" {
				_ = os.WriteFile(f+"-n1", []byte(l.nodes[0].logs.String()), 0o644)
				_ = os.WriteFile(f+"-n3", []byte(l.nodes[2].logs.String()), 0o644)
				fmt.Fprintf(os.Stderr, "killed at %s\n", crashed.UTC().Format(time.RFC3339Nano))
				p.mu.Lock()
				for tw, acks := range p.acks {
					for i := 1; i < len(acks); i++ {
						if acks[i].Sub(acks[i-1]) > time.Second {
							fmt.Fprintf(os.Stderr, "%s gap %s -> %s\n", tw, acks[i-1].UTC().Format("15:04:05.000"), acks[i].UTC().Format("15:04:05.000"))
						}
					}
				}
				p.mu.Unlock()
			}
		})
	}
}
