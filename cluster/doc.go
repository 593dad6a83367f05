// Package cluster runs plantwin nodes as members of a protoactor-go cluster.
//
// Membership comes from hashicorp/memberlist through [Provider], a
// protoactor-go ClusterProvider: each node gossips its actor-system id (used
// as the memberlist node name, so a restarted process always joins under a
// new name), its protoactor remote address and the kinds it hosts; memberlist
// events are handed off to one goroutine that debounces them and publishes
// the member list to protoactor's cluster.
//
// Placement is by rendezvous hashing of the twin id over the members, through
// [Lookup], the project's own IdentityLookup (the pinned protoactor-go
// disthash lookup races on its rendezvous table and scans every activation on
// each termination). On a single node the cluster has one member and every
// twin is placed locally.
//
// The provider keeps its own member table, copied inside memberlist's
// callbacks, with each node's name, role, zone, API address and state
// ([Provider.Members], [Provider.SetState]).
//
// Replication is being built on top (docs/cluster-design.md), in pieces
// that are not wired into the runtime yet: [Placement] (rendezvous order
// over stable node names: replica sets and owners), [Roster] (the
// persisted membership quorums are counted over, with joint quorums while
// it changes), the replica actor ([SpawnReplica]: fence requests and
// replicated batches against the node's store, persistence.Store.Fence
// and sync writes) and the codec between persistence.Write and the
// replication messages. Until the roster protocol exists a node does not
// join others: without replication a joined node would serve twins from
// an empty store.
//
// Concurrency: Provider and Lookup methods are safe for concurrent use.
// memberlist callbacks never block: they send to a buffered channel and
// return.
package cluster
