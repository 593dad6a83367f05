package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// QuorumRead is one twin as a quorum of its replicas holds it, from
// ReadQuorum.
type QuorumRead struct {
	// Twin is the head and state a quorum of the twin's replica sets hold
	// (majorities of both while the roster is joint); nil when no head
	// was held by a quorum: a commit in flight, a replica down or behind.
	// Ask the twin's owner then.
	Twin *pb.StoredTwin
	// Node is a member where the twin has an activation ("" if none
	// answered that it has one).
	Node string
	// Holders are the members that hold Twin's head (the quorum), by
	// name: their stores hold the twin's acknowledged log.
	Holders []string
}

// ReadQuorum reads the twins ids from their replicas' stores without
// activating them: a query's fan-out. Each member holding some of the
// twins is asked once (ReadTwinsRequest, in chunks), this node's own
// store through local. The answer for a twin is the head that a quorum of
// its replica sets hold, identical in version and log epoch.
//
// That head is the twin's newest acknowledged version as of the read: an
// acknowledged write is durable on a majority, which shares a member with
// the quorum that answered, and that member would have answered with the
// newer head. A head held by a majority is also never cut back (an
// activation adopts the best log of a majority, and a log's epoch only
// grows with each activation's sync), so no later read sees an older one.
// Results are in the order of ids. With headsOnly the answers carry no
// state (to learn the Holders).
func (r *Replicator) ReadQuorum(ctx context.Context, ids []string, headsOnly bool, local func(ids []string, headsOnly bool) []*pb.StoredTwin) []QuorumRead {
	out := make([]QuorumRead, len(ids))
	sets := make([]ReplicaSets, len(ids))
	byNode := map[string][]int{} // member → indexes into ids
	for i, id := range ids {
		sets[i] = r.topo.Sets(id)
		for _, n := range sets[i].Names() {
			if n != r.topo.Self() {
				if _, ok := r.topo.Address(n); !ok {
					continue // down, as far as this node sees
				}
			}
			byNode[n] = append(byNode[n], i)
		}
	}
	timeout := r.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond) // a negative timeout would never expire
	}
	type answer struct {
		node string
		idx  []int
		tws  []*pb.StoredTwin
	}
	ch := make(chan answer)
	asked := 0
	for n, idx := range byNode {
		for start := 0; start < len(idx); start += maxReadTwins {
			part := idx[start:min(start+maxReadTwins, len(idx))]
			names := make([]string, len(part))
			for j, i := range part {
				names[j] = ids[i]
			}
			asked++
			go func() {
				a := answer{node: n, idx: part}
				if n == r.topo.Self() {
					a.tws = local(names, headsOnly)
				} else if addr, ok := r.topo.Address(n); ok {
					res, err := r.system.Root.RequestFuture(replicaPID(addr), &pb.ReadTwinsRequest{TwinIds: names, HeadsOnly: headsOnly}, timeout).Result()
					if rep, _ := res.(*pb.ReadTwinsReply); err == nil && rep != nil && rep.Error == "" && len(rep.Twins) == len(names) {
						a.tws = rep.Twins
					} else {
						r.log.Debug("query fan-out: a member did not answer", "node", n, "err", err)
					}
				}
				ch <- a
			}()
		}
	}
	got := make([]map[string]*pb.StoredTwin, len(ids))
	for range asked {
		a := <-ch
		for j, i := range a.idx {
			if j >= len(a.tws) {
				break
			}
			tw := a.tws[j]
			if tw == nil || tw.TwinId != ids[i] {
				continue
			}
			if tw.Active && out[i].Node == "" {
				out[i].Node = a.node
			}
			if tw.Error != "" {
				continue
			}
			if got[i] == nil {
				got[i] = map[string]*pb.StoredTwin{}
			}
			got[i][a.node] = tw
		}
	}
	for i := range ids {
		out[i].Twin = quorumHead(sets[i], got[i])
		if tw := out[i].Twin; tw != nil {
			for n, o := range got[i] {
				if o.Version == tw.Version && o.LogEpoch == tw.LogEpoch {
					out[i].Holders = append(out[i].Holders, n)
				}
			}
			slices.Sort(out[i].Holders)
		}
	}
	return out
}

// quorumHead returns the answer whose head (version and log epoch) a
// quorum of sets hold, among got (member name → its answer); nil when no
// head is held by a quorum.
func quorumHead(sets ReplicaSets, got map[string]*pb.StoredTwin) *pb.StoredTwin {
	for _, cand := range got {
		held := func(n string) bool {
			o := got[n]
			return o != nil && o.Version == cand.Version && o.LogEpoch == cand.LogEpoch
		}
		if sets.Quorum(held) {
			return cand
		}
	}
	return nil
}

// Forward hands a read to the member called node (a holder of the
// twin's acknowledged log) and returns its answer.
func (r *Replicator) Forward(ctx context.Context, node string, req *pb.ForwardedRead) (*pb.ForwardedReadReply, error) {
	addr, ok := r.topo.Address(node)
	if !ok {
		return nil, fmt.Errorf("cluster: node %s is not up, as far as this node sees", node)
	}
	timeout := r.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond) // a negative timeout would never expire
	}
	res, err := r.system.Root.RequestFuture(replicaPID(addr), req, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: read forwarded to node %s: %w", node, err)
	}
	rep, ok := res.(*pb.ForwardedReadReply)
	if !ok {
		return nil, fmt.Errorf("cluster: read forwarded to node %s: answered with %T", node, res)
	}
	return rep, nil
}

// ReadFrom reads the twins ids (heads and states) from the store of the
// member called node, in chunks; entries are nil where it did not answer.
func (r *Replicator) ReadFrom(ctx context.Context, node string, ids []string) []*pb.StoredTwin {
	out := make([]*pb.StoredTwin, len(ids))
	addr, ok := r.topo.Address(node)
	if !ok {
		return out
	}
	timeout := r.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond) // a negative timeout would never expire
	}
	for start := 0; start < len(ids); start += maxReadTwins {
		part := ids[start:min(start+maxReadTwins, len(ids))]
		res, err := r.system.Root.RequestFuture(replicaPID(addr), &pb.ReadTwinsRequest{TwinIds: part}, timeout).Result()
		rep, _ := res.(*pb.ReadTwinsReply)
		if err != nil || rep == nil || rep.Error != "" || len(rep.Twins) != len(part) {
			r.log.Debug("query: a member did not answer", "node", node, "err", err)
			continue
		}
		copy(out[start:], rep.Twins)
	}
	return out
}

// NoteReads counts a query's twins by how they were read:
// plantwin_cluster_reads_total{path="quorum"} from a quorum of replicas,
// {path="owner"} asked of their owner.
func (r *Replicator) NoteReads(quorum, owner int) {
	r.met.reads.WithLabelValues("quorum").Add(float64(quorum))
	r.met.reads.WithLabelValues("owner").Add(float64(owner))
}
