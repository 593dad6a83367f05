package gateway

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

const (
	defaultHeartbeat = 10 * time.Second
	minHeartbeat     = 100 * time.Millisecond
	// watchReadPatience bounds how long a watch keeps asking for a twin
	// that is unavailable while it moves to another node.
	watchReadPatience = 15 * time.Second
)

// watcher is one WatchTwins stream. It runs on the stream's goroutine and
// owns its maps; twins publish into its subscription without blocking.
type watcher struct {
	s      *Server
	sel    *selector
	cands  []string
	stream pb.TwinService_WatchTwinsServer
	last   map[string]int64 // newest version sent (or covered) per twin
	in     map[string]bool  // twins currently matching the filter
}

// WatchTwins streams states, then changes, of the matching twins.
func (s *Server) WatchTwins(req *pb.WatchTwinsRequest, stream pb.TwinService_WatchTwinsServer) error {
	sel, err := s.newSelector(req.GetModel(), req.GetParent(), req.GetLabels(), req.GetIds(), req.GetFilter())
	if err != nil {
		return err
	}
	if req.GetFromVersion() < 0 {
		return invalid("from_version", "must not be negative")
	}
	for id, v := range req.GetFromVersions() {
		if _, ok := s.rt.Twins().Twin(id); !ok {
			return invalid("from_versions", fmt.Sprintf("no twin %q", id))
		}
		if v < 0 {
			return invalid(fmt.Sprintf("from_versions[%s]", id), "must not be negative")
		}
	}
	hb := defaultHeartbeat
	if d := req.GetHeartbeatInterval(); d != nil {
		if err := d.CheckValid(); err != nil {
			return invalid("heartbeat_interval", err.Error())
		}
		hb = d.AsDuration()
		if hb < minHeartbeat {
			return invalid("heartbeat_interval", fmt.Sprintf("%v is shorter than the minimum %v", hb, minHeartbeat))
		}
	}

	w := &watcher{s: s, sel: sel, stream: stream, cands: s.candidates(sel), last: map[string]int64{}, in: map[string]bool{}}
	// Subscribe before reading any state, so that every change committed
	// after a read arrives on the subscription.
	var sub *actors.Subscription
	if len(w.cands) == len(s.ids) {
		sub = s.rt.Subscribe(nil, s.opts.WatchBuffer)
	} else {
		sub = s.rt.Subscribe(w.cands, s.opts.WatchBuffer)
	}
	defer sub.Close()
	s.watchers.Add(1)
	s.met.watchers.Inc()
	defer func() {
		s.watchers.Add(-1)
		s.met.watchers.Dec()
	}()

	if err := w.initial(req); err != nil {
		return err
	}
	tick := time.NewTicker(hb)
	defer tick.Stop()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return status.Error(codes.Unavailable, "node shutting down; resume the watch from the last version received")
		case ch := <-sub.C():
			if err := w.change(ch); err != nil {
				return err
			}
		case <-sub.Lagged():
			dropped := sub.TakeDropped()
			if dropped == 0 {
				continue
			}
			s.met.lagged.Inc()
			s.log.Warn("watch lagged; resyncing", "dropped", dropped, "caller", caller(ctx))
			if err := stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_Lagged{Lagged: &pb.Lagged{Dropped: dropped}}}); err != nil {
				return err
			}
			if err := w.resync(); err != nil {
				return err
			}
		case now := <-tick.C:
			if err := stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_Heartbeat{Heartbeat: &pb.Heartbeat{Time: timestamppb.New(now)}}}); err != nil {
				return err
			}
		}
	}
}

// initial sends, per candidate twin in id order, either the changes after
// its resume version or its current state, then SYNCED.
func (w *watcher) initial(req *pb.WatchTwinsRequest) error {
	for start := 0; start < len(w.cands); start += scanBatch {
		ids := w.cands[start:min(start+scanBatch, len(w.cands))]
		// The states are acknowledged versions: a replay stops there and
		// later changes arrive on the subscription, taken before this read.
		states, err := w.read(ids)
		if err != nil {
			return err
		}
		for i, id := range ids {
			st := states[i].st
			from, ok := req.GetFromVersions()[id]
			if !ok {
				from = req.GetFromVersion()
			}
			// A client ahead of the twin (a store restored from an older
			// backup) gets the state: its view is not this twin's history.
			// So does one whose twin's journal this node's store does not
			// hold as acknowledged (a replica of several that lags).
			if from > 0 && from <= st.Version && w.s.rt.JournalHolds(id, st.Version, states[i].logEpoch) {
				err := w.replay(id, from, st.Version)
				if err != nil && !errors.Is(err, actors.ErrJournalTrimmed) {
					return toStatus(err)
				}
				if err == nil && w.last[id] >= st.Version {
					continue
				}
				// The journal no longer reaches back that far, or does not
				// reach forward far enough yet: the state stands for the rest.
			}
			if err := w.state(st, states[i].active); err != nil {
				return err
			}
		}
	}
	return w.synced()
}

