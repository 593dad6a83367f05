package actors

import (
	"context"

	"github.com/plantwin/plantwin/persistence"
)

// Journal is where a twin's activations and writes go: the node's own
// store, or (the replicated cluster, docs/cluster-design.md §3.3) a
// replicator that also ships them to the twin's replicas and answers once
// a majority holds them. Reads (recovery, history, audit) stay on the
// node's store. *persistence.Store is a Journal.
type Journal interface {
	// Activate starts an activation of the twin: its new epoch, recorded
	// durably before it returns, and the head it starts from.
	Activate(twinID string) (epoch uint64, head persistence.Head, err error)
	// Submit queues w; done is called once, from another goroutine, when
	// w is durable (nil) or failed, and must not block.
	Submit(w *persistence.Write, done func(error))
	// Commit submits w and waits for its outcome.
	Commit(ctx context.Context, w *persistence.Write) error
}

var _ Journal = (*persistence.Store)(nil)
