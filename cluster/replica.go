package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/grpc/codes"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// ReplicaActorName is the well-known name of each node's replica actor:
// other nodes address it as NewPID(actorAddress, ReplicaActorName).
const ReplicaActorName = "plantwin-replica"

// replicaActor serves the replication messages of other nodes against
// this node's store (docs/cluster-design.md §3.2): a FenceRequest is a
// Store.Fence, a ReplicateBatch one Store.Submit per write, answered per
// twin once the batch is fsynced. It never waits in its mailbox: the
// store's answers come back on other goroutines, which reply to the
// sender directly.
type replicaActor struct {
	store  *persistence.Store
	node   string
	roster *RosterService // nil: roster messages are refused
	drain  func() (moved int, took time.Duration, err error)
	read   func(ids []string, headsOnly bool) []*pb.StoredTwin
	fwd    func(*pb.ForwardedRead) *pb.ForwardedReadReply
}

// SetDrain installs what a DrainRequest runs (the node's runtime drain).
func SetDrain(system *actor.ActorSystem, drain func() (int, time.Duration, error)) {
	system.Root.Send(actor.NewPID(system.Address(), ReplicaActorName), &setDrain{drain})
}

type setDrain struct {
	fn func() (int, time.Duration, error)
}

// SetReader installs what a ReadTwinsRequest runs: read reads twins from
// this node's store, one answer per id, in order (with headsOnly, no
// states).
func SetReader(system *actor.ActorSystem, read func(ids []string, headsOnly bool) []*pb.StoredTwin) {
	system.Root.Send(actor.NewPID(system.Address(), ReplicaActorName), &setReader{read})
}

type setReader struct {
	fn func(ids []string, headsOnly bool) []*pb.StoredTwin
}

// SetForwarder installs what a ForwardedRead runs: fwd answers it from
// this node's store (the node's API gateway).
func SetForwarder(system *actor.ActorSystem, fwd func(*pb.ForwardedRead) *pb.ForwardedReadReply) {
	system.Root.Send(actor.NewPID(system.Address(), ReplicaActorName), &setForwarder{fwd})
}

type setForwarder struct {
	fn func(*pb.ForwardedRead) *pb.ForwardedReadReply
}

// maxReadTwins bounds the twins one ReadTwinsRequest may name.
const maxReadTwins = 4096

// SpawnReplica starts the node's replica actor over store; node is this
// node's name, given in answers; roster (nil: none) takes the roster
// messages.
func SpawnReplica(system *actor.ActorSystem, store *persistence.Store, node string, roster *RosterService) (*actor.PID, error) {
	props := actor.PropsFromProducer(func() actor.Actor { return &replicaActor{store: store, node: node, roster: roster} })
	pid, err := system.Root.SpawnNamed(props, ReplicaActorName)
	if err != nil {
		return nil, fmt.Errorf("cluster: spawn the replica actor: %w", err)
	}
	return pid, nil
}

func (a *replicaActor) Receive(ctx actor.Context) {
	sender, root := ctx.Sender(), ctx.ActorSystem().Root
	reply := func(m any) {
		if sender != nil {
			root.Send(sender, m)
		}
	}
	switch m := ctx.Message().(type) {
	case *pb.FenceRequest:
		go func() { reply(a.fence(m)) }()
	case *pb.ReplicateBatch:
		a.replicate(m, reply)
	case *setDrain:
		a.drain = m.fn
	case *setReader:
		a.read = m.fn
	case *setForwarder:
		a.fwd = m.fn
	case *pb.ForwardedRead:
		fwd := a.fwd
		go func() {
			if fwd == nil {
				reply(&pb.ForwardedReadReply{Node: a.node, Code: int32(codes.Unavailable), Message: "this node serves no API yet (starting)"})
				return
			}
			rep := fwd(m)
			rep.Node = a.node
			reply(rep)
		}()
	case *pb.ReadTwinsRequest:
		read := a.read
		go func() {
			switch {
			case read == nil:
				reply(&pb.ReadTwinsReply{Node: a.node, Error: "this node cannot read twins yet (starting)"})
			case len(m.TwinIds) > maxReadTwins:
				reply(&pb.ReadTwinsReply{Node: a.node, Error: fmt.Sprintf("%d twins asked, at most %d", len(m.TwinIds), maxReadTwins)})
			default:
				reply(&pb.ReadTwinsReply{Node: a.node, Twins: read(m.TwinIds, m.HeadsOnly)})
			}
		}()
	case *pb.DrainRequest:
		drain := a.drain
		go func() {
			if drain == nil {
				reply(&pb.DrainReply{Error: "this node cannot drain yet (starting)"})
				return
			}
			n, took, err := drain()
			r := &pb.DrainReply{TwinsMoved: int32(n), TookNanos: int64(took)}
			if err != nil {
				r.Error = err.Error()
			}
			reply(r)
		}()
	case *pb.PullRequest:
		go func() { reply(a.pull(m)) }()
	case *pb.RosterJoin:
		go func() {
			if a.roster == nil {
				reply(&pb.RosterReply{Error: "this node keeps no roster"})
				return
			}
			reply(rosterReply(a.roster.Join(m)))
		}()
	case *pb.RosterUpdate:
		go func() {
			if a.roster == nil {
				reply(&pb.RosterReply{Error: "this node keeps no roster"})
				return
			}
			var r Roster
			if err := json.Unmarshal(m.Roster, &r); err != nil {
				reply(&pb.RosterReply{Error: fmt.Sprintf("malformed roster: %v", err)})
				return
			}
			err := a.roster.Update(r)
			cur, _ := a.roster.topo.Roster()
			reply(rosterReply(cur, err))
		}()
	}
}

