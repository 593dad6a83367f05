package main

import (
	"context"
	"fmt"
	"sync"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// watchRecord follows one WatchTwins stream of every twin and records,
// per twin, the newest version it showed, and any answer that breaks the
// stream's promises: a change that is not the next version after the
// last one shown, or a state older than it.
type watchRecord struct {
	mu         sync.Mutex
	last       map[string]int64
	synced     bool
	lagged     int
	changes    int
	violations []string
	err        error
}

// recordWatch watches every twin through c until ctx ends.
func recordWatch(ctx context.Context, c pb.TwinServiceClient) *watchRecord {
	w := &watchRecord{last: map[string]int64{}}
	stream, err := c.WatchTwins(ctx, &pb.WatchTwinsRequest{})
	if err != nil {
		w.err = err
		return w
	}
	go func() {
		for {
			m, err := stream.Recv()
			w.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					w.err = err
				}
				w.mu.Unlock()
				return
			}
			switch ev := m.Event.(type) {
			case *pb.WatchTwinsResponse_State:
				id, v := ev.State.Id, ev.State.Version
				if last, ok := w.last[id]; ok && v < last {
					w.violations = append(w.violations, fmt.Sprintf("%s: state at version %d after version %d", id, v, last))
				}
				w.last[id] = max(w.last[id], v)
			case *pb.WatchTwinsResponse_Change:
				id, v := ev.Change.TwinId, ev.Change.Version
				if last, ok := w.last[id]; ok && v != last+1 {
					w.violations = append(w.violations, fmt.Sprintf("%s: change of version %d after version %d", id, v, last))
				}
				w.last[id] = max(w.last[id], v)
				w.changes++
			case *pb.WatchTwinsResponse_Synced:
				w.synced = true
			case *pb.WatchTwinsResponse_Lagged:
				w.lagged++
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// behind returns the twins of want whose newest version shown is older
// than the version want gives.
func (w *watchRecord) behind(want map[string]int64) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for id, v := range want {
		if w.last[id] < v {
			out = append(out, fmt.Sprintf("%s at %d, want %d", id, w.last[id], v))
		}
	}
	return out
}
