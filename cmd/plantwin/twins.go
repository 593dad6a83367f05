package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

func newTwinsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "twins", Short: "Query, watch and drive twins on a node"}
	cmd.AddCommand(newTwinsListCmd(), newTwinsGetCmd(), newTwinsWatchCmd(), newTwinsSetCmd(), newTwinsHistoryCmd())
	cmd.AddCommand(newTwinsCmdCmd(), newTwinsCommandsCmd(), newTwinsAlarmsCmd(), newTwinsAckCmd(), newTwinsShelveCmd(), newTwinsUnshelveCmd(), newTwinsAuditCmd())
	return cmd
}

// completeTwinIDs completes twin ids from the node (first page only).
func completeTwinIDs(o *clientOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		conn, err := o.dial()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
		defer cancel()
		resp, err := pb.NewTwinServiceClient(conn).ListTwins(ctx, &pb.ListTwinsRequest{PageSize: 1000, Filter: fmt.Sprintf("id.startsWith(%q)", prefix)})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var ids []string
		for _, t := range resp.Twins {
			ids = append(ids, t.Id)
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
}

func parseLabels(labels []string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, usage(fmt.Errorf("--label %q: want KEY=VALUE", l))
		}
		out[k] = v
	}
	return out, nil
}

// callError names the call and node, keeping the gRPC code visible.
func callError(what, server string, err error) error {
	st := status.Convert(err)
	return fmt.Errorf("%s on %s: %s: %s", what, server, st.Code(), st.Message())
}

func newTwinsListCmd() *cobra.Command {
	o := clientOptions{}
	var model, parent, filter string
	var labels []string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--filter EXPR] [--limit N]",
		Short: "List twins (every page unless --limit), as a table, JSON or YAML",
		Example: `  plantwin twins list
  plantwin twins list --model pump --label line=L2
  plantwin twins list --filter 'reported.temperature.value > 80' -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if limit < 0 {
				return usage(errors.New("--limit must not be negative"))
			}
			lbl, err := parseLabels(labels)
			if err != nil {
				return err
			}
			req := &pb.ListTwinsRequest{Model: model, Parent: parent, Labels: lbl, Filter: filter, PageSize: 1000}
			if limit > 0 && limit < 1000 {
				req.PageSize = int32(limit)
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			c := pb.NewTwinServiceClient(conn)
			var all []*pb.Twin
			for {
				resp, err := c.ListTwins(ctx, req)
				if err != nil {
					return callError("list twins", o.server, err)
				}
				all = append(all, resp.Twins...)
				if resp.NextPageToken == "" || (limit > 0 && len(all) >= limit) {
					break
				}
				req.PageToken = resp.NextPageToken
			}
			if limit > 0 && len(all) > limit {
				all = all[:limit]
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, true, all...); done {
				return err
			}
			return printTable(w, all, time.Now())
		},
	}
	o.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "only twins of this model")
	f.StringVar(&parent, "parent", "", "only children of this twin")
	f.StringArrayVar(&labels, "label", nil, "only twins with this label, KEY=VALUE (repeatable)")
	f.StringVar(&filter, "filter", "", "CEL predicate over the twin, e.g. 'reported.flow.value > 80' (see docs/api.md)")
	f.IntVar(&limit, "limit", 0, "stop after N twins (0: all)")
	return cmd
}

func newTwinsGetCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show one twin, as text, JSON or YAML",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			t, err := pb.NewTwinServiceClient(conn).GetTwin(ctx, &pb.GetTwinRequest{Id: args[0]})
			if err != nil {
				return callError("get twin "+args[0], o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, false, t); done {
				return err
			}
			return printTwin(w, t)
		},
	}
	o.register(cmd, true)
	cmd.ValidArgsFunction = completeTwinIDs(&o)
	return cmd
}

func newTwinsSetCmd() *cobra.Command {
	o := clientOptions{}
	var expected int64
	cmd := &cobra.Command{
		Use:   "set ID PROPERTY=VALUE...",
		Short: "Set desired values of writable properties (all or none)",
		Long: `Set desired values of writable properties of a twin, all or none. Values are
