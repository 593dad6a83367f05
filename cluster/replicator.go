package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// ErrNoQuorum says a twin's activation or write did not reach a majority
// of its replicas: too few of them are up, or they did not answer in time.
var ErrNoQuorum = errors.New("cluster: no quorum of the twin's replicas")

// Replicator is the cluster's journal for twins (actors.Journal): it
// writes each twin's activations and updates to the twin's replicas, the
// first R nodes of its rendezvous order over the roster, and reports a
// write durable once a majority holds it (docs/cluster-design.md §3).
//
// A twin whose only replica is this node (a cluster of one) goes straight
// to the store, as before there was a cluster.
type Replicator struct {
	store      *persistence.Store
	system     *actor.ActorSystem
	topo       *Topology
	activation string // this process's id in fence records
	timeout    time.Duration
	log        *slog.Logger
	met        *replMetrics

	mu    sync.Mutex
	peers map[string]*peer // by node name
}

// NewReplicator returns the replicator of this node: its store, its actor
// system (to reach the other nodes' replica actors), its topology.
// timeout bounds each exchange with a replica (wall time).
func NewReplicator(store *persistence.Store, system *actor.ActorSystem, topo *Topology, timeout time.Duration, log *slog.Logger) *Replicator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replicator{store: store, system: system, topo: topo, activation: system.ID, timeout: timeout, log: log,
		met: replicationMetrics(), peers: map[string]*peer{}}
}

// Topology returns the replicator's topology.
func (r *Replicator) Topology() *Topology { return r.topo }

// replicaPID is the replica actor of the node at address.
func replicaPID(address string) *actor.PID { return actor.NewPID(address, ReplicaActorName) }

func rosterVersion(t *Topology) uint64 {
	ro, _ := t.Roster()
	return ro.Version
}

