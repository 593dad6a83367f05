package cluster

import (
	"testing"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// TestQuorumHead: a query's fan-out answers with a head only when a
// quorum of the twin's replica sets (both while joint) hold it.
func TestQuorumHead(t *testing.T) {
	at := func(v int64, e uint64) *pb.StoredTwin { return &pb.StoredTwin{Version: v, LogEpoch: e} }
	three := ReplicaSets{sets: [][]string{{"a", "b", "c"}}}
	joint := ReplicaSets{sets: [][]string{{"a", "b", "c"}, {"a", "c", "d"}}}
	for _, tc := range []struct {
		name string
		sets ReplicaSets
		got  map[string]*pb.StoredTwin
		want *pb.StoredTwin // version and epoch; nil: none
	}{
		{"all agree", three, map[string]*pb.StoredTwin{"a": at(5, 2), "b": at(5, 2), "c": at(5, 2)}, at(5, 2)},
		{"a commit in flight on one", three, map[string]*pb.StoredTwin{"a": at(6, 2), "b": at(5, 2), "c": at(5, 2)}, at(5, 2)},
		{"two of three answered, agreeing", three, map[string]*pb.StoredTwin{"a": at(5, 2), "c": at(5, 2)}, at(5, 2)},
		{"two of three answered, differing", three, map[string]*pb.StoredTwin{"a": at(6, 2), "c": at(5, 2)}, nil},
		{"one answered", three, map[string]*pb.StoredTwin{"a": at(5, 2)}, nil},
		// An older epoch's tail that was never acknowledged, on a
		// minority, loses to the majority's shorter log of a newer epoch.
		{"stale tail on a minority", three, map[string]*pb.StoredTwin{"a": at(7, 1), "b": at(5, 3), "c": at(5, 3)}, at(5, 3)},
		{"same version, different epochs", three, map[string]*pb.StoredTwin{"a": at(5, 1), "b": at(5, 3), "c": at(4, 3)}, nil},
		{"never written", three, map[string]*pb.StoredTwin{"a": at(0, 0), "b": at(0, 0), "c": at(0, 0)}, at(0, 0)},
		{"joint: a majority of the old set only", joint, map[string]*pb.StoredTwin{"a": at(5, 2), "b": at(5, 2), "c": at(4, 2), "d": at(4, 2)}, nil},
		{"joint: majorities of both", joint, map[string]*pb.StoredTwin{"a": at(5, 2), "b": at(4, 2), "c": at(5, 2), "d": at(4, 2)}, at(5, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := quorumHead(tc.sets, tc.got)
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("answered with %d@%d, want no quorum", got.Version, got.LogEpoch)
			case tc.want != nil && got == nil:
				t.Errorf("no quorum, want %d@%d", tc.want.Version, tc.want.LogEpoch)
			case tc.want != nil && (got.Version != tc.want.Version || got.LogEpoch != tc.want.LogEpoch):
				t.Errorf("answered with %d@%d, want %d@%d", got.Version, got.LogEpoch, tc.want.Version, tc.want.LogEpoch)
			}
		})
	}
}
