package cluster

import (
	"fmt"
	"slices"
	"testing"
)

func twinIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("pump-%05d", i)
	}
	return ids
}

// TestPlacementSpread: owners spread evenly over the names, and every
// node computes the same order whatever order it lists the roster in.
func TestPlacementSpread(t *testing.T) {
	p := NewPlacement([]string{"n1", "n2", "n3"}, 3, nil)
	q := NewPlacement([]string{"n3", "n1", "n2", "n1"}, 5, nil)
	count := map[string]int{}
	for _, id := range twinIDs(30000) {
		o := p.Order(id)
		if !slices.Equal(o, q.Order(id)) {
			t.Fatalf("%s: %v and %v", id, o, q.Order(id))
		}
		count[o[0]]++
	}
	for n, c := range count {
		if c < 9000 || c > 11000 {
			t.Errorf("%s owns %d of 30000 twins, want about 10000", n, c)
		}
	}
	if q.Replicas() != 3 || len(q.Names()) != 3 {
		t.Errorf("replicas %d over %v", q.Replicas(), q.Names())
	}
}

// TestPlacementMovesLittle: a fourth node takes about a quarter of the
// twins, all of them from the others, and the relative order of the
// other names is kept, so most replica sets change by one member at most.
func TestPlacementMovesLittle(t *testing.T) {
	before := NewPlacement([]string{"n1", "n2", "n3"}, 3, nil)
	after := NewPlacement([]string{"n1", "n2", "n3", "n4"}, 3, nil)
	moved := 0
	for _, id := range twinIDs(20000) {
		b, a := before.Order(id), after.Order(id)
		if a[0] != b[0] {
			if a[0] != "n4" {
				t.Fatalf("%s moved from %s to %s, not to the new node", id, b[0], a[0])
			}
			moved++
		}
		if !slices.Equal(slices.DeleteFunc(slices.Clone(a), func(n string) bool { return n == "n4" }), b) {
			t.Fatalf("%s: order %v became %v", id, b, a)
		}
	}
	if moved < 4400 || moved > 5600 {
		t.Errorf("%d of 20000 twins moved, want about 5000", moved)
	}
}

// TestPlacementOwner: the owner is the first usable name of the replica
// set, none when every replica is down; affinity places children with
// their parent.
func TestPlacementOwner(t *testing.T) {
	p := NewPlacement([]string{"n1", "n2", "n3", "n4", "n5"}, 3, nil)
	rs := p.ReplicaSet("pump-1")
	if len(rs) != 3 {
		t.Fatalf("replica set %v", rs)
	}
	all := func(string) bool { return true }
	if p.Owner("pump-1", all) != rs[0] {
		t.Errorf("owner %s, want %s", p.Owner("pump-1", all), rs[0])
	}
	if got := p.Owner("pump-1", func(n string) bool { return n != rs[0] }); got != rs[1] {
		t.Errorf("with %s down the owner is %s, want %s", rs[0], got, rs[1])
	}
	if got := p.Owner("pump-1", func(n string) bool { return !slices.Contains(rs, n) }); got != "" {
		t.Errorf("with the whole replica set down the owner is %q, want none", got)
	}
	aff := NewPlacement([]string{"n1", "n2", "n3", "n4", "n5"}, 3, map[string]string{"pump-1": "line-1", "pump-2": "line-1"})
	if !slices.Equal(aff.Order("pump-1"), aff.Order("line-1")) || !slices.Equal(aff.Order("pump-2"), aff.Order("line-1")) {
		t.Errorf("affinity: %v %v %v", aff.Order("pump-1"), aff.Order("pump-2"), aff.Order("line-1"))
	}
	if empty := NewPlacement(nil, 3, nil); empty.Replicas() != 0 || empty.Owner("x", all) != "" {
		t.Error("an empty roster places nothing")
	}
}
