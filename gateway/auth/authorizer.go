package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Config of an Authorizer.
type Config struct {
	// Tokens are the accepted bearer tokens; nil: tokens are not accepted
	// and a call that sends one is rejected.
	Tokens *Tokens
	// ClientCerts accepts verified client certificates (mutual TLS; see
	// ServerTLS and RoleFromCertificate). Default false.
	ClientCerts bool
	// Policy maps full gRPC method names ("/plantwin.v1.TwinService/GetTwin")
	// to the role they need; RoleNone means any authenticated caller. A
	// method neither in Policy nor Open needs RoleAdmin.
	Policy map[string]Role
	// Open lists method-name prefixes that need no authentication at all,
	// such as "/grpc.health.v1.Health/". Empty prefixes are ignored: they
	// would open every method.
	Open []string
	// Logger receives a warning for every denied call (at most 20 a
	// second; the next one says how many were suppressed); nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil: metrics are not registered.
	Registerer prometheus.Registerer
}

// Authorizer authenticates and authorizes calls. With neither Tokens nor
// ClientCerts, auth is off: every call gets Identity{Name: "anonymous",
// Role: RoleAdmin}. An Authorizer is safe for concurrent use.
type Authorizer struct {
	tokens  atomic.Pointer[Tokens] // nil: tokens not accepted; swapped by SetTokens
	certs   bool
	logs    denialLogLimiter
	policy  map[string]Role
	open    []string
	log     *slog.Logger
	metrics *metrics
}

// New returns an authorizer for cfg. It copies Policy and Open.
func New(cfg Config) *Authorizer {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{
		certs:   cfg.ClientCerts,
		policy:  maps.Clone(cfg.Policy),
		log:     log,
		metrics: newMetrics(cfg.Registerer, log),
	}
	a.tokens.Store(cfg.Tokens)
	for _, p := range cfg.Open {
		if p != "" {
			a.open = append(a.open, p)
		}
	}
	for m := range a.policy {
		// Start each known method's series at zero, so that rate() works
		// from the first denial.
		a.metrics.denied.WithLabelValues(reasonUnauthenticated, m)
		a.metrics.denied.WithLabelValues(reasonPermissionDenied, m)
	}
	return a
}

// Enabled reports whether calls are authenticated: Tokens or ClientCerts
// was set.
func (a *Authorizer) Enabled() bool { return a.tokens.Load() != nil || a.certs }

// SetTokens replaces the accepted tokens (for a reload of the token file);
// calls already authorized keep their identity. It refuses to turn token
// authentication on or off: t must be non-nil, and the Authorizer must
// have been created with tokens.
func (a *Authorizer) SetTokens(t *Tokens) error {
	if t == nil || a.tokens.Load() == nil {
		return errors.New("auth: set tokens: token authentication was not configured at start, or no tokens given")
	}
	a.tokens.Store(t)
	return nil
}

// Authorize authenticates the call in ctx and checks the policy for
// fullMethod. The caller is identified by metadata "authorization: Bearer
// TOKEN" if present (it decides alone), else, with ClientCerts, by the
// verified peer certificate in credentials.TLSInfo.
//
// It returns ctx carrying the Identity (see FromContext), or ctx and a
// status error: codes.Unauthenticated for missing, malformed or unknown
// credentials (the message does not reveal whether a token exists), or
// codes.PermissionDenied, naming the role needed and the caller's role.
// Calls to Open methods get Identity{Name: "anonymous", Role: RoleNone}
// without looking at credentials. Every denial is logged at warn level
// and counted in plantwin_gateway_denied_total.
func (a *Authorizer) Authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	if !a.Enabled() {
		return NewContext(ctx, Identity{Name: anonymous, Role: RoleAdmin}), nil
	}
	for _, p := range a.open {
		if strings.HasPrefix(fullMethod, p) {
			return NewContext(ctx, Identity{Name: anonymous, Role: RoleNone}), nil
		}
	}
	id, err := a.authenticate(ctx)
	if err != nil {
		return ctx, a.deny(ctx, fullMethod, reasonUnauthenticated, err.caller, codes.Unauthenticated, "unauthenticated: "+err.msg)
	}
	need, ok := a.policy[fullMethod]
	if !ok {
		need = RoleAdmin
	}
	if !id.Role.Allows(need) {
		what := "needs role " + need.String()
		if need == RoleNone {
			what = "needs a role"
		}
		msg := fmt.Sprintf("permission denied: %s %s, %s has %s", fullMethod, what, id.Name, id.Role)
		return ctx, a.deny(ctx, fullMethod, reasonPermissionDenied, id.Name, codes.PermissionDenied, msg)
	}
	return NewContext(ctx, id), nil
}

