package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/gateway/query"
	"github.com/plantwin/plantwin/twins"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
	maxLabels       = 32
	maxDesired      = 64
	// scanBatch twins' states are read at a time while a state filter
	// scans.
	scanBatch = 256
)

// selector is a validated twin filter: the declared (static) part decides
// from the spec, the CEL filter may also need live state.
type selector struct {
	model, parent string
	labels        map[string]string
	ids           map[string]bool // nil: any id
	filter        *query.Filter   // nil: none
	desc          string          // canonical form, for page tokens
}

// newSelector validates the filter fields of a request; errors are
// InvalidArgument naming the field.
func (s *Server) newSelector(model, parent string, labels map[string]string, ids []string, expr string) (*selector, error) {
	sel := &selector{model: model, parent: parent, labels: labels}
	if model != "" {
		if _, ok := s.rt.Twins().Model(model); !ok {
			return nil, invalid("model", fmt.Sprintf("no model named %q", model))
		}
	}
	if len(parent) > maxIDLen {
		return nil, invalid("parent", "longer than 128 bytes")
	}
	if len(labels) > maxLabels {
		return nil, invalid("labels", fmt.Sprintf("%d labels, at most %d", len(labels), maxLabels))
	}
	for k, v := range labels {
		if k == "" || len(k) > maxIDLen || len(v) > 1024 {
			return nil, invalid("labels", fmt.Sprintf("label %.40q: keys 1-128 bytes, values at most 1024 bytes", k))
		}
	}
	if len(ids) > 0 {
		if len(ids) > len(s.ids) {
			return nil, invalid("ids", fmt.Sprintf("%d ids, more than the %d declared twins", len(ids), len(s.ids)))
		}
		sel.ids = make(map[string]bool, len(ids))
		for i, id := range ids {
			if err := validID(fmt.Sprintf("ids[%d]", i), id); err != nil {
				return nil, err
			}
			if _, ok := s.rt.Twins().Twin(id); !ok {
				return nil, status.Errorf(codes.NotFound, "ids[%d]: no twin %q", i, id)
			}
			sel.ids[id] = true
		}
	}
	if expr != "" {
		f, err := query.Compile(expr)
		if err != nil {
			return nil, invalid("filter", err.Error())
		}
		sel.filter = f
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k+"="+labels[k])
	}
	sort.Strings(keys)
	idList := make([]string, 0, len(sel.ids))
	for id := range sel.ids {
		idList = append(idList, id)
	}
	sort.Strings(idList)
	sel.desc = strings.Join([]string{model, parent, strings.Join(keys, ","), strings.Join(idList, ","), expr}, "\x00")
	return sel, nil
}

// dynamic reports whether deciding a match needs the twin's live state.
func (sel *selector) dynamic() bool { return sel.filter != nil && !sel.filter.Static() }

// matchSpec decides the declared part; for a dynamic filter it is a
// necessary, not a sufficient, condition.
func (sel *selector) matchSpec(t *twins.Spec) bool {
	if sel.model != "" && t.ModelName != sel.model {
		return false
	}
	if sel.parent != "" && t.Parent != sel.parent {
		return false
	}
	for k, v := range sel.labels {
		if t.Labels[k] != v {
			return false
		}
	}
	if sel.ids != nil && !sel.ids[t.ID] {
		return false
	}
	if sel.filter != nil && sel.filter.Static() {
		ok, err := sel.filter.MatchSpec(t)
		return ok && err == nil
	}
	return true
}

// matchState decides the dynamic part on a twin's state (the spec part
// must already hold).
func (s *Server) matchState(sel *selector, st *twins.State, active bool) bool {
	if !sel.dynamic() {
		return true
	}
	ok, err := sel.filter.Match(st, active)
	if err != nil {
		s.met.filterErrors.Inc()
		return false
	}
	return ok
}

// index maps the declared fields of twins to their ids (sorted), so that a
// selector starts from the smallest matching list instead of every twin.
type index struct {
	all      []string
	byModel  map[string][]string
	byParent map[string][]string
	byLabel  map[string]map[string][]string
}

