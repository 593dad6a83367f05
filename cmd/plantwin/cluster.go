package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	plcluster "github.com/plantwin/plantwin/cluster"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "The cluster's members, as the nodes see them"}
	cmd.AddCommand(newClusterMembersCmd(), newClusterDrainCmd(), newClusterRemoveCmd(), newClusterKeygenCmd())
	return cmd
}

// memberRow is one member as cluster members prints it (-o json: an
// array of these).
type memberRow struct {
	Name          string `json:"name" yaml:"name"`
	Address       string `json:"address" yaml:"address"` // its API (gRPC)
	State         string `json:"state" yaml:"state"`
	Role          string `json:"role" yaml:"role"`
	Zone          string `json:"zone" yaml:"zone"`
	Twins         *int32 `json:"twins" yaml:"twins"` // active on it; null when it did not answer
	NodeID        string `json:"nodeId" yaml:"nodeId"`
	GossipAddress string `json:"gossipAddress" yaml:"gossipAddress"`
	ActorAddress  string `json:"actorAddress" yaml:"actorAddress"`
	StartTime     string `json:"startTime,omitempty" yaml:"startTime,omitempty"`
	Self          bool   `json:"self" yaml:"self"`
	InRoster      bool   `json:"inRoster" yaml:"inRoster"`               // holds replicas and votes
	Error         string `json:"error,omitempty" yaml:"error,omitempty"` // why twins is null
}

func newClusterMembersCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members: name, API address, state, role, zone, active twins",
		Long: `List the members of the cluster as the node at --server sees them
(memberlist gossip), itself included. Each member's active twins are asked
of the member itself, at its gossiped API address, with the same TLS and
token flags; a member that does not answer shows no count and the reason.
A roster member that gossip does not show (crashed, stopped, cut off) is
listed with state "down". The table ends with the roster's version. -o json
prints an array of objects with name, address (the member's API), state,
role, zone, twins, nodeId, gossipAddress, actorAddress, startTime, self and
inRoster.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewNodeServiceClient(conn).ListMembers(ctx, &pb.ListMembersRequest{})
			if err != nil {
				return callError("list members", o.server, err)
			}
			rows := make([]memberRow, 0, len(resp.Members))
			for _, m := range resp.Members {
				r := memberRow{Name: m.Name, Address: m.ApiAddress, State: m.State, Role: m.Role, Zone: m.Zone,
					NodeID: m.NodeId, GossipAddress: m.GossipAddress, ActorAddress: m.ActorAddress, Self: m.Self, InRoster: m.InRoster}
				if m.StartTime != nil {
					r.StartTime = m.StartTime.AsTime().UTC().Format(time.RFC3339)
				}
				if m.State == "down" {
					r.Error = "down: gossip does not show it"
					rows = append(rows, r)
					continue
				}
				n, err := memberNode(ctx, o, m)
				if err != nil {
					r.Error = err.Error()
				} else {
					r.Twins = &n.ActiveTwins
				}
				rows = append(rows, r)
			}
			w := cmd.OutOrStdout()
			switch o.output {
			case "json":
				b, err := json.MarshalIndent(rows, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "%s\n", b)
				return err
			case "yaml":
				return yaml.NewEncoder(w).Encode(rows)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tROLE\tZONE\tADDRESS\tTWINS\tGOSSIP\tNODE ID")
			for _, r := range rows {
				twins := "?"
				if r.Twins != nil {
					twins = fmt.Sprint(*r.Twins)
				}
				name := r.Name
				if r.Self {
					name += " *"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, r.State, dash(r.Role), dash(r.Zone), dash(r.Address), twins, r.GossipAddress, r.NodeID)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			joint := "settled"
			if resp.RosterJoint {
				joint = "joint: a node is being added"
			}
			_, err = fmt.Fprintf(w, "roster v%d (%s)\n", resp.RosterVersion, joint)
			return err
		},
	}
	o.register(cmd, true)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// memberNode asks a member for its node description at its own API
// address (the connection flags of --server apply).
func memberNode(ctx context.Context, o clientOptions, m *pb.Member) (*pb.Node, error) {
	if m.ApiAddress == "" {
		return nil, fmt.Errorf("no API address gossiped")
	}
	mo := o
	mo.server = m.ApiAddress
	conn, err := mo.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	n, err := pb.NewNodeServiceClient(conn).GetNode(cctx, &pb.GetNodeRequest{})
	if err != nil {
		return nil, callError("get node", m.ApiAddress, err)
	}
	return n, nil
}

func newClusterKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new gossip encryption key (for serve --gossip-key-file)",
		Long: `Print a new random 32-byte gossip encryption key, base64-encoded. Store it
in a file readable only by plantwin on every node and pass it with
serve --gossip-key-file: every node of a cluster needs the same key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := plcluster.NewGossipKey()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), key)
			return err
		},
	}
}

func newClusterDrainCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Hand a member's twins to the other members before maintenance",
		Long: `Ask the member NODE (its --node-name) to hand its twins to the other members:
it stops taking twins, each of its twins finishes what it has in flight and
writes its final state to its replicas, and the next request activates the
twin on the next replica in its order. The command returns once NODE runs no
twin; NODE keeps serving the API and replicating until it is stopped (stop it
with SIGTERM, which drains by itself too). Needs the admin role.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewNodeServiceClient(conn).DrainNode(ctx, &pb.DrainNodeRequest{Name: args[0]})
			if err != nil {
				return callError("drain "+args[0], o.server, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "drained %s: %d twins handed off in %v\n", resp.Name, resp.TwinsMoved,
				time.Duration(resp.TookNanos).Round(time.Millisecond))
			return err
		},
	}
	o.register(cmd, false)
	return cmd
}

func newClusterRemoveCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "remove NODE",
		Short: "Take a member out of the cluster for good (a dead node, or one drained and stopped)",
		Long: `Take the member NODE (its --node-name) out of the cluster's roster for good,
coordinated by the node --server names (not NODE itself). Every twin that had
a replica on NODE gets one on another member: the command first brings each
such twin's data to a majority of its new replicas, then settles the roster
without NODE, and prints the new roster.

NODE must be down (crashed, gone) or draining: to decommission a live node,
run "plantwin cluster drain NODE", stop it, then remove it. Every other
roster member must be up. Do not start NODE again on its old data; wipe it
first to add it back as a new node. Needs the admin role.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewNodeServiceClient(conn).RemoveNode(ctx, &pb.RemoveNodeRequest{Name: args[0]})
			if err != nil {
				return callError("remove "+args[0], o.server, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed %s: roster v%d is %s; %d twins moved to new replicas in %v\n", args[0], resp.RosterVersion,
				strings.Join(resp.Members, ", "), resp.TwinsMoved, time.Duration(resp.TookNanos).Round(time.Millisecond))
			return err
		},
	}
	o.register(cmd, false)
	// Moving many twins' data takes longer than a query.
	if f := cmd.Flags().Lookup("timeout"); f != nil {
		f.DefValue = "10m0s"
		_ = f.Value.Set("10m")
	}
	return cmd
}
