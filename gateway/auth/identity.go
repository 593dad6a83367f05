package auth

import "context"

// Identity is an authenticated caller.
type Identity struct {
	// Name is "token:NAME" for a bearer token, "cert:" followed by the
	// certificate's subject (such as "cert:CN=scada,OU=operator") for a
	// client certificate, or "anonymous".
	Name string
	// Role is what the caller may do.
	Role Role
}

// anonymous is the identity of calls to open methods; with auth off,
// calls get anonymous with RoleAdmin instead.
const anonymous = "anonymous"

type identityKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity stored in ctx by NewContext (as the
// Authorizer's interceptors do), and whether there was one.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
