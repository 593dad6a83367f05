// Package plantwinv1 holds the generated Go code of the plantwin.v1
// protobuf package: the gRPC API (TwinService, AdminService), the messages
// actors exchange (actor.proto) and the durable encodings of journal events,
// snapshots and history values (journal.proto). Regenerate with
// `make generate`; the generated files are committed.
package plantwinv1
