package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

func newEdgeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "edge", Short: "The node's edge connectors"}
	cmd.AddCommand(newEdgeStatusCmd())
	return cmd
}

func newEdgeStatusCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each connector's state, last error, samples/s and reconnects",
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
			resp, err := pb.NewEdgeServiceClient(conn).ListConnectors(ctx, &pb.ListConnectorsRequest{})
			if err != nil {
				return callError("list connectors", o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, true, resp.Connectors...); done {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CONNECTOR\tPROTOCOL\tSTATE\tSINCE\tSAMPLES/S\tRECONNECTS\tERRORS")
			for _, c := range resp.Connectors {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%d\t%d\n", c.Name, c.Protocol, c.State, age(now, c.GetStateSince().AsTime()), c.SamplesPerSecond, c.Reconnects, c.ReadErrors)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, c := range resp.Connectors {
				if c.LastError != "" {
					fmt.Fprintf(w, "%s: last error %s ago: %s\n", c.Name, age(now, c.GetLastErrorTime().AsTime()), c.LastError)
				}
			}
			_, err = fmt.Fprintf(w, "%d connectors\n", len(resp.Connectors))
			return err
		},
	}
	o.register(cmd, true)
	return cmd
}
