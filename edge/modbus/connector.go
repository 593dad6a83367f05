package modbus

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"strings"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/twins"
)

// maxTimeouts is how many requests in a row may time out before the
// connection counts as lost.
const maxTimeouts = 3

// Connector polls one Modbus TCP device and feeds the twins bound to it.
// It owns its client on one goroutine: connect, poll the groups on their
// intervals, and on a lost connection mark the twins offline, back off and
// reconnect.
type Connector struct {
	cfg    *edge.ConnectorConfig
	mcfg   edge.ModbusConnector
	sink   *edge.Sink
	log    *slog.Logger
	points []*point
	groups []*group
	twins  []string // every bound twin, for connectivity

	stopC    chan struct{}
	panicked edge.PanicReporter // set by OnPanic before Start
	done     chan struct{}
	writes   chan *writeReq // served between polls by the connector's goroutine

	met      *edge.ConnectorMetrics
	badInput edge.Throttle // decode errors and exceptions: logged at most every 10s

	writeTargets map[string]target // twin\x00p|c\x00name → where to write

	step chan error // lockstep: a Step request taken while disconnected, served after connecting

	status *edge.StatusKeeper
}

type point struct {
	twinID   string
	property string
	p        Point
	deadband float64
	change   bool
	last     twins.Value // last value published
	lastOK   bool
}

type group struct {
	name     string
	interval time.Duration
	reqs     []Request
	pts      []*point // the points of this group, in Plan's input order
	next     time.Time
}

