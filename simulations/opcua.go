package simulations

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
)

// OPCUANamespaceURI is the URI of the simulation namespace.
const OPCUANamespaceURI = "urn:plantwin:sim"

// opcuaServerNamespaceURI fills namespace index 1, where a real server keeps
// its own nodes, so that the simulation namespace sits at index 2 as it
// would on a PLC.
const opcuaServerNamespaceURI = "urn:plantwin:sim:server"

// opcuaBufSize is the transport buffer size the simulated server offers in
// its handshake. gopcua's server sends each response as a single chunk, so
// the default of 64 KiB limits a PublishResponse to about 2,900 doubles.
const opcuaBufSize = 1 << 20

var (
	// ErrUnknownVariable is returned for a variable name that was not added.
	ErrUnknownVariable = errors.New("simulations: unknown opc ua variable")
	// ErrVariableType is returned for a value whose Go type differs from
	// the variable's, or which is not a supported type.
	ErrVariableType = errors.New("simulations: wrong opc ua variable type")
	// ErrServerRunning is returned by AddVariable and Start on a running server.
	ErrServerRunning = errors.New("simulations: opc ua server is running")
)

// raiseACK raises gopcua's package-level handshake buffer sizes once per
// process; gopcua reads them on every accepted connection.
var raiseACK sync.Once

// OPCUAServer is a simulated OPC UA device on loopback (security None,
// anonymous), served by a real gopcua server. Variables live in the
// server's simulation namespace with string node ids (ns=N;s=name) and
// keep their values across Stop and Start. Clients can read, write and
// subscribe to them. Safe for concurrent use.
//
// Set notifies subscriptions synchronously: gopcua queues up to 100
// notifications per subscription and Set blocks when that queue is full.
type OPCUAServer struct {
	opts opcuaOptions
	mu   struct {
		sync.Mutex
		vars   map[string]*opcuaVariable
		order  []string // names in the order they were added, for Browse
		port   int      // 0 until the first Start
		ns     uint16   // simulation namespace index
		srv    *server.Server
		cancel context.CancelFunc
		relay  *relay
	}
}

type opcuaVariable struct {
	dataType   uint32 // numeric node id in namespace 0 (id.Double, ...)
	value      any
	sourceTime time.Time
	unset      bool // no value yet: reads answer BadWaitingForInitialData
}

// OPCUAOption configures an OPCUAServer.
type OPCUAOption func(*opcuaOptions)

type opcuaOptions struct {
	cert    []byte          // DER; nil: security None only
	key     *rsa.PrivateKey // with cert
	noneToo bool
	onWrite func(name string, v any) // after a client's write is stored
	clock   func() time.Time         // source time of writes without one
	manual  bool                     // publish on PublishNow only
	port    int                      // the port to listen on (0: a free one)
}

// OPCUAPort makes the server listen on 127.0.0.1:port instead of a free
// port (a node configured beforehand knows where to connect).
func OPCUAPort(port int) OPCUAOption {
	return func(o *opcuaOptions) { o.port = port }
}

// OPCUAOnWrite calls fn with every value a client writes, after it is
// stored and before the write is answered, so that the client's write
// returns only once fn has run. fn must not call the server's Set.
func OPCUAOnWrite(fn func(name string, v any)) OPCUAOption {
	return func(o *opcuaOptions) { o.onWrite = fn }
}

// OPCUAClock makes the server stamp client writes that carry no source
// timestamp with now() instead of the wall clock (a simulation's virtual
// clock).
func OPCUAClock(now func() time.Time) OPCUAOption {
	return func(o *opcuaOptions) { o.clock = now }
}

// OPCUAManualPublishing makes the server's subscriptions publish only on
// PublishNow, each time with every value Set before the call (the
// patched gopcua server's manual publishing): a simulation on a virtual
// clock hands each of its steps to the clients whole, without the
// wall-clock publishing interval dropping or merging values.
func OPCUAManualPublishing() OPCUAOption {
	return func(o *opcuaOptions) { o.manual = true }
}

// OPCUASecurity makes the server offer Basic256Sha256 with Sign and with
// SignAndEncrypt under the certificate certDER and its key, and accept
// anonymous, user name and certificate identities (gopcua's server takes
// any user name, password or certificate). With allowNone it offers
// security None as well.
func OPCUASecurity(certDER []byte, key *rsa.PrivateKey, allowNone bool) OPCUAOption {
	return func(o *opcuaOptions) { o.cert, o.key, o.noneToo = certDER, key, allowNone }
}

