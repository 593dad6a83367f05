package actors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

// ingest is the in-process telemetry path: it routes batches to twin
// actors (activating them), matches their answers to callers by
// correlation id, re-sends batches that got no answer within
// RetryInterval (twins answer a re-sent batch from memory instead of
// applying it twice) and fails them after RequestTimeout.
type ingest struct {
	rt    *Runtime
	reply *actor.PID
	topo  *eventstream.Subscription
	next  atomic.Uint64
	// resending bounds the re-sends in progress.
	resending chan struct{}
	stopC     chan struct{}
	wg        sync.WaitGroup

	mu struct {
		sync.Mutex
		calls map[uint64]*call
	}
}

type call struct {
	msg      any // *pb.ApplyTelemetry or *pb.SetConnectivity
	twinID   string
	done     func(*pb.TelemetryApplied, error)
	deadline time.Time
	resend   time.Time
	sentTo   string // the owner's address it was last sent to (under ingest.mu)
}

func newIngest(rt *Runtime) *ingest {
	in := &ingest{rt: rt, stopC: make(chan struct{}), resending: make(chan struct{}, 32)}
	in.mu.calls = make(map[uint64]*call)
	// Twins recognise a re-sent request by its id, whichever node sent
	// it: ids start at a random point per process, so two nodes' (or two
	// incarnations') ids do not meet.
	in.next.Store(rand.Uint64())
	in.reply = rt.system.Root.Spawn(actor.PropsFromFunc(in.receive))
	// When the owner of a twin changes (a node died or left), calls sent
	// to the old one go to the new one at the next sweep, not after their
	// retry interval. The lookup's subscription, made earlier, has
	// installed the new placement by the time this one runs.
	in.topo = rt.system.EventStream.Subscribe(func(ev any) {
		switch ev.(type) {
		case *cluster.ClusterTopology, rosterChanged:
			in.onTopology()
		}
	})
	in.wg.Add(1)
	go in.sweep()
	return in
}

// receive runs in the reply actor: it completes calls.
func (in *ingest) receive(ctx actor.Context) {
	m, ok := ctx.Message().(*pb.TelemetryApplied)
	if !ok {
		return
	}
	in.mu.Lock()
	c := in.mu.calls[m.CorrelationId]
	delete(in.mu.calls, m.CorrelationId)
	in.mu.Unlock()
	if c == nil {
		return // answered already (a re-sent batch), or timed out
	}
	if m.Error != "" {
		c.done(m, twinError(m.Reason, m.Error))
		return
	}
	c.done(m, nil)
}

// sweep re-sends and times out calls (wall time: network deadlines).
func (in *ingest) sweep() {
	defer in.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-in.stopC:
			return
		case now := <-t.C:
			var expired, resend []*call
			in.mu.Lock()
			for id, c := range in.mu.calls {
				switch {
				case now.After(c.deadline):
					delete(in.mu.calls, id)
					expired = append(expired, c)
				case now.After(c.resend):
					c.resend = now.Add(in.rt.cfg.RetryInterval)
					resend = append(resend, c)
				}
			}
			in.mu.Unlock()
			for _, c := range expired {
				in.rt.met.failed.WithLabelValues("timeout").Inc()
				c.done(nil, fmt.Errorf("%w: twin %s", ErrTimeout, c.twinID))
			}
			for _, c := range resend {
				in.rt.met.retries.Inc()
				in.markResent(c)
				// A send to a node that stopped answering (frozen, cut
				// off) waits for its activation request to time out:
				// several go at once, so one such node does not hold up
				// the re-sends to the others.
				select {
				case in.resending <- struct{}{}:
				case <-in.stopC:
					return
				}
				in.wg.Add(1)
				go func() {
					defer func() { <-in.resending; in.wg.Done() }()
					in.send(c)
				}()
			}
		}
	}
}

func (in *ingest) send(c *call) bool {
	in.mu.Lock()
	msg := c.msg
	in.mu.Unlock()
	owner, ok := in.rt.lookup.SendTo(in.rt.identity(c.twinID), msg, in.reply)
	in.mu.Lock()
	c.sentTo = owner
	if owner == "" {
		// No owner yet (a node just died): ask again soon.
		c.resend = time.Now().Add(noOwnerRetry)
	}
	in.mu.Unlock()
	return ok
}

