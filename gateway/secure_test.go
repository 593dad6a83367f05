package gateway

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/gateway/auth"
	"github.com/plantwin/plantwin/gateway/auth/authtest"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

// secureEnv is a node serving over TLS with tokens and client
// certificates on, as `serve --tls-cert --tls-key --client-ca --tokens`.
type secureEnv struct {
	addr   string
	pki    *authtest.PKI
	tokens map[auth.Role]string
	rt     *actors.Runtime
}

func startSecure(t *testing.T) *secureEnv {
	t.Helper()
	dir := t.TempDir()
	pki, err := authtest.NewPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "tokens.yaml")
	toks := map[auth.Role]string{}
	for _, r := range []auth.Role{auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin} {
		tok, err := auth.CreateToken(tokFile, r.String()+"-app", r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		toks[r] = tok
	}
	loaded, err := auth.LoadTokens(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := auth.ServerTLS(pki.ServerCert, pki.ServerKey, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := twins.ParseConfig("gw.yaml", []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(filepath.Join(dir, "data")))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := actors.Start(actors.Config{Twins: cfg, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(rt, Options{TLS: true, Auth: auth.New(auth.Config{Tokens: loaded, ClientCerts: true, Policy: Policy(), Open: OpenMethods()})})
	g := grpc.NewServer(append(srv.ServerOptions(), grpc.Creds(credentials.NewTLS(tc)))...)
	srv.Register(g)
	srv.SetServing(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(func() {
		srv.Shutdown()
		g.GracefulStop()
		rt.Close()
		store.Close()
	})
	return &secureEnv{addr: lis.Addr().String(), pki: pki, tokens: toks, rt: rt}
}

// dial connects with the given token ("" for none) and client
// certificate files ("" for none).
func (e *secureEnv) dial(t *testing.T, token, cert, key string) *grpc.ClientConn {
	t.Helper()
	tc, err := auth.ClientTLS(e.pki.CAFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tc))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.PerRPCToken(token, false)))
	}
	conn, err := grpc.NewClient(e.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// calls is one call of every plantwin.v1 method, with the role it needs.
var calls = []struct {
	method string
	need   auth.Role
	call   func(context.Context, *grpc.ClientConn) error
}{
	{"GetTwin", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewTwinServiceClient(c).GetTwin(ctx, &pb.GetTwinRequest{Id: "pump-a01"})
		return err
	}},
	{"ListTwins", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewTwinServiceClient(c).ListTwins(ctx, &pb.ListTwinsRequest{})
		return err
	}},
	{"WatchTwins", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		s, err := pb.NewTwinServiceClient(c).WatchTwins(ctx, &pb.WatchTwinsRequest{Ids: []string{"pump-a01"}})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}},
	{"GetHistory", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewTwinServiceClient(c).GetHistory(ctx, &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow", StartTime: timestamppb.New(time.Now().Add(-time.Hour))})
		return err
	}},
	{"ListModels", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewModelServiceClient(c).ListModels(ctx, &pb.ListModelsRequest{})
		return err
	}},
	{"GetModel", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewModelServiceClient(c).GetModel(ctx, &pb.GetModelRequest{Name: "pump"})
		return err
	}},
	{"GetNode", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewNodeServiceClient(c).GetNode(ctx, &pb.GetNodeRequest{})
		return err
	}},
	{"ListConnectors", auth.RoleViewer, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewEdgeServiceClient(c).ListConnectors(ctx, &pb.ListConnectorsRequest{})
		return err
	}},
	{"UpdateDesired", auth.RoleOperator, func(ctx context.Context, c *grpc.ClientConn) error {
		_, err := pb.NewTwinServiceClient(c).UpdateDesired(ctx, &pb.UpdateDesiredRequest{TwinId: "pump-a01", Values: map[string]*pb.Value{"setpoint": {Kind: &pb.Value_DoubleValue{DoubleValue: 5}}}})
		return err
	}},
	{"Backup", auth.RoleAdmin, func(ctx context.Context, c *grpc.ClientConn) error {
		s, err := pb.NewAdminServiceClient(c).Backup(ctx, &pb.BackupRequest{})
		if err != nil {
			return err
		}
		for {
			m, err := s.Recv()
			if err != nil || m.Done {
				return err
			}
		}
	}},
	{"Reflection", auth.RoleNone, func(ctx context.Context, c *grpc.ClientConn) error {
		s, err := reflectionpb.NewServerReflectionClient(c).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		// A stream the server refused reports io.EOF on Send; its status
		// comes from Recv.
		if err := s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && err != io.EOF {
			return err
		}
		_, err = s.Recv()
		return err
	}},
}

