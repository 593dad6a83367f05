package cluster

import (
	"fmt"
	"slices"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

// LogState is what one store holds for a twin, as far as comparing logs
// goes: its head (version, log epoch, snapshot version) and the epochs
// that wrote its journal.
type LogState struct {
	Head persistence.Head
	Runs []persistence.EpochRun
}

// localLog reads the twin's log state from store.
func localLog(store *persistence.Store, twin string) (LogState, error) {
	h, err := store.Head(twin)
	if err != nil {
		return LogState{}, err
	}
	runs, err := store.EpochRuns(twin)
	if err != nil {
		return LogState{}, err
	}
	return LogState{Head: h, Runs: runs}, nil
}

func runsFromProto(in []*pb.EpochRun) []persistence.EpochRun {
	out := make([]persistence.EpochRun, 0, len(in))
	for _, r := range in {
		if r != nil {
			out = append(out, persistence.EpochRun{FromVersion: r.FromVersion, Epoch: r.Epoch})
		}
	}
	return out
}

func runsToProto(in []persistence.EpochRun) []*pb.EpochRun {
	out := make([]*pb.EpochRun, len(in))
	for i, r := range in {
		out[i] = &pb.EpochRun{FromVersion: r.FromVersion, Epoch: r.Epoch}
	}
	return out
}

// epochAt returns the epoch that wrote version v of log l, if l's journal
// holds v.
func (l LogState) epochAt(v int64) (uint64, bool) {
	if len(l.Runs) == 0 || v < l.Runs[0].FromVersion || v > l.Head.Version {
		return 0, false
	}
	i, _ := slices.BinarySearchFunc(l.Runs, v, func(r persistence.EpochRun, v int64) int {
		switch {
		case r.FromVersion < v:
			return -1
		case r.FromVersion > v:
			return 1
		}
		return 0
	})
	if i == len(l.Runs) || l.Runs[i].FromVersion != v {
		i--
	}
	return l.Runs[i].Epoch, true
}

// agreement returns the highest version up to which target's log holds
// the same entries as source's, and false when the journals cannot show
// one (trimmed below their snapshots): source must then send its
// snapshot. An entry is written once per (version, epoch), by one
// activation, after the entries it follows; so two logs holding an
// entry of the same version and epoch agree up to it.
func agreement(source, target LogState) (int64, bool) {
	if target.Head.Version == 0 {
		// An empty target agrees at 0 if source can send from version 1.
		return 0, source.Head.Version == 0 || (len(source.Runs) > 0 && source.Runs[0].FromVersion == 1)
	}
	m := min(source.Head.Version, target.Head.Version)
	cands := []int64{m}
	for _, l := range []LogState{source, target} {
		for _, r := range l.Runs {
			if c := r.FromVersion - 1; c >= 1 && c < m {
				cands = append(cands, c)
			}
		}
	}
	slices.Sort(cands)
	for i := len(cands) - 1; i >= 0; i-- {
		a, ok1 := source.epochAt(cands[i])
		b, ok2 := target.epochAt(cands[i])
		if ok1 && ok2 && a == b {
			return cands[i], true
		}
	}
	// No entry in common: all of target's log diverges. Cutting it back to
	// nothing needs no snapshot only if it has none and source's journal
	// starts at 1.
	if target.Head.SnapshotVersion == 0 && len(source.Runs) > 0 && source.Runs[0].FromVersion == 1 {
		return 0, true
	}
	return 0, false
}

// BuildSync builds, from store's log of twin, the sync write (epoch
// epoch) that brings a replica holding target in line with it: the
// journal, audit and history after the point where the logs agree, or,
// when the journals cannot show one, store's snapshot and everything
// after it.
func BuildSync(store *persistence.Store, twin string, epoch uint64, target LogState) (*persistence.Write, error) {
	source, err := localLog(store, twin)
	if err != nil {
		return nil, err
	}
	w := &persistence.Write{TwinID: twin, Epoch: epoch}
	k, ok := agreement(source, target)
	if ok && k < target.Head.SnapshotVersion {
		// The target's snapshot folds in entries past the agreement.
		ok = false
	}
	if !ok {
		snap, has, err := store.LoadSnapshot(twin)
		if err != nil {
			return nil, err
		}
		if !has {
			return nil, fmt.Errorf("cluster: sync of twin %s: the logs share no entry and this store has no snapshot (head %d, journal from %v)",
				twin, source.Head.Version, source.Runs)
		}
		k, w.Snapshot = snap.Version, &snap
	}
	w.Sync = &persistence.Sync{After: k}
	if err := store.ReadJournal(twin, k+1, func(version int64, epoch uint64, data []byte) error {
		w.Events = append(w.Events, persistence.Entry{Version: version, Epoch: epoch, Data: data})
		return nil
	}); err != nil {
		return nil, err
	}
	if n := len(w.Events); n > 0 && w.Events[0].Version != k+1 {
		return nil, fmt.Errorf("cluster: sync of twin %s: journal jumps from %d to %d", twin, k, w.Events[0].Version)
	}
	// With a snapshot, the history and audit the snapshot folds in go
	// too, from the target's own head: the target lacks them.
	from := k
	if w.Snapshot != nil {
		from = min(k, target.Head.Version)
	}
	if err := store.ReadAudit(twin, from, 0, func(version int64, data []byte) error {
		w.Audit = append(w.Audit, persistence.Entry{Version: version, Data: data})
		return nil
	}); err != nil {
		return nil, err
	}
	if err := store.ReadHistoryAfter(twin, from, func(p persistence.HistoryPoint) error {
		w.History = append(w.History, p)
		return nil
	}); err != nil {
		return nil, err
	}
	return w, nil
}
