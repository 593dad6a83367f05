package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/twins"
)

// Connector subscribes to one OPC UA server and feeds the twins bound to
// it. It owns its client on one goroutine: connect (Dial), create one
// subscription with every bound node as a monitored item (in batches of
// BatchSize), turn data changes into one batch per twin, and on a lost
// connection mark the twins offline, back off and start over with a new
// session and subscription. A watchdog re-creates the subscription when
// no data change arrived for Watchdog: gopcua does not report a
// subscription the server dropped.
type Connector struct {
	cfg   *edge.ConnectorConfig
	ocfg  edge.OPCUAConnector
	sink  *edge.Sink
	log   *slog.Logger
	met   *edge.ConnectorMetrics
	items []*item  // index = client handle
	twins []string // every bound twin, for connectivity

	writeTargets map[string]target

	stopC    chan struct{}
	panicked edge.PanicReporter // set by OnPanic before Start
	done     chan struct{}

	client   atomic.Pointer[opcua.Client] // while connected, for writes
	lastData atomic.Int64                 // unix nanos of the last data change
	types    sync.Map                     // node id string → data type (uint32), per connection

	badInput   edge.Throttle
	badItems   atomic.Int64 // monitored items the server refused
	resubs     atomic.Int64 // subscriptions re-created by the watchdog
	unexpected atomic.Int64 // values of a data type with no twin counterpart

	status *edge.StatusKeeper
}

// item is one monitored node.
type item struct {
	twinID, property string
	node             *ua.NodeID
	scale, offset    float64
	deadband         float64 // client side: publish when |new-old| > deadband
	change           bool
	sampling         time.Duration
	queue            uint32
	dbType           ua.DeadbandType // server side
	dbValue          float64

	last    twins.Value
	lastQ   pb.Quality
	lastTS  int64
	lastOK  bool
	refused bool // the server refused the filter; retried without
}

