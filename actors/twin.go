package actors

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	plcluster "github.com/plantwin/plantwin/cluster"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

// twinActor hosts one twin. It owns its state: Receive never takes locks
// and never waits for storage on the hot path — events are applied in
// memory, submitted to the store's group committer, and the replies (and
// any state reads) wait until the commit is synced. Requests arriving
// while a commit is in flight are queued and go out together in the next
// commit, so a busy twin batches by itself.
//
// Recovery on activation reads storage synchronously: until it has its
// state a twin has nothing to serve.
type twinActor struct {
	rt          *Runtime
	id          string      // twin id; empty until Started
	st          twins.State // zero until Started
	epoch       uint64
	snapVersion int64
	lastActive  int64  // wall time of the last request, unix nanos (passivation)
	failed      string // non-empty: the twin cannot serve, with why

	inflight    *commit // nil when no commit is in flight
	passivating bool
	stopping    bool
	recent      [2]recentReply // answers to recent correlation ids, for re-sent batches
	recentNext  uint8
}

type request struct {
	sender *actor.PID
	msg    any
}

type commit struct {
	replies      []reply
	queued       []request        // write requests that arrived meanwhile: the next commit
	stateReaders []*actor.PID     // local state reads (getState) waiting for this commit
	changes      []VersionedEvent // events to publish once durable (only while the feed has subscribers)
	events       int              // journal events in this commit
	snapshot     int64            // version of the snapshot in this commit, 0 if none
	final        bool             // the passivation snapshot
}

type reply struct {
	to  *actor.PID
	msg *pb.TelemetryApplied
}

type recentReply struct {
	id       uint64
	version  int64
	accepted int32
	done     bool
}

// getState asks a twin for a copy of its acknowledged state (a
// *twins.State reply; local only).
type getState struct{}

// commitDone is the store's answer to a twin's commit (local only).
type commitDone struct{ err error }

// idleCheck asks a twin to passivate if it has been idle long enough; the
// runtime's passivation sweep sends it (local only, wall time). It replaces
// protoactor's ReceiveTimeout, whose timer goroutine writes the actor
// context while the actor runs (a data race in the pinned version) and
// costs a context-extras allocation per twin.
type idleCheck struct{ now int64 }

func newTwinActor(rt *Runtime) actor.Actor { return &twinActor{rt: rt} }

func (a *twinActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.init(ctx)
	case *pb.ApplyTelemetry:
		a.lastActive = time.Now().UnixNano()
		a.handle(ctx, request{sender: ctx.Sender(), msg: m})
	case *pb.SetConnectivity, *pb.SetDesired:
		a.lastActive = time.Now().UnixNano()
		a.handle(ctx, request{sender: ctx.Sender(), msg: m})
	case *getState:
		a.lastActive = time.Now().UnixNano()
		if a.failed != "" {
			ctx.Respond(&pb.TelemetryApplied{TwinId: a.id, Error: a.failed})
			return
		}
		if a.inflight != nil {
			a.inflight.stateReaders = append(a.inflight.stateReaders, ctx.Sender())
			return
		}
		ctx.Respond(a.st.Clone())
	case *commitDone:
		a.committed(ctx, m.err)
	case *idleCheck:
		if a.id != "" && !a.passivating && a.inflight == nil && m.now-a.lastActive >= int64(a.rt.cfg.PassivateAfter) {
			a.rt.lookup.RequestPassivation(ctx)
		}
	case *plcluster.PassivationGranted:
		a.passivating = true
		a.maybeFinish(ctx)
	case *pb.Passivate:
		if a.id != "" && !a.passivating {
			a.rt.lookup.RequestPassivation(ctx)
		}
	case *actor.Stopping:
		a.onStopping()
	case *actor.Stopped:
		a.rt.lookup.ActivationStopped(ctx)
	}
}

