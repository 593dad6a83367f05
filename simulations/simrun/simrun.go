// Package simrun runs a scenario (simulations/scenario) against the real
// runtime on a virtual clock. Devices exposed direct feed their twins
// in-process; devices exposed modbus, opcua or mqtt are served on
// loopback (simulated PLCs, a gopcua server with manual publishing, a
// Mosquitto broker) and read by the runtime's own edge connectors. The
// twins' commands and desired-value writes come back to the simulated
// devices, directly or through the connectors. It checks the scenario's
// expectations and builds the run's report.
//
// Each tick runs in lockstep: the devices step, the virtual clock moves to
// the tick's time (firing the twins' timers: rule windows, deadlines), the
// tick's samples are applied (and acknowledged durable), and the next tick
// starts only once the twins have no work in hand (actors.Runtime.Busy)
// and every connector has handed over the tick's values. Options.Speed
// paces the ticks to wall time; a run gives the same outcomes and the
// same canonical recording (Options.Record, package
// simulations/recording) at any speed. Reports are written as JSON,
// self-contained HTML with charts, or JUnit XML (Report.Write). Replay
// feeds a recording back into a node.
package simrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"log/slog"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations/recording"
	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/twins"
)

// Origin is the virtual clock's start: simulated time 0. It is fixed so
// that runs are reproducible.
var Origin = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Options configure a run.
type Options struct {
	Seed     uint64        // 0: the scenario's seed
	Speed    float64       // simulated seconds per wall second; 0: as fast as lockstep allows
	Data     string        // the node's store; "": a fresh temporary directory
	Progress io.Writer     // progress lines (nil: none)
	Every    time.Duration // progress interval (wall time), default 1s
	Logger   *slog.Logger  // nil: errors only, to stderr
	// Direct feeds every device straight into its twin, whatever its
	// expose says: the protocols skipped, for comparison.
	Direct bool
	// Record receives the run's canonical recording (package
	// simulations/recording): every sample as its twin ingested it, and
	// the alarms, commands, rule actions and connectivity changes that
	// came of them. nil: none.
	Record io.Writer
	// Until ends the run at this simulated time instead of the
	// scenario's duration (0: the whole scenario).
	Until time.Duration

	// Node, when set, runs the scenario in real time against a running
	// node instead of an embedded one: the devices (all exposed over a
	// protocol) are served where the node's configuration (NodeConfig)
	// expects them, from BasePort (0: DefaultBasePort) up, and the
	// outcomes are read over the node's API Settle (default 3s) after
	// the last tick. Not reproducible bit for bit; no recording.
	Node     pb.TwinServiceClient
	BasePort int
	Settle   time.Duration
}

// Report is a run's outcome (its JSON form is documented in
// docs/simulations.md).
type Report struct {
	Scenario     string              `json:"scenario"`
	Seed         uint64              `json:"seed"`
	Simulated    string              `json:"simulated"`
	WallSeconds  float64             `json:"wallSeconds"`
	Samples      int64               `json:"samples"`
	Passed       bool                `json:"passed"`
	Expectations []ExpectationResult `json:"expectations"`
	Alarms       []AlarmRecord       `json:"alarms"`
	Commands     []CommandRecord     `json:"commands"`
	// Recording describes the recording written (Options.Record).
	Recording *RecordingInfo `json:"recording,omitempty"`
	// RefusedWrites lists the writes and commands that reached a
	// simulated device over a protocol and that it could not carry out
	// (no reaction of that name, a value it cannot take).
	RefusedWrites []string `json:"refusedWrites,omitempty"`
	// Final is each fed twin's reported values at the end, by property
	// (numbers, booleans and strings; properties never reported are
	// left out).
	Final []FinalState `json:"final"`
	// Series are the points' values over the run (booleans as 0 and 1;
	// at most maxSeriesPoints each, evenly spaced in simulated time), for
	// the HTML report's charts: of the twins the expectations name and
	// of the first maxChartedTwins twins the devices feed.
	Series []Series `json:"series,omitempty"`
	// Uncharted is how many fed twins have no series.
	Uncharted int `json:"uncharted,omitempty"`
}