// New builds a connector from its configuration and bindings; it checks
// every node id.
// met may be nil (instruments not registered).
func New(cfg *edge.ConnectorConfig, bindings []*edge.Binding, sink *edge.Sink, met *edge.Metrics, logger *slog.Logger) (*Connector, error) {
	if cfg.OPCUA == nil {
		return nil, fmt.Errorf("opcua: connector %s: no opcua section", cfg.Name)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{cfg: cfg, ocfg: *cfg.OPCUA, sink: sink, log: logger.With("connector", cfg.Name),
		stopC: make(chan struct{}), done: make(chan struct{})}
	if c.ocfg.PublishingInterval <= 0 {
		c.ocfg.PublishingInterval = 100 * time.Millisecond
	}
	if c.ocfg.Watchdog <= 0 {
		c.ocfg.Watchdog = 10 * time.Second
	}
	if c.ocfg.BatchSize <= 0 {
		c.ocfg.BatchSize = 1000
	}
	c.met = met.For(cfg.Name)
	c.badInput.Interval = 10 * time.Second
	seen := map[string]bool{}
	for _, b := range bindings {
		if !seen[b.TwinID] {
			seen[b.TwinID] = true
			c.twins = append(c.twins, b.TwinID)
		}
		for _, p := range b.Points {
			nid, err := ua.ParseNodeID(p.NodeID)
			if err != nil {
				return nil, fmt.Errorf("opcua: connector %s: twin %s property %s: node id %q: %w", cfg.Name, b.TwinID, p.Property, p.NodeID, err)
			}
			it := &item{twinID: b.TwinID, property: p.Property, node: nid, scale: p.Scale, offset: p.Offset,
				deadband: p.Deadband, change: p.ChangeOnly, sampling: p.SamplingInterval, queue: p.QueueSize, dbValue: p.DeadbandValue}
			if it.scale == 0 {
				it.scale = 1
			}
			switch p.DeadbandType {
			case "absolute":
				it.dbType = ua.DeadbandTypeAbsolute
				// Applied here as well: a server that ignores filters
				// (gopcua's does) then still spares the twins.
				it.deadband = max(it.deadband, p.DeadbandValue)
			case "percent":
				it.dbType = ua.DeadbandTypePercent
			}
			if it.queue == 0 {
				it.queue = 1
			}
			if it.sampling <= 0 {
				it.sampling = c.ocfg.PublishingInterval
			}
			c.items = append(c.items, it)
		}
	}
	if len(c.items) > math.MaxUint32 {
		return nil, fmt.Errorf("opcua: connector %s: %d monitored items is too many", cfg.Name, len(c.items))
	}
	if err := c.indexWrites(bindings); err != nil {
		return nil, err
	}
	c.status = edge.NewStatusKeeper(cfg.Name, "opcua", cfg.Endpoint)
	return c, nil
}

// Items returns how many nodes the connector monitors.
func (c *Connector) Items() int { return len(c.items) }

// Resubscribes returns how often the watchdog re-created the subscription.
func (c *Connector) Resubscribes() int64 { return c.resubs.Load() }

// RefusedItems returns how many monitored items the server refused, over
// every subscription so far.
func (c *Connector) RefusedItems() int64 { return c.badItems.Load() }

// Unexpected returns how many values had a data type with no twin
// counterpart (arrays, structures, ...); they are dropped and logged.
func (c *Connector) Unexpected() int64 { return c.unexpected.Load() }

// Start runs the connector until Stop.
func (c *Connector) Start() { go c.run() }

// OnPanic makes a panic in one of the connector's goroutines go to
// report (the edge.Host restarts the connector) instead of crashing the
// process. Call before Start.
func (c *Connector) OnPanic(report edge.PanicReporter) { c.panicked = report }

// Stop stops the subscription, closes the session and waits. Idempotent.
func (c *Connector) Stop() {
	select {
	case <-c.stopC:
	default:
		close(c.stopC)
	}
	<-c.done
}

// Status returns the connector's status.
func (c *Connector) Status() edge.Status { return c.status.Status(c.sink) }

// String describes the connector for logs.
func (c *Connector) String() string {
	return fmt.Sprintf("opcua connector %s (%s, %s/%s, %s): %d monitored items in batches of %d, publishing every %v, watchdog %v",
		c.cfg.Name, c.cfg.Endpoint, c.ocfg.SecurityPolicy, c.ocfg.SecurityMode, c.ocfg.Auth, len(c.items), c.ocfg.BatchSize, c.ocfg.PublishingInterval, c.ocfg.Watchdog)
}

func (c *Connector) stopped() bool {
	select {
	case <-c.stopC:
		return true
	default:
		return false
	}
}

// ctx is a context cancelled by Stop.
func (c *Connector) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.stopC:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (c *Connector) run() {
	defer edge.Recover(c.panicked)
	defer close(c.done)
	defer c.status.SetState(edge.StateStopped)
	ctx, cancel := c.ctx()
	defer cancel()
	delays := edge.NewDelays(c.cfg.Reconnect, uint64(time.Now().UnixNano()))
	connectedOnce := false
	for !c.stopped() {
		c.status.SetState(edge.StateConnecting)
		states := make(chan opcua.ConnState, 16)
		client, err := Dial(ctx, c.cfg.Endpoint, c.ocfg, DialOptions{StateChanged: states})
		if err == nil {
			delays.Reset()
			if connectedOnce {
				c.status.Reconnected()
				c.met.Reconnects.Inc()
			}
			connectedOnce = true
			c.met.Connected.Set(1)
			c.status.SetState(edge.StateConnected)
			c.log.Info("opcua connected", "endpoint", c.cfg.Endpoint, "security", c.ocfg.SecurityPolicy+"/"+c.ocfg.SecurityMode, "auth", c.ocfg.Auth)
			c.types.Clear()
			c.client.Store(client)
			err = c.session(ctx, client, states)
			c.client.Store(nil)
			closeCtx, closeCancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = client.Close(closeCtx) // the connection may be gone already
			closeCancel()
			c.met.Connected.Set(0)
			if err == nil { // stopped
				return
			}
		}
		if c.stopped() {
			return
		}
		c.status.NoteError(err, false)
		c.sink.SetOnline(c.twins, false)
		c.status.SetState(edge.StateDisconnected)
		d := delays.Next()
		if errors.Is(err, ErrPinMismatch) || errors.Is(err, ErrNoEndpoint) {
			c.log.Error("opcua server refused by configuration", "endpoint", c.cfg.Endpoint, "retry_in", d, "err", err)
		} else {
			c.log.Warn("opcua server unreachable", "endpoint", c.cfg.Endpoint, "retry_in", d, "err", err)
		}
		t := time.NewTimer(d)
		select {
		case <-c.stopC:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session subscribes and processes data changes until Stop (nil) or a
// lost connection (the error).
func (c *Connector) session(ctx context.Context, client *opcua.Client, states <-chan opcua.ConnState) error {
	notes := make(chan *opcua.PublishNotificationData, 256)
	sub, err := c.subscribe(ctx, client, notes)
	if err != nil {
		return err
	}
	c.sink.SetOnline(c.twins, true)
	c.lastData.Store(time.Now().UnixNano())
	check := min(c.ocfg.Watchdog/4, time.Second)
	tick := time.NewTicker(check)
	defer tick.Stop()
	for {
		select {
		case <-c.stopC:
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = sub.Cancel(cctx) // best effort: the session closes next
			cancel()
			return nil
		case st := <-states:
			if st == opcua.Disconnected || st == opcua.Closed {
				return fmt.Errorf("opcua: connection to %s lost (%s)", c.cfg.Endpoint, st)
			}
		case n := <-notes:
			if n.SubscriptionID != sub.SubscriptionID && n.SubscriptionID != 0 {
				continue // a late notification of a subscription the watchdog replaced
			}
			if n.Error != nil {
				if client.State() != opcua.Connected {
					return fmt.Errorf("opcua: subscription: %w", n.Error)
				}
				c.status.NoteError(fmt.Errorf("opcua: subscription: %w", n.Error), true)
				c.badInput.Warn(c.log, "opcua subscription error", "err", n.Error)
				continue
			}
			c.handle(n.Value)
		case <-tick.C:
			since := time.Since(time.Unix(0, c.lastData.Load()))
			if since < c.ocfg.Watchdog || len(c.items) == 0 {
				continue
			}
			// Quiet for a whole watchdog period: is the session alive?
			if err := c.probe(ctx, client); err != nil {
				return fmt.Errorf("opcua: no data change for %v and the server does not answer: %w", since.Round(time.Millisecond), err)
			}
			// The session is; the subscription may not be. Re-create it.
			c.log.Warn("opcua watchdog: no data change, re-creating the subscription", "quiet_for", since.Round(time.Millisecond))
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = sub.Cancel(cctx) // may be gone on the server already
			cancel()
			if sub, err = c.subscribe(ctx, client, notes); err != nil {
				return err
			}
			c.resubs.Add(1)
			c.lastData.Store(time.Now().UnixNano())
		}
	}
}

// probe reads the server's current time.
func (c *Connector) probe(ctx context.Context, client *opcua.Client) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := client.Read(pctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: ua.NewNumericNodeID(0, id.Server_ServerStatus_CurrentTime), AttributeID: ua.AttributeIDValue}}})
	if err != nil {
		return err
	}
	if len(resp.Results) != 1 {
		return fmt.Errorf("opcua: read of the server time: %d results", len(resp.Results))
	}
	return nil
}

