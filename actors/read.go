package actors

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	plcluster "github.com/plantwin/plantwin/cluster"
	"github.com/plantwin/plantwin/twins"
)

// TwinRead is one twin's acknowledged state, from States.
type TwinRead struct {
	State  *twins.State
	Active bool
	// Node is the node whose activation answered, or where the twin is
	// active ("" when none is, or on a node alone).
	Node string
	// LogEpoch is the log epoch of the replicas' quorum that answered (0:
	// the twin answered itself, or it has one replica).
	LogEpoch uint64
}

// JournalHolds reports whether this node's store holds twin id's journal
// as the twin acknowledged it up to version (read with log epoch
// logEpoch, as States gives): always for a twin with this node as its one
// replica; in a cluster only when the store's head is that very head, for
// a replica that lags, or kept a tail an activation never acknowledged,
// would replay other events.
func (r *Runtime) JournalHolds(id string, version int64, logEpoch uint64) bool {
	if r.topo.Alone(id) {
		return true
	}
	if logEpoch == 0 {
		return false
	}
	h, err := r.store.Head(id)
	return err == nil && h.Version == version && h.Epoch == logEpoch
}

// statesWorkers bounds the twins States asks one at a time concurrently.
const statesWorkers = 32

// States returns the acknowledged states of the twins ids, in order: a
// query's read. On a node alone every twin answers as State does. In a
// cluster the query fans out: every member holding some of the twins reads
// them from its own store in one exchange, and a twin whose replicas
// agree (a quorum holds the same head) is answered from them without
// being activated; only the others are asked of their owners, one twin at
// a time (docs/cluster.md "Queries").
func (r *Runtime) States(ctx context.Context, ids []string) ([]TwinRead, error) {
	out := make([]TwinRead, len(ids))
	specs := make([]*twins.Spec, len(ids))
	cfg := r.Twins()
	var fan []int // indexes of twins with replicas elsewhere
	for i, id := range ids {
		spec, ok := cfg.Twin(id)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownTwin, id)
		}
		specs[i] = spec
		if !r.topo.Alone(id) {
			fan = append(fan, i)
		}
	}
	if r.closing.Load() {
		return nil, ErrClosed
	}
	done := make([]bool, len(ids))
	if len(fan) > 0 {
		fids := make([]string, len(fan))
		for j, i := range fan {
			fids[j] = ids[i]
		}
		// First the heads: which members hold each twin's acknowledged
		// head. Then its state from one of them: the one running the twin
		// (its state in memory, no journal replay), else this node, else
		// the first.
		qs := r.repl.ReadQuorum(ctx, fids, true, r.readStored)
		self := r.NodeName()
		byHolder := map[string][]int{} // holder → indexes into fan
		for j, q := range qs {
			if q.Twin == nil {
				continue
			}
			h := q.Holders[0]
			switch {
			case slices.Contains(q.Holders, q.Node):
				h = q.Node
			case slices.Contains(q.Holders, self):
				h = self
			}
			byHolder[h] = append(byHolder[h], j)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for holder, js := range byHolder {
			wg.Add(1)
			go func() {
				defer wg.Done()
				names := make([]string, len(js))
				for k, j := range js {
					names[k] = fids[j]
				}
				var tws []*pb.StoredTwin
				if holder == self {
					tws = r.readStored(names, false)
				} else {
					tws = r.repl.ReadFrom(ctx, holder, names)
				}
				for k, j := range js {
					if k >= len(tws) {
						break
					}
					tw, q := tws[k], qs[j]
					if tw == nil || tw.Error != "" || tw.Version != q.Twin.Version || tw.LogEpoch != q.Twin.LogEpoch {
						continue // moved on since, or failed: asked of the owner below
					}
					i := fan[j]
					st := twins.NewState(specs[i])
					if err := decodeSnapshot(st, tw.Snapshot); err != nil {
						continue
					}
					st.Version = tw.Version
					mu.Lock()
					out[i] = TwinRead{State: st, Active: q.Node != "", Node: q.Node, LogEpoch: tw.LogEpoch}
					done[i] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		q := 0
		for _, i := range fan {
			if done[i] {
				q++
			}
		}
		r.repl.NoteReads(q, len(fan)-q)
	}
	// The rest, one twin at a time.
	next := make(chan int, len(ids))
	for i := range ids {
		if !done[i] {
			next <- i
		}
	}
	close(next)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(statesWorkers, len(next)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, active, node, err := r.state(ctx, ids[i])
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				out[i] = TwinRead{State: st, Active: active, Node: node}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// readStored answers a query's fan-out (ReadTwinsRequest) from this
// node's store: each twin's head and (unless headsOnly) state at it, read
// without activating it. A twin written while it is read answers with an error, and the
// asker counts this node out for it.
func (r *Runtime) readStored(ids []string, headsOnly bool) []*pb.StoredTwin {
	out := make([]*pb.StoredTwin, len(ids))
	cfg := r.Twins()
	// Activations here hold their state in memory: ask them all at once
	// (no replay), and replay from the store only what they do not give
	// within peekTimeout (busy activating, a commit in flight).
	var peeks []*actor.Future
	if !headsOnly {
		peeks = make([]*actor.Future, len(ids))
		for i, id := range ids {
			if pid := r.lookup.LocalPID(r.identity(id)); pid != nil {
				peeks[i] = r.system.Root.RequestFuture(pid, &peekState{}, peekTimeout)
			}
		}
	}
	for i, id := range ids {
		tw := &pb.StoredTwin{TwinId: id}
		out[i] = tw
		tw.Active = r.lookup.LocalPID(r.identity(id)) != nil
		spec, ok := cfg.Twin(id)
		if !ok {
			tw.Error = "unknown twin"
			continue
		}
		h1, err := r.store.Head(id)
		if err != nil {
			tw.Error = err.Error()
			continue
		}
		if headsOnly {
			tw.Version, tw.LogEpoch = h1.Version, h1.Epoch
			continue
		}
		var st *twins.State
		if peeks[i] != nil {
			if res, err := peeks[i].Result(); err == nil {
				st, _ = res.(*twins.State)
			}
		}
		if st == nil || st.Version != h1.Version {
			if st, err = r.LoadState(spec); err != nil {
				tw.Error = err.Error()
				continue
			}
		}
		h2, err := r.store.Head(id)
		if err != nil {
			tw.Error = err.Error()
			continue
		}
		if h1.Version != h2.Version || h1.Epoch != h2.Epoch || st.Version != h1.Version {
			tw.Error = "written while read"
			continue
		}
		data, err := encodeSnapshot(st)
		if err != nil {
			tw.Error = fmt.Sprintf("encode state: %v", err)
			continue
		}
		tw.Version, tw.LogEpoch, tw.Snapshot = h1.Version, h1.Epoch, data
	}
	return out
}

// peekTimeout bounds how long a query waits for the activations on this
// node to hand over their states before it reads the store instead.
const peekTimeout = 200 * time.Millisecond

// LogHolder names a member whose store holds twin id's acknowledged log
// (its journal, history and audit): "" when this node's store does. That
// is this node for a twin it alone replicates, or one of a quorum of
// replicas that hold the same head; failing a quorum, the twin's owner,
// whose activation brings its log in line (activating the twin).
func (r *Runtime) LogHolder(ctx context.Context, id string) (string, error) {
	spec, ok := r.Twins().Twin(id)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownTwin, id)
	}
	if r.topo.Alone(id) {
		return "", nil
	}
	self := r.NodeName()
	if q := r.repl.ReadQuorum(ctx, []string{id}, true, r.readStored)[0]; q.Twin != nil {
		if slices.Contains(q.Holders, self) {
			return "", nil
		}
		return q.Holders[0], nil
	}
	_, _, node, err := r.ownerState(ctx, spec)
	if err != nil || node == self {
		return "", err
	}
	return node, nil
}

// Forward hands a read to node (from LogHolder) and returns its answer.
func (r *Runtime) Forward(ctx context.Context, node string, req *pb.ForwardedRead) (*pb.ForwardedReadReply, error) {
	rep, err := r.repl.Forward(ctx, node, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return rep, nil
}

// ServeForwardedReads makes fwd answer the reads other members forward to
// this node (the node's API gateway installs it).
func (r *Runtime) ServeForwardedReads(fwd func(*pb.ForwardedRead) *pb.ForwardedReadReply) {
	plcluster.SetForwarder(r.system, fwd)
}
