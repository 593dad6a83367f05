package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClusterMembers: a node lists itself as a member with the name, role
// and zone it was started with, its API address and its active twins, as
// a table and as JSON.
func TestClusterMembers(t *testing.T) {
	n := startNode(t, "--demo", "--demo-feed", "direct", "--data", t.TempDir(), "--node-name", "alpha", "--role", "edge", "--zone", "hall-1")
	out, err := runCLI(t, "cluster", "members", "--server", n.addr)
	if err != nil || !strings.Contains(out, "alpha *") || !strings.Contains(out, "hall-1") || !strings.Contains(out, n.addr) {
		t.Fatalf("cluster members: %v\n%s", err, out)
	}
	out, err = runCLI(t, "cluster", "members", "--server", n.addr, "-o", "json")
	if err != nil {
		t.Fatalf("cluster members -o json: %v\n%s", err, out)
	}
	var ms []struct {
		Name, Address, State, Role, Zone string
		Twins                            *int
		Self                             bool
	}
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(ms) != 1 || ms[0].Name != "alpha" || ms[0].Address != n.addr || ms[0].State != "alive" || ms[0].Role != "edge" ||
		ms[0].Zone != "hall-1" || ms[0].Twins == nil || !ms[0].Self {
		t.Errorf("members %s", out)
	}
}
