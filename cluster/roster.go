package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/plantwin/plantwin/persistence"
)

// RosterMember is one node of the roster: its stable name, the identity
// of its store (a node whose disk was wiped has another and may not vote
// with the promises it forgot), and where it was last seen.
type RosterMember struct {
	Name       string `json:"name"`
	StoreID    string `json:"storeId"`
	GossipAddr string `json:"gossip,omitempty"`
	ActorAddr  string `json:"actor,omitempty"`
}

// Roster is the cluster's membership for placement and quorums: a
// persisted, versioned list of node names that changes only by an
// explicit join, decommission or forget, never because a node crashed or
// a view differs (docs/cluster-design.md §2). While a change is under way
// the roster is joint: quorums need a majority of the old members' replica
// set and of the new ones'.
type Roster struct {
	Version uint64         `json:"version"`
	Members []RosterMember `json:"members"`
	// Next holds the proposed members while the change to Version+1 is
	// under way (Joint); nil when settled.
	Next  []RosterMember `json:"next,omitempty"`
	Joint bool           `json:"joint,omitempty"`
	// Replicas is the cluster's replica-set size (R), set by the node
	// that founded it and kept by every change: every node must place
	// twins alike, whatever its own --replicas says. 0 in rosters
	// stored before it was kept: each node's own setting.
	Replicas int `json:"replicas,omitempty"`
	// Parents, when set, is the placement affinity the founding node
	// chose (--placement-affinity): twin → parent, as its configuration
	// declared them. A twin listed here is placed by its parent's id, so
	// a parent and its children share their nodes. It is part of the
	// roster, not read from each node's configuration, because every node
	// must place every twin alike (a configuration reload could otherwise
	// make two nodes disagree); a twin declared later is placed by its
	// own id.
	Parents map[string]string `json:"parents,omitempty"`
}

// rosterMetaName is where a node keeps its roster in its store.
const rosterMetaName = "roster"

// FirstRoster is the roster of a node that starts a cluster: version 1,
// itself alone.
func FirstRoster(self RosterMember, replicas int, parents map[string]string) Roster {
	return Roster{Version: 1, Members: []RosterMember{self}, Replicas: replicas, Parents: parents}
}

// maxReplicas bounds a roster's replica count.
const maxReplicas = 9

// changed returns a roster of version with members and, when joint,
// next, keeping r's settings (Replicas, Parents).
func (r Roster) changed(version uint64, members, next []RosterMember, joint bool) Roster {
	return Roster{Version: version, Members: members, Next: next, Joint: joint, Replicas: r.Replicas, Parents: r.Parents}
}

// Validate checks the roster: names and store ids present and unique.
func (r Roster) Validate() error {
	check := func(what string, ms []RosterMember) error {
		seen := map[string]bool{}
		for i, m := range ms {
			switch {
			case m.Name == "" || m.StoreID == "":
				return fmt.Errorf("cluster: roster v%d: %s member %d lacks a name or a store id", r.Version, what, i)
			case seen[m.Name]:
				return fmt.Errorf("cluster: roster v%d: %s member %s listed twice", r.Version, what, m.Name)
			}
			seen[m.Name] = true
		}
		return nil
	}
	if r.Version == 0 || len(r.Members) == 0 {
		return fmt.Errorf("cluster: roster v%d with %d members", r.Version, len(r.Members))
	}
	if r.Replicas < 0 || r.Replicas > maxReplicas {
		return fmt.Errorf("cluster: roster v%d: replicas %d, want 1 to %d", r.Version, r.Replicas, maxReplicas)
	}
	for twin, parent := range r.Parents {
		if twin == "" || parent == "" {
			return fmt.Errorf("cluster: roster v%d: placement affinity entry %q → %q lacks a twin or a parent", r.Version, twin, parent)
		}
	}
	if err := check("current", r.Members); err != nil {
		return err
	}
	if r.Joint != (len(r.Next) > 0) {
		return fmt.Errorf("cluster: roster v%d: joint is %v with %d proposed members", r.Version, r.Joint, len(r.Next))
	}
	return check("proposed", r.Next)
}

func names(ms []RosterMember) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// Placements returns the placements quorums are counted over: the
// current members', and while joint the proposed members' too.
func (r Roster) Placements(replicas int) []*Placement {
	ps := []*Placement{NewPlacement(names(r.Members), replicas, r.Parents)}
	if r.Joint {
		ps = append(ps, NewPlacement(names(r.Next), replicas, r.Parents))
	}
	return ps
}

// Quorum reports whether the nodes in acked (by name) form a quorum for
// twin id: a majority of its replica set under every placement of the
// roster (both while joint).
func (r Roster) Quorum(id string, replicas int, acked func(name string) bool) bool {
	var sets ReplicaSets
	for _, p := range r.Placements(replicas) {
		sets.sets = append(sets.sets, p.ReplicaSet(id))
	}
	return sets.Quorum(acked)
}

// Member returns the roster's member called name (current or proposed).
func (r Roster) Member(name string) (RosterMember, bool) {
	i := slices.IndexFunc(r.Members, func(m RosterMember) bool { return m.Name == name })
	if i >= 0 {
		return r.Members[i], true
	}
	i = slices.IndexFunc(r.Next, func(m RosterMember) bool { return m.Name == name })
	if i >= 0 {
		return r.Next[i], true
	}
	return RosterMember{}, false
}

// ErrNoRoster is returned by LoadRoster for a store that holds none.
var ErrNoRoster = errors.New("cluster: no roster in this store")

// LoadRoster reads the node's roster from its store.
func LoadRoster(store *persistence.Store) (Roster, error) {
	data, ok, err := store.GetMeta(rosterMetaName)
	if err != nil {
		return Roster{}, err
	}
	if !ok {
		return Roster{}, ErrNoRoster
	}
	var r Roster
	if err := json.Unmarshal(data, &r); err != nil {
		return Roster{}, fmt.Errorf("cluster: the stored roster: %w", err)
	}
	return r, r.Validate()
}

// SaveRoster stores the node's roster (synced) after validating it; a
// roster older than the stored one is refused.
func SaveRoster(store *persistence.Store, r Roster) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if old, err := LoadRoster(store); err == nil && old.Version > r.Version {
		return fmt.Errorf("cluster: roster v%d would replace stored v%d", r.Version, old.Version)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return store.PutMeta(rosterMetaName, data)
}