// authError is why a call is not authenticated.
type authError struct {
	caller string // known despite the failure, or ""
	msg    string
}

func (a *Authorizer) authenticate(ctx context.Context) (Identity, *authError) {
	md, _ := metadata.FromIncomingContext(ctx)
	tokens := a.tokens.Load()
	if vals := md.Get("authorization"); len(vals) > 0 {
		if tokens == nil {
			return Identity{}, &authError{msg: "bearer tokens are not accepted"}
		}
		if len(vals) > 1 {
			return Identity{}, &authError{msg: "more than one authorization header"}
		}
		token, ok := bearer(vals[0])
		if !ok {
			return Identity{}, &authError{msg: `malformed authorization header (want "Bearer TOKEN")`}
		}
		id, ok := tokens.Verify(token)
		if !ok {
			return Identity{}, &authError{msg: "invalid token"}
		}
		return id, nil
	}
	if a.certs {
		if leaf := verifiedLeaf(ctx); leaf != nil {
			id, err := RoleFromCertificate(leaf)
			if err != nil {
				return Identity{}, &authError{
					caller: "cert:" + leaf.Subject.String(),
					msg:    "client certificate has no role OU (" + roleWant + ")",
				}
			}
			return id, nil
		}
	}
	var want string
	switch {
	case tokens != nil && a.certs:
		want = "a bearer token or a client certificate"
	case tokens != nil:
		want = `"authorization: Bearer TOKEN"`
	default:
		want = "a client certificate"
	}
	return Identity{}, &authError{msg: "no credentials (want " + want + ")"}
}

// bearer returns the token of an authorization header "Bearer TOKEN"; the
// scheme is case-insensitive (RFC 9110) and the token has no spaces.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// verifiedLeaf returns the peer's client certificate if the TLS handshake
// verified it.
func verifiedLeaf(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	var info credentials.TLSInfo
	switch ai := p.AuthInfo.(type) {
	case credentials.TLSInfo:
		info = ai
	case *credentials.TLSInfo:
		info = *ai
	default:
		return nil
	}
	chains := info.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil
	}
	return chains[0][0]
}

// deny logs and counts a denial and returns its status error.
func (a *Authorizer) deny(ctx context.Context, method, reason, caller string, code codes.Code, msg string) error {
	a.metrics.denied.WithLabelValues(reason, method).Inc()
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("method", method), slog.String("reason", reason), slog.String("detail", msg))
	if caller != "" {
		attrs = append(attrs, slog.String("caller", caller))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if ok, suppressed := a.logs.allow(time.Now()); ok {
		if suppressed > 0 {
			attrs = append(attrs, slog.Int64("suppressed_since_last", suppressed))
		}
		a.log.LogAttrs(ctx, slog.LevelWarn, "call denied", attrs...)
	}
	return status.Error(code, msg)
}

// denialLogLimiter lets through at most denialLogBurst denial logs per
// second, so a client hammering the API with a bad token cannot flood the
// log (every denial is still counted in the metric); the next line logged
// says how many were suppressed.
type denialLogLimiter struct {
	mu         sync.Mutex
	second     int64
	n          int
	suppressed int64
}

const denialLogBurst = 20

func (l *denialLogLimiter) allow(now time.Time) (bool, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second {
		l.second, l.n = sec, 0
	}
	if l.n >= denialLogBurst {
		l.suppressed++
		return false, 0
	}
	l.n++
	s := l.suppressed
	l.suppressed = 0
	return true, s
}

// UnaryInterceptor returns an interceptor that authorizes each unary call
// and passes the handler a context carrying the Identity.
func (a *Authorizer) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor returns an interceptor that authorizes each stream and
// wraps the ServerStream so that the handler's stream.Context() carries
// the Identity.
func (a *Authorizer) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.Authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &identityStream{ServerStream: ss, ctx: ctx})
	}
}

// identityStream is a ServerStream with the authorized context.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the context carrying the Identity.
func (s *identityStream) Context() context.Context { return s.ctx }
