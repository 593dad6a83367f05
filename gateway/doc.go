// Package gateway is plantwin's gRPC API for applications: the
// plantwin.v1 TwinService (read twins) and AdminService (online backup),
// the standard health service and server reflection, so grpcurl works
// without proto files.
//
// The gateway talks to twins only through the actors runtime. errors.go
// holds the one table that maps domain errors to gRPC status codes.
//
// Concurrency: a Server is safe for concurrent use by gRPC's goroutines.
package gateway
