// Package auth authenticates and authorizes callers of plantwin's gRPC API.
//
// A caller proves who it is with a bearer token (metadata
// "authorization: Bearer TOKEN", checked against a token file that stores
// only SHA-256 hashes; see CreateToken and LoadTokens) or with a client
// certificate verified during the TLS handshake (mutual TLS; the role is a
// Subject OU, see RoleFromCertificate). Each identity has a Role; roles are
// ordered, admin ⊇ operator ⊇ viewer.
//
// An Authorizer enforces a per-method Policy through gRPC interceptors.
// Methods under an Open prefix need no credentials; a method missing from
// the Policy needs RoleAdmin, so a new RPC is closed until someone decides
// otherwise. A bearer token, when sent, decides alone: an invalid token is
// rejected even if the connection also carries a client certificate. A
// verified certificate without a role OU is not a plantwin credential and
// is rejected as Unauthenticated, like an unknown token. Every denial is
// logged at warn level and counted in plantwin_gateway_denied_total.
//
// Concurrency: an Authorizer and a Tokens are immutable after
// construction and safe for concurrent use. CreateToken rewrites the token
// file atomically but does not lock it: run one CreateToken at a time per
// file. A running server sees new tokens only after it reloads the file.
package auth
