package edge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// Runtime is what connectors need of the twin runtime;
// *actors.Runtime satisfies it.
type Runtime interface {
	// Submit sends a telemetry batch to its twin; done is called once,
	// from another goroutine, when it is durable or failed, and must not
	// block.
	Submit(batch *pb.ApplyTelemetry, done func(*pb.TelemetryApplied, error))
	// SubmitConnectivity records whether a twin's device is reachable.
	SubmitConnectivity(twinID string, c pb.Connectivity, done func(*pb.TelemetryApplied, error))
}

// OutboxStore keeps batches the runtime could not take, durably and in
// order; *persistence.Outbox satisfies it.
type OutboxStore interface {
	Append(data []byte) (seq uint64, dropped int, err error)
	Peek(max int, fn func(seq uint64, data []byte) error) error
	Ack(seq uint64) error
	Len() int
}

// Sink hands one connector's samples to the runtime: one batch per twin
// per read cycle, connectivity changes only when they change, and counts
// of what was accepted, rejected and failed. It never blocks the
// connector. Safe for concurrent use.
//
// With an outbox, a batch the runtime cannot take (overloaded, twin
// unavailable, node shutting down) is appended to it, and so is every
// batch after it until the outbox has drained: a drainer goroutine
// resubmits the outbox in order, oldest first, acknowledging what the
// twins applied, with backoff while they still cannot. Inside the
// outbox's bound nothing is lost, and the outbox survives a restart.
// Order is kept from the first refused batch on; a batch that fails late
// (a timeout) while newer ones of the same twin were applied is applied
// after them: the twin keeps the newest value by source time and the late
// one lands in history.
type Sink struct {
	rt  Runtime
	box OutboxStore // nil: failed batches are counted and dropped
	log *slog.Logger

	backlog atomic.Bool     // the outbox (or the spill queue) holds batches
	ahead   map[uint64]bool // outbox entries applied but not yet acknowledged (the drainer's)
	spill   chan *pb.ApplyTelemetry
	stopC   chan struct{}
	done    chan struct{}
	lost    atomic.Int64 // batches lost: spill queue full, outbox refused, encode failure

	mu           sync.Mutex
	online       map[string]bool     // twin → last connectivity sent
	connRetry    map[string]bool     // twins whose connectivity change must be sent again
	connRetrying bool                // a retry is scheduled
	rate         [rateSlots]rateSlot // samples per wall-clock second, a ring

	// Lockstep (SetLockstep): the connectors' clock, and their steps.
	now   func() time.Time
	steps chan chan error

	samples  atomic.Int64 // samples submitted
	accepted atomic.Int64 // samples durably applied
	rejected atomic.Int64 // samples the twins refused (model validation)
	failed   atomic.Int64 // batches that failed as a whole (overloaded, unavailable)
	inFlight atomic.Int64
}

const rateSlots = 11 // 10 full seconds plus the current one

type rateSlot struct {
	sec int64
	n   int64
}

// NewSink returns a sink into rt without an outbox.
func NewSink(rt Runtime) *Sink {
	return &Sink{rt: rt, online: map[string]bool{}}
}

// spillQueue bounds the batches waiting to be appended to the outbox;
// past it they are lost and counted.
const spillQueue = 16384

// NewSinkWithOutbox returns a sink into rt that keeps what the runtime
// cannot take in box, and starts its drainer; Close stops it. An outbox
// left non-empty by a previous run is drained first.
func NewSinkWithOutbox(rt Runtime, box OutboxStore, log *slog.Logger) *Sink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{rt: rt, box: box, log: log, online: map[string]bool{}, spill: make(chan *pb.ApplyTelemetry, spillQueue), ahead: map[uint64]bool{},
		stopC: make(chan struct{}), done: make(chan struct{})}
	s.backlog.Store(box.Len() > 0)
	go s.drain()
	return s
}

// Close stops the drainer (what is in the outbox stays there). Idempotent.
func (s *Sink) Close() {
	if s.stopC == nil {
		return
	}
	select {
	case <-s.stopC:
	default:
		close(s.stopC)
	}
	<-s.done
}

