package actors

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	plcluster "github.com/plantwin/plantwin/cluster"
	"github.com/plantwin/plantwin/twins"
)

// The change feed across a cluster. A twin publishes its commits on the
// node it is active on; a subscription taken on one node also gets the
// other members' changes through their feed actors, which relay them
// (docs/cluster.md "Watch"):
//
//   - Subscribe asks every other roster member's feed actor for its
//     changes (SubscribeChanges) and waits for the answers (at most
//     relayAskTimeout), so that the subscribe-before-read rule still
//     holds: a commit after the subscriber's read arrives.
//   - The subscriber renews every relayRenew; a member ends a relay not
//     renewed for relayLease (the subscriber's node died).
//   - Whatever may have been missed is reported as a lag, and the
//     subscriber resynchronises from the twins' states: a member that
//     dropped changes (its relay buffer was full), a gap in a member's
//     message sequence (its connection broke), a relay started later
//     than the first round (a member that joined or restarted, or did
//     not answer in time).

// FeedActorName is the name of each node's feed actor, which relays its
// twins' changes to subscribers on other nodes.
const FeedActorName = "plantwin-feed"

const (
	relayRenew      = 2 * time.Second
	relayLease      = 10 * time.Second
	relayAskTimeout = 2 * time.Second
	relayBuffer     = 4096
	// maxRelays bounds the relays one node runs for other nodes' watches.
	maxRelays = 1024
)

// relayServer is the feed actor: the relays this node runs for
// subscribers elsewhere.
type relayServer struct {
	rt   *Runtime
	subs map[string]*relayOut
	stop chan struct{} // closes with the actor: ends the ticker
}

type relayOut struct {
	sub     *Subscription
	expires time.Time
	stop    chan struct{}
}

type relayTick struct{}

func (a *relayServer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-a.stop:
					return
				case <-t.C:
					root.Send(self, relayTick{})
				}
			}
		}()
	case *actor.Stopping:
		close(a.stop)
		for id, o := range a.subs {
			a.end(id, o)
		}
	case relayTick:
		now := time.Now()
		for id, o := range a.subs {
			if now.After(o.expires) {
				a.rt.log.Info("a watch relay was not renewed; ended", "subscription", id)
				a.end(id, o)
			}
		}
	case *pb.SubscribeChanges:
		ctx.Respond(a.subscribe(ctx, m))
	case *pb.UnsubscribeChanges:
		if o, ok := a.subs[m.Subscription]; ok {
			a.end(m.Subscription, o)
		}
	}
}

func (a *relayServer) subscribe(ctx actor.Context, m *pb.SubscribeChanges) *pb.SubscribeChangesReply {
	node := a.rt.NodeName()
	lease := time.Duration(m.LeaseMillis) * time.Millisecond
	switch {
	case m.Subscription == "" || m.ReplyAddress == "" || m.ReplyId == "":
		return &pb.SubscribeChangesReply{Node: node, Error: "subscription, reply_address and reply_id are required"}
	case lease <= 0 || lease > time.Minute:
		return &pb.SubscribeChangesReply{Node: node, Error: fmt.Sprintf("lease_millis %d: want 1 to 60000", m.LeaseMillis)}
	case !m.AllTwins && len(m.TwinIds) == 0:
		return &pb.SubscribeChangesReply{Node: node, Error: "no twins named, and all_twins not set"}
	}
	if o, ok := a.subs[m.Subscription]; ok {
		o.expires = time.Now().Add(lease)
		return &pb.SubscribeChangesReply{Node: node, Renewed: true}
	}
	if len(a.subs) >= maxRelays {
		return &pb.SubscribeChangesReply{Node: node, Error: fmt.Sprintf("this node already relays %d watches, the most it will", maxRelays)}
	}
	var ids []string
	if !m.AllTwins {
		ids = m.TwinIds
	}
	o := &relayOut{sub: a.rt.feed.subscribe(ids, relayBuffer), expires: time.Now().Add(lease), stop: make(chan struct{})}
	a.subs[m.Subscription] = o
	go a.forward(ctx.ActorSystem(), m.Subscription, actor.NewPID(m.ReplyAddress, m.ReplyId), o)
	return &pb.SubscribeChangesReply{Node: node}
}

