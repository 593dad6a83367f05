package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"log/slog"
	"os"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/internal/yamlnode"
	"github.com/plantwin/plantwin/twins"
)

// edgeSections fingerprints the connectors, bindings and edge sections of
// a configuration file: a reload restarts the connectors only when it
// changed.
func edgeSections(file string) (uint64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return edgeSum(data), nil
}

func edgeSum(data []byte) uint64 {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	root := yamlnode.Deref(doc.Content[0])
	sections := &yaml.Node{Kind: yaml.MappingNode}
	if root != nil && root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch root.Content[i].Value {
			case "connectors", "bindings", "edge":
				sections.Content = append(sections.Content, root.Content[i], root.Content[i+1])
			}
		}
	}
	return yamlnode.Hash(sections)
}

// reloadConfig re-reads the node's configuration file, validates all of
// it (models, twins, rules, connectors, bindings) and only then applies
// it: the runtime takes the new plant, and the edge connectors restart
// on the new connectors and bindings if those changed. An invalid file
// changes nothing; its error names file:line:column.
func reloadConfig(o serveOptions, rt *actors.Runtime, running *atomic.Pointer[edge.Host], sum *uint64,
	start func(*edge.Config) (*edge.Host, error), log *slog.Logger) (*pb.ReloadConfigResponse, error) {
	data, err := os.ReadFile(o.config)
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	plant, err := twins.ParseConfig(o.config, data)
	if err != nil {
		return nil, err
	}
	ecfg, err := edge.ParseConfig(o.config, data, plant)
	if err != nil {
		return nil, err
	}
	rc := rt.Reconfigure(plant)
	resp := &pb.ReloadConfigResponse{
		ModelsAdded: rc.ModelsAdded, ModelsChanged: rc.ModelsChanged, ModelsRemoved: rc.ModelsRemoved,
		TwinsAdded: int32(rc.TwinsAdded), TwinsChanged: int32(rc.TwinsChanged), TwinsRemoved: int32(rc.TwinsRemoved),
		Models: int32(len(plant.Models)), Twins: int32(len(plant.Twins)),
	}
	if s := edgeSum(data); s != *sum {
		// The outboxes are per connector in the store: the old connectors
		// stop (and release them) before the new ones open them.
		running.Load().Stop()
		host, err := start(ecfg)
		if err != nil {
			running.Store(nil)
			rt.SetDevice(nil)
			log.Error("connectors could not start on the reloaded configuration; the node runs without them until the next reload", "err", err)
			return resp, fmt.Errorf("reload: the plant was applied but the connectors did not start: %w", err)
		}
		running.Store(host)
		rt.SetDevice(edge.Device(host))
		*sum = s
		resp.ConnectorsRestarted = true
	}
	log.Info("configuration reloaded", "file", o.config, "models", len(plant.Models), "twins", len(plant.Twins),
		"twins_added", rc.TwinsAdded, "twins_changed", rc.TwinsChanged, "twins_removed", rc.TwinsRemoved,
		"connectors_restarted", resp.ConnectorsRestarted)
	return resp, nil
}

func newReloadCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make a node re-read its --config file and apply it without a restart",
		Long: `Ask the node to re-read the configuration file it was started with, validate
all of it (models, twins, rules, connectors, bindings) and apply it: added
twins can be used at once, twins whose model, rules or labels changed save
their state and come back on the new declaration, removed twins stop, and
the edge connectors restart if their connectors or bindings changed (their
outboxes keep what was not delivered). An invalid file is refused with its
file:line:column and nothing changes. Sending the node SIGHUP does the same.
Needs the admin role.`,
		Example: `  plantwin reload --server 127.0.0.1:7443`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewAdminServiceClient(conn).ReloadConfig(ctx, &pb.ReloadConfigRequest{})
			if err != nil {
				return callError("reload", o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, false, resp); done {
				return err
			}
			list := func(s []string) string {
				if len(s) == 0 {
					return "-"
				}
				return strings.Join(s, ", ")
			}
			_, err = fmt.Fprintf(w, "reloaded: %d models, %d twins\nmodels:   added %s; changed %s; removed %s\ntwins:    %d added, %d changed, %d removed\nconnectors restarted: %v\n",
				resp.Models, resp.Twins, list(resp.ModelsAdded), list(resp.ModelsChanged), list(resp.ModelsRemoved),
				resp.TwinsAdded, resp.TwinsChanged, resp.TwinsRemoved, resp.ConnectorsRestarted)
			return err
		},
	}
	o.register(cmd, true)
	return cmd
}
