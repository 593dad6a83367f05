package gateway

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
	maxIDLen        = 128
	backupChunk     = 1 << 20
)

// Server implements the plantwin.v1 services on a runtime.
type Server struct {
	pb.UnimplementedTwinServiceServer
	pb.UnimplementedAdminServiceServer

	rt     *actors.Runtime
	log    *slog.Logger
	health *health.Server
	ids    []string // declared twin ids, sorted
}

// New returns a server for rt. Health reports NOT_SERVING until
// SetServing is called.
func New(rt *actors.Runtime, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{rt: rt, log: log, health: health.NewServer()}
	for _, t := range rt.Twins().Twins {
		s.ids = append(s.ids, t.ID)
	}
	sort.Strings(s.ids)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(pb.TwinService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// Register adds the services, health and reflection to g.
func (s *Server) Register(g *grpc.Server) {
	pb.RegisterTwinServiceServer(g, s)
	pb.RegisterAdminServiceServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
}

// SetServing flips health to SERVING (true) or NOT_SERVING.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(pb.TwinService_ServiceDesc.ServiceName, st)
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

// GetTwin returns one twin's acknowledged state.
func (s *Server) GetTwin(ctx context.Context, req *pb.GetTwinRequest) (*pb.Twin, error) {
	if err := validID("id", req.GetId()); err != nil {
		return nil, err
	}
	t, err := s.rt.GetTwin(ctx, req.GetId())
	return t, toStatus(err)
}

// ListTwins returns declared twins ordered by id, filtered, a page at a time.
func (s *Server) ListTwins(ctx context.Context, req *pb.ListTwinsRequest) (*pb.ListTwinsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalid("page_size", "must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	after := ""
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) == 0 {
			return nil, invalid("page_token", "malformed; pass next_page_token of the previous page")
		}
		after = string(b)
	}
	if m := req.GetModel(); m != "" {
		if _, ok := s.rt.Twins().Model(m); !ok {
			return nil, invalid("model", "no model named "+m)
		}
	}
	cfg := s.rt.Twins()
	match := func(t *twins.Spec) bool {
		if req.GetModel() != "" && t.ModelName != req.GetModel() {
			return false
		}
		if req.GetParent() != "" && t.Parent != req.GetParent() {
			return false
		}
		for k, v := range req.GetLabels() {
			if t.Labels[k] != v {
				return false
			}
		}
		return true
	}
	start := sort.SearchStrings(s.ids, after)
	if start < len(s.ids) && s.ids[start] == after {
		start++
	}
	resp := &pb.ListTwinsResponse{}
	total := 0
	for _, id := range s.ids {
		if spec, _ := cfg.Twin(id); match(spec) {
			total++
		}
	}
	for _, id := range s.ids[start:] {
		spec, _ := cfg.Twin(id)
		if !match(spec) {
			continue
		}
		if len(resp.Twins) == size {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(resp.Twins[size-1].Id))
			break
		}
		t, err := s.rt.GetTwin(ctx, id)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Twins = append(resp.Twins, t)
	}
	resp.TotalSize = proto.Int32(int32(total))
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
	s.log.Info("backup streamed", "bytes", total)
	return stream.Send(&pb.BackupChunk{Done: true, TotalBytes: total})
}
