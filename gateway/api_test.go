package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

func dv(f float64) *pb.Value { return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: f}} }

// TestBadRequests: each bad request gets the right code and a message
// naming the field.
func TestBadRequests(t *testing.T) {
	e := start(t)
	e.apply(t, "pump-a01", 1) // version 1
	hour := timestamppb.New(time.Now().Add(-time.Hour))
	watch := func(req *pb.WatchTwinsRequest) error {
		s, err := e.tc.WatchTwins(ctx(t), req)
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string // the message must start with it
	}{
		{"malformed filter", func() error {
			_, err := e.tc.ListTwins(ctx(t), &pb.ListTwinsRequest{Filter: "reported.flow.value >"})
			return err
		}, codes.InvalidArgument, "filter: line 1, column "},
		{"undeclared variable in filter", func() error {
			_, err := e.tc.ListTwins(ctx(t), &pb.ListTwinsRequest{Filter: "\nfoo == 1"})
			return err
		}, codes.InvalidArgument, "filter: line 2, column 1"},
		{"non-boolean filter", func() error {
			_, err := e.tc.ListTwins(ctx(t), &pb.ListTwinsRequest{Filter: "1 + 2"})
			return err
		}, codes.InvalidArgument, "filter: "},
		{"huge page size", func() error {
			_, err := e.tc.ListTwins(ctx(t), &pb.ListTwinsRequest{PageSize: 1 << 30})
			return err
		}, codes.InvalidArgument, "page_size: "},
		{"page token from another filter", func() error {
			resp, err := e.tc.ListTwins(ctx(t), &pb.ListTwinsRequest{PageSize: 1})
			if err != nil {
				return err
			}
			_, err = e.tc.ListTwins(ctx(t), &pb.ListTwinsRequest{Model: "pump", PageToken: resp.NextPageToken})
			return err
		}, codes.InvalidArgument, "page_token: "},
		{"unknown twin", func() error {
			_, err := e.tc.GetTwin(ctx(t), &pb.GetTwinRequest{Id: "pump-zz"})
			return err
		}, codes.NotFound, ""},
		{"unknown twin in watch ids", func() error {
			return watch(&pb.WatchTwinsRequest{Ids: []string{"pump-a01", "nope"}})
		}, codes.NotFound, "ids[1]: "},
		{"malformed filter in watch", func() error {
			return watch(&pb.WatchTwinsRequest{Filter: "reported.("})
		}, codes.InvalidArgument, "filter: line 1"},
		{"too short heartbeat", func() error {
			return watch(&pb.WatchTwinsRequest{HeartbeatInterval: durationpb.New(time.Millisecond)})
		}, codes.InvalidArgument, "heartbeat_interval: "},
		{"stale expected version", func() error {
			_, err := e.tc.UpdateDesired(ctx(t), &pb.UpdateDesiredRequest{TwinId: "pump-a01", ExpectedVersion: 7, Values: map[string]*pb.Value{"setpoint": dv(1)}})
			return err
		}, codes.Aborted, "expected_version: "},
		{"desired on a read-only property", func() error {
			_, err := e.tc.UpdateDesired(ctx(t), &pb.UpdateDesiredRequest{TwinId: "pump-a01", Values: map[string]*pb.Value{"flow": dv(1)}})
			return err
		}, codes.FailedPrecondition, "values: "},
		{"desired out of range", func() error {
			_, err := e.tc.UpdateDesired(ctx(t), &pb.UpdateDesiredRequest{TwinId: "pump-a01", Values: map[string]*pb.Value{"setpoint": dv(1e9)}})
			return err
		}, codes.InvalidArgument, "values: "},
		{"desired without values", func() error {
			_, err := e.tc.UpdateDesired(ctx(t), &pb.UpdateDesiredRequest{TwinId: "pump-a01"})
			return err
		}, codes.InvalidArgument, "values: "},
		{"desired value unset", func() error {
			_, err := e.tc.UpdateDesired(ctx(t), &pb.UpdateDesiredRequest{TwinId: "pump-a01", Values: map[string]*pb.Value{"setpoint": {}}})
			return err
		}, codes.InvalidArgument, "values[setpoint]: "},
		{"desired on unknown twin", func() error {
			_, err := e.tc.UpdateDesired(ctx(t), &pb.UpdateDesiredRequest{TwinId: "nope", Values: map[string]*pb.Value{"setpoint": dv(1)}})
			return err
		}, codes.NotFound, ""},
		{"history of unknown property", func() error {
			_, err := e.tc.GetHistory(ctx(t), &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "nope", StartTime: hour})
			return err
		}, codes.InvalidArgument, "property: "},
		{"history without start", func() error {
			_, err := e.tc.GetHistory(ctx(t), &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow"})
			return err
		}, codes.InvalidArgument, "start_time: "},
		{"history with too many buckets", func() error {
			_, err := e.tc.GetHistory(ctx(t), &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow", StartTime: hour, Step: durationpb.New(time.Millisecond)})
			return err
		}, codes.InvalidArgument, "step: "},
		{"history end before start", func() error {
			_, err := e.tc.GetHistory(ctx(t), &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow", StartTime: hour, EndTime: timestamppb.New(hour.AsTime().Add(-time.Second))})
			return err
		}, codes.InvalidArgument, "end_time: "},
		{"history huge page", func() error {
			_, err := e.tc.GetHistory(ctx(t), &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow", StartTime: hour, PageSize: 1 << 20})
			return err
		}, codes.InvalidArgument, "page_size: "},
		{"unknown model", func() error {
			_, err := pb.NewModelServiceClient(e.conn).GetModel(ctx(t), &pb.GetModelRequest{Name: "nope"})
			return err
		}, codes.NotFound, "name: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.HasPrefix(st.Message(), tc.field) {
				t.Fatalf("got %v: %q, want %v starting %q", st.Code(), st.Message(), tc.code, tc.field)
			}
		})
	}
}

func TestListTwinsWithStateFilter(t *testing.T) {
	e := start(t)
	for i, id := range []string{"pump-a01", "pump-a02", "pump-a03", "pump-b01", "pump-b02", "pump-b03"} {
		e.apply(t, id, float64(10*(i+1))) // 10..60
	}
	var got []string
	req := &pb.ListTwinsRequest{Filter: `has(reported.flow) && reported.flow.value >= 20 && reported.flow.value < 60`, PageSize: 2}
	pages := 0
	for {
		resp, err := e.tc.ListTwins(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalSize != nil {
			t.Fatalf("total_size set for a state filter: %d", resp.GetTotalSize())
		}
		pages++
		for _, tw := range resp.Twins {
			got = append(got, tw.Id)
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if diff := cmp.Diff([]string{"pump-a02", "pump-a03", "pump-b01", "pump-b02"}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if pages != 2 {
		t.Fatalf("%d pages, want 2", pages)
	}
	// A static CEL filter knows its total.
	resp, err := e.tc.ListTwins(ctx(t), &pb.ListTwinsRequest{Filter: `model == "pump" && id.endsWith("1")`})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTotalSize() != 2 || len(resp.Twins) != 2 {
		t.Fatalf("static filter: total %d, %d twins", resp.GetTotalSize(), len(resp.Twins))
	}
}

func TestGetHistoryRawAndBuckets(t *testing.T) {
	e := start(t)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Minute)
	for i := range 120 { // one sample every 10s for 20 minutes: 0..119
		s := &pb.Sample{Property: "flow", Value: dv(float64(i)), SourceTimeUnixNano: base.Add(time.Duration(i) * 10 * time.Second).UnixNano()}
		if i == 7 {
			s.Quality = pb.Quality_QUALITY_BAD
			s.Value = dv(499)
		}
		if _, err := e.rt.Apply(ctx(t), &pb.ApplyTelemetry{TwinId: "pump-a01", Samples: []*pb.Sample{s}}); err != nil {
			t.Fatal(err)
		}
	}
	// Raw, paged by 50.
	var values []float64
	req := &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow", StartTime: timestamppb.New(base), PageSize: 50}
	for {
		resp, err := e.tc.GetHistory(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Points {
			values = append(values, p.Value.GetDoubleValue())
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if len(values) != 120 || values[0] != 0 || values[119] != 119 {
		t.Fatalf("raw: %d values, first %v last %v", len(values), values[0], values[len(values)-1])
	}
	// Buckets of one minute over the first 3 minutes: 6 samples each.
	resp, err := e.tc.GetHistory(ctx(t), &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow",
		StartTime: timestamppb.New(base), EndTime: timestamppb.New(base.Add(3 * time.Minute)), Step: durationpb.New(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	type bucket struct {
		Start               time.Time
		Count               int64
		Min, Max, Avg, Last float64
	}
	var got []bucket
	for _, b := range resp.Buckets {
		got = append(got, bucket{b.StartTime.AsTime(), b.Count, b.GetMin(), b.GetMax(), b.GetAvg(), b.Last.GetDoubleValue()})
	}
	want := []bucket{
		{base.UTC(), 6, 0, 5, 2.5, 5},
		// Sample 7 has bad quality: counted, and last-but-not-least, but not in min/max/avg.
		{base.Add(time.Minute).UTC(), 6, 6, 11, (6 + 8 + 9 + 10 + 11) / 5.0, 11},
		{base.Add(2 * time.Minute).UTC(), 6, 12, 17, 14.5, 17},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("buckets (-want +got):\n%s", diff)
	}

	// A read another member forwards here answers the same, errors as
	// their gRPC status.
	page := &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "flow", StartTime: timestamppb.New(base), PageSize: 50}
	direct, err := e.tc.GetHistory(ctx(t), page)
	if err != nil {
		t.Fatal(err)
	}
	fwd := e.srv.answerForwarded(&pb.ForwardedRead{Request: &pb.ForwardedRead_GetHistory{GetHistory: page}})
	if fwd.Code != 0 || !proto.Equal(fwd.GetGetHistory(), direct) {
		t.Errorf("forwarded history: code %d %q, equal %v", fwd.Code, fwd.Message, proto.Equal(fwd.GetGetHistory(), direct))
	}
	bad := e.srv.answerForwarded(&pb.ForwardedRead{Request: &pb.ForwardedRead_GetHistory{GetHistory: &pb.GetHistoryRequest{TwinId: "pump-a01", Property: "nope", StartTime: timestamppb.New(base)}}})
	if codes.Code(bad.Code) != codes.InvalidArgument || !strings.Contains(bad.Message, "nope") {
		t.Errorf("forwarded bad history request: code %v %q", codes.Code(bad.Code), bad.Message)
	}
	if empty := e.srv.answerForwarded(&pb.ForwardedRead{}); codes.Code(empty.Code) != codes.InvalidArgument {
		t.Errorf("forwarded empty read: code %v %q", codes.Code(empty.Code), empty.Message)
	}
}

func TestModelsAndNode(t *testing.T) {
	e := start(t)
	e.srv.SetServing(true)
	ms, err := pb.NewModelServiceClient(e.conn).ListModels(ctx(t), &pb.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms.Models {
		names = append(names, m.Name)
	}
	if diff := cmp.Diff([]string{"line", "pump"}, names); diff != "" {
		t.Fatalf("models (-want +got):\n%s", diff)
	}
	m, err := pb.NewModelServiceClient(e.conn).GetModel(ctx(t), &pb.GetModelRequest{Name: "pump"})
	if err != nil {
		t.Fatal(err)
	}
	if m.TwinCount != 10 || len(m.Properties) != 3 || !m.Properties[1].Writable || m.Properties[0].GetMax() != 500 || len(m.Properties[2].EnumValues) != 2 {
		t.Fatalf("pump model = %v", m)
	}
	n, err := pb.NewNodeServiceClient(e.conn).GetNode(ctx(t), &pb.GetNodeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Ready || n.DeclaredTwins != 12 || n.NodeId == "" || n.ActorAddress == "" || n.GossipAddress == "" || n.AuthEnabled {
		t.Fatalf("node = %v", n)
	}
}
