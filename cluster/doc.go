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
// This is the minimal form the runtime core needs; replication, hand-off and
// fencing across nodes are built on top of it by the cluster work.
//
// Concurrency: Provider and Lookup methods are safe for concurrent use.
// memberlist callbacks never block: they send to a buffered channel and
// return.
package cluster
