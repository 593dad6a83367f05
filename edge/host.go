package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/plantwin/plantwin/twins"
)

// Connector is a running protocol connector (edge/opcua, edge/modbus,
// edge/mqtt), as the Host drives it.
type Connector interface {
	Commander
	// Start connects in the background; an error means it cannot run at
	// all (bad certificate file, invalid options).
	Start() error
	// Stop disconnects and waits. Idempotent.
	Stop()
	Status() Status
	String() string
}

// Factory builds a connector of cc's protocol over its bindings and
// sink. report must be called (once) if one of the connector's own
// goroutines panics; the Host then restarts the connector.
type Factory func(cc *ConnectorConfig, bindings []*Binding, sink *Sink, report PanicReporter) (Connector, error)

// PanicReporter receives a recovered panic of a connector goroutine and
// its stack.
type PanicReporter func(v any, stack []byte)

// Recover is deferred first thing in a connector goroutine: it hands a
// panic to report (nil: it panics again, crashing the process as an
// unguarded goroutine would).
func Recover(report PanicReporter) {
	if v := recover(); v != nil {
		if report == nil {
			panic(v)
		}
		report(v, debug.Stack())
	}
}

// Host runs each connector of a node as a protoactor actor, "edge/NAME",
// supervised with exponential backoff: a connector whose goroutine panics
// is stopped and built again (its sink and outbox are kept), and its
// restarts are counted in its status. Writes and commands for a twin go
// through the actor of the connector that binds them.
type Host struct {
	system *actor.ActorSystem
	log    *slog.Logger
	hosted []*hosted
	routes map[string]*hosted // twin\x00p|c\x00name → connector
}

type hosted struct {
	cc       *ConnectorConfig
	bindings []*Binding
	sink     *Sink
	factory  Factory
	log      *slog.Logger
	system   *actor.ActorSystem
	pid      *actor.PID // set (under mu) once its actor is spawned

	mu       sync.Mutex
	conn     Connector // current instance
	restarts int64
	lastErr  string
}

// Messages of a connector actor.
type (
	writeMsg struct {
		ctx            context.Context
		twin, property string
		value          twins.Value
		command        string
		args           []Arg
		isCommand      bool
	}
	writeDone struct{ err error }
	crashed   struct {
		v     any
		stack []byte
		conn  Connector
	}
)

// StartHost starts one actor per connector of cfg on system, except the
// connectors pinned (node:) to a node other than nodeName. sinkOf gives
// each connector its sink (with its outbox). The first instance of every
// connector is built before any actor starts, so a configuration that
// cannot run fails here with the connector named.
func StartHost(system *actor.ActorSystem, cfg *Config, nodeName string, sinkOf func(*ConnectorConfig) (*Sink, error), factory Factory, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Host{system: system, log: log, routes: map[string]*hosted{}}
	for _, cc := range cfg.Connectors {
		if cc.Node != "" && cc.Node != nodeName {
			log.Info("connector runs on another node", "connector", cc.Name, "node", cc.Node, "this_node", nodeName)
			continue
		}
		sink, err := sinkOf(cc)
		if err != nil {
			h.Stop()
			return nil, fmt.Errorf("connector %s: %w", cc.Name, err)
		}
		hc := &hosted{cc: cc, bindings: cfg.BindingsOf(cc.Name), sink: sink, factory: factory, log: log.With("connector", cc.Name), system: system}
		conn, err := hc.build()
		if err != nil {
			sink.Close()
			h.Stop()
			return nil, fmt.Errorf("connector %s: %w", cc.Name, err)
		}
		hc.conn = conn
		h.hosted = append(h.hosted, hc)
		for _, b := range hc.bindings {
			for _, w := range b.Writes {
				h.routes[b.TwinID+"\x00p\x00"+w.Property] = hc
			}
			for _, c := range b.Commands {
				h.routes[b.TwinID+"\x00c\x00"+c.Command] = hc
			}
		}
	}
	for _, hc := range h.hosted {
		props := actor.PropsFromProducer(func() actor.Actor { return &connActor{h: hc} },
			actor.WithGuardian(actor.NewExponentialBackoffStrategy(time.Minute, time.Second)))
		pid, err := system.Root.SpawnNamed(props, "edge/"+hc.cc.Name)
		if err != nil {
			h.Stop()
			return nil, fmt.Errorf("connector %s: spawn its actor: %w", hc.cc.Name, err)
		}
		hc.mu.Lock()
		hc.pid = pid
		hc.mu.Unlock()
	}
	return h, nil
}

// instanceReporter reports a panic of one connector instance to the
// connector's actor, at most once.
type instanceReporter struct {
	hc   *hosted
	once sync.Once
	conn Connector // set once built
}

func (r *instanceReporter) report(v any, stack []byte) {
	r.once.Do(func() {
		r.hc.mu.Lock()
		pid := r.hc.pid
		r.hc.mu.Unlock()
		if pid == nil {
			r.hc.log.Error("edge connector panicked before its actor started", "panic", v, "stack", string(stack))
			return
		}
		// Through the actor, so that its supervisor restarts it.
		r.hc.system.Root.Send(pid, &crashed{v: v, stack: stack, conn: r.conn})
	})
}

// build makes a new connector instance.
func (hc *hosted) build() (Connector, error) {
	r := &instanceReporter{hc: hc}
	conn, err := hc.factory(hc.cc, hc.bindings, hc.sink, r.report)
	if err != nil {
		return nil, err
	}
	hc.mu.Lock()
	r.conn = conn
	hc.mu.Unlock()
	return conn, nil
}

