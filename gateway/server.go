package gateway

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/gateway/auth"
)

const (
	maxIDLen    = 128
	backupChunk = 1 << 20
)

// Options configure a Server. The zero value serves without
// authentication and discards logs.
type Options struct {
	// Logger receives the gateway's logs. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the gateway's metrics. Nil: not registered.
	Registerer prometheus.Registerer
	// Auth authenticates and authorizes calls. Nil: every caller is
	// "anonymous" with the admin role (loopback development only; serve
	// refuses that on other addresses).
	Auth *auth.Authorizer
	// APIAddress is the address the gRPC server listens on (for GetNode).
	APIAddress string
	// Version is the plantwin build version (for GetNode).
	Version string
	// TLS says whether the gRPC server uses TLS (for GetNode).
	TLS bool
	// Connectors returns the status of the node's edge connectors (nil:
	// none).
	Connectors func() []edge.Status
	// WatchBuffer is how many changes a watch stream may fall behind
	// before it lags and resyncs. Default 4096.
	WatchBuffer int
	// Reload re-reads and applies the node's configuration (ReloadConfig);
	// nil: the node has nothing to reload.
	Reload func() (*pb.ReloadConfigResponse, error)
}

// Server implements the plantwin.v1 services on a runtime.
type Server struct {
	pb.UnimplementedTwinServiceServer
	pb.UnimplementedModelServiceServer
	pb.UnimplementedNodeServiceServer
	pb.UnimplementedAdminServiceServer
	pb.UnimplementedEdgeServiceServer

	rt     *actors.Runtime
	opts   Options
	log    *slog.Logger
	auth   *auth.Authorizer
	health *health.Server
	met    *metrics
	ids    []string // declared twin ids, sorted
	index  *index

	ready    atomic.Bool
	watchers atomic.Int32
	stop     chan struct{} // closed by Shutdown: watches end
	stopOnce sync.Once
}

// New returns a server for rt. Health reports NOT_SERVING until
// SetServing is called.
func New(rt *actors.Runtime, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = 4096
	}
	if opts.Auth == nil {
		opts.Auth = auth.New(auth.Config{Logger: opts.Logger, Policy: Policy(), Open: OpenMethods()})
	}
	s := &Server{rt: rt, opts: opts, log: opts.Logger, auth: opts.Auth, health: health.NewServer(), stop: make(chan struct{})}
	s.met = newMetrics(opts.Registerer)
	s.index = newIndex(rt.Twins())
	s.ids = s.index.all
	s.SetServing(false)
	rt.ServeForwardedReads(s.answerForwarded)
	return s
}

// ServerOptions returns the interceptors that authenticate and authorize
// every call; pass them to grpc.NewServer.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.met.unary, s.auth.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(s.met.stream, s.auth.StreamInterceptor()),
	}
}

// Register adds the services, health and reflection to g.
func (s *Server) Register(g *grpc.Server) {
	pb.RegisterTwinServiceServer(g, s)
	pb.RegisterModelServiceServer(g, s)
	pb.RegisterNodeServiceServer(g, s)
	pb.RegisterAdminServiceServer(g, s)
	pb.RegisterEdgeServiceServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
}

// services whose health follows readiness.
var services = []string{
	"",
	pb.TwinService_ServiceDesc.ServiceName,
	pb.ModelService_ServiceDesc.ServiceName,
	pb.NodeService_ServiceDesc.ServiceName,
	pb.AdminService_ServiceDesc.ServiceName,
	pb.EdgeService_ServiceDesc.ServiceName,
}

// SetServing flips health to SERVING (true) or NOT_SERVING.
func (s *Server) SetServing(ok bool) {
	s.ready.Store(ok)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range services {
		s.health.SetServingStatus(name, st)
	}
}

// Shutdown sets every service NOT_SERVING, ends health watches and
// WatchTwins streams (UNAVAILABLE, so clients reconnect elsewhere), so
// that a graceful stop of the gRPC server does not wait for them.
func (s *Server) Shutdown() {
	s.ready.Store(false)
	s.health.Shutdown()
	s.stopOnce.Do(func() { close(s.stop) })
}

func validID(field, id string) error {
	if id == "" {
		return invalid(field, "must not be empty")
	}
	if len(id) > maxIDLen {
		return invalid(field, "longer than 128 bytes")
	}
	return nil
}

// caller names the authenticated caller, for the journal and logs.
func caller(ctx context.Context) string {
	if id, ok := auth.FromContext(ctx); ok && id.Name != "" {
		return id.Name
	}
	return "anonymous"
}

// ReloadConfig re-reads and applies the node's configuration file.
func (s *Server) ReloadConfig(ctx context.Context, _ *pb.ReloadConfigRequest) (*pb.ReloadConfigResponse, error) {
	if s.opts.Reload == nil {
		return nil, status.Error(codes.FailedPrecondition, "this node runs without a --config file: nothing to reload")
	}
	resp, err := s.opts.Reload()
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.log.Info("configuration reloaded", "caller", caller(ctx))
	return resp, nil
}

// Backup checkpoints the store and streams the checkpoint's files.
func (s *Server) Backup(_ *pb.BackupRequest, stream pb.AdminService_BackupServer) error {
	tmp, err := os.MkdirTemp("", "plantwin-backup-")
	if err != nil {
		return toStatus(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "checkpoint")
	if err := s.rt.Store().Checkpoint(dir); err != nil {
		return toStatus(err)
	}
	var total int64
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, backupChunk)
		var off int64
		for {
			n, rerr := io.ReadFull(f, buf)
			if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
				return rerr
			}
			last := rerr != nil
			if n > 0 || last {
				if err := stream.Send(&pb.BackupChunk{Path: filepath.ToSlash(rel), Offset: off, Data: buf[:n], Last: last}); err != nil {
					return err
				}
			}
			off += int64(n)
			total += int64(n)
			if last {
				return nil
			}
		}
	})
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		return toStatus(err)
	}
	s.log.Info("backup streamed", "bytes", total, "caller", caller(stream.Context()))
	return stream.Send(&pb.BackupChunk{Done: true, TotalBytes: total})
}