// Activate starts an activation of twin: it takes an epoch above every
// epoch its replicas have seen, has a majority of them promise it, makes
// this node's log the newest acknowledged one (pulling what it lacks from
// the replica with the best log), brings a majority of the replicas in
// line with it, and only then returns. Writes of older activations are
// refused from then on by the majority that promised.
func (r *Replicator) Activate(twin string) (uint64, persistence.Head, error) {
	reps := r.topo.Sets(twin)
	self := r.topo.Self()
	if reps.Only(self) {
		return r.store.Activate(twin)
	}
	start := time.Now()
	names := reps.Names()
	if len(names) == 0 {
		return 0, persistence.Head{}, fmt.Errorf("%w: twin %s: this node has no roster yet", ErrNoQuorum, twin)
	}
	f, err := r.store.ReadFence(twin)
	if err != nil {
		return 0, persistence.Head{}, err
	}
	h, err := r.store.Head(twin)
	if err != nil {
		return 0, persistence.Head{}, err
	}
	epoch := max(f.Promised, h.Epoch) + 1
	var promised map[string]*pb.FenceResponse
	for attempt := 0; ; attempt++ {
		var higher uint64
		promised, higher = r.fence(twin, epoch, reps)
		if reps.Quorum(func(n string) bool { return promised[n] != nil }) {
			break
		}
		if higher < epoch || attempt == 3 {
			r.met.activations.WithLabelValues("no_quorum").Inc()
			return 0, persistence.Head{}, fmt.Errorf("%w: twin %s: %d of replicas %v promised epoch %d", ErrNoQuorum, twin, len(promised), names, epoch)
		}
		// Another activation took a newer epoch: go above it, after a
		// pause that lets one of two contenders win.
		epoch = higher + 1
		r.met.activations.WithLabelValues("refused").Inc()
		time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
	}
	// The best log of the majority that promised: the newest log epoch,
	// then the longest (VR's view change; §4 claim 2).
	var best *pb.FenceResponse
	for _, n := range names {
		p := promised[n]
		if p != nil && (best == nil || p.LogEpoch > best.LogEpoch || (p.LogEpoch == best.LogEpoch && p.Version > best.Version)) {
			best = p
		}
	}
	mine := promised[self]
	if mine == nil {
		return 0, persistence.Head{}, fmt.Errorf("%w: twin %s: this node's store did not promise epoch %d", ErrNoQuorum, twin, epoch)
	}
	if mine.LogEpoch != best.LogEpoch || mine.Version != best.Version {
		if err := r.pull(twin, epoch, best, mine); err != nil {
			r.met.activations.WithLabelValues("pull_failed").Inc()
			return 0, persistence.Head{}, err
		}
		r.met.activations.WithLabelValues("pulled").Inc()
	} else if err := r.store.Commit(context.Background(), &persistence.Write{TwinID: twin, Epoch: epoch, Sync: &persistence.Sync{After: mine.Version}}); err != nil {
		return 0, persistence.Head{}, err
	}
	// Bring the others that promised in line, until a majority holds this
	// log under the new epoch.
	acked := map[string]bool{self: true}
	results := make(chan string, len(names))
	pending := 0
	for _, n := range names {
		p := promised[n]
		if n == self || p == nil {
			continue
		}
		var tw *pb.TwinWrite
		if p.LogEpoch == best.LogEpoch && p.Version == best.Version {
			after := p.Version
			tw = &pb.TwinWrite{TwinId: twin, Epoch: epoch, SyncAfter: &after}
		} else {
			w, err := BuildSync(r.store, twin, epoch, LogState{Head: persistence.Head{Version: p.Version, Epoch: p.LogEpoch, SnapshotVersion: p.SnapshotVersion}, Runs: runsFromProto(p.Runs)})
			if err != nil {
				r.log.Warn("cannot build a replica's sync", "twin", twin, "replica", n, "err", err)
				continue
			}
			tw = WriteToProto(w, 0)
		}
		pending++
		name := n
		r.peer(name).send(tw, func(res *pb.TwinResult, err error) {
			if err == nil && res.Status == pb.ReplicaStatus_REPLICA_STATUS_OK {
				results <- name
				return
			}
			results <- ""
		})
	}
	for ; pending > 0 && !reps.Quorum(func(n string) bool { return acked[n] }); pending-- {
		if n := <-results; n != "" {
			acked[n] = true
		}
	}
	if !reps.Quorum(func(n string) bool { return acked[n] }) {
		r.met.activations.WithLabelValues("no_quorum").Inc()
		return 0, persistence.Head{}, fmt.Errorf("%w: twin %s: epoch %d synced on %d of replicas %v", ErrNoQuorum, twin, epoch, len(acked), names)
	}
	head, err := r.store.Head(twin)
	if err != nil {
		return 0, persistence.Head{}, err
	}
	r.met.activations.WithLabelValues("ok").Inc()
	r.met.activationSeconds.Observe(time.Since(start).Seconds())
	return epoch, head, nil
}