// New builds a connector from its configuration and bindings. It checks
// every point (types, orders, sizes) and plans the reads of each poll
// group.
// met may be nil (instruments not registered).
func New(cfg *edge.ConnectorConfig, bindings []*edge.Binding, sink *edge.Sink, met *edge.Metrics, logger *slog.Logger) (*Connector, error) {
	if cfg.Modbus == nil {
		return nil, fmt.Errorf("modbus: connector %s: no modbus section", cfg.Name)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{cfg: cfg, mcfg: *cfg.Modbus, sink: sink, log: logger.With("connector", cfg.Name), stopC: make(chan struct{}), done: make(chan struct{}), writes: make(chan *writeReq, 64)}
	if c.mcfg.Timeout <= 0 {
		c.mcfg.Timeout = time.Second
	}
	c.met = met.For(cfg.Name)
	c.badInput.Interval = 10 * time.Second
	groups := map[string]*group{}
	for _, pg := range c.mcfg.PollGroups {
		g := &group{name: pg.Name, interval: pg.Interval}
		groups[pg.Name] = g
		c.groups = append(c.groups, g)
	}
	if len(c.groups) == 0 {
		g := &group{name: "default", interval: time.Second}
		groups[g.name] = g
		c.groups = append(c.groups, g)
	}
	seen := map[string]bool{}
	for _, b := range bindings {
		if !seen[b.TwinID] {
			seen[b.TwinID] = true
			c.twins = append(c.twins, b.TwinID)
		}
		for _, pbind := range b.Points {
			pt, err := pointOf(c.mcfg.UnitID, pbind)
			if err != nil {
				return nil, fmt.Errorf("modbus: connector %s: twin %s property %s: %w", cfg.Name, b.TwinID, pbind.Property, err)
			}
			g := c.groups[0]
			if pbind.PollGroup != "" {
				var ok bool
				if g, ok = groups[pbind.PollGroup]; !ok {
					return nil, fmt.Errorf("modbus: connector %s: twin %s property %s: unknown poll group %q", cfg.Name, b.TwinID, pbind.Property, pbind.PollGroup)
				}
			}
			p := &point{twinID: b.TwinID, property: pbind.Property, p: pt, deadband: pbind.Deadband, change: pbind.ChangeOnly}
			c.points = append(c.points, p)
			g.pts = append(g.pts, p)
		}
	}
	if err := c.indexWrites(bindings); err != nil {
		return nil, err
	}
	lim := DefaultLimits()
	if c.mcfg.MaxRegisters > 0 {
		lim.MaxRegisters = c.mcfg.MaxRegisters
	}
	if c.mcfg.MaxBits > 0 {
		lim.MaxBits = c.mcfg.MaxBits
	}
	lim.MaxGap = c.mcfg.MaxGap
	for _, g := range c.groups {
		pts := make([]Point, len(g.pts))
		for i, p := range g.pts {
			pts[i] = p.p
		}
		reqs, err := Plan(pts, lim)
		if err != nil {
			return nil, fmt.Errorf("modbus: connector %s: poll group %s: %w", cfg.Name, g.name, err)
		}
		g.reqs = reqs
	}
	c.status = edge.NewStatusKeeper(cfg.Name, "modbus", cfg.Endpoint)
	return c, nil
}

// pointOf converts a binding to a Point.
func pointOf(defaultUnit uint8, b edge.PointBinding) (Point, error) {
	t, err := ParseTable(b.Table)
	if err != nil {
		return Point{}, err
	}
	typ, err := ParseType(b.Type)
	if err != nil {
		return Point{}, err
	}
	bo, err := ParseByteOrder(b.ByteOrder)
	if err != nil {
		return Point{}, err
	}
	wo, err := ParseWordOrder(b.WordOrder)
	if err != nil {
		return Point{}, err
	}
	unit := defaultUnit
	if b.UnitID > 247 {
		return Point{}, fmt.Errorf("unit id %d out of 0..247", b.UnitID)
	}
	if b.UnitID >= 0 {
		unit = uint8(b.UnitID)
	}
	if b.Address < 0 || b.Address > math.MaxUint16 {
		return Point{}, fmt.Errorf("address %d out of 0..65535", b.Address)
	}
	if b.Length < 0 || b.Length > 125 {
		return Point{}, fmt.Errorf("length %d out of 0..125 registers", b.Length)
	}
	p := Point{UnitID: unit, Table: t, Address: uint16(b.Address), Type: typ, ByteOrder: bo, WordOrder: wo, Length: uint16(b.Length), Scale: b.Scale, Offset: b.Offset}
	return p, p.Validate()
}

// Requests returns how many read requests one poll of every group makes.
func (c *Connector) Requests() int {
	n := 0
	for _, g := range c.groups {
		n += len(g.reqs)
	}
	return n
}

// Start runs the connector until Stop.
func (c *Connector) Start() { go c.run() }

// OnPanic makes a panic in one of the connector's goroutines go to
// report (the edge.Host restarts the connector) instead of crashing the
// process. Call before Start.
func (c *Connector) OnPanic(report edge.PanicReporter) { c.panicked = report }

// Stop stops polling, closes the connection and waits. Idempotent.
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

func (c *Connector) stopped() bool {
	select {
	case <-c.stopC:
		return true
	default:
		return false
	}
}

func (c *Connector) run() {
	defer edge.Recover(c.panicked)
	defer close(c.done)
	defer c.status.SetState(edge.StateStopped)
	delays := edge.NewDelays(c.cfg.Reconnect, uint64(time.Now().UnixNano()))
	connectedOnce := false
	for !c.stopped() {
		c.status.SetState(edge.StateConnecting)
		client, err := c.connect()
		if err != nil && c.step != nil {
			c.step <- err // the step that asked for this attempt
			c.step = nil
		}
		if err == nil {
			delays.Reset()
			if connectedOnce {
				c.status.Reconnected()
				c.met.Reconnects.Inc()
			}
			c.met.Connected.Set(1)
			connectedOnce = true
			c.status.SetState(edge.StateConnected)
			c.log.Info("modbus connected", "endpoint", c.cfg.Endpoint)
			c.sink.SetOnline(c.twins, true)
			err = c.poll(client)
			client.Close()
			c.met.Connected.Set(0)
			if err == nil { // stopped
				return
			}
		}
		c.status.NoteError(err, false)
		c.sink.SetOnline(c.twins, false)
		c.status.SetState(edge.StateDisconnected)
		d := delays.Next()
		c.log.Warn("modbus device unreachable", "endpoint", c.cfg.Endpoint, "retry_in", d, "err", err)
		if !c.sleep(d, nil) {
			return
		}
	}
}

// sleep waits d or until Stop (false), serving writes meanwhile on
// client (nil: they fail with ErrNotConnected). In lockstep a Step ends
// the wait at once: it is served by the next connection attempt.
func (c *Connector) sleep(d time.Duration, client *mb.ModbusClient) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-c.stopC:
			return false
		case <-t.C:
			if c.sink.Lockstep() {
				continue // in lockstep only a Step retries
			}
			return true
		case w := <-c.writes:
			_ = c.serveWrite(client, w) // the caller gets the error
		case reply := <-c.sink.Steps():
			c.step = reply
			return true
		}
	}
}

