package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// RosterService keeps this node's roster: it loads or founds it at start,
// joins an existing cluster's roster, coordinates the joins other nodes
// ask of it, and stores the rosters coordinators hand it
// (docs/cluster-design.md §2).
//
// A change goes in two phases: every member of the old and the new roster
// stores the joint roster (quorums then need majorities of both replica
// sets), then the settled one. A change needs every member's answer, so
// it waits while one is down. Settling is safe at once while the roster
// is smaller than the replica count: every twin's replica set then grows
// by the new node and keeps all the old ones. Beyond that, every twin
// whose replica set changes is first brought in line on a majority of its
// new set (SetRebalance) while the roster is joint.
type RosterService struct {
	store    *persistence.Store
	system   *actor.ActorSystem
	topo     *Topology
	timeout  time.Duration
	log      *slog.Logger
	onChange func(Roster)
	// rebalance, when set, brings every twin for which changed is true in
	// line on a majority of its replicas under the joint roster (the
	// runtime activates each on its new owner); see Join.
	rebalance func(ctx context.Context, changed func(id string) bool) error

	mu sync.Mutex // serialises the changes this node coordinates and stores
}

// SetRebalance installs what moves the twins' data before a roster
// beyond the replica count settles.
func (s *RosterService) SetRebalance(fn func(ctx context.Context, changed func(id string) bool) error) {
	s.mu.Lock()
	s.rebalance = fn
	s.mu.Unlock()
}

// rebalanceTimeout bounds the data move of one join.
const rebalanceTimeout = 2 * time.Minute

// NewRosterService returns the roster service of a node. onChange runs
// after each roster this node stores (nil: nothing).
func NewRosterService(store *persistence.Store, system *actor.ActorSystem, topo *Topology, timeout time.Duration, log *slog.Logger, onChange func(Roster)) *RosterService {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func(Roster) {}
	}
	return &RosterService{store: store, system: system, topo: topo, timeout: timeout, log: log, onChange: onChange}
}

