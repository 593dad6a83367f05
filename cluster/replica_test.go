package cluster

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// freeLoopbackPort returns a port free on 127.0.0.1.
func freeLoopbackPort(t interface{ Fatal(...any) }) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRemote starts protoactor remote for sys on port. One per process:
// protoactor's Remote.Start sets grpc's global logger, which races with a
// running remote's gRPC server (hence the helper process below).
func startRemote(sys *actor.ActorSystem, port int) *remote.Remote {
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", port))
	r.Start()
	return r
}

// TestMain runs the replica helper when asked to (a node's replica actor
// in a process of its own), else the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv("PLANTWIN_REPLICA_HELPER_DIR"); dir != "" {
		os.Exit(replicaHelper(dir, os.Getenv("PLANTWIN_REPLICA_HELPER_PORT")))
	}
	os.Exit(m.Run())
}

// sharedSystem returns the test process's one actor system with a
// remote (see startRemote), started at the first call and never shut
// down.
func sharedSystem(t *testing.T) *actor.ActorSystem {
	shared.once.Do(func() {
		shared.sys = actor.NewActorSystem()
		startRemote(shared.sys, freeLoopbackPort(t))
	})
	return shared.sys
}

var shared struct {
	once sync.Once
	sys  *actor.ActorSystem
}