// FinalState is a twin's reported values at the end of a run.
type FinalState struct {
	Twin     string         `json:"twin"`
	Reported map[string]any `json:"reported"`
}

// Series is one twin property's values over simulated time.
type Series struct {
	Twin     string       `json:"twin"`
	Property string       `json:"property"`
	Points   [][2]float64 `json:"points"` // [seconds from the start, value]
}

// maxChartedTwins bounds the twins charted beside those the
// expectations name: a farm of 10,000 turbines charted whole would hold
// gigabytes of points and no one would read the page.
const maxChartedTwins = 12

// chartedTwins returns the twins whose points the report charts.
func chartedTwins(sc *scenario.Scenario) map[string]bool {
	out := map[string]bool{}
	for _, e := range sc.Expect {
		out[e.Twin] = true
	}
	n := 0
	for _, d := range sc.Devices {
		if n >= maxChartedTwins {
			break
		}
		if !out[d.Twin] {
			out[d.Twin] = true
			n++
		}
	}
	return out
}

// countTwins is the number of twins the devices feed.
func countTwins(sc *scenario.Scenario) int {
	seen := map[string]bool{}
	for _, d := range sc.Devices {
		seen[d.Twin] = true
	}
	return len(seen)
}

// maxSeriesPoints bounds each series (older points are thinned).
const maxSeriesPoints = 2000

// ExpectationResult is one expectation's verdict.
type ExpectationResult struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// AlarmRecord is one raise of an alarm (times are simulated, from the
// start, as Go durations).
type AlarmRecord struct {
	Twin      string `json:"twin"`
	Name      string `json:"name"`
	Severity  string `json:"severity"`
	RaisedAt  string `json:"raisedAt"`
	ClearedAt string `json:"clearedAt,omitempty"`
}