// markResent replaces the call's message with a copy whose resent field
// is set (the first may still be in a local twin's mailbox: it is not
// changed). Every request message has one (actor.proto).
func (in *ingest) markResent(c *call) {
	in.mu.Lock()
	defer in.mu.Unlock()
	m, ok := c.msg.(proto.Message)
	if !ok {
		return
	}
	fd := m.ProtoReflect().Descriptor().Fields().ByName("resent")
	if fd == nil || m.ProtoReflect().Get(fd).Bool() {
		return
	}
	cp := proto.Clone(m)
	cp.ProtoReflect().Set(fd, protoreflect.ValueOfBool(true))
	c.msg = cp
}

// noOwnerRetry is how soon a call that found no owner is sent again.
const noOwnerRetry = 250 * time.Millisecond

// onTopology makes every call whose twin's owner changed since it was
// sent due for re-sending at the next sweep.
func (in *ingest) onTopology() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, c := range in.mu.calls {
		if c.sentTo != in.rt.lookup.Owner(in.rt.identity(c.twinID)) {
			c.resend = time.Time{}
		}
	}
}

// submit starts a call; done is called exactly once.
func (in *ingest) submit(twinID string, msg any, setID func(uint64), done func(*pb.TelemetryApplied, error)) {
	id := in.next.Add(1)
	if id == 0 { // 0 means "no id"
		id = in.next.Add(1)
	}
	setID(id)
	now := time.Now()
	c := &call{msg: msg, twinID: twinID, done: done, deadline: now.Add(in.rt.cfg.RequestTimeout), resend: now.Add(in.rt.cfg.RetryInterval)}
	in.mu.Lock()
	if len(in.mu.calls) >= in.rt.cfg.MaxInFlight {
		in.mu.Unlock()
		in.rt.met.failed.WithLabelValues("overloaded").Inc()
		done(nil, fmt.Errorf("%w (%d)", ErrOverloaded, in.rt.cfg.MaxInFlight))
		return
	}
	in.mu.calls[id] = c
	in.mu.Unlock()
	if !in.send(c) {
		// No owner right now; the sweeper re-sends until the deadline.
		in.rt.met.retries.Inc()
	}
}

