package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "models", Short: "Show the device models a node serves"}
	cmd.AddCommand(newModelsListCmd(), newModelsGetCmd())
	return cmd
}

func newModelsListCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List models with their twin, property and command counts",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewModelServiceClient(conn).ListModels(ctx, &pb.ListModelsRequest{})
			if err != nil {
				return callError("list models", o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, true, resp.Models...); done {
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tTWINS\tPROPERTIES\tCOMMANDS\tDESCRIPTION")
			for _, m := range resp.Models {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", m.Name, m.TwinCount, len(m.Properties), len(m.Commands), m.Description)
			}
			return tw.Flush()
		},
	}
	o.register(cmd, true)
	return cmd
}

func newModelsGetCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one model: properties with types, units, bounds and writability; commands",
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
			m, err := pb.NewModelServiceClient(conn).GetModel(ctx, &pb.GetModelRequest{Name: args[0]})
			if err != nil {
				return callError("get model "+args[0], o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, false, m); done {
				return err
			}
			return printModel(w, m)
		},
	}
	o.register(cmd, true)
	return cmd
}

func typeName(t pb.ValueType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "VALUE_TYPE_"))
}

// bounds renders min..max, or the enum symbols.
func bounds(min, max *float64, enum []string) string {
	if len(enum) > 0 {
		return strings.Join(enum, "|")
	}
	if min == nil && max == nil {
		return "-"
	}
	lo, hi := "", ""
	if min != nil {
		lo = fmt.Sprint(*min)
	}
	if max != nil {
		hi = fmt.Sprint(*max)
	}
	return lo + ".." + hi
}

func printModel(w io.Writer, m *pb.Model) error {
	fmt.Fprintf(w, "model:        %s\ntwins:        %d\n", m.Name, m.TwinCount)
	if m.Description != "" {
		fmt.Fprintf(w, "description:  %s\n", m.Description)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROPERTY\tTYPE\tUNIT\tRANGE\tWRITABLE")
	for _, p := range m.Properties {
		unit := p.Unit
		if unit == "" {
			unit = "-"
		}
		wr := "no"
		if p.Writable {
			wr = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, typeName(p.Type), unit, bounds(p.Min, p.Max, p.EnumValues), wr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Commands) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMAND\tPARAMETERS\tDESCRIPTION")
	for _, c := range m.Commands {
		var ps []string
		for _, p := range c.Parameters {
			s := p.Name + ":" + typeName(p.Type)
			if p.Required {
				s += "!"
			}
			ps = append(ps, s)
		}
		params := strings.Join(ps, " ")
		if params == "" {
			params = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, params, c.Description)
	}
	return tw.Flush()
}

func newNodeCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Show the node: id, addresses, readiness, twins, watchers, security",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			n, err := pb.NewNodeServiceClient(conn).GetNode(ctx, &pb.GetNodeRequest{})
			if err != nil {
				return callError("get node", o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, false, n); done {
				return err
			}
			ready := "yes"
			if !n.Ready {
				ready = "no (" + n.NotReadyReason + ")"
			}
			up := time.Since(n.StartTime.AsTime()).Round(time.Second)
			_, err = fmt.Fprintf(w, "node:     %s (version %s, up %v)\nready:    %s\napi:      %s (tls %v, auth %v)\nactors:   %s\ngossip:   %s\ntwins:    %d declared, %d active, %d models\nwatchers: %d\n",
				n.NodeId, n.Version, up, ready, n.ApiAddress, n.TlsEnabled, n.AuthEnabled, n.ActorAddress, n.GossipAddress, n.DeclaredTwins, n.ActiveTwins, n.Models, n.Watchers)
			return err
		},
	}
	o.register(cmd, true)
	return cmd
}
