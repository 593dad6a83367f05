package edge

import (
	"sync"
	"sync/atomic"
	"time"

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

// Sink hands one connector's samples to the runtime: one batch per twin
// per read cycle, connectivity changes only when they change, and counts
// of what was accepted, rejected and failed. It never blocks the
// connector. Safe for concurrent use.
type Sink struct {
	rt Runtime

	mu     sync.Mutex
	online map[string]bool     // twin → last connectivity sent
	rate   [rateSlots]rateSlot // samples per wall-clock second, a ring

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

// NewSink returns a sink into rt.
func NewSink(rt Runtime) *Sink {
	return &Sink{rt: rt, online: map[string]bool{}}
}

// Publish submits the samples of one twin as one batch.
//
// A batch that fails as a whole (the node is overloaded or the twin
// unavailable) is counted and dropped: the store-and-forward outbox that
// keeps such samples is not built yet.
func (s *Sink) Publish(twinID string, samples []*pb.Sample) {
	if len(samples) == 0 {
		return
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
	s.inFlight.Add(1)
	s.rt.Submit(&pb.ApplyTelemetry{TwinId: twinID, Samples: samples}, func(rep *pb.TelemetryApplied, err error) {
		s.inFlight.Add(-1)
		if err != nil {
			s.failed.Add(1)
			return
		}
		s.accepted.Add(int64(rep.Accepted))
		s.rejected.Add(int64(len(rep.Rejected)))
	})
}

// SetOnline records the reachability of the devices behind twins; only
// changes are sent.
func (s *Sink) SetOnline(twinIDs []string, online bool) {
	c := pb.Connectivity_CONNECTIVITY_OFFLINE
	if online {
		c = pb.Connectivity_CONNECTIVITY_ONLINE
	}
	for _, id := range twinIDs {
		s.mu.Lock()
		was, known := s.online[id]
		s.online[id] = online
		s.mu.Unlock()
		if known && was == online {
			continue
		}
		s.rt.SubmitConnectivity(id, c, func(*pb.TelemetryApplied, error) {})
	}
}

// SinkStats are a sink's counters.
type SinkStats struct {
	Samples, Accepted, Rejected, FailedBatches, InFlight int64
	// PerSecond is the samples rate over the last 10 full seconds.
	PerSecond float64
}

// Stats returns the counters.
func (s *Sink) Stats() SinkStats {
	st := SinkStats{Samples: s.samples.Load(), Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), FailedBatches: s.failed.Load(), InFlight: s.inFlight.Load()}
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
	ReadErrors               int64 // failed reads (timeouts, exceptions, decode errors)
	Sink                     SinkStats
}
