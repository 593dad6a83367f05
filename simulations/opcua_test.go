package simulations

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// startOPCUA starts a server with a few variables of every supported type.
func startOPCUA(t *testing.T) *OPCUAServer {
	t.Helper()
	s := NewOPCUAServer()
	for _, v := range []struct {
		name string
		val  any
	}{
		{"Pump1.Flow", 12.5},
		{"Pump1.Running", true},
		{"Pump1.Speed", int32(1450)},
		{"Pump1.Starts", int64(1 << 40)},
		{"Pump1.Temp", float32(41.5)},
		{"Pump1.Mode", "auto"},
	} {
		if err := s.AddVariable(v.name, v.val); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// dialOPCUA connects a gopcua client with security None and no
// auto-reconnect, so that a dropped connection shows as an error.
func dialOPCUA(ctx context.Context, t *testing.T, endpoint string) *opcua.Client {
	t.Helper()
	c, err := opcua.NewClient(endpoint,
		opcua.SecurityMode(ua.MessageSecurityModeNone),
		opcua.AuthAnonymous(),
		opcua.AutoReconnect(false),
		opcua.RequestTimeout(5*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func readValue(ctx context.Context, c *opcua.Client, nid *ua.NodeID) (*ua.DataValue, error) {
	resp, err := c.Read(ctx, &ua.ReadRequest{
		NodesToRead:        []*ua.ReadValueID{{NodeID: nid, AttributeID: ua.AttributeIDValue}},
		TimestampsToReturn: ua.TimestampsToReturnBoth,
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != 1 {
		return nil, errors.New("want 1 result")
	}
	if st := resp.Results[0].Status; st != ua.StatusOK {
		return nil, st
	}
	return resp.Results[0], nil
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOPCUAServerRead(t *testing.T) {
	ctx := testContext(t)
	s := startOPCUA(t)
	c := dialOPCUA(ctx, t, s.Endpoint())

	resp, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{
		{NodeID: ua.NewNumericNodeID(0, id.Server_NamespaceArray), AttributeID: ua.AttributeIDValue},
	}})
	if err != nil {
		t.Fatal(err)
	}
	uris, _ := resp.Results[0].Value.Value().([]string)
	if got := slices.Index(uris, OPCUANamespaceURI); got != int(s.Namespace()) || got != 2 {
		t.Errorf("namespace %q at index %d of %q, Namespace() = %d, want 2", OPCUANamespaceURI, got, uris, s.Namespace())
	}

	for _, tc := range []struct {
		node string
		want any
	}{
		{"ns=2;s=Pump1.Flow", 12.5},
		{"ns=2;s=Pump1.Running", true},
		{"ns=2;s=Pump1.Speed", int32(1450)},
		{"ns=2;s=Pump1.Starts", int64(1 << 40)},
		{"ns=2;s=Pump1.Temp", float32(41.5)},
		{"ns=2;s=Pump1.Mode", "auto"},
	} {
		t.Run(tc.node, func(t *testing.T) {
			dv, err := readValue(ctx, c, ua.MustParseNodeID(tc.node))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, dv.Value.Value()); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if dv.SourceTimestamp.IsZero() {
				t.Error("no source timestamp")
			}
		})
	}

	if _, err := readValue(ctx, c, ua.NewStringNodeID(2, "Pump1.Missing")); !errors.Is(err, ua.StatusBadNodeIDUnknown) {
		t.Errorf("read unknown node: %v, want %v", err, ua.StatusBadNodeIDUnknown)
	}
}

func TestOPCUAServerSubscription(t *testing.T) {
	ctx := testContext(t)
	s := startOPCUA(t)
	c := dialOPCUA(ctx, t, s.Endpoint())

	notes := make(chan *opcua.PublishNotificationData, 64)
	sub, err := c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: 20 * time.Millisecond}, notes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Cancel(context.Background()) })
	const flowHandle, modeHandle = 1, 2
	res, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth,
		opcua.NewMonitoredItemCreateRequestWithDefaults(ua.NewStringNodeID(s.Namespace(), "Pump1.Flow"), ua.AttributeIDValue, flowHandle),
		opcua.NewMonitoredItemCreateRequestWithDefaults(ua.NewStringNodeID(s.Namespace(), "Pump1.Mode"), ua.AttributeIDValue, modeHandle),
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Results {
		if r.StatusCode != ua.StatusOK {
			t.Fatalf("monitored item %d: %v", i, r.StatusCode)
		}
	}

	// await returns the first notification for handle that carries want,
	// remembering the others for later calls (initial values come first,
	// and several items share a notification).
	var seen []*ua.MonitoredItemNotification
	await := func(handle uint32, want any) *ua.DataValue {
		t.Helper()
		for {
			for _, item := range seen {
				if item.ClientHandle == handle && item.Value != nil && item.Value.Value != nil && item.Value.Value.Value() == want {
					return item.Value
				}
			}
			select {
			case n := <-notes:
				if n.Error != nil {
					t.Fatalf("subscription: %v", n.Error)
				}
				if dc, ok := n.Value.(*ua.DataChangeNotification); ok {
					seen = append(seen, dc.MonitoredItems...)
				}
			case <-ctx.Done():
				t.Fatalf("no notification of %v for handle %d", want, handle)
			}
		}
	}
	// Both items report their initial values first.
	await(flowHandle, 12.5)
	await(modeHandle, "auto")

	src := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.Set("Pump1.Flow", 17.25, src); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("Pump1.Mode", "manual", src.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := await(flowHandle, 17.25).SourceTimestamp; !got.Equal(src) {
		t.Errorf("flow source timestamp %v, want %v", got, src)
	}
	if got := await(modeHandle, "manual").SourceTimestamp; !got.Equal(src.Add(time.Second)) {
		t.Errorf("mode source timestamp %v, want %v", got, src.Add(time.Second))
	}
}

func TestOPCUAServerWrite(t *testing.T) {
	ctx := testContext(t)
	s := startOPCUA(t)
	c := dialOPCUA(ctx, t, s.Endpoint())

	write := func(name string, v any) ua.StatusCode {
		t.Helper()
		resp, err := c.Write(ctx, &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{
			NodeID:      ua.NewStringNodeID(s.Namespace(), name),
			AttributeID: ua.AttributeIDValue,
			Value:       &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Results[0]
	}

	for _, tc := range []struct {
		name       string
		variable   string
		write      any
		wantStatus ua.StatusCode
		want       any
	}{
		{"double", "Pump1.Flow", 3.75, ua.StatusOK, 3.75},
		{"bool", "Pump1.Running", false, ua.StatusOK, false},
		{"int32", "Pump1.Speed", int32(900), ua.StatusOK, int32(900)},
		{"string", "Pump1.Mode", "manual", ua.StatusOK, "manual"},
		{"wrong type", "Pump1.Speed", "fast", ua.StatusBadTypeMismatch, int32(900)},
		{"unknown", "Pump1.Missing", 1.0, ua.StatusBadNodeIDUnknown, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := write(tc.variable, tc.write); got != tc.wantStatus {
				t.Fatalf("write status %v, want %v", got, tc.wantStatus)
			}
			if tc.want == nil {
				return
			}
			got, err := s.Get(tc.variable)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Get after write (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOPCUAServerErrors(t *testing.T) {
	s := startOPCUA(t)
	if err := s.AddVariable("Late", 1.0); !errors.Is(err, ErrServerRunning) {
		t.Errorf("AddVariable while running: %v, want %v", err, ErrServerRunning)
	}
	if err := s.Set("Pump1.Flow", "high", time.Now()); !errors.Is(err, ErrVariableType) {
		t.Errorf("Set with wrong type: %v, want %v", err, ErrVariableType)
	}
	if err := s.Set("Nope", 1.0, time.Now()); !errors.Is(err, ErrUnknownVariable) {
		t.Errorf("Set unknown: %v, want %v", err, ErrUnknownVariable)
	}
	if _, err := s.Get("Nope"); !errors.Is(err, ErrUnknownVariable) {
		t.Errorf("Get unknown: %v, want %v", err, ErrUnknownVariable)
	}
	if err := NewOPCUAServer().AddVariable("Big", uint64(1)); !errors.Is(err, ErrVariableType) {
		t.Errorf("AddVariable uint64: %v, want %v", err, ErrVariableType)
	}
}

func TestOPCUAServerRestart(t *testing.T) {
	ctx := testContext(t)
	s := startOPCUA(t)
	endpoint := s.Endpoint()
	c := dialOPCUA(ctx, t, endpoint)
	flow := ua.NewStringNodeID(s.Namespace(), "Pump1.Flow")
	if _, err := readValue(ctx, c, flow); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	s.Stop() // idempotent
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := readValue(rctx, c, flow)
		cancel()
		if err != nil {
			break // the client saw the connection drop
		}
		if ctx.Err() != nil {
			t.Fatal("client still reads after Stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Set("Pump1.Flow", 99.0, time.Now()); err != nil {
		t.Fatalf("Set while stopped: %v", err)
	}

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := s.Endpoint(); got != endpoint {
		t.Fatalf("endpoint after restart %s, want %s", got, endpoint)
	}
	c2 := dialOPCUA(ctx, t, endpoint)
	dv, err := readValue(ctx, c2, flow)
	if err != nil {
		t.Fatal(err)
	}
	if got := dv.Value.Value(); got != 99.0 {
		t.Errorf("value after restart %v, want 99", got)
	}
}

// TestOPCUAManualPublishingAfterAQuietSpell: under manual publishing a
// subscription with notifications pending sends no keep-alive, so its
// client's publish requests time out and the client sends new ones. A
// PublishNow after that must answer a request the client still waits
// for: every value set before it arrives (gopcua answered its oldest,
// abandoned request, and the values were lost).
func TestOPCUAManualPublishingAfterAQuietSpell(t *testing.T) {
	ctx := testContext(t)
	s := NewOPCUAServer(OPCUAManualPublishing())
	if err := s.AddUnsetVariable("Tank.Level", float64(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c, err := opcua.NewClient(s.Endpoint(), opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AuthAnonymous(),
		opcua.AutoReconnect(false), opcua.RequestTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	notes := make(chan *opcua.PublishNotificationData, 64)
	sub, err := c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: 20 * time.Millisecond, MaxKeepAliveCount: 5}, notes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Cancel(context.Background()) })
	if _, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth,
		opcua.NewMonitoredItemCreateRequestWithDefaults(ua.NewStringNodeID(s.Namespace(), "Tank.Level"), ua.AttributeIDValue, 1)); err != nil {
		t.Fatal(err)
	}
	// The monitored item's initial notification (no value yet) stays
	// pending: no PublishNow. The client's publish requests time out
	// (1 s) meanwhile.
	<-time.After(2500 * time.Millisecond)
	if err := s.Set("Tank.Level", 4.5, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	s.PublishNow()
	for {
		select {
		case n := <-notes:
			dc, ok := n.Value.(*ua.DataChangeNotification)
			if !ok {
				continue
			}
			for _, item := range dc.MonitoredItems {
				if item.Value != nil && item.Value.Value != nil && item.Value.Value.Value() == 4.5 {
					return
				}
			}
		case <-ctx.Done():
			t.Fatal("the value set before PublishNow never arrived")
		}
	}
}