func (a *twinActor) init(ctx actor.Context) {
	_, id, ok := plcluster.IdentityOf(ctx)
	if !ok {
		a.failed = fmt.Sprintf("activation %s has no twin identity", ctx.Self().Id)
		ctx.Stop(ctx.Self())
		return
	}
	a.id = id
	a.lastActive = time.Now().UnixNano()
	spec, ok := a.rt.twins.Twin(id)
	if !ok {
		a.fail(ctx, fmt.Sprintf("twin %q is not declared", id))
		return
	}
	start := time.Now()
	a.st = *twins.NewState(spec) // embedded: one allocation less per twin
	epoch, _, err := a.rt.store.Activate(id)
	if err != nil {
		a.fail(ctx, fmt.Sprintf("activation failed: %v", err))
		return
	}
	a.epoch = epoch
	snapVersion, err := recoverState(a.rt.store, &a.st)
	if err != nil {
		a.fail(ctx, fmt.Sprintf("recovery failed: %v", err))
		return
	}
	a.snapVersion = snapVersion
	a.rt.met.activations.Inc()
	a.rt.met.recovery.Observe(time.Since(start).Seconds())
}

// retryFailedAfter is how long a twin that could not recover answers with
// its error before it stops, so that the next message tries again (wall
// time: it paces retries against a failing disk).
const retryFailedAfter = 5 * time.Second

// fail puts the twin in the failed state: every request is answered with
// why, and after retryFailedAfter the twin stops so that the next message
// activates it afresh.
func (a *twinActor) fail(ctx actor.Context, why string) {
	a.failed = why
	a.rt.log.Error("twin unavailable", "twin", a.id, "err", why)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(retryFailedAfter, func() { root.Send(self, &pb.Passivate{}) })
}

// handle runs a write request now, or queues it behind the commit in flight.
func (a *twinActor) handle(ctx actor.Context, r request) {
	if a.failed != "" {
		a.send(ctx, r.sender, a.failure(r.msg, a.failed))
		return
	}
	if a.inflight != nil {
		a.inflight.queued = append(a.inflight.queued, r)
		return
	}
	a.process(ctx, []request{r})
}

func correlation(msg any) uint64 {
	switch m := msg.(type) {
	case *pb.ApplyTelemetry:
		return m.CorrelationId
	case *pb.SetConnectivity:
		return m.CorrelationId
	case *pb.SetDesired:
		return m.CorrelationId
	}
	return 0
}

func (a *twinActor) failure(msg any, why string) *pb.TelemetryApplied {
	return &pb.TelemetryApplied{CorrelationId: correlation(msg), TwinId: a.id, Error: why}
}

func (a *twinActor) send(ctx actor.Context, to *actor.PID, msg *pb.TelemetryApplied) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

// seen answers a re-sent request: true if it was handled (or is in flight).
func (a *twinActor) seen(ctx actor.Context, r request) bool {
	id := correlation(r.msg)
	if id == 0 {
		return false
	}
	for i := range a.recent {
		rr := &a.recent[i]
		if rr.id != id {
			continue
		}
		if rr.done {
			a.send(ctx, r.sender, &pb.TelemetryApplied{CorrelationId: id, TwinId: a.id, Version: rr.version, Accepted: rr.accepted})
		}
		return true
	}
	return false
}

func (a *twinActor) remember(id uint64) *recentReply {
	rr := &a.recent[a.recentNext%uint8(len(a.recent))]
	a.recentNext++
	*rr = recentReply{id: id}
	return rr
}

