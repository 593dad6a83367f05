package actors

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/protobuf/types/known/emptypb"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	plcluster "github.com/plantwin/plantwin/cluster"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

// TwinKind is the protoactor-go cluster kind of twin actors.
const TwinKind = "twin"

// Errors of the runtime.
var (
	ErrUnknownTwin = errors.New("actors: unknown twin")
	ErrClosed      = errors.New("actors: runtime is shutting down")
	ErrTimeout     = errors.New("actors: no answer from twin before the deadline")
	ErrUnavailable = errors.New("actors: twin unavailable")
	ErrOverloaded  = errors.New("actors: too many telemetry batches in flight")
)

// Config configures a node's runtime.
type Config struct {
	// Twins holds the declared models and twins.
	Twins *twins.Config
	// Store is the node's persistence; the runtime does not close it.
	Store *persistence.Store
	// Journal takes the twins' activations and writes; nil: Store. The
	// replicated cluster puts its replicator here.
	Journal Journal
	// Clock is the behavioural time source. Default RealClock.
	Clock Clock
	// Logger receives runtime logs. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the runtime's metrics. Nil: not registered.
	Registerer prometheus.Registerer
	// PassivateAfter is how long a twin may stay idle before it snapshots
	// and stops (wall time). Default 10m; negative: never.
	PassivateAfter time.Duration
	// SnapshotEvery is the number of events between snapshots. Default 1000.
	SnapshotEvery int
	// RemoteAddr is where protoactor remote listens, host:port. Default
	// 127.0.0.1:0 (loopback, a free port).
	RemoteAddr string
	// Cluster configures memberlist membership. Default
	// cluster.DefaultLocalConfig().
	Cluster plcluster.Config
	// RetryInterval is how long an ingest batch waits for an answer before
	// it is re-sent (wall time). Default 2s.
	RetryInterval time.Duration
	// RequestTimeout bounds ingest batches and state reads (wall time).
	// Default 15s.
	RequestTimeout time.Duration
	// Replicas is the number of nodes that hold each twin's journal and
	// snapshots (R), the owner included; fewer while the roster is
	// smaller. Default 3. A node that founds a cluster stores it in the
	// roster; every node follows the roster's.
	Replicas int
	// PlacementAffinity, on the node that founds a cluster, keeps every
	// declared twin on the nodes of its parent: the roster keeps the
	// twin → parent pairs of the configuration at founding, and every
	// node places by them.
	PlacementAffinity bool
	// ReplicaTimeout bounds each exchange with another node's replica
	// (wall time). Default 2s.
	ReplicaTimeout time.Duration
	// JoinTimeout bounds how long a node started with Cluster.Join waits
	// to be added to the cluster's roster (wall time). Default 5m.
	JoinTimeout time.Duration
	// RemoteOptions are extra protoactor remote options (TLS, message
	// sizes).
	RemoteOptions []remote.ConfigOption
	// MaxInFlight bounds the ingest batches submitted and not yet answered;
	// past it Submit fails at once with ErrOverloaded (counted), so a flood
	// cannot grow mailboxes without bound. Default 200,000.
	MaxInFlight int
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PassivateAfter == 0 {
		c.PassivateAfter = 10 * time.Minute
	}
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = 1000
	}
	if c.RemoteAddr == "" {
		c.RemoteAddr = "127.0.0.1:0"
	}
	if c.Cluster.BindAddr == "" {
		c.Cluster = plcluster.DefaultLocalConfig()
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 2 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 200000
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.ReplicaTimeout <= 0 {
		c.ReplicaTimeout = 2 * time.Second
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 5 * time.Minute
	}
}

// Validate checks the configuration without doing I/O.
func (c Config) Validate() error {
	if c.Twins == nil {
		return errors.New("actors: no twin configuration")
	}
	if c.Store == nil {
		return errors.New("actors: no store")
	}
	if _, _, err := net.SplitHostPort(c.RemoteAddr); c.RemoteAddr != "" && err != nil {
		return fmt.Errorf("actors: remote address %q: %w", c.RemoteAddr, err)
	}
	return nil
}

