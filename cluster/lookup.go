package cluster

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
)

// placementActorName is the well-known name of each node's placement actor.
const placementActorName = "plantwin-placement"

// Lookup is plantwin's protoactor-go IdentityLookup: rendezvous placement
// over the current members, with an O(1) local activation table.
//
// Get is safe for concurrent use and is cheap for an identity that is
// already active on this node (a read-locked map lookup, no message).
// Activations and terminations are serialised through the node's placement
// actor, which owns the table's writes.
type Lookup struct {
	// ActivationTimeout bounds a request to a placement actor (wall time:
	// a network deadline). Default 5s.
	ActivationTimeout time.Duration

	c         *cluster.Cluster
	rdv       atomic.Pointer[cluster.Rendezvous]
	self      string
	placement *actor.PID
	sub       *eventstream.Subscription
	// topo, when set (UseTopology), places identities by the roster and
	// the members instead of protoactor's rendezvous over addresses.
	topo    *Topology
	members func() []Member
	refuse  atomic.Bool // draining: no new activations here
	// waiting are the activation requests in flight, by their future's
	// id: a topology or roster change ends those whose owner is no
	// longer the owner at once instead of at their timeout.
	waiting struct {
		sync.Mutex
		m map[string]waiter
	}

	mu struct {
		sync.RWMutex
		byKey map[identityKey]*actor.PID // local activations
	}
}

var _ cluster.IdentityLookup = (*Lookup)(nil)

// NewLookup returns an unstarted lookup; protoactor's cluster calls Setup.
func NewLookup() *Lookup {
	l := &Lookup{ActivationTimeout: 5 * time.Second}
	l.mu.byKey = make(map[identityKey]*actor.PID)
	l.waiting.m = make(map[string]waiter)
	l.rdv.Store(cluster.NewRendezvous())
	return l
}

// Setup starts the placement actor and follows topology changes.
func (l *Lookup) Setup(c *cluster.Cluster, kinds []string, isClient bool) {
	l.c = c
	l.self = c.ActorSystem.Address()
	props := actor.PropsFromProducer(func() actor.Actor {
		return &placementActor{l: l}
	})
	pid, err := c.ActorSystem.Root.SpawnNamed(props, placementActorName)
	if err != nil {
		panic("cluster: spawn placement actor: " + err.Error()) // broken invariant: name taken
	}
	l.placement = pid
	l.sub = c.ActorSystem.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok {
			if l.topo != nil {
				l.topo.SetMembers(l.members())
			}
			r := cluster.NewRendezvous()
			r.UpdateMembers(t.Members)
			l.rdv.Store(r)
			l.signalChange()
			c.ActorSystem.Root.Send(l.placement, t)
		}
	})
}

// UseTopology makes the lookup place identities by t (the roster's
// rendezvous order over node names, the first usable replica owning),
// with members as the source of t's member view on every topology
// change. Call it before the cluster starts.
func (l *Lookup) UseTopology(t *Topology, members func() []Member) {
	l.topo, l.members = t, members
}

// Recheck makes the placement actor stop the activations this node no
// longer owns (after a roster change, which is not a topology event).
func (l *Lookup) Recheck() {
	l.signalChange()
	if l.placement != nil {
		l.c.ActorSystem.Root.Send(l.placement, &recheck{})
	}
}

type recheck struct{}

// RefuseActivations makes this node's placement actor refuse to start
// activations (a draining node); requests that other nodes send with a
// stale view fail and are retried on the new owner.
func (l *Lookup) RefuseActivations(on bool) { l.refuse.Store(on) }

// Owner returns the actor-system address of the member that owns identity
// (empty if there are no members yet).
func (l *Lookup) Owner(ci *cluster.ClusterIdentity) string {
	if l.topo != nil {
		return l.topo.Owner(ci.Identity)
	}
	return l.rdv.Load().GetByClusterIdentity(ci)
}

// Get returns the PID of the activation of ci, activating it on its owner
// if needed. Nil when no member owns it or the owner did not answer.
func (l *Lookup) Get(ci *cluster.ClusterIdentity) *actor.PID { return l.get(ci, l.Owner(ci)) }

