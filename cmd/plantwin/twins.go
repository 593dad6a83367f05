package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

type clientOptions struct {
	server  string
	output  string
	timeout time.Duration
}

func (o *clientOptions) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.server, "server", "127.0.0.1:7070", "node gRPC address")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of the whole command")
}

func (o *clientOptions) validate() error {
	switch o.output {
	case "table", "json":
		return nil
	}
	return fmt.Errorf("--output %q: want table or json", o.output)
}

func dial(server string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("--server %s: %w", server, err)
	}
	return conn, nil
}

// jsonOpts prints every field, zero values included; int64 as strings.
var jsonOpts = protojson.MarshalOptions{EmitUnpopulated: true}

// marshalJSON renders m as protojson with stable indentation (protojson
// itself varies its whitespace on purpose).
func marshalJSON(m proto.Message, indent string) ([]byte, error) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if indent == "" {
		err = json.Compact(&out, b)
	} else {
		err = json.Indent(&out, b, "", indent)
	}
	return out.Bytes(), err
}

func newTwinsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "twins", Short: "Read twins from a node"}
	cmd.AddCommand(newTwinsListCmd(), newTwinsGetCmd())
	return cmd
}

func newTwinsListCmd() *cobra.Command {
	o := clientOptions{}
	var model, parent string
	var labels []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List twins (all pages), as a table or a JSON array",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			req := &pb.ListTwinsRequest{Model: model, Parent: parent, PageSize: 1000, Labels: map[string]string{}}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return fmt.Errorf("--label %q: want KEY=VALUE", l)
				}
				req.Labels[k] = v
			}
			conn, err := dial(o.server)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			c := pb.NewTwinServiceClient(conn)
			var all []*pb.Twin
			for {
				resp, err := c.ListTwins(ctx, req)
				if err != nil {
					return fmt.Errorf("list twins on %s: %w", o.server, err)
				}
				all = append(all, resp.Twins...)
				if resp.NextPageToken == "" {
					break
				}
				req.PageToken = resp.NextPageToken
			}
			if o.output == "json" {
				return printJSONArray(cmd.OutOrStdout(), all)
			}
			return printTable(cmd.OutOrStdout(), all)
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&model, "model", "", "only twins of this model")
	cmd.Flags().StringVar(&parent, "parent", "", "only children of this twin")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "only twins with this label, KEY=VALUE (repeatable)")
	return cmd
}

func newTwinsGetCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show one twin, as text or a JSON object",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, err := dial(o.server)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			t, err := pb.NewTwinServiceClient(conn).GetTwin(ctx, &pb.GetTwinRequest{Id: args[0]})
			if err != nil {
				return fmt.Errorf("get twin %s on %s: %w", args[0], o.server, err)
			}
			if o.output == "json" {
				b, err := marshalJSON(t, "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			}
			return printTwin(cmd.OutOrStdout(), t)
		},
	}
	o.register(cmd)
	return cmd
}

func printJSONArray(w io.Writer, ts []*pb.Twin) error {
	if len(ts) == 0 {
		_, err := fmt.Fprintln(w, "[]")
		return err
	}
	var b strings.Builder
	b.WriteString("[\n")
	for i, t := range ts {
		js, err := marshalJSON(t, "")
		if err != nil {
			return err
		}
		b.WriteString("  ")
		b.Write(js)
		if i < len(ts)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func shortConn(c pb.Connectivity) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CONNECTIVITY_"))
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

func printTable(w io.Writer, ts []*pb.Twin) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODEL\tVERSION\tPARENT\tPROPS\tCONNECTIVITY\tACTIVE\tLAST UPDATE")
	for _, t := range ts {
		upd := "-"
		if l := lastUpdate(t); !l.IsZero() {
			upd = l.UTC().Format(time.RFC3339)
		}
		parent := t.Parent
		if parent == "" {
			parent = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%v\t%s\n", t.Id, t.Model, t.Version, parent, len(t.Reported), shortConn(t.Connectivity), t.Active, upd)
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
		return fmt.Sprint(k.DoubleValue)
	case *pb.Value_StringValue:
		return fmt.Sprintf("%q", k.StringValue)
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
	fmt.Fprintln(tw, "PROPERTY\tVALUE\tQUALITY\tSOURCE TIME\tSERVER TIME")
	names := make([]string, 0, len(t.Reported))
	for n := range t.Reported {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := t.Reported[n]
		q := strings.ToLower(strings.TrimPrefix(r.Quality.String(), "QUALITY_"))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, valueText(r.Value), q,
			r.GetSourceTime().AsTime().UTC().Format(time.RFC3339Nano), r.GetServerTime().AsTime().UTC().Format(time.RFC3339Nano))
	}
	for n, d := range t.Desired {
		fmt.Fprintf(tw, "%s (desired)\t%s\t\t\t%s\n", n, valueText(d.Value), d.GetUpdateTime().AsTime().UTC().Format(time.RFC3339Nano))
	}
	return tw.Flush()
}