// drain waits until no call is in flight, or max has passed.
func (in *ingest) drain(max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		in.mu.Lock()
		n := len(in.mu.calls)
		in.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (in *ingest) stop() {
	in.rt.system.EventStream.Unsubscribe(in.topo)
	close(in.stopC)
	in.wg.Wait()
	in.mu.Lock()
	calls := in.mu.calls
	in.mu.calls = map[uint64]*call{}
	in.mu.Unlock()
	for _, c := range calls {
		c.done(nil, ErrClosed)
	}
	in.rt.system.Root.Stop(in.reply)
}

// Submit sends a telemetry batch to its twin and returns at once. done is
// called exactly once, from another goroutine, when the twin has durably
// applied the batch (with per-sample rejections in the answer) or it
// failed (unknown twin, shutting down, timeout, storage error). done must
// not block.
func (r *Runtime) Submit(batch *pb.ApplyTelemetry, done func(*pb.TelemetryApplied, error)) {
	id := batch.GetTwinId()
	if r.closing.Load() {
		r.met.failed.WithLabelValues("closed").Inc()
		done(nil, ErrClosed)
		return
	}
	if _, ok := r.Twins().Twin(id); !ok {
		r.met.rejected[twins.ReasonUnknownTwin].Add(float64(len(batch.Samples)))
		done(nil, fmt.Errorf("%w: %q", ErrUnknownTwin, id))
		return
	}
	r.ingest.submit(id, batch, func(c uint64) { batch.CorrelationId = c }, done)
}

// Apply sends a telemetry batch to its twin and waits until it is durable.
func (r *Runtime) Apply(ctx context.Context, batch *pb.ApplyTelemetry) (*pb.TelemetryApplied, error) {
	return await(ctx, func(done func(*pb.TelemetryApplied, error)) { r.Submit(batch, done) })
}

// SetConnectivity records whether a twin's device is reachable and waits
// until that is durable.
func (r *Runtime) SetConnectivity(ctx context.Context, twinID string, c pb.Connectivity) (*pb.TelemetryApplied, error) {
	return await(ctx, func(done func(*pb.TelemetryApplied, error)) { r.SubmitConnectivity(twinID, c, done) })
}

// await runs an asynchronous submission and waits for its answer or ctx.
func await(ctx context.Context, submit func(done func(*pb.TelemetryApplied, error))) (*pb.TelemetryApplied, error) {
	type result struct {
		rep *pb.TelemetryApplied
		err error
	}
	ch := make(chan result, 1) // the callback never blocks, even after ctx ends
	submit(func(rep *pb.TelemetryApplied, err error) { ch <- result{rep, err} })
	select {
	case res := <-ch:
		return res.rep, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SubmitConnectivity is the asynchronous form of SetConnectivity.
func (r *Runtime) SubmitConnectivity(twinID string, c pb.Connectivity, done func(*pb.TelemetryApplied, error)) {
	if err := r.admit(twinID); err != nil {
		done(nil, err)
		return
	}
	msg := &pb.SetConnectivity{TwinId: twinID, Connectivity: c}
	r.ingest.submit(twinID, msg, func(id uint64) { msg.CorrelationId = id }, done)
}

// SetDesired sets desired values of writable properties of a twin, all or
// none, and waits until that is durable. expectedVersion 0 means any
// version; actor (the caller's identity) is journaled with the change.
// Errors wrap twins.ErrVersionConflict, ErrUnknownProperty, ErrNotWritable
// or ErrInvalidValue when the twin refused the update.
func (r *Runtime) SetDesired(ctx context.Context, twinID string, values map[string]*pb.Value, expectedVersion int64, actor string) (*pb.TelemetryApplied, error) {
	msg := &pb.SetDesired{TwinId: twinID, Values: values, ExpectedVersion: expectedVersion, Actor: actor}
	return r.request(ctx, twinID, msg, func(id uint64) { msg.CorrelationId = id })
}

// admit checks that a write to twinID may be sent at all.
func (r *Runtime) admit(twinID string) error {
	if r.closing.Load() {
		return ErrClosed
	}
	if _, ok := r.Twins().Twin(twinID); !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTwin, twinID)
	}
	return nil
}

// Reasons a twin gives for refusing a write (TelemetryApplied.reason).
const (
	reasonVersionConflict = "version_conflict"
	reasonUnknownProperty = "unknown_property"
	reasonNotWritable     = "not_writable"
	reasonInvalidValue    = "invalid_value"
	reasonNoSuchCommand   = "no_such_command"
	reasonInvalidArgs     = "invalid_args"
	reasonNoSuchAlarm     = "no_such_alarm"
	reasonNothingToAck    = "nothing_to_acknowledge"
	reasonInvalidShelve   = "invalid_shelve"
)

// reasonOf classifies a Decide error for the wire.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, twins.ErrVersionConflict):
		return reasonVersionConflict
	case errors.Is(err, twins.ErrUnknownProperty):
		return reasonUnknownProperty
	case errors.Is(err, twins.ErrNotWritable):
		return reasonNotWritable
	case errors.Is(err, twins.ErrInvalidValue):
		return reasonInvalidValue
	case errors.Is(err, twins.ErrNoSuchCommand):
		return reasonNoSuchCommand
	case errors.Is(err, twins.ErrInvalidArgs):
		return reasonInvalidArgs
	case errors.Is(err, twins.ErrNoSuchAlarm):
		return reasonNoSuchAlarm
	case errors.Is(err, twins.ErrNothingToAcknowledge):
		return reasonNothingToAck
	case errors.Is(err, twins.ErrInvalidShelve):
		return reasonInvalidShelve
	}
	return ""
}

