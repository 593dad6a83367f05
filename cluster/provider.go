package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/hashicorp/memberlist"
)

// Config configures the memberlist membership of one node.
type Config struct {
	// BindAddr is the gossip listen address, host:port. Default
	// "127.0.0.1:0" (loopback, a free port).
	BindAddr string
	// AdvertiseAddr is the gossip address other nodes use, host:port.
	// Default: the bound address.
	AdvertiseAddr string
	// Join lists seed gossip addresses (host:port). Empty: start a new
	// cluster. Joining retries until a seed answers or the provider stops.
	Join []string
	// JoinRetry is the pause between join attempts (wall time). Default 1s.
	JoinRetry time.Duration
	// Debounce is how long topology changes are collected before protoactor
	// is told (wall time). Default 100ms.
	Debounce time.Duration
	// Profile picks memberlist timings: "local" (tests, dev) or "lan".
	Profile string
	// SecretKey, if set, encrypts gossip (16, 24 or 32 bytes).
	SecretKey []byte
	// NodeName is the operator's name for the node (--node-name),
	// gossiped with it; the memberlist name stays the actor-system id.
	NodeName string
	// Role and Zone are gossiped labels of the node ("" : none).
	Role, Zone string
	// APIAddr is the node's gRPC address, gossiped so that clients can
	// reach every member.
	APIAddr string
	// Logger receives provider logs. Nil discards them.
	Logger *slog.Logger
}

// DefaultLocalConfig suits one machine: loopback, a free port, fast timings.
func DefaultLocalConfig() Config {
	return Config{BindAddr: "127.0.0.1:0", JoinRetry: time.Second, Debounce: 100 * time.Millisecond, Profile: "local"}
}

// DefaultLANConfig suits production nodes on one network.
func DefaultLANConfig() Config {
	c := DefaultLocalConfig()
	c.Profile = "lan"
	return c
}

// Validate checks the configuration without doing I/O.
func (c Config) Validate() error {
	if _, _, err := splitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("cluster: bind address %q: %w", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("cluster: advertise address %q: %w", c.AdvertiseAddr, err)
		}
	}
	for _, j := range c.Join {
		if _, _, err := splitHostPort(j); err != nil {
			return fmt.Errorf("cluster: join address %q: %w", j, err)
		}
	}
	switch c.Profile {
	case "local", "lan", "lan-conservative":
	default:
		return fmt.Errorf("cluster: profile %q: want lan, lan-conservative or local", c.Profile)
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return fmt.Errorf("cluster: gossip key is %d bytes, want 16, 24 or 32", len(c.SecretKey))
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

// nodeMeta is what a node gossips about itself (memberlist meta, at most
// memberlist.MetaMaxSize = 512 bytes; TestMetaSize checks a large one).
type nodeMeta struct {
	Host  string   `json:"h"`
	Port  int      `json:"p"`
	Kinds []string `json:"k"`
	Name  string   `json:"n,omitempty"` // Config.NodeName
	Role  string   `json:"r,omitempty"`
	Zone  string   `json:"z,omitempty"`
	State string   `json:"s,omitempty"` // "" (serving) or SetState's
	API   string   `json:"a,omitempty"` // gRPC address
	Start int64    `json:"t,omitempty"` // process start, Unix seconds
}

// Member is one node of the cluster as this node sees it.
type Member struct {
	ID         string // actor-system id (memberlist name), new at every start
	Name       string // the operator's node name
	GossipAddr string // host:port
	ActorAddr  string // protoactor remote, host:port
	APIAddr    string // gRPC, host:port ("" if not gossiped)
	Role, Zone string
	// State is "alive" while the node serves, or the state it announced
	// with SetState (for example "draining").
	State string
	Start time.Time
	Self  bool // this node
}

// Provider is a protoactor-go ClusterProvider backed by memberlist.
type Provider struct {
	cfg Config
	log *slog.Logger

	events chan struct{}       // capacity 1: a pending "membership changed" flag
	kinds  map[string][]string // member id → kinds (under mu)
	stop   chan struct{}
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		ml      *memberlist.Memberlist
		meta    []byte
		self    nodeMeta
		name    string // memberlist name
		cluster *cluster.Cluster
		closed  bool
		// members is the table the event callbacks keep: copies taken
		// inside memberlist's callbacks, which is where a node's fields
		// may be read without racing memberlist's own updates.
		members map[string]Member
	}
}

var _ cluster.ClusterProvider = (*Provider)(nil)