// retryable reports whether a failed batch may succeed later.
func retryable(err error) bool {
	return errors.Is(err, actors.ErrOverloaded) || errors.Is(err, actors.ErrUnavailable) ||
		errors.Is(err, actors.ErrTimeout) || errors.Is(err, actors.ErrClosed)
}

// toOutbox queues b for the outbox without blocking.
func (s *Sink) toOutbox(b *pb.ApplyTelemetry) {
	s.backlog.Store(true)
	select {
	case s.spill <- b:
	default:
		s.lost.Add(1)
	}
}

// drain owns the outbox: it appends spilled batches and resubmits the
// outbox in order.
func (s *Sink) drain() {
	defer close(s.done)
	delays := NewDelays(Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}, 1)
	for {
		// Append everything spilled so far, in order.
		for appended := true; appended; {
			select {
			case b := <-s.spill:
				s.append(b)
			default:
				appended = false
			}
		}
		if s.box.Len() == 0 {
			s.backlog.Store(false)
			// A batch may have been spilled between the drain above and
			// the store: take it before sleeping.
			select {
			case b := <-s.spill:
				s.append(b)
				continue
			case <-s.stopC:
				return
			}
		}
		progress, done := s.resubmit()
		if done {
			delays.Reset()
			continue
		}
		d := delays.Next()
		if progress {
			// The runtime takes some: come back soon, without backing off.
			delays.Reset()
			d = 10 * time.Millisecond
		}
		t := time.NewTimer(d)
		select {
		case <-s.stopC:
			t.Stop()
			return
		case b := <-s.spill:
			t.Stop()
			s.append(b)
		case <-t.C:
		}
	}
}

func (s *Sink) append(b *pb.ApplyTelemetry) {
	b.CorrelationId = 0
	data, err := proto.Marshal(b)
	if err == nil {
		var dropped int
		_, dropped, err = s.box.Append(data)
		s.lost.Add(int64(dropped))
	}
	if err != nil {
		s.lost.Add(1)
		s.log.Warn("outbox append failed; batch lost", "twin", b.TwinId, "err", err)
	}
}

// resubmit submits up to 256 of the oldest outbox entries and
// acknowledges the longest run of them, from the oldest, that the twins
// applied. Each twin's entries go one after the other (a twin's order is
// kept even when the runtime refuses some), different twins' in
// parallel; a twin's chain stops at its first entry the runtime still
// cannot take. Entries applied beyond the acknowledged run are remembered
// (ahead) and skipped next time, so none is applied twice while the
// process runs. progress says whether anything was applied; done whether
// the whole window was.
func (s *Sink) resubmit() (progress, done bool) {
	type entry struct {
		seq  uint64
		b    *pb.ApplyTelemetry
		err  error
		sent bool
	}
	var batch []*entry
	err := s.box.Peek(256, func(seq uint64, data []byte) error {
		e := &entry{seq: seq}
		if s.ahead[seq] {
			batch = append(batch, e) // applied in an earlier round
			return nil
		}
		b := &pb.ApplyTelemetry{}
		if err := proto.Unmarshal(data, b); err != nil {
			s.lost.Add(1) // undecodable: skip it
			batch = append(batch, e)
			return nil
		}
		e.b = b
		batch = append(batch, e)
		return nil
	})
	if err != nil || len(batch) == 0 {
		return false, false
	}
	chains := map[string][]*entry{}
	var order []string
	for _, e := range batch {
		if e.b == nil {
			continue
		}
		if _, ok := chains[e.b.TwinId]; !ok {
			order = append(order, e.b.TwinId)
		}
		chains[e.b.TwinId] = append(chains[e.b.TwinId], e)
	}
	var wg sync.WaitGroup
	var applied atomic.Int64
	var run func(chain []*entry)
	run = func(chain []*entry) {
		e := chain[0]
		e.sent = true
		s.inFlight.Add(1)
		s.rt.Submit(e.b, func(rep *pb.TelemetryApplied, err error) {
			s.inFlight.Add(-1)
			e.err = err
			switch {
			case err == nil:
				applied.Add(1)
				s.accepted.Add(int64(rep.Accepted))
				s.rejected.Add(int64(len(rep.Rejected)))
			case retryable(err):
				wg.Done() // the rest of this twin's chain waits for the next round
				return
			default:
				s.failed.Add(1) // not retryable (an unknown twin): give up on it
			}
			if len(chain) > 1 {
				run(chain[1:])
				return
			}
			wg.Done()
		})
	}
	wg.Add(len(order))
	for _, id := range order {
		run(chains[id])
	}
	wg.Wait()
	var ackTo uint64
	done = true
	for _, e := range batch {
		ok := e.b == nil || e.sent && (e.err == nil || !retryable(e.err))
		if !ok {
			done = false
			continue
		}
		if done {
			ackTo = e.seq
			delete(s.ahead, e.seq)
		} else if e.b != nil {
			s.ahead[e.seq] = true
		}
	}
	if ackTo > 0 {
		if err := s.box.Ack(ackTo); err != nil {
			s.log.Warn("outbox ack failed", "err", err)
			return applied.Load() > 0, false
		}
	}
	return applied.Load() > 0 || ackTo > 0, done
}