parsed by the property's type in the twin's model (true/false, integers,
decimals, strings, enum symbols). With --expected-version the update is
refused (ABORTED) if the twin has changed since that version.`,
		Example: `  plantwin twins set pump-L1-01 setpoint=42.5
  plantwin twins set pump-L1-01 setpoint=40 --expected-version 118`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			assign := map[string]string{}
			for _, a := range args[1:] {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return usage(fmt.Errorf("%q: want PROPERTY=VALUE", a))
				}
				assign[k] = v
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			tc := pb.NewTwinServiceClient(conn)
			t, err := tc.GetTwin(ctx, &pb.GetTwinRequest{Id: args[0]})
			if err != nil {
				return callError("get twin "+args[0], o.server, err)
			}
			m, err := pb.NewModelServiceClient(conn).GetModel(ctx, &pb.GetModelRequest{Name: t.Model})
			if err != nil {
				return callError("get model "+t.Model, o.server, err)
			}
			req := &pb.UpdateDesiredRequest{TwinId: args[0], ExpectedVersion: expected, Values: map[string]*pb.Value{}}
			for k, text := range assign {
				v, err := parseValue(m, k, text)
				if err != nil {
					return usage(err)
				}
				req.Values[k] = v
			}
			resp, err := tc.UpdateDesired(ctx, req)
			if err != nil {
				return callError("set desired on "+args[0], o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, false, resp); done {
				return err
			}
			fmt.Fprintf(w, "%s: desired values set at version %d\n", args[0], resp.Version)
			return nil
		},
	}
	o.register(cmd, true)
	cmd.Flags().Int64Var(&expected, "expected-version", 0, "only if the twin is still at this version (0: any)")
	cmd.ValidArgsFunction = completeTwinIDs(&o)
	return cmd
}

// parseValue parses text as the type of the model's property name.
func parseValue(m *pb.Model, name, text string) (*pb.Value, error) {
	var p *pb.PropertySpec
	for _, q := range m.Properties {
		if q.Name == name {
			p = q
		}
	}
	if p == nil {
		return nil, fmt.Errorf("%s: model %s has no property %q", name, m.Name, name)
	}
	bad := func(want string) error { return fmt.Errorf("%s=%s: want %s", name, text, want) }
	switch p.Type {
	case pb.ValueType_VALUE_TYPE_BOOL:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, bad("true or false")
		}
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: b}}, nil
	case pb.ValueType_VALUE_TYPE_INT:
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, bad("an integer")
		}
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: i}}, nil
	case pb.ValueType_VALUE_TYPE_DOUBLE:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, bad("a number")
		}
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: f}}, nil
	case pb.ValueType_VALUE_TYPE_ENUM:
		return &pb.Value{Kind: &pb.Value_EnumValue{EnumValue: text}}, nil
	}
	return &pb.Value{Kind: &pb.Value_StringValue{StringValue: text}}, nil
}

// parseSince reads a duration before now ("1h") or an RFC 3339 time.
func parseSince(flag, s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, usage(fmt.Errorf("--%s %s: want a positive duration", flag, s))
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usage(fmt.Errorf("--%s %q: want a duration before now (1h, 30m) or an RFC 3339 time", flag, s))
	}
	return t, nil
}

func newTwinsHistoryCmd() *cobra.Command {
	o := clientOptions{}
	var since, until string
	var step time.Duration
	cmd := &cobra.Command{
		Use:   "history ID PROPERTY --since 1h [--step 1m]",
		Short: "Show a property's history, raw or downsampled",
		Example: `  plantwin twins history pump-L1-01 flow --since 10m
  plantwin twins history pump-L1-01 flow --since 24h --step 1h`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			now := time.Now()
			from, err := parseSince("since", since, now)
			if err != nil {
				return err
			}
			req := &pb.GetHistoryRequest{TwinId: args[0], Property: args[1], StartTime: timestamppb.New(from), PageSize: 10000}
			if until != "" {
				to, err := parseSince("until", until, now)
				if err != nil {
					return err
				}
				req.EndTime = timestamppb.New(to)
			}
			if step < 0 {
				return usage(errors.New("--step must be positive"))
			}
			if step > 0 {
				req.Step = durationpb.New(step)
				req.PageSize = 0
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			c := pb.NewTwinServiceClient(conn)
			all := &pb.GetHistoryResponse{}
			for {
				resp, err := c.GetHistory(ctx, req)
				if err != nil {
					return callError("history of "+args[0]+" "+args[1], o.server, err)
				}
				all.Points = append(all.Points, resp.Points...)
				all.Buckets = append(all.Buckets, resp.Buckets...)
				if resp.NextPageToken == "" {
					break
				}
				req.PageToken = resp.NextPageToken
			}
			w := cmd.OutOrStdout()
			if step > 0 {
				if done, err := printStructured(w, o.output, true, all.Buckets...); done {
					return err
				}
			} else if done, err := printStructured(w, o.output, true, all.Points...); done {
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			if step > 0 {
				fmt.Fprintln(tw, "START\tCOUNT\tMIN\tMAX\tAVG\tLAST")
				for _, b := range all.Buckets {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", b.StartTime.AsTime().UTC().Format(time.RFC3339), b.Count,
						optFloat(b.Min), optFloat(b.Max), optFloat(b.Avg), valueText(b.Last))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "%d buckets of %v\n", len(all.Buckets), step)
				return err
			}
			fmt.Fprintln(tw, "SOURCE TIME\tVALUE\tQUALITY\tVERSION")
			for _, p := range all.Points {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", p.SourceTime.AsTime().UTC().Format(time.RFC3339Nano), valueText(p.Value), shortQuality(p.Quality), p.Version)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%d values\n", len(all.Points))
			return err
		},
	}
	o.register(cmd, true)
	cmd.Flags().StringVar(&since, "since", "1h", "start: a duration before now (1h) or an RFC 3339 time")
	cmd.Flags().StringVar(&until, "until", "", "end: a duration before now or an RFC 3339 time (default now)")
	cmd.Flags().DurationVar(&step, "step", 0, "downsample into buckets this wide (min, max, avg, last, count)")
	cmd.ValidArgsFunction = completeTwinIDs(&o)
	return cmd
}

func optFloat(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'g', 6, 64)
}

func shortConn(c pb.Connectivity) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CONNECTIVITY_"))
}

func shortQuality(q pb.Quality) string {
	return strings.ToLower(strings.TrimPrefix(q.String(), "QUALITY_"))
}

func lastUpdate(t *pb.Twin) time.Time {
	var last time.Time
	for _, r := range t.Reported {
		if st := r.GetServerTime(); st != nil && st.AsTime().After(last) {
			last = st.AsTime()
		}
	}
	return last
}

// age renders how long ago t was, compactly ("3s", "5m", "2h", "4d").
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// printTable prints twins in columns that fit an 80-column terminal for
// ids up to about 30 characters.
func printTable(w io.Writer, ts []*pb.Twin, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODEL\tVERSION\tCONN\tACTIVE\tPROPS\tUPDATED")
	for _, t := range ts {
		active := "no"
		if t.Active {
			active = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\n", t.Id, t.Model, t.Version, shortConn(t.Connectivity), active, len(t.Reported), age(now, lastUpdate(t)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d twins\n", len(ts))
	return err
}

func valueText(v *pb.Value) string {
	switch k := v.GetKind().(type) {
	case *pb.Value_BoolValue:
		return fmt.Sprint(k.BoolValue)
	case *pb.Value_IntValue:
		return fmt.Sprint(k.IntValue)
	case *pb.Value_DoubleValue:
		return strconv.FormatFloat(k.DoubleValue, 'g', -1, 64)
	case *pb.Value_StringValue:
		return strconv.Quote(k.StringValue)
	case *pb.Value_EnumValue:
		return k.EnumValue
	}
	return "-"
}

func printTwin(w io.Writer, t *pb.Twin) error {
	fmt.Fprintf(w, "id:           %s\nmodel:        %s\nversion:      %d\n", t.Id, t.Model, t.Version)
	if t.Parent != "" {
		fmt.Fprintf(w, "parent:       %s\n", t.Parent)
	}
	keys := make([]string, 0, len(t.Labels))
	for k := range t.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "label:        %s=%s\n", k, t.Labels[k])
	}
	fmt.Fprintf(w, "connectivity: %s\nactive:       %v\n\n", shortConn(t.Connectivity), t.Active)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROPERTY\tVALUE\tQUALITY\tSOURCE TIME")
	names := make([]string, 0, len(t.Reported))
	for n := range t.Reported {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := t.Reported[n]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, valueText(r.Value), shortQuality(r.Quality), r.GetSourceTime().AsTime().UTC().Format(time.RFC3339Nano))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(t.Desired) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DESIRED\tVALUE\tSET AT\tBY")
	names = names[:0]
	for n := range t.Desired {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := t.Desired[n]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, valueText(d.Value), d.GetUpdateTime().AsTime().UTC().Format(time.RFC3339), d.UpdatedBy)
	}
	return tw.Flush()
}

// isRetryable reports whether a watch should reconnect after err.
func isRetryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Internal, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}
