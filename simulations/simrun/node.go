package simrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/twins"
)

// DefaultBasePort is where a scenario's devices listen for a running
// node unless told otherwise: the i-th device served on 127.0.0.1:47100+i.
const DefaultBasePort = 47100

// NodeConfig returns a plant configuration file for a node that is to
// run sc's devices from a separate process (Options.Node): the scenario's
// plant (models, twins, rules) with connectors and bindings that read the
// devices where Run will serve them, the i-th device (in the scenario's
// order) on host:basePort+i and the MQTT broker after them. Every device
// must be exposed over a protocol.
func NodeConfig(sc *scenario.Scenario, host string, basePort int) ([]byte, error) {
	if err := servedOnly(sc); err != nil {
		return nil, err
	}
	s, err := newServed(sc, nil, nil, time.Now, slog.New(slog.DiscardHandler), servedOptions{Host: host, BasePort: basePort, NoStart: true})
	if err != nil {
		return nil, err
	}
	// The plant as written (its order and comments kept), then the
	// connectors and the bindings.
	var doc, edges yaml.Node
	if err := yaml.Unmarshal(sc.PlantData, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("simrun: the plant of scenario %s is not a mapping (%v)", sc.Name, err)
	}
	if err := yaml.Unmarshal(s.yaml, &edges); err != nil {
		return nil, err
	}
	root, gen := doc.Content[0], edges.Content[0]
	for _, key := range []string{"connectors", "bindings"} {
		for i := 0; i+1 < len(gen.Content); i += 2 {
			if gen.Content[i].Value == key {
				root.Content = append(root.Content, gen.Content[i], gen.Content[i+1])
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# The plant of scenario %s, with connectors that read its simulated\n# devices where `plantwin sim run --server` serves them (%s, ports from %d).\n", sc.Name, host, basePort)
	return append([]byte(head), out...), nil
}

// servedOnly refuses a scenario with direct devices: a running node
// reads devices over the protocols only.
func servedOnly(sc *scenario.Scenario) error {
	if sc.Plant == nil {
		return errors.New("simrun: the scenario has no plant (plant: FILE or an inline plant)")
	}
	for _, d := range sc.Devices {
		if d.Expose == scenario.ExposeDirect {
			return fmt.Errorf("simrun: device %s (line %d) is exposed direct; a running node reads devices over opcua, modbus or mqtt only", d.Name, d.Line)
		}
	}
	return nil
}

// runOnNode runs sc in real time against a running node (Options.Node)
// whose configuration reads the devices where they are served
// (NodeConfig): the devices step on the wall clock, the node's own
// connectors poll and subscribe on their schedule, and the outcomes are
// read over the node's API. Nothing waits for the node, so a run is not
// reproducible bit for bit.
func runOnNode(ctx context.Context, sc *scenario.Scenario, o Options, seed uint64) (*Report, error) {
	if err := servedOnly(sc); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	horizon := sc.Duration
	if o.Until > 0 && o.Until < horizon {
		horizon = o.Until
	}
	base := o.BasePort
	if base == 0 {
		base = DefaultBasePort
	}
	run := scenario.NewRun(sc, seed)
	var mu sync.Mutex
	srv, err := newServed(sc, run, &mu, time.Now, log, servedOptions{BasePort: base})
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	// The node's connectors find the devices on their next attempt.
	if err := waitOnline(ctx, o.Node, srv, o.Progress); err != nil {
		return nil, err
	}
	origin := time.Now().Truncate(time.Millisecond)
	srv.origin = origin
	track := map[string]*bounds{}
	for _, e := range sc.Expect {
		if e.Kind == scenario.ExpectBounds {
			track[e.Twin+"\x00"+e.Property] = &bounds{}
		}
	}
	start := time.Now()
	lastProgress := start
	var samples int64
	for !run.Done() {
		mu.Lock()
		frame, ok := run.Step()
		mu.Unlock()
		if !ok || frame.T > horizon {
			break
		}
		if wait := time.Until(origin.Add(frame.T)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		for _, s := range frame.Samples {
			trackBounds(track, s)
		}
		if err := srv.step(ctx, frame); err != nil {
			return nil, fmt.Errorf("simrun: t=%v: %w", frame.T, err)
		}
		samples += int64(len(frame.Samples))
		if o.Progress != nil && time.Since(lastProgress) >= max(o.Every, time.Second) {
			lastProgress = time.Now()
			done := float64(frame.T) / float64(horizon)
			fmt.Fprintf(o.Progress, "sim %-20s %s %5.1f%%  t=%v/%v  %.0f samples/s  eta %v (real time, against the node)\n", sc.Name, progressBar(done), 100*done,
				frame.T.Round(time.Second), horizon, float64(samples)/time.Since(start).Seconds(), (horizon - frame.T).Round(time.Second))
		}
	}
	// The node's last polls, publishes and decisions.
	settle := o.Settle
	if settle <= 0 {
		settle = 3 * time.Second
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rep := &Report{Scenario: sc.Name, Seed: seed, Simulated: horizon.String(), WallSeconds: time.Since(start).Seconds(), Samples: samples,
		RefusedWrites: srv.writeErrors()}
	if err := judge(ctx, remote(o.Node, origin), sc, rep, track); err != nil {
		return nil, fmt.Errorf("simrun: reading the outcomes from the node: %w", err)
	}
	return rep, nil
}

// waitOnline waits until the node reports every served device's twin
// online (its connector connected), at most a minute.
func waitOnline(ctx context.Context, node pb.TwinServiceClient, srv *served, progress interface{ Write([]byte) (int, error) }) error {
	deadline := time.Now().Add(time.Minute)
	said := false
	for _, sd := range srv.devs {
		for {
			tw, err := node.GetTwin(ctx, &pb.GetTwinRequest{Id: sd.dev.Twin})
			if err != nil {
				return fmt.Errorf("simrun: the node: twin %s: %w", sd.dev.Twin, err)
			}
			if tw.Connectivity == pb.Connectivity_CONNECTIVITY_ONLINE {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("simrun: the node has not connected to device %s (%s) within a minute: is it configured with the connectors of plantwin sim node-config?", sd.dev.Name, sd.endpoint())
			}
			if !said && progress != nil {
				fmt.Fprintf(progress, "waiting for the node to connect to the devices (first: %s at %s)\n", sd.dev.Name, sd.endpoint())
				said = true
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// remote reads the outcomes of a running node over its API; times are
// taken from origin.
func remote(node pb.TwinServiceClient, origin time.Time) *outcomes {
	o := &outcomes{origin: origin}
	o.audit = func(ctx context.Context, id string) ([]*pb.AuditEntry, error) {
		r, err := node.GetAudit(ctx, &pb.GetAuditRequest{TwinId: id})
		if err != nil {
			return nil, err
		}
		return r.Entries, nil
	}
	o.commands = func(ctx context.Context, id string) ([]CommandRecord, error) {
		r, err := node.ListCommands(ctx, &pb.ListCommandsRequest{TwinId: id})
		if err != nil {
			return nil, err
		}
		var out []CommandRecord
		for _, c := range r.Commands {
			if c.CreatedAt.AsTime().Before(origin) {
				continue // before this run
			}
			rec := CommandRecord{Twin: id, Name: c.Name, Status: c.Status, InvokedBy: c.InvokedBy, Error: c.Error}
			if c.DispatchedAt != nil {
				rec.DispatchedAt = since(origin, c.DispatchedAt.AsTime().UnixNano())
			}
			if c.CompletedAt != nil {
				rec.CompletedAt = since(origin, c.CompletedAt.AsTime().UnixNano())
			}
			out = append(out, rec)
		}
		return out, nil
	}
	o.reported = func(ctx context.Context, id string) (map[string]twins.Value, error) {
		tw, err := node.GetTwin(ctx, &pb.GetTwinRequest{Id: id})
		if err != nil {
			return nil, err
		}
		vals := make(map[string]twins.Value, len(tw.Reported))
		for n, pv := range tw.Reported {
			if pv.GetValue() != nil {
				vals[n] = actors.ValueFromProto(pv.Value)
			}
		}
		return vals, nil
	}
	return o
}
