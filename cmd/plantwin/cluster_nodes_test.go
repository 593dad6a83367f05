package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
)

// clusterMember is one entry of `plantwin cluster members -o json`.
type clusterMember struct {
	Name, Address, State, Role string
	Twins                      int
}

func members(t testing.TB, server string) []clusterMember {
	t.Helper()
	out, err := runCLI(t, "cluster", "members", "--server", server, "-o", "json")
	if err != nil {
		return nil
	}
	var ms []clusterMember
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatalf("cluster members -o json: %v\n%s", err, out)
	}
	return ms
}

// waitMemberState waits until the node at addr lists member name in state
// (alive, draining, down).
func waitMemberState(t testing.TB, timeout time.Duration, addr, name, state string) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s to list %s as %s", addr, name, state), func() bool {
		for _, m := range members(t, addr) {
			if m.Name == name {
				return m.State == state
			}
		}
		return false
	})
}

// waitServing waits until the node at addr lists n members alive and
// running twins.
func waitServing(t testing.TB, timeout time.Duration, addr string, n int) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d members alive and running twins", n), func() bool {
		k := 0
		for _, m := range members(t, addr) {
			if m.State == "alive" && m.Twins > 0 {
				k++
			}
		}
		return k == n
	})
}

// monotonic polls every twin's version through one node for as long as it
// runs and records any twin whose version went backwards between two
// answers: an acknowledged state must never be followed by an older one,
// whichever node answers and whatever moved in between.
type monotonic struct {
	mu        sync.Mutex
	last      map[string]int64
	backwards []string
	reads     int
}