// twinError is a twin's refusal as it said it, matching (errors.Is) the
// domain error of its reason: a refusal with a reason is a domain error
// whose text already names it; one without (storage, fencing, shutdown)
// is ErrUnavailable with the twin's words.
func twinError(reason, msg string) error {
	if reason == "" {
		return fmt.Errorf("%w: %s", ErrUnavailable, msg)
	}
	return &refusal{sentinel: reasonError(reason), msg: msg}
}

type refusal struct {
	sentinel error
	msg      string
}

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return e.sentinel }

// reasonError maps a wire reason back to the domain error.
func reasonError(reason string) error {
	switch reason {
	case reasonVersionConflict:
		return twins.ErrVersionConflict
	case reasonUnknownProperty:
		return twins.ErrUnknownProperty
	case reasonNotWritable:
		return twins.ErrNotWritable
	case reasonInvalidValue:
		return twins.ErrInvalidValue
	case reasonNoSuchCommand:
		return twins.ErrNoSuchCommand
	case reasonInvalidArgs:
		return twins.ErrInvalidArgs
	case reasonNoSuchAlarm:
		return twins.ErrNoSuchAlarm
	case reasonNothingToAck:
		return twins.ErrNothingToAcknowledge
	case reasonInvalidShelve:
		return twins.ErrInvalidShelve
	}
	return ErrUnavailable
}

// InvokeCommand asks a twin to carry out a command and waits until the
// command is journaled: pending, or failed at once when an interlock
// blocks it. An empty op.Key gets a fresh one, so that a request the
// runtime re-sends to the twin (no answer within the retry interval)
// creates one command, not two. Errors wrap twins.ErrNoSuchCommand or
// ErrInvalidArgs when the twin refused the request.
func (r *Runtime) InvokeCommand(ctx context.Context, op *pb.InvokeCommandOp) (*pb.Command, error) {
	if op.Key == "" {
		op.Key = "auto:" + r.NodeID() + ":" + strconv.FormatUint(r.keys.Add(1), 36)
	}
	rep, err := r.request(ctx, op.TwinId, op, func(id uint64) { op.CorrelationId = id })
	if err != nil {
		return nil, err
	}
	if rep.Command == nil {
		// A re-sent request answered from the twin's reply cache: read
		// the command by its key.
		st, _, err := r.State(ctx, op.TwinId)
		if err != nil {
			return nil, err
		}
		c, ok := st.CommandByKey(op.Key)
		if !ok {
			return nil, fmt.Errorf("%w: command with key %q of twin %s not found after it was accepted", ErrUnavailable, op.Key, op.TwinId)
		}
		return CommandToProto(op.TwinId, c), nil
	}
	return rep.Command, nil
}

// request sends msg to its twin and waits for the twin's answer.
func (r *Runtime) request(ctx context.Context, twinID string, msg any, setID func(uint64)) (*pb.TelemetryApplied, error) {
	return await(ctx, func(done func(*pb.TelemetryApplied, error)) {
		if err := r.admit(twinID); err != nil {
			done(nil, err)
			return
		}
		r.ingest.submit(twinID, msg, setID, done)
	})
}

// OperateAlarm acknowledges, shelves or unshelves a twin's alarm and waits
// until that is journaled; it returns the alarm after it. Errors wrap
// twins.ErrNoSuchAlarm, ErrNothingToAcknowledge or ErrInvalidShelve.
func (r *Runtime) OperateAlarm(ctx context.Context, op *pb.AlarmOp) (*pb.Alarm, error) {
	rep, err := r.request(ctx, op.TwinId, op, func(id uint64) { op.CorrelationId = id })
	if err != nil {
		return nil, err
	}
	if rep.Alarm == nil {
		st, _, err := r.State(ctx, op.TwinId)
		if err != nil {
			return nil, err
		}
		a, ok := st.Alarm(op.Rule)
		if !ok {
			return nil, fmt.Errorf("%w: %q on twin %s", twins.ErrNoSuchAlarm, op.Rule, op.TwinId)
		}
		return AlarmToProto(op.TwinId, a, r.clock.Now().UnixNano()), nil
	}
	return rep.Alarm, nil
}