func newIndex(cfg *twins.Config) *index {
	ix := &index{byModel: map[string][]string{}, byParent: map[string][]string{}, byLabel: map[string]map[string][]string{}}
	for _, t := range cfg.Twins {
		ix.all = append(ix.all, t.ID)
	}
	sort.Strings(ix.all)
	for _, id := range ix.all {
		t, _ := cfg.Twin(id)
		ix.byModel[t.ModelName] = append(ix.byModel[t.ModelName], id)
		if t.Parent != "" {
			ix.byParent[t.Parent] = append(ix.byParent[t.Parent], id)
		}
		for k, v := range t.Labels {
			if ix.byLabel[k] == nil {
				ix.byLabel[k] = map[string][]string{}
			}
			ix.byLabel[k][v] = append(ix.byLabel[k][v], id)
		}
	}
	return ix
}

// narrow returns the shortest id list that holds every twin with these
// equalities (model, parent, labels; "" constrains nothing).
func (ix *index) narrow(best []string, model, parent string, labels map[string]string) []string {
	try := func(l []string) {
		if len(l) < len(best) {
			best = l
		}
	}
	if model != "" {
		try(ix.byModel[model])
	}
	if parent != "" {
		try(ix.byParent[parent])
	}
	for k, v := range labels {
		try(ix.byLabel[k][v])
	}
	return best
}

// candidates returns the ids (sorted) whose spec matches.
func (s *Server) candidates(sel *selector) []string {
	cfg := s.rt.Twins()
	base := s.index.narrow(s.index.all, sel.model, sel.parent, sel.labels)
	if sel.filter != nil {
		h := sel.filter.Hints()
		base = s.index.narrow(base, h.Model, h.Parent, h.Labels)
		if h.ID != "" {
			if _, ok := cfg.Twin(h.ID); !ok {
				return nil
			}
			base = []string{h.ID}
		}
	}
	if sel.ids != nil && len(sel.ids) < len(base) {
		base = make([]string, 0, len(sel.ids))
		for id := range sel.ids {
			base = append(base, id)
		}
		sort.Strings(base)
	}
	var out []string
	for _, id := range base {
		if spec, _ := cfg.Twin(id); sel.matchSpec(spec) {
			out = append(out, id)
		}
	}
	return out
}

// GetTwin returns one twin's acknowledged state.
func (s *Server) GetTwin(ctx context.Context, req *pb.GetTwinRequest) (*pb.Twin, error) {
	if err := validID("id", req.GetId()); err != nil {
		return nil, err
	}
	t, err := s.rt.GetTwin(ctx, req.GetId())
	return t, toStatus(err)
}

// pageToken encodes the last id of a page and a fingerprint of the filter,
// so a token cannot be replayed against another filter by mistake.
func pageToken(sel *selector, last string) string {
	h := fnv.New64a()
	h.Write([]byte(sel.desc))
	b := binary.BigEndian.AppendUint64(nil, h.Sum64())
	return base64.RawURLEncoding.EncodeToString(append(b, last...))
}

func parsePageToken(sel *selector, tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) <= 8 {
		return "", invalid("page_token", "malformed; pass next_page_token of the previous page")
	}
	h := fnv.New64a()
	h.Write([]byte(sel.desc))
	if binary.BigEndian.Uint64(b[:8]) != h.Sum64() {
		return "", invalid("page_token", "belongs to a request with another filter")
	}
	return string(b[8:]), nil
}

func pageSize(field string, n, def, limit int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalid(field, "must not be negative")
	case n == 0:
		return int(def), nil
	case n > limit:
		return 0, invalid(field, fmt.Sprintf("%d is more than the maximum %d", n, limit))
	}
	return int(n), nil
}

