// Package cluster runs plantwin nodes as one cluster: membership,
// placement, replication of every twin's journal to its replicas, and
// fenced single activation (docs/cluster.md for operators,
// docs/cluster-design.md for the design).
//
// Membership comes from hashicorp/memberlist through [Provider], a
// protoactor-go ClusterProvider: each node gossips its actor-system id (the
// memberlist name, new at every start, since protoactor-go blocks a left
// member for good), its stable node name, protoactor remote address, role,
// zone, API address and state. The provider keeps its own member table,
// copied inside memberlist's callbacks, and publishes it to protoactor
// from one goroutine, debounced ([Provider.Members], [Provider.SetState]).
//
// Quorums and placement are computed over the [Roster], a persisted,
// versioned list of node names that changes only when a node joins
// ([RosterService]: every member stores the joint roster, then the
// settled one), never because a node is down or views differ. [Topology]
// combines the roster with the members this node sees: [Placement]
// ranks the roster's names for each twin by rendezvous hashing; the first
// R are its replicas, and the first of them this node sees serving owns
// it. [Lookup], the project's own IdentityLookup, places activations by
// the topology.
//
// [Replicator] is the twins' journal (actors.Journal). An activation
// takes an epoch above every one its replicas have seen, has a majority
// promise it (persistence.Store.Fence), adopts the newest log among them
// (pulling what it lacks, [BuildSync]) and brings a majority in line
// before the twin serves. Each write then goes to the local store and,
// batched per peer, to the other replicas' replica actors
// ([SpawnReplica]); it is acknowledged once a majority has synced it. A
// replica that promised a newer epoch refuses older writes, so a stale
// activation cannot write and stops; a lagging replica gets a sync write.
//
// Concurrency: Provider, Lookup, Topology, Replicator and RosterService
// methods are safe for concurrent use. memberlist callbacks never block.
// The replica actor never waits in its mailbox: the store's answers come
// back on other goroutines.
package cluster