// get is Get with ci's owner already looked up.
func (l *Lookup) get(ci *cluster.ClusterIdentity, owner string) *actor.PID {
	if owner == "" {
		return nil
	}
	if owner == l.self {
		l.mu.RLock()
		pid := l.mu.byKey[keyOf(ci)]
		l.mu.RUnlock()
		if pid != nil {
			return pid
		}
	}
	target := actor.NewPID(owner, placementActorName)
	if owner == l.self {
		target = l.placement
	}
	// A crashed owner never answers: once this node sees another owner,
	// signalChange completes the future, and the caller retries there
	// instead of waiting out the timeout. The request is registered
	// before it is sent, so no change in between is missed.
	f := actor.NewFuture(l.c.ActorSystem, l.ActivationTimeout)
	fid := f.PID().Id
	l.waiting.Lock()
	l.waiting.m[fid] = waiter{ci: ci, owner: owner, pid: f.PID()}
	l.waiting.Unlock()
	l.c.ActorSystem.Root.RequestWithCustomSender(target, &cluster.ActivationRequest{ClusterIdentity: ci}, f.PID())
	res, err := f.Result()
	l.waiting.Lock()
	delete(l.waiting.m, fid)
	l.waiting.Unlock()
	if err != nil {
		return nil
	}
	r, ok := res.(*cluster.ActivationResponse)
	if !ok || r.Failed {
		return nil
	}
	return r.Pid
}

// waiter is an activation request in flight (see get).
type waiter struct {
	ci    *cluster.ClusterIdentity
	owner string
	pid   *actor.PID // its future
}

// ownerChanged completes the future of a request whose owner lost the
// twin; get then returns nil.
type ownerChanged struct{}

// signalChange ends the activation requests waiting on a node that no
// longer owns their identity (see get).
func (l *Lookup) signalChange() {
	l.waiting.Lock()
	var ended []*actor.PID
	for _, w := range l.waiting.m {
		if l.Owner(w.ci) != w.owner {
			ended = append(ended, w.pid)
		}
	}
	l.waiting.Unlock()
	for _, pid := range ended {
		l.c.ActorSystem.Root.Send(pid, ownerChanged{})
	}
}

// Send delivers msg to the activation of ci with sender as the reply
// address, activating it if needed. It returns false when no member owns ci
// or the activation failed.
//
// For a local activation the send happens under the table's read lock, so
// it cannot race with passivation: a twin that is granted passivation has
// already left the table, and every message sent before that is in its
// mailbox ahead of the grant.
func (l *Lookup) Send(ci *cluster.ClusterIdentity, msg any, sender *actor.PID) bool {
	_, ok := l.SendTo(ci, msg, sender)
	return ok
}

// SendTo is Send, and also returns the owner's address it placed ci on
// ("" when none).
func (l *Lookup) SendTo(ci *cluster.ClusterIdentity, msg any, sender *actor.PID) (string, bool) {
	owner := l.Owner(ci)
	if owner == l.self {
		l.mu.RLock()
		pid := l.mu.byKey[keyOf(ci)]
		if pid != nil {
			l.c.ActorSystem.Root.RequestWithCustomSender(pid, msg, sender)
		}
		l.mu.RUnlock()
		if pid != nil {
			return owner, true
		}
	}
	pid := l.get(ci, owner)
	if pid == nil {
		return owner, false
	}
	l.c.ActorSystem.Root.RequestWithCustomSender(pid, msg, sender)
	return owner, true
}

// RequestPassivation asks the node's placement actor to let the calling
// activation stop. The placement actor removes it from the table (so no new
// message can reach it) and answers with *PassivationGranted; the activation
// then handles what is already in its mailbox, saves its state and stops.
// Activation requests for the identity wait until it has stopped.
func (l *Lookup) RequestPassivation(ctx actor.Context) {
	ci, ok := identityOf(ctx.Self())
	if !ok {
		return
	}
	ctx.Send(l.placement, &passivationRequest{pid: ctx.Self(), key: keyOf(ci)})
}

