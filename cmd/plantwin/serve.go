package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	plcluster "github.com/plantwin/plantwin/cluster"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/connectors"
	"github.com/plantwin/plantwin/gateway"
	"github.com/plantwin/plantwin/gateway/auth"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

type serveOptions struct {
	config           string
	demo             bool
	data             string
	listen           string
	metrics          string
	logFormat        string
	logLevel         string
	remote           string
	gossip           string
	passivateAfter   time.Duration
	snapshotEvery    int
	historyRetention time.Duration
	insecure         bool
	demoPeriod       time.Duration
	demoAckLog       string
	demoFeed         string
	role, zone       string
	tlsCert          string
	tlsKey           string
	clientCA         string
	tokens           string
	nodeName         string
	bind             string
	advertise        string
	join             []string
	clusterProfile   string
	replicas         int
	affinity         bool
	gossipKeyFile    string
	clusterTLS       plcluster.RemoteTLS
}

func newServeCmd() *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a plantwin node",
		Long: `Run a plantwin node: load the configuration, open the store under --data,
start the twin runtime and serve the gRPC API on --listen.

Every listener binds to loopback unless told otherwise; the actor-remote and
gossip ports default to free ones. On a non-loopback --listen address serve
requires TLS (--tls-cert, --tls-key) and authentication (--tokens and/or
--client-ca), unless --insecure is given. SIGINT or SIGTERM shut the node down
cleanly: intake stops, twins snapshot, the store closes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "configuration file (models, twins, ingest policy); see docs/config.md")
	f.BoolVar(&o.demo, "demo", false, "use the bundled demo plant and feed it from the in-process generator")
	f.StringVar(&o.data, "data", "./data", "data directory (the node's Pebble store)")
	f.StringVar(&o.nodeName, "node-name", defaultNodeName(), "this node's name: connectors whose node: names another node do not run here; gossiped to the cluster")
	f.StringVar(&o.role, "role", "", "a label of this node for the cluster's member list (plantwin cluster members)")
	f.StringVar(&o.zone, "zone", "", "the zone (rack, hall, site) of this node, for the cluster's member list")
	f.StringVar(&o.listen, "listen", "127.0.0.1:7070", "gRPC listen address")
	f.StringVar(&o.metrics, "metrics", "", "Prometheus metrics listen address, e.g. 127.0.0.1:9090 (off when empty)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.remote, "remote", "127.0.0.1:0", "protoactor remote listen address (port 0: a free port)")
	f.StringVar(&o.gossip, "gossip", "", "deprecated name of --bind")
	f.StringVar(&o.bind, "bind", "", "memberlist gossip listen address, host:port (default 127.0.0.1:0: loopback, a free port; a seed node needs a fixed port)")
	f.StringVar(&o.advertise, "advertise", "", "gossip address the other nodes use to reach this one, host:port (default: the bound address)")
	f.StringSliceVar(&o.join, "join", nil, "join the cluster through these seed nodes' gossip addresses, host:port[,...]; retried until one answers")
	f.StringVar(&o.clusterProfile, "cluster-profile", "lan", "memberlist timings: lan (a crashed node is declared dead in about 2 s), lan-conservative (about 6 s, for congested networks) or local (one machine: tests, development)")
	f.BoolVar(&o.affinity, "placement-affinity", false, "keep each twin on the nodes of its parent (a line with its pumps); set on the node that founds the cluster, which stores the configuration's twin-parent pairs in the roster for every node to follow")
	f.IntVar(&o.replicas, "replicas", 3, "nodes that hold each twin's journal and snapshots, the owner included; an update is acknowledged once a majority of them has it (the founding node's value is kept in the cluster's roster and followed by every node)")
	f.StringVar(&o.gossipKeyFile, "gossip-key-file", "", "encrypt gossip with the base64 key in this file (16, 24 or 32 bytes; 'plantwin cluster keygen' makes one); every node needs the same key")
	f.StringVar(&o.clusterTLS.CertFile, "cluster-tls-cert", "", "mutual TLS between nodes: this node's PEM certificate (DNS name "+plcluster.TLSServerName+"; needs --cluster-tls-key and --cluster-ca)")
	f.StringVar(&o.clusterTLS.KeyFile, "cluster-tls-key", "", "PEM private key of --cluster-tls-cert")
	f.StringVar(&o.clusterTLS.CAFile, "cluster-ca", "", "PEM CA that signs every node's --cluster-tls-cert")
	f.DurationVar(&o.passivateAfter, "passivate-after", 10*time.Minute, "passivate a twin idle this long (wall time; negative: never)")
	f.IntVar(&o.snapshotEvery, "snapshot-every", 1000, "snapshot a twin every N events")
	f.DurationVar(&o.historyRetention, "history-retention", 7*24*time.Hour, "keep property history this long (0: forever)")
	f.BoolVar(&o.insecure, "insecure", false, "allow non-loopback listen addresses without TLS and authentication")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serve gRPC over TLS with this PEM certificate (needs --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.clientCA, "client-ca", "", "accept client certificates signed by this PEM CA (mutual TLS); the role is the certificate's OU (viewer, operator or admin)")
	f.StringVar(&o.tokens, "tokens", "", "require bearer tokens from this file (made by 'plantwin token create') on every plantwin.v1 call and reflection; health stays open; SIGHUP reloads it")
	f.DurationVar(&o.demoPeriod, "demo-period", time.Second, "period of the demo generator")
	f.StringVar(&o.demoAckLog, "demo-ack-log", "", "append a line per acknowledged demo batch to this file (for crash tests; needs --demo-feed direct)")
	f.StringVar(&o.demoFeed, "demo-feed", "protocols", "how the demo plant reaches its twins: protocols (simulated Modbus PLCs and an OPC UA server on loopback, read by the node's connectors) or direct (the generator submits to the twins)")
	return cmd
}

func newLogger(format, level string, w *os.File) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// isLoopback reports whether addr's host is a loopback address.
func isLoopback(flag, addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("--%s %q: %w", flag, addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// checkLoopback refuses a non-loopback address unless insecure is set.
func checkLoopback(flag, addr, why string, insecure bool) error {
	ok, err := isLoopback(flag, addr)
	if err != nil || ok || insecure {
		return err
	}
	return fmt.Errorf("--%s %s is not a loopback address and %s, so plantwin refuses to expose it; pass --insecure to do it anyway", flag, addr, why)
}

// checkListen refuses to serve the API on a non-loopback address without
// both TLS and authentication, unless insecure is set.
func checkListen(o serveOptions) error {
	var missing []string
	if o.tlsCert == "" {
		missing = append(missing, "TLS (--tls-cert, --tls-key)")
	}
	if o.tokens == "" && o.clientCA == "" {
		missing = append(missing, "authentication (--tokens or --client-ca)")
	}
	if len(missing) == 0 {
		return nil
	}
	return checkLoopback("listen", o.listen, "the API would be served without "+strings.Join(missing, " and "), o.insecure)
}

// clusterConfig checks the cluster flags and returns the membership
// configuration and the remote's options (TLS, message sizes).
func clusterConfig(o *serveOptions) (plcluster.Config, []remote.ConfigOption, error) {
	switch {
	case o.gossip != "" && o.bind != "":
		return plcluster.Config{}, nil, errors.New("--gossip is the old name of --bind: give one of them")
	case o.bind == "":
		o.bind = o.gossip
	}
	if o.bind == "" {
		o.bind = "127.0.0.1:0"
	}
	if o.replicas < 1 || o.replicas > 9 {
		return plcluster.Config{}, nil, fmt.Errorf("--replicas %d: want 1 to 9", o.replicas)
	}
	if err := o.clusterTLS.Validate(); err != nil {
		return plcluster.Config{}, nil, err
	}
	addrs := map[string]string{"bind": o.bind, "advertise": o.advertise, "remote": o.remote}
	if err := plcluster.CheckClusterAddrs(addrs, o.gossipKeyFile != "", o.clusterTLS.Enabled(), o.insecure); err != nil {
		return plcluster.Config{}, nil, err
	}
	var c plcluster.Config
	switch o.clusterProfile {
	case "local":
		c = plcluster.DefaultLocalConfig()
	case "lan", "lan-conservative":
		c = plcluster.DefaultLANConfig()
		c.Profile = o.clusterProfile
	default:
		return plcluster.Config{}, nil, fmt.Errorf("--cluster-profile %q: want lan, lan-conservative or local", o.clusterProfile)
	}
	c.BindAddr, c.AdvertiseAddr, c.Join = o.bind, o.advertise, o.join
	c.NodeName, c.Role, c.Zone = o.nodeName, o.role, o.zone
	if o.gossipKeyFile != "" {
		key, err := plcluster.LoadGossipKey(o.gossipKeyFile)
		if err != nil {
			return plcluster.Config{}, nil, fmt.Errorf("--gossip-key-file: %w", err)
		}
		c.SecretKey = key
	}
	if err := c.Validate(); err != nil {
		return plcluster.Config{}, nil, err
	}
	ropts := plcluster.PlainRemoteOptions()
	if o.clusterTLS.Enabled() {
		var err error
		if ropts, err = o.clusterTLS.Options(); err != nil {
			return plcluster.Config{}, nil, err
		}
	}
	return c, ropts, nil
}

// defaultNodeName is the host name, or "plantwin" without one.
func defaultNodeName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "plantwin"
}

// demoPoll is how often the demo's connectors read its devices: twice
// per generator period (so every twin advances every period), between
// 10 ms and 500 ms.
func demoPoll(period time.Duration) time.Duration {
	return min(max(period/2, 10*time.Millisecond), 500*time.Millisecond)
}

// loadEdge parses the connectors and bindings of the configuration file
// (none for --demo) before anything starts.
func loadEdge(o serveOptions, plant *twins.Config) (*edge.Config, error) {
	if o.config == "" {
		return &edge.Config{}, nil
	}
	return edge.LoadConfig(o.config, plant)
}

// startConnectors starts the edge connectors as supervised actors of
// the node, each with its sink and its outbox in the node's store.
func startConnectors(ecfg *edge.Config, nodeName string, rt *actors.Runtime, store *persistence.Store, met *edge.Metrics, log *slog.Logger) (*edge.Host, error) {
	elog := log.With("component", "edge")
	sinkOf := func(cc *edge.ConnectorConfig) (*edge.Sink, error) {
		policy := persistence.OutboxDropOldest
		if cc.Outbox.Policy == edge.OutboxRefuseNewest {
			policy = persistence.OutboxRefuseNewest
		}
		box, err := store.Outbox(cc.Name, cc.Outbox.MaxBytes, policy)
		if err != nil {
			return nil, err
		}
		return edge.NewSinkWithOutbox(rt, box, elog.With("connector", cc.Name)), nil
	}
	factory := func(cc *edge.ConnectorConfig, bindings []*edge.Binding, sink *edge.Sink, report edge.PanicReporter) (edge.Connector, error) {
		c, err := connectors.New(cc, bindings, sink, met, elog)
		if err != nil {
			return nil, err
		}
		c.OnPanic(report)
		log.Info("connector started", "connector", cc.Name, "protocol", cc.Protocol.String(), "endpoint", cc.Endpoint, "outbox_backlog", sink.Stats().Backlog, "plan", c.String())
		return c, nil
	}
	return edge.StartHost(rt.System(), ecfg, nodeName, sinkOf, factory, elog)
}

// reloadTokens re-reads the token file into the authorizer.
func reloadTokens(file string, authz *auth.Authorizer, log *slog.Logger) {
	if file == "" {
		log.Warn("SIGHUP ignored: no --tokens file to reload")
		return
	}
	toks, err := auth.LoadTokens(file)
	if err == nil {
		err = authz.SetTokens(toks)
	}
	if err != nil {
		log.Error("token reload failed; the previous tokens stay in force", "file", file, "err", err)
		return
	}
	log.Info("tokens reloaded", "file", file, "tokens", toks.Len())
}

// apiSecurity builds the TLS config and the authorizer from the flags.
func apiSecurity(o serveOptions, log *slog.Logger, reg prometheus.Registerer) (*tls.Config, *auth.Authorizer, error) {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, nil, errors.New("--tls-cert and --tls-key go together")
	}
	if o.clientCA != "" && o.tlsCert == "" {
		return nil, nil, errors.New("--client-ca needs TLS: pass --tls-cert and --tls-key too")
	}
	var tc *tls.Config
	if o.tlsCert != "" {
		var err error
		if tc, err = auth.ServerTLS(o.tlsCert, o.tlsKey, o.clientCA); err != nil {
			return nil, nil, err
		}
	}
	acfg := auth.Config{
		ClientCerts: o.clientCA != "",
		Policy:      gateway.Policy(),
		Open:        gateway.OpenMethods(),
		Logger:      log,
		Registerer:  reg,
	}
	if o.tokens != "" {
		toks, err := auth.LoadTokens(o.tokens)
		if err != nil {
			return nil, nil, fmt.Errorf("--tokens: %w", err)
		}
		acfg.Tokens = toks
	}
	return tc, auth.New(acfg), nil
}

func loadConfig(o serveOptions) (*twins.Config, error) {
	switch {
	case o.demo && o.config != "":
		return nil, errors.New("--demo and --config exclude each other")
	case o.demo && o.demoFeed != "protocols" && o.demoFeed != "direct":
		return nil, fmt.Errorf("--demo-feed %q: want protocols or direct", o.demoFeed)
	case o.demoAckLog != "" && o.demoFeed != "direct":
		return nil, errors.New("--demo-ack-log needs --demo-feed direct (over the protocols the generator's batches are not the twins' acknowledgements)")
	case o.demo:
		return simulations.DemoConfig()
	case o.config != "":
		return twins.LoadConfig(o.config)
	}
	return nil, errors.New("no configuration: pass --config FILE or --demo")
}

func serve(ctx context.Context, o serveOptions) error {
	log, err := newLogger(o.logFormat, o.logLevel, os.Stderr)
	if err != nil {
		return err
	}
	if err := checkListen(o); err != nil {
		return err
	}
	ccfg, ropts, err := clusterConfig(&o)
	if err != nil {
		return err
	}
	if o.metrics != "" {
		if err := checkLoopback("metrics", o.metrics, "the metrics endpoint has no authentication", o.insecure); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(o)
	if err != nil {
		return err
	}
	ecfg, err := loadEdge(o, cfg)
	if err != nil {
		return err
	}
	// The demo plant, its connectors and its generator run on the node
	// that starts the cluster; nodes that join serve its twins.
	demoHere := o.demo && len(o.join) == 0
	var demoPlant *simulations.DemoPlant
	if demoHere && o.demoFeed == "protocols" {
		// The demo's devices on loopback, read by the node's own
		// connectors like a real plant's.
		if demoPlant, err = simulations.StartDemoPlant(cfg, demoPoll(o.demoPeriod)); err != nil {
			return fmt.Errorf("demo plant: %w", err)
		}
		defer demoPlant.Stop()
		if ecfg, err = edge.ParseConfig("demo plant (generated connectors)", demoPlant.EdgeConfig(), cfg); err != nil {
			return fmt.Errorf("demo plant: %w", err)
		}
	}
	// Take the listen addresses before anything heavy starts, so a busy
	// port fails fast.
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	defer lis.Close()
	var ml net.Listener
	if o.metrics != "" {
		if ml, err = net.Listen("tcp", o.metrics); err != nil {
			return fmt.Errorf("--metrics %s: %w", o.metrics, err)
		}
		defer ml.Close()
	}
	gogc := tuneGC()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tlsCfg, authz, err := apiSecurity(o, log.With("component", "auth"), reg)
	if err != nil {
		return err
	}

	scfg := persistence.DefaultConfig(o.data)
	scfg.HistoryRetention = o.historyRetention
	scfg.Logger = log.With("component", "persistence")
	scfg.Registerer = reg
	store, err := persistence.Open(scfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()

	ccfg.APIAddr = lis.Addr().String()
	rt, err := actors.Start(actors.Config{
		Replicas:          o.replicas,
		PlacementAffinity: o.affinity,
		RemoteOptions:     ropts,
		Twins:             cfg,
		Store:             store,
		Logger:            log,
		Registerer:        reg,
		PassivateAfter:    o.passivateAfter,
		SnapshotEvery:     o.snapshotEvery,
		RemoteAddr:        o.remote,
		Cluster:           ccfg,
	})
	if err != nil {
		return err
	}
	defer rt.Close()

	var running atomic.Pointer[edge.Host]               // set once the connectors start
	var reload func() (*pb.ReloadConfigResponse, error) // set once they have
	api := gateway.New(rt, gateway.Options{
		Reload: func() (*pb.ReloadConfigResponse, error) {
			if reload == nil {
				return nil, status.Error(codes.FailedPrecondition, "this node runs without a --config file (--demo): nothing to reload")
			}
			return reload()
		},
		Connectors: func() []edge.Status { return running.Load().Statuses() },
		Logger:     log.With("component", "gateway"),
		Registerer: reg,
		Auth:       authz,
		APIAddress: lis.Addr().String(),
		Version:    version,
		TLS:        tlsCfg != nil,
	})
	gopts := api.ServerOptions()
	if tlsCfg != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	gs := grpc.NewServer(gopts...)
	api.Register(gs)
	go func() {
		if err := gs.Serve(lis); err != nil {
			log.Error("grpc server stopped", "err", err)
		}
	}()

	var metricsSrv *http.Server
	if ml != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go metricsSrv.Serve(ml)
		log.Info("metrics listening", "metrics_addr", ml.Addr().String())
	}

	emet := edge.NewMetrics(reg)
	host, err := startConnectors(ecfg, o.nodeName, rt, store, emet, log)
	if err != nil {
		gs.Stop()
		return err
	}
	running.Store(host)
	defer func() { running.Load().Stop() }()
	rt.SetDevice(edge.Device(host))
	if o.config != "" {
		edgeSum, err := edgeSections(o.config)
		if err != nil {
			gs.Stop()
			return err
		}
		var mu sync.Mutex
		reload = func() (*pb.ReloadConfigResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			return reloadConfig(o, rt, &running, &edgeSum, func(ec *edge.Config) (*edge.Host, error) {
				return startConnectors(ec, o.nodeName, rt, store, emet, log)
			}, log)
		}
	}

	var gen *simulations.Generator
	if demoHere {
		var sink simulations.Sink = rt
		if demoPlant != nil {
			sink = demoPlant
			for _, d := range demoPlant.Devices() {
				log.Info("demo device serving", "device", d)
			}
		}
		gen = simulations.NewGenerator(sink, rt.Clock(), cfg, o.demoPeriod, 1, log.With("component", "demo"))
		if o.demoAckLog != "" {
			f, err := os.OpenFile(o.demoAckLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				gs.Stop()
				return fmt.Errorf("--demo-ack-log: %w", err)
			}
			defer f.Close()
			gen.SetAckLog(f)
		}
		gen.Start()
	}
	api.SetServing(true)
	log.Info("serving", "grpc_addr", lis.Addr().String(), "tls", tlsCfg != nil, "auth", authz.Enabled(), "data", o.data, "models", len(cfg.Models), "twins", len(cfg.Twins), "node_id", rt.NodeID(), "gogc", gogc, "try", "plantwin twins list --server "+lis.Addr().String())

	// SIGHUP reloads the token file: new tokens work and removed ones stop
	// working without a restart. A bad file is logged and the old tokens
	// stay in force.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-hup:
			if o.tokens != "" {
				reloadTokens(o.tokens, authz, log)
			}
			if reload != nil {
				if _, err := reload(); err != nil {
					log.Error("configuration reload refused; the running configuration stays", "file", o.config, "err", err)
				}
			} else if o.tokens == "" {
				log.Warn("SIGHUP ignored: no --config or --tokens file to reload")
			}
		}
	}
	log.Info("shutting down")
	// Hand the twins to the other members first (nothing to do alone):
	// their next requests find them there, already in line.
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if _, _, err := rt.Drain(dctx); err != nil && !errors.Is(err, actors.ErrNotDrainable) {
		log.Warn("drain at shutdown incomplete; the rest stop with the node", "err", err)
	}
	cancel()
	if err := rt.SetNodeState("leaving"); err != nil {
		log.Warn("could not announce leaving to the cluster", "err", err)
	}
	api.Shutdown()
	if gen != nil {
		gen.Stop()
		sent, failed := gen.Stats()
		log.Info("demo generator stopped", "batches_acknowledged", sent, "batches_failed", failed)
	}
	running.Load().Stop() // intake stops before the runtime closes
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		gs.Stop()
	}
	if metricsSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = metricsSrv.Shutdown(sctx)
		cancel()
	}
	if err := rt.Close(); err != nil {
		log.Error("close runtime", "err", err)
	}
	log.Info("stopped")
	return nil
}