// Runtime hosts a node's twins on protoactor-go: the actor system, its
// cluster membership and placement, the ingest path and state reads.
type Runtime struct {
	cfg      Config
	log      *slog.Logger
	clock    Clock
	store    *persistence.Store
	journal  Journal                      // activations and writes (Config.Journal, or store)
	twinsCfg atomic.Pointer[twins.Config] // swapped by Reconfigure
	system   *actor.ActorSystem
	cluster  *cluster.Cluster
	lookup   *plcluster.Lookup
	met      *metrics
	ingest   *ingest
	disp     *poolDispatcher
	feed     *feed
	started  time.Time
	provider *plcluster.Provider
	topo     *plcluster.Topology
	repl     *plcluster.Replicator
	roster   *plcluster.RosterService

	device atomic.Pointer[Device]
	keys   atomic.Uint64 // for idempotency keys of commands invoked without one
	busy   atomic.Int64  // see Busy
	// reports holds the roll-up reports (*pb.ChildReport) sent to a
	// parent on this node and counted in busy until the parent has
	// committed them; a report that reaches another node was never
	// counted there.
	reports sync.Map
	wakes   *wakeSchedule

	sweepStop chan struct{}
	sweepDone chan struct{}

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Start starts the actor system as a one-member (or joining) cluster and
// returns once this node owns placement.
func Start(cfg Config) (*Runtime, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, ps, _ := net.SplitHostPort(cfg.RemoteAddr)
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, fmt.Errorf("actors: remote port %q: %w", ps, err)
	}
	// Probe the remote address first: protoactor panics when it cannot listen.
	if l, err := net.Listen("tcp", cfg.RemoteAddr); err != nil {
		return nil, fmt.Errorf("actors: remote address %s: %w", cfg.RemoteAddr, err)
	} else {
		l.Close()
	}
	r := &Runtime{
		cfg:     cfg,
		log:     cfg.Logger,
		clock:   cfg.Clock,
		store:   cfg.Store,
		journal: cfg.Journal,
		lookup:  plcluster.NewLookup(),
	}
	if r.journal == nil {
		r.journal = cfg.Store
	}
	r.met = newMetrics(cfg.Registerer, func() float64 { return float64(r.lookup.Active()) })
	r.feed = newFeed(func(n int) { r.met.dropped.Add(float64(n)) })
	r.twinsCfg.Store(cfg.Twins)
	r.wakes = newWakeSchedule(r)
	r.started = time.Now()
	protoLog := cfg.Logger.With("component", "protoactor")
	r.system = actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger(protoLog) }),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(10*time.Second),
	))
	provCfg := cfg.Cluster
	provCfg.Logger = cfg.Logger.With("component", "membership")
	if provCfg.NodeName == "" {
		provCfg.NodeName = "plantwin"
	}
	provider, err := plcluster.NewProvider(provCfg)
	if err != nil {
		return nil, err
	}
	r.provider = provider
	r.disp = newPoolDispatcher(4*runtime.GOMAXPROCS(0)+8, 1<<16, 300)
	// The twin kind is built without cluster.NewKind's receive middleware:
	// that middleware reads a cluster identity that protoactor stores per
	// activation by cloning the props, which costs hundreds of bytes per
	// twin. Our lookup spawns every activation from these shared props and
	// the twin reads its identity from its PID (cluster.IdentityOf) when it
	// starts.
	kind := &cluster.Kind{Kind: TwinKind, Props: actor.PropsFromProducer(func() actor.Actor { return newTwinActor(r) },
		actor.WithDispatcher(r.disp),
		// Lock-free mailboxes: a linked queue costs nothing while a twin is
		// idle, where the default ring buffer holds ten slots per twin.
		actor.WithMailbox(actor.UnboundedLockfree()))}
	// The roster (who holds and votes for each twin's data) and the
	// replicator (which writes to those nodes) come before membership.
	name := provCfg.NodeName
	joining := len(provCfg.Join) > 0
	var parents map[string]string
	if cfg.PlacementAffinity {
		parents = map[string]string{}
		for _, spec := range cfg.Twins.Twins {
			if spec.Parent != "" {
				parents[spec.ID] = spec.Parent
			}
		}
	}
	r.topo = plcluster.NewTopology(name, cfg.Replicas, parents)
	r.lookup.UseTopology(r.topo, provider.Members)
	r.repl = plcluster.NewReplicator(cfg.Store, r.system, r.topo, cfg.ReplicaTimeout, cfg.Logger.With("component", "replication"))
	if cfg.Registerer != nil {
		if err := r.repl.Register(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	if cfg.Journal == nil {
		r.journal = r.repl
	}
	r.roster = plcluster.NewRosterService(cfg.Store, r.system, r.topo, cfg.ReplicaTimeout, cfg.Logger.With("component", "roster"),
		func(plcluster.Roster) {
			r.lookup.Recheck()
			r.system.EventStream.Publish(rosterChanged{})
		})
	r.roster.SetRebalance(r.rebalance)
	self := plcluster.RosterMember{Name: name, StoreID: cfg.Store.ID()}
	needJoin := false
	if err := r.roster.Load(self, joining); errors.Is(err, plcluster.ErrNoRoster) {
		needJoin = true
	} else if err != nil {
		return nil, err
	}
	if _, err := plcluster.SpawnReplica(r.system, cfg.Store, name, r.roster); err != nil {
		return nil, err
	}
	ropts := append([]remote.ConfigOption{}, cfg.RemoteOptions...)
	ccfg := cluster.Configure("plantwin", provider, r.lookup, remote.Configure(host, port, ropts...),
		cluster.WithKinds(kind), cluster.WithRequestTimeout(cfg.RequestTimeout))
	r.cluster = cluster.New(r.system, ccfg)
	if err := startMember(r.cluster); err != nil {
		return nil, err
	}
	if needJoin {
		self.ActorAddr, self.GossipAddr = r.system.Address(), provider.GossipAddr()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.JoinTimeout)
		err := r.roster.JoinVia(ctx, self, provider.Members, time.Second)
		cancel()
		if err != nil {
			r.cluster.Shutdown(false)
			r.disp.stop()
			return nil, err
		}
	}
	// Wait until membership has placed this node.
	probe := cluster.NewClusterIdentity("probe", TwinKind)
	deadline := time.Now().Add(30 * time.Second)
	for r.lookup.Owner(probe) == "" {
		if time.Now().After(deadline) {
			r.cluster.Shutdown(false)
			r.disp.stop()
			return nil, errors.New("actors: cluster membership did not form within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	plcluster.SetDrain(r.system, func() (int, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
		defer cancel()
		return r.Drain(ctx)
	})
	plcluster.SetReader(r.system, r.readStored)
	if _, err := r.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &relayServer{rt: r, subs: map[string]*relayOut{}, stop: make(chan struct{})}
	}), FeedActorName); err != nil {
		r.cluster.Shutdown(false)
		r.disp.stop()
		return nil, fmt.Errorf("actors: spawn the feed actor: %w", err)
	}
	r.ingest = newIngest(r)
	r.sweepStop, r.sweepDone = make(chan struct{}), make(chan struct{})
	go r.passivationSweep()
	if err := r.wakes.load(); err != nil {
		// Not fatal: those twins still act when their next message comes.
		r.log.Error("cannot load the wake schedule", "err", err)
	}
	r.log.Info("runtime started", "actor_addr", r.system.Address(), "gossip_addr", provider.GossipAddr(), "node_id", r.system.ID)
	return r, nil
}