// ActivationStopped tells the placement actor that the calling activation
// has stopped; activations call it from their *actor.Stopped handler.
func (l *Lookup) ActivationStopped(ctx actor.Context) {
	if l.placement != nil {
		ctx.Send(l.placement, &activationStopped{pid: ctx.Self()})
	}
}

type activationStopped struct{ pid *actor.PID }

// PassivationGranted tells an activation that it left the placement table.
type PassivationGranted struct{}

type passivationRequest struct {
	pid *actor.PID
	key identityKey
}

// LocalPIDs returns the PIDs of this node's activations.
func (l *Lookup) LocalPIDs() []*actor.PID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	pids := make([]*actor.PID, 0, len(l.mu.byKey))
	for _, pid := range l.mu.byKey {
		pids = append(pids, pid)
	}
	return pids
}

// LocalPID returns the PID of ci's activation on this node, or nil.
func (l *Lookup) LocalPID(ci *cluster.ClusterIdentity) *actor.PID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.byKey[keyOf(ci)]
}

// RemovePid forgets a PID that turned out to be dead.
func (l *Lookup) RemovePid(ci *cluster.ClusterIdentity, pid *actor.PID) {
	key := keyOf(ci)
	l.mu.Lock()
	if cur := l.mu.byKey[key]; cur != nil && cur.Equal(pid) {
		delete(l.mu.byKey, key)
	}
	l.mu.Unlock()
}

// Active returns the number of activations on this node.
func (l *Lookup) Active() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.byKey)
}

// Shutdown stops following topology and stops the placement actor, which
// stops its activations first (each twin snapshots as it stops).
func (l *Lookup) Shutdown() {
	if l.c == nil {
		return
	}
	if l.sub != nil {
		l.c.ActorSystem.EventStream.Unsubscribe(l.sub)
		l.sub = nil
	}
	// Stop every activation (each saves a snapshot as it stops), then the
	// placement actor.
	pids := l.LocalPIDs()
	futures := make([]*actor.Future, len(pids))
	for i, pid := range pids {
		futures[i] = l.c.ActorSystem.Root.PoisonFuture(pid)
	}
	for _, f := range futures {
		_ = f.Wait()
	}
	// l.placement stays set: an activation that stops late (its
	// passivation was granted before the shutdown) still reads it, and a
	// message to the stopped actor is only a dead letter.
	if l.placement != nil {
		_ = l.c.ActorSystem.Root.PoisonFuture(l.placement).Wait()
	}
}

type placementActor struct {
	l *Lookup
	// stopping holds identity keys whose activation was granted
	// passivation and has not terminated yet, with activation requests that
	// wait for it.
	stopping map[identityKey][]waitingActivation
}

type waitingActivation struct {
	sender *actor.PID
	req    *cluster.ActivationRequest
}

func (p *placementActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *cluster.ActivationRequest:
		p.activate(ctx, msg)
	case *passivationRequest:
		p.l.mu.Lock()
		if cur := p.l.mu.byKey[msg.key]; cur != nil && cur.Id == msg.pid.Id {
			delete(p.l.mu.byKey, msg.key)
		}
		p.l.mu.Unlock()
		if p.stopping == nil {
			p.stopping = make(map[identityKey][]waitingActivation)
		}
		if _, ok := p.stopping[msg.key]; !ok {
			p.stopping[msg.key] = nil
		}
		ctx.Send(msg.pid, &PassivationGranted{})
	case *activationStopped:
		ci, ok := identityOf(msg.pid)
		if !ok {
			return
		}
		key := keyOf(ci)
		p.l.mu.Lock()
		if cur := p.l.mu.byKey[key]; cur != nil && cur.Id == msg.pid.Id {
			delete(p.l.mu.byKey, key)
		}
		p.l.mu.Unlock()
		if k, ok := p.l.c.TryGetClusterKind(ci.Kind); ok {
			k.Dec()
		}
		p.resume(ctx, key)
	case *cluster.ClusterTopology, *recheck:
		// Stop activations this node no longer owns; their next message
		// activates them on the new owner from durable state. (The lookup
		// installed the new placement before sending the topology here.)
		p.l.mu.RLock()
		var moved []*actor.PID
		for _, pid := range p.l.mu.byKey {
			if ci, ok := identityOf(pid); ok && p.l.Owner(ci) != p.l.self {
				moved = append(moved, pid)
			}
		}
		p.l.mu.RUnlock()
		for _, pid := range moved {
			ctx.Logger().Info("twin moved", slog.String("pid", pid.Id))
			ctx.Poison(pid)
		}
	}
}