// pull answers an activation that adopted this replica's log: the sync
// write that brings the asker's log in line with this one.
func (a *replicaActor) pull(m *pb.PullRequest) *pb.PullResponse {
	if m.TwinId == "" {
		return &pb.PullResponse{Error: "pull without a twin"}
	}
	target := LogState{Head: persistence.Head{Version: m.Version, Epoch: m.LogEpoch, SnapshotVersion: m.SnapshotVersion}, Runs: runsFromProto(m.Runs)}
	w, err := BuildSync(a.store, m.TwinId, m.Epoch, target)
	if err != nil {
		return &pb.PullResponse{Error: err.Error()}
	}
	return &pb.PullResponse{Write: WriteToProto(w, 0)}
}

// fence promises m's epoch, or says what the store holds instead.
func (a *replicaActor) fence(m *pb.FenceRequest) *pb.FenceResponse {
	if m.TwinId == "" || m.Epoch == 0 {
		return &pb.FenceResponse{TwinId: m.TwinId, Node: a.node}
	}
	st, err := a.store.Fence(m.TwinId, m.Epoch, m.Activation, m.RosterVersion)
	if err != nil && !errors.Is(err, persistence.ErrFenced) {
		// A storage failure: no promise, and nothing known.
		return &pb.FenceResponse{TwinId: m.TwinId, Node: a.node}
	}
	return FenceToProto(m.TwinId, a.node, st, err == nil)
}

// replicate submits every write of the batch to the store (one group
// commit) and answers once all are decided.
func (a *replicaActor) replicate(m *pb.ReplicateBatch, reply func(any)) {
	ack := &pb.ReplicateAck{Seq: m.Seq, Results: make([]*pb.TwinResult, len(m.Writes))}
	errs := make([]error, len(m.Writes))
	var wg sync.WaitGroup
	for i, tw := range m.Writes {
		w, err := WriteFromProto(tw)
		if err != nil {
			errs[i] = err
			continue
		}
		wg.Add(1)
		// done runs on the store's syncer and must not block: it only
		// notes the outcome.
		a.store.Submit(w, func(err error) {
			errs[i] = err
			wg.Done()
		})
	}
	go func() {
		wg.Wait()
		for i, tw := range m.Writes {
			twin := ""
			if tw != nil {
				twin = tw.TwinId
			}
			ack.Results[i] = a.result(twin, errs[i])
		}
		reply(ack)
	}()
}

// result is a write's verdict, with the replica's state when it was not
// taken (the owner needs it to fence or to sync the replica).
func (a *replicaActor) result(twin string, err error) *pb.TwinResult {
	r := &pb.TwinResult{TwinId: twin, Status: pb.ReplicaStatus_REPLICA_STATUS_OK}
	switch {
	case err == nil:
		return r
	case errors.Is(err, persistence.ErrFenced):
		r.Status = pb.ReplicaStatus_REPLICA_STATUS_FENCED
	case errors.Is(err, persistence.ErrVersionGap), errors.Is(err, persistence.ErrNeedsSync):
		r.Status = pb.ReplicaStatus_REPLICA_STATUS_NEEDS_SYNC
	default:
		r.Status, r.Error = pb.ReplicaStatus_REPLICA_STATUS_FAILED, err.Error()
		return r
	}
	if f, ferr := a.store.ReadFence(twin); ferr == nil {
		r.PromisedEpoch, r.Promiser = f.Promised, f.By
	}
	if l, lerr := localLog(a.store, twin); lerr == nil {
		r.LogEpoch, r.Version, r.SnapshotVersion, r.Runs = l.Head.Epoch, l.Head.Version, l.Head.SnapshotVersion, runsToProto(l.Runs)
	}
	return r
}