// NewOPCUAServer prepares a server; add variables, then Start it.
// Without options it offers security None and anonymous access only.
func NewOPCUAServer(opts ...OPCUAOption) *OPCUAServer {
	s := &OPCUAServer{}
	for _, o := range opts {
		o(&s.opts)
	}
	s.mu.vars = map[string]*opcuaVariable{}
	s.mu.ns = 2 // what Start gets from gopcua: 0 is OPC UA's, 1 the server's
	s.mu.port = s.opts.port
	return s
}

// opcuaDataType returns the OPC UA built-in data type of a supported Go value.
func opcuaDataType(v any) (uint32, bool) {
	switch v.(type) {
	case bool:
		return id.Boolean, true
	case int32:
		return id.Int32, true
	case int64:
		return id.Int64, true
	case float32:
		return id.Float, true
	case float64:
		return id.Double, true
	case string:
		return id.String, true
	}
	return 0, false
}

// AddVariable declares a variable with string node id ns=N;s=name and an
// initial value of type bool, int32, int64, float32, float64 or string.
// The value's type is the variable's for good: Set and client writes must
// use it. Call before Start.
func (s *OPCUAServer) AddVariable(name string, initial any) error {
	dt, ok := opcuaDataType(initial)
	if !ok {
		return fmt.Errorf("simulations: add opc ua variable %q of type %T: %w", name, initial, ErrVariableType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.srv != nil {
		return fmt.Errorf("simulations: add opc ua variable %q: %w", name, ErrServerRunning)
	}
	if _, dup := s.mu.vars[name]; dup {
		return fmt.Errorf("simulations: add opc ua variable %q: already added", name)
	}
	s.mu.vars[name] = &opcuaVariable{dataType: dt, value: initial, sourceTime: time.Now()}
	s.mu.order = append(s.mu.order, name)
	return nil
}

// AddUnsetVariable declares a variable like AddVariable, of the type of
// zero, that has no value until its first Set or write: until then reads
// and subscriptions get BadWaitingForInitialData.
func (s *OPCUAServer) AddUnsetVariable(name string, zero any) error {
	if err := s.AddVariable(name, zero); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.vars[name].unset = true
	s.mu.Unlock()
	return nil
}

// PublishNow makes every subscription publish the values Set before the
// call (with OPCUAManualPublishing; otherwise subscriptions publish on
// their own interval and this does nothing more than hurry them).
func (s *OPCUAServer) PublishNow() {
	s.mu.Lock()
	srv := s.mu.srv
	s.mu.Unlock()
	if srv != nil {
		srv.PublishNow()
	}
}

// Start listens on 127.0.0.1 at a free port, or on the previous port after
// Stop, so that clients can reconnect to a restarted device. The gopcua
// server itself listens on a second loopback port behind a relay; its
// GetEndpoints answer lists both URLs.
func (s *OPCUAServer) Start() error {
	raiseACK.Do(func() {
		uacp.DefaultServerACK.ReceiveBufSize = max(uacp.DefaultServerACK.ReceiveBufSize, opcuaBufSize)
		uacp.DefaultServerACK.SendBufSize = max(uacp.DefaultServerACK.SendBufSize, opcuaBufSize)
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.srv != nil {
		return ErrServerRunning
	}
	// Clients connect through a relay on the public port: closing a gopcua
	// server does not close its TCP connections, so the relay is what
	// makes clients see the connection drop on Stop.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.mu.port)))
	if err != nil {
		return fmt.Errorf("simulations: opc ua server on port %d: %w", s.mu.port, err)
	}
	s.mu.port = l.Addr().(*net.TCPAddr).Port
	inner, err := freePort()
	if err != nil {
		l.Close()
		return fmt.Errorf("simulations: opc ua server: %w", err)
	}
	_, p, _ := net.SplitHostPort(inner)
	innerPort, _ := strconv.Atoi(p)

	// A gopcua server cannot be started again after Close, so every Start
	// builds a new one over the same variables.
	opts := []server.Option{
		server.EndPoint("127.0.0.1", innerPort),
		server.EndPoint("127.0.0.1", s.mu.port),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("plantwin simulated device"),
	}
	if s.opts.cert == nil || s.opts.noneToo {
		opts = append(opts, server.EnableSecurity("None", ua.MessageSecurityModeNone))
	}
	if s.opts.cert != nil {
		opts = append(opts,
			server.Certificate(s.opts.cert),
			server.PrivateKey(s.opts.key),
			server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSign),
			server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSignAndEncrypt),
			server.EnableAuthMode(ua.UserTokenTypeUserName),
			server.EnableAuthMode(ua.UserTokenTypeCertificate),
		)
	}
	srv := server.New(opts...)
	srv.SetManualPublishing(s.opts.manual)
	server.NewNodeNameSpace(srv, opcuaServerNamespaceURI)
	sim := &opcuaNamespace{s: s, srv: srv}
	s.mu.ns = uint16(srv.AddNamespace(sim))
	// Link the simulation's Objects folder under the standard Objects
	// folder, so that a browse from ns=0;i=85 finds the variables.
	if root, err := srv.Namespace(0); err == nil {
		if objs := root.Objects(); objs != nil {
			objs.AddRef(sim.objects(), id.Organizes, true)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		cancel()
		l.Close()
		return fmt.Errorf("simulations: opc ua server on port %d: %w", innerPort, err)
	}
	s.mu.srv = srv
	s.mu.cancel = cancel
	s.mu.relay = startRelay(l, inner)
	return nil
}

// Endpoint is "opc.tcp://127.0.0.1:PORT"; empty before the first Start.
func (s *OPCUAServer) Endpoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.port == 0 {
		return ""
	}
	return fmt.Sprintf("opc.tcp://127.0.0.1:%d", s.mu.port)
}

// Namespace is the index of the simulation namespace, 2 as on most PLCs
// (0 is OPC UA's own, 1 the server's).
func (s *OPCUAServer) Namespace() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.ns
}

// NodeID returns the node id of a variable (ns=2;s=name).
func (s *OPCUAServer) NodeID(name string) *ua.NodeID {
	return ua.NewStringNodeID(s.Namespace(), name)
}

// Set changes a variable's value and source timestamp and, while the
// server runs, notifies the subscriptions that monitor it.
func (s *OPCUAServer) Set(name string, v any, sourceTime time.Time) error {
	s.mu.Lock()
	vr, ok := s.mu.vars[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("simulations: set opc ua variable %q: %w", name, ErrUnknownVariable)
	}
	if dt, _ := opcuaDataType(v); dt != vr.dataType || dt == 0 {
		s.mu.Unlock()
		return fmt.Errorf("simulations: set opc ua variable %q to %T: %w", name, v, ErrVariableType)
	}
	vr.value, vr.sourceTime, vr.unset = v, sourceTime, false
	srv := s.mu.srv
	s.mu.Unlock()

	// Outside the lock: gopcua reads the value back through Attribute.
	if srv != nil {
		srv.ChangeNotification(s.NodeID(name))
	}
	return nil
}

// Get returns a variable's current value, as set or as written by a client.
func (s *OPCUAServer) Get(name string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vr, ok := s.mu.vars[name]
	if !ok {
		return nil, fmt.Errorf("simulations: get opc ua variable %q: %w", name, ErrUnknownVariable)
	}
	return vr.value, nil
}

// Stop closes the listener and every client connection. It is idempotent.
// gopcua's goroutines end on the cancelled context; gopcua offers no way
// to wait for them.
func (s *OPCUAServer) Stop() {
	s.mu.Lock()
	srv, cancel, r := s.mu.srv, s.mu.cancel, s.mu.relay
	s.mu.srv, s.mu.cancel, s.mu.relay = nil, nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	r.close() // first, so that gopcua's connections end with EOF
	cancel()
	_ = srv.Close() // it only logs failures
}

// relay forwards TCP connections from a listener to target until closed.
type relay struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		conns  map[net.Conn]struct{}
		closed bool
	}
}