// Statuses returns every connector's status, in configuration order.
func (h *Host) Statuses() []Status {
	if h == nil {
		return nil
	}
	out := make([]Status, 0, len(h.hosted))
	for _, hc := range h.hosted {
		hc.mu.Lock()
		conn, restarts, lastErr := hc.conn, hc.restarts, hc.lastErr
		hc.mu.Unlock()
		st := Status{Name: hc.cc.Name, Protocol: hc.cc.Protocol.String(), Endpoint: hc.cc.Endpoint, State: StateStopped}
		if conn != nil {
			st = conn.Status()
		}
		st.Restarts = restarts
		if st.LastError == "" && lastErr != "" {
			st.LastError = lastErr
		}
		out = append(out, st)
	}
	return out
}

// Write sends a desired value to the connector that binds the twin's
// property, through its actor.
func (h *Host) Write(ctx context.Context, twinID, property string, v twins.Value) error {
	if h == nil {
		return fmt.Errorf("%w: twin %s property %s", ErrNotBound, twinID, property)
	}
	hc, ok := h.routes[twinID+"\x00p\x00"+property]
	if !ok {
		return fmt.Errorf("%w: twin %s property %s", ErrNotBound, twinID, property)
	}
	return h.request(ctx, hc, &writeMsg{ctx: ctx, twin: twinID, property: property, value: v})
}

// Command sends a command to the connector that binds it, through its
// actor.
func (h *Host) Command(ctx context.Context, twinID, command string, args []Arg) error {
	if h == nil {
		return fmt.Errorf("%w: twin %s command %s", ErrNotBound, twinID, command)
	}
	hc, ok := h.routes[twinID+"\x00c\x00"+command]
	if !ok {
		return fmt.Errorf("%w: twin %s command %s", ErrNotBound, twinID, command)
	}
	return h.request(ctx, hc, &writeMsg{ctx: ctx, twin: twinID, command: command, args: args, isCommand: true})
}

var _ Commander = (*Host)(nil)

func (h *Host) request(ctx context.Context, hc *hosted, m *writeMsg) error {
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return ctx.Err()
	}
	dl, hasDeadline := ctx.Deadline()
	res, err := h.system.Root.RequestFuture(hc.pid, m, timeout).Result()
	if err != nil {
		if errors.Is(err, actor.ErrTimeout) {
			// The future's timer and the context's fire together, from
			// different goroutines: a future that timed out at the
			// context's deadline is the context's deadline.
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if hasDeadline && !time.Now().Before(dl) {
				return context.DeadlineExceeded
			}
		}
		return fmt.Errorf("connector %s: %w", hc.cc.Name, err)
	}
	return res.(*writeDone).err
}

// Stop stops every connector actor (and so every connector) and closes
// the sinks. Idempotent.
func (h *Host) Stop() {
	if h == nil {
		return
	}
	for _, hc := range h.hosted {
		hc.mu.Lock()
		pid := hc.pid
		hc.pid = nil
		hc.mu.Unlock()
		if pid != nil {
			_ = h.system.Root.StopFuture(pid).Wait()
		} else {
			hc.mu.Lock()
			conn := hc.conn
			hc.mu.Unlock()
			if conn != nil {
				conn.Stop()
			}
		}
		hc.sink.Close()
	}
}

// connActor owns one connector instance: it starts it, stops it, and
// builds a new one when its supervisor restarts it after a panic.
type connActor struct {
	h *hosted
}

func (a *connActor) Receive(ctx actor.Context) {
	hc := a.h
	switch m := ctx.Message().(type) {
	case *actor.Started:
		hc.mu.Lock()
		conn := hc.conn
		hc.mu.Unlock()
		if conn == nil { // a restart: build a new instance
			var err error
			if conn, err = hc.build(); err != nil {
				hc.noteErr(err)
				panic(fmt.Errorf("edge: rebuild connector %s: %w", hc.cc.Name, err))
			}
			hc.mu.Lock()
			hc.conn = conn
			hc.mu.Unlock()
		}
		if err := conn.Start(); err != nil {
			hc.noteErr(err)
			hc.log.Error("edge connector failed to start", "err", err)
		}
	case *crashed:
		hc.mu.Lock()
		current := hc.conn == m.conn
		hc.mu.Unlock()
		if !current {
			return // a report of an instance already replaced
		}
		hc.log.Error("edge connector panicked; restarting it", "panic", m.v, "stack", string(m.stack))
		panic(fmt.Errorf("edge connector %s panicked: %v", hc.cc.Name, m.v))
	case *actor.Restarting, *actor.Stopping:
		hc.mu.Lock()
		conn := hc.conn
		hc.conn = nil
		if _, restarting := m.(*actor.Restarting); restarting {
			hc.restarts++
		}
		hc.mu.Unlock()
		if conn != nil {
			conn.Stop()
		}
	case *writeMsg:
		hc.mu.Lock()
		conn := hc.conn
		hc.mu.Unlock()
		sender := ctx.Sender()
		sys := ctx.ActorSystem()
		// The device's round trip runs beside the mailbox: a slow PLC
		// must not hold up the other writes and the lifecycle messages.
		go func() {
			var err error
			switch {
			case conn == nil:
				err = fmt.Errorf("%w: connector %s is restarting", ErrNotConnected, hc.cc.Name)
			case m.isCommand:
				err = conn.Command(m.ctx, m.twin, m.command, m.args)
			default:
				err = conn.Write(m.ctx, m.twin, m.property, m.value)
			}
			if sender != nil {
				sys.Root.Send(sender, &writeDone{err: err})
			}
		}()
	}
}

func (hc *hosted) noteErr(err error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.lastErr = err.Error()
}

// Writes reports whether a connector on this node writes property of
// twinID (a writes binding).
func (h *Host) Writes(twinID, property string) bool {
	if h == nil {
		return false
	}
	_, ok := h.routes[twinID+"\x00p\x00"+property]
	return ok
}
