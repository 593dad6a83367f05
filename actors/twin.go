package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

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

	// Time and commands: the timer wakes the twin at its next due time
	// (a rule window ending on a quiet device, a deadline); launched
	// holds the dispatch attempts this activation handed to the device
	// and not yet seen answered.
	timer          Timer
	timerAt        int64
	launched       map[string]int
	dispatchQueued bool
	// persistedDue is the due time in the node's durable wake schedule
	// as this activation last wrote it (-1: not written yet).
	persistedDue int64
	// restart: a reload changed this twin's declaration; it passivates
	// once no command attempt is with its device.
	restart bool
	// parentReads holds the properties the parent's roll-ups read (nil:
	// no parent, or one without roll-ups).
	parentReads map[string]bool
}

// reconfigured tells a twin that the runtime's configuration was replaced
// (local only).
type reconfigured struct{ cfg *twins.Config }

// sendRelated asks the parent or children named by journaled rule actions
// to carry out their commands. Each request carries an idempotency key
// made of this twin, the event's version and the target, so a request
// delivered twice (or re-sent) is carried out once.
func (a *twinActor) sendRelated(fired []firedAt) {
	for _, f := range fired {
		var targets []string
		switch f.ev.Target {
		case "parent":
			if a.st.Spec.Parent != "" {
				targets = []string{a.st.Spec.Parent}
			}
		case "children":
			for _, ch := range a.rt.Twins().Children(a.id) {
				targets = append(targets, ch.ID)
			}
		}
		rule := "?"
		if f.ev.Rule >= 0 && f.ev.Rule < len(a.st.Spec.Model.Rules) {
			rule = a.st.Spec.Model.Rules[f.ev.Rule].Name
		}
		args := make(map[string]*pb.Value, len(f.ev.Args))
		for _, arg := range f.ev.Args {
			args[arg.Name] = ValueToProto(arg.Value)
		}
		for _, t := range targets {
			op := &pb.InvokeCommandOp{TwinId: t, Actor: "rule:" + rule + "@" + a.id, Command: f.ev.Command, Args: args,
				Key: a.id + "@" + strconv.FormatInt(f.version, 10) + ">" + t}
			a.rt.busy.Add(1) // until the related twin has committed it
			go func() {
				defer a.rt.busy.Add(-1)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if _, err := a.rt.InvokeCommand(ctx, op); err != nil {
					a.rt.log.Warn("a rule's command to a related twin failed", "twin", op.Actor, "target", op.TwinId, "command", op.Command, "err", err)
				}
			}()
		}
	}
}

// loadKids gives a parent whose model has roll-ups its children's values
// from storage (their acknowledged state); from then on the children
// report their changes. It also notes which properties this twin reports
// to its own parent.
func (a *twinActor) loadKids() {
	cfg := a.rt.Twins()
	if ps, ok := cfg.Twin(a.st.Spec.Parent); ok && len(ps.Model.Rollups) > 0 {
		a.parentReads = map[string]bool{}
		for _, p := range ps.Model.RollupProperties() {
			a.parentReads[p] = true
		}
	}
	props := a.st.Spec.Model.RollupProperties()
	if len(a.st.Spec.Model.Rollups) == 0 {
		return
	}
	for _, ch := range cfg.Children(a.id) {
		st, err := a.rt.LoadState(ch)
		if err != nil {
			a.rt.log.Warn("roll-ups: cannot read a child's state; it counts when it reports", "twin", a.id, "child", ch.ID, "err", err)
			continue
		}
		a.st.SetKid(ch.ID, kidValues(st, props))
	}
}

// kidValues returns st's reported values of props.
func kidValues(st *twins.State, props []string) map[string]twins.Value {
	vals := make(map[string]twins.Value, len(props))
	for _, p := range props {
		if prop, ok := st.Spec.Model.Property(p); ok && st.Reported[prop.Index].Quality != twins.QualityUnknown {
			vals[p] = st.Reported[prop.Index].Value
		}
	}
	return vals
}

