package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plantwin/plantwin/gateway/auth/authtest"
)

// whoamiService is a test service whose methods answer with the caller's
// identity as the handler sees it ("NAME ROLE").
const whoamiService = "plantwin.authtest.Whoami"

const (
	methodGet    = "/" + whoamiService + "/Get"    // Policy: RoleNone (any authenticated caller)
	methodSecret = "/" + whoamiService + "/Secret" // not in Policy: RoleAdmin
	methodPublic = "/" + whoamiService + "/Public" // Open
	methodWatch  = "/" + whoamiService + "/Watch"  // server stream; Policy: RoleViewer

	healthCheck = "/grpc.health.v1.Health/Check" // Open
	healthList  = "/grpc.health.v1.Health/List"  // Policy: RoleOperator
	healthWatch = "/grpc.health.v1.Health/Watch" // Policy: RoleViewer
)

var whoamiDesc = grpc.ServiceDesc{
	ServiceName: whoamiService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{unaryWhoami("Get"), unaryWhoami("Secret"), unaryWhoami("Public")},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			return ss.SendMsg(whoami(ss.Context()))
		},
	}},
}

func unaryWhoami(name string) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) { return whoami(ctx), nil }
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + whoamiService + "/" + name}, h)
		},
	}
}

func whoami(ctx context.Context) *wrapperspb.StringValue {
	id, ok := FromContext(ctx)
	if !ok {
		return wrapperspb.String("no identity")
	}
	return wrapperspb.String(id.Name + " " + id.Role.String())
}

var testPolicy = map[string]Role{
	methodGet:   RoleNone,
	methodWatch: RoleViewer,
	healthList:  RoleOperator,
	healthWatch: RoleViewer,
}

var testOpen = []string{healthCheck, methodPublic}

// startServer serves health and Whoami on 127.0.0.1:0 with a's
// interceptors, over TLS if serverTLS is not nil, and returns the address.
func startServer(t *testing.T, serverTLS *tls.Config, a *Authorizer) string {
	t.Helper()
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(a.UnaryInterceptor()),
		grpc.StreamInterceptor(a.StreamInterceptor()),
	}
	if serverTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(serverTLS)))
	}
	g := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(g, health.NewServer())
	g.RegisterService(&whoamiDesc, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(lis) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// client is how a test case calls.
type client struct {
	token string   // bearer token sent with PerRPCToken; "" none
	cert  string   // client certificate: a key of testEnv.certs; "" none
	md    []string // raw metadata pairs added to each call
}

// call makes one call and returns a summary of the answer.
type call func(ctx context.Context, conn *grpc.ClientConn) (string, error)

func unary(method string) call {
	return func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
		out := new(wrapperspb.StringValue)
		err := conn.Invoke(ctx, method, new(emptypb.Empty), out)
		return out.GetValue(), err
	}
}

func stream(method string) call {
	return func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
		if err != nil {
			return "", err
		}
		if err := s.SendMsg(new(emptypb.Empty)); err != nil {
			return "", err
		}
		if err := s.CloseSend(); err != nil {
			return "", err
		}
		out := new(wrapperspb.StringValue)
		err = s.RecvMsg(out)
		return out.GetValue(), err
	}
}

func callHealthCheck(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return resp.GetStatus().String(), err
}

func callHealthList(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	resp, err := healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
	return resp.GetStatuses()[""].GetStatus().String(), err
}

func callHealthWatch(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "", err
	}
	resp, err := w.Recv()
	return resp.GetStatus().String(), err
}