// CommandRecord is one command of a twin at the end of the run.
type CommandRecord struct {
	Twin         string `json:"twin"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	InvokedBy    string `json:"invokedBy"`
	DispatchedAt string `json:"dispatchedAt,omitempty"`
	CompletedAt  string `json:"completedAt,omitempty"`
	Error        string `json:"error,omitempty"`
}

// device carries the twins' commands and writes to the simulated devices.
type device struct {
	mu       *sync.Mutex
	run      *scenario.Run
	byTwin   map[string]string // twin -> device
	inflight atomic.Int64
}

func (d *device) Writes(twinID, _ string) bool { _, ok := d.byTwin[twinID]; return ok }

func (d *device) Do(_ context.Context, twinID string, cmd twins.CommandRecord) (bool, error) {
	defer d.inflight.Add(-1)
	dev, ok := d.byTwin[twinID]
	if !ok {
		return false, fmt.Errorf("no simulated device feeds twin %s", twinID)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cmd.Property != "" && len(cmd.Args) == 1 {
		return false, d.run.Write(dev, cmd.Property, cmd.Args[0].Value)
	}
	args := make(map[string]twins.Value, len(cmd.Args))
	for _, a := range cmd.Args {
		args[a.Name] = a.Value
	}
	return false, d.run.Apply(dev, cmd.Name, args)
}

// counting wraps the device to count the calls on their way.
type counting struct{ *device }

func (c counting) Do(ctx context.Context, twinID string, cmd twins.CommandRecord) (bool, error) {
	c.inflight.Add(1)
	return c.device.Do(ctx, twinID, cmd)
}

// bounds tracks a property's extremes for a bounds expectation.
type bounds struct {
	min, max float64
	seen     bool
}

// Run runs sc in direct mode and returns its report. The report's Passed
// says whether every expectation held.
func Run(ctx context.Context, sc *scenario.Scenario, o Options) (*Report, error) {
	if sc.Plant == nil {
		return nil, errors.New("simrun: the scenario has no plant (plant: FILE or an inline plant)")
	}
	seed := o.Seed
	if seed == 0 {
		seed = sc.Seed
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Node != nil {
		switch {
		case o.Speed != 0 && o.Speed != 1:
			return nil, errors.New("simrun: against a running node a scenario runs in real time (speed 1)")
		case o.Record != nil:
			return nil, errors.New("simrun: a run against a running node is not recorded here (plantwin sim record captures what a node ingests)")
		case o.Direct:
			return nil, errors.New("simrun: a running node reads devices over the protocols only")
		}
		return runOnNode(ctx, sc, o, seed)
	}
	n, err := startNode(sc.Plant, Origin, o.Data, o.Logger)
	if err != nil {
		return nil, err
	}
	defer n.close()
	log, clock, rt := n.log, n.clock, n.rt

	run := scenario.NewRun(sc, seed)
	var mu sync.Mutex
	dev := &device{mu: &mu, run: run, byTwin: map[string]string{}}
	horizon := sc.Duration
	if o.Until > 0 && o.Until < horizon {
		horizon = o.Until
	}
	var rec *recorder
	var ingest edge.Runtime = rt
	if o.Record != nil {
		h := recording.Header{Scenario: sc.Name, Seed: seed, Origin: Origin, Tick: sc.Tick, PlantName: cmp.Or(sc.PlantFile, "the plant of scenario "+sc.Name), Plant: sc.PlantData}
		if rec, err = newRecorder(o.Record, h, rt); err != nil {
			return nil, err
		}
		ingest = recordingRuntime{rt, rec}
	}
	var lag time.Duration // the longest latency fault: samples that old still arrive
	for _, f := range sc.Faults {
		if f.Kind == scenario.FaultLatency {
			lag = max(lag, f.Add)
		}
	}
	var srv *served
	if !o.Direct {
		if srv, err = newServed(sc, run, &mu, clock.Now, log, servedOptions{Lockstep: true}); err != nil {
			return nil, err
		}
		defer srv.stop()
	}
	for _, d := range sc.Devices {
		if srv == nil || srv.byDevice[d.Name] == nil {
			dev.byTwin[d.Twin] = d.Name
		}
	}
	if srv == nil {
		rt.SetDevice(counting{dev})
	} else {
		if err := srv.start(ctx, rt, ingest, clock); err != nil {
			return nil, err
		}
		rt.SetDevice(mixed{direct: counting{dev}, edge: edge.Device(srv.host), served: srv.byTwin})
	}

	track := map[string]*bounds{} // "twin\x00property"
	for _, e := range sc.Expect {
		if e.Kind == scenario.ExpectBounds {
			track[e.Twin+"\x00"+e.Property] = &bounds{}
		}
	}
	offline := map[string]bool{}
	series := map[string]*Series{}
	var seriesOrder []string
	charted := chartedTwins(sc)
	record := func(s scenario.PointSample) {
		if s.Value.Type() != twins.TypeDouble && s.Value.Type() != twins.TypeInt && s.Value.Type() != twins.TypeBool || !charted[s.Twin] {
			return
		}
		k := s.Twin + "\x00" + s.Point
		sr := series[k]
		if sr == nil {
			sr = &Series{Twin: s.Twin, Property: s.Point}
			series[k] = sr
			seriesOrder = append(seriesOrder, k)
		}
		sec := s.At.Seconds()
		if n := len(sr.Points); n > 0 && sec-sr.Points[n-1][0] < sampleEvery(sc.Duration) {
			return
		}
		v := s.Value.AsDouble()
		if s.Value.Type() == twins.TypeBool {
			v = 0
			if s.Value.AsBool() {
				v = 1
			}
		}
		sr.Points = append(sr.Points, [2]float64{sec, v})
	}
	start := time.Now()
	lastProgress := start
	var samples int64
	for !run.Done() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mu.Lock()
		frame, ok := run.Step()
		batches := map[string]*pb.ApplyTelemetry{}
		var order []string
		for _, s := range frame.Samples {
			if srv != nil && srv.byDevice[s.Device] != nil {
				record(s)
				trackBounds(track, s)
				continue // through its server, below
			}
			b := batches[s.Twin]
			if b == nil {
				b = &pb.ApplyTelemetry{TwinId: s.Twin}
				batches[s.Twin] = b
				order = append(order, s.Twin)
			}
			record(s)
			b.Samples = append(b.Samples, &pb.Sample{Property: s.Point, Value: actors.ValueToProto(s.Value),
				SourceTimeUnixNano: Origin.Add(s.At).UnixNano(), Quality: pb.Quality(s.Quality)})
			trackBounds(track, s)
		}
		down := map[string]bool{}
		for _, name := range frame.Offline {
			if d, ok := sc.Device(name); ok {
				down[d.Twin] = true
			}
		}
		mu.Unlock()
		if !ok || frame.T > horizon {
			break
		}
		// The clock first: the samples of this tick are measured at T.
		clock.Set(Origin.Add(frame.T))
		for twin := range dev.byTwin {
			if down[twin] != offline[twin] {
				c := pb.Connectivity_CONNECTIVITY_ONLINE
				if down[twin] {
					c = pb.Connectivity_CONNECTIVITY_OFFLINE
				}
				if _, err := rt.SetConnectivity(ctx, twin, c); err != nil {
					return nil, fmt.Errorf("simrun: t=%v: connectivity of %s: %w", frame.T, twin, err)
				}
				offline[twin] = down[twin]
			}
		}
		if rec != nil {
			for _, twin := range order {
				rec.batch(batches[twin])
			}
		}
		if err := applyAll(ctx, rt, order, batches); err != nil {
			return nil, fmt.Errorf("simrun: t=%v: %w", frame.T, err)
		}
		if srv != nil {
			if err := srv.step(ctx, frame); err != nil {
				return nil, fmt.Errorf("simrun: t=%v: %w", frame.T, err)
			}
		}
		samples += int64(len(frame.Samples))
		// Lockstep: the commands this tick decided reach their devices
		// before the next tick.
		if err := quiesce(rt, dev); err != nil {
			return nil, fmt.Errorf("simrun: t=%v: %w", frame.T, err)
		}
		if rec != nil {
			// Nothing older than the longest latency (and a tick, for
			// values written back through a server) arrives any more.
			if err := rec.drain(clock.Now()); err != nil {
				return nil, fmt.Errorf("simrun: t=%v: %w", frame.T, err)
			}
			if err := rec.flush(frame.T - lag - sc.Tick); err != nil {
				return nil, fmt.Errorf("simrun: recording: %w", err)
			}
		}
		if o.Speed > 0 {
			// Paced: simulated time T is due at wall time start + T/speed.
			if wait := time.Until(start.Add(time.Duration(float64(frame.T) / o.Speed))); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		if o.Progress != nil && time.Since(lastProgress) >= o.Every {
			lastProgress = time.Now()
			el := time.Since(start)
			done := float64(frame.T) / float64(horizon)
			eta := time.Duration(float64(el) * (1 - done) / max(done, 1e-9))
			fmt.Fprintf(o.Progress, "sim %-20s %s %5.1f%%  t=%v/%v  %.0f samples/s  eta %v\n", sc.Name, progressBar(done), 100*done,
				frame.T.Round(time.Second), horizon, float64(samples)/el.Seconds(), eta.Round(time.Second))
		}
	}
	if err := quiesce(rt, dev); err != nil {
		return nil, fmt.Errorf("simrun: at the end: %w", err)
	}
	if rec != nil {
		if err := rec.drain(clock.Now()); err != nil {
			return nil, fmt.Errorf("simrun: at the end: %w", err)
		}
	}
	rep := &Report{Scenario: sc.Name, Seed: seed, Simulated: horizon.String(), WallSeconds: time.Since(start).Seconds(), Samples: samples}
	if srv != nil {
		rep.RefusedWrites = srv.writeErrors()
	}
	if rec != nil {
		if rep.Recording, err = rec.close(); err != nil {
			return nil, fmt.Errorf("simrun: recording: %w", err)
		}
	}
	rep.Uncharted = countTwins(sc) - len(charted)
	sort.Strings(seriesOrder)
	for _, k := range seriesOrder {
		rep.Series = append(rep.Series, *series[k])
	}
	if err := judge(ctx, embedded(rt), sc, rep, track); err != nil {
		return nil, err
	}
	return rep, nil
}

// judge reads the run's outcomes into rep and checks every expectation.
func judge(ctx context.Context, out *outcomes, sc *scenario.Scenario, rep *Report, track map[string]*bounds) error {
	if err := collect(ctx, out, sc, rep); err != nil {
		return err
	}
	rep.Passed = true
	for _, e := range sc.Expect {
		r := check(ctx, out, sc.Plant, *e, rep, track)
		rep.Expectations = append(rep.Expectations, r)
		rep.Passed = rep.Passed && r.Passed
	}
	return nil
}

// progressBar draws done (0..1) as a 20-character bar.
func progressBar(done float64) string {
	n := int(math.Round(20 * min(max(done, 0), 1)))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + "]"
}

// trackBounds notes a good sample of a property a bounds expectation
// watches.
func trackBounds(track map[string]*bounds, s scenario.PointSample) {
	bd := track[s.Twin+"\x00"+s.Point]
	if bd == nil || s.Quality != twins.QualityGood {
		return
	}
	f := s.Value.AsDouble()
	if !bd.seen || f < bd.min {
		bd.min = f
	}
	if !bd.seen || f > bd.max {
		bd.max = f
	}
	bd.seen = true
}

// node is the embedded node a run or a replay drives.
type node struct {
	log   *slog.Logger
	dir   string // removed by close when temporary
	store *persistence.Store
	clock *actors.VirtualClock
	rt    *actors.Runtime
}

// startNode opens the store in dir (a fresh temporary directory when
// "") and starts a node on a virtual clock at origin that never
// passivates its twins. log nil: errors only, to stderr.
func startNode(plant *twins.Config, origin time.Time, dir string, log *slog.Logger) (*node, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	n := &node{log: log, clock: actors.NewVirtualClock(origin)}
	if dir == "" {
		d, err := os.MkdirTemp("", "plantwin-sim-")
		if err != nil {
			return nil, err
		}
		n.dir, dir = d, d
	}
	var err error
	if n.store, err = persistence.Open(persistence.DefaultConfig(dir)); err != nil {
		n.close()
		return nil, err
	}
	if n.rt, err = actors.Start(actors.Config{Twins: plant, Store: n.store, Clock: n.clock, PassivateAfter: -1, Logger: log}); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// close stops the node, closes its store and removes a temporary
// directory.
func (n *node) close() {
	if n.rt != nil {
		n.rt.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.dir != "" {
		os.RemoveAll(n.dir)
	}
}

// sampleEvery is the spacing of a series' points, in seconds: at most
// maxSeriesPoints over the run, at least one tick.
func sampleEvery(d time.Duration) float64 {
	return d.Seconds() / maxSeriesPoints
}

// applyAll applies every twin's batch and waits until each is durable.
func applyAll(ctx context.Context, rt *actors.Runtime, order []string, batches map[string]*pb.ApplyTelemetry) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, twin := range order {
		wg.Add(1)
		rt.Submit(batches[twin], func(rep *pb.TelemetryApplied, err error) {
			defer wg.Done()
			if err == nil && len(rep.GetRejected()) > 0 {
				r := rep.GetRejected()[0]
				err = fmt.Errorf("twin %s rejected %s: %s (%s)", rep.TwinId, r.Property, r.Detail, r.Reason)
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// quiesceTimeout bounds the wait for the twins' work in hand (a guard:
// Busy returns to 0 within milliseconds).
const quiesceTimeout = 30 * time.Second

// quiesce waits until the twins have no work in hand (actors.Runtime.Busy:
// timer ticks being decided, commands with their devices) and no call to
// a simulated device is under way (d nil: a replay, no devices).
func quiesce(rt *actors.Runtime, d *device) error {
	deadline := time.Now().Add(quiesceTimeout)
	for rt.Busy() != 0 || d != nil && d.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the twins still have %d pieces of work in hand after %v", rt.Busy(), quiesceTimeout)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

func since(origin time.Time, unixNano int64) string {
	if unixNano == 0 {
		return ""
	}
	return time.Unix(0, unixNano).Sub(origin).String()
}

// outcomes is where a run's results are read: the embedded node, or a
// running node over its API.
type outcomes struct {
	origin   time.Time // simulated time 0
	audit    func(ctx context.Context, twin string) ([]*pb.AuditEntry, error)
	commands func(ctx context.Context, twin string) ([]CommandRecord, error)
	reported func(ctx context.Context, twin string) (map[string]twins.Value, error)
}

// embedded reads the outcomes of the node in this process.
func embedded(rt *actors.Runtime) *outcomes {
	o := &outcomes{origin: Origin}
	o.audit = func(_ context.Context, id string) ([]*pb.AuditEntry, error) { return rt.ReadAudit(id, 0, 0) }
	o.commands = func(ctx context.Context, id string) ([]CommandRecord, error) {
		st, _, err := rt.State(ctx, id)
		if err != nil {
			return nil, err
		}
		var out []CommandRecord
		for _, c := range st.Commands {
			out = append(out, CommandRecord{Twin: id, Name: c.Name, Status: c.Status.String(), InvokedBy: c.Actor,
				DispatchedAt: since(o.origin, c.Dispatched), CompletedAt: since(o.origin, c.Completed), Error: c.Error})
		}
		return out, nil
	}
	o.reported = func(ctx context.Context, id string) (map[string]twins.Value, error) {
		st, _, err := rt.State(ctx, id)
		if err != nil {
			return nil, err
		}
		vals := map[string]twins.Value{}
		for i, p := range st.Spec.Model.Properties {
			if r := st.Reported[i]; r.Quality != twins.QualityUnknown {
				vals[p.Name] = r.Value
			}
		}
		return vals, nil
	}
	return o
}

// collect fills the report's alarms (from the twins' audit trails),
// commands and final states.
func collect(ctx context.Context, out *outcomes, sc *scenario.Scenario, rep *Report) error {
	twinsSeen := map[string]bool{}
	var ids []string
	for _, d := range sc.Devices {
		if !twinsSeen[d.Twin] {
			twinsSeen[d.Twin] = true
			ids = append(ids, d.Twin)
		}
	}
	for _, spec := range sc.Plant.Twins {
		if !twinsSeen[spec.ID] && len(spec.Model.Rules) > 0 {
			twinsSeen[spec.ID] = true
			ids = append(ids, spec.ID)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		spec, _ := sc.Plant.Twin(id)
		audit, err := out.audit(ctx, id)
		if err != nil {
			return err
		}
		open := map[string]int{}
		for _, e := range audit {
			at := e.Time.AsTime()
			if at.Before(out.origin) {
				continue // before this run (a running node's history)
			}
			name, _, _ := strings.Cut(e.Detail, " → ")
			switch e.Action {
			case "raised":
				sev := ""
				for _, r := range spec.Model.Rules {
					if r.Name == name {
						sev = r.Severity.String()
					}
				}
				open[name] = len(rep.Alarms)
				rep.Alarms = append(rep.Alarms, AlarmRecord{Twin: id, Name: name, Severity: sev, RaisedAt: since(out.origin, at.UnixNano())})
			case "cleared":
				if i, ok := open[name]; ok {
					rep.Alarms[i].ClearedAt = since(out.origin, at.UnixNano())
					delete(open, name)
				}
			}
		}
		vals, err := out.reported(ctx, id)
		if err != nil {
			return err
		}
		fin := FinalState{Twin: id, Reported: map[string]any{}}
		for n, v := range vals {
			fin.Reported[n] = plain(v)
		}
		rep.Final = append(rep.Final, fin)
		cmds, err := out.commands(ctx, id)
		if err != nil {
			return err
		}
		rep.Commands = append(rep.Commands, cmds...)
	}
	return nil
}

func within(at string, iv *scenario.Interval) bool {
	if iv == nil {
		return true
	}
	d, err := time.ParseDuration(at)
	return err == nil && d >= iv.From && d <= iv.To
}

// check judges one expectation against the run.
func check(ctx context.Context, out *outcomes, plant *twins.Config, e scenario.Expectation, rep *Report, track map[string]*bounds) ExpectationResult {
	r := ExpectationResult{Name: e.Name}
	switch e.Kind {
	case scenario.ExpectAlarm:
		var times []string
		for _, a := range rep.Alarms {
			if a.Twin == e.Twin && a.Name == e.Alarm {
				times = append(times, a.RaisedAt)
				if within(a.RaisedAt, e.RaisedWithin) {
					r.Passed, r.Detail = true, fmt.Sprintf("%s raised on %s at %s", e.Alarm, e.Twin, a.RaisedAt)
					return r
				}
			}
		}
		if len(times) == 0 {
			r.Detail = fmt.Sprintf("%s was never raised on %s", e.Alarm, e.Twin)
		} else {
			r.Detail = fmt.Sprintf("%s raised on %s at %s, not within [%v, %v]", e.Alarm, e.Twin, strings.Join(times, ", "), e.RaisedWithin.From, e.RaisedWithin.To)
		}
	case scenario.ExpectCommand:
		want := e.Status
		if want == 0 {
			want = twins.CommandSucceeded
		}
		var seen []string
		for _, c := range rep.Commands {
			if c.Twin == e.Twin && c.Name == e.Command {
				seen = append(seen, c.Status)
				if c.Status == want.String() && within(c.DispatchedAt, e.DispatchedWithin) {
					r.Passed, r.Detail = true, fmt.Sprintf("%s on %s %s (dispatched at %s)", e.Command, e.Twin, c.Status, c.DispatchedAt)
					return r
				}
			}
		}
		if len(seen) == 0 {
			r.Detail = fmt.Sprintf("no %s command on %s", e.Command, e.Twin)
		} else {
			r.Detail = fmt.Sprintf("%s on %s ended %s, want %s", e.Command, e.Twin, strings.Join(seen, ", "), want)
		}
	case scenario.ExpectBounds:
		b := track[e.Twin+"\x00"+e.Property]
		switch {
		case b == nil || !b.seen:
			r.Detail = fmt.Sprintf("%s.%s never reported", e.Twin, e.Property)
		case b.min < e.Min || b.max > e.Max:
			r.Detail = fmt.Sprintf("%s.%s ranged over [%g, %g], outside [%g, %g]", e.Twin, e.Property, b.min, b.max, e.Min, e.Max)
		default:
			r.Passed, r.Detail = true, fmt.Sprintf("%s.%s stayed in [%g, %g]", e.Twin, e.Property, b.min, b.max)
		}
	case scenario.ExpectEndState:
		vals, err := out.reported(ctx, e.Twin)
		if err != nil {
			r.Detail = err.Error()
			return r
		}
		spec, ok := plant.Twin(e.Twin)
		if !ok {
			r.Detail = "twin " + e.Twin + " is not in the plant"
			return r
		}
		var bad []string
		names := make([]string, 0, len(e.AtEnd))
		for n := range e.AtEnd {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			want := e.AtEnd[n]
			p, ok := spec.Model.Property(n)
			got, reported := vals[n]
			if !ok || !reported {
				bad = append(bad, n+" never reported")
				continue
			}
			if !p.InSync(want, got) && !got.Equal(want) {
				bad = append(bad, fmt.Sprintf("%s is %s, want %s", n, got, want))
			}
		}
		if len(bad) > 0 {
			r.Detail = e.Twin + " at the end: " + strings.Join(bad, "; ")
		} else {
			r.Passed, r.Detail = true, e.Twin+" at the end as expected"
		}
	}
	return r
}

// plain is a value as JSON writes it.
func plain(v twins.Value) any {
	switch v.Type() {
	case twins.TypeBool:
		return v.AsBool()
	case twins.TypeInt:
		return v.AsInt()
	case twins.TypeDouble:
		return v.AsDouble()
	}
	return v.String()
}