// startMember runs protoactor's StartMember, which panics on failures.
func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("actors: start cluster member: %v", p)
		}
	}()
	c.StartMember()
	return nil
}

// quietLogger raises protoactor's chatty info logs to warnings only.
func quietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{h: l.Handler(), min: slog.LevelWarn})
}

type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(n), min: f.min}
}

// passivationSweep asks every local twin, a few times per PassivateAfter,
// whether it has been idle that long (wall time: passivation manages this
// process's memory, not the plant).
func (r *Runtime) passivationSweep() {
	defer close(r.sweepDone)
	if r.cfg.PassivateAfter <= 0 {
		<-r.sweepStop
		return
	}
	t := time.NewTicker(max(r.cfg.PassivateAfter/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.sweepStop:
			return
		case now := <-t.C:
			msg := &idleCheck{now: now.UnixNano()}
			for _, pid := range r.lookup.LocalPIDs() {
				r.system.Root.Send(pid, msg)
			}
		}
	}
}

// Address is the node's protoactor remote address.
func (r *Runtime) Address() string { return r.system.Address() }

// System is the node's actor system, for other actors of the node (the
// edge connectors) to live beside the twins.
func (r *Runtime) System() *actor.ActorSystem { return r.system }

// NodeID is the node's actor-system id (its memberlist name).
func (r *Runtime) NodeID() string { return r.system.ID }