// Load installs the roster stored in the node's store. Without one, a
// node that joins nobody founds a cluster: version 1, itself alone; a
// joining node returns ErrNoRoster and joins with Join. A single-node
// roster under another name but this very store (the node was renamed)
// takes the new name.
func (s *RosterService) Load(self RosterMember, joining bool) error {
	r, err := LoadRoster(s.store)
	switch {
	case errors.Is(err, ErrNoRoster) && joining:
		return err
	case errors.Is(err, ErrNoRoster):
		r = FirstRoster(self, s.topo.ownReplicas(), s.topo.ownParents())
		if err := SaveRoster(s.store, r); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if _, ok := r.Member(self.Name); !ok {
		if len(r.Members) == 1 && !r.Joint && r.Members[0].StoreID == self.StoreID {
			s.log.Info("node renamed in its one-node roster", "was", r.Members[0].Name, "now", self.Name)
			r = r.changed(r.Version+1, []RosterMember{self}, nil, false)
			if err := SaveRoster(s.store, r); err != nil {
				return err
			}
		} else {
			return fmt.Errorf("cluster: node %q is not in the roster v%d stored in its data directory (members %v): start it under one of those names, or with an empty data directory to join as a new node",
				self.Name, r.Version, names(r.Members))
		}
	}
	if m, _ := r.Member(self.Name); m.StoreID != self.StoreID {
		return fmt.Errorf("cluster: the roster names node %q with store %s, but this data directory is store %s", self.Name, m.StoreID, self.StoreID)
	}
	s.topo.SetRoster(r)
	s.warnReplicas(r)
	return nil
}

// JoinVia asks the nodes that seeds returns (other members, as gossip
// shows them), one after the other and again every retry until ctx ends,
// to add self to the roster; it installs the roster it gets.
func (s *RosterService) JoinVia(ctx context.Context, self RosterMember, seeds func() []Member, retry time.Duration) error {
	req := &pb.RosterJoin{Name: self.Name, StoreId: self.StoreID, GossipAddress: self.GossipAddr, ActorAddress: self.ActorAddr}
	var last error
	for attempt := 0; ; attempt++ {
		for _, m := range seeds() {
			if m.Self || m.ActorAddr == "" {
				continue
			}
			// A join beyond the replica count moves data first: long.
			res, err := s.system.Root.RequestFuture(replicaPID(m.ActorAddr), req, rebalanceTimeout+10*s.timeout).Result()
			if err != nil {
				last = fmt.Errorf("node %s (%s): %w", m.Name, m.ActorAddr, err)
				continue
			}
			rep, ok := res.(*pb.RosterReply)
			if !ok {
				last = fmt.Errorf("node %s: unexpected answer %T", m.Name, res)
				continue
			}
			if rep.Error != "" {
				last = fmt.Errorf("node %s: %s", m.Name, rep.Error)
				continue
			}
			var r Roster
			if err := json.Unmarshal(rep.Roster, &r); err != nil {
				last = fmt.Errorf("node %s: its roster: %w", m.Name, err)
				continue
			}
			if err := s.Update(r); err != nil {
				last = err
				continue
			}
			s.log.Info("joined the cluster roster", "version", r.Version, "members", names(r.Members), "joint", r.Joint)
			return nil
		}
		if last == nil {
			last = errors.New("no other member seen yet")
		}
		if attempt%10 == 0 {
			s.log.Warn("joining the cluster roster: retrying", "err", last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: join the roster: %w (last: %v)", ctx.Err(), last)
		case <-time.After(retry):
		}
	}
}

// Update stores a roster a coordinator sends: a newer version, the
// settling of the joint roster this node holds, or the same roster again.
func (s *RosterService) Update(r Roster) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update(r)
}

func (s *RosterService) update(r Roster) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if cur, ok := s.topo.Roster(); ok {
		switch {
		case r.Version < cur.Version:
			return fmt.Errorf("cluster: roster v%d is older than this node's v%d", r.Version, cur.Version)
		case r.Version == cur.Version && sameRoster(r, cur):
			return nil
		case r.Version == cur.Version && cur.Joint && !r.Joint && sameMembers(r.Members, cur.Next):
			// the change this node holds, settled
		case r.Version == cur.Version:
			return fmt.Errorf("cluster: roster v%d conflicts with this node's v%d (members %v, proposed %v)", r.Version, cur.Version, names(cur.Members), names(cur.Next))
		}
	}
	if err := SaveRoster(s.store, r); err != nil {
		return err
	}
	s.topo.SetRoster(r)
	s.warnReplicas(r)
	s.onChange(r)
	return nil
}

// warnReplicas says when this node's own --replicas differs from the
// cluster's (the roster's), which it follows.
func (s *RosterService) warnReplicas(r Roster) {
	if r.Replicas > 0 && r.Replicas != s.topo.ownReplicas() {
		s.log.Warn("this node's --replicas is not the cluster's: it follows the cluster's roster", "cluster_replicas", r.Replicas, "own", s.topo.ownReplicas())
	}
}

func sameMembers(a, b []RosterMember) bool {
	return slices.Equal(names(a), names(b))
}

func sameRoster(a, b Roster) bool {
	return a.Joint == b.Joint && sameMembers(a.Members, b.Members) && sameMembers(a.Next, b.Next)
}