func TestEachRoleIsAllowedExactlyItsCalls(t *testing.T) {
	e := startSecure(t)
	viewerCert, viewerKey, err := e.pki.ClientCert("scada-1", "viewer")
	if err != nil {
		t.Fatal(err)
	}
	opCert, opKey, err := e.pki.ClientCert("hmi-7", "operator")
	if err != nil {
		t.Fatal(err)
	}
	noRoleCert, noRoleKey, err := e.pki.ClientCert("stranger", "sales")
	if err != nil {
		t.Fatal(err)
	}
	callers := []struct {
		name string
		conn *grpc.ClientConn
		role auth.Role // RoleNone: unauthenticated
	}{
		{"no credentials", e.dial(t, "", "", ""), auth.RoleNone},
		{"unknown token", e.dial(t, "pwt_not-a-real-token", "", ""), auth.RoleNone},
		{"certificate without a role OU", e.dial(t, "", noRoleCert, noRoleKey), auth.RoleNone},
		{"viewer token", e.dial(t, e.tokens[auth.RoleViewer], "", ""), auth.RoleViewer},
		{"operator token", e.dial(t, e.tokens[auth.RoleOperator], "", ""), auth.RoleOperator},
		{"admin token", e.dial(t, e.tokens[auth.RoleAdmin], "", ""), auth.RoleAdmin},
		{"viewer certificate", e.dial(t, "", viewerCert, viewerKey), auth.RoleViewer},
		{"operator certificate", e.dial(t, "", opCert, opKey), auth.RoleOperator},
	}
	for _, c := range callers {
		for _, call := range calls {
			t.Run(c.name+"/"+call.method, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				err := call.call(ctx, c.conn)
				var want codes.Code
				switch {
				case c.role == auth.RoleNone:
					want = codes.Unauthenticated
				case !c.role.Allows(call.need) && call.need != auth.RoleNone:
					want = codes.PermissionDenied
				default:
					want = codes.OK
				}
				if status.Code(err) != want {
					t.Fatalf("%s as %s: %v, want %v", call.method, c.name, err, want)
				}
			})
		}
		// Health stays open for probes, with or without credentials.
		resp, err := healthpb.NewHealthClient(c.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health as %s: %v %v", c.name, resp, err)
		}
	}

	// Accepted writes record who made them.
	ctx := context.Background()
	for _, w := range []struct {
		conn *grpc.ClientConn
		want string
	}{
		{e.dial(t, e.tokens[auth.RoleOperator], "", ""), "token:operator-app"},
		{e.dial(t, "", opCert, opKey), "cert:"},
	} {
		resp, err := pb.NewTwinServiceClient(w.conn).UpdateDesired(ctx, &pb.UpdateDesiredRequest{TwinId: "pump-a02", Values: map[string]*pb.Value{"setpoint": {Kind: &pb.Value_DoubleValue{DoubleValue: 7}}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Twin.Desired["setpoint"].GetUpdatedBy(); len(got) < len(w.want) || got[:len(w.want)] != w.want {
			t.Fatalf("updated_by = %q, want prefix %q", got, w.want)
		}
	}
}

func TestPlainClientIsRefusedByTLSServer(t *testing.T) {
	e := startSecure(t)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: false, ServerName: "wrong.example"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pb.NewTwinServiceClient(conn).GetTwin(ctx, &pb.GetTwinRequest{Id: "pump-a01"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("client that cannot verify the server: %v, want Unavailable", err)
	}
}