// Clock returns the runtime's behavioural clock.
func (r *Runtime) Clock() Clock { return r.clock }

// Twins returns the declared models and twins.
func (r *Runtime) Twins() *twins.Config { return r.twinsCfg.Load() }

// Store returns the node's store.
func (r *Runtime) Store() *persistence.Store { return r.store }

// ActiveTwins returns the number of twins activated on this node.
func (r *Runtime) ActiveTwins() int { return r.lookup.Active() }

// Close shuts the node down in a fixed order: refuse new ingest, wait
// (bounded) for batches in flight, passivate every twin (each saves a
// snapshot), then leave the cluster and stop the actor system. The store
// stays open; its owner closes it afterwards. Close is idempotent.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() {
		r.closing.Store(true)
		r.wakes.stop()
		close(r.sweepStop)
		<-r.sweepDone
		r.ingest.drain(10 * time.Second)
		r.ingest.stop()
		r.lookup.Shutdown()
		r.leaveCluster()
		r.disp.stop()
	})
	return r.closeErr
}

// leaveCluster is protoactor-go's graceful Cluster.Shutdown without its
// fixed 2 s sleep "to wait ownership transferring complete": the twins
// have passivated (their state is saved) before this runs, so there is
// nothing to wait for, and every node stop (and every test) paid it.
func (r *Runtime) leaveCluster() {
	c := r.cluster
	c.Gossip.SetState(cluster.GracefullyLeftKey, &emptypb.Empty{})
	c.ActorSystem.Shutdown()
	_ = r.provider.Shutdown(true)
	c.IdentityLookup.Shutdown()
	c.Gossip.Shutdown()
	c.Remote.Shutdown(true)
}

func (r *Runtime) identity(id string) *cluster.ClusterIdentity {
	return cluster.NewClusterIdentity(id, TwinKind)
}

// Members returns the cluster's members as this node sees them, itself
// included.
func (r *Runtime) Members() []plcluster.Member { return r.provider.Members() }

// Roster returns the cluster roster this node holds.
func (r *Runtime) Roster() plcluster.Roster {
	ro, _ := r.topo.Roster()
	return ro
}

// SetNodeState announces a state of this node to the cluster
// ("draining"; "" for serving).
func (r *Runtime) SetNodeState(state string) error { return r.provider.SetState(state) }

// NodeName is this node's name in the cluster (--node-name).
func (r *Runtime) NodeName() string { return r.topo.Self() }

// ErrNotDrainable says a node cannot hand its twins off: no other
// member of its roster is up to take them.
var ErrNotDrainable = errors.New("actors: no other member to take the twins")