// Join coordinates the addition of the node m describes: it drives the
// roster through the joint phase to the settled one (or leaves it joint,
// see RosterService) and returns the roster the joiner should store.
func (s *RosterService) Join(m *pb.RosterJoin) (Roster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.topo.Roster()
	if !ok {
		return Roster{}, errors.New("this node has no roster yet")
	}
	joiner := RosterMember{Name: m.Name, StoreID: m.StoreId, GossipAddr: m.GossipAddress, ActorAddr: m.ActorAddress}
	if err := (Roster{Version: 1, Members: []RosterMember{joiner}}).Validate(); err != nil {
		return Roster{}, err
	}
	if cur.Joint && !slices.ContainsFunc(cur.Next, func(n RosterMember) bool { return n.Name == joiner.Name }) {
		// Another change was left joint (its coordinator stopped half
		// way): finish it first.
		settled, _, err := s.complete(cur)
		if err != nil {
			return Roster{}, fmt.Errorf("roster v%d is joint (members %v becoming %v) and finishing that change failed: %w", cur.Version, names(cur.Members), names(cur.Next), err)
		}
		cur = settled
	}
	have, in := cur.Member(joiner.Name)
	if in && have.StoreID != joiner.StoreID {
		return Roster{}, fmt.Errorf("node %q is in the roster with store %s, and asks with store %s (a new disk?): it would forget the promises it made; give it another name", joiner.Name, have.StoreID, joiner.StoreID)
	}
	target := cur
	switch {
	case in && !cur.Joint:
		return cur, nil // a restart: nothing to change
	case !cur.Joint:
		target = cur.changed(cur.Version+1, cur.Members, append(slices.Clone(cur.Members), joiner), true)
	}
	everyone := append(slices.Clone(target.Members), joiner)
	if err := s.broadcast(target, everyone, joiner); err != nil {
		return Roster{}, fmt.Errorf("adding %s (roster v%d, joint): %w", joiner.Name, target.Version, err)
	}
	// Beyond the replica count some twins' replica sets lose a node for
	// the new one: each must be in line on a majority of its new set
	// before quorums count the new set alone. Activating a twin under the
	// joint roster does that (its sync reaches majorities of both sets).
	start := time.Now()
	moved, err := s.moveData(target)
	if err != nil {
		return Roster{}, fmt.Errorf("adding %s: roster v%d stays joint, moving the twins' data failed (the join is retried): %w", joiner.Name, target.Version, err)
	}
	if moved > 0 {
		s.log.Info("twins' data in line on their new replica sets", "version", target.Version, "twins", moved, "took", time.Since(start))
	}
	settled := target.changed(target.Version, target.Next, nil, false)
	if err := s.broadcast(settled, everyone, joiner); err != nil {
		return Roster{}, fmt.Errorf("adding %s (roster v%d, settling): %w", joiner.Name, settled.Version, err)
	}
	s.log.Info("node joined the roster", "node", joiner.Name, "version", settled.Version, "members", names(settled.Members))
	return settled, nil
}

// complete finishes a change that roster cur, joint, is half way
// through: every member of the proposed roster stores the joint roster,
// the twins whose replica set changes are brought in line, and the
// roster settles on the proposed members. It returns the settled roster
// and how many twins moved.
func (s *RosterService) complete(cur Roster) (Roster, int, error) {
	s.log.Info("finishing a roster change left joint", "version", cur.Version, "members", names(cur.Members), "next", names(cur.Next))
	if err := s.broadcast(cur, cur.Next, RosterMember{}); err != nil {
		return Roster{}, 0, err
	}
	moved, err := s.moveData(cur)
	if err != nil {
		return Roster{}, 0, err
	}
	settled := cur.changed(cur.Version, cur.Next, nil, false)
	if err := s.broadcast(settled, cur.Next, RosterMember{}); err != nil {
		return Roster{}, 0, err
	}
	s.log.Info("roster change finished", "version", settled.Version, "members", names(settled.Members), "twins_moved", moved)
	return settled, moved, nil
}

// moveData brings every twin whose replica set differs between the
// joint roster's current and proposed members in line on a majority of
// its new set (activating it under the joint roster). It returns how
// many there were.
func (s *RosterService) moveData(joint Roster) (int, error) {
	next := names(joint.Next)
	grows := !slices.ContainsFunc(names(joint.Members), func(n string) bool { return !slices.Contains(next, n) })
	if grows && len(joint.Members) < s.topo.Replicas() {
		// Below the replica count every twin's set only grows and keeps a
		// majority of the old one: nothing to move.
		return 0, nil
	}
	if s.rebalance == nil {
		return 0, errors.New("this node cannot move twins' data")
	}
	before := NewPlacement(names(joint.Members), s.topo.Replicas(), joint.Parents)
	after := NewPlacement(next, s.topo.Replicas(), joint.Parents)
	moved := 0
	changed := func(id string) bool {
		c := !slices.Equal(before.ReplicaSet(id), after.ReplicaSet(id))
		if c {
			moved++
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), rebalanceTimeout)
	defer cancel()
	return moved, s.rebalance(ctx, changed)
}

// Removal is what Remove did: the roster after it, and how many twins
// had their data moved.
type Removal struct {
	Roster Roster
	Moved  int
	Took   time.Duration
}