func startRelay(l net.Listener, target string) *relay {
	r := &relay{l: l, target: target}
	r.mu.conns = map[net.Conn]struct{}{}
	r.wg.Add(1)
	go r.accept()
	return r
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return // closed
		}
		up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(c, up) {
			return
		}
		r.wg.Add(2)
		go r.pipe(c, up)
		go r.pipe(up, c)
	}
}

// track registers a connection pair; false (and both closed) after close.
func (r *relay) track(a, b net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		a.Close()
		b.Close()
		return false
	}
	r.mu.conns[a], r.mu.conns[b] = struct{}{}, struct{}{}
	return true
}

// pipe copies until either side fails, then closes both.
func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	r.mu.Lock()
	delete(r.mu.conns, dst)
	delete(r.mu.conns, src)
	r.mu.Unlock()
}

// close stops accepting, drops every connection and waits for the relay's
// goroutines.
func (r *relay) close() {
	r.l.Close()
	r.mu.Lock()
	r.mu.closed = true
	for c := range r.mu.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// opcuaNamespace serves the simulation's variables to gopcua. gopcua calls
// it from its request goroutine and from Set (through ChangeNotification);
// every method takes the server's lock briefly and never calls gopcua.
type opcuaNamespace struct {
	s      *OPCUAServer
	srv    *server.Server
	id     uint16
	once   sync.Once
	folder *server.Node
}

var _ server.NameSpace = (*opcuaNamespace)(nil)

func (ns *opcuaNamespace) Name() string    { return OPCUANamespaceURI }
func (ns *opcuaNamespace) ID() uint16      { return ns.id }
func (ns *opcuaNamespace) SetID(id uint16) { ns.id = id }

// AddNode is not supported: variables come from AddVariable.
func (ns *opcuaNamespace) AddNode(n *server.Node) *server.Node { return n }

// Node returns the namespace's Objects folder for its id and nil for
// anything else: the variables are not gopcua nodes. gopcua v0.8.0 uses
// Node only while importing node sets and browsing node namespaces (the
// standard Objects folder refers to this one).
func (ns *opcuaNamespace) Node(nid *ua.NodeID) *server.Node {
	if nid != nil && nid.Namespace() == ns.id && nid.Type() == ua.NodeIDTypeNumeric && nid.IntID() == id.ObjectsFolder {
		return ns.objects()
	}
	return nil
}

func (ns *opcuaNamespace) Objects() *server.Node { return ns.objects() }

// objects is the namespace's Objects folder, browse name "Simulation".
func (ns *opcuaNamespace) objects() *server.Node {
	ns.once.Do(func() {
		// Built by hand: gopcua v0.8.0's NewFolderNode panics on its own
		// Description attribute.
		const name = "Simulation"
		ns.folder = server.NewNode(ua.NewNumericNodeID(ns.id, id.ObjectsFolder),
			map[ua.AttributeID]*ua.DataValue{
				ua.AttributeIDNodeClass:   server.DataValueFromValue(uint32(ua.NodeClassObject)),
				ua.AttributeIDBrowseName:  server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: ns.id, Name: name}),
				ua.AttributeIDDisplayName: server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: name}),
			}, nil, nil)
	})
	return ns.folder
}