// ListTwins returns declared twins ordered by id, filtered, a page at a time.
func (s *Server) ListTwins(ctx context.Context, req *pb.ListTwinsRequest) (*pb.ListTwinsResponse, error) {
	size, err := pageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	if err != nil {
		return nil, err
	}
	sel, err := s.newSelector(req.GetModel(), req.GetParent(), req.GetLabels(), nil, req.GetFilter())
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(sel, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	cands := s.candidates(sel)
	start := sort.SearchStrings(cands, after)
	if start < len(cands) && cands[start] == after {
		start++
	}
	resp := &pb.ListTwinsResponse{}
	if !sel.dynamic() {
		resp.TotalSize = proto.Int32(int32(len(cands)))
		end := min(start+size, len(cands))
		states, err := s.readStates(ctx, cands[start:end])
		if err != nil {
			return nil, err
		}
		for _, rs := range states {
			resp.Twins = append(resp.Twins, actors.TwinToProto(rs.st, rs.active))
		}
		if end < len(cands) {
			resp.NextPageToken = pageToken(sel, cands[end-1])
		}
		return resp, nil
	}
	// A state filter: read states in batches until the page is full.
	for i := start; i < len(cands); i += scanBatch {
		batch := cands[i:min(i+scanBatch, len(cands))]
		states, err := s.readStates(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, rs := range states {
			if !s.matchState(sel, rs.st, rs.active) {
				continue
			}
			if len(resp.Twins) == size {
				resp.NextPageToken = pageToken(sel, resp.Twins[size-1].Id)
				return resp, nil
			}
			resp.Twins = append(resp.Twins, actors.TwinToProto(rs.st, rs.active))
		}
	}
	return resp, nil
}

type readState struct {
	st       *twins.State
	active   bool
	logEpoch uint64 // see actors.TwinRead
}

// readStates reads the acknowledged states of ids, in order (a cluster's
// fan-out: actors.Runtime.States).
func (s *Server) readStates(ctx context.Context, ids []string) ([]readState, error) {
	reads, err := s.rt.States(ctx, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	out := make([]readState, len(reads))
	for i, rd := range reads {
		out[i] = readState{rd.State, rd.Active, rd.LogEpoch}
	}
	return out, nil
}

// UpdateDesired sets desired values, all or none, as the caller.
func (s *Server) UpdateDesired(ctx context.Context, req *pb.UpdateDesiredRequest) (*pb.UpdateDesiredResponse, error) {
	if err := validID("twin_id", req.GetTwinId()); err != nil {
		return nil, err
	}
	if len(req.GetValues()) == 0 {
		return nil, invalid("values", "must name at least one property")
	}
	if len(req.GetValues()) > maxDesired {
		return nil, invalid("values", fmt.Sprintf("%d values, at most %d", len(req.GetValues()), maxDesired))
	}
	for k, v := range req.GetValues() {
		if k == "" || len(k) > maxIDLen {
			return nil, invalid("values", "property names must be 1-128 bytes")
		}
		if v.GetKind() == nil {
			return nil, invalid(fmt.Sprintf("values[%s]", k), "no value set")
		}
	}
	if req.GetExpectedVersion() < 0 {
		return nil, invalid("expected_version", "must not be negative")
	}
	who := caller(ctx)
	rep, err := s.rt.SetDesired(ctx, req.GetTwinId(), req.GetValues(), req.GetExpectedVersion(), who)
	if err != nil {
		switch {
		case errors.Is(err, twins.ErrVersionConflict):
			return nil, withField("expected_version", err)
		case errors.Is(err, twins.ErrUnknownProperty), errors.Is(err, twins.ErrNotWritable), errors.Is(err, twins.ErrInvalidValue):
			return nil, withField("values", err)
		}
		return nil, toStatus(err)
	}
	s.met.desired.Inc()
	s.log.Info("desired values set", "twin", req.GetTwinId(), "version", rep.Version, "caller", who)
	t, err := s.rt.GetTwin(ctx, req.GetTwinId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.UpdateDesiredResponse{Version: rep.Version, Twin: t}, nil
}
