package gateway

import (
	"context"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	plcluster "github.com/plantwin/plantwin/cluster"
	"github.com/plantwin/plantwin/twins"
)

// ListModels returns every declared model, ordered by name.
func (s *Server) ListModels(context.Context, *pb.ListModelsRequest) (*pb.ListModelsResponse, error) {
	cfg := s.rt.Twins()
	counts := s.twinCounts()
	resp := &pb.ListModelsResponse{}
	for i := range cfg.Models {
		resp.Models = append(resp.Models, modelToProto(cfg.Models[i], counts[cfg.Models[i].Name]))
	}
	sort.Slice(resp.Models, func(i, j int) bool { return resp.Models[i].Name < resp.Models[j].Name })
	return resp, nil
}

// GetModel returns one model.
func (s *Server) GetModel(_ context.Context, req *pb.GetModelRequest) (*pb.Model, error) {
	if err := validID("name", req.GetName()); err != nil {
		return nil, err
	}
	m, ok := s.rt.Twins().Model(req.GetName())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "name: no model %q", req.GetName())
	}
	return modelToProto(m, s.twinCounts()[m.Name]), nil
}

func (s *Server) twinCounts() map[string]int32 {
	counts := make(map[string]int32)
	for _, t := range s.rt.Twins().Twins {
		counts[t.ModelName]++
	}
	return counts
}

func valueType(t twins.Type) pb.ValueType {
	switch t {
	case twins.TypeBool:
		return pb.ValueType_VALUE_TYPE_BOOL
	case twins.TypeInt:
		return pb.ValueType_VALUE_TYPE_INT
	case twins.TypeDouble:
		return pb.ValueType_VALUE_TYPE_DOUBLE
	case twins.TypeString:
		return pb.ValueType_VALUE_TYPE_STRING
	case twins.TypeEnum:
		return pb.ValueType_VALUE_TYPE_ENUM
	}
	return pb.ValueType_VALUE_TYPE_UNSPECIFIED
}

func modelToProto(m *twins.Model, count int32) *pb.Model {
	out := &pb.Model{Name: m.Name, Description: m.Description, TwinCount: count}
	for _, p := range m.Properties {
		out.Properties = append(out.Properties, &pb.PropertySpec{
			Name: p.Name, Description: p.Description, Unit: p.Unit, Type: valueType(p.Type),
			Min: p.Min, Max: p.Max, EnumValues: p.Enum, Writable: p.Writable,
		})
	}
	for _, c := range m.Commands {
		cs := &pb.CommandSpec{Name: c.Name, Description: c.Description}
		for _, a := range c.Parameters {
			cs.Parameters = append(cs.Parameters, &pb.ParameterSpec{
				Name: a.Name, Description: a.Description, Unit: a.Unit, Type: valueType(a.Type),
				Min: a.Min, Max: a.Max, EnumValues: a.Enum, Required: a.Required,
			})
		}
		out.Commands = append(out.Commands, cs)
	}
	return out
}

// ListMembers lists the cluster's members as this node sees them.
func (s *Server) ListMembers(context.Context, *pb.ListMembersRequest) (*pb.ListMembersResponse, error) {
	ro := s.rt.Roster()
	out := &pb.ListMembersResponse{RosterVersion: ro.Version, RosterJoint: ro.Joint}
	up := map[string]bool{}
	for _, m := range s.rt.Members() {
		_, in := ro.Member(m.Name)
		pm := &pb.Member{Name: m.Name, NodeId: m.ID, GossipAddress: m.GossipAddr, ActorAddress: m.ActorAddr, ApiAddress: m.APIAddr,
			Role: m.Role, Zone: m.Zone, State: m.State, Self: m.Self, InRoster: in}
		if !m.Start.IsZero() {
			pm.StartTime = timestamppb.New(m.Start)
		}
		up[m.Name] = true
		out.Members = append(out.Members, pm)
	}
	// Roster members gossip does not show are down: listed, so that an
	// operator sees which node is missing, not just fewer nodes.
	for _, rm := range append(append([]plcluster.RosterMember(nil), ro.Members...), ro.Next...) {
		if !up[rm.Name] {
			up[rm.Name] = true
			out.Members = append(out.Members, &pb.Member{Name: rm.Name, State: "down", GossipAddress: rm.GossipAddr, InRoster: true})
		}
	}
	return out, nil
}

// DrainNode hands the named member's twins (this node's when the name is
// empty) to the other members and answers once it runs none.
func (s *Server) DrainNode(ctx context.Context, req *pb.DrainNodeRequest) (*pb.DrainNodeResponse, error) {
	name := req.GetName()
	if name == "" {
		name = s.rt.NodeName()
	}
	moved, took, err := s.rt.DrainMember(ctx, name)
	if err != nil {
		return nil, toStatus(err)
	}
	s.log.Info("member drained", "member", name, "twins", moved, "took", took)
	return &pb.DrainNodeResponse{Name: name, TwinsMoved: int32(moved), TookNanos: int64(took)}, nil
}

// GetNode describes this node.
func (s *Server) GetNode(context.Context, *pb.GetNodeRequest) (*pb.Node, error) {
	n := &pb.Node{
		NodeId:        s.rt.NodeID(),
		Version:       s.opts.Version,
		ActorAddress:  s.rt.Address(),
		GossipAddress: s.rt.GossipAddress(),
		ApiAddress:    s.opts.APIAddress,
		StartTime:     timestamppb.New(s.rt.StartTime()),
		Ready:         s.ready.Load(),
		DeclaredTwins: int32(len(s.ids)),
		ActiveTwins:   int32(s.rt.ActiveTwins()),
		Models:        int32(len(s.rt.Twins().Models)),
		Watchers:      s.watchers.Load(),
		AuthEnabled:   s.auth.Enabled(),
		TlsEnabled:    s.opts.TLS,
	}
	if !n.Ready {
		n.NotReadyReason = "starting or shutting down"
	}
	return n, nil
}

// RemoveNode takes the named member out of the cluster's roster, this
// node coordinating.
func (s *Server) RemoveNode(ctx context.Context, req *pb.RemoveNodeRequest) (*pb.RemoveNodeResponse, error) {
	if err := validID("name", req.GetName()); err != nil {
		return nil, err
	}
	rm, err := s.rt.RemoveMember(req.GetName())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "remove node %s: %v", req.GetName(), err)
	}
	resp := &pb.RemoveNodeResponse{RosterVersion: rm.Roster.Version, TwinsMoved: int32(rm.Moved), TookNanos: int64(rm.Took)}
	for _, m := range rm.Roster.Members {
		resp.Members = append(resp.Members, m.Name)
	}
	s.log.Info("member removed from the roster", "member", req.GetName(), "roster_version", resp.RosterVersion, "twins_moved", rm.Moved, "took", rm.Took, "caller", caller(ctx))
	return resp, nil
}