func (m *monotonic) run(ctx context.Context, addr func() string, client func(string) pb.TwinServiceClient) {
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := client(addr()).ListTwins(rctx, &pb.ListTwinsRequest{PageSize: 1000})
		cancel()
		if err != nil {
			select { // a node is down or moving twins: ask again
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		m.mu.Lock()
		m.reads++
		for _, tw := range resp.Twins {
			if v, ok := m.last[tw.Id]; ok && tw.Version < v {
				m.backwards = append(m.backwards, fmt.Sprintf("%s: %d after %d", tw.Id, tw.Version, v))
			}
			m.last[tw.Id] = max(m.last[tw.Id], tw.Version)
		}
		m.mu.Unlock()
	}
}

// TestClusterJoinKillRestart runs three `plantwin serve` processes as one
// cluster under the demo plant's continuous ingest (fed on n1, the node
// started without --join): n2 and n3 join and take their share of the
// twins; n2 is SIGKILLed, ingest goes on, n2 restarts on its data; n3 is
// stopped with SIGTERM and restarted. Afterwards every twin answers on
// every node with at least its newest acknowledged version, readers never
// saw a version go backwards, every acknowledged sample is in the history
// of a majority of the three stores, and wherever two stores hold the
// same journal version they hold the same entry from the same activation.
func TestClusterJoinKillRestart(t *testing.T) {
	seed := freePorts(t, 1)
	seedAddr := "127.0.0.1:" + strconv.Itoa(seed)
	acks := filepath.Join(t.TempDir(), "acks")
	dirs := map[string]string{"n1": t.TempDir(), "n2": t.TempDir(), "n3": t.TempDir()}
	common := []string{"--demo", "--demo-feed", "direct", "--cluster-profile", "local", "--snapshot-every", "50", "--metrics", "127.0.0.1:0"}
	start := func(name string) *node {
		args := append([]string{"--node-name", name, "--data", dirs[name]}, common...)
		if name == "n1" {
			args = append(args, "--bind", seedAddr, "--demo-period", "50ms", "--demo-ack-log", acks)
		} else {
			args = append(args, "--join", seedAddr)
		}
		return startNode(t, args...)
	}
	var mu sync.Mutex
	nodes := map[string]*node{"n1": start("n1")}
	addrOf := func(name string) func() string {
		return func() string { mu.Lock(); defer mu.Unlock(); return nodes[name].addr }
	}
	nodes["n2"], nodes["n3"] = start("n2"), start("n3")
	waitFor(t, 60*time.Second, "three members, each owning twins", func() bool {
		ms := members(t, nodes["n1"].addr)
		n := 0
		for _, m := range ms {
			if m.State == "alive" && m.Twins > 0 {
				n++
			}
		}
		return n == 3
	})

	conns := map[string]pb.TwinServiceClient{}
	var cmu sync.Mutex
	client := func(addr string) pb.TwinServiceClient {
		cmu.Lock()
		defer cmu.Unlock()
		if c, ok := conns[addr]; ok {
			return c
		}
		c := (&node{t: t, addr: addr}).client()
		conns[addr] = c
		return c
	}
	ctx, stopReaders := context.WithCancel(context.Background())
	readers := map[string]*monotonic{}
	var wg sync.WaitGroup
	for _, name := range []string{"n1", "n2", "n3"} {
		m := &monotonic{last: map[string]int64{}}
		readers[name] = m
		wg.Add(1)
		go func() { defer wg.Done(); m.run(ctx, addrOf(name), client) }()
	}
	defer func() { stopReaders(); wg.Wait() }()

	waitAcks := func(n int, what string) {
		t.Helper()
		from := countLines(acks)
		waitFor(t, 90*time.Second, what, func() bool { return countLines(acks) >= from+n })
	}
	waitAcks(1000, "1,000 acknowledged batches over three nodes")

	t.Log("SIGKILL n2")
	killed := time.Now()
	nodes["n2"].kill()
	waitAcks(1000, "1,000 acknowledged batches after n2's SIGKILL")
	t.Logf("1,000 batches acknowledged %v after the SIGKILL", time.Since(killed).Round(time.Millisecond))
	waitMemberState(t, 30*time.Second, nodes["n1"].addr, "n2", "down")
	mu.Lock()
	nodes["n2"] = start("n2")
	mu.Unlock()
	waitAcks(500, "500 acknowledged batches after n2's restart")

	out, err := runCLI(t, "cluster", "drain", "n3", "--server", nodes["n1"].addr)
	if err != nil || !strings.Contains(out, "drained n3") {
		t.Fatalf("cluster drain n3: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
	for _, m := range members(t, nodes["n1"].addr) {
		if m.Name == "n3" && m.Twins != 0 {
			t.Errorf("after the drain n3 runs %d twins, want none", m.Twins)
		}
	}
	waitMemberState(t, 10*time.Second, nodes["n1"].addr, "n3", "draining")
	waitAcks(500, "500 acknowledged batches after n3's drain")
	t.Log("SIGTERM n3")
	nodes["n3"].stop()
	waitAcks(500, "500 acknowledged batches while n3 is down")
	mu.Lock()
	nodes["n3"] = start("n3")
	mu.Unlock()
	waitServing(t, 60*time.Second, nodes["n1"].addr, 3)
	waitAcks(500, "500 acknowledged batches after n3's restart")

	acked := readAcks(t, acks)
	maxAcked := map[string]int64{}
	for _, a := range acked {
		maxAcked[a.twin] = max(maxAcked[a.twin], a.version)
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		got := nodes[name].versions()
		if len(got) != 124 {
			t.Errorf("%s lists %d twins, want the demo's 124", name, len(got))
		}
		for twin, v := range maxAcked {
			if got[twin] < v {
				t.Errorf("%s: twin %s at version %d, but version %d was acknowledged", name, twin, got[twin], v)
			}
		}
	}
	stopReaders()
	wg.Wait()
	// The queries fanned out: most twins were read from a quorum of
	// their replicas' stores, without asking (or activating) the twin.
	for _, name := range []string{"n1", "n2", "n3"} {
		q := nodes[name].metric(`plantwin_cluster_reads_total{path="quorum"}`)
		o := nodes[name].metric(`plantwin_cluster_reads_total{path="owner"}`)
		t.Logf("queries through %s since its last start: %.0f twins read from a quorum of replicas, %.0f asked of their owner", name, q, o)
		if q == 0 || q < o {
			t.Errorf("queries through %s: %.0f twins read from a quorum, %.0f asked of their owner: want most from a quorum", name, q, o)
		}
	}
	for name, m := range readers {
		m.mu.Lock()
		t.Logf("reader through %s: %d full reads", name, m.reads)
		if m.reads == 0 {
			t.Errorf("reader through %s never got an answer", name)
		}
		for _, b := range m.backwards {
			t.Errorf("reader through %s saw a version go backwards: %s", name, b)
		}
		m.mu.Unlock()
	}
	for _, name := range []string{"n3", "n2", "n1"} {
		nodes[name].stop()
	}

	stores := openStores(t, dirs)
	checkHistoryOn(t, stores, acked, len(stores)/2+1)
	checkJournalsAgree(t, stores, maxAcked)
}

// checkHistoryOn: every acknowledged sample is in the history of at
// least want of the stores.
func checkHistoryOn(t *testing.T, stores map[string]*persistence.Store, acked []ack, want int) {
	t.Helper()
	short := 0
	for _, a := range acked {
		holders := 0
		for _, s := range stores {
			found := false
			err := s.ReadHistory(a.twin, a.property, a.srcTime, a.srcTime+1, func(p persistence.HistoryPoint) error {
				var hv pb.HistoryValue
				if err := proto.Unmarshal(p.Data, &hv); err != nil {
					return err
				}
				if p.Version <= a.version && simulations.ValueText(hv.Value) == a.value {
					found = true
				}
				return nil
			})
			if err != nil {
				t.Fatalf("read history of %s.%s: %v", a.twin, a.property, err)
			}
			if found {
				holders++
			}
		}
		if holders < want {
			short++
			if short <= 5 {
				t.Errorf("acknowledged update held by %d of %d stores: twin %s version %d %s=%s", holders, len(stores), a.twin, a.version, a.property, a.value)
			}
		}
	}
	if short > 0 {
		t.Fatalf("%d of %d acknowledged updates are on fewer than %d stores", short, len(acked), want)
	}
	t.Logf("%d acknowledged updates, each on at least %d of the %d stores", len(acked), want, len(stores))
}

// checkJournalsAgree: wherever two stores hold a twin's journal entry of
// the same version written by the same activation epoch, it is the same
// entry — no epoch was used by two activations — and entry epochs never
// decrease with the version. Entries of one version from different epochs
// are allowed: a replica that lagged keeps a never-acknowledged tail of an
// older activation until the twin's next write reaches it (no repair sweep
// runs); they are counted in the log.
func checkJournalsAgree(t *testing.T, stores map[string]*persistence.Store, twinsSeen map[string]int64) {
	t.Helper()
	type key struct {
		version int64
		epoch   uint64
	}
	type entry struct {
		data []byte
		node string
	}
	compared, divergent := 0, 0
	for twin := range twinsSeen {
		seen := map[key]entry{}
		epochs := map[int64]uint64{}
		for name, s := range stores {
			var prev uint64
			err := s.ReadJournal(twin, 0, func(v int64, e uint64, data []byte) error {
				if e < prev {
					t.Errorf("%s: twin %s version %d written by epoch %d after epoch %d", name, twin, v, e, prev)
				}
				prev = e
				if o, ok := epochs[v]; ok && o != e {
					divergent++
				}
				epochs[v] = e
				k := key{v, e}
				if o, ok := seen[k]; ok {
					compared++
					if !bytes.Equal(o.data, data) {
						t.Errorf("twin %s version %d epoch %d: different entries on %s and %s: two activations wrote with one epoch", twin, v, e, o.node, name)
					}
					return nil
				}
				seen[k] = entry{bytes.Clone(data), name}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if compared == 0 {
		t.Fatal("no journal entry is on two stores: nothing was replicated")
	}
	t.Logf("%d journal entries compared across stores; %d versions held from different epochs on different stores (unacknowledged tails of lagging replicas)", compared, divergent)
}

// TestClusterFourthNodeJoins grows a three-node cluster under the demo's
// ingest to four: beyond the replica count (3), the join moves the data
// of every twin whose replica set changes to a majority of its new set
// before the roster settles. The fourth node takes its share of twins;
// after it is SIGKILLed every twin still answers at or past its newest
// acknowledged version, and every acknowledged sample is on at least two
// stores (a majority of the twin's three replicas).
func TestClusterFourthNodeJoins(t *testing.T) {
	seed := freePorts(t, 1)
	seedAddr := "127.0.0.1:" + strconv.Itoa(seed)
	acks := filepath.Join(t.TempDir(), "acks")
	dirs := map[string]string{}
	nodes := map[string]*node{}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	var watch *watchRecord
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("n%d", i)
		dirs[name] = t.TempDir()
		args := []string{"--node-name", name, "--data", dirs[name], "--demo", "--demo-feed", "direct", "--cluster-profile", "local"}
		if i == 1 {
			args = append(args, "--bind", seedAddr, "--demo-period", "100ms", "--demo-ack-log", acks)
		} else {
			args = append(args, "--join", seedAddr)
		}
		if i == 4 {
			waitFor(t, 60*time.Second, "acknowledged batches on three nodes", func() bool { return countLines(acks) >= 500 })
			// A watch of every twin through n2, which owns only some:
			// the others' changes are relayed by their nodes.
			watch = recordWatch(watchCtx, nodes["n2"].client())
		}
		nodes[name] = startNode(t, args...)
	}
	// The coordinator logs the settled roster after n4 has it: wait.
	waitFor(t, 10*time.Second, "n4's join to settle roster v4", func() bool {
		for _, name := range []string{"n1", "n2", "n3"} { // whichever member coordinated the join
			if strings.Contains(nodes[name].logs.String(), `"msg":"node joined the roster","component":"roster","node":"n4","version":4,"members":["n1","n2","n3","n4"]`) {
				return true
			}
		}
		return false
	})
	waitServing(t, 60*time.Second, nodes["n1"].addr, 4)
	from := countLines(acks)
	waitFor(t, 60*time.Second, "500 acknowledged batches over four nodes", func() bool { return countLines(acks) >= from+500 })
	nodes["n4"].kill()
	from = countLines(acks)
	waitFor(t, 60*time.Second, "500 acknowledged batches after n4's SIGKILL", func() bool { return countLines(acks) >= from+500 })

	// n4 is gone for good: take it out of the roster. Removing a live,
	// serving member, or the coordinator itself, is refused.
	for _, bad := range []struct{ node, via, want string }{
		{"n2", "n1", "drain it first"},
		{"n1", "n1", "cannot remove itself"},
		{"n9", "n1", "not in roster"},
	} {
		out, err := runCLI(t, "cluster", "remove", bad.node, "--server", nodes[bad.via].addr)
		if err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("cluster remove %s via %s: %v\n%s\nwant an error saying %q", bad.node, bad.via, err, out, bad.want)
		}
	}
	waitMemberState(t, 30*time.Second, nodes["n1"].addr, "n4", "down")
	out, err := runCLI(t, "cluster", "remove", "n4", "--server", nodes["n1"].addr)
	if err != nil || !strings.Contains(out, "removed n4: roster v5 is n1, n2, n3") {
		t.Fatalf("cluster remove n4: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
	for _, m := range members(t, nodes["n2"].addr) {
		if m.Name == "n4" {
			t.Errorf("n2 still lists n4 after its removal: %+v", m)
		}
	}
	from = countLines(acks)
	waitFor(t, 60*time.Second, "500 acknowledged batches after n4's removal", func() bool { return countLines(acks) >= from+500 })

	acked := readAcks(t, acks)
	maxAcked := map[string]int64{}
	for _, a := range acked {
		maxAcked[a.twin] = max(maxAcked[a.twin], a.version)
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		got := nodes[name].versions()
		for twin, v := range maxAcked {
			if got[twin] < v {
				t.Errorf("%s: twin %s at version %d, but version %d was acknowledged", name, twin, got[twin], v)
			}
		}
	}
	// The watch through n2 went on through n4's join and SIGKILL and
	// shows every twin at or past its newest acknowledged version,
	// whichever node committed it, with no version skipped or repeated.
	var behind []string
	waitFor(t, 15*time.Second, "the watch through n2 to show every acknowledged version", func() bool {
		behind = watch.behind(maxAcked)
		return len(behind) == 0 || watch.err != nil
	})
	watch.mu.Lock()
	t.Logf("watch through n2: %d changes, %d lags (resynchronised)", watch.changes, watch.lagged)
	if watch.err != nil || !watch.synced {
		t.Errorf("watch through n2: synced %v, ended with %v", watch.synced, watch.err)
	}
	for _, v := range watch.violations {
		t.Errorf("watch through n2: %s", v)
	}
	watch.mu.Unlock()
	for _, b := range behind {
		t.Errorf("watch through n2 never showed twin %s", b)
	}
	stopWatch()
	for _, name := range []string{"n3", "n2", "n1"} {
		nodes[name].stop()
	}
	stores := openStores(t, dirs)
	checkHistoryOn(t, stores, acked, 2)
	checkJournalsAgree(t, stores, maxAcked)
}