func (a *relayServer) end(id string, o *relayOut) {
	delete(a.subs, id)
	close(o.stop)
	o.sub.Close()
}

// forward sends one relay's changes and lags to its subscriber, in order.
func (a *relayServer) forward(system *actor.ActorSystem, id string, to *actor.PID, o *relayOut) {
	node := a.rt.NodeName()
	var seq uint64
	for {
		select {
		case <-o.stop:
			return
		case ch := <-o.sub.C():
			m, err := relayedChange(ch)
			if err != nil {
				// Not sendable: the subscriber must resynchronise.
				a.rt.log.Error("cannot relay a change", "twin", ch.Spec.ID, "err", err)
				seq++
				system.Root.Send(to, &pb.ChangesLagged{Subscription: id, Seq: seq, Dropped: 1, Node: node})
				continue
			}
			seq++
			m.Subscription, m.Seq, m.Node = id, seq, node
			system.Root.Send(to, m)
		case <-o.sub.Lagged():
			if n := o.sub.TakeDropped(); n > 0 {
				seq++
				system.Root.Send(to, &pb.ChangesLagged{Subscription: id, Seq: seq, Dropped: n, Node: node})
			}
		}
	}
}

// relayedChange encodes a change for the wire.
func relayedChange(ch *Change) (*pb.RelayedChange, error) {
	state, err := encodeSnapshot(ch.State)
	if err != nil {
		return nil, err
	}
	m := &pb.RelayedChange{TwinId: ch.Spec.ID, StateVersion: ch.State.Version, State: state, Events: make([]*pb.RelayedEvent, len(ch.Events))}
	for i, ev := range ch.Events {
		data, err := encodeEvent(ch.Spec.Model, ev.Event)
		if err != nil {
			return nil, err
		}
		m.Events[i] = &pb.RelayedEvent{Version: ev.Version, Data: data}
	}
	return m, nil
}

// changeFrom decodes a relayed change of a declared twin.
func changeFrom(spec *twins.Spec, m *pb.RelayedChange) (*Change, error) {
	st := twins.NewState(spec)
	if err := decodeSnapshot(st, m.State); err != nil {
		return nil, err
	}
	st.Version = m.StateVersion
	ch := &Change{Spec: spec, State: st, Events: make([]VersionedEvent, len(m.Events))}
	for i, e := range m.Events {
		ev, err := decodeEvent(spec.Model, e.Data)
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", e.Version, err)
		}
		ch.Events[i] = VersionedEvent{Version: e.Version, Event: ev}
	}
	return ch, nil
}

var relaySeq atomic.Uint64

// relayIn brings the other members' changes into one subscription.
type relayIn struct {
	rt   *Runtime
	sub  *Subscription
	id   string
	pid  *actor.PID
	ids  []string // nil: every twin
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	peers map[string]*relayPeer // by member name
}

type relayPeer struct {
	addr string
	seq  uint64 // the last message's sequence number; 0: none yet
}

// relay makes sub cluster-wide. It returns once every other roster
// member answered the first subscribe, or relayAskTimeout passed.
func (r *Runtime) relay(sub *Subscription, ids []string) {
	in := &relayIn{rt: r, sub: sub, ids: ids, stop: make(chan struct{}), done: make(chan struct{}), peers: map[string]*relayPeer{}}
	n := strconv.FormatUint(relaySeq.Add(1), 10)
	in.id = r.system.ID + "/" + n
	pid, err := r.system.Root.SpawnNamed(actor.PropsFromFunc(in.receive), "plantwin-watch-"+n)
	if err != nil {
		r.log.Error("cannot relay other members' changes to a watch", "err", err)
		return
	}
	in.pid = pid
	sub.onClose = in.close
	in.renew(true)
	go func() {
		defer close(in.done)
		t := time.NewTicker(relayRenew)
		defer t.Stop()
		for {
			select {
			case <-in.stop:
				return
			case <-t.C:
				in.renew(false)
			}
		}
	}()
}

