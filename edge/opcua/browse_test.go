package opcua

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/stats"
	"github.com/gopcua/opcua/ua"

	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/simulations"
)

// browseVariables are the simulated press's variables, one per type the
// simulation serves.
var browseVariables = []struct {
	name string
	val  any
}{
	{"Press01.Temperature", 21.5},
	{"Press01.Pressure", float32(3.2)},
	{"Press01.Strokes", int32(12)},
	{"Press01.Total", int64(1 << 40)},
	{"Press01.Running", true},
	{"Press01.Recipe", "B-7"},
}

// browseClient starts a simulated press and returns a client of it.
func browseClient(t *testing.T) *opcua.Client {
	t.Helper()
	srv := simulations.NewOPCUAServer()
	for _, v := range browseVariables {
		if err := srv.AddVariable(v.name, v.val); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return dialForBrowse(t, srv.Endpoint())
}

func dialForBrowse(t *testing.T, endpoint string) *opcua.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, endpoint, edge.DefaultOPCUAConnector(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// requests returns how many Read and Browse requests gopcua's clients
// have sent in this process.
func requests() (reads, browses int64) {
	get := func(k string) int64 {
		if v, ok := stats.Client().Get(k).(*expvar.Int); ok {
			return v.Value()
		}
		return 0
	}
	return get("Read"), get("Browse")
}

// browseAll collects a Browse.
func browseAll(t *testing.T, c *opcua.Client, root *ua.NodeID, o BrowseOptions) ([]BrowseNode, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var nodes []BrowseNode
	err := Browse(ctx, c, root, o, func(n BrowseNode) error {
		nodes = append(nodes, n)
		return nil
	})
	return nodes, err
}

// checkTree checks that nodes are a pre-order walk (each node's parent
// comes before it) visiting each node id once.
func checkTree(t *testing.T, nodes []BrowseNode) {
	t.Helper()
	seen := map[string]bool{}
	for i, n := range nodes {
		if seen[n.NodeID] {
			t.Errorf("node %s visited twice", n.NodeID)
		}
		seen[n.NodeID] = true
		if i == 0 && n.Depth != 0 || i > 0 && (n.Depth < 1 || n.Depth > nodes[i-1].Depth+1) {
			t.Errorf("node %d (%s) at depth %d after depth %d", i, n.NodeID, n.Depth, nodes[max(i-1, 0)].Depth)
		}
	}
}

// subtree returns the nodes under the node with id nid, which it requires.
func subtree(t *testing.T, nodes []BrowseNode, nid string) []BrowseNode {
	t.Helper()
	for i, n := range nodes {
		if n.NodeID != nid {
			continue
		}
		j := i + 1
		for j < len(nodes) && nodes[j].Depth > n.Depth {
			j++
		}
		return nodes[i:j]
	}
	t.Fatalf("no node %s in the walk", nid)
	return nil
}

func TestBrowseFindsTheSimulatedVariables(t *testing.T) {
	c := browseClient(t)
	reads, browses := requests()
	nodes, err := browseAll(t, c, nil, BrowseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, nodes)
	// Batched: the simulated server states a limit of 32 attributes per
	// Read (about ten variables) and none for Browse (100 nodes each).
	reads2, browses2 := requests()
	vars := 0
	for _, n := range nodes {
		if n.NodeClass == "Variable" {
			vars++
		}
	}
	t.Logf("%d nodes, %d variables: %d Read and %d Browse requests", len(nodes), vars, reads2-reads, browses2-browses)
	if reads2-reads > int64(vars)/5 || browses2-browses > int64(len(nodes))/20 {
		t.Errorf("%d Read and %d Browse requests for %d nodes, %d variables", reads2-reads, browses2-browses, len(nodes), vars)
	}
	if diff := cmp.Diff(BrowseNode{NodeID: "i=85", BrowseName: "Objects", DisplayName: "Objects", NodeClass: "Object"}, nodes[0]); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
	variable := func(name, dataType string) BrowseNode {
		return BrowseNode{Depth: 2, NodeID: "ns=2;s=" + name, BrowseName: "2:" + name, DisplayName: name, NodeClass: "Variable", DataType: dataType, Access: "rw"}
	}
	want := []BrowseNode{
		{Depth: 1, NodeID: "ns=2;i=85", BrowseName: "2:Simulation", DisplayName: "Simulation", NodeClass: "Object"},
		variable("Press01.Temperature", "Double"),
		variable("Press01.Pressure", "Float"),
		variable("Press01.Strokes", "Int32"),
		variable("Press01.Total", "Int64"),
		variable("Press01.Running", "Boolean"),
		variable("Press01.Recipe", "String"),
	}
	if diff := cmp.Diff(want, subtree(t, nodes, "ns=2;i=85")); diff != "" {
		t.Errorf("simulation folder (-want +got):\n%s", diff)
	}
	// Namespace 0 is walked too, and the ids it prints parse back.
	server := subtree(t, nodes, "i=2253")
	if len(server) < 10 || server[0].BrowseName != "Server" {
		t.Errorf("the Server object has %d nodes: %v", len(server), server[:min(len(server), 3)])
	}
	for _, n := range nodes {
		nid, err := ua.ParseNodeID(n.NodeID)
		if err != nil || nid.String() != n.NodeID {
			t.Errorf("node id %q does not parse back: %v %v", n.NodeID, nid, err)
		}
	}

	// From the folder, as --root parses it (a four-byte node id), the
	// variables one level up. (The simulation cannot read the folder's
	// own attributes.)
	folder, err := ua.ParseNodeID("ns=2;i=85")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := browseAll(t, c, folder, BrowseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want[1:] {
		want[1+i].Depth = 1
	}
	if len(sub) == 0 || sub[0].NodeID != "ns=2;i=85" {
		t.Fatalf("browse from the folder: %v", sub)
	}
	if diff := cmp.Diff(want[1:], sub[1:]); diff != "" {
		t.Errorf("browse from the folder (-want +got):\n%s", diff)
	}

	// From a variable: just the variable.
	sub, err = browseAll(t, c, ua.NewStringNodeID(2, "Press01.Strokes"), BrowseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	strokes := variable("Press01.Strokes", "Int32")
	strokes.Depth = 0
	if diff := cmp.Diff([]BrowseNode{strokes}, sub); diff != "" {
		t.Errorf("browse from a variable (-want +got):\n%s", diff)
	}
}

func TestBrowseLimits(t *testing.T) {
	c := browseClient(t)
	all, err := browseAll(t, c, nil, BrowseOptions{MaxDepth: 3})
	if err != nil {
		t.Fatal(err)
	}
	inAll := map[BrowseNode]bool{}
	for _, n := range all {
		inAll[n] = true
	}
	for _, tc := range []struct {
		name         string
		o            BrowseOptions
		nodes        int // 0: any
		maxDepth     int
		truncated    bool // then the nodes are some of the depth 3 walk's
		hasVariables bool
	}{
		{name: "depth 1", o: BrowseOptions{MaxDepth: 1}, maxDepth: 1},
		{name: "depth 2", o: BrowseOptions{MaxDepth: 2}, maxDepth: 2, hasVariables: true},
		{name: "as many nodes as there are", o: BrowseOptions{MaxDepth: 3, MaxNodes: len(all)}, nodes: len(all), maxDepth: 3, hasVariables: true},
		{name: "one node fewer", o: BrowseOptions{MaxDepth: 3, MaxNodes: len(all) - 1}, nodes: len(all) - 1, truncated: true},
		{name: "the root", o: BrowseOptions{MaxDepth: 3, MaxNodes: 1}, nodes: 1, truncated: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, err := browseAll(t, c, nil, tc.o)
			if truncated := errors.Is(err, ErrTruncated); truncated != tc.truncated || err != nil && !truncated {
				t.Fatalf("err %v, want truncated %v", err, tc.truncated)
			}
			checkTree(t, nodes)
			if tc.nodes != 0 && len(nodes) != tc.nodes {
				t.Errorf("%d nodes, want %d", len(nodes), tc.nodes)
			}
			if tc.truncated {
				for _, n := range nodes {
					if !inAll[n] {
						t.Errorf("node %+v is not in the whole walk", n)
					}
				}
				return
			}
			deepest, vars, sim := 0, false, false
			for _, n := range nodes {
				deepest = max(deepest, n.Depth)
				vars = vars || strings.HasPrefix(n.NodeID, "ns=2;s=Press01.")
				sim = sim || n.NodeID == "ns=2;i=85"
			}
			if deepest != tc.maxDepth || vars != tc.hasVariables || !sim {
				t.Errorf("deepest node at %d, variables found %v, simulation folder found %v; want %d, %v, true", deepest, vars, sim, tc.maxDepth, tc.hasVariables)
			}
		})
	}
}

func TestBrowseStopsOnTheCallbacksError(t *testing.T) {
	c := browseClient(t)
	errStop := errors.New("enough")
	calls := 0
	err := Browse(t.Context(), c, nil, BrowseOptions{}, func(BrowseNode) error {
		calls++
		if calls == 3 {
			return errStop
		}
		return nil
	})
	if err != errStop || calls != 3 {
		t.Fatalf("err %v after %d calls, want %v after 3", err, calls, errStop)
	}
}

func TestBrowseUnknownRoot(t *testing.T) {
	c := browseClient(t)
	nodes, err := browseAll(t, c, ua.NewNumericNodeID(0, 999999), BrowseOptions{})
	if !errors.Is(err, ua.StatusBadNodeIDUnknown) || len(nodes) != 0 || !strings.Contains(err.Error(), "i=999999") {
		t.Fatalf("err %v, %d nodes; want StatusBadNodeIDUnknown naming the node", err, len(nodes))
	}
}

// startCycleServer serves, in namespace 1, folders A and B that organize
// each other (a cycle), a variable Level that both reach, and a variable
// Secret whose attributes cannot be read. The standard Objects folder
// organizes A.
func startCycleServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := server.New(
		server.EndPoint("127.0.0.1", port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
	)
	ns := server.NewNodeNameSpace(srv, "urn:plantwin:test:cycle")
	folder := func(name string) *server.Node {
		return ns.AddNode(server.NewNode(ua.NewStringNodeID(ns.ID(), name), map[ua.AttributeID]*ua.DataValue{
			ua.AttributeIDNodeClass:   server.DataValueFromValue(uint32(ua.NodeClassObject)),
			ua.AttributeIDBrowseName:  server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: ns.ID(), Name: name}),
			ua.AttributeIDDisplayName: server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: name}),
		}, nil, nil))
	}
	variable := func(name string, access ua.AccessLevelType) *server.Node {
		v := server.NewVariableNode(ua.NewStringNodeID(ns.ID(), name), name, float64(1))
		// gopcua's node keeps the data type as an expanded node id and
		// its browse name in namespace 0.
		_ = v.SetAttribute(ua.AttributeIDBrowseName, server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: ns.ID(), Name: name}))
		_ = v.SetAttribute(ua.AttributeIDDataType, server.DataValueFromValue(ua.NewNumericExpandedNodeID(0, id.Double)))
		_ = v.SetAttribute(ua.AttributeIDValueRank, server.DataValueFromValue(int32(-1)))
		_ = v.SetAttribute(ua.AttributeIDAccessLevel, server.DataValueFromValue(byte(access)))
		return ns.AddNode(v)
	}
	a, b := folder("A"), folder("B")
	level := variable("Level", ua.AccessLevelTypeCurrentRead)
	secret := variable("Secret", ua.AccessLevelTypeCurrentWrite)
	a.AddRef(b, id.Organizes, true)
	b.AddRef(a, id.Organizes, true)
	a.AddRef(level, id.HasComponent, true)
	b.AddRef(level, id.HasComponent, true)
	b.AddRef(secret, id.HasComponent, true)
	root, err := srv.Namespace(0)
	if err != nil {
		t.Fatal(err)
	}
	root.Objects().AddRef(a, id.Organizes, true)
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
	})
	return fmt.Sprintf("opc.tcp://127.0.0.1:%d", port)
}