// Drain hands this node's twins to the other nodes: it announces
// "draining" (its own placement excludes it at once, the others' once
// gossip tells them), refuses new activations, passivates every local
// twin (each finishes what it has in flight and writes its final
// snapshot to its replicas) and waits until none runs here. The node
// keeps replicating for the others. It returns how many twins moved and
// how long it took.
func (r *Runtime) Drain(ctx context.Context) (int, time.Duration, error) {
	start := time.Now()
	ro, _ := r.topo.Roster()
	other := false
	for _, m := range ro.Members {
		if m.Name != r.topo.Self() && r.topo.Usable(m.Name) {
			other = true
		}
	}
	if !other {
		return 0, 0, fmt.Errorf("%w: %s is the only member serving", ErrNotDrainable, r.topo.Self())
	}
	r.topo.SetDraining(true)
	r.lookup.RefuseActivations(true)
	if err := r.provider.SetState("draining"); err != nil {
		r.log.Warn("could not announce draining to the cluster", "err", err)
	}
	pids := r.lookup.LocalPIDs()
	for _, pid := range pids {
		r.system.Root.Send(pid, &pb.Passivate{})
	}
	for r.lookup.Active() > 0 {
		select {
		case <-ctx.Done():
			return len(pids), time.Since(start), fmt.Errorf("actors: drain: %d twins still active: %w", r.lookup.Active(), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	took := time.Since(start)
	r.log.Info("drained: twins handed off", "twins", len(pids), "took", took)
	return len(pids), took, nil
}

// DrainMember asks the member called name to drain (see Drain) and
// waits for its answer.
func (r *Runtime) DrainMember(ctx context.Context, name string) (int, time.Duration, error) {
	if name == "" || name == r.topo.Self() {
		return r.Drain(ctx)
	}
	addr, ok := r.topo.Address(name)
	if !ok {
		return 0, 0, fmt.Errorf("%w: member %q is not up as this node sees it", ErrUnknownMember, name)
	}
	timeout := r.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond) // a negative timeout would never expire
	}
	res, err := r.system.Root.RequestFuture(actor.NewPID(addr, plcluster.ReplicaActorName), &pb.DrainRequest{}, timeout).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("actors: drain %s: %w", name, err)
	}
	rep, ok := res.(*pb.DrainReply)
	switch {
	case !ok:
		return 0, 0, fmt.Errorf("actors: drain %s: unexpected answer %T", name, res)
	case rep.Error != "":
		return int(rep.TwinsMoved), time.Duration(rep.TookNanos), fmt.Errorf("actors: drain %s: %s", name, rep.Error)
	}
	return int(rep.TwinsMoved), time.Duration(rep.TookNanos), nil
}

// RemoveMember takes the member called name out of the cluster's roster
// for good, coordinated by this node (cluster.RosterService.Remove). The
// member must be down or draining as this node sees it.
func (r *Runtime) RemoveMember(name string) (plcluster.Removal, error) {
	return r.roster.Remove(name, r.topo.Usable)
}

// rosterChanged is published on the actor system's event stream after
// the node stores a new roster: owners may have moved.
type rosterChanged struct{}

// ErrUnknownMember says no member of that name is up.
var ErrUnknownMember = errors.New("actors: no such member")

// GossipAddress is the address memberlist listens on, host:port.
func (r *Runtime) GossipAddress() string { return r.provider.GossipAddr() }

// StartTime is when the runtime started.
func (r *Runtime) StartTime() time.Time { return r.started }

// Subscribe returns a subscription to the changes of the twins ids (nil:
// every twin), buffering up to capacity changes. Subscribe before reading
// the twins' state: every change committed after the read then arrives.
//
// In a cluster the subscription also gets the changes of twins active on
// the other members, relayed by their feed actors; Subscribe waits (at
// most 2 s) until they relay. A change a member could not relay is
// reported as a lag.
func (r *Runtime) Subscribe(ids []string, capacity int) *Subscription {
	s := r.feed.subscribe(ids, max(capacity, 1))
	r.relay(s, ids)
	return s
}

// GetTwin returns the acknowledged state of a twin. An active twin answers
// itself; a passivated one is read from storage without activating it.
func (r *Runtime) GetTwin(ctx context.Context, id string) (*pb.Twin, error) {
	st, active, node, err := r.state(ctx, id)
	if err != nil {
		return nil, err
	}
	t := TwinToProto(st, active)
	t.Node = node
	return t, nil
}

// State returns a copy of a twin's acknowledged state and whether the twin
// is active. An active twin answers itself (after its commit in flight); a
// passivated one is read from storage without activating it.
func (r *Runtime) State(ctx context.Context, id string) (*twins.State, bool, error) {
	st, active, _, err := r.state(ctx, id)
	return st, active, err
}

// localStateTimeout bounds the wait for a local activation of a twin
// with other replicas, before the read asks the twin's owner instead.
const localStateTimeout = 2 * time.Second