// lockstep serves Step requests until Stop (nil) or a lost connection
// (the error, also the step's answer): each reads every group once, with
// the sink's clock as the samples' time. Writes are served in between.
func (c *Connector) lockstep(client *mb.ModbusClient) error {
	timeouts := 0
	for {
		reply := c.step
		c.step = nil
		if reply == nil {
			select {
			case <-c.stopC:
				return nil
			case w := <-c.writes:
				_ = c.serveWrite(client, w) // the caller gets the error
				continue
			case reply = <-c.sink.Steps():
			}
		}
		at := c.sink.Now()
		start := time.Now()
		for _, g := range c.groups {
			if err := c.pollGroup(client, g, at, &timeouts); err != nil {
				reply <- err
				return err
			}
		}
		c.met.ReadTime.Observe(time.Since(start).Seconds())
		reply <- nil
	}
}

func (c *Connector) connect() (*mb.ModbusClient, error) {
	client, err := mb.NewClient(&mb.ClientConfiguration{
		URL:     c.cfg.Endpoint,
		Timeout: c.mcfg.Timeout,
		Logger:  log.New(io.Discard, "", 0), // the library logs to stdout otherwise
	})
	if err != nil {
		return nil, fmt.Errorf("modbus: %s: %w", c.cfg.Endpoint, err)
	}
	if err := client.Open(); err != nil {
		return nil, fmt.Errorf("modbus: connect %s: %w", c.cfg.Endpoint, err)
	}
	return client, nil
}

// drainWrites serves the writes already queued (a busy poll loop never
// sleeps, so writes must not wait for a sleep).
func (c *Connector) drainWrites(client *mb.ModbusClient) {
	for {
		select {
		case w := <-c.writes:
			_ = c.serveWrite(client, w) // the caller gets the error
		default:
			return
		}
	}
}

// poll reads each group when it is due until Stop (nil) or a lost
// connection (the error).
func (c *Connector) poll(client *mb.ModbusClient) error {
	if c.sink.Lockstep() {
		return c.lockstep(client)
	}
	now := time.Now()
	for _, g := range c.groups {
		g.next = now
	}
	timeouts := 0
	for {
		g := c.groups[0]
		for _, o := range c.groups[1:] {
			if o.next.Before(g.next) {
				g = o
			}
		}
		if wait := time.Until(g.next); wait > 0 && !c.sleep(wait, client) {
			return nil
		}
		if c.stopped() {
			return nil
		}
		c.drainWrites(client)
		start := time.Now()
		if err := c.pollGroup(client, g, start, &timeouts); err != nil {
			return err
		}
		c.met.ReadTime.Observe(time.Since(start).Seconds())
		// Fixed rate; a poll that overran skips the missed slots.
		g.next = g.next.Add(g.interval)
		if n := time.Now(); g.next.Before(n) {
			g.next = n.Add(g.interval - n.Sub(g.next)%g.interval)
		}
	}
}