// Remove coordinates taking the member called name out of the roster for
// good. usable reports whether a member is up and serving (a member that
// is must be drained, or stopped, first). Like a join it goes through a
// joint roster: every remaining member stores it, every twin whose
// replica set changes is activated on its new owner (which brings a
// majority of both sets in line), then the roster settles without the
// member. The removed member is not told; it must not rejoin with its
// data (wipe it first).
func (s *RosterService) Remove(name string, serving func(name string) bool) (Removal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	cur, ok := s.topo.Roster()
	switch {
	case !ok:
		return Removal{}, errors.New("this node has no roster yet")
	case name == s.topo.Self():
		return Removal{}, fmt.Errorf("node %s cannot remove itself: ask another member", name)
	case cur.Joint:
		// A change left joint (its coordinator stopped half way): finish
		// it first. A pending removal of this very node ends here.
		settled, moved, err := s.complete(cur)
		if err != nil {
			return Removal{}, fmt.Errorf("roster v%d is joint (members %v becoming %v) and finishing that change failed: %w", cur.Version, names(cur.Members), names(cur.Next), err)
		}
		if _, in := settled.Member(name); !in {
			return Removal{Roster: settled, Moved: moved, Took: time.Since(start)}, nil
		}
		cur = settled
	}
	if _, in := cur.Member(name); !in {
		return Removal{}, fmt.Errorf("node %q is not in roster v%d (members %v)", name, cur.Version, names(cur.Members))
	}
	if len(cur.Members) == 1 {
		return Removal{}, fmt.Errorf("node %q is the roster's only member", name)
	}
	if serving(name) {
		return Removal{}, fmt.Errorf("node %q is up and serving: drain it first (plantwin cluster drain %s), or stop it", name, name)
	}
	rest := slices.DeleteFunc(slices.Clone(cur.Members), func(m RosterMember) bool { return m.Name == name })
	target := cur.changed(cur.Version+1, cur.Members, rest, true)
	if err := s.broadcast(target, rest, RosterMember{}); err != nil {
		return Removal{}, fmt.Errorf("removing %s (roster v%d, joint): %w", name, target.Version, err)
	}
	moved, err := s.moveData(target)
	if err != nil {
		return Removal{}, fmt.Errorf("removing %s: roster v%d stays joint, moving the twins' data failed (remove it again): %w", name, target.Version, err)
	}
	settled := target.changed(target.Version, rest, nil, false)
	if err := s.broadcast(settled, rest, RosterMember{}); err != nil {
		return Removal{}, fmt.Errorf("removing %s (roster v%d, settling): %w", name, settled.Version, err)
	}
	s.log.Info("node removed from the roster", "node", name, "version", settled.Version, "members", names(settled.Members), "twins_moved", moved)
	return Removal{Roster: settled, Moved: moved, Took: time.Since(start)}, nil
}

// broadcast has every node of to store r (this node directly); every one
// must answer.
func (s *RosterService) broadcast(r Roster, to []RosterMember, joiner RosterMember) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	type answer struct {
		name string
		err  error
	}
	ch := make(chan answer, len(to))
	for _, m := range to {
		if m.Name == s.topo.Self() {
			ch <- answer{m.Name, s.update(r)}
			continue
		}
		addr, ok := s.topo.Address(m.Name)
		if !ok && m.Name == joiner.Name {
			addr, ok = joiner.ActorAddr, joiner.ActorAddr != ""
		}
		if !ok {
			ch <- answer{m.Name, errors.New("not up: every member must answer a roster change")}
			continue
		}
		go func() {
			res, err := s.system.Root.RequestFuture(replicaPID(addr), &pb.RosterUpdate{Roster: data}, s.timeout).Result()
			if err == nil {
				if rep, ok := res.(*pb.RosterReply); !ok {
					err = fmt.Errorf("unexpected answer %T", res)
				} else if rep.Error != "" {
					err = errors.New(rep.Error)
				}
			}
			ch <- answer{m.Name, err}
		}()
	}
	var errs []error
	for range to {
		if a := <-ch; a.err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", a.name, a.err))
		}
	}
	return errors.Join(errs...)
}

// reply encodes a roster answer.
func rosterReply(r Roster, err error) *pb.RosterReply {
	if err != nil {
		return &pb.RosterReply{Error: err.Error()}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return &pb.RosterReply{Error: err.Error()}
	}
	return &pb.RosterReply{Roster: data}
}
