package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

const (
	defaultHistoryPage = 1000
	maxHistoryPage     = 10000
	maxBuckets         = 10000
	minStep            = time.Millisecond
)

var errPageFull = errors.New("page full")

// GetHistory returns a property's history, raw or in buckets.
func (s *Server) GetHistory(ctx context.Context, req *pb.GetHistoryRequest) (*pb.GetHistoryResponse, error) {
	if _, _, err := s.historyRange(req); err != nil {
		return nil, err
	}
	if rep, ok, err := s.forward(ctx, req.GetTwinId(), &pb.ForwardedRead{Request: &pb.ForwardedRead_GetHistory{GetHistory: req}}); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return rep.GetGetHistory(), nil
	}
	return s.historyLocal(req)
}

// historyRange checks a history request and returns its time range (an
// open end is now).
func (s *Server) historyRange(req *pb.GetHistoryRequest) (from, to int64, err error) {
	if err := validID("twin_id", req.GetTwinId()); err != nil {
		return 0, 0, err
	}
	spec, ok := s.rt.Twins().Twin(req.GetTwinId())
	if !ok {
		return 0, 0, status.Errorf(codes.NotFound, "twin_id: no twin %q", req.GetTwinId())
	}
	if req.GetProperty() == "" {
		return 0, 0, invalid("property", "must not be empty")
	}
	if _, ok := spec.Model.Property(req.GetProperty()); !ok {
		return 0, 0, invalid("property", fmt.Sprintf("model %s has no property %q", spec.ModelName, req.GetProperty()))
	}
	if req.GetStartTime() == nil {
		return 0, 0, invalid("start_time", "required")
	}
	if err := req.GetStartTime().CheckValid(); err != nil {
		return 0, 0, invalid("start_time", err.Error())
	}
	from = req.GetStartTime().AsTime().UnixNano()
	to = s.rt.Clock().Now().UnixNano()
	if req.GetEndTime() != nil {
		if err := req.GetEndTime().CheckValid(); err != nil {
			return 0, 0, invalid("end_time", err.Error())
		}
		to = req.GetEndTime().AsTime().UnixNano()
	}
	if from >= to {
		return 0, 0, invalid("end_time", "must be after start_time")
	}
	if req.GetStep() != nil {
		if err := req.GetStep().CheckValid(); err != nil {
			return 0, 0, invalid("step", err.Error())
		}
	}
	return from, to, nil
}

// historyLocal answers GetHistory from this node's store.
func (s *Server) historyLocal(req *pb.GetHistoryRequest) (*pb.GetHistoryResponse, error) {
	from, to, err := s.historyRange(req)
	if err != nil {
		return nil, err
	}
	if req.GetStep() != nil {
		return s.historyBuckets(req, from, to)
	}
	return s.historyRaw(req, from, to)
}

// historyFingerprint identifies a raw history request for its page
// tokens: twin, property and the range as asked (an open end stays open).
func historyFingerprint(req *pb.GetHistoryRequest) uint64 {
	h := fnv.New64a()
	var end int64
	if req.GetEndTime() != nil {
		end = req.GetEndTime().AsTime().UnixNano()
	}
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", req.GetTwinId(), req.GetProperty(), req.GetStartTime().AsTime().UnixNano(), end)
	return h.Sum64()
}

