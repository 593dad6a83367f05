package cluster

import (
	"slices"
	"sync/atomic"
)

// Topology is one node's picture of the cluster for placement and
// quorums: the roster, which says who holds each twin's data and who
// votes for it, and the members this node sees, which say who can own a
// twin now (docs/cluster-design.md §2). The roster changes only by an
// explicit join; the members change with every gossip event. It is safe
// for concurrent use; readers take immutable snapshots.
type Topology struct {
	self     string // this node's name
	replicas int
	parents  map[string]string // the placement affinity a roster this node founds keeps; nil: none

	roster   atomic.Pointer[rosterView]
	members  atomic.Pointer[memberView]
	draining atomic.Bool // this node hands its twins off: it owns none
}

// SetDraining makes this node (un)usable as an owner in its own view at
// once, before gossip tells the others.
func (t *Topology) SetDraining(on bool) { t.draining.Store(on) }

// usable reports whether name can own twins in view m.
func (t *Topology) usable(m *memberView, name string) bool {
	if name == t.self && t.draining.Load() {
		return false
	}
	return m.usable[name]
}

// rosterView is a roster with its placements (the current members', and
// the proposed ones' while joint, in that order).
type rosterView struct {
	r        Roster
	pls      []*Placement
	single   string // the only member of a settled one-node roster
	replicas int    // R: the roster's, else this node's
}

// memberView is the members this node sees, by name.
type memberView struct {
	reach  map[string]string // name → actor address: can answer replication
	usable map[string]bool   // alive and serving: can own twins
}

// NewTopology returns the topology of node self with replica sets of
// replicas nodes (at least 1); parents, when not nil, is the placement
// affinity (twin → parent) a roster this node founds keeps. Placement
// follows the roster's replica count and affinity, so these matter only
// on the founding node. It has no roster until SetRoster, and sees no
// member until SetMembers.
func NewTopology(self string, replicas int, parents map[string]string) *Topology {
	t := &Topology{self: self, replicas: max(1, replicas), parents: parents}
	t.members.Store(&memberView{reach: map[string]string{}, usable: map[string]bool{}})
	return t
}

// Self is this node's name.
func (t *Topology) Self() string { return t.self }

// Replicas is the replica-set size (R): the roster's, or before there
// is one (or in a roster that does not keep it) this node's own setting.
func (t *Topology) Replicas() int {
	if v := t.roster.Load(); v != nil {
		return v.replicas
	}
	return t.replicas
}

// ownReplicas is this node's own --replicas: what a roster it founds
// keeps.
func (t *Topology) ownReplicas() int { return t.replicas }

// ownParents is the placement affinity a roster this node founds keeps.
func (t *Topology) ownParents() map[string]string { return t.parents }

// SetRoster installs the node's current roster.
//
// Placement follows the roster's replica count (the founding node's
// --replicas), so that every node places twins alike.
func (t *Topology) SetRoster(r Roster) {
	replicas := t.replicas
	if r.Replicas > 0 {
		replicas = r.Replicas
	}
	v := &rosterView{r: r, pls: r.Placements(replicas), replicas: replicas}
	if len(r.Members) == 1 && !r.Joint {
		v.single = r.Members[0].Name
	}
	t.roster.Store(v)
}

// Roster returns the current roster and whether there is one.
func (t *Topology) Roster() (Roster, bool) {
	v := t.roster.Load()
	if v == nil {
		return Roster{}, false
	}
	return v.r, true
}

// SetMembers installs the members this node sees. Of two incarnations
// of one name (a restart the others have not yet seen die), the newest
// start wins.
func (t *Topology) SetMembers(ms []Member) {
	v := &memberView{reach: make(map[string]string, len(ms)), usable: make(map[string]bool, len(ms))}
	start := map[string]int64{}
	for _, m := range ms {
		if m.Name == "" || m.ActorAddr == "" {
			continue
		}
		s := m.Start.UnixNano()
		if old, ok := start[m.Name]; ok && old > s {
			continue
		}
		start[m.Name] = s
		v.reach[m.Name] = m.ActorAddr
		v.usable[m.Name] = m.State == "" || m.State == "alive"
	}
	t.members.Store(v)
}

// Address returns the actor address of the member called name, if this
// node sees it.
func (t *Topology) Address(name string) (string, bool) {
	a, ok := t.members.Load().reach[name]
	return a, ok
}

// Usable reports whether name is a member this node sees serving (alive,
// not draining or leaving).
func (t *Topology) Usable(name string) bool { return t.usable(t.members.Load(), name) }

// ReplicaSets is one twin's replica sets under one roster: the current
// set, and while the roster is joint the proposed one too. Computed once
// per activation or write and asked many times.
type ReplicaSets struct {
	sets [][]string
}

// Sets returns twin id's replica sets (none without a roster).
func (t *Topology) Sets(id string) ReplicaSets {
	v := t.roster.Load()
	if v == nil {
		return ReplicaSets{}
	}
	if v.single != "" {
		return ReplicaSets{sets: [][]string{{v.single}}}
	}
	sets := make([][]string, len(v.pls))
	for i, p := range v.pls {
		sets[i] = p.ReplicaSet(id)
	}
	return ReplicaSets{sets: sets}
}

// Names returns every replica's name once (both sets' while joint).
func (r ReplicaSets) Names() []string {
	var out []string
	for _, set := range r.sets {
		for _, n := range set {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// Quorum reports whether the nodes for which acked is true hold a
// majority of every set (both while joint). False without sets.
func (r ReplicaSets) Quorum(acked func(name string) bool) bool {
	if len(r.sets) == 0 {
		return false
	}
	for _, set := range r.sets {
		n := 0
		for _, name := range set {
			if acked(name) {
				n++
			}
		}
		if n < len(set)/2+1 {
			return false
		}
	}
	return true
}

// Only reports whether name is the one and only replica.
func (r ReplicaSets) Only(name string) bool {
	return len(r.sets) == 1 && len(r.sets[0]) == 1 && r.sets[0][0] == name
}

// ReplicaNames returns the names of twin id's replicas: its replica set,
// and while the roster is joint the proposed set's members too. Nil
// without a roster.
func (t *Topology) ReplicaNames(id string) []string { return t.Sets(id).Names() }

// OwnerName returns the name of the node that should own twin id now:
// the first of its replica set (the proposed one while joint) this node
// sees serving; "" when none is, or there is no roster.
func (t *Topology) OwnerName(id string) string {
	v := t.roster.Load()
	if v == nil {
		return ""
	}
	m := t.members.Load()
	if v.single != "" {
		if t.usable(m, v.single) {
			return v.single
		}
		return ""
	}
	return v.pls[len(v.pls)-1].Owner(id, func(n string) bool { return t.usable(m, n) })
}

// Owner returns the actor address of twin id's owner (see OwnerName), ""
// when it has none.
func (t *Topology) Owner(id string) string {
	n := t.OwnerName(id)
	if n == "" {
		return ""
	}
	a, _ := t.Address(n)
	return a
}

// Quorum reports whether the nodes for which acked is true form a quorum
// for twin id under the current roster (majorities of both replica sets
// while joint). False without a roster.
func (t *Topology) Quorum(id string, acked func(name string) bool) bool {
	return t.Sets(id).Quorum(acked)
}

// Alone reports whether twin id's only replica is this node (a roster of
// one, or R = 1): its activations and writes need no other node.
func (t *Topology) Alone(id string) bool {
	if v := t.roster.Load(); v != nil && v.single != "" {
		return v.single == t.self
	}
	return t.Sets(id).Only(t.self)
}
