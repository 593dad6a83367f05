package cluster

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/plantwin/plantwin/persistence"
)

func members(names ...string) []RosterMember {
	out := make([]RosterMember, len(names))
	for i, n := range names {
		out[i] = RosterMember{Name: n, StoreID: "s-" + n}
	}
	return out
}

// TestRosterStored: a node's roster survives a reopen of its store; an
// older roster does not replace a newer one; malformed rosters are
// refused with what is wrong.
func TestRosterStored(t *testing.T) {
	cfg := persistence.DefaultConfig("/data")
	cfg.FS = vfs.NewMem()
	store, err := persistence.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRoster(store); !errors.Is(err, ErrNoRoster) {
		t.Fatalf("a new store's roster: %v", err)
	}
	first := FirstRoster(RosterMember{Name: "n1", StoreID: store.ID()}, 3, nil)
	if err := SaveRoster(store, first); err != nil {
		t.Fatal(err)
	}
	joint := Roster{Version: 1, Members: first.Members, Next: append(first.Members, members("n2")...), Joint: true}
	if err := SaveRoster(store, joint); err != nil {
		t.Fatal(err)
	}
	settled := Roster{Version: 2, Members: joint.Next}
	if err := SaveRoster(store, settled); err != nil {
		t.Fatal(err)
	}
	if err := SaveRoster(store, first); err == nil {
		t.Error("v1 replaced v2")
	}
	store.Close()
	if store, err = persistence.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got, err := LoadRoster(store)
	if err != nil || got.Version != 2 || len(got.Members) != 2 || got.Joint {
		t.Fatalf("after a reopen: %+v, %v", got, err)
	}
	if m, ok := got.Member("n2"); !ok || m.StoreID != "s-n2" {
		t.Errorf("member n2: %+v %v", m, ok)
	}
	for name, r := range map[string]Roster{
		"no members":   {Version: 3},
		"no version":   {Members: members("a")},
		"twice":        {Version: 3, Members: members("a", "a")},
		"no store id":  {Version: 3, Members: []RosterMember{{Name: "a"}}},
		"joint, empty": {Version: 3, Members: members("a"), Joint: true},
	} {
		if err := SaveRoster(store, r); err == nil {
			t.Errorf("%s: saved", name)
		}
	}
}

// TestRosterQuorums: with a settled roster a quorum is a majority of the
// twin's replica set; while joint, a majority of both sets. Every two
// quorums of one twin intersect, settled or joint, across a join of a
// fourth and a fifth node: the property fencing rests on.
func TestRosterQuorums(t *testing.T) {
	settled := Roster{Version: 1, Members: members("n1", "n2", "n3")}
	in := func(set ...string) func(string) bool {
		return func(n string) bool {
			for _, s := range set {
				if s == n {
					return true
				}
			}
			return false
		}
	}
	if !settled.Quorum("pump-1", 3, in("n1", "n3")) || settled.Quorum("pump-1", 3, in("n2")) {
		t.Error("two of three are a quorum, one is not")
	}
	all := []string{"n1", "n2", "n3", "n4", "n5"}
	for _, r := range []Roster{
		{Version: 2, Members: members("n1", "n2", "n3", "n4")},
		{Version: 2, Members: members("n1", "n2", "n3", "n4"), Next: members(all...), Joint: true},
		{Version: 1, Members: members("n1", "n2", "n3"), Next: members("n1", "n2", "n3", "n4"), Joint: true},
	} {
		for twin := range 50 {
			id := fmt.Sprintf("pump-%d", twin)
			var quorums []uint
			for set := uint(0); set < 1<<len(all); set++ {
				if r.Quorum(id, 3, func(n string) bool {
					for i, a := range all {
						if a == n {
							return set&(1<<i) != 0
						}
					}
					return false
				}) {
					quorums = append(quorums, set)
				}
			}
			if len(quorums) == 0 {
				t.Fatalf("roster v%d joint=%v: no quorum for %s", r.Version, r.Joint, id)
			}
			for _, a := range quorums {
				for _, b := range quorums {
					if a&b == 0 {
						t.Fatalf("roster v%d joint=%v, %s: quorums %05b and %05b do not intersect", r.Version, r.Joint, id, a, b)
					}
				}
			}
		}
	}
}

// TestRosterKeepsReplicas: the replica count is the roster's (its
// founder's), whatever a node's own setting, and every change keeps it;
// a roster without one (stored before it was kept) uses the node's own.
func TestRosterKeepsReplicas(t *testing.T) {
	founded := FirstRoster(RosterMember{Name: "n1", StoreID: "s-n1"}, 3, map[string]string{"pump-1": "line-1"})
	grown := founded.changed(2, members("n1", "n2", "n3", "n4"), nil, false)
	if grown.Replicas != 3 {
		t.Fatalf("a change dropped the replica count: %+v", grown)
	}
	topo := NewTopology("n2", 2, nil) // this node was started with --replicas 2
	topo.SetRoster(grown)
	if topo.Replicas() != 3 || len(topo.Sets("pump-1").Names()) != 3 {
		t.Errorf("with the cluster's R = 3: Replicas %d, replica set %v", topo.Replicas(), topo.Sets("pump-1").Names())
	}
	old := grown
	old.Replicas = 0
	topo.SetRoster(old)
	if topo.Replicas() != 2 {
		t.Errorf("a roster without R: Replicas %d, want this node's 2", topo.Replicas())
	}
	bad := grown
	bad.Replicas = 10
	if err := bad.Validate(); err == nil {
		t.Error("a roster with 10 replicas validated")
	}

	// The roster's placement affinity places a child with its parent,
	// whatever this node's own choice; a twin the roster does not list
	// is placed by its own id.
	topo.SetRoster(grown)
	if p, c := topo.Sets("line-1").Names(), topo.Sets("pump-1").Names(); !slices.Equal(p, c) {
		t.Errorf("affinity: pump-1 on %v, its parent line-1 on %v", c, p)
	}
	plain := NewPlacement(names(grown.Members), 3, nil)
	if got, want := topo.Sets("pump-2").Names(), plain.ReplicaSet("pump-2"); !slices.Equal(got, want) {
		t.Errorf("a twin without an affinity entry: %v, want its own order %v", got, want)
	}
	bad = grown
	bad.Parents = map[string]string{"pump-3": ""}
	if err := bad.Validate(); err == nil {
		t.Error("an affinity entry without a parent validated")
	}
}
