package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/vfs"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// TestRosterChangeLeftJointIsFinished: a coordinator that stopped half
// way leaves the members holding a joint roster. The next change first
// finishes that one (every member of the proposed roster stores it, the
// twins' data moves, it settles), then makes its own; for a join and for
// a removal. n1 coordinates in this process; n2...n5 are replica helper
// processes that keep rosters.
func TestRosterChangeLeftJointIsFinished(t *testing.T) {
	sys := sharedSystem(t)
	cfg := persistence.DefaultConfig("/n1")
	cfg.FS = vfs.NewMem()
	store, err := persistence.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	topo := NewTopology("n1", 3, nil)
	coord := NewRosterService(store, sys, topo, 5*time.Second, slog.New(slog.DiscardHandler), func(Roster) {})
	var moved atomic.Int64
	coord.SetRebalance(func(_ context.Context, changed func(string) bool) error {
		for i := range 100 {
			if changed("twin-" + strconv.Itoa(i)) {
				moved.Add(1)
			}
		}
		return nil
	})
	pid, err := SpawnReplica(sys, store, "n1", coord)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })

	self := map[string]RosterMember{"n1": {Name: "n1", StoreID: store.ID(), ActorAddr: sys.Address()}}
	pids := map[string]*actor.PID{"n1": pid}
	ms := []Member{{ID: "n1", Name: "n1", ActorAddr: sys.Address(), State: "alive"}}
	for _, name := range []string{"n2", "n3", "n4", "n5"} {
		p, id := startHelper(t, "PLANTWIN_REPLICA_HELPER_NAME="+name, "PLANTWIN_REPLICA_HELPER_ROSTER=1")
		pids[name] = p
		self[name] = RosterMember{Name: name, StoreID: id, ActorAddr: p.Address}
		ms = append(ms, Member{ID: name, Name: name, ActorAddr: p.Address, State: "alive"})
	}
	topo.SetMembers(ms)
	// store has name's node store r; it fails unless the node then holds r.
	store2 := func(name string, r Roster) error {
		if name == "n1" {
			return coord.Update(r)
		}
		data, _ := json.Marshal(r)
		rep := ask[*pb.RosterReply](t, sys, pids[name], &pb.RosterUpdate{Roster: data})
		if rep.Error != "" {
			return errorString(rep.Error)
		}
		return nil
	}
	of := func(names ...string) []RosterMember {
		var out []RosterMember
		for _, n := range names {
			out = append(out, self[n])
		}
		return out
	}

	three := Roster{Version: 1, Members: of("n1", "n2", "n3")}
	// n4's join got as far as the joint roster on n1...n4, then its
	// coordinator stopped.
	joint := Roster{Version: 2, Members: three.Members, Next: of("n1", "n2", "n3", "n4"), Joint: true}
	for _, name := range []string{"n1", "n2", "n3", "n4"} {
		if err := store2(name, three); err != nil {
			t.Fatal(err)
		}
		if err := store2(name, joint); err != nil {
			t.Fatal(err)
		}
	}
	// n5 joins through n1: n4's join is finished first.
	r, err := coord.Join(&pb.RosterJoin{Name: "n5", StoreId: self["n5"].StoreID, ActorAddress: self["n5"].ActorAddr})
	if err != nil {
		t.Fatalf("join of n5: %v", err)
	}
	want := Roster{Version: 3, Members: of("n1", "n2", "n3", "n4", "n5")}
	if !sameRoster(r, want) || r.Version != 3 {
		t.Fatalf("roster after n5's join: v%d joint=%v %v, want v3 %v", r.Version, r.Joint, names(r.Members), names(want.Members))
	}
	for name := range self {
		if err := store2(name, want); err != nil {
			t.Errorf("%s does not hold roster v3 of five: %v", name, err)
		}
	}
	if moved.Load() == 0 {
		t.Error("no twin's data was moved for joins beyond the replica count")
	}

	// n3's removal got as far as the joint roster; removing n5 finishes
	// it first.
	leaving := Roster{Version: 4, Members: want.Members, Next: of("n1", "n2", "n4", "n5"), Joint: true}
	for _, name := range []string{"n1", "n2", "n4", "n5"} {
		if err := store2(name, leaving); err != nil {
			t.Fatal(err)
		}
	}
	rm, err := coord.Remove("n5", func(string) bool { return false })
	if err != nil {
		t.Fatalf("remove n5: %v", err)
	}
	final := Roster{Version: 5, Members: of("n1", "n2", "n4")}
	if rm.Roster.Version != 5 || !sameRoster(rm.Roster, final) {
		t.Fatalf("roster after removing n3 and n5: v%d %v, want v5 %v", rm.Roster.Version, names(rm.Roster.Members), names(final.Members))
	}
	for _, name := range []string{"n1", "n2", "n4"} {
		if err := store2(name, final); err != nil {
			t.Errorf("%s does not hold roster v5 of three: %v", name, err)
		}
	}
	if _, err := coord.Remove("n4", func(string) bool { return true }); err == nil {
		t.Error("a serving member was removed")
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