// renew subscribes at every other roster member, or renews the lease.
// A relay that starts after the first round (a member that joined,
// restarted or did not answer before) may have missed changes: a lag.
func (in *relayIn) renew(first bool) {
	r := in.rt
	ro, ok := r.topo.Roster()
	if !ok {
		return
	}
	names := map[string]bool{}
	for _, m := range append(append([]plcluster.RosterMember(nil), ro.Members...), ro.Next...) {
		names[m.Name] = true
	}
	delete(names, r.NodeName())
	var wg sync.WaitGroup
	for name := range names {
		addr, ok := r.topo.Address(name)
		if !ok {
			in.lost(name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &pb.SubscribeChanges{Subscription: in.id, TwinIds: in.ids, AllTwins: in.ids == nil,
				ReplyAddress: in.pid.Address, ReplyId: in.pid.Id, LeaseMillis: relayLease.Milliseconds()}
			res, err := r.system.Root.RequestFuture(actor.NewPID(addr, FeedActorName), req, relayAskTimeout).Result()
			rep, _ := res.(*pb.SubscribeChangesReply)
			if err != nil || rep == nil || rep.Error != "" {
				if rep != nil && rep.Error != "" {
					r.log.Warn("a member refused to relay changes", "node", name, "err", rep.Error)
				}
				in.lost(name)
				return
			}
			in.mu.Lock()
			p := in.peers[name]
			if p == nil || p.addr != addr {
				p = &relayPeer{addr: addr}
				in.peers[name] = p
			}
			late := !rep.Renewed && !first
			if !rep.Renewed {
				p.seq = 0
			}
			in.mu.Unlock()
			if late {
				r.log.Info("a member relays a watch's changes from now on; the watch resynchronises", "node", name)
				in.sub.lagged(1)
			}
		}()
	}
	wg.Wait()
}

// lost forgets a member's relay: the next one it starts is late.
func (in *relayIn) lost(name string) {
	in.mu.Lock()
	delete(in.peers, name)
	in.mu.Unlock()
}

// receive is the subscription's actor: relayed changes and lags.
func (in *relayIn) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pb.RelayedChange:
		if m.Subscription != in.id {
			return
		}
		in.inSequence(m.Node, m.Seq)
		spec, ok := in.rt.Twins().Twin(m.TwinId)
		if !ok {
			return // not declared here (a reload under way)
		}
		ch, err := changeFrom(spec, m)
		if err != nil {
			in.rt.log.Error("a relayed change does not decode", "node", m.Node, "twin", m.TwinId, "err", err)
			in.sub.lagged(1)
			return
		}
		in.sub.deliver(ch)
	case *pb.ChangesLagged:
		if m.Subscription != in.id {
			return
		}
		in.inSequence(m.Node, m.Seq)
		in.sub.lagged(max(m.Dropped, 1))
	}
}

// inSequence records a member's message seq; a gap (a message lost with
// a broken connection) is a lag.
func (in *relayIn) inSequence(node string, seq uint64) {
	in.mu.Lock()
	p := in.peers[node]
	gap := false
	if p != nil {
		gap = p.seq != 0 && seq != p.seq+1
		p.seq = seq
	}
	in.mu.Unlock()
	if gap {
		in.sub.lagged(1)
	}
}

// close ends the relays: the members are told, the actor stops.
func (in *relayIn) close() {
	close(in.stop)
	<-in.done
	in.mu.Lock()
	addrs := make([]string, 0, len(in.peers))
	for _, p := range in.peers {
		addrs = append(addrs, p.addr)
	}
	in.mu.Unlock()
	for _, addr := range addrs {
		in.rt.system.Root.Send(actor.NewPID(addr, FeedActorName), &pb.UnsubscribeChanges{Subscription: in.id})
	}
	in.rt.system.Root.Stop(in.pid)
}