// testEnv is a PKI, a token file and client certificates.
type testEnv struct {
	pki    *authtest.PKI
	tokens *Tokens
	token  map[string]string // by name: alice (admin), olga (operator), vic (viewer)
	certs  map[string][2]string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	pki, err := authtest.NewPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{pki: pki, token: make(map[string]string), certs: make(map[string][2]string)}
	path := filepath.Join(dir, "tokens.yaml")
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tok := range []struct {
		name string
		role Role
	}{{"alice", RoleAdmin}, {"olga", RoleOperator}, {"vic", RoleViewer}} {
		if e.token[tok.name], err = CreateToken(path, tok.name, tok.role, now); err != nil {
			t.Fatal(err)
		}
	}
	if e.tokens, err = LoadTokens(path); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key, cn string
		ous     []string
	}{
		{"operator", "scada", []string{"operator"}},
		{"multi", "hmi", []string{"plant-1", "Viewer", "admin"}},
		{"norole", "printer", []string{"facilities"}},
	} {
		certFile, keyFile, err := pki.ClientCert(c.cn, c.ous...)
		if err != nil {
			t.Fatal(err)
		}
		e.certs[c.key] = [2]string{certFile, keyFile}
	}
	// A certificate from another CA, with a role the server must not believe.
	other, err := authtest.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := other.ClientCert("intruder", "admin")
	if err != nil {
		t.Fatal(err)
	}
	e.certs["foreign"] = [2]string{certFile, keyFile}
	return e
}