// NewProvider returns a provider; the cluster starts it.
func NewProvider(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.JoinRetry <= 0 {
		cfg.JoinRetry = time.Second
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Provider{cfg: cfg, log: lg, events: make(chan struct{}, 1), stop: make(chan struct{}), kinds: map[string][]string{}}, nil
}

// StartMember joins the node to the cluster as a member hosting kinds.
func (p *Provider) StartMember(c *cluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return fmt.Errorf("cluster: actor system address: %w", err)
	}
	m := p.selfMeta(host, port, c.GetClusterKinds())
	return p.start(c, c.ActorSystem.ID, m)
}

// selfMeta is this node's metadata with its actor address and kinds.
func (p *Provider) selfMeta(host string, port int, kinds []string) nodeMeta {
	return nodeMeta{Host: host, Port: port, Kinds: kinds, Name: p.cfg.NodeName, Role: p.cfg.Role, Zone: p.cfg.Zone,
		API: p.cfg.APIAddr, Start: time.Now().Unix()}
}

func encodeMeta(m nodeMeta) ([]byte, error) {
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: node metadata is %d bytes, memberlist allows %d (shorten --node-name, role or zone)", len(meta), memberlist.MetaMaxSize)
	}
	return meta, nil
}

// StartClient is not supported: every plantwin process is a member.
func (p *Provider) StartClient(c *cluster.Cluster) error {
	return errors.New("cluster: client mode is not supported")
}

// memberlistConfig returns the memberlist timings of a profile:
//
//   - lan: a plant network. Probes every 500 ms with a 250 ms timeout,
//     and a suspect is declared dead after 2 × max(1, log10 n) × 500 ms
//     (1 s up to ten nodes) unless it refutes. A SIGKILLed node is
//     declared dead in about 2 s (BenchmarkClusterCrash). A node that
//     stalls for longer is declared dead too; fencing keeps that safe
//     and its twins move back when it refutes.
//   - lan-conservative: memberlist's own LAN defaults (1 s probes,
//     500 ms timeout, 4 × suspicion): about 6 s, for congested networks.
//   - local: memberlist's loopback defaults, for tests and development.
func memberlistConfig(profile string) *memberlist.Config {
	switch profile {
	case "lan":
		mc := memberlist.DefaultLANConfig()
		mc.ProbeInterval = 500 * time.Millisecond
		mc.ProbeTimeout = 250 * time.Millisecond
		mc.SuspicionMult = 2
		mc.GossipInterval = 100 * time.Millisecond
		return mc
	case "lan-conservative":
		return memberlist.DefaultLANConfig()
	default:
		return memberlist.DefaultLocalConfig()
	}
}

// start runs memberlist as name with self as its metadata; c (nil in
// the package's tests) is told the topology.
func (p *Provider) start(c *cluster.Cluster, name string, self nodeMeta) error {
	meta, err := encodeMeta(self)
	if err != nil {
		return err
	}
	mc := memberlistConfig(p.cfg.Profile)
	mc.Name = name
	host, port, _ := splitHostPort(p.cfg.BindAddr)
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if p.cfg.AdvertiseAddr != "" {
		ah, ap, _ := splitHostPort(p.cfg.AdvertiseAddr)
		mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
	}
	if len(p.cfg.SecretKey) > 0 {
		mc.SecretKey = p.cfg.SecretKey
	}
	mc.Delegate = &delegate{p: p}
	mc.Events = &eventDelegate{p: p}
	mc.Logger = log.New(io.Discard, "", 0)

	p.mu.Lock()
	p.mu.meta, p.mu.self, p.mu.name = meta, self, name
	p.mu.cluster = c
	p.mu.members = map[string]Member{}
	p.mu.Unlock()

	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("cluster: start memberlist on %s: %w", p.cfg.BindAddr, err)
	}
	p.mu.Lock()
	p.mu.ml = ml
	p.mu.Unlock()
	p.log.Info("gossip started", "node", name, "gossip_addr", ml.LocalNode().Address())

	p.wg.Add(1)
	go p.topologyLoop()
	p.notify()
	if len(p.cfg.Join) > 0 {
		p.wg.Add(1)
		go p.joinLoop(ml)
	}
	return nil
}

// GossipAddr returns the address memberlist listens on, host:port.
func (p *Provider) GossipAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.ml == nil {
		return ""
	}
	return p.mu.ml.LocalNode().Address()
}

