package simrun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/simulations/recording"
	"github.com/plantwin/plantwin/twins"
)

// RecordingInfo describes the recording a run wrote (Options.Record).
type RecordingInfo struct {
	Samples int64  `json:"samples"`
	Events  int64  `json:"events"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"` // of the file's bytes: equal for equal runs
}

// recorder writes what the twins ingest (every batch, as the twins
// receive it: through the protocols, after the connectors decoded it) and
// what came of it (alarms, commands, rule actions, connectivity, from the
// twins' committed events) to a canonical recording. It is fed from
// several goroutines.
type recorder struct {
	mu  sync.Mutex
	w   *recording.Writer
	sum hash.Hash
	n   *countingWriter
	sub *actors.Subscription
	err error
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newRecorder(w io.Writer, h recording.Header, rt *actors.Runtime) (*recorder, error) {
	r := &recorder{sum: sha256.New()}
	r.n = &countingWriter{w: io.MultiWriter(w, r.sum)}
	var err error
	if r.w, err = recording.NewWriter(r.n, h); err != nil {
		return nil, err
	}
	// Every change of every twin; drained after each tick, so the buffer
	// only needs to hold one tick's changes.
	r.sub = rt.Subscribe(nil, 1<<18)
	return r, nil
}

// batch records one telemetry batch on its way to its twin.
func (r *recorder) batch(b *pb.ApplyTelemetry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range b.Samples {
		r.w.Sample(recording.Sample{
			At:       time.Unix(0, s.SourceTimeUnixNano).Sub(Origin),
			Twin:     b.TwinId,
			Property: s.Property,
			Value:    actors.ValueFromProto(s.Value),
			Quality:  twins.Quality(s.Quality),
		})
	}
}

// drain records the outcome events committed so far; now is the virtual
// clock, the time of events that carry none of their own.
func (r *recorder) drain(now time.Time) error {
	for {
		select {
		case ch := <-r.sub.C():
			r.change(ch, now)
		default:
			if n := r.sub.TakeDropped(); n > 0 {
				return fmt.Errorf("the recording missed %d changes of the twins (its buffer overflowed)", n)
			}
			return nil
		}
	}
}

func (r *recorder) change(ch *actors.Change, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := ch.Spec.ID
	rule := func(i int) string {
		if i >= 0 && i < len(ch.Spec.Model.Rules) {
			return ch.Spec.Model.Rules[i].Name
		}
		return fmt.Sprintf("rule %d", i)
	}
	at := func(ns int64) time.Duration {
		if ns == 0 {
			return now.Sub(Origin)
		}
		return time.Unix(0, ns).Sub(Origin)
	}
	for _, ve := range ch.Events {
		switch e := ve.Event.(type) {
		case twins.AlarmChanged:
			r.w.Event(recording.Event{At: at(e.At), Twin: id, Kind: "alarm", Name: rule(e.Rule), Detail: e.Kind.String()})
		case twins.CommandChanged:
			d := e.Command.Status.String()
			if e.Command.Error != "" {
				d += ": " + e.Command.Error
			}
			r.w.Event(recording.Event{At: at(0), Twin: id, Kind: "command", Name: e.Command.Name, Detail: d})
		case twins.RuleFired:
			d := e.Message
			if e.Command != "" {
				d = e.Target + " " + e.Command
			}
			r.w.Event(recording.Event{At: at(e.At), Twin: id, Kind: "rule", Name: rule(e.Rule), Detail: d})
		case twins.ConnectivityChanged:
			r.w.Event(recording.Event{At: at(e.Time), Twin: id, Kind: "connectivity", Name: e.Connectivity.String()})
		}
	}
}

// flush writes what is complete: everything up to upTo.
func (r *recorder) flush(upTo time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.w.Flush(upTo)
	}
	return r.err
}

// close writes the rest and the trailer.
func (r *recorder) close() (*RecordingInfo, error) {
	r.sub.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.w.Close()
	}
	if r.err != nil {
		return nil, r.err
	}
	s, e := r.w.Counts()
	return &RecordingInfo{Samples: s, Events: e, Bytes: r.n.n, SHA256: hex.EncodeToString(r.sum.Sum(nil))}, nil
}

// recordingRuntime is the runtime as the connectors' sinks see it: every
// batch is recorded on its way.
type recordingRuntime struct {
	*actors.Runtime
	rec *recorder
}

func (r recordingRuntime) Submit(b *pb.ApplyTelemetry, done func(*pb.TelemetryApplied, error)) {
	r.rec.batch(b)
	r.Runtime.Submit(b, done)
}

var _ edge.Runtime = recordingRuntime{}