// state is State, with the name of the node whose activation answered
// ("" when read from storage).
func (r *Runtime) state(ctx context.Context, id string) (*twins.State, bool, string, error) {
	spec, ok := r.Twins().Twin(id)
	if !ok {
		return nil, false, "", fmt.Errorf("%w: %q", ErrUnknownTwin, id)
	}
	if r.closing.Load() {
		return nil, false, "", ErrClosed
	}
	// An activation here answers if this node owns the twin. One left
	// behind by a roster or topology change is stopping: a request to it
	// may never be answered, so ask the owner instead.
	if pid := r.lookup.LocalPID(r.identity(id)); pid != nil && (r.topo.Alone(id) || r.topo.OwnerName(id) == r.NodeName()) {
		timeout := r.cfg.RequestTimeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Millisecond) // a negative timeout would never expire
		}
		if !r.topo.Alone(id) {
			// It may be fenced and stop before it answers: then ask the
			// owner (below) well before the caller gives up.
			timeout = min(timeout, localStateTimeout)
		}
		res, err := r.system.Root.RequestFuture(pid, &getState{}, timeout).Result()
		if err == nil {
			switch m := res.(type) {
			case *twins.State:
				return m, true, r.NodeName(), nil
			case *pb.TelemetryApplied: // error answer of a failed twin
				return nil, false, "", fmt.Errorf("%w: twin %s: %s", ErrUnavailable, id, m.Error)
			}
		}
		if ctx.Err() != nil {
			return nil, false, "", ctx.Err()
		}
		// The activation stopped between lookup and request: read storage.
	}
	if !r.topo.Alone(id) {
		// This store is one replica of several and may lag: ask the twin
		// itself, on its owner (activating it there).
		return r.ownerState(ctx, spec)
	}
	st, err := r.LoadState(spec)
	if err != nil {
		return nil, false, "", err
	}
	return st, false, "", nil
}

// rebalance activates every declared twin for which changed is true on
// its owner under the current (joint) roster, a few at a time: each
// activation brings a majority of the twin's old and new replicas in
// line, after which the roster can settle on the new ones.
func (r *Runtime) rebalance(ctx context.Context, changed func(id string) bool) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	n := 0
	for _, spec := range r.Twins().Twins {
		if !changed(spec.ID) {
			continue
		}
		n++
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("actors: rebalance: %d twins started: %w", n, ctx.Err())
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, _, _, err := r.ownerState(ctx, spec); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("actors: rebalance: %d of %d twins not in line (first: %w)", len(errs), n, errs[0])
	}
	r.log.Info("rebalanced twins onto their new replica sets", "twins", n)
	return nil
}

// ownerState asks twin spec's activation, on whichever node owns it, for
// its acknowledged state.
func (r *Runtime) ownerState(ctx context.Context, spec *twins.Spec) (*twins.State, bool, string, error) {
	timeout := r.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond) // a negative timeout would never expire
	}
	f := actor.NewFuture(r.system, timeout)
	if !r.lookup.Send(r.identity(spec.ID), &pb.GetTwinState{TwinId: spec.ID}, f.PID()) {
		return nil, false, "", fmt.Errorf("%w: twin %s: no node owns it now", ErrUnavailable, spec.ID)
	}
	res, err := f.Result()
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, "", ctx.Err()
		}
		return nil, false, "", fmt.Errorf("%w: twin %s: %v", ErrUnavailable, spec.ID, err)
	}
	rep, ok := res.(*pb.TwinStateReply)
	switch {
	case !ok:
		return nil, false, "", fmt.Errorf("%w: twin %s: unexpected answer %T", ErrUnavailable, spec.ID, res)
	case rep.Error != "":
		return nil, false, "", fmt.Errorf("%w: twin %s: %s", ErrUnavailable, spec.ID, rep.Error)
	}
	st := twins.NewState(spec)
	if err := decodeSnapshot(st, rep.Snapshot); err != nil {
		return nil, false, "", err
	}
	st.Version = rep.Version
	return st, true, rep.Node, nil
}

// ErrJournalTrimmed says the journal no longer holds the versions asked
// for: they were folded into a snapshot.
var ErrJournalTrimmed = errors.New("actors: journal no longer holds these versions")

// errStopRead ends a journal read early.
var errStopRead = errors.New("stop")

