package actors

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// observedJournal is the node's store seen through Config.Journal, with
// what passes counted: where the cluster's replicator will stand.
type observedJournal struct {
	*persistence.Store
	activations, writes atomic.Int64
}

func (j *observedJournal) Activate(id string) (uint64, persistence.Head, error) {
	j.activations.Add(1)
	return j.Store.Activate(id)
}

func (j *observedJournal) Submit(w *persistence.Write, done func(error)) {
	j.writes.Add(1)
	j.Store.Submit(w, done)
}

func (j *observedJournal) Commit(ctx context.Context, w *persistence.Write) error {
	j.writes.Add(1)
	return j.Store.Commit(ctx, w)
}

// TestJournalTakesEveryWrite: with Config.Journal set, a twin's activation
// and every write (updates and the snapshot it saves when it stops) go
// through it, and what it stores is what the twin recovers from.
func TestJournalTakesEveryWrite(t *testing.T) {
	dir := t.TempDir()
	var j *observedJournal
	n := startTestNode(t, dir, func(c *Config) {
		j = &observedJournal{Store: c.Store}
		c.Journal = j
	})
	now := time.Now().UnixNano()
	for i := range 5 {
		apply(t, n.rt, "pump-0001", &pb.Sample{Property: "flow", Value: dbl(float64(i)), SourceTimeUnixNano: now + int64(i)})
	}
	if j.activations.Load() != 1 || j.writes.Load() < 5 {
		t.Fatalf("%d activations and %d writes through the journal, want 1 and at least 5", j.activations.Load(), j.writes.Load())
	}
	before := j.writes.Load()
	n.close()
	if j.writes.Load() <= before {
		t.Errorf("stopping saved no snapshot through the journal (%d writes)", j.writes.Load())
	}
	m := startTestNode(t, dir, nil)
	if tw := getTwin(t, m.rt, "pump-0001"); tw.Version != 5 || tw.Reported["flow"].GetValue().GetDoubleValue() != 4 {
		t.Errorf("recovered %d, flow %v", tw.Version, tw.Reported["flow"])
	}
}
