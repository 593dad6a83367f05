// Package gateway is plantwin's gRPC API for applications: the plantwin.v1
// TwinService (get, list with CEL filters and pages, watch streams,
// desired values, history), ModelService, NodeService and AdminService
// (online backup), with the standard health service and server reflection
// so grpcurl works without proto files.
//
// Security lives in gateway/auth (TLS, mutual TLS, bearer tokens, roles);
// Policy maps every method to the role it needs. CEL filters are compiled
// and evaluated by gateway/query. The gateway talks to twins only through
// the actors runtime: state reads, SetDesired, and the runtime's change
// feed, which never blocks a twin — a watcher that falls behind is told it
// lagged and is resynced from current state. errors.go holds the one table
// that maps domain errors to gRPC status codes.
//
// Concurrency: a Server is safe for concurrent use by gRPC's goroutines.
// Each watch stream runs on its own goroutine and owns its bookkeeping.
package gateway
