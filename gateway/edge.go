package gateway

import (
	"context"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
)

// ListConnectors returns the status of the node's edge connectors.
func (s *Server) ListConnectors(context.Context, *pb.ListConnectorsRequest) (*pb.ListConnectorsResponse, error) {
	resp := &pb.ListConnectorsResponse{}
	if s.opts.Connectors == nil {
		return resp, nil
	}
	for _, st := range s.opts.Connectors() {
		resp.Connectors = append(resp.Connectors, connectorToProto(st))
	}
	sort.Slice(resp.Connectors, func(i, j int) bool { return resp.Connectors[i].Name < resp.Connectors[j].Name })
	return resp, nil
}

func connectorToProto(st edge.Status) *pb.ConnectorStatus {
	c := &pb.ConnectorStatus{
		Name:             st.Name,
		Protocol:         st.Protocol,
		Endpoint:         st.Endpoint,
		State:            st.State.String(),
		LastError:        st.LastError,
		Reconnects:       st.Reconnects,
		ReadErrors:       st.ReadErrors,
		Samples:          st.Sink.Samples,
		Accepted:         st.Sink.Accepted,
		Rejected:         st.Sink.Rejected,
		FailedBatches:    st.Sink.FailedBatches,
		SamplesPerSecond: st.Sink.PerSecond,
		Restarts:         st.Restarts,
		OutboxBacklog:    st.Sink.Backlog,
		OutboxLost:       st.Sink.Lost,
	}
	if !st.Since.IsZero() {
		c.StateSince = timestamppb.New(st.Since)
	}
	if !st.LastErrorTime.IsZero() {
		c.LastErrorTime = timestamppb.New(st.LastErrorTime)
	}
	return c
}
