package cluster

import (
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

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
	store *persistence.Store
	node  string
}

// SpawnReplica starts the node's replica actor over store; node is this
// node's name, given in answers.
func SpawnReplica(system *actor.ActorSystem, store *persistence.Store, node string) (*actor.PID, error) {
	props := actor.PropsFromProducer(func() actor.Actor { return &replicaActor{store: store, node: node} })
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
	}
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
	if h, herr := a.store.Head(twin); herr == nil {
		r.LogEpoch, r.Version = h.Epoch, h.Version
	}
	return r
}