func (p *Provider) joinLoop(ml *memberlist.Memberlist) {
	defer p.wg.Done()
	for {
		n, err := ml.Join(p.cfg.Join)
		if err == nil && n > 0 {
			p.log.Info("joined cluster", "seeds", p.cfg.Join, "contacted", n)
			return
		}
		p.log.Warn("join failed, retrying", "seeds", p.cfg.Join, "err", err)
		select {
		case <-p.stop:
			return
		case <-time.After(p.cfg.JoinRetry):
		}
	}
}

// notify flags a membership change; it never blocks.
func (p *Provider) notify() {
	select {
	case p.events <- struct{}{}:
	default:
	}
}

func (p *Provider) topologyLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.events:
		}
		// Debounce: collect changes that arrive close together.
		select {
		case <-p.stop:
			return
		case <-time.After(p.cfg.Debounce):
		}
		select {
		case <-p.events:
		default:
		}
		p.publish()
	}
}

func (p *Provider) publish() {
	p.mu.Lock()
	c := p.mu.cluster
	var members []*cluster.Member
	for _, m := range p.mu.members {
		host, port, _ := splitHostPort(m.ActorAddr)
		members = append(members, &cluster.Member{Id: m.ID, Host: host, Port: int32(port), Kinds: p.kindsOf(m.ID)})
	}
	p.mu.Unlock()
	if c == nil {
		return
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Id < members[j].Id })
	c.MemberList.UpdateClusterTopology(members)
}

// kindsOf returns the kinds member id hosts (under mu).
func (p *Provider) kindsOf(id string) []string { return p.kinds[id] }

// Members returns the members this node currently sees alive, itself
// included, by name then id.
func (p *Provider) Members() []Member {
	p.mu.Lock()
	out := make([]Member, 0, len(p.mu.members))
	for _, m := range p.mu.members {
		m.Self = m.ID == p.mu.name
		out = append(out, m)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// SetState announces a state of this node to the others ("draining",
// "leaving"; "" for serving), through memberlist's metadata update.
func (p *Provider) SetState(state string) error {
	p.mu.Lock()
	p.mu.self.State = state
	meta, err := encodeMeta(p.mu.self)
	if err == nil {
		p.mu.meta = meta
	}
	ml := p.mu.ml
	p.mu.Unlock()
	if err != nil || ml == nil {
		return err
	}
	return ml.UpdateNode(5 * time.Second)
}

// note records a node from a memberlist callback (a copy: the node's
// fields are memberlist's).
func (p *Provider) note(n *memberlist.Node) {
	var m nodeMeta
	if err := json.Unmarshal(n.Meta, &m); err != nil {
		p.log.Warn("ignoring member with bad metadata", "node", n.Name, "err", err)
		return
	}
	state := m.State
	if state == "" {
		state = "alive"
	}
	mem := Member{ID: n.Name, Name: m.Name, GossipAddr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		ActorAddr: net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), APIAddr: m.API, Role: m.Role, Zone: m.Zone, State: state}
	if m.Start > 0 {
		mem.Start = time.Unix(m.Start, 0)
	}
	p.mu.Lock()
	if p.mu.members != nil {
		p.mu.members[n.Name] = mem
		p.kinds[n.Name] = append([]string(nil), m.Kinds...)
	}
	p.mu.Unlock()
	p.notify()
}

// forget drops a node that left or died (from a memberlist callback).
func (p *Provider) forget(n *memberlist.Node) {
	p.mu.Lock()
	delete(p.mu.members, n.Name)
	delete(p.kinds, n.Name)
	p.mu.Unlock()
	p.notify()
}

// Shutdown leaves the cluster (gracefully: announces it first) and stops.
func (p *Provider) Shutdown(graceful bool) error {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return nil
	}
	p.mu.closed = true
	ml := p.mu.ml
	p.mu.Unlock()
	close(p.stop)
	var err error
	if ml != nil {
		if graceful {
			if lerr := ml.Leave(2 * time.Second); lerr != nil {
				p.log.Warn("leave failed", "err", lerr)
			}
		}
		err = ml.Shutdown()
	}
	p.wg.Wait()
	return err
}

type delegate struct{ p *Provider }

func (d *delegate) NodeMeta(limit int) []byte {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	if len(d.p.mu.meta) > limit {
		return nil
	}
	return d.p.mu.meta
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

type eventDelegate struct{ p *Provider }

// The callbacks run on memberlist's goroutines; they copy what they need
// and return.
func (e *eventDelegate) NotifyJoin(n *memberlist.Node)   { e.p.note(n) }
func (e *eventDelegate) NotifyLeave(n *memberlist.Node)  { e.p.forget(n) }
func (e *eventDelegate) NotifyUpdate(n *memberlist.Node) { e.p.note(n) }