// childPrefix starts the PID id of every activation ($a/KIND/IDENTITY):
// short, because every activation's PID and registry entry hold it.
const childPrefix = "$a/"

// identityKey keys the activation table: it shares the identity's strings
// instead of concatenating them (cluster.ClusterIdentity.AsKey allocates).
type identityKey struct{ kind, id string }

func keyOf(ci *cluster.ClusterIdentity) identityKey {
	return identityKey{kind: ci.Kind, id: ci.Identity}
}

// activationName is the child name of an activation.
func activationName(ci *cluster.ClusterIdentity) string { return ci.Kind + "/" + ci.Identity }

// identityOf recovers the cluster identity from an activation's PID, so
// neither the placement actor nor the activation keeps a copy per twin.
func identityOf(pid *actor.PID) (*cluster.ClusterIdentity, bool) {
	rest, ok := strings.CutPrefix(pid.Id, childPrefix)
	if !ok {
		return nil, false
	}
	kind, id, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return nil, false
	}
	return cluster.NewClusterIdentity(id, kind), true
}

// IdentityOf returns the kind and identity (twin id) of the activation ctx
// runs.
func IdentityOf(ctx actor.Context) (kind, identity string, ok bool) {
	ci, ok := identityOf(ctx.Self())
	if !ok {
		return "", "", false
	}
	return ci.Kind, ci.Identity, true
}

// resume serves the activation requests that waited for key's previous
// activation to stop.
func (p *placementActor) resume(ctx actor.Context, key identityKey) {
	waiting, ok := p.stopping[key]
	if !ok {
		return
	}
	delete(p.stopping, key)
	for _, w := range waiting {
		p.respond(ctx, w.sender, w.req)
	}
}

func (p *placementActor) activate(ctx actor.Context, msg *cluster.ActivationRequest) {
	key := keyOf(msg.ClusterIdentity)
	if w, ok := p.stopping[key]; ok {
		p.stopping[key] = append(w, waitingActivation{sender: ctx.Sender(), req: msg})
		return
	}
	p.respond(ctx, ctx.Sender(), msg)
}

func (p *placementActor) respond(ctx actor.Context, to *actor.PID, msg *cluster.ActivationRequest) {
	reply := func(r *cluster.ActivationResponse) {
		if to != nil {
			ctx.Send(to, r)
		}
	}
	ci := msg.ClusterIdentity
	key := keyOf(ci)
	p.l.mu.RLock()
	pid := p.l.mu.byKey[key]
	p.l.mu.RUnlock()
	if pid != nil {
		reply(&cluster.ActivationResponse{Pid: pid})
		return
	}
	if p.l.refuse.Load() {
		reply(&cluster.ActivationResponse{Failed: true})
		return
	}
	kind, ok := p.l.c.TryGetClusterKind(ci.Kind)
	if !ok {
		ctx.Logger().Error("activation of unknown kind", slog.String("kind", ci.Kind))
		reply(&cluster.ActivationResponse{Failed: true})
		return
	}
	// The kind's props are shared by every activation (no per-activation
	// clone): an activation finds its identity in its PID (IdentityOf).
	// Activations are top-level actors, not children of this actor: a
	// parent keeps a set of its children (about 70 bytes per twin), and an
	// activation reports its own end with ActivationStopped instead.
	pid, err := ctx.ActorSystem().Root.SpawnNamed(kind.Props, childPrefix+activationName(ci))
	if err != nil {
		ctx.Logger().Error("activation failed", slog.String("identity", ci.Identity), slog.Any("err", err))
		reply(&cluster.ActivationResponse{Failed: true})
		return
	}
	kind.Inc()
	p.l.mu.Lock()
	p.l.mu.byKey[key] = pid
	p.l.mu.Unlock()
	reply(&cluster.ActivationResponse{Pid: pid})
}
