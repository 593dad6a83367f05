package cluster

import (
	"errors"
	"fmt"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// ErrBadMessage is what a malformed replication message from another node
// unwraps to.
var ErrBadMessage = errors.New("cluster: malformed replication message")

// WriteToProto converts a twin's write for a replica (TwinWrite).
// ackedVersion is the twin's newest majority-acknowledged version.
func WriteToProto(w *persistence.Write, ackedVersion int64) *pb.TwinWrite {
	tw := &pb.TwinWrite{TwinId: w.TwinID, Epoch: w.Epoch, AckedVersion: ackedVersion, Wake: w.Wake, ConfirmVersion: w.Confirm}
	if w.Sync != nil {
		after := w.Sync.After
		tw.SyncAfter = &after
	}
	for _, e := range w.Events {
		tw.Events = append(tw.Events, &pb.ReplicaEntry{Version: e.Version, Epoch: e.Epoch, Data: e.Data})
	}
	if w.Snapshot != nil {
		tw.HasSnapshot, tw.SnapshotVersion, tw.Snapshot = true, w.Snapshot.Version, w.Snapshot.Data
	}
	for _, h := range w.History {
		tw.History = append(tw.History, &pb.ReplicaHistoryPoint{Property: h.Property, SourceTime: h.SourceTime, Version: h.Version, Data: h.Data})
	}
	for _, a := range w.Audit {
		tw.Audit = append(tw.Audit, &pb.ReplicaEntry{Version: a.Version, Data: a.Data})
	}
	return tw
}

// WriteFromProto converts a replica's TwinWrite back to the write its
// store takes. The store validates versions and epochs (a plain write's
// entries carry none of their own); this checks what the store cannot: a
// twin, no nil parts, audit entries without epochs.
func WriteFromProto(tw *pb.TwinWrite) (*persistence.Write, error) {
	if tw == nil || tw.TwinId == "" {
		return nil, fmt.Errorf("%w: a write without a twin", ErrBadMessage)
	}
	w := &persistence.Write{TwinID: tw.TwinId, Epoch: tw.Epoch, Wake: tw.Wake, Confirm: tw.ConfirmVersion}
	if tw.SyncAfter != nil {
		w.Sync = &persistence.Sync{After: *tw.SyncAfter}
	}
	entries := func(what string, in []*pb.ReplicaEntry) ([]persistence.Entry, error) {
		var out []persistence.Entry
		for i, e := range in {
			switch {
			case e == nil:
				return nil, fmt.Errorf("%w: twin %s: %s entry %d is empty", ErrBadMessage, tw.TwinId, what, i)
			case what == "audit" && e.Epoch != 0:
				return nil, fmt.Errorf("%w: twin %s: audit entry %d carries an epoch", ErrBadMessage, tw.TwinId, i)
			}
			out = append(out, persistence.Entry{Version: e.Version, Epoch: e.Epoch, Data: e.Data})
		}
		return out, nil
	}
	var err error
	if w.Events, err = entries("event", tw.Events); err != nil {
		return nil, err
	}
	if w.Audit, err = entries("audit", tw.Audit); err != nil {
		return nil, err
	}
	if tw.HasSnapshot {
		w.Snapshot = &persistence.Snapshot{Version: tw.SnapshotVersion, Data: tw.Snapshot}
	} else if tw.SnapshotVersion != 0 || len(tw.Snapshot) > 0 {
		return nil, fmt.Errorf("%w: twin %s: snapshot fields without has_snapshot", ErrBadMessage, tw.TwinId)
	}
	for i, h := range tw.History {
		if h == nil {
			return nil, fmt.Errorf("%w: twin %s: history point %d is empty", ErrBadMessage, tw.TwinId, i)
		}
		w.History = append(w.History, persistence.HistoryPoint{Property: h.Property, SourceTime: h.SourceTime, Version: h.Version, Data: h.Data})
	}
	return w, nil
}

// FenceToProto is a replica's answer to a FenceRequest: promised or not,
// with what its store holds for the twin.
func FenceToProto(twinID, node string, st persistence.FenceState, promised bool) *pb.FenceResponse {
	r := &pb.FenceResponse{TwinId: twinID, Node: node, Promised: promised, PromisedEpoch: st.Fence.Promised, Promiser: st.Fence.By,
		LogEpoch: st.Head.Epoch, Version: st.Head.Version, SnapshotVersion: st.Head.SnapshotVersion, RosterVersion: st.Fence.RosterVersion}
	for _, run := range st.Runs {
		r.Runs = append(r.Runs, &pb.EpochRun{FromVersion: run.FromVersion, Epoch: run.Epoch})
	}
	return r
}