// read reads the states of ids. A twin that is unavailable for a moment
// (its node just failed and the twin is moving) is asked again, for up to
// watchReadPatience, before the watch fails.
func (w *watcher) read(ids []string) ([]readState, error) {
	ctx := w.stream.Context()
	deadline := time.Now().Add(watchReadPatience)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		states, err := w.s.readStates(ctx, ids)
		if err == nil || status.Code(err) != codes.Unavailable || time.Now().Add(wait).After(deadline) {
			return states, err
		}
		w.s.log.Info("watch: a twin is unavailable; reading again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.s.stop:
			return nil, status.Error(codes.Unavailable, "node shutting down; resume the watch from the last version received")
		case <-time.After(wait):
		}
	}
}

// replay sends the journaled changes of twin id in (from, upto]; the twin
// counts as matching (a resuming client had it).
func (w *watcher) replay(id string, from, upto int64) error {
	w.last[id] = max(from, w.last[id])
	w.in[id] = true
	spec, _ := w.s.rt.Twins().Twin(id)
	return w.s.rt.ReadChanges(id, from, upto, func(v int64, ev twins.Event) error {
		w.last[id] = v
		return w.stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_Change{Change: actors.ChangeToProto(spec, v, ev)}})
	})
}

// state sends a twin's whole state if it matches (or LEFT if it stopped).
func (w *watcher) state(st *twins.State, active bool) error {
	id := st.Spec.ID
	if v, ok := w.last[id]; ok && st.Version < v {
		return nil // we already sent newer
	}
	w.last[id] = st.Version
	if !w.s.matchState(w.sel, st, active) {
		return w.leave(id, st.Version)
	}
	w.in[id] = true
	return w.stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_State{State: actors.TwinToProto(st, active)}})
}

func (w *watcher) leave(id string, version int64) error {
	if !w.in[id] {
		return nil
	}
	delete(w.in, id)
	return w.stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_Left{Left: &pb.TwinLeft{TwinId: id, Version: version}}})
}

func (w *watcher) synced() error {
	return w.stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_Synced{Synced: &pb.Synced{Twins: int32(len(w.in))}}})
}

// change handles one published commit of a twin.
func (w *watcher) change(ch *actors.Change) error {
	id := ch.Spec.ID
	if len(ch.Events) == 0 {
		return nil
	}
	newest := ch.Events[len(ch.Events)-1].Version
	last := w.last[id]
	if newest <= last {
		return nil // covered by a state or replay sent after this commit
	}
	if !w.sel.matchSpec(ch.Spec) {
		return nil // an all-twins subscription: not a candidate
	}
	match := w.s.matchState(w.sel, ch.State, true)
	switch {
	case match && !w.in[id]:
		w.in[id] = true
		w.last[id] = ch.State.Version
		return w.stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_State{State: actors.TwinToProto(ch.State, true)}})
	case match && ch.Events[0].Version > last+1:
		// Versions between were committed where this node's feed could
		// not see them (a member that crashed before relaying): the
		// state stands for them.
		w.last[id] = ch.State.Version
		return w.stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_State{State: actors.TwinToProto(ch.State, true)}})
	case match:
		for _, ev := range ch.Events {
			if ev.Version <= last {
				continue
			}
			if err := w.stream.Send(&pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_Change{Change: actors.ChangeToProto(ch.Spec, ev.Version, ev.Event)}}); err != nil {
				return err
			}
		}
		w.last[id] = newest
		return nil
	default:
		w.last[id] = newest
		return w.leave(id, newest)
	}
}

// resync re-reads every candidate's state after changes were dropped.
func (w *watcher) resync() error {
	for start := 0; start < len(w.cands); start += scanBatch {
		ids := w.cands[start:min(start+scanBatch, len(w.cands))]
		states, err := w.read(ids)
		if err != nil {
			return err
		}
		for _, rs := range states {
			if err := w.state(rs.st, rs.active); err != nil {
				return err
			}
		}
	}
	return w.synced()
}