// process decides and applies a group of write requests and submits their
// events as one commit.
func (a *twinActor) process(ctx actor.Context, reqs []request) {
	now := a.rt.clock.Now().UnixNano()
	model := a.st.Spec.Model
	w := &persistence.Write{TwinID: a.id, Epoch: a.epoch}
	c := &commit{}
	publish := a.rt.feed.active() && a.rt.feed.interested(a.id)
	for _, r := range reqs {
		if a.seen(ctx, r) {
			continue
		}
		rep := &pb.TelemetryApplied{CorrelationId: correlation(r.msg), TwinId: a.id}
		var dec twins.Decision
		var err error
		switch m := r.msg.(type) {
		case *pb.ApplyTelemetry:
			cmd := twins.ApplyTelemetry{Samples: make([]twins.Sample, len(m.Samples)), Policy: a.rt.policy}
			for i, s := range m.Samples {
				cmd.Samples[i] = twins.Sample{Property: s.GetProperty(), Value: ValueFromProto(s.GetValue()), SourceTime: s.GetSourceTimeUnixNano(), Quality: qualityFromProto(s.GetQuality())}
			}
			dec, err = a.st.Decide(cmd, now)
		case *pb.SetConnectivity:
			dec, err = a.st.Decide(twins.SetConnectivity{Connectivity: twins.Connectivity(m.Connectivity)}, now)
		case *pb.SetDesired:
			dec, err = a.decideDesired(m, now)
		}
		if err != nil {
			rep.Error, rep.Reason = err.Error(), reasonOf(err)
			a.send(ctx, r.sender, rep)
			continue
		}
		for _, rj := range dec.Rejected {
			a.rt.met.rejected[rj.Reason].Inc()
			rep.Rejected = append(rep.Rejected, &pb.SampleRejected{Index: int32(rj.Index), Property: rj.Property, Reason: rj.Reason.String(), Detail: rj.Detail})
		}
		for _, ev := range dec.Events {
			data, err := encodeEvent(model, ev)
			if err != nil { // broken invariant: events come from Decide
				panic(err)
			}
			a.st.Apply(ev)
			w.Events = append(w.Events, persistence.Entry{Version: a.st.Version, Data: data})
			if publish {
				c.changes = append(c.changes, VersionedEvent{Version: a.st.Version, Event: ev})
			}
			if t, ok := ev.(twins.TelemetryApplied); ok {
				rep.Accepted += int32(len(t.Samples))
				for _, s := range t.Samples {
					hv, err := encodeHistoryValue(s.Value, s.Quality, t.ServerTime)
					if err != nil {
						panic(err)
					}
					w.History = append(w.History, persistence.HistoryPoint{Property: model.Properties[s.Property].Name, SourceTime: s.SourceTime, Version: a.st.Version, Data: hv})
				}
			}
		}
		rep.Version = a.st.Version
		if rep.CorrelationId != 0 {
			rr := a.remember(rep.CorrelationId)
			rr.version, rr.accepted = rep.Version, rep.Accepted
		}
		c.replies = append(c.replies, reply{to: r.sender, msg: rep})
	}
	if len(w.Events) == 0 {
		// Nothing changed, so the state is as durable as it was.
		a.finishReplies(ctx, c.replies)
		a.maybeFinish(ctx)
		return
	}
	if a.st.Version-a.snapVersion >= int64(a.rt.cfg.SnapshotEvery) {
		if data, err := encodeSnapshot(&a.st); err == nil {
			w.Snapshot = &persistence.Snapshot{Version: a.st.Version, Data: data}
			c.snapshot = a.st.Version
		}
	}
	c.events = len(w.Events)
	a.submit(ctx, w, c)
}

func (a *twinActor) submit(ctx actor.Context, w *persistence.Write, c *commit) {
	a.inflight = c
	self, root := ctx.Self(), ctx.ActorSystem().Root
	a.rt.store.Submit(w, func(err error) { root.Send(self, &commitDone{err: err}) })
}

func (a *twinActor) finishReplies(ctx actor.Context, replies []reply) {
	for _, r := range replies {
		if r.msg.Error == "" {
			a.rt.met.samples.Add(float64(r.msg.Accepted))
		}
		for i := range a.recent {
			if a.recent[i].id == r.msg.CorrelationId && r.msg.CorrelationId != 0 {
				a.recent[i].done = true
			}
		}
		a.send(ctx, r.to, r.msg)
	}
}

