package gateway

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// forward sends a history or audit read of twin id to a member whose
// store holds the twin's acknowledged log, when this node's store may not
// (a replica of several that lags). ok is false when this node answers
// itself. The caller's rights were checked here; the member answers from
// its own store.
func (s *Server) forward(ctx context.Context, id string, req *pb.ForwardedRead) (rep *pb.ForwardedReadReply, ok bool, err error) {
	node, err := s.rt.LogHolder(ctx, id)
	if err != nil {
		return nil, false, toStatus(err)
	}
	if node == "" {
		return nil, false, nil
	}
	rep, err = s.rt.Forward(ctx, node, req)
	if err != nil {
		return nil, false, toStatus(err)
	}
	if rep.Code != 0 {
		return nil, false, status.Error(codes.Code(rep.Code), rep.Message)
	}
	s.log.Debug("read forwarded", "twin", id, "node", node)
	return rep, true, nil
}

// answerForwarded answers a read another member forwarded to this node,
// from this node's store.
func (s *Server) answerForwarded(req *pb.ForwardedRead) *pb.ForwardedReadReply {
	var (
		rep = &pb.ForwardedReadReply{}
		err error
	)
	switch r := req.Request.(type) {
	case *pb.ForwardedRead_GetHistory:
		var h *pb.GetHistoryResponse
		if h, err = s.historyLocal(r.GetHistory); err == nil {
			rep.Response = &pb.ForwardedReadReply_GetHistory{GetHistory: h}
		}
	case *pb.ForwardedRead_GetAudit:
		var a *pb.GetAuditResponse
		if a, err = s.auditLocal(r.GetAudit); err == nil {
			rep.Response = &pb.ForwardedReadReply_GetAudit{GetAudit: a}
		}
	default:
		err = status.Error(codes.InvalidArgument, "forwarded read: no request, or one this node does not know")
	}
	if err != nil {
		st := status.Convert(err)
		rep.Code, rep.Message = int32(st.Code()), st.Message()
	}
	return rep
}
