package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/simulations/recording"
	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/simulations/simrun"
	"github.com/plantwin/plantwin/twins"
)

// recordingError names the file of a recording error; a damaged file is
// bad input (exit 2), like a bad scenario.
func recordingError(name string, err error) error {
	err = fmt.Errorf("%s: %w", name, err)
	if errors.Is(err, recording.ErrCorrupt) {
		return usage(err)
	}
	return err
}

// loadPlant reads and checks a plant configuration file and returns it
// with its bytes.
func loadPlant(flag, name string) (*twins.Config, []byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, usage(fmt.Errorf("%s: %w", flag, err))
	}
	cfg, err := twins.ParseConfig(name, data)
	if err != nil {
		return nil, nil, usage(err)
	}
	return cfg, data, nil
}

func newSimReplayCmd() *cobra.Command {
	var data, speed, plant, expose string
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Replay a recording into an embedded node",
		Long: `Replay a recording (plantwin sim record, sim import) into an embedded node
on a virtual clock starting at the recording's origin, in lockstep as sim run
does: for each time of the recording the clock moves to it, its samples are
applied to their twins and made durable, and the next time waits until the
twins have no work in hand. The twins follow the plant configuration the
recording carries, or --plant FILE. Events in the recording (alarms,
commands) are outcomes and are not replayed; the twins decide their own.
--speed paces the replay to wall time (1: real time); the default, max, runs
as fast as lockstep allows. --data DIR keeps the node's store. --expose
modbus|opcua|mqtt feeds the samples through protocol servers on loopback
(a simulated device per twin, as sim run serves devices) read by the node's
own connectors, instead of straight into the twins. Progress goes to
stderr; the summary line to stdout.`,
		Example: `  plantwin sim replay capture.ptrec --plant plant.yaml --data /tmp/replayed`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			pace, err := parseSpeed(speed)
			if err != nil {
				return usage(err)
			}
			o := simrun.ReplayOptions{Speed: pace, Data: data, Progress: cmd.ErrOrStderr()}
			var ok bool
			if o.Expose, ok = scenario.ParseExpose(expose); !ok {
				return usage(fmt.Errorf("--expose %q: want direct, modbus, opcua or mqtt", expose))
			}
			if plant != "" {
				if o.Plant, _, err = loadPlant("--plant", plant); err != nil {
					return err
				}
			}
			name := args[0]
			f, err := os.Open(name)
			if err != nil {
				return usage(err)
			}
			defer f.Close()
			if st, err := f.Stat(); err == nil {
				o.Size = st.Size()
			}
			rd, err := recording.NewReader(f)
			if err != nil {
				return recordingError(name, err)
			}
			rep, err := simrun.Replay(cmd.Context(), rd, o)
			if err != nil {
				var ce *twins.ConfigError
				if errors.As(err, &ce) {
					return usage(err)
				}
				return recordingError(name, err)
			}
			rate := 0.0
			if rep.WallSeconds > 0 {
				rate = float64(rep.Samples) / rep.WallSeconds
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d samples in %d blocks, %v simulated in %.1fs (%.0f samples/s), %d rejected\n",
				name, rep.Samples, rep.Blocks, rep.Simulated, rep.WallSeconds, rate, rep.Rejected)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&speed, "speed", "max", "simulated time per wall time: 1 (real time), 10, 100, ... or max (as fast as lockstep allows)")
	f.StringVar(&data, "data", "", "the node's data directory (default: a fresh temporary one)")
	f.StringVar(&plant, "plant", "", "the plant configuration (default: the one the recording carries)")
	f.StringVar(&expose, "expose", "direct", "feed the samples directly or through protocol servers: direct, modbus, opcua or mqtt")
	return cmd
}

func newSimExportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export FILE --csv OUT.csv",
		Short: "Export a recording's samples as CSV",
		Long: `Write a recording's samples as CSV with the columns at,twin,property,value,quality:
at in seconds from the recording's origin, values as sim import reads them
back. Events (alarms, commands) are not exported.`,
		Example: `  plantwin sim export capture.ptrec --csv capture.csv`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usage(errors.New("--csv OUT.csv is required"))
			}
			name := args[0]
			in, err := os.Open(name)
			if err != nil {
				return usage(err)
			}
			defer in.Close()
			h, blocks, err := recording.ReadAll(in)
			if err != nil {
				return recordingError(name, err)
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := recording.WriteCSV(f, blocks); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			var samples, events int
			for _, b := range blocks {
				samples, events = samples+len(b.Samples), events+len(b.Events)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d samples written to %s (origin %s; %d events not exported)\n",
				name, samples, out, h.Origin.Format(time.RFC3339Nano), events)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "csv", "", "the CSV file to write")
	return cmd
}

func newSimImportCmd() *cobra.Command {
	var out, plant, origin string
	cmd := &cobra.Command{
		Use:   "import IN.csv --out FILE.ptrec --plant PLANT.yaml [--origin RFC3339]",
		Short: "Build a recording from a CSV file of samples",
		Long: `Build a recording from a CSV file with the columns at,twin,property,value and
optionally quality (good by default): at in seconds from the origin or as
RFC 3339 times; values typed as written (true/false, an integer, a number,
else a string). The recording carries the plant configuration, so that
sim replay needs nothing else. --origin sets simulated time 0 (default: the
first row's time truncated to the second when at holds RFC 3339 times, else
2026-01-01T00:00:00Z as sim run). Every twin and property must be the
plant's.`,
		Example: `  plantwin sim import flows.csv --out flows.ptrec --plant plant.yaml`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" || plant == "" {
				return usage(errors.New("--out FILE and --plant PLANT.yaml are required"))
			}
			cfg, plantData, err := loadPlant("--plant", plant)
			if err != nil {
				return err
			}
			name := args[0]
			org := simrun.Origin
			if origin != "" {
				if org, err = time.Parse(time.RFC3339Nano, origin); err != nil {
					return usage(fmt.Errorf("--origin %q: want an RFC 3339 time such as 2026-01-01T08:00:00Z", origin))
				}
			} else if first, ok := firstCSVTime(name); ok {
				org = first.Truncate(time.Second)
			}
			org = org.UTC()
			in, err := os.Open(name)
			if err != nil {
				return usage(err)
			}
			defer in.Close()
			blocks, err := recording.ReadCSV(in, name, org)
			if err != nil {
				return usage(err)
			}
			var samples int
			for _, b := range blocks {
				for _, s := range b.Samples {
					spec, ok := cfg.Twin(s.Twin)
					if !ok {
						return usage(fmt.Errorf("%s: at %v: twin %s is not in %s", name, b.At, s.Twin, plant))
					}
					if _, ok := spec.Model.Property(s.Property); !ok {
						return usage(fmt.Errorf("%s: at %v: twin %s (model %s) has no property %s", name, b.At, s.Twin, spec.Model.Name, s.Property))
					}
				}
				samples += len(b.Samples)
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			w, err := recording.NewWriter(f, recording.Header{Origin: org, PlantName: plant, Plant: plantData})
			if err == nil {
				for _, b := range blocks {
					for _, s := range b.Samples {
						w.Sample(s)
					}
				}
				err = w.Close()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d samples in %d blocks written to %s (origin %s)\n", name, samples, len(blocks), out, org.Format(time.RFC3339Nano))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "the recording to write")
	f.StringVar(&plant, "plant", "", "the plant configuration the recording carries")
	f.StringVar(&origin, "origin", "", "simulated time 0, an RFC 3339 time (default: see above)")
	return cmd
}

// firstCSVTime returns the first row's at when it is an RFC 3339 time.
func firstCSVTime(name string) (time.Time, bool) {
	f, err := os.Open(name)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return time.Time{}, false
	}
	row, err := r.Read()
	if err != nil {
		return time.Time{}, false
	}
	for i, h := range head {
		if h == "at" && i < len(row) {
			t, err := time.Parse(time.RFC3339Nano, row[i])
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// recordLag is how far behind the newest sample the recorder flushes:
// samples arriving later than that go into late blocks.
const recordLag = 5 * time.Second

type recordOptions struct {
	clientOptions
	out      string
	duration time.Duration
	twins    []string
	plant    string
}

func newSimRecordCmd() *cobra.Command {
	o := recordOptions{}
	cmd := &cobra.Command{
		Use:   "record --server ADDR --out FILE [--duration D] [--twin ID ...]",
		Short: "Record the telemetry a running node ingests",
		Long: `Record the telemetry a running node applies to its twins (every reported
value with its source time and quality, from the node's watch stream), and
its alarms, commands and connectivity changes as events, into a recording
file that sim replay feeds back into a node and sim export turns into CSV.
Simulated time 0 is the first sample's source time truncated to the second.
--twin limits the capture to some twins (repeatable); --plant FILE stores
that plant configuration in the recording, so that sim replay needs
nothing else. Runs until --duration elapses or Ctrl-C, then closes the file
and prints the counts. If the connection drops, or the node drops changes
for a slow recorder, it resumes each twin from the last version it
recorded. Progress goes to stderr every second.`,
		Example: `  plantwin sim record --server 127.0.0.1:7070 --out capture.ptrec --duration 10m --plant plant.yaml`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.out == "" {
				return usage(errors.New("--out FILE is required"))
			}
			if o.duration < 0 {
				return usage(errors.New("--duration must not be negative"))
			}
			var h recording.Header
			if o.plant != "" {
				_, data, err := loadPlant("--plant", o.plant)
				if err != nil {
					return err
				}
				h.PlantName, h.Plant = o.plant, data
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			if o.duration > 0 {
				t := time.AfterFunc(o.duration, cancel)
				defer t.Stop()
			}
			return record(ctx, &o, h, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.register(cmd, false)
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "the recording to write")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until interrupted)")
	f.StringArrayVar(&o.twins, "twin", nil, "record only this twin (repeatable; default: all)")
	f.StringVar(&o.plant, "plant", "", "store this plant configuration in the recording")
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	return cmd
}

// recorder turns watch events into a recording. The file's header needs
// the origin, which the first sample gives: events before it wait.
type recorder struct {
	f       *os.File
	h       recording.Header
	w       *recording.Writer
	early   []*pb.TwinChange // changes with events before the first sample
	newest  time.Duration    // the newest sample's time
	flushed time.Time        // wall time of the last flush
	samples atomic.Int64
	events  atomic.Int64
	twins   map[string]bool
}

// start opens the writer with origin.
func (r *recorder) start(origin time.Time) error {
	r.h.Origin = origin.UTC()
	w, err := recording.NewWriter(r.f, r.h)
	if err != nil {
		return err
	}
	r.w = w
	early := r.early
	r.early = nil
	for _, ch := range early {
		r.changeEvents(ch)
	}
	return nil
}

func (r *recorder) change(ch *pb.TwinChange) error {
	if r.w == nil && len(ch.Reported) > 0 {
		first := time.Time{}
		for _, pv := range ch.Reported {
			if t := pv.GetSourceTime().AsTime(); first.IsZero() || t.Before(first) {
				first = t
			}
		}
		if err := r.start(first.Truncate(time.Second)); err != nil {
			return err
		}
	}
	if r.w == nil {
		r.early = append(r.early, ch)
		return nil
	}
	origin := r.h.Origin
	for _, prop := range sortedKeys(ch.Reported) {
		pv := ch.Reported[prop]
		at := pv.GetSourceTime().AsTime().Sub(origin)
		r.w.Sample(recording.Sample{At: at, Twin: ch.TwinId, Property: prop, Value: actors.ValueFromProto(pv.Value), Quality: twins.Quality(pv.Quality)})
		r.newest = max(r.newest, at)
		r.samples.Add(1)
		r.twins[ch.TwinId] = true
	}
	r.changeEvents(ch)
	if time.Since(r.flushed) >= time.Second {
		r.flushed = time.Now()
		return r.w.Flush(r.newest - recordLag)
	}
	return nil
}

// changeEvents records a change's alarm, command, connectivity and rule
// events (the writer is open).
func (r *recorder) changeEvents(ch *pb.TwinChange) {
	at := ch.GetTime().AsTime().Sub(r.h.Origin)
	add := func(kind, name, detail string) {
		r.w.Event(recording.Event{At: at, Twin: ch.TwinId, Kind: kind, Name: name, Detail: detail})
		r.events.Add(1)
	}
	if ch.Connectivity != pb.Connectivity_CONNECTIVITY_UNSPECIFIED {
		add("connectivity", shortConn(ch.Connectivity), "")
	}
	if a := ch.Alarm; a != nil {
		detail := fmt.Sprintf("%s %s %s", ch.AlarmTransition, a.State, a.Severity)
		if ch.Actor != "" {
			detail += " by " + ch.Actor
		}
		add("alarm", a.Name, detail)
	}
	if c := ch.Command; c != nil {
		detail := c.Id + " " + c.Status
		if c.Error != "" {
			detail += ": " + c.Error
		}
		add("command", c.Name, detail)
	}
	if ch.RuleEvent != "" {
		add("rule", "", ch.RuleEvent)
	}
}

// hasEvents reports whether a change carries an outcome event.
func hasEvents(ch *pb.TwinChange) bool {
	return ch.Connectivity != pb.Connectivity_CONNECTIVITY_UNSPECIFIED || ch.Alarm != nil || ch.Command != nil || ch.RuleEvent != ""
}

// close writes everything and the trailer and closes the file.
func (r *recorder) close(started time.Time) error {
	if r.w == nil {
		// No sample: the origin is the capture's start.
		if err := r.start(started.Truncate(time.Second)); err != nil {
			r.f.Close()
			return err
		}
	}
	err := r.w.Close()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// record runs the capture until ctx ends.
func record(ctx context.Context, o *recordOptions, h recording.Header, out, errOut io.Writer) error {
	conn, err := o.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	f, err := os.Create(o.out)
	if err != nil {
		return err
	}
	started := time.Now()
	r := &recorder{f: f, h: h, twins: map[string]bool{}}

	// Progress every second, from its own goroutine, owned here.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(errOut, "record %s: %d samples, %d events, %v\n", o.out, r.samples.Load(), r.events.Load(), time.Since(started).Round(time.Second))
			}
		}
	}()
	err = capture(ctx, o, pb.NewTwinServiceClient(conn), r, errOut)
	close(stop)
	wg.Wait()
	if cerr := r.close(started); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "recorded %d samples of %d twins and %d events to %s (origin %s)\n",
		r.samples.Load(), len(r.twins), r.events.Load(), o.out, r.h.Origin.Format(time.RFC3339))
	return nil
}

// capture reads the watch stream into r, reconnecting (and resuming each
// twin from the last version seen) after a dropped connection or when the
// node dropped changes for this watcher.
func capture(ctx context.Context, o *recordOptions, client pb.TwinServiceClient, r *recorder, errOut io.Writer) error {
	req := &pb.WatchTwinsRequest{Ids: o.twins, HeartbeatInterval: durationpb.New(time.Second)}
	last := map[string]int64{}
	backoff := 500 * time.Millisecond
	for {
		sctx, cancel := context.WithCancel(ctx)
		stream, err := client.WatchTwins(sctx, req)
		lagged := false
		if err == nil {
			for {
				var m *pb.WatchTwinsResponse
				if m, err = stream.Recv(); err != nil {
					break
				}
				backoff = 500 * time.Millisecond
				if lg := m.GetLagged(); lg != nil {
					fmt.Fprintf(errOut, "record: the node dropped %d changes for this recorder; resuming from the journal\n", lg.Dropped)
					lagged = true
					break
				}
				if ch := m.GetChange(); ch != nil && (len(ch.Reported) > 0 || hasEvents(ch)) {
					if err := r.change(ch); err != nil {
						cancel()
						return err
					}
				}
				noteVersion(last, m)
			}
		}
		cancel()
		if ctx.Err() != nil {
			return nil // --duration elapsed or interrupted: a normal end
		}
		if !lagged {
			if !isRetryable(err) {
				return callError("watch twins", o.server, err)
			}
			fmt.Fprintf(errOut, "record: %v; resuming in %v\n", err, backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		}
		if len(last) > 0 {
			req.FromVersions = make(map[string]int64, len(last))
			for id, v := range last {
				req.FromVersions[id] = v
			}
		}
	}
}
