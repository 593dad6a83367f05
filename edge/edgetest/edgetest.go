// Package edgetest starts what connector tests need: a one-node twin
// runtime over a store on disk, from one plant configuration text.
package edgetest

import (
	"context"
	"testing"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

// Node is a running one-node runtime and the configuration it serves.
type Node struct {
	t       testing.TB
	Runtime *actors.Runtime
	Store   *persistence.Store
	Plant   *twins.Config
	Edge    *edge.Config
}

// Start parses text (models, twins, connectors, bindings), opens a store
// in a temporary directory and starts the runtime; both close when the
// test ends.
func Start(t testing.TB, text string) *Node {
	t.Helper()
	return StartWith(t, text, nil)
}

// StartWith is Start with the runtime's configuration adjusted by tune
// (nil: the defaults), for example a small MaxInFlight to overload it.
func StartWith(t testing.TB, text string, tune func(*actors.Config)) *Node {
	t.Helper()
	plant, err := twins.ParseConfig("plant.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	ecfg, err := edge.ParseConfig("plant.yaml", []byte(text), plant)
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	acfg := actors.Config{Twins: plant, Store: store}
	if tune != nil {
		tune(&acfg)
	}
	rt, err := actors.Start(acfg)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Close()
		store.Close()
	})
	return &Node{t: t, Runtime: rt, Store: store, Plant: plant, Edge: ecfg}
}

// Twin returns a twin's acknowledged state.
func (n *Node) Twin(id string) *pb.Twin {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tw, err := n.Runtime.GetTwin(ctx, id)
	if err != nil {
		n.t.Fatal(err)
	}
	return tw
}

// WaitFor polls cond every 20ms for up to 20s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