func (e *testEnv) serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	cfg, err := ServerTLS(e.pki.ServerCert, e.pki.ServerKey, e.pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// dial connects to addr over TLS with c's credentials.
func (e *testEnv) dial(t *testing.T, addr string, c client) *grpc.ClientConn {
	t.Helper()
	var certFile, keyFile string
	if c.cert != "" {
		f, ok := e.certs[c.cert]
		if !ok {
			t.Fatalf("no client certificate %q", c.cert)
		}
		certFile, keyFile = f[0], f[1]
	}
	cfg, err := ClientTLS(e.pki.CAFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if c.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(PerRPCToken(c.token, false)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// do makes one call as c and returns its answer, code and status message.
func (e *testEnv) do(t *testing.T, addr string, c client, fn call) (string, codes.Code, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if len(c.md) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, c.md...)
	}
	got, err := fn(ctx, e.dial(t, addr, c))
	st := status.Convert(err)
	return got, st.Code(), st.Message()
}

func TestAuthorizeOverGRPC(t *testing.T) {
	e := newTestEnv(t)
	a := New(Config{Tokens: e.tokens, ClientCerts: true, Policy: testPolicy, Open: testOpen})
	if !a.Enabled() {
		t.Fatal("Enabled() = false with tokens and client certificates")
	}
	addr := startServer(t, e.serverTLS(t), a)
	alice, olga, vic := e.token["alice"], e.token["olga"], e.token["vic"]

	tests := []struct {
		name     string
		client   client
		call     call
		wantCode codes.Code
		want     string // the answer if OK, else the status message ("" = not checked)
	}{
		// Open methods need no credentials and ignore bad ones.
		{name: "open health check without credentials", call: callHealthCheck, want: "SERVING"},
		{name: "open method identity is anonymous", call: unary(methodPublic), want: "anonymous none"},
		{name: "open method ignores an invalid token", client: client{token: "pwt_nope"}, call: unary(methodPublic), want: "anonymous none"},

		// Authentication.
		{name: "no credentials", call: callHealthList, wantCode: codes.Unauthenticated,
			want: "unauthenticated: no credentials (want a bearer token or a client certificate)"},
		{name: "unknown token", client: client{token: "pwt_nope"}, call: callHealthList, wantCode: codes.Unauthenticated,
			want: "unauthenticated: invalid token"},
		{name: "token of another format", client: client{token: "hunter2"}, call: callHealthList, wantCode: codes.Unauthenticated,
			want: "unauthenticated: invalid token"},
		{name: "basic auth header is malformed", client: client{md: []string{"authorization", "Basic YWxpY2U6cHc="}}, call: callHealthList,
			wantCode: codes.Unauthenticated, want: `unauthenticated: malformed authorization header (want "Bearer TOKEN")`},
		{name: "bearer without token is malformed", client: client{md: []string{"authorization", "Bearer"}}, call: callHealthList,
			wantCode: codes.Unauthenticated, want: `unauthenticated: malformed authorization header (want "Bearer TOKEN")`},
		{name: "bare token is malformed", client: client{md: []string{"authorization", alice}}, call: callHealthList,
			wantCode: codes.Unauthenticated, want: `unauthenticated: malformed authorization header (want "Bearer TOKEN")`},
		{name: "two authorization headers", client: client{md: []string{"authorization", "Bearer " + alice, "authorization", "Bearer " + vic}},
			call: callHealthList, wantCode: codes.Unauthenticated, want: "unauthenticated: more than one authorization header"},
		{name: "scheme is case-insensitive", client: client{md: []string{"authorization", "bearer " + olga}}, call: unary(methodGet),
			want: "token:olga operator"},

		// Roles with tokens.
		{name: "viewer token denied operator method", client: client{token: vic}, call: callHealthList, wantCode: codes.PermissionDenied,
			want: "permission denied: /grpc.health.v1.Health/List needs role operator, token:vic has viewer"},
		{name: "operator token allowed operator method", client: client{token: olga}, call: callHealthList, want: "SERVING"},
		{name: "admin token allowed operator method", client: client{token: alice}, call: callHealthList, want: "SERVING"},
		{name: "any authenticated caller: viewer", client: client{token: vic}, call: unary(methodGet), want: "token:vic viewer"},
		{name: "method not in policy denied to operator", client: client{token: olga}, call: unary(methodSecret), wantCode: codes.PermissionDenied,
			want: "permission denied: /plantwin.authtest.Whoami/Secret needs role admin, token:olga has operator"},
		{name: "method not in policy allowed to admin", client: client{token: alice}, call: unary(methodSecret), want: "token:alice admin"},

		// Client certificates.
		{name: "operator certificate allowed operator method", client: client{cert: "operator"}, call: callHealthList, want: "SERVING"},
		{name: "certificate identity", client: client{cert: "operator"}, call: unary(methodGet), want: "cert:CN=scada,OU=operator operator"},
		{name: "first role OU wins", client: client{cert: "multi"}, call: unary(methodGet), want: "cert:CN=hmi,OU=plant-1+OU=Viewer+OU=admin viewer"},
		{name: "first role OU wins: denied", client: client{cert: "multi"}, call: callHealthList, wantCode: codes.PermissionDenied,
			want: "permission denied: /grpc.health.v1.Health/List needs role operator, cert:CN=hmi,OU=plant-1+OU=Viewer+OU=admin has viewer"},
		// A verified certificate without a role OU is not a plantwin
		// credential: Unauthenticated, like an unknown token, even for
		// methods open to any authenticated caller.
		{name: "certificate without role OU", client: client{cert: "norole"}, call: unary(methodGet), wantCode: codes.Unauthenticated,
			want: "unauthenticated: client certificate has no role OU (want viewer, operator or admin)"},
		// The TLS handshake rejects a certificate from another CA.
		{name: "certificate from another CA", client: client{cert: "foreign"}, call: unary(methodGet), wantCode: codes.Unavailable},

		// A token decides alone.
		{name: "token wins over certificate", client: client{token: vic, cert: "operator"}, call: callHealthList, wantCode: codes.PermissionDenied,
			want: "permission denied: /grpc.health.v1.Health/List needs role operator, token:vic has viewer"},
		{name: "invalid token not rescued by certificate", client: client{token: "pwt_nope", cert: "operator"}, call: callHealthList,
			wantCode: codes.Unauthenticated, want: "unauthenticated: invalid token"},

		// Streams: the handler sees the identity.
		{name: "stream without credentials", call: stream(methodWatch), wantCode: codes.Unauthenticated},
		{name: "stream with viewer token", client: client{token: vic}, call: stream(methodWatch), want: "token:vic viewer"},
		{name: "stream with certificate", client: client{cert: "operator"}, call: stream(methodWatch), want: "cert:CN=scada,OU=operator operator"},
		{name: "health watch without credentials", call: callHealthWatch, wantCode: codes.Unauthenticated},
		{name: "health watch with viewer token", client: client{token: vic}, call: callHealthWatch, want: "SERVING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code, msg := e.do(t, addr, tt.client, tt.call)
			if code != tt.wantCode {
				t.Fatalf("code = %v (%q), want %v", code, msg, tt.wantCode)
			}
			if code != codes.OK {
				got = msg
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAuthorizeModes covers configurations that accept one kind of
// credential, or none.
func TestAuthorizeModes(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name        string
		cfg         Config
		wantEnabled bool
		client      client
		call        call
		wantCode    codes.Code
		want        string
	}{
		{name: "auth off: anonymous admin", call: unary(methodSecret), want: "anonymous admin"},
		{name: "auth off: token ignored", client: client{token: "pwt_nope"}, call: unary(methodSecret), want: "anonymous admin"},
		{name: "auth off: stream", call: stream(methodWatch), want: "anonymous admin"},
		{name: "tokens only: certificate not accepted", cfg: Config{Tokens: e.tokens}, wantEnabled: true,
			client: client{cert: "operator"}, call: unary(methodGet), wantCode: codes.Unauthenticated,
			want: `unauthenticated: no credentials (want "authorization: Bearer TOKEN")`},
		{name: "tokens only: token", cfg: Config{Tokens: e.tokens}, wantEnabled: true,
			client: client{token: e.token["olga"]}, call: unary(methodGet), want: "token:olga operator"},
		{name: "certificates only: token not accepted", cfg: Config{ClientCerts: true}, wantEnabled: true,
			client: client{token: e.token["alice"], cert: "operator"}, call: unary(methodGet), wantCode: codes.Unauthenticated,
			want: "unauthenticated: bearer tokens are not accepted"},
		{name: "certificates only: no certificate", cfg: Config{ClientCerts: true}, wantEnabled: true,
			call: unary(methodGet), wantCode: codes.Unauthenticated, want: "unauthenticated: no credentials (want a client certificate)"},
		{name: "certificates only: certificate", cfg: Config{ClientCerts: true}, wantEnabled: true,
			client: client{cert: "operator"}, call: unary(methodGet), want: "cert:CN=scada,OU=operator operator"},
		{name: "empty open prefix ignored", cfg: Config{Tokens: e.tokens, Open: []string{""}}, wantEnabled: true,
			call: unary(methodGet), wantCode: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Policy = testPolicy
			a := New(cfg)
			if a.Enabled() != tt.wantEnabled {
				t.Errorf("Enabled() = %v, want %v", a.Enabled(), tt.wantEnabled)
			}
			addr := startServer(t, e.serverTLS(t), a)
			got, code, msg := e.do(t, addr, tt.client, tt.call)
			if code != tt.wantCode {
				t.Fatalf("code = %v (%q), want %v", code, msg, tt.wantCode)
			}
			if code != codes.OK {
				got = msg
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer for a logger written by server goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDenialsLoggedAndCounted(t *testing.T) {
	e := newTestEnv(t)
	reg := prometheus.NewPedanticRegistry()
	var logs syncBuffer
	a := New(Config{
		Tokens:      e.tokens,
		ClientCerts: true,
		Policy:      map[string]Role{methodGet: RoleNone, healthList: RoleOperator},
		Open:        []string{healthCheck},
		Logger:      slog.New(slog.NewJSONHandler(&logs, nil)),
		Registerer:  reg,
	})
	addr := startServer(t, e.serverTLS(t), a)
	vic := client{token: e.token["vic"]}
	calls := []struct {
		client client
		call   call
	}{
		{client{}, callHealthList},                       // unauthenticated
		{vic, callHealthList},                            // permission_denied
		{vic, callHealthList},                            // permission_denied
		{client{cert: "norole"}, unary(methodGet)},       // unauthenticated, caller known
		{vic, unary(methodSecret)},                       // permission_denied, method not in Policy
		{client{}, callHealthCheck},                      // open: not counted
		{client{token: e.token["olga"]}, callHealthList}, // allowed: not counted
	}
	for _, c := range calls {
		e.do(t, addr, c.client, c.call)
	}

	wantCounts := map[string]float64{
		"permission_denied " + healthList:   2,
		"unauthenticated " + healthList:     1,
		"permission_denied " + methodGet:    0, // started at zero: in Policy
		"unauthenticated " + methodGet:      1,
		"permission_denied " + methodSecret: 1,
	}
	if diff := cmp.Diff(wantCounts, deniedCounts(t, reg)); diff != "" {
		t.Errorf("plantwin_gateway_denied_total (-want +got):\n%s", diff)
	}

	var got []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delete(rec, "time")
		if p, _ := rec["peer"].(string); strings.HasPrefix(p, "127.0.0.1:") {
			rec["peer"] = "127.0.0.1"
		}
		got = append(got, rec)
	}
	wantLogs := []map[string]any{
		{"level": "WARN", "msg": "call denied", "method": healthList, "reason": "unauthenticated", "peer": "127.0.0.1",
			"detail": "unauthenticated: no credentials (want a bearer token or a client certificate)"},
		{"level": "WARN", "msg": "call denied", "method": healthList, "reason": "permission_denied", "peer": "127.0.0.1", "caller": "token:vic",
			"detail": "permission denied: /grpc.health.v1.Health/List needs role operator, token:vic has viewer"},
		{"level": "WARN", "msg": "call denied", "method": healthList, "reason": "permission_denied", "peer": "127.0.0.1", "caller": "token:vic",
			"detail": "permission denied: /grpc.health.v1.Health/List needs role operator, token:vic has viewer"},
		{"level": "WARN", "msg": "call denied", "method": methodGet, "reason": "unauthenticated", "peer": "127.0.0.1", "caller": "cert:CN=printer,OU=facilities",
			"detail": "unauthenticated: client certificate has no role OU (want viewer, operator or admin)"},
		{"level": "WARN", "msg": "call denied", "method": methodSecret, "reason": "permission_denied", "peer": "127.0.0.1", "caller": "token:vic",
			"detail": "permission denied: /plantwin.authtest.Whoami/Secret needs role admin, token:vic has viewer"},
	}
	if diff := cmp.Diff(wantLogs, got); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
}

// TestNewSameRegistry checks that a second authorizer on one registry
// (a restarted gateway in the same process) shares the counter.
func TestNewSameRegistry(t *testing.T) {
	e := newTestEnv(t)
	reg := prometheus.NewPedanticRegistry()
	for i := range 2 {
		a := New(Config{Tokens: e.tokens, Registerer: reg})
		if _, err := a.Authorize(t.Context(), methodSecret); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("authorizer %d: Authorize without credentials = %v, want Unauthenticated", i, err)
		}
	}
	want := map[string]float64{"unauthenticated " + methodSecret: 2}
	if diff := cmp.Diff(want, deniedCounts(t, reg)); diff != "" {
		t.Errorf("plantwin_gateway_denied_total (-want +got):\n%s", diff)
	}
}

// deniedCounts returns plantwin_gateway_denied_total by "REASON METHOD".
func deniedCounts(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, f := range families {
		if f.GetName() != "plantwin_gateway_denied_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[label(m, "reason")+" "+label(m, "method")] = m.GetCounter().GetValue()
		}
	}
	return got
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestPerRPCTokenInsecure checks the loopback development mode: a token
// over a connection without TLS only with insecure set.
func TestPerRPCTokenInsecure(t *testing.T) {
	e := newTestEnv(t)
	addr := startServer(t, nil, New(Config{Tokens: e.tokens, Policy: testPolicy}))
	tests := []struct {
		name     string
		insecure bool
		wantErr  bool
	}{
		{name: "insecure allowed", insecure: true},
		{name: "transport security required", insecure: false, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := PerRPCToken(e.token["olga"], tt.insecure)
			if got := creds.RequireTransportSecurity(); got != !tt.insecure {
				t.Errorf("RequireTransportSecurity() = %v, want %v", got, !tt.insecure)
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
			if err == nil {
				t.Cleanup(func() { conn.Close() })
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				var got string
				got, err = unary(methodGet)(ctx, conn)
				if err == nil && got != "token:olga operator" {
					t.Errorf("got %q, want %q", got, "token:olga operator")
				}
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

func TestIdentityContext(t *testing.T) {
	if id, ok := FromContext(t.Context()); ok {
		t.Errorf("FromContext(empty) = %v, true; want false", id)
	}
	want := Identity{Name: "token:bob", Role: RoleOperator}
	got, ok := FromContext(NewContext(t.Context(), want))
	if !ok {
		t.Fatal("FromContext(NewContext(id)) found nothing")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
}
