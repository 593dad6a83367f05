package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

type watchOptions struct {
	clientOptions
	model, parent, filter string
	labels                []string
	fromVersion           int64
	heartbeat             time.Duration
	forDur                time.Duration
	showHeartbeats        bool
}

func newTwinsWatchCmd() *cobra.Command {
	o := watchOptions{}
	cmd := &cobra.Command{
		Use:   "watch [ID...] [--filter EXPR] [--from-version N]",
		Short: "Stream twin states and changes as they happen",
		Long: `Stream the current state of every matching twin, then every change.
Table output prints one line per event; -o json prints one JSON object per
line; -o yaml one document per event. When the connection drops, watch
reconnects by itself and resumes each twin from the last version it printed,
so nothing is missed or repeated. Ctrl-C (or --for) ends it.`,
		Example: `  plantwin twins watch
  plantwin twins watch pump-L1-01 pump-L1-02 --from-version 100
  plantwin twins watch --filter 'reported.temperature.value > 80' -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if o.fromVersion < 0 {
				return usage(errors.New("--from-version must not be negative"))
			}
			lbl, err := parseLabels(o.labels)
			if err != nil {
				return err
			}
			req := &pb.WatchTwinsRequest{Ids: args, Model: o.model, Parent: o.parent, Labels: lbl, Filter: o.filter, FromVersion: o.fromVersion}
			if o.heartbeat > 0 {
				req.HeartbeatInterval = durationpb.New(o.heartbeat)
			}
			// --for cancels the stream from this side rather than giving
			// it a deadline: a deadline also reaches the server, whose
			// DEADLINE_EXCEEDED could arrive before the local timer fires.
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			if o.forDur > 0 {
				t := time.AfterFunc(o.forDur, cancel)
				defer t.Stop()
			}
			return watch(ctx, &o, req, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "only twins of this model")
	f.StringVar(&o.parent, "parent", "", "only children of this twin")
	f.StringArrayVar(&o.labels, "label", nil, "only twins with this label, KEY=VALUE (repeatable)")
	f.StringVar(&o.filter, "filter", "", "CEL predicate over the twin (see docs/api.md)")
	f.Int64Var(&o.fromVersion, "from-version", 0, "resume every twin from this version (0: start from the current state)")
	f.DurationVar(&o.heartbeat, "heartbeat", 0, "heartbeat interval asked of the server (default 10s)")
	f.BoolVar(&o.showHeartbeats, "show-heartbeats", false, "print heartbeats in table output")
	f.DurationVar(&o.forDur, "for", 0, "stop after this long (0: until interrupted)")
	cmd.ValidArgsFunction = completeTwinIDs(&o.clientOptions)
	return cmd
}

// watch runs the stream, reconnecting with backoff and resuming from the
// versions already printed.
func watch(ctx context.Context, o *watchOptions, req *pb.WatchTwinsRequest, out, errOut io.Writer) error {
	conn, err := o.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	c := pb.NewTwinServiceClient(conn)
	last := map[string]int64{}
	backoff := 500 * time.Millisecond
	for {
		stream, err := c.WatchTwins(ctx, req)
		if err == nil {
			for {
				var m *pb.WatchTwinsResponse
				if m, err = stream.Recv(); err != nil {
					break
				}
				backoff = 500 * time.Millisecond
				noteVersion(last, m)
				if err = printEvent(out, o, m); err != nil {
					return err
				}
			}
		}
		if ctx.Err() != nil {
			return nil // --for elapsed or interrupted: a normal end
		}
		if !isRetryable(err) {
			return callError("watch twins", o.server, err)
		}
		fmt.Fprintf(errOut, "watch: %v; resuming in %v\n", err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
		if len(last) > 0 {
			req.FromVersions = make(map[string]int64, len(last))
			for id, v := range last {
				req.FromVersions[id] = v
			}
		}
	}
}

func noteVersion(last map[string]int64, m *pb.WatchTwinsResponse) {
	switch ev := m.Event.(type) {
	case *pb.WatchTwinsResponse_State:
		last[ev.State.Id] = ev.State.Version
	case *pb.WatchTwinsResponse_Change:
		last[ev.Change.TwinId] = ev.Change.Version
	case *pb.WatchTwinsResponse_Left:
		last[ev.Left.TwinId] = ev.Left.Version
	}
}

func printEvent(w io.Writer, o *watchOptions, m *pb.WatchTwinsResponse) error {
	switch o.output {
	case "json":
		b, err := marshalJSON(m, "")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		if _, err := fmt.Fprintln(w, "---"); err != nil {
			return err
		}
		return printYAML(w, false, m)
	}
	now := time.Now().Format("15:04:05.000")
	var line string
	switch ev := m.Event.(type) {
	case *pb.WatchTwinsResponse_State:
		t := ev.State
		line = fmt.Sprintf("STATE   %s v%d %s%s", t.Id, t.Version, shortConn(t.Connectivity), reportedText(t.Reported))
	case *pb.WatchTwinsResponse_Change:
		ch := ev.Change
		line = fmt.Sprintf("CHANGE  %s v%d", ch.TwinId, ch.Version)
		if ch.Connectivity != pb.Connectivity_CONNECTIVITY_UNSPECIFIED {
			line += " connectivity=" + shortConn(ch.Connectivity)
		}
		line += reportedText(ch.Reported)
		for _, n := range sortedKeys(ch.Desired) {
			d := ch.Desired[n]
			line += fmt.Sprintf(" desired.%s=%s (by %s)", n, valueText(d.Value), d.UpdatedBy)
		}
		if a := ch.Alarm; a != nil {
			line += fmt.Sprintf(" alarm %s %s → %s [%s]", a.Name, ch.AlarmTransition, a.State, a.Severity)
			if ch.Actor != "" {
				line += " by " + ch.Actor
			}
			if a.Message != "" {
				line += ": " + a.Message
			}
		}
		if c := ch.Command; c != nil {
			line += fmt.Sprintf(" command %s %s %s", c.Id, c.Name, c.Status)
			if c.InvokedBy != "" {
				line += " (by " + c.InvokedBy + ")"
			}
			if c.Error != "" {
				line += ": " + c.Error
			}
		}
		if ch.RuleEvent != "" {
			line += " rule " + ch.RuleEvent
		}
	case *pb.WatchTwinsResponse_Left:
		line = fmt.Sprintf("LEFT    %s v%d (no longer matches)", ev.Left.TwinId, ev.Left.Version)
	case *pb.WatchTwinsResponse_Lagged:
		line = fmt.Sprintf("LAGGED  %d changes dropped; resyncing", ev.Lagged.Dropped)
	case *pb.WatchTwinsResponse_Synced:
		line = fmt.Sprintf("SYNCED  %d twins", ev.Synced.Twins)
	case *pb.WatchTwinsResponse_Heartbeat:
		if !o.showHeartbeats {
			return nil
		}
		line = "HEARTBEAT"
	default:
		return nil
	}
	_, err := fmt.Fprintf(w, "%s %s\n", now, line)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func reportedText(r map[string]*pb.PropertyValue) string {
	var b strings.Builder
	for _, n := range sortedKeys(r) {
		p := r[n]
		fmt.Fprintf(&b, " %s=%s", n, valueText(p.Value))
		if p.Quality != pb.Quality_QUALITY_GOOD {
			fmt.Fprintf(&b, "(%s)", shortQuality(p.Quality))
		}
	}
	return b.String()
}