// subscribe creates the subscription and its monitored items in batches.
// Items the server refuses are reported and left out; a filter the
// server does not support is dropped (the client-side deadband stays).
func (c *Connector) subscribe(ctx context.Context, client *opcua.Client, notes chan *opcua.PublishNotificationData) (*opcua.Subscription, error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sub, err := client.Subscribe(sctx, &opcua.SubscriptionParameters{Interval: c.ocfg.PublishingInterval}, notes)
	if err != nil {
		return nil, fmt.Errorf("opcua: create subscription: %w", err)
	}
	refused := 0
	for start := 0; start < len(c.items); start += c.ocfg.BatchSize {
		end := min(start+c.ocfg.BatchSize, len(c.items))
		reqs := make([]*ua.MonitoredItemCreateRequest, 0, end-start)
		for h := start; h < end; h++ {
			reqs = append(reqs, c.items[h].request(uint32(h)))
		}
		resp, err := sub.Monitor(sctx, ua.TimestampsToReturnBoth, reqs...)
		if err != nil {
			return nil, fmt.Errorf("opcua: create monitored items %d..%d of %d: %w", start, end-1, len(c.items), err)
		}
		var retry []*ua.MonitoredItemCreateRequest
		for i, r := range resp.Results {
			h := start + i
			it := c.items[h]
			switch {
			case r.StatusCode == ua.StatusOK:
			case isFilterRefusal(r.StatusCode) && it.dbType != 0 && !it.refused:
				it.refused = true
				c.log.Warn("opcua server refused the deadband filter; monitoring without it", "twin", it.twinID, "property", it.property, "node", it.node.String(), "status", r.StatusCode.Error())
				retry = append(retry, it.request(uint32(h)))
			default:
				refused++
				c.refuse(it, r.StatusCode)
			}
		}
		if len(retry) > 0 {
			resp, err := sub.Monitor(sctx, ua.TimestampsToReturnBoth, retry...)
			if err != nil {
				return nil, fmt.Errorf("opcua: create monitored items without filter: %w", err)
			}
			for i, r := range resp.Results {
				if r.StatusCode != ua.StatusOK {
					refused++
					c.refuse(c.items[retry[i].RequestedParameters.ClientHandle], r.StatusCode)
				}
			}
		}
	}
	c.log.Info("opcua subscription created", "subscription", sub.SubscriptionID, "items", len(c.items)-refused, "refused", refused, "publishing_interval", sub.RevisedPublishingInterval)
	return sub, nil
}