// fence asks every replica of names to promise epoch; it returns those
// that did, and the newest epoch any refusal showed. It waits for every
// answer, but not longer than a short grace once a majority promised.
func (r *Replicator) fence(twin string, epoch uint64, reps ReplicaSets) (map[string]*pb.FenceResponse, uint64) {
	names := reps.Names()
	type answer struct {
		name string
		res  *pb.FenceResponse
	}
	ch := make(chan answer, len(names))
	req := &pb.FenceRequest{TwinId: twin, Epoch: epoch, Activation: r.activation, RosterVersion: rosterVersion(r.topo)}
	asked := 0
	for _, n := range names {
		if n == r.topo.Self() {
			asked++
			go func() {
				st, err := r.store.Fence(twin, epoch, r.activation, req.RosterVersion)
				if err != nil && !errors.Is(err, persistence.ErrFenced) {
					r.log.Warn("fence failed", "twin", twin, "err", err)
					ch <- answer{n, nil}
					return
				}
				ch <- answer{n, FenceToProto(twin, n, st, err == nil)}
			}()
			continue
		}
		addr, ok := r.topo.Address(n)
		if !ok {
			continue // not up, as far as this node sees
		}
		asked++
		go func() {
			res, err := r.system.Root.RequestFuture(replicaPID(addr), req, r.timeout).Result()
			fr, _ := res.(*pb.FenceResponse)
			if err != nil || fr == nil {
				ch <- answer{n, nil}
				return
			}
			ch <- answer{n, fr}
		}()
	}
	promised := map[string]*pb.FenceResponse{}
	var higher uint64
	var grace <-chan time.Time
	selfAnswered := false // this node's own store: always waited for
	for got := 0; got < asked; got++ {
		var a answer
		select {
		case a = <-ch:
		case <-grace:
			return promised, higher
		}
		if a.name == r.topo.Self() {
			selfAnswered = true
		}
		if a.res == nil {
			continue
		}
		if a.res.Promised {
			promised[a.name] = a.res
		} else {
			higher = max(higher, a.res.PromisedEpoch, a.res.LogEpoch)
		}
		if grace == nil && selfAnswered && reps.Quorum(func(n string) bool { return promised[n] != nil }) {
			grace = time.After(20 * time.Millisecond)
		}
	}
	return promised, higher
}

// pull fetches from the replica with the best log what this node's log
// lacks and applies it as a sync write under epoch.
func (r *Replicator) pull(twin string, epoch uint64, best, mine *pb.FenceResponse) error {
	addr, ok := r.topo.Address(best.Node)
	if !ok {
		return fmt.Errorf("%w: twin %s: replica %s with the newest log is gone", ErrNoQuorum, twin, best.Node)
	}
	req := &pb.PullRequest{TwinId: twin, Epoch: epoch, Version: mine.Version, LogEpoch: mine.LogEpoch, SnapshotVersion: mine.SnapshotVersion, Runs: mine.Runs}
	res, err := r.system.Root.RequestFuture(replicaPID(addr), req, r.timeout).Result()
	if err != nil {
		return fmt.Errorf("%w: twin %s: pull from %s: %v", ErrNoQuorum, twin, best.Node, err)
	}
	pr, ok := res.(*pb.PullResponse)
	switch {
	case !ok:
		return fmt.Errorf("cluster: twin %s: pull from %s: unexpected answer %T", twin, best.Node, res)
	case pr.Error != "":
		return fmt.Errorf("cluster: twin %s: pull from %s: %s", twin, best.Node, pr.Error)
	}
	w, err := WriteFromProto(pr.Write)
	if err != nil {
		return fmt.Errorf("cluster: twin %s: pull from %s: %w", twin, best.Node, err)
	}
	w.Epoch = epoch
	r.met.catchupEntries.Add(float64(len(w.Events)))
	return r.store.Commit(context.Background(), w)
}

// Submit writes w to this node's store and to the twin's other replicas;
// done(nil) runs once the store and enough replicas for a majority hold
// it. A replica that refuses for a newer epoch fails the write with
// persistence.ErrFenced: the activation is stale and stops. A replica
// that lags is brought in line with a sync write built from this store.
func (r *Replicator) Submit(w *persistence.Write, done func(error)) {
	reps := r.topo.Sets(w.TwinID)
	if reps.Only(r.topo.Self()) {
		r.store.Submit(w, done)
		return
	}
	var peers []string
	for _, n := range reps.Names() {
		if _, ok := r.topo.Address(n); ok && n != r.topo.Self() {
			peers = append(peers, n) // those down catch up when they are back
		}
	}
	// Every answer is counted before the first can arrive.
	s := &submission{r: r, w: w, reps: reps, done: done, acked: map[string]bool{}, start: time.Now(), outstanding: len(peers) + 1}
	if len(peers) > 0 {
		tw := WriteToProto(w, 0)
		for _, name := range peers {
			r.peer(name).send(tw, func(res *pb.TwinResult, err error) { s.peerResult(name, res, err) })
		}
	}
	r.store.Submit(w, s.local)
}