func (s *Server) historyRaw(req *pb.GetHistoryRequest, from, to int64) (*pb.GetHistoryResponse, error) {
	size, err := pageSize("page_size", req.GetPageSize(), defaultHistoryPage, maxHistoryPage)
	if err != nil {
		return nil, err
	}
	fp := historyFingerprint(req)
	var afterT, afterV int64
	resume := false
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) != 24 {
			return nil, invalid("page_token", "malformed; pass next_page_token of the previous page")
		}
		if binary.BigEndian.Uint64(b) != fp {
			return nil, invalid("page_token", "belongs to a request for another twin, property or range")
		}
		afterT, afterV = int64(binary.BigEndian.Uint64(b[8:])), int64(binary.BigEndian.Uint64(b[16:]))
		resume = true
		from = afterT
	}
	resp := &pb.GetHistoryResponse{}
	var last persistence.HistoryPoint
	err = s.rt.Store().ReadHistory(req.GetTwinId(), req.GetProperty(), from, to, func(p persistence.HistoryPoint) error {
		if resume && (p.SourceTime < afterT || (p.SourceTime == afterT && p.Version <= afterV)) {
			return nil
		}
		if len(resp.Points) == size {
			return errPageFull
		}
		var hv pb.HistoryValue
		if err := proto.Unmarshal(p.Data, &hv); err != nil {
			return fmt.Errorf("history of twin %s property %s at %d: %w", req.GetTwinId(), req.GetProperty(), p.SourceTime, err)
		}
		resp.Points = append(resp.Points, &pb.HistoryPoint{
			Value:      hv.Value,
			SourceTime: timestamppb.New(time.Unix(0, p.SourceTime)),
			ServerTime: timestamppb.New(time.Unix(0, hv.ServerTime)),
			Quality:    hv.Quality,
			Version:    p.Version,
		})
		last = p
		return nil
	})
	if errors.Is(err, errPageFull) {
		b := binary.BigEndian.AppendUint64(nil, fp)
		b = binary.BigEndian.AppendUint64(b, uint64(last.SourceTime))
		b = binary.BigEndian.AppendUint64(b, uint64(last.Version))
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
		return resp, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// historyBuckets aggregates into buckets aligned to multiples of step
// since the Unix epoch.
func (s *Server) historyBuckets(req *pb.GetHistoryRequest, from, to int64) (*pb.GetHistoryResponse, error) {
	step := req.GetStep().AsDuration()
	if step < minStep {
		return nil, invalid("step", fmt.Sprintf("%v is shorter than the minimum %v", step, minStep))
	}
	if req.GetPageToken() != "" {
		return nil, invalid("page_token", "downsampled history has no pages; narrow the range or widen the step")
	}
	st := int64(step)
	floor := func(t int64) int64 {
		q := t / st
		if t%st != 0 && t < 0 {
			q--
		}
		return q * st
	}
	first := floor(from)
	if n := (to-1-first)/st + 1; n > maxBuckets {
		return nil, invalid("step", fmt.Sprintf("%v over %v gives %d buckets, at most %d", step, time.Duration(to-from), n, maxBuckets))
	}
	resp := &pb.GetHistoryResponse{}
	var cur *pb.HistoryBucket
	var curStart int64
	var sum float64
	var numeric int64
	flush := func() {
		if cur == nil {
			return
		}
		if numeric > 0 {
			cur.Avg = proto.Float64(sum / float64(numeric))
		}
		resp.Buckets = append(resp.Buckets, cur)
		cur = nil
	}
	err := s.rt.Store().ReadHistory(req.GetTwinId(), req.GetProperty(), from, to, func(p persistence.HistoryPoint) error {
		var hv pb.HistoryValue
		if err := proto.Unmarshal(p.Data, &hv); err != nil {
			return fmt.Errorf("history of twin %s property %s at %d: %w", req.GetTwinId(), req.GetProperty(), p.SourceTime, err)
		}
		if b := floor(p.SourceTime); cur == nil || b != curStart {
			flush()
			curStart = b
			cur = &pb.HistoryBucket{StartTime: timestamppb.New(time.Unix(0, b))}
			sum, numeric = 0, 0
		}
		cur.Count++
		cur.Last, cur.LastQuality = hv.Value, hv.Quality
		if f, ok := numericValue(hv.Value); ok && hv.Quality == pb.Quality_QUALITY_GOOD {
			if cur.Min == nil || f < *cur.Min {
				cur.Min = proto.Float64(f)
			}
			if cur.Max == nil || f > *cur.Max {
				cur.Max = proto.Float64(f)
			}
			sum += f
			numeric++
		}
		return nil
	})
	if err != nil {
		return nil, toStatus(err)
	}
	flush()
	return resp, nil
}

func numericValue(v *pb.Value) (float64, bool) {
	switch k := v.GetKind().(type) {
	case *pb.Value_DoubleValue:
		return k.DoubleValue, !math.IsNaN(k.DoubleValue)
	case *pb.Value_IntValue:
		return float64(k.IntValue), true
	}
	return 0, false
}