// pollGroup runs one group's requests and publishes the samples, one
// batch per twin.
func (c *Connector) pollGroup(client *mb.ModbusClient, g *group, at time.Time, timeouts *int) error {
	batches := map[string][]*pb.Sample{}
	ts := at.UnixNano()
	for _, req := range g.reqs {
		regs, bits, err := c.read(client, req)
		if err != nil {
			if !isDeviceAnswer(err) {
				if !errors.Is(err, mb.ErrRequestTimedOut) {
					return err // connection lost
				}
				*timeouts++
				c.met.Timeouts.Inc()
				if *timeouts >= maxTimeouts {
					return fmt.Errorf("modbus: %d requests in a row timed out: %w", *timeouts, err)
				}
			}
			if isDeviceAnswer(err) {
				c.met.Exceptions.Inc()
			}
			rerr := fmt.Errorf("modbus: read %s %d..%d of unit %d: %w", req.Table, req.Address, int(req.Address)+int(req.Quantity)-1, req.UnitID, err)
			c.status.NoteError(rerr, true)
			c.badInput.Warn(c.log, "modbus read failed; values marked bad", "err", rerr)
			// The device answered with an exception (or timed out): the
			// points keep their last value, with bad quality.
			for _, i := range req.Points {
				p := g.pts[i]
				if p.lastOK {
					batches[p.twinID] = append(batches[p.twinID], sample(p.property, p.last, ts, pb.Quality_QUALITY_BAD))
				}
			}
			continue
		}
		*timeouts = 0
		for _, i := range req.Points {
			p := g.pts[i]
			r, b, err := Slice(req, p.p, regs, bits)
			var v twins.Value
			if err == nil {
				v, err = Decode(p.p, r, b)
			}
			if err != nil {
				derr := fmt.Errorf("modbus: twin %s property %s: %w", p.twinID, p.property, err)
				c.met.Decode.Inc()
				c.status.NoteError(derr, true)
				c.badInput.Warn(c.log, "modbus value rejected", "err", derr)
				continue
			}
			if !p.publish(v) {
				continue
			}
			batches[p.twinID] = append(batches[p.twinID], sample(p.property, v, ts, pb.Quality_QUALITY_GOOD))
		}
	}
	k := 0
	for id, s := range batches {
		c.met.Samples.Add(float64(len(s)))
		c.sink.Publish(id, s)
		if k++; k%64 == 0 {
			// A large poll takes milliseconds to hand over: a command
			// (a trip) must not wait for all of it.
			c.drainWrites(client)
		}
	}
	return nil
}

// publish applies change-only and deadband and remembers v.
func (p *point) publish(v twins.Value) bool {
	if p.lastOK {
		if p.change && v.Equal(p.last) {
			return false
		}
		if p.deadband > 0 && isNumber(v) && isNumber(p.last) && math.Abs(number(v)-number(p.last)) <= p.deadband {
			return false
		}
	}
	p.last, p.lastOK = v, true
	return true
}

func isNumber(v twins.Value) bool { return v.Type() == twins.TypeInt || v.Type() == twins.TypeDouble }

func number(v twins.Value) float64 {
	if v.Type() == twins.TypeInt {
		return float64(v.AsInt())
	}
	return v.AsDouble()
}

func sample(property string, v twins.Value, ts int64, q pb.Quality) *pb.Sample {
	return &pb.Sample{Property: property, Value: actors.ValueToProto(v), SourceTimeUnixNano: ts, Quality: q}
}

func (c *Connector) read(client *mb.ModbusClient, req Request) ([]uint16, []bool, error) {
	if err := client.SetUnitId(req.UnitID); err != nil {
		return nil, nil, err
	}
	switch req.Table {
	case Coils:
		bits, err := client.ReadCoils(req.Address, req.Quantity)
		return nil, bits, err
	case DiscreteInputs:
		bits, err := client.ReadDiscreteInputs(req.Address, req.Quantity)
		return nil, bits, err
	case HoldingRegisters:
		regs, err := client.ReadRegisters(req.Address, req.Quantity, mb.HOLDING_REGISTER)
		return regs, nil, err
	case InputRegisters:
		regs, err := client.ReadRegisters(req.Address, req.Quantity, mb.INPUT_REGISTER)
		return regs, nil, err
	}
	return nil, nil, fmt.Errorf("modbus: unknown table %d", req.Table)
}

// isDeviceAnswer reports whether err is a Modbus exception the device
// answered with (the connection is fine).
func isDeviceAnswer(err error) bool {
	var e mb.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case mb.ErrIllegalFunction, mb.ErrIllegalDataAddress, mb.ErrIllegalDataValue, mb.ErrServerDeviceFailure,
		mb.ErrAcknowledge, mb.ErrServerDeviceBusy, mb.ErrMemoryParityError, mb.ErrGWPathUnavailable, mb.ErrGWTargetFailedToRespond:
		return true
	}
	return false
}

// String describes the connector for logs.
func (c *Connector) String() string {
	var names []string
	for _, g := range c.groups {
		names = append(names, fmt.Sprintf("%s every %v: %d requests", g.name, g.interval, len(g.reqs)))
	}
	return fmt.Sprintf("modbus connector %s (%s): %d points, %s", c.cfg.Name, c.cfg.Endpoint, len(c.points), strings.Join(names, "; "))
}