// Commit submits w and waits for its outcome.
func (r *Replicator) Commit(ctx context.Context, w *persistence.Write) error {
	ch := make(chan error, 1)
	r.Submit(w, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submission is one write on its way to the twin's replicas.
type submission struct {
	r     *Replicator
	w     *persistence.Write
	reps  ReplicaSets // the twin's replica sets when it was submitted
	done  func(error)
	start time.Time

	mu          sync.Mutex
	acked       map[string]bool
	why         []string // replicas that did not take the write, and why
	outstanding int
	localDone   bool
	lagging     []lagging       // replicas to sync once the local write is durable
	synced      map[string]bool // replicas sent a sync write
	finished    bool
}

type lagging struct {
	name string
	res  *pb.TwinResult
}

func (s *submission) local(err error) {
	s.mu.Lock()
	s.outstanding--
	if err != nil {
		s.finish(err)
		s.mu.Unlock()
		return
	}
	s.localDone = true
	s.acked[s.r.topo.Self()] = true
	lag := s.lagging
	s.lagging = nil
	s.check()
	s.mu.Unlock()
	if len(lag) > 0 {
		// Off the store's syncer, which must not block: building a sync
		// reads the journal and the history.
		go func() {
			for _, l := range lag {
				s.catchUp(l.name, l.res)
			}
		}()
	}
}

func (s *submission) peerResult(name string, res *pb.TwinResult, err error) {
	s.mu.Lock()
	switch {
	case err == nil && res.Status == pb.ReplicaStatus_REPLICA_STATUS_OK:
		s.acked[name] = true
	case err == nil && res.Status == pb.ReplicaStatus_REPLICA_STATUS_FENCED:
		s.outstanding--
		s.r.met.fenced.Inc()
		s.finish(fmt.Errorf("replica %s promised epoch %d to %s (this write: epoch %d): %w", name, res.PromisedEpoch, res.Promiser, s.w.Epoch, persistence.ErrFenced))
		s.mu.Unlock()
		return
	case err == nil && res.Status == pb.ReplicaStatus_REPLICA_STATUS_NEEDS_SYNC && !s.synced[name]:
		// Still outstanding: the sync write decides.
		if s.synced == nil {
			s.synced = map[string]bool{}
		}
		s.synced[name] = true
		if !s.localDone {
			s.lagging = append(s.lagging, lagging{name, res})
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.catchUp(name, res)
		return
	case err != nil:
		s.why = append(s.why, fmt.Sprintf("%s: %v", name, err))
	default:
		s.why = append(s.why, fmt.Sprintf("%s: %s (version %d, log epoch %d) %s", name, res.Status, res.Version, res.LogEpoch, res.Error))
	}
	s.outstanding--
	s.check()
	s.mu.Unlock()
}

// catchUp sends replica name the sync write that brings it from what it
// reported to this store's log (which holds the write by now).
func (s *submission) catchUp(name string, res *pb.TwinResult) {
	target := LogState{Head: persistence.Head{Version: res.Version, Epoch: res.LogEpoch, SnapshotVersion: res.SnapshotVersion}, Runs: runsFromProto(res.Runs)}
	w, err := BuildSync(s.r.store, s.w.TwinID, s.w.Epoch, target)
	if err != nil {
		s.r.log.Warn("cannot build a lagging replica's sync", "twin", s.w.TwinID, "replica", name, "err", err)
		s.peerResult(name, nil, err)
		return
	}
	s.r.met.catchupEntries.Add(float64(len(w.Events)))
	s.r.peer(name).send(WriteToProto(w, 0), func(res *pb.TwinResult, err error) {
		if err == nil && res.Status == pb.ReplicaStatus_REPLICA_STATUS_NEEDS_SYNC {
			err = fmt.Errorf("replica %s refused the sync write (version %d, log epoch %d)", name, res.Version, res.LogEpoch)
		}
		s.peerResult(name, res, err)
	})
}

// check finishes the submission once a majority holds the write, or
// once every replica answered without one (under mu).
func (s *submission) check() {
	if s.finished {
		return
	}
	if s.localDone && s.reps.Quorum(func(n string) bool { return s.acked[n] }) {
		s.r.met.ackSeconds.Observe(time.Since(s.start).Seconds())
		s.finish(nil)
		return
	}
	if s.outstanding == 0 {
		s.finish(fmt.Errorf("%w: twin %s: version %d durable on %d of replicas %v (%s)", ErrNoQuorum, s.w.TwinID, lastVersion(s.w), len(s.acked), s.reps.Names(), strings.Join(s.why, "; ")))
	}
}

func (s *submission) finish(err error) {
	if s.finished {
		return
	}
	s.finished = true
	go s.done(err) // done may send to actors; never under mu
}

func lastVersion(w *persistence.Write) int64 {
	if n := len(w.Events); n > 0 {
		return w.Events[n-1].Version
	}
	if w.Snapshot != nil {
		return w.Snapshot.Version
	}
	return 0
}

// peer returns the sender to node name.
func (r *Replicator) peer(name string) *peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers[name]
	if p == nil {
		p = &peer{r: r, name: name, wake: make(chan struct{}, 1), slots: make(chan struct{}, 2)}
		r.peers[name] = p
		go p.run()
	}
	return p
}

// peer sends one node the writes of every twin, packed into batches: a
// batch goes as soon as the node has room (at most two in flight), so
// writes that arrive meanwhile share the next one.
type peer struct {
	r     *Replicator
	name  string
	wake  chan struct{}
	slots chan struct{}

	mu    sync.Mutex
	queue []queued
	seq   uint64
}

type queued struct {
	tw   *pb.TwinWrite
	done func(*pb.TwinResult, error)
}

// maxBatch bounds the writes in one batch.
const maxBatch = 512

func (p *peer) send(tw *pb.TwinWrite, done func(*pb.TwinResult, error)) {
	p.mu.Lock()
	p.queue = append(p.queue, queued{tw, done})
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peer) run() {
	for range p.wake {
		for {
			p.slots <- struct{}{}
			p.mu.Lock()
			n := min(len(p.queue), maxBatch)
			batch := p.queue[:n:n]
			p.queue = p.queue[n:]
			p.seq++
			seq := p.seq
			p.mu.Unlock()
			if n == 0 {
				<-p.slots
				break
			}
			// Sent here, in order; answered on their own goroutines.
			f, err := p.request(seq, batch)
			go p.deliver(f, err, batch)
		}
	}
}

// request sends one batch to the peer.
func (p *peer) request(seq uint64, batch []queued) (*actor.Future, error) {
	addr, ok := p.r.topo.Address(p.name)
	if !ok {
		return nil, fmt.Errorf("replica %s is not a member now", p.name)
	}
	msg := &pb.ReplicateBatch{Seq: seq, From: p.r.topo.Self(), Writes: make([]*pb.TwinWrite, len(batch))}
	for i, q := range batch {
		msg.Writes[i] = q.tw
	}
	return p.r.system.Root.RequestFuture(replicaPID(addr), msg, p.r.timeout), nil
}

// deliver waits for one batch's answer and hands each write its result.
func (p *peer) deliver(f *actor.Future, err error, batch []queued) {
	defer func() { <-p.slots }()
	fail := func(err error) {
		for _, q := range batch {
			q.done(nil, err)
		}
	}
	if err != nil {
		fail(err)
		return
	}
	res, err := f.Result()
	if err != nil {
		p.r.met.peerErrors.Inc()
		fail(fmt.Errorf("replica %s: %w", p.name, err))
		return
	}
	ack, ok := res.(*pb.ReplicateAck)
	if !ok || len(ack.Results) != len(batch) {
		fail(fmt.Errorf("replica %s: unexpected answer %T", p.name, res))
		return
	}
	for i, q := range batch {
		q.done(ack.Results[i], nil)
	}
}