// Publish submits the samples of one twin as one batch. A batch that
// fails as a whole (the node is overloaded, the twin unavailable) goes to
// the outbox; without one it is counted and dropped.
func (s *Sink) Publish(twinID string, samples []*pb.Sample) {
	if len(samples) == 0 {
		return
	}
	batch := &pb.ApplyTelemetry{TwinId: twinID, Samples: samples}
	queued := s.box != nil && s.backlog.Load()
	if !queued {
		// Counted in flight before the samples are: whoever sees the
		// samples counted sees them in flight until they are applied.
		s.inFlight.Add(1)
	}
	s.samples.Add(int64(len(samples)))
	sec := time.Now().Unix()
	s.mu.Lock()
	slot := &s.rate[sec%rateSlots]
	if slot.sec != sec {
		*slot = rateSlot{sec: sec}
	}
	slot.n += int64(len(samples))
	s.mu.Unlock()
	if queued {
		s.toOutbox(batch) // behind older batches, to keep order
		return
	}
	s.rt.Submit(batch, func(rep *pb.TelemetryApplied, err error) {
		s.inFlight.Add(-1)
		if err != nil {
			if s.box != nil && retryable(err) {
				s.toOutbox(batch)
				return
			}
			s.failed.Add(1)
			return
		}
		s.accepted.Add(int64(rep.Accepted))
		s.rejected.Add(int64(len(rep.Rejected)))
	})
}

// SetOnline records the reachability of the devices behind twins; only
// changes are sent. A change the runtime cannot take now (overloaded, a
// twin unavailable) is sent again, with the newest reachability, until it
// is applied: a device that dropped off during an overload must not stay
// online in its twin.
func (s *Sink) SetOnline(twinIDs []string, online bool) {
	for _, id := range twinIDs {
		s.mu.Lock()
		was, known := s.online[id]
		s.online[id] = online
		s.mu.Unlock()
		if known && was == online {
			continue
		}
		s.sendConnectivity(id)
	}
}

// sendConnectivity submits the twin's current reachability; a retryable
// failure queues it for retryConnectivity.
func (s *Sink) sendConnectivity(id string) {
	s.mu.Lock()
	online := s.online[id]
	s.mu.Unlock()
	c := pb.Connectivity_CONNECTIVITY_OFFLINE
	if online {
		c = pb.Connectivity_CONNECTIVITY_ONLINE
	}
	s.inFlight.Add(1)
	s.rt.SubmitConnectivity(id, c, func(_ *pb.TelemetryApplied, err error) {
		defer s.inFlight.Add(-1)
		if err == nil || !retryable(err) || errors.Is(err, actors.ErrClosed) {
			return // applied, refused for good, or the runtime is gone
		}
		s.mu.Lock()
		if s.connRetry == nil {
			s.connRetry = map[string]bool{}
		}
		s.connRetry[id] = true
		schedule := !s.connRetrying
		s.connRetrying = true
		s.mu.Unlock()
		if schedule {
			time.AfterFunc(connRetryDelay, s.retryConnectivity)
		}
	})
}