func TestBrowseVisitsEachNodeOnce(t *testing.T) {
	c := dialForBrowse(t, startCycleServer(t))
	folder := func(depth int, name string) BrowseNode {
		return BrowseNode{Depth: depth, NodeID: "ns=1;s=" + name, BrowseName: "1:" + name, DisplayName: name, NodeClass: "Object"}
	}
	level := func(depth int) BrowseNode {
		return BrowseNode{Depth: depth, NodeID: "ns=1;s=Level", BrowseName: "1:Level", DisplayName: "Level", NodeClass: "Variable", DataType: "Double", Access: "r"}
	}
	secret := func(depth int) BrowseNode {
		return BrowseNode{Depth: depth, NodeID: "ns=1;s=Secret", BrowseName: "1:Secret", DisplayName: "Secret", NodeClass: "Variable", Status: "BadUserAccessDenied"}
	}
	for _, tc := range []struct {
		name  string
		root  *ua.NodeID
		depth int
		want  []BrowseNode
	}{
		// A's children B and Level are found together, so Level is
		// A's; B's references back to A and to Level are not followed.
		{"from A", ua.NewStringNodeID(1, "A"), 10, []BrowseNode{folder(0, "A"), folder(1, "B"), secret(2), level(1)}},
		{"from B", ua.NewStringNodeID(1, "B"), 10, []BrowseNode{folder(0, "B"), folder(1, "A"), level(1), secret(1)}},
		{"from A one level deep", ua.NewStringNodeID(1, "A"), 1, []BrowseNode{folder(0, "A"), folder(1, "B"), level(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, err := browseAll(t, c, tc.root, BrowseOptions{MaxDepth: tc.depth})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, nodes); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// From the standard Objects folder, the cycle is below A.
	nodes, err := browseAll(t, c, nil, BrowseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, nodes)
	if diff := cmp.Diff([]BrowseNode{folder(1, "A"), folder(2, "B"), secret(3), level(2)}, subtree(t, nodes, "ns=1;s=A")); diff != "" {
		t.Errorf("from Objects (-want +got):\n%s", diff)
	}
}
