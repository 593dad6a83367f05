// Package edgetest starts what connector tests need: a one-node twin
// runtime over a store on disk, from one plant configuration text.
package edgetest

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
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

// HistoryInOrder fails the test unless the twin's history of property
// was applied in the order of its source times (versions never fall as
// source time rises: nothing was reordered on the way), and returns how
// many points it holds.
func (n *Node) HistoryInOrder(twinID, property string) int {
	n.t.Helper()
	var prev persistence.HistoryPoint
	points := 0
	err := n.Store.ReadHistory(twinID, property, 0, math.MaxInt64, func(p persistence.HistoryPoint) error {
		if points > 0 && p.Version < prev.Version {
			return fmt.Errorf("history out of order: source time %d has version %d, after version %d at %d", p.SourceTime, p.Version, prev.Version, prev.SourceTime)
		}
		prev = p
		points++
		return nil
	})
	if err != nil {
		n.t.Fatalf("twin %s property %s: %v", twinID, property, err)
	}
	return points
}

// PeakBacklog samples a sink's outbox backlog every 2ms until the
// returned stop is called, which returns the highest backlog seen.
func PeakBacklog(s *edge.Sink) (stop func() int) {
	var peak atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if b := int64(s.Stats().Backlog); b > peak.Load() {
					peak.Store(b)
				}
			}
		}
	}()
	return func() int {
		close(quit)
		<-done
		return int(peak.Load())
	}
}
