package cluster

import (
	"cmp"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Placement ranks the nodes of a roster for each twin by rendezvous
// (highest random weight) hashing over node names: every node computes the
// same order from the same roster, whatever it sees alive, and adding or
// removing one name moves only the twins that rank it first (about 1/N of
// them). The first R names of a twin's order are its replica set; its
// owner is the first of them that is alive (docs/cluster-design.md §2).
//
// Names are the operators' stable node names (--node-name), not the
// actor-system ids that change at every restart, so a restarted node gets
// its twins back. A Placement is immutable and safe for concurrent use.
type Placement struct {
	names    []string
	replicas int
	parents  map[string]string // twin → parent, for affinity; nil: none
}

// NewPlacement returns the placement over names (duplicates dropped) with
// replica sets of replicas nodes (at most len(names); at least 1).
// parents, when not nil, places every twin by its parent's id (its own id
// for a twin without one), so that a parent and its children share an
// order: the placement-affinity option.
func NewPlacement(names []string, replicas int, parents map[string]string) *Placement {
	ns := slices.Clone(names)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	return &Placement{names: ns, replicas: max(1, min(replicas, len(ns))), parents: parents}
}

// Names returns the roster's names, sorted.
func (p *Placement) Names() []string { return slices.Clone(p.names) }

// Replicas is the size of every replica set.
func (p *Placement) Replicas() int {
	if len(p.names) == 0 {
		return 0
	}
	return p.replicas
}

// key is what twin id is placed by.
func (p *Placement) key(id string) string {
	if p.parents == nil {
		return id
	}
	if parent := p.parents[id]; parent != "" {
		return parent
	}
	return id
}

// weight is name's rendezvous weight for key.
func weight(name, key string) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(name)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(key)
	return d.Sum64()
}

// Order returns every name ranked for twin id, first the most preferred.
func (p *Placement) Order(id string) []string {
	key := p.key(id)
	type ranked struct {
		name string
		w    uint64
	}
	rs := make([]ranked, len(p.names))
	for i, n := range p.names {
		rs[i] = ranked{n, weight(n, key)}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := cmp.Compare(b.w, a.w); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.name
	}
	return out
}

// ReplicaSet returns the names that hold twin id's journal and
// snapshots: the first Replicas of its order.
func (p *Placement) ReplicaSet(id string) []string {
	return p.Order(id)[:p.Replicas()]
}

// Owner returns the first name of twin id's replica set for which usable
// is true (alive, not draining, as the caller sees it), or "" when none
// is: the twin is then unavailable, since only its replicas hold its data.
func (p *Placement) Owner(id string, usable func(name string) bool) string {
	for _, n := range p.ReplicaSet(id) {
		if usable(n) {
			return n
		}
	}
	return ""
}