func (ns *opcuaNamespace) Root() *server.Node {
	return server.NewFolderNode(ua.NewNumericNodeID(ns.id, id.RootFolder), OPCUANamespaceURI)
}

// Browse lists the variables under the namespace's Objects folder.
func (ns *opcuaNamespace) Browse(bd *ua.BrowseDescription) *ua.BrowseResult {
	if bd.NodeID.Type() != ua.NodeIDTypeNumeric || bd.NodeID.IntID() != id.ObjectsFolder {
		return &ua.BrowseResult{StatusCode: ua.StatusGood, References: []*ua.ReferenceDescription{}}
	}
	ns.s.mu.Lock()
	defer ns.s.mu.Unlock()
	refs := make([]*ua.ReferenceDescription, 0, len(ns.s.mu.order))
	for _, name := range ns.s.mu.order {
		refs = append(refs, &ua.ReferenceDescription{
			ReferenceTypeID: ua.NewNumericNodeID(0, id.Organizes),
			IsForward:       true,
			NodeID:          ua.NewStringExpandedNodeID(ns.id, name),
			BrowseName:      &ua.QualifiedName{NamespaceIndex: ns.id, Name: name},
			DisplayName:     &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: name},
			NodeClass:       ua.NodeClassVariable,
			TypeDefinition:  ua.NewNumericExpandedNodeID(0, id.BaseDataVariableType),
		})
	}
	return &ua.BrowseResult{StatusCode: ua.StatusGood, References: refs}
}