// connRetryDelay spaces the retries of connectivity changes.
const connRetryDelay = 200 * time.Millisecond

// retryConnectivity sends the queued connectivity changes again.
func (s *Sink) retryConnectivity() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.connRetry))
	for id := range s.connRetry {
		ids = append(ids, id)
	}
	s.connRetry = nil
	s.connRetrying = false
	s.mu.Unlock()
	for _, id := range ids {
		s.sendConnectivity(id)
	}
}

// SetLockstep puts the sink's connectors in lockstep with a simulation
// (simulations/simrun): they stamp samples that carry no source time of
// their own with now() instead of the wall clock, and a polling connector
// (Modbus) polls once per Step instead of at its poll groups' intervals,
// and reconnects only when a Step asks for data. Call before the
// connector starts.
func (s *Sink) SetLockstep(now func() time.Time) {
	s.now = now
	s.steps = make(chan chan error)
}

// Lockstep reports whether SetLockstep was called.
func (s *Sink) Lockstep() bool { return s.now != nil }

// Now is the connectors' clock: the wall clock, or in lockstep the
// simulation's.
func (s *Sink) Now() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Steps delivers the Step requests of a lockstep simulation to the
// connector: it answers each on the channel received, nil once the step's
// samples are published, or the error that kept it from reading. nil (no
// requests ever) without lockstep.
func (s *Sink) Steps() <-chan chan error { return s.steps }

// Step asks the sink's connector for one poll (lockstep only) and waits
// until its samples are published to the runtime (not yet applied: see
// SinkStats.InFlight) or the connector says why it could not read.
func (s *Sink) Step(ctx context.Context) error {
	if s.steps == nil {
		return errors.New("edge: Step on a sink without lockstep")
	}
	reply := make(chan error, 1)
	select {
	case s.steps <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SinkStats are a sink's counters.
type SinkStats struct {
	// InFlight counts the batches and connectivity changes submitted to
	// the runtime and not yet applied (or failed).
	Samples, Accepted, Rejected, FailedBatches, InFlight int64
	// Backlog is the outbox's entries; Lost the batches lost to its bound
	// or to errors.
	Backlog, Lost int64
	// PerSecond is the samples rate over the last 10 full seconds.
	PerSecond float64
}

// Stats returns the counters.
func (s *Sink) Stats() SinkStats {
	st := SinkStats{Samples: s.samples.Load(), Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), FailedBatches: s.failed.Load(), InFlight: s.inFlight.Load(), Lost: s.lost.Load()}
	if s.box != nil {
		st.Backlog = int64(s.box.Len())
	}
	now := time.Now().Unix()
	s.mu.Lock()
	for _, r := range s.rate {
		if r.sec < now && r.sec >= now-10 {
			st.PerSecond += float64(r.n)
		}
	}
	s.mu.Unlock()
	st.PerSecond /= 10
	return st
}

// State is a connector's connection state.
type State uint8

// The connector states.
const (
	StateConnecting State = iota + 1
	StateConnected
	StateDisconnected // lost; reconnecting after a backoff
	StateStopped
)

// String returns "connecting", "connected", "disconnected" or "stopped".
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// Status is what a connector reports about itself.
type Status struct {
	Name, Protocol, Endpoint string
	State                    State
	Since                    time.Time // when State was entered
	LastError                string
	LastErrorTime            time.Time
	Reconnects               int64 // successful connections after the first
	Restarts                 int64 // rebuilds after a panic (set by the Host)
	ReadErrors               int64 // failed reads (timeouts, exceptions, decode errors)
	Sink                     SinkStats
}