func (c *Connector) refuse(it *item, code ua.StatusCode) {
	c.badItems.Add(1)
	err := fmt.Errorf("opcua: node %s of twin %s property %s: the server refused to monitor it: %w", it.node, it.twinID, it.property, code)
	c.status.NoteError(err, true)
	c.badInput.Warn(c.log, "opcua monitored item refused", "err", err)
}

func isFilterRefusal(code ua.StatusCode) bool {
	switch code {
	case ua.StatusBadFilterNotAllowed, ua.StatusBadMonitoredItemFilterUnsupported, ua.StatusBadMonitoredItemFilterInvalid, ua.StatusBadDeadbandFilterInvalid:
		return true
	}
	return false
}

// request is the monitored item create request of it, handle h.
func (it *item) request(h uint32) *ua.MonitoredItemCreateRequest {
	filter := ua.NewExtensionObject(nil)
	if it.dbType != 0 && !it.refused {
		filter = ua.NewExtensionObject(&ua.DataChangeFilter{
			Trigger:       ua.DataChangeTriggerStatusValue,
			DeadbandType:  uint32(it.dbType),
			DeadbandValue: it.dbValue,
		})
	}
	return &ua.MonitoredItemCreateRequest{
		ItemToMonitor:  &ua.ReadValueID{NodeID: it.node, AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}},
		MonitoringMode: ua.MonitoringModeReporting,
		RequestedParameters: &ua.MonitoringParameters{
			ClientHandle:     h,
			SamplingInterval: float64(it.sampling) / float64(time.Millisecond),
			Filter:           filter,
			QueueSize:        it.queue,
			DiscardOldest:    true,
		},
	}
}

