package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// FuzzTwinWrite: a write survives the trip to a replica (proto encoding
// included) unchanged, and any bytes decoded as a TwinWrite convert
// without a panic (an error at worst).
func FuzzTwinWrite(f *testing.F) {
	f.Add("pump-1", uint64(3), int64(7), []byte("ev"), true, int64(6), []byte("snap"), "flow", int64(1700000000), int64(5), []byte{1, 2})
	f.Add("", uint64(0), int64(0), []byte{}, false, int64(0), []byte{}, "", int64(0), int64(0), []byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, twin string, epoch uint64, version int64, data []byte, snap bool, snapVersion int64, snapData []byte,
		prop string, sourceTime int64, wake int64, raw []byte) {
		// Twin ids and property names are UTF-8 (the configuration checks
		// them), as protobuf strings must be.
		twin, prop = strings.ToValidUTF8(twin, "?"), strings.ToValidUTF8(prop, "?")
		w := &persistence.Write{TwinID: twin, Epoch: epoch, Events: []persistence.Entry{{Version: version, Data: data}, {Version: version + 1}},
			History: []persistence.HistoryPoint{{Property: prop, SourceTime: sourceTime, Version: version, Data: data}},
			Audit:   []persistence.Entry{{Version: version, Data: snapData}}}
		if snap {
			w.Snapshot = &persistence.Snapshot{Version: snapVersion, Data: snapData}
		}
		if wake != 0 {
			w.Wake = &wake
		}
		if wake%2 != 0 {
			// A sync write, its second event copied from another epoch.
			w.Sync = &persistence.Sync{After: version - 1}
			w.Events[1].Epoch = epoch / 2
		}
		b, err := proto.Marshal(WriteToProto(w, version))
		if err != nil {
			t.Fatal(err)
		}
		var tw pb.TwinWrite
		if err := proto.Unmarshal(b, &tw); err != nil {
			t.Fatal(err)
		}
		got, err := WriteFromProto(&tw)
		if twin == "" {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("a write without a twin: %v", err)
			}
		} else if err != nil {
			t.Fatal(err)
		} else if diff := cmp.Diff(w, got, cmp.Comparer(func(a, b []byte) bool { return string(a) == string(b) })); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
		var any pb.TwinWrite
		if proto.Unmarshal(raw, &any) == nil {
			_, _ = WriteFromProto(&any)
		}
	})
}

// TestWriteFromProtoRefuses: what the store cannot check is refused with
// ErrBadMessage naming the twin.
func TestWriteFromProtoRefuses(t *testing.T) {
	after := int64(3)
	for name, tw := range map[string]*pb.TwinWrite{
		"nil":                   nil,
		"no twin":               {Epoch: 1},
		"nil event":             {TwinId: "a", Events: []*pb.ReplicaEntry{nil}},
		"audit epoch":           {TwinId: "a", Epoch: 2, SyncAfter: &after, Audit: []*pb.ReplicaEntry{{Version: 1, Epoch: 1}}},
		"snapshot without flag": {TwinId: "a", SnapshotVersion: 4},
		"nil history point":     {TwinId: "a", History: []*pb.ReplicaHistoryPoint{nil}},
		"nil audit":             {TwinId: "a", Audit: []*pb.ReplicaEntry{nil}},
	} {
		if _, err := WriteFromProto(tw); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
	st := persistence.FenceState{Head: persistence.Head{Version: 9, Epoch: 2, SnapshotVersion: 5}, Fence: persistence.Fence{Promised: 4, By: "n2", RosterVersion: 1}}
	r := FenceToProto("a", "n1", st, true)
	if r.Version != 9 || r.LogEpoch != 2 || r.SnapshotVersion != 5 || r.PromisedEpoch != 4 || r.Promiser != "n2" || !r.Promised || r.Node != "n1" {
		t.Errorf("fence response %v", r)
	}
}