// reportToParent sends the parent this twin's values of the properties
// its roll-ups read.
func (a *twinActor) reportToParent() {
	msg := &pb.ChildReport{ParentId: a.st.Spec.Parent, ChildId: a.id, Values: map[string]*pb.Value{}, At: a.st.Watermark}
	for p := range a.parentReads {
		if prop, ok := a.st.Spec.Model.Property(p); ok && a.st.Reported[prop.Index].Quality != twins.QualityUnknown {
			msg.Values[p] = ValueToProto(a.st.Reported[prop.Index].Value)
		}
	}
	// Counted until the parent commits it (if it lives on this node:
	// see Runtime.reports).
	a.rt.busy.Add(1)
	a.rt.reports.Store(msg, struct{}{})
	if !a.rt.lookup.Send(a.rt.identity(a.st.Spec.Parent), msg, nil) {
		a.rt.reports.Delete(msg)
		a.rt.busy.Add(-1)
	}
}

// writes reports whether the node's edge connectors write property of this
// twin (its desired values are then reconciled).
func (a *twinActor) writes(property string) bool {
	d := a.rt.device.Load()
	return d != nil && (*d).Writes(a.id, property)
}

// maybeRestart passivates a twin marked for restart once no dispatched
// attempt waits for its device's answer.
func (a *twinActor) maybeRestart(ctx actor.Context) {
	if a.restart && !a.passivating && len(a.launched) == 0 {
		a.rt.lookup.RequestPassivation(ctx)
	}
}

// tickMsg advances the twin's time (its timer fired, or it was recovered
// with restarted set; local only).
type tickMsg struct {
	restarted bool
	counted   bool // counted in the runtime's Busy until its commit is done
}

// dispatchMsg hands the twin's ready commands to the device (local only;
// counted in the runtime's Busy until its commit is done).
type dispatchMsg struct{}

// counted reports whether msg is counted in the runtime's Busy until the
// commit that decides it is done.
func counted(msg any) bool {
	switch m := msg.(type) {
	case *tickMsg:
		return m.counted
	case *dispatchMsg, *dispatchResult, countedReport:
		return true
	}
	return false
}

// countedReport is a child's roll-up report sent from this node, counted
// in Runtime.Busy until committed.
type countedReport struct{ *pb.ChildReport }

// dispatchResult is the device's answer to one dispatch attempt (local only).
type dispatchResult struct {
	id      string
	attempt int
	err     error
	retry   bool
}

type request struct {
	sender *actor.PID
	msg    any
}

type commit struct {
	replies      []reply
	queued       []request             // write requests that arrived meanwhile: the next commit
	stateReaders []stateReader         // state reads waiting for this commit
	lateReaders  []stateReader         // reads that arrived after it was submitted (cluster: confirmed by a later commit)
	changes      []VersionedEvent      // events to publish once durable (only while the feed has subscribers)
	events       int                   // journal events in this commit
	snapshot     int64                 // version of the snapshot in this commit, 0 if none
	final        bool                  // the passivation snapshot
	launch       []twins.CommandRecord // commands to hand to the device once durable
	wake         *int64                // the due time this commit writes to the wake schedule
	related      []firedAt             // commands for related twins, sent once durable
	reportParent bool                  // a property the parent's roll-ups read changed
	busy         int                   // counted timer ticks decided in this commit (Runtime.Busy)
}