func opcuaStatus(code ua.StatusCode) *ua.DataValue {
	return &ua.DataValue{
		EncodingMask:    ua.DataValueServerTimestamp | ua.DataValueStatusCode,
		ServerTimestamp: time.Now(),
		Status:          code,
	}
}

func opcuaValue(v any) *ua.DataValue {
	return &ua.DataValue{
		EncodingMask:    ua.DataValueValue | ua.DataValueServerTimestamp,
		Value:           ua.MustVariant(v),
		ServerTimestamp: time.Now(),
	}
}

func (ns *opcuaNamespace) Attribute(nid *ua.NodeID, attr ua.AttributeID) *ua.DataValue {
	if nid.Type() != ua.NodeIDTypeString {
		return opcuaStatus(ua.StatusBadNodeIDUnknown)
	}
	name := nid.StringID()
	ns.s.mu.Lock()
	defer ns.s.mu.Unlock()
	vr, ok := ns.s.mu.vars[name]
	if !ok {
		return opcuaStatus(ua.StatusBadNodeIDUnknown)
	}
	switch attr {
	case ua.AttributeIDValue:
		if vr.unset {
			return opcuaStatus(ua.StatusBadWaitingForInitialData)
		}
		return &ua.DataValue{
			EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
			Value:           ua.MustVariant(vr.value),
			SourceTimestamp: vr.sourceTime,
			ServerTimestamp: time.Now(),
		}
	case ua.AttributeIDNodeID:
		return opcuaValue(nid)
	case ua.AttributeIDNodeClass:
		return opcuaValue(int32(ua.NodeClassVariable))
	case ua.AttributeIDBrowseName:
		return opcuaValue(&ua.QualifiedName{NamespaceIndex: ns.id, Name: name})
	case ua.AttributeIDDisplayName:
		return opcuaValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: name})
	case ua.AttributeIDDescription:
		return opcuaValue(&ua.LocalizedText{})
	case ua.AttributeIDDataType:
		return opcuaValue(ua.NewNumericNodeID(0, vr.dataType))
	case ua.AttributeIDValueRank:
		return opcuaValue(int32(-1)) // scalar
	case ua.AttributeIDAccessLevel, ua.AttributeIDUserAccessLevel:
		return opcuaValue(byte(ua.AccessLevelTypeCurrentRead | ua.AccessLevelTypeCurrentWrite))
	case ua.AttributeIDWriteMask, ua.AttributeIDUserWriteMask:
		return opcuaValue(uint32(0))
	case ua.AttributeIDHistorizing:
		return opcuaValue(false)
	case ua.AttributeIDMinimumSamplingInterval:
		return opcuaValue(float64(0))
	}
	return opcuaStatus(ua.StatusBadAttributeIDInvalid)
}

// SetAttribute handles client writes of the Value attribute. The written
// value must have the variable's type; without a source timestamp the
// server's clock is used.
func (ns *opcuaNamespace) SetAttribute(nid *ua.NodeID, attr ua.AttributeID, dv *ua.DataValue) ua.StatusCode {
	if nid.Type() != ua.NodeIDTypeString {
		return ua.StatusBadNodeIDUnknown
	}
	name := nid.StringID()
	ns.s.mu.Lock()
	vr, ok := ns.s.mu.vars[name]
	switch {
	case !ok:
		ns.s.mu.Unlock()
		return ua.StatusBadNodeIDUnknown
	case attr != ua.AttributeIDValue:
		ns.s.mu.Unlock()
		return ua.StatusBadNotWritable
	case dv == nil || dv.Value == nil:
		ns.s.mu.Unlock()
		return ua.StatusBadTypeMismatch
	}
	v := dv.Value.Value()
	if dt, _ := opcuaDataType(v); dt != vr.dataType || dt == 0 {
		ns.s.mu.Unlock()
		return ua.StatusBadTypeMismatch
	}
	vr.value, vr.sourceTime, vr.unset = v, dv.SourceTimestamp, false
	if dv.EncodingMask&ua.DataValueSourceTimestamp == 0 || vr.sourceTime.IsZero() {
		vr.sourceTime = time.Now()
		if ns.s.opts.clock != nil {
			vr.sourceTime = ns.s.opts.clock()
		}
	}
	ns.s.mu.Unlock()
	if ns.s.opts.onWrite != nil {
		ns.s.opts.onWrite(name, v)
	}
	ns.srv.ChangeNotification(nid)
	return ua.StatusOK
}
