package main

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// TestClusterReadsFollowTheLog: a node that was down while a twin was
// written holds an old copy of the twin's log until the twin is written
// again. Reads of the log through that node (audit here; history takes
// the same path) are answered by a member that holds the acknowledged
// log, and list every acknowledged entry; the node's own store, opened
// afterwards, shows it still lacked them. A query's fan-out (ListTwins)
// through it answers the acknowledged version too.
func TestClusterReadsFollowTheLog(t *testing.T) {
	base := freePorts(t, 3)
	gossip := func(i int) string { return "127.0.0.1:" + strconv.Itoa(base+i) }
	names := []string{"n1", "n2", "n3"}
	dirs := map[string]string{}
	for _, n := range names {
		dirs[n] = t.TempDir()
	}
	start := func(i int) *node {
		args := []string{"--config", filepath.Join("testdata", "chaos.yaml"), "--node-name", names[i], "--data", dirs[names[i]],
			"--bind", gossip(i), "--cluster-profile", "local", "--passivate-after", "-1s"}
		if i > 0 {
			args = append(args, "--join", gossip(0))
		}
		return startNode(t, args...)
	}
	nodes := []*node{start(0), start(1), start(2)}
	waitFor(t, 60*time.Second, "three members", func() bool { return len(members(t, nodes[0].addr)) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c1 := nodes[0].client()
	const twin = "cell-1"
	if err := set(ctx, c1, twin, 1); err != nil {
		t.Fatal(err)
	}

	nodes[2].kill()
	waitMemberState(t, 30*time.Second, nodes[0].addr, "n3", "down")
	const writes = 5
	for x := int64(2); x < 2+writes; x++ {
		if err := set(ctx, c1, twin, x); err != nil {
			t.Fatal(err)
		}
	}
	want, err := c1.GetAudit(ctx, &pb.GetAuditRequest{TwinId: twin})
	if err != nil {
		t.Fatal(err)
	}
	nodes[2] = start(2)
	waitFor(t, 60*time.Second, "n3 alive again", func() bool {
		n := 0
		for _, m := range members(t, nodes[0].addr) {
			if m.State == "alive" {
				n++
			}
		}
		return n == 3
	})

	c3 := nodes[2].client()
	got, err := c3.GetAudit(ctx, &pb.GetAuditRequest{TwinId: twin})
	if err != nil {
		t.Fatalf("GetAudit through n3: %v", err)
	}
	if len(got.Entries) != len(want.Entries) || len(want.Entries) < 1+writes {
		t.Fatalf("GetAudit through n3: %d entries, through n1 %d (want at least %d)", len(got.Entries), len(want.Entries), 1+writes)
	}
	for i := range want.Entries {
		if got.Entries[i].Version != want.Entries[i].Version || got.Entries[i].Detail != want.Entries[i].Detail {
			t.Errorf("audit entry %d: through n3 %v, through n1 %v", i, got.Entries[i], want.Entries[i])
		}
	}
	list, err := c3.ListTwins(ctx, &pb.ListTwinsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	last := want.Entries[len(want.Entries)-1].Version
	for _, tw := range list.Twins {
		if tw.Id == twin && tw.Version < last {
			t.Errorf("ListTwins through n3: %s at version %d, want %d", twin, tw.Version, last)
		}
	}

	for _, n := range []int{2, 1, 0} {
		nodes[n].stop()
	}
	stores := openStores(t, map[string]string{"n3": dirs["n3"]})
	held := 0
	if err := stores["n3"].ReadAudit(twin, 0, 0, func(int64, []byte) error { held++; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("n3's own store holds %d of the twin's %d audit entries; reads through n3 listed all", held, len(want.Entries))
	if held >= len(want.Entries) {
		t.Errorf("n3's store holds all %d audit entries: the test did not make it lag", held)
	}
}

// TestClusterPlacementAffinity: the founding node's --placement-affinity
// keeps each demo twin on its parent line's node, on every node (n2 is
// started without the flag and follows the roster).
func TestClusterPlacementAffinity(t *testing.T) {
	seed := freePorts(t, 1)
	seedAddr := "127.0.0.1:" + strconv.Itoa(seed)
	n1 := startNode(t, "--node-name", "n1", "--data", t.TempDir(), "--demo", "--demo-feed", "direct", "--bind", seedAddr,
		"--cluster-profile", "local", "--placement-affinity")
	n2 := startNode(t, "--node-name", "n2", "--data", t.TempDir(), "--demo", "--join", seedAddr, "--cluster-profile", "local")
	waitFor(t, 60*time.Second, "two members", func() bool { return len(members(t, n1.addr)) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, n := range map[string]*node{"n1": n1, "n2": n2} {
		c := n.client()
		lctx, lcancel := context.WithTimeout(ctx, 20*time.Second)
		list, err := c.ListTwins(lctx, &pb.ListTwinsRequest{PageSize: 1000})
		lcancel()
		if err != nil {
			t.Fatalf("ListTwins through %s: %v", name, err)
		}
		nodeOf := map[string]string{}
		parentOf := map[string]string{}
		for _, tw := range list.Twins {
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			got, err := c.GetTwin(cctx, &pb.GetTwinRequest{Id: tw.Id})
			ccancel()
			if err != nil {
				t.Fatalf("GetTwin %s through %s: %v", tw.Id, name, err)
			}
			nodeOf[tw.Id], parentOf[tw.Id] = got.Node, tw.Parent
		}
		apart, used := 0, map[string]bool{}
		for id, parent := range parentOf {
			used[nodeOf[id]] = true
			if parent != "" && nodeOf[id] != nodeOf[parent] {
				apart++
				t.Errorf("through %s: twin %s answered on %s, its parent %s on %s", name, id, nodeOf[id], parent, nodeOf[parent])
			}
		}
		t.Logf("through %s: %d twins on nodes %v, %d apart from their parent", name, len(parentOf), used, apart)
	}
}