// committed completes the commit in flight.
func (a *twinActor) committed(ctx actor.Context, err error) {
	c := a.inflight
	a.inflight = nil
	if c == nil {
		return
	}
	if err != nil {
		// Memory is now ahead of storage: answer everyone with the error
		// and stop; the next message recovers the durable state.
		why := fmt.Sprintf("twin %s: commit failed: %v", a.id, err)
		a.rt.log.Error("twin commit failed", "twin", a.id, "err", err)
		a.rt.met.failed.WithLabelValues("storage").Inc()
		for _, r := range c.replies {
			r.msg.Error, r.msg.Accepted, r.msg.Rejected = why, 0, nil
			a.send(ctx, r.to, r.msg)
		}
		for _, q := range c.queued {
			a.send(ctx, q.sender, a.failure(q.msg, why))
		}
		for _, rd := range c.stateReaders {
			ctx.Send(rd, &pb.TelemetryApplied{TwinId: a.id, Error: why})
		}
		a.failed = why
		a.stopping = true
		ctx.Stop(ctx.Self())
		return
	}
	a.rt.met.updates.Add(float64(c.events))
	if c.snapshot > 0 {
		a.snapVersion = c.snapshot
	}
	a.finishReplies(ctx, c.replies)
	if len(c.changes) > 0 {
		a.rt.feed.publish(a.id, func() *Change { return &Change{Spec: a.st.Spec, State: a.st.Clone(), Events: c.changes} })
	}
	for _, rd := range c.stateReaders {
		ctx.Send(rd, a.st.Clone())
	}
	if len(c.queued) > 0 {
		// Requests that reached the mailbox before passivation was granted
		// are still served; the final snapshot follows them.
		a.process(ctx, c.queued)
		return
	}
	if c.final {
		a.rt.met.passivated.Inc()
		ctx.Stop(ctx.Self())
		return
	}
	a.maybeFinish(ctx)
}

// maybeFinish completes a granted passivation once nothing is in flight.
func (a *twinActor) maybeFinish(ctx actor.Context) {
	if !a.passivating || a.inflight != nil {
		return
	}
	if a.failed == "" && a.st.Version > a.snapVersion {
		data, err := encodeSnapshot(&a.st)
		if err == nil {
			a.submit(ctx, &persistence.Write{TwinID: a.id, Epoch: a.epoch, Snapshot: &persistence.Snapshot{Version: a.st.Version, Data: data}}, &commit{snapshot: a.st.Version, final: true})
			return
		}
	}
	a.rt.met.passivated.Inc()
	ctx.Stop(ctx.Self())
}

// onStopping saves a snapshot when the twin is stopped from outside
// (shutdown, or the twin moved to another node).
func (a *twinActor) onStopping() {
	if a.stopping || a.st.Spec == nil || a.failed != "" || a.inflight != nil || a.st.Version <= a.snapVersion {
		return
	}
	a.stopping = true
	data, err := encodeSnapshot(&a.st)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = a.rt.store.Commit(ctx, &persistence.Write{TwinID: a.id, Epoch: a.epoch, Snapshot: &persistence.Snapshot{Version: a.st.Version, Data: data}})
	if err != nil {
		a.rt.log.Warn("snapshot at stop failed", "twin", a.id, "err", err)
	}
}

// decideDesired decides a SetDesired: every value or none. Properties are
// taken in name order so the journal is deterministic.
func (a *twinActor) decideDesired(m *pb.SetDesired, now int64) (twins.Decision, error) {
	names := make([]string, 0, len(m.Values))
	for n := range m.Values {
		names = append(names, n)
	}
	slices.Sort(names)
	var d twins.Decision
	for _, n := range names {
		one, err := a.st.Decide(twins.SetDesired{Property: n, Value: ValueFromProto(m.Values[n]), ExpectedVersion: m.ExpectedVersion, Actor: m.Actor}, now)
		if err != nil {
			return twins.Decision{}, err
		}
		d.Events = append(d.Events, one.Events...)
	}
	return d, nil
}
