package gateway

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

const cfgYAML = `
models:
  - name: pump
    properties:
      - {name: flow, type: double, min: 0, max: 500}
      - {name: setpoint, type: double, min: 0, max: 100, writable: true}
      - {name: mode, type: enum, values: [auto, manual]}
  - name: line
    properties:
      - {name: state, type: enum, values: [running, idle]}
twins:
  - id: line-{1..2}
    model: line
  - id: pump-a{01..05}
    model: pump
    parent: line-1
    labels: {line: L1}
  - id: pump-b{01..05}
    model: pump
    parent: line-2
    labels: {line: L2}
`

type env struct {
	srv  *Server
	rt   *actors.Runtime
	conn *grpc.ClientConn
	tc   pb.TwinServiceClient
}

func start(t *testing.T) *env { return startOpts(t, Options{}) }

func startOpts(t *testing.T, opts Options) *env {
	t.Helper()
	cfg, err := twins.ParseConfig("gw.yaml", []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(persistence.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := actors.Start(actors.Config{Twins: cfg, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv := New(rt, opts)
	srv.Register(g)
	go g.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		// GracefulStop waits for every RPC goroutine: protoactor's remote
		// start sets grpclog's global logger, which races with a previous
		// test's server goroutine still logging (seen under -race).
		srv.Shutdown()
		g.GracefulStop()
		rt.Close()
		store.Close()
	})
	return &env{srv: srv, rt: rt, conn: conn, tc: pb.NewTwinServiceClient(conn)}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestHealthFollowsReadiness(t *testing.T) {
	e := start(t)
	h := healthpb.NewHealthClient(e.conn)
	for _, tc := range []struct {
		serving bool
		want    healthpb.HealthCheckResponse_ServingStatus
	}{
		{false, healthpb.HealthCheckResponse_NOT_SERVING},
		{true, healthpb.HealthCheckResponse_SERVING},
	} {
		e.srv.SetServing(tc.serving)
		for _, svc := range []string{"", "plantwin.v1.TwinService"} {
			resp, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.want {
				t.Errorf("health of %q with serving=%v: %v, want %v", svc, tc.serving, resp.Status, tc.want)
			}
		}
	}
}

func TestReflectionListsServices(t *testing.T) {
	e := start(t)
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		got[s.Name] = true
	}
	for _, want := range []string{"plantwin.v1.TwinService", "plantwin.v1.AdminService", "grpc.health.v1.Health"} {
		if !got[want] {
			t.Errorf("reflection does not list %s (got %v)", want, got)
		}
	}
}

func TestGetTwin(t *testing.T) {
	e := start(t)
	if _, err := e.rt.Apply(ctx(t), &pb.ApplyTelemetry{TwinId: "pump-a01", Samples: []*pb.Sample{{Property: "flow", Value: &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: 42}}}}}); err != nil {
		t.Fatal(err)
	}
	tw, err := e.tc.GetTwin(ctx(t), &pb.GetTwinRequest{Id: "pump-a01"})
	if err != nil {
		t.Fatal(err)
	}
	if tw.Version != 1 || tw.Parent != "line-1" || tw.Labels["line"] != "L1" || tw.Reported["flow"].GetValue().GetDoubleValue() != 42 {
		t.Fatalf("GetTwin = %v", tw)
	}
	for _, tc := range []struct {
		name string
		id   string
		code codes.Code
	}{
		{"unknown twin", "pump-zz", codes.NotFound},
		{"empty id", "", codes.InvalidArgument},
		{"oversized id", string(make([]byte, 200)), codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.tc.GetTwin(ctx(t), &pb.GetTwinRequest{Id: tc.id})
			if status.Code(err) != tc.code {
				t.Fatalf("GetTwin(%q): %v, want code %v", tc.id, err, tc.code)
			}
		})
	}
}

func TestListTwinsFiltersAndPages(t *testing.T) {
	e := start(t)
	list := func(req *pb.ListTwinsRequest) ([]string, int32) {
		t.Helper()
		var ids []string
		var total int32
		for {
			resp, err := e.tc.ListTwins(ctx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			for _, tw := range resp.Twins {
				ids = append(ids, tw.Id)
			}
			total = resp.GetTotalSize()
			if resp.NextPageToken == "" {
				return ids, total
			}
			req.PageToken = resp.NextPageToken
		}
	}
	tests := []struct {
		name      string
		req       *pb.ListTwinsRequest
		want      []string
		wantTotal int32
	}{
		{"all, pages of 3", &pb.ListTwinsRequest{PageSize: 3}, []string{"line-1", "line-2", "pump-a01", "pump-a02", "pump-a03", "pump-a04", "pump-a05", "pump-b01", "pump-b02", "pump-b03", "pump-b04", "pump-b05"}, 12},
		{"by model", &pb.ListTwinsRequest{Model: "line"}, []string{"line-1", "line-2"}, 2},
		{"by parent, pages of 2", &pb.ListTwinsRequest{Parent: "line-2", PageSize: 2}, []string{"pump-b01", "pump-b02", "pump-b03", "pump-b04", "pump-b05"}, 5},
		{"by label", &pb.ListTwinsRequest{Labels: map[string]string{"line": "L1"}}, []string{"pump-a01", "pump-a02", "pump-a03", "pump-a04", "pump-a05"}, 5},
		{"no match", &pb.ListTwinsRequest{Labels: map[string]string{"line": "L9"}}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, total := list(tc.req)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if total != tc.wantTotal {
				t.Errorf("total_size = %d, want %d", total, tc.wantTotal)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		req   *pb.ListTwinsRequest
		field string
	}{
		{"bad token", &pb.ListTwinsRequest{PageToken: "%%%"}, "page_token"},
		{"negative size", &pb.ListTwinsRequest{PageSize: -1}, "page_size"},
		{"unknown model", &pb.ListTwinsRequest{Model: "nope"}, "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.tc.ListTwins(ctx(t), tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.field) {
				t.Fatalf("ListTwins: %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}
}