// handle turns one notification into one batch per twin.
func (c *Connector) handle(v any) {
	dc, ok := v.(*ua.DataChangeNotification)
	if !ok {
		return // events and status changes: not subscribed to
	}
	c.lastData.Store(time.Now().UnixNano())
	now := c.sink.Now() // a value without a source time is stamped on arrival
	batches := map[string][]*pb.Sample{}
	for _, mi := range dc.MonitoredItems {
		if mi == nil || mi.Value == nil || int(mi.ClientHandle) >= len(c.items) {
			continue
		}
		it := c.items[mi.ClientHandle]
		s := c.sample(it, mi.Value, now)
		if s != nil {
			batches[it.twinID] = append(batches[it.twinID], s)
		}
	}
	for twin, ss := range batches {
		c.met.Samples.Add(float64(len(ss)))
		c.sink.Publish(twin, ss)
	}
}

// sample converts one data value of it, or returns nil when there is
// nothing to publish (filtered, a repeat, or bad input, which is counted
// and logged).
func (c *Connector) sample(it *item, dv *ua.DataValue, now time.Time) *pb.Sample {
	q := pb.Quality_QUALITY_GOOD
	if dv.EncodingMask&ua.DataValueStatusCode != 0 {
		q = Quality(dv.Status)
	}
	ts := SourceTime(dv, now).UnixNano()
	var v twins.Value
	if dv.EncodingMask&ua.DataValueValue == 0 || dv.Value == nil || dv.Value.Value() == nil {
		if q == pb.Quality_QUALITY_GOOD {
			return nil // nothing to say
		}
		if !it.lastOK {
			// A bad status before any value: the node is unknown, not
			// readable or not yet sampled. Nothing to mark bad yet.
			err := fmt.Errorf("opcua: node %s of twin %s property %s: %w", it.node, it.twinID, it.property, dv.Status)
			c.status.NoteError(err, true)
			c.badInput.Warn(c.log, "opcua node reports a bad status", "err", err)
			return nil
		}
		v = it.last // a bad status without a value: the last value, marked
	} else {
		var err error
		if v, err = FromVariant(dv.Value); err != nil {
			c.unexpected.Add(1)
			c.met.Decode.Inc()
			err = fmt.Errorf("opcua: node %s of twin %s property %s: %w", it.node, it.twinID, it.property, err)
			c.status.NoteError(err, true)
			c.badInput.Warn(c.log, "opcua value rejected", "err", err)
			return nil
		}
		v = scaled(v, it.scale, it.offset)
	}
	if !it.publish(v, q, ts) {
		return nil
	}
	return &pb.Sample{Property: it.property, Value: actors.ValueToProto(v), SourceTimeUnixNano: ts, Quality: q}
}

// scaled applies scale and offset to numbers; int stays int when both
// are neutral.
func scaled(v twins.Value, scale, offset float64) twins.Value {
	if scale == 1 && offset == 0 {
		return v
	}
	switch v.Type() {
	case twins.TypeInt:
		return twins.Double(float64(v.AsInt())*scale + offset)
	case twins.TypeDouble:
		return twins.Double(v.AsDouble()*scale + offset)
	}
	return v
}

// publish applies the repeat check, change-only and deadband (which
// quality changes always pass) and remembers v.
func (it *item) publish(v twins.Value, q pb.Quality, ts int64) bool {
	if it.lastOK && q == it.lastQ {
		if ts == it.lastTS && v.Equal(it.last) {
			return false // the same sample again (a re-created subscription's initial values)
		}
		if it.change && v.Equal(it.last) {
			return false
		}
		if it.deadband > 0 && isNumber(v) && isNumber(it.last) && math.Abs(number(v)-number(it.last)) <= it.deadband {
			return false
		}
	}
	it.last, it.lastQ, it.lastTS, it.lastOK = v, q, ts, true
	return true
}

func isNumber(v twins.Value) bool { return v.Type() == twins.TypeInt || v.Type() == twins.TypeDouble }

func number(v twins.Value) float64 {
	if v.Type() == twins.TypeInt {
		return float64(v.AsInt())
	}
	return v.AsDouble()
}