// ReadChanges calls fn for each journaled event of twin id with a version
// in (after, upto], in order. Pass as upto a version the twin has
// acknowledged (State's Version): the journal may already hold events
// whose commit is not yet synced. It fails with ErrJournalTrimmed (before
// calling fn) when the oldest event kept is newer than after+1.
func (r *Runtime) ReadChanges(id string, after, upto int64, fn func(version int64, ev twins.Event) error) error {
	spec, ok := r.Twins().Twin(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTwin, id)
	}
	first := true
	if upto <= after {
		return nil
	}
	err := r.store.ReadJournal(id, after+1, func(version int64, _ uint64, data []byte) error {
		if version > upto {
			return errStopRead
		}
		if first && version != after+1 {
			return fmt.Errorf("%w: twin %s: asked for versions after %d, oldest kept is %d", ErrJournalTrimmed, id, after, version)
		}
		first = false
		ev, err := decodeEvent(spec.Model, data)
		if err != nil {
			return fmt.Errorf("actors: read changes of twin %s version %d: %w", id, version, err)
		}
		if ev == nil {
			return nil
		}
		return fn(version, ev)
	})
	if errors.Is(err, errStopRead) {
		err = nil
		if first { // the first version past after is beyond upto: nothing to send
			return nil
		}
	}
	if err != nil || !first {
		return err
	}
	// Nothing after `after` in the journal: fine if the twin is not newer.
	head, err := r.store.Head(id)
	if err != nil {
		return err
	}
	if head.Version > after {
		return fmt.Errorf("%w: twin %s: asked for versions after %d, none kept (version %d)", ErrJournalTrimmed, id, after, head.Version)
	}
	return nil
}

// LoadState reads a twin's durable state (snapshot plus journal tail)
// without activating it.
func (r *Runtime) LoadState(spec *twins.Spec) (*twins.State, error) {
	st := twins.NewState(spec)
	if _, err := recoverState(r.store, st); err != nil {
		return nil, err
	}
	return st, nil
}

// recoverState loads snapshot and journal tail into st and returns the
// snapshot's version.
func recoverState(store *persistence.Store, st *twins.State) (int64, error) {
	id := st.Spec.ID
	snap, ok, err := store.LoadSnapshot(id)
	if err != nil {
		return 0, fmt.Errorf("actors: recover twin %s: %w", id, err)
	}
	var snapVersion int64
	if ok {
		if err := decodeSnapshot(st, snap.Data); err != nil {
			return 0, err
		}
		st.Version = snap.Version
		snapVersion = snap.Version
	}
	err = store.ReadJournal(id, st.Version+1, func(version int64, _ uint64, data []byte) error {
		if version != st.Version+1 {
			return fmt.Errorf("actors: recover twin %s: journal jumps from version %d to %d", id, st.Version, version)
		}
		ev, err := decodeEvent(st.Spec.Model, data)
		if err != nil {
			return fmt.Errorf("actors: recover twin %s version %d: %w", id, version, err)
		}
		if ev != nil {
			st.Apply(ev)
		}
		st.Version = version
		return nil
	})
	if err != nil {
		return 0, err
	}
	return snapVersion, nil
}

// Device carries twins' commands and desired values to their devices:
// the node's edge host.
type Device interface {
	// Do carries one attempt of a command (or, with cmd.Property set, the
	// write of a desired value) to the twin's device and returns when the
	// device has answered: a nil error for success, or the error and
	// whether it is worth trying again (the device could not be reached).
	// It must honour ctx.
	Do(ctx context.Context, twinID string, cmd twins.CommandRecord) (retry bool, err error)
	// Writes reports whether a write binding carries the twin's property
	// to its device: then its desired values are reconciled.
	Writes(twinID, property string) bool
}

// errNoDevice fails commands on a node that runs no edge connector.
var errNoDevice = errors.New("no edge connector on this node carries commands")

// SetDevice installs how twins' commands and desired values reach their
// devices (the node's edge host). Until it is set, commands fail with
// "no edge connector on this node carries commands" and desired values
// are only recorded.
func (r *Runtime) SetDevice(d Device) {
	if d == nil {
		r.device.Store(nil)
		return
	}
	r.device.Store(&d)
}

// Busy returns how much work the twins have in hand that will reach a
// device or the journal without any new input: timer ticks (a rule
// window ending, a deadline) fired and not yet decided and committed,
// command attempts handed to their device and not yet answered and
// committed, roll-up reports on their way to a parent on this node, and
// rule commands on their way to related twins. A driver that runs the
// runtime in lockstep on a virtual clock (the simulator) waits for 0
// before its next step; each piece of work is counted before the work
// that counted it is released, so Busy does not touch 0 in between.
func (r *Runtime) Busy() int64 { return r.busy.Load() }
