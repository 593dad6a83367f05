// Package actors hosts plantwin's pure twin domain (package twins) on
// protoactor-go.
//
// Each declared twin is a virtual actor of the protoactor-go cluster kind
// "twin" ([TwinKind]): the first message to it activates it on the node that
// owns it (placement by package cluster). Activation takes a new epoch from
// the store (fencing older activations), loads the latest snapshot and
// replays the journal tail. The actor then validates and applies telemetry
// with twins.State.Decide/Apply, hands the resulting events to the store's
// group committer, and answers the senders — and serves state reads — only
// once the commit is synced. Requests that arrive while a commit is in flight
// are queued and go out together in the next commit. An idle twin asks to be
// passivated (after Config.PassivateAfter, wall time), finishes what is in
// its mailbox, saves a snapshot and stops; it snapshots every
// Config.SnapshotEvery events as well.
//
// [Runtime] owns the actor system, the cluster membership and the ingest
// path: [Runtime.Submit] and [Runtime.Apply] take telemetry batches for one
// twin (edge connectors and simulations use them), [Runtime.GetTwin] reads
// acknowledged state, active or passivated.
//
// [Clock] is the time source of everything that is part of a twin's
// behaviour; [RealClock] is wall time and [VirtualClock] moves only when told.
// The Clock documentation lists the timers that stay on wall time, and why.
//
// Concurrency: Runtime methods are safe for concurrent use; Submit's done
// callback runs on another goroutine and must not block. Twin actors own
// their state: no locks, and Receive does not wait for storage except while
// recovering on activation and when the store's queue is full
// (back-pressure).
package actors