// replicaHelper serves a replica actor over a store in dir on the port
// until its standard input closes. With PLANTWIN_REPLICA_HELPER_ROSTER
// set it keeps a roster too (a RosterService that stores the rosters
// coordinators send). It prints "ready" and its store id.
func replicaHelper(dir, port string) int {
	store, err := persistence.Open(persistence.DefaultConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer store.Close()
	p, _ := strconv.Atoi(port)
	sys := actor.NewActorSystem()
	// Not shut down: the process ends. protoactor's Remote.Shutdown
	// races on its endpoint manager's state once an endpoint was used
	// (found by -race; see docs/cluster-design.md §10).
	startRemote(sys, p)
	name := os.Getenv("PLANTWIN_REPLICA_HELPER_NAME")
	if name == "" {
		name = "n2"
	}
	var roster *RosterService
	if os.Getenv("PLANTWIN_REPLICA_HELPER_ROSTER") != "" {
		roster = NewRosterService(store, sys, NewTopology(name, 3, nil), 5*time.Second, slog.New(slog.DiscardHandler), func(Roster) {})
	}
	if _, err := SpawnReplica(sys, store, name, roster); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready", store.ID())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startReplicaProcess starts the replica helper (this test binary) and
// returns its replica actor's PID.
func startReplicaProcess(t *testing.T) *actor.PID {
	pid, _ := startHelper(t)
	return pid
}

// startHelper starts the replica helper with env added to its
// environment and returns its replica actor's PID and its store id.
func startHelper(t *testing.T, env ...string) (*actor.PID, string) {
	t.Helper()
	port := freeLoopbackPort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLANTWIN_REPLICA_HELPER_DIR="+t.TempDir(), "PLANTWIN_REPLICA_HELPER_PORT="+strconv.Itoa(port))
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	fields := strings.Fields(line)
	if err != nil || len(fields) != 2 || fields[0] != "ready" {
		t.Fatalf("replica helper: %q, %v", line, err)
	}
	return actor.NewPID(fmt.Sprintf("127.0.0.1:%d", port), ReplicaActorName), fields[1]
}

func ask[T any](t *testing.T, sys *actor.ActorSystem, to *actor.PID, msg any) T {
	t.Helper()
	res, err := sys.Root.RequestFuture(to, msg, 10*time.Second).Result()
	if err != nil {
		t.Fatalf("%T: %v", msg, err)
	}
	out, ok := res.(T)
	if !ok {
		t.Fatalf("%T answered with %T", msg, res)
	}
	return out
}

// TestReplicaOverRemote: node A fences and replicates a twin on node B's
// replica actor (another process) over protoactor remote on loopback. B's store takes the
// writes of the promised epoch; a stale activation's write is answered
// FENCED with the newer promise, a write past B's head NEEDS_SYNC with
// B's version, a malformed one FAILED, and a competing promise for the
// same epoch is refused.
func TestReplicaOverRemote(t *testing.T) {
	replica := startReplicaProcess(t)
	a := sharedSystem(t)

	f := ask[*pb.FenceResponse](t, a, replica, &pb.FenceRequest{TwinId: "t", Epoch: 1, Activation: "a1", RosterVersion: 1})
	if !f.Promised || f.PromisedEpoch != 1 || f.Promiser != "a1" || f.Node != "n2" || f.Version != 0 {
		t.Fatalf("first fence: %v", f)
	}
	events := func(from int64, n int) []*pb.ReplicaEntry {
		var es []*pb.ReplicaEntry
		for i := range n {
			es = append(es, &pb.ReplicaEntry{Version: from + int64(i), Data: []byte{byte(from) + byte(i)}})
		}
		return es
	}
	// An activation's first write to a replica is a sync write (after
	// the replica's version, 0 here): it makes epoch 1 the log epoch.
	none := int64(0)
	ack := ask[*pb.ReplicateAck](t, a, replica, &pb.ReplicateBatch{Seq: 1, From: "n1", Writes: []*pb.TwinWrite{
		{TwinId: "t", Epoch: 1, SyncAfter: &none, Events: events(1, 2)},
		{TwinId: "u", Epoch: 1, SyncAfter: &none, Events: events(1, 1)},
	}})
	if ack.Seq != 1 || len(ack.Results) != 2 || ack.Results[0].Status != pb.ReplicaStatus_REPLICA_STATUS_OK || ack.Results[1].Status != pb.ReplicaStatus_REPLICA_STATUS_OK {
		t.Fatalf("first batch: %v", ack)
	}

	// A newer activation is promised; the old one's write is fenced.
	if f := ask[*pb.FenceResponse](t, a, replica, &pb.FenceRequest{TwinId: "t", Epoch: 2, Activation: "a2"}); !f.Promised || f.Version != 2 || f.LogEpoch != 1 ||
		len(f.Runs) != 1 || f.Runs[0].FromVersion != 1 || f.Runs[0].Epoch != 1 {
		t.Fatalf("second fence: %v", f)
	}
	ack = ask[*pb.ReplicateAck](t, a, replica, &pb.ReplicateBatch{Seq: 2, Writes: []*pb.TwinWrite{
		{TwinId: "t", Epoch: 1, Events: events(3, 1)},
		{TwinId: "t", Epoch: 2, Events: events(5, 1)},
		{Epoch: 2},
	}})
	want := []pb.ReplicaStatus{pb.ReplicaStatus_REPLICA_STATUS_FENCED, pb.ReplicaStatus_REPLICA_STATUS_NEEDS_SYNC, pb.ReplicaStatus_REPLICA_STATUS_FAILED}
	for i, r := range ack.Results {
		if r.Status != want[i] {
			t.Errorf("result %d: %v, want %v", i, r, want[i])
		}
	}
	if r := ack.Results[0]; r.PromisedEpoch != 2 || r.Promiser != "a2" || r.Version != 2 {
		t.Errorf("the fenced write's answer lacks B's state: %v", r)
	}
	if r := ack.Results[1]; r.Version != 2 {
		t.Errorf("the gap's answer lacks B's version: %v", r)
	}
	if r := ack.Results[2]; r.Error == "" {
		t.Errorf("the malformed write's answer says nothing: %v", r)
	}
	if f := ask[*pb.FenceResponse](t, a, replica, &pb.FenceRequest{TwinId: "t", Epoch: 2, Activation: "a3"}); f.Promised || f.PromisedEpoch != 2 || f.Promiser != "a2" {
		t.Errorf("a competing promise of epoch 2: %v", f)
	}
}