// firedAt is a journaled RuleFired and its version.
type firedAt struct {
	version int64
	ev      twins.RuleFired
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

// stateReader is a read waiting for the commit in flight: a local
// getState (answered with a copy) or a GetTwinState (answered encoded).
type stateReader struct {
	pid   *actor.PID
	proto bool
}

// confirmReads reports whether a read must first confirm that this
// activation is still the twin's newest: the twin has other replicas, so
// a newer activation elsewhere may have fenced this one (a node that
// froze and woke up) without its knowing yet.
func (a *twinActor) confirmReads() bool {
	return a.rt.topo != nil && !a.rt.topo.Alone(a.id)
}

// barrier answers reader after an empty write of this activation's epoch
// has reached a majority of the twin's replicas: the state it then reads
// is the newest acknowledged one. A fenced activation fails the write,
// answers the reader with the error and stops.
func (a *twinActor) barrier(ctx actor.Context, readers ...stateReader) {
	// Confirm: a replica that missed some of this epoch's writes does not
	// count until it is brought in line.
	a.submit(ctx, &persistence.Write{TwinID: a.id, Epoch: a.epoch, Confirm: a.st.Version}, &commit{stateReaders: readers})
}

// confirmLate answers the reads that arrived while a commit was in
// flight: a commit submitted after them confirms them (the next one, or
// a barrier). That commit's own acknowledgement may predate the reads: a
// frozen node may wake up to acks of a commit a newer activation has
// since built on.
func (a *twinActor) confirmLate(ctx actor.Context, late []stateReader) {
	if len(late) == 0 {
		return
	}
	switch {
	case a.failed != "" || a.stopping || a.passivating:
		why := fmt.Sprintf("twin %s: the activation stopped; ask again", a.id)
		if a.failed != "" {
			why = a.failed
		}
		for _, rd := range late {
			if rd.proto {
				ctx.Send(rd.pid, &pb.TwinStateReply{TwinId: a.id, Error: why})
			} else {
				ctx.Send(rd.pid, &pb.TelemetryApplied{TwinId: a.id, Error: why})
			}
		}
	case a.inflight != nil:
		a.inflight.stateReaders = append(a.inflight.stateReaders, late...)
	default:
		a.barrier(ctx, late...)
	}
}

// stateReply encodes the twin's acknowledged state for GetTwinState.
func (a *twinActor) stateReply() *pb.TwinStateReply {
	data, err := encodeSnapshot(&a.st)
	if err != nil {
		return &pb.TwinStateReply{TwinId: a.id, Error: fmt.Sprintf("encode state: %v", err)}
	}
	return &pb.TwinStateReply{TwinId: a.id, Version: a.st.Version, Snapshot: data, Node: a.rt.NodeName()}
}

// getState asks a twin for a copy of its acknowledged state (a
// *twins.State reply; local only).
type getState struct{}

// peekState asks a local activation for a copy of its state without a
// read confirmation; it answers nil while a commit is in flight (its
// state may then be ahead of what is durable). A query's fan-out uses it
// with the store's head, which says whether the copy is what the store
// holds.
type peekState struct{}

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
	case *pb.SetConnectivity, *pb.SetDesired, *pb.InvokeCommandOp, *pb.AlarmOp:
		a.lastActive = time.Now().UnixNano()
		a.handle(ctx, request{sender: ctx.Sender(), msg: m})
	case *tickMsg:
		a.timerAt = 0
		a.handle(ctx, request{msg: m})
	case *reconfigured:
		spec, ok := m.cfg.Twin(a.id)
		if a.id != "" && (!ok || !spec.Same(a.st.Spec)) {
			// Its declaration changed (model, rules, labels) or it was
			// removed: save and stop; the next message activates it on
			// the new declaration, its state mapped by name.
			a.restart = true
			a.maybeRestart(ctx)
		}
	case *pb.Wake:
		a.handle(ctx, request{msg: &tickMsg{}})
	case *pb.ChildReport:
		if _, local := a.rt.reports.LoadAndDelete(m); local {
			a.handle(ctx, request{msg: countedReport{m}})
			return
		}
		a.handle(ctx, request{msg: m})
	case *dispatchMsg:
		a.dispatchQueued = false
		a.handle(ctx, request{msg: m})
	case *dispatchResult:
		if a.launched[m.id] == m.attempt {
			delete(a.launched, m.id)
		}
		a.handle(ctx, request{msg: m})
		a.maybeRestart(ctx)
	case *peekState:
		if a.failed != "" || a.inflight != nil {
			ctx.Respond((*twins.State)(nil))
			return
		}
		ctx.Respond(a.st.Clone())
	case *getState:
		a.lastActive = time.Now().UnixNano()
		if a.failed != "" {
			ctx.Respond(&pb.TelemetryApplied{TwinId: a.id, Error: a.failed})
			return
		}
		if a.inflight != nil {
			if a.confirmReads() {
				a.inflight.lateReaders = append(a.inflight.lateReaders, stateReader{pid: ctx.Sender()})
				return
			}
			a.inflight.stateReaders = append(a.inflight.stateReaders, stateReader{pid: ctx.Sender()})
			return
		}
		if a.confirmReads() {
			a.barrier(ctx, stateReader{pid: ctx.Sender()})
			return
		}
		ctx.Respond(a.st.Clone())
	case *pb.GetTwinState:
		a.lastActive = time.Now().UnixNano()
		if a.failed != "" {
			ctx.Respond(&pb.TwinStateReply{TwinId: a.id, Error: a.failed})
			return
		}
		if a.inflight != nil {
			if a.confirmReads() {
				a.inflight.lateReaders = append(a.inflight.lateReaders, stateReader{pid: ctx.Sender(), proto: true})
				return
			}
			a.inflight.stateReaders = append(a.inflight.stateReaders, stateReader{pid: ctx.Sender(), proto: true})
			return
		}
		if a.confirmReads() {
			a.barrier(ctx, stateReader{pid: ctx.Sender(), proto: true})
			return
		}
		ctx.Respond(a.stateReply())
	case *commitDone:
		a.committed(ctx, m.err)
	case *idleCheck:
		// A twin with a due time (an open for: window, a shelve, an
		// unfinished command) passivates only once that time is in the
		// node's durable wake schedule, which wakes it; one waiting for a
		// device's answer stays.
		if due := a.st.Due(); a.id != "" && !a.passivating && a.inflight == nil && m.now-a.lastActive >= int64(a.rt.cfg.PassivateAfter) &&
			(due == 0 || due == a.persistedDue) && len(a.launched) == 0 {
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
		if a.timer != nil {
			a.timer.Stop()
		}
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
	a.persistedDue = -1
	a.lastActive = time.Now().UnixNano()
	spec, ok := a.rt.Twins().Twin(id)
	if !ok {
		a.fail(ctx, fmt.Sprintf("twin %q is not declared", id))
		return
	}
	start := time.Now()
	a.st = *twins.NewState(spec) // embedded: one allocation less per twin
	epoch, _, err := a.rt.journal.Activate(id)
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
	a.st.Reconcile = a.writes
	a.loadKids()
	a.rt.met.activations.Inc()
	a.rt.met.recovery.Observe(time.Since(start).Seconds())
	for i := range a.st.Commands {
		if a.st.Commands[i].Status == twins.CommandDispatched {
			// Handed to the device by an earlier activation: its outcome
			// is unknown, and it must not be sent again.
			ctx.Send(ctx.Self(), &tickMsg{restarted: true})
			break
		}
	}
	a.afterChange(ctx)
}

// afterChange re-arms the twin's timer for its next due time and queues
// the dispatch of commands that are ready.
func (a *twinActor) afterChange(ctx actor.Context) {
	if a.failed != "" || a.passivating {
		return
	}
	now := a.rt.clock.Now().UnixNano()
	if !a.dispatchQueued && len(a.st.ReadyCommands(now)) > 0 {
		a.dispatchQueued = true
		a.rt.busy.Add(1)
		ctx.Send(ctx.Self(), &dispatchMsg{})
	}
	due := a.st.Due()
	if due == a.timerAt {
		return
	}
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.timerAt = due
	if due == 0 {
		return
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	rt := a.rt
	a.timer = a.rt.clock.AfterFunc(time.Duration(max(due-now, 0)), func() {
		rt.busy.Add(1)
		root.Send(self, &tickMsg{counted: true})
	})
}

// launches prepares the hand-over of dispatched commands to the device
// through the runtime's Device: it records them as launched and returns
// the function that starts them, each in its own goroutine, with the
// answer coming back as a dispatchResult. The twin calls it from the
// commit's callback as soon as the commit is durable, not from its
// mailbox, where the commit's answer would queue behind a burst of other
// twins' answers.
func (a *twinActor) launches(ctx actor.Context, recs []twins.CommandRecord) func() {
	if len(recs) == 0 {
		return nil
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	if a.launched == nil {
		a.launched = make(map[string]int)
	}
	for _, rec := range recs {
		a.launched[rec.ID] = rec.Attempts
	}
	twinID := a.id
	rt := a.rt
	return func() {
		d := rt.device.Load()
		for _, rec := range recs {
			// Counted until the twin has committed the answer (a
			// dispatchResult is counted work).
			rt.busy.Add(1)
			if d == nil {
				root.Send(self, &dispatchResult{id: rec.ID, attempt: rec.Attempts, err: errNoDevice})
				continue
			}
			rt.met.dispatched.Inc()
			go func() {
				// The context bounds the device call on the wall clock;
				// the command's deadline on the runtime's clock is
				// enforced by the twin's timer either way.
				cctx, cancel := context.WithTimeout(context.Background(), rec.Timeout)
				defer cancel()
				retry, err := (*d).Do(cctx, twinID, rec)
				root.Send(self, &dispatchResult{id: rec.ID, attempt: rec.Attempts, err: err, retry: retry})
			}()
		}
	}
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
		if counted(r.msg) {
			a.rt.busy.Add(-1)
		}
		a.send(ctx, r.sender, a.failure(r.msg, a.failed))
		return
	}
	if a.inflight != nil {
		a.inflight.queued = append(a.inflight.queued, r)
		return
	}
	a.process(ctx, []request{r})
}

// resent reports whether msg was sent again by its node.
func resent(msg any) bool {
	switch m := msg.(type) {
	case *pb.ApplyTelemetry:
		return m.Resent
	case *pb.SetConnectivity:
		return m.Resent
	case *pb.SetDesired:
		return m.Resent
	case *pb.InvokeCommandOp:
		return m.Resent
	case *pb.AlarmOp:
		return m.Resent
	}
	return false
}

func correlation(msg any) uint64 {
	switch m := msg.(type) {
	case *pb.ApplyTelemetry:
		return m.CorrelationId
	case *pb.SetConnectivity:
		return m.CorrelationId
	case *pb.SetDesired:
		return m.CorrelationId
	case *pb.InvokeCommandOp:
		return m.CorrelationId
	case *pb.AlarmOp:
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
	if resent(r.msg) {
		// Maybe applied by an earlier activation (on another node) whose
		// answer was lost: its journal, which this activation adopted,
		// says so.
		if version, accepted, ok := a.journaledRequest(id); ok {
			a.send(ctx, r.sender, &pb.TelemetryApplied{CorrelationId: id, TwinId: a.id, Version: version, Accepted: accepted})
			return true
		}
	}
	return false
}

// requestScan is how far back in the journal a re-sent request is looked
// for.
const requestScan = 512

// journaledRequest looks for request id among the twin's newest journal
// entries; it returns the version the request ended at and the samples it
// accepted.
func (a *twinActor) journaledRequest(id uint64) (int64, int32, bool) {
	var version int64
	var accepted int32
	found := false
	err := a.rt.store.ReadJournal(a.id, max(1, a.st.Version-requestScan), func(v int64, _ uint64, data []byte) error {
		if rid, acc := requestIDOf(data); rid == id {
			version, accepted, found = v, acc, true
		}
		return nil
	})
	if err != nil {
		a.rt.log.Warn("cannot look for a re-sent request in the journal", "twin", a.id, "err", err)
		return 0, 0, false
	}
	return version, accepted, found
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
	w := &persistence.Write{TwinID: a.id, Epoch: a.epoch}
	c := &commit{}
	publish := a.rt.feed.active() && a.rt.feed.interested(a.id)
	for _, r := range reqs {
		if counted(r.msg) {
			c.busy++
		}
		if a.seen(ctx, r) {
			continue
		}
		rep := &pb.TelemetryApplied{CorrelationId: correlation(r.msg), TwinId: a.id}
		start := a.st.Version
		dec, err := a.decide(r.msg, now)
		if err != nil {
			rep.Error, rep.Reason = err.Error(), reasonOf(err)
			a.send(ctx, r.sender, rep)
			continue
		}
		for _, rj := range dec.Rejected {
			a.rt.met.rejected[rj.Reason].Inc()
			rep.Rejected = append(rep.Rejected, &pb.SampleRejected{Index: int32(rj.Index), Property: rj.Property, Reason: rj.Reason.String(), Detail: rj.Detail})
		}
		rep.Accepted += a.record(w, c, dec.Events, start, now, publish)
		if dec.Command != nil {
			rep.Command = CommandToProto(a.id, dec.Command)
		}
		if dec.Alarm != nil {
			if al, ok := a.st.Alarm(dec.Alarm.Name); ok {
				rep.Alarm = AlarmToProto(a.id, al, now)
			}
		}
		rep.Version = a.st.Version
		if rep.CorrelationId != 0 {
			rr := a.remember(rep.CorrelationId)
			rr.version, rr.accepted = rep.Version, rep.Accepted
			if a.st.Version > start {
				// Journaled with the request's last event, for a later
				// activation that gets the request again.
				last := &w.Events[len(w.Events)-1]
				last.Data = appendRequestID(last.Data, rep.CorrelationId, rep.Accepted)
			}
		}
		if r.sender != nil {
			c.replies = append(c.replies, reply{to: r.sender, msg: rep})
		}
	}
	if len(w.Events) > 0 && a.rt.device.Load() != nil {
		// Commands the requests made ready (a rule's action, an operator's
		// invocation) go out in this same commit: one sync less between a
		// sample and its command reaching the device.
		if ready := a.st.ReadyCommands(now); len(ready) > 0 {
			start := a.st.Version
			if dec, err := a.decide(&dispatchMsg{}, now); err == nil {
				a.record(w, c, dec.Events, start, now, publish)
			}
		}
	}
	if len(w.Events) == 0 {
		// Nothing changed, so the state is as durable as it was.
		a.rt.busy.Add(-int64(c.busy))
		a.finishReplies(ctx, c.replies)
		a.afterChange(ctx)
		a.maybeFinish(ctx)
		return
	}
	if a.st.Version-a.snapVersion >= int64(a.rt.cfg.SnapshotEvery) {
		if data, err := encodeSnapshot(&a.st); err == nil {
			w.Snapshot = &persistence.Snapshot{Version: a.st.Version, Data: data}
			c.snapshot = a.st.Version
		}
	}
	if due := a.st.Due(); due != a.persistedDue {
		w.Wake = &due
		c.wake = &due
	}
	c.events = len(w.Events)
	a.submit(ctx, w, c)
}

// record adds events (applied, the first taking version start+1) to the
// write and the commit: journal entries, history points, audit entries,
// commands to launch, changes to publish. It returns the samples accepted.
func (a *twinActor) record(w *persistence.Write, c *commit, events []twins.Event, start, now int64, publish bool) int32 {
	model := a.st.Spec.Model
	var accepted int32
	for i, ev := range events {
		version := start + int64(i) + 1
		data, err := encodeEvent(model, ev)
		if err != nil { // broken invariant: events come from Decide
			panic(err)
		}
		w.Events = append(w.Events, persistence.Entry{Version: version, Data: data})
		if publish {
			c.changes = append(c.changes, VersionedEvent{Version: version, Event: ev})
		}
		switch e := ev.(type) {
		case twins.TelemetryApplied:
			accepted += int32(len(e.Samples))
			if !c.reportParent && a.parentReads != nil {
				for _, smp := range e.Samples {
					if a.parentReads[model.Properties[smp.Property].Name] {
						c.reportParent = true
						break
					}
				}
			}
			for _, s := range e.Samples {
				hv, err := encodeHistoryValue(s.Value, s.Quality, e.ServerTime)
				if err != nil {
					panic(err)
				}
				w.History = append(w.History, persistence.HistoryPoint{Property: model.Properties[s.Property].Name, SourceTime: s.SourceTime, Version: version, Data: hv})
			}
		case twins.CommandChanged:
			if e.Command.Status == twins.CommandDispatched && e.Command.Acked == 0 {
				// A new attempt (an acknowledged write waiting for its
				// value is dispatched too, but already carried out).
				c.launch = append(c.launch, e.Command)
			}
			a.rt.met.commandChanged(e.Command.Status)
		case twins.AlarmChanged:
			a.rt.met.alarmChanged(e.Kind)
		case twins.RuleFired:
			if e.Command != "" {
				c.related = append(c.related, firedAt{version: version, ev: e})
			}
		}
		if ae := auditEntry(model, ev, now); ae != nil {
			data, err := proto.MarshalOptions{Deterministic: true}.Marshal(ae)
			if err != nil {
				panic(err)
			}
			w.Audit = append(w.Audit, persistence.Entry{Version: version, Data: data})
		}
	}
	return accepted
}

// decide runs one request through the twin's state (twins.State.Handle:
// the events come back already applied).
func (a *twinActor) decide(msg any, now int64) (twins.Decision, error) {
	switch m := msg.(type) {
	case *pb.ApplyTelemetry:
		cmd := twins.ApplyTelemetry{Samples: make([]twins.Sample, len(m.Samples)), Policy: a.rt.Twins().Ingest}
		for i, s := range m.Samples {
			cmd.Samples[i] = twins.Sample{Property: s.GetProperty(), Value: ValueFromProto(s.GetValue()), SourceTime: s.GetSourceTimeUnixNano(), Quality: qualityFromProto(s.GetQuality())}
		}
		return a.st.Handle(&cmd, now)
	case *pb.SetConnectivity:
		return a.st.Handle(twins.SetConnectivity{Connectivity: twins.Connectivity(m.Connectivity)}, now)
	case *pb.SetDesired:
		return a.decideDesired(m, now)
	case *pb.InvokeCommandOp:
		args := make(map[string]twins.Value, len(m.Args))
		for k, v := range m.Args {
			args[k] = ValueFromProto(v)
		}
		return a.st.Handle(twins.InvokeCommand{Name: m.Command, Args: args, Key: m.Key, Actor: m.Actor,
			Timeout: time.Duration(m.TimeoutNanos), TTL: time.Duration(m.TtlNanos)}, now)
	case *pb.AlarmOp:
		if m.Acknowledge {
			return a.st.Handle(twins.AcknowledgeAlarm{Name: m.Rule, Actor: m.Actor}, now)
		}
		return a.st.Handle(twins.ShelveAlarm{Name: m.Rule, Until: m.Until, Actor: m.Actor, Reason: m.Reason}, now)
	case *tickMsg:
		return a.st.Handle(twins.Tick{Now: now, Restarted: m.restarted}, now)
	case *dispatchMsg:
		var all twins.Decision
		for _, id := range a.st.ReadyCommands(now) {
			d, err := a.st.Handle(twins.DispatchCommand{ID: id}, now)
			if err != nil {
				return all, err
			}
			all.Events = append(all.Events, d.Events...)
		}
		return all, nil
	case countedReport:
		return a.decide(m.ChildReport, now)
	case *pb.ChildReport:
		values := make(map[string]twins.Value, len(m.Values))
		for k, v := range m.Values {
			values[k] = ValueFromProto(v)
		}
		return a.st.Handle(twins.ChildReport{Child: m.ChildId, Values: values, At: m.At}, now)
	case *dispatchResult:
		out := twins.CommandOutcome{ID: m.id, Attempt: m.attempt, Retry: m.retry}
		if m.err != nil {
			out.Err = m.err.Error()
		}
		return a.st.Handle(out, now)
	}
	return twins.Decision{}, fmt.Errorf("twin %s: unknown request %T", a.id, msg)
}

func (a *twinActor) submit(ctx actor.Context, w *persistence.Write, c *commit) {
	a.inflight = c
	self, root := ctx.Self(), ctx.ActorSystem().Root
	start := a.launches(ctx, c.launch)
	a.rt.journal.Submit(w, func(err error) {
		if err == nil && start != nil {
			start() // durable: the commands may go
		}
		root.Send(self, &commitDone{err: err})
	})
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
	// Released last: the work this commit starts (launches, related
	// twins' commands, timers) is counted before this is, so a lockstep
	// driver never sees the node idle in between.
	defer a.rt.busy.Add(-int64(c.busy))
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
			if counted(q.msg) {
				a.rt.busy.Add(-1)
			}
			a.send(ctx, q.sender, a.failure(q.msg, why))
		}
		for _, rd := range append(c.stateReaders, c.lateReaders...) {
			if rd.proto {
				ctx.Send(rd.pid, &pb.TwinStateReply{TwinId: a.id, Error: why})
				continue
			}
			ctx.Send(rd.pid, &pb.TelemetryApplied{TwinId: a.id, Error: why})
		}
		a.failed = why
		a.stopping = true
		ctx.Stop(ctx.Self())
		return
	}
	defer a.confirmLate(ctx, c.lateReaders)
	a.rt.met.updates.Add(float64(c.events))
	if c.wake != nil {
		a.persistedDue = *c.wake
		a.rt.wakes.set(a.id, *c.wake)
	}
	if c.snapshot > 0 {
		a.snapVersion = c.snapshot
	}
	if len(c.changes) > 0 {
		// Before the replies: whoever holds an acknowledgement finds the
		// change in its subscription already.
		a.rt.feed.publish(a.id, func() *Change { return &Change{Spec: a.st.Spec, State: a.st.Clone(), Events: c.changes} })
	}
	a.finishReplies(ctx, c.replies)
	a.sendRelated(c.related)
	if c.reportParent {
		a.reportToParent()
	}
	a.afterChange(ctx)
	for _, rd := range c.stateReaders {
		if rd.proto {
			ctx.Send(rd.pid, a.stateReply())
			continue
		}
		ctx.Send(rd.pid, a.st.Clone())
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
	err = a.rt.journal.Commit(ctx, &persistence.Write{TwinID: a.id, Epoch: a.epoch, Snapshot: &persistence.Snapshot{Version: a.st.Version, Data: data}})
	switch {
	case errors.Is(err, persistence.ErrFenced):
		// A newer activation on another node took over (the twin moved):
		// its log is the twin's now, and this one has nothing to add.
		a.rt.log.Info("twin moved: a newer activation took over", "twin", a.id)
	case err != nil:
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
	for _, n := range names {
		if _, err := a.st.Decide(twins.SetDesired{Property: n, Value: ValueFromProto(m.Values[n]), ExpectedVersion: m.ExpectedVersion, Actor: m.Actor}, now); err != nil {
			return twins.Decision{}, err
		}
	}
	var d twins.Decision
	dev := a.rt.device.Load()
	for _, n := range names {
		reconcile := dev != nil && (*dev).Writes(a.id, n)
		one, err := a.st.Handle(twins.SetDesired{Property: n, Value: ValueFromProto(m.Values[n]), Actor: m.Actor, Reconcile: reconcile}, now)
		if err != nil {
			return twins.Decision{}, err
		}
		d.Events = append(d.Events, one.Events...)
	}
	return d, nil
}
