package edge

import (
	"sync"
	"time"
)

// StatusKeeper holds a connector's Status for concurrent readers: the
// connector's goroutines record state changes, errors and reconnections,
// Status adds the sink's counters. The zero value is not usable; use
// NewStatusKeeper.
type StatusKeeper struct {
	mu sync.Mutex
	st Status
}

// NewStatusKeeper starts a connector's status in StateStopped.
func NewStatusKeeper(name, protocol, endpoint string) *StatusKeeper {
	return &StatusKeeper{st: Status{Name: name, Protocol: protocol, Endpoint: endpoint, State: StateStopped, Since: time.Now()}}
}

// SetState enters s (Since changes only when the state does).
func (k *StatusKeeper) SetState(s State) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.st.State != s {
		k.st.State, k.st.Since = s, time.Now()
	}
}

// NoteError records err as the last error; read says it was a failed
// read (counted in ReadErrors) rather than a connection problem.
func (k *StatusKeeper) NoteError(err error, read bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.st.LastError, k.st.LastErrorTime = err.Error(), time.Now()
	if read {
		k.st.ReadErrors++
	}
}

// Reconnected counts a connection re-established after a loss.
func (k *StatusKeeper) Reconnected() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.st.Reconnects++
}

// Status returns the status with sink's counters (sink may be nil).
func (k *StatusKeeper) Status(sink *Sink) Status {
	k.mu.Lock()
	st := k.st
	k.mu.Unlock()
	if sink != nil {
		st.Sink = sink.Stats()
	}
	return st
}
