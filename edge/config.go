// The connectors and bindings sections of the plant configuration file.
//
// The twins package parses models, twins and ingest from the same file and
// ignores these sections; ParseConfig here ignores everything else. A
// connector is one connection to a device or server; a binding maps the
// properties, writable properties and commands of one twin (or of every
// twin of a template) to that connector's addresses:
//
//	connectors:
//	  - name: plc-line1                 # [A-Za-z0-9._-]{1,64}, unique
//	    protocol: modbus                # opcua | modbus | mqtt
//	    endpoint: tcp://127.0.0.1:5020  # opcua: opc.tcp://host:port[/path]; modbus: tcp://host:port;
//	                                    # mqtt: tcp://, ssl://, mqtt:// or mqtts://host:port
//	    node: node-a                    # optional: the cluster node that runs it (default: every node)
//	    reconnect: {initial: 500ms, max: 30s, multiplier: 2, jitter: 0.2}   # the defaults
//	    outbox: {max_bytes: 64MiB, policy: drop_oldest}                     # or refuse_newest
//	    modbus:                         # modbus connectors only; every key optional
//	      unit_id: 1                    # 0..247
//	      timeout: 500ms                # per request, default 1s
//	      poll_groups: [{name: fast, interval: 100ms}, {name: slow, interval: 5s}]
//	      max_registers: 125            # per read request, 1..125
//	      max_bits: 2000                # per read request, 1..2000
//	      max_gap: 0                    # unused registers a read may span, below max_registers
//	  - name: scada
//	    protocol: opcua
//	    endpoint: opc.tcp://10.0.0.5:4840
//	    opcua:                          # opcua connectors only; every key optional
//	      security_policy: Basic256Sha256   # None (default) | Basic256Sha256
//	      security_mode: SignAndEncrypt     # None (default) | Sign | SignAndEncrypt
//	      auth: username                    # anonymous (default) | username | certificate
//	      username: plantwin
//	      password_env: OPCUA_PASSWORD      # or password: ...
//	      cert_file: client.pem             # with key_file: for certificate auth or security
//	      key_file: client.key
//	      server_cert_sha256: "3a:7f:..."   # the server certificate's SHA-256, required with security
//	      publishing_interval: 100ms
//	      watchdog: 10s
//	      batch_size: 1000
//	  - name: meters
//	    protocol: mqtt
//	    endpoint: mqtts://broker:8883
//	    mqtt:                           # required: topic
//	      topic: plant/{twin}/telemetry # {twin} once, as a whole level
//	      client_id: plantwin-meters    # default plantwin-<name>
//	      username: plantwin            # password or password_env
//	      ca_file: ca.pem               # cert_file, key_file: TLS endpoints only
//	      qos: 1                        # 0 or 1
//	      clean_session: false
//	      timestamp_field: ts           # JSON path of the source time (RFC 3339 or Unix ms)
//	      offline_after: 30s            # a device silent this long is offline (default: never)
//	      command_topic: plant/{twin}/cmd
//	      response_topic: plant/{twin}/cmd/response
//
//	bindings:
//	  - connector: plc-line1
//	    twin: pump-L1-{01..15}          # a twin id or a template of the twins list
//	    properties:                     # reads: device → property
//	      flow:        {table: holding, address: "100 + 10*{n}", type: float32, word_order: low_first, poll_group: fast}
//	      running:     {table: coil, address: "{n}", type: bool}
//	      temperature: {table: input, address: "200 + {n}", type: int16, scale: 0.1}
//	    writes:                         # writable property → device
//	      setpoint:    {table: holding, address: "300 + 2*{n}", type: float32}
//	    commands:                       # model command → device
//	      stop:        {table: coil, address: "400 + {n}", value: "true"}
//	  - connector: scada
//	    twin: tank-{1..2}
//	    properties:
//	      level: {node_id: "ns=2;s=Tank{n}.Level", sampling_interval: 500ms, deadband_type: absolute, deadband_value: 0.01}
//	    commands:
//	      drain: {node_id: "ns=2;s=Tank{n}", method_node_id: "ns=2;s=Tank{n}.Drain"}
//	  - connector: meters
//	    twin: meter-{001..003}
//	    properties:
//	      flow: {field: data.flow, deadband: 0.05}
//
// {n} in a binding's node ids, MQTT fields and topics and Modbus addresses
// stands for the template number of each twin (with the template's zero
// padding; in addresses it is read as a decimal number). testdata/edge.yaml
// is a complete example.

package edge

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"

	"github.com/plantwin/plantwin/twins"
)

// maxErrors is how many problems ParseConfig reports before it stops.
const maxErrors = 50

// Protocol is the protocol a connector speaks.
type Protocol uint8

// The protocols. The zero Protocol is invalid.
const (
	ProtocolOPCUA Protocol = iota + 1
	ProtocolModbus
	ProtocolMQTT
)

var protocolNames = [...]string{ProtocolOPCUA: "opcua", ProtocolModbus: "modbus", ProtocolMQTT: "mqtt"}

// String returns the configuration name of p: "opcua", "modbus" or "mqtt";
// "protocol(N)" for an invalid Protocol.
func (p Protocol) String() string {
	if p >= ProtocolOPCUA && p <= ProtocolMQTT {
		return protocolNames[p]
	}
	return "protocol(" + strconv.Itoa(int(p)) + ")"
}

// The outbox policies (Outbox.Policy).
const (
	OutboxDropOldest   = "drop_oldest"   // a full outbox drops its oldest batch
	OutboxRefuseNewest = "refuse_newest" // a full outbox refuses the new batch
)

// The Modbus tables as stored in PointBinding.Table and
// CommandBinding.Table.
const (
	TableCoil            = "coil"
	TableDiscreteInput   = "discrete_input"
	TableHoldingRegister = "holding_register"
	TableInputRegister   = "input_register"
)

// Config is the parsed connectors and bindings sections. It is immutable
// after ParseConfig and safe to share; callers must not modify it.
type Config struct {
	Connectors []*ConnectorConfig // in declaration order
	Bindings   []*Binding         // one per (connector, twin), in order of first declaration

	connectors map[string]*ConnectorConfig
	byConn     map[string][]*Binding
}

// Connector returns the connector called name.
func (c *Config) Connector(name string) (*ConnectorConfig, bool) {
	cc, ok := c.connectors[name]
	return cc, ok
}

// BindingsOf returns the bindings of the connector called name, in the
// order of Bindings. The returned slice must not be modified.
func (c *Config) BindingsOf(connector string) []*Binding {
	return c.byConn[connector]
}

// ConfigError lists every problem ParseConfig found (up to 50, then a
// "too many errors" line), each as "file:line:col: path: message", in the
// order of their position in the file.
type ConfigError struct {
	Problems []string
}

// Error returns the problems, one per line.
func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

// ConnectorConfig is one connector.
type ConnectorConfig struct {
	Name      string           // [A-Za-z0-9._-]{1,64}, unique
	Protocol  Protocol         // required
	Endpoint  string           // as written; scheme, host and port checked
	Node      string           // the cluster node that runs it; "" = every node that has the config
	Reconnect Backoff          // reconnect delays
	Outbox    Outbox           // store-and-forward buffer
	Modbus    *ModbusConnector // set iff Protocol is ProtocolModbus
	OPCUA     *OPCUAConnector  // set iff Protocol is ProtocolOPCUA
	MQTT      *MQTTConnector   // set iff Protocol is ProtocolMQTT
	Line      int              // line of the connector in the file, for messages
}

// Backoff is how a connector spaces its reconnect attempts: Initial, then
// multiplied by Multiplier up to Max, each delay spread by ±Jitter (a
// fraction).
type Backoff struct {
	Initial    time.Duration // > 0, default 500ms
	Max        time.Duration // >= Initial, default 30s
	Multiplier float64       // >= 1, default 2
	Jitter     float64       // 0..1, default 0.2
}

// DefaultBackoff returns 500ms doubling up to 30s with 20% jitter.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// Outbox bounds the samples a connector keeps while the runtime cannot
// take them.
type Outbox struct {
	MaxBytes int64  // > 0, default 64 MiB
	Policy   string // OutboxDropOldest (default) or OutboxRefuseNewest
}

// DefaultOutbox returns 64 MiB, dropping the oldest batches.
func DefaultOutbox() Outbox { return Outbox{MaxBytes: 64 << 20, Policy: OutboxDropOldest} }

// ModbusConnector is the modbus section of a Modbus TCP connector.
type ModbusConnector struct {
	UnitID       uint8         // default unit id, 0..247, default 1
	Timeout      time.Duration // per request, > 0, default 1s
	PollGroups   []PollGroup   // at least one; default one group "default" every 1s
	MaxRegisters uint16        // registers per read request, 1..125, default 125
	MaxBits      uint16        // bits per read request, 1..2000, default 2000
	MaxGap       uint16        // unused registers a read may span to join points, below MaxRegisters, default 0
}

// PollGroup is a set of points read at one interval.
type PollGroup struct {
	Name     string        // [A-Za-z0-9._-]{1,64}, unique in the connector
	Interval time.Duration // >= 10ms
}

// DefaultModbusConnector returns the defaults of the modbus section.
func DefaultModbusConnector() ModbusConnector {
	return ModbusConnector{
		UnitID:       1,
		Timeout:      time.Second,
		PollGroups:   []PollGroup{{Name: "default", Interval: time.Second}},
		MaxRegisters: 125,
		MaxBits:      2000,
	}
}

// OPCUAConnector is the opcua section of an OPC UA connector.
type OPCUAConnector struct {
	SecurityPolicy     string        // "None" (default) | "Basic256Sha256"
	SecurityMode       string        // "None" (default) | "Sign" | "SignAndEncrypt"; None exactly when the policy is None
	Auth               string        // "anonymous" (default) | "username" | "certificate"
	Username           string        // username auth
	Password           string        // username auth; exclusive with PasswordEnv
	PasswordEnv        string        // username auth: the environment variable holding the password, read when connecting
	CertFile, KeyFile  string        // client certificate; required for certificate auth and for security other than None
	ServerCertSHA256   string        // pinned server certificate: 64 lowercase hex digits (colons removed); required with security
	PublishingInterval time.Duration // > 0, default 100ms
	Watchdog           time.Duration // re-create subscriptions after no data change for this long; >= PublishingInterval, default 10s
	BatchSize          int           // monitored items per CreateMonitoredItems, 1..100000, default 1000
}

// DefaultOPCUAConnector returns the defaults of the opcua section: no
// security, anonymous.
func DefaultOPCUAConnector() OPCUAConnector {
	return OPCUAConnector{
		SecurityPolicy:     "None",
		SecurityMode:       "None",
		Auth:               "anonymous",
		PublishingInterval: 100 * time.Millisecond,
		Watchdog:           10 * time.Second,
		BatchSize:          1000,
	}
}

// MQTTConnector is the mqtt section of an MQTT connector.
type MQTTConnector struct {
	ClientID                  string // default "plantwin-" + the connector's name
	Username                  string
	Password                  string // needs Username; exclusive with PasswordEnv
	PasswordEnv               string // the environment variable holding the password, read when connecting
	CAFile, CertFile, KeyFile string // TLS (ssl:// and mqtts:// endpoints only); CertFile and KeyFile together
	CleanSession              bool   // default false: a persistent session
	QoS                       byte   // 0 or 1, default 1
	Topic                     string // required: subscription with {twin} once, as a whole level, e.g. "plant/{twin}/telemetry"
	TimestampField            string // optional JSON path of the source time (RFC 3339 string or Unix milliseconds)
	CommandTopic              string // optional, {twin} once as a whole level, no wildcards
	ResponseTopic             string // optional subscription, {twin} once as a whole level
	// OfflineAfter marks a twin's device offline when none of its
	// messages arrived for this long (0: only a lost broker connection
	// marks twins offline). At least 1s.
	OfflineAfter time.Duration
}

// DefaultMQTTConnector returns the defaults of the mqtt section of the
// connector called name (Topic has no default).
func DefaultMQTTConnector(name string) MQTTConnector {
	return MQTTConnector{ClientID: "plantwin-" + name, QoS: 1}
}

// Binding maps one twin's properties (and writable properties and
// commands) to one connector's addresses. Template bindings are expanded:
// one Binding per twin, and several entries for the same connector and
// twin are merged into one.
type Binding struct {
	Connector string
	TwinID    string
	N         string           // the template number ("" for a plain id)
	Points    []PointBinding   // reads: device → property, in declaration order
	Writes    []PointBinding   // writable property → device
	Commands  []CommandBinding // model command → device
	Line      int              // line of the (first) binding entry
}

// PointBinding maps one property to a device address. {n} is expanded in
// every string field.
type PointBinding struct {
	Property string // a property of the twin's model; writable for writes

	// Common. A read publishes value*Scale+Offset; a write sends
	// (value-Offset)/Scale.
	Scale, Offset float64 // default 1, 0; Scale is not 0
	Deadband      float64 // reads: publish only when |new-old| > Deadband (numeric values), >= 0, default 0
	ChangeOnly    bool    // reads: publish only when the value changed

	// OPC UA
	NodeID           string        // ns=N;s=..., ns=N;i=N, ns=N;g=GUID, ns=N;b=base64, or without ns= for namespace 0
	SamplingInterval time.Duration // reads: default the connector's publishing interval
	QueueSize        uint32        // reads: 1..65535, default 1
	DeadbandType     string        // reads: "" | "absolute" | "percent" (server-side deadband)
	DeadbandValue    float64       // >= 0; at most 100 for percent

	// Modbus
	Table     string // TableCoil, TableDiscreteInput, TableHoldingRegister or TableInputRegister; writes: coil or holding_register
	Address   int    // 0..65535, with the value's registers (or bit) inside the table
	Type      string // bool, int16, uint16, int32, uint32, float32, float64, string; bool only for the bit tables
	ByteOrder string // "big" (default) | "little"
	WordOrder string // "high_first" (default) | "low_first"
	Length    int    // string: registers, 1..the connector's MaxRegisters; else 0
	UnitID    int    // -1: the connector's UnitID; else 0..247
	PollGroup string // reads: a poll group of the connector; default its first group

	// MQTT
	Field string // dot-separated JSON path in the payload ("data.flow", "values.0"); writes put the value there in a message to the connector's CommandTopic
}

// CommandBinding maps one model command to a device action. {n} is
// expanded in every string field and {twin} in Topic.
type CommandBinding struct {
	Command string // a command of the twin's model

	// OPC UA: write Value (or the command's first parameter) to NodeID,
	// or, when MethodNodeID is set, call that method on the object NodeID
	// with the command's parameters as input arguments.
	NodeID, MethodNodeID string

	// Modbus: write Value (or the command's first parameter if Value is
	// "") to Address of Table (coil or holding_register).
	Table     string
	Address   int
	Type      string // as PointBinding.Type; default bool for coils
	ByteOrder string // as PointBinding
	WordOrder string // as PointBinding
	Length    int    // string: registers
	UnitID    int    // -1: the connector's UnitID
	Value     string // Modbus: canonical for Type ("true", "42", "1.5"); OPC UA: as written

	// MQTT: publish the command to Topic (default the connector's
	// CommandTopic), {twin} and {n} expanded.
	Topic string
}

// LoadConfig reads the plant configuration file at filename and parses its
// connectors and bindings sections against plant.
func LoadConfig(filename string, plant *twins.Config) (*Config, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("edge: load config: %w", err)
	}
	return ParseConfig(filename, data, plant)
}

// ParseConfig parses the connectors and bindings sections of a plant
// configuration file (the other sections are ignored) and checks them
// against plant: bound twins must be declared and bound properties and
// commands must exist in their models. filename is used in messages only.
// On failure it returns a *ConfigError listing every problem found (up to
// 50) as "file:line:col: path: message".
func ParseConfig(filename string, data []byte, plant *twins.Config) (*Config, error) {
	if plant == nil {
		plant = &twins.Config{}
	}
	// Aliases can make the node tree exponentially larger than the text;
	// the walk is budgeted in proportion to the text.
	p := &parser{file: filename, plant: plant, budget: yamlnode.NewBudget(len(data))}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.syntaxError(err)
		return nil, p.err()
	}
	c := p.config(&root)
	if p.count > 0 {
		return nil, p.err()
	}
	return c, nil
}

// problem is one error, located.
type problem struct {
	line, col int // col 0: unknown
	path, msg string
}

// parser walks the YAML node tree and collects problems.
type parser struct {
	file   string
	plant  *twins.Config
	budget yamlnode.Budget // nodes the walk may still visit
	errs   []problem
	count  int // problems found, including those past maxErrors
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.count++
	if len(p.errs) >= maxErrors {
		return
	}
	pr := problem{line: 1, col: 1, path: path, msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		pr.line, pr.col = n.Line, n.Column
	}
	p.errs = append(p.errs, pr)
}

// err returns the collected problems as a *ConfigError.
func (p *parser) err() error {
	slices.SortStableFunc(p.errs, func(a, b problem) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col))
	})
	probs := make([]string, 0, len(p.errs)+1)
	for _, e := range p.errs {
		var b strings.Builder
		b.WriteString(p.file + ":" + strconv.Itoa(e.line))
		if e.col > 0 {
			b.WriteString(":" + strconv.Itoa(e.col))
		}
		b.WriteString(": ")
		if e.path != "" {
			b.WriteString(e.path + ": ")
		}
		b.WriteString(e.msg)
		probs = append(probs, b.String())
	}
	if p.count > len(p.errs) {
		probs = append(probs, fmt.Sprintf("%s: too many errors (showing the first %d)", p.file, maxErrors))
	}
	return &ConfigError{Problems: probs}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func (p *parser) syntaxError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.count++
	p.errs = append(p.errs, problem{line: line, msg: "invalid YAML: " + msg})
}

// visit charges one node to the walk budget; it reports false (once with
// an error) when the budget is exhausted.
func (p *parser) visit(n *yaml.Node) bool { return p.budget.Visit(n, p.errorf) }

// entry is a key of a mapping with its value.
type entry struct {
	key, val *yaml.Node
}

// fields checks that n is a mapping whose keys are all in known and unique,
// and returns the entries by key; null values are left out. misplaced, if
// not nil, explains a key that is not known here but belongs elsewhere
// ("" for a plain unknown key).
func (p *parser) fields(n *yaml.Node, path string, known []string, misplaced func(key string) string) (map[string]entry, bool) {
	n = yamlnode.Deref(n)
	if !p.visit(n) {
		return nil, false
	}
	if n == nil || n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", yamlnode.Kind(n))
		return nil, false
	}
	fs := make(map[string]entry, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Deref(n.Content[i]), yamlnode.Deref(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			p.errorf(n.Content[i], path, "keys must be strings")
			continue
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			p.errorf(k, yamlnode.Join(path, name), "duplicate key %q (first at line %d)", name, first.Line)
			continue
		}
		seen[name] = k
		if name == "<<" {
			p.errorf(k, yamlnode.Join(path, name), "merge keys (<<) are not supported")
			continue
		}
		if !slices.Contains(known, name) {
			msg := ""
			if misplaced != nil {
				msg = misplaced(name)
			}
			if msg == "" {
				msg = fmt.Sprintf("unknown field %q%s", name, suggest.Closest(name, known))
			}
			p.errorf(k, yamlnode.Join(path, name), "%s", msg)
			continue
		}
		if !yamlnode.IsNull(v) {
			fs[name] = entry{key: k, val: v}
		}
	}
	return fs, true
}

// mapItem is one entry of a mapping read in order.
type mapItem struct {
	name     string
	key, val *yaml.Node
}

// items returns the entries of a mapping in order (nil for null), checking
// that keys are unique strings.
func (p *parser) items(n *yaml.Node, path string) []mapItem {
	n = yamlnode.Deref(n)
	if yamlnode.IsNull(n) || !p.visit(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", yamlnode.Kind(n))
		return nil
	}
	out := make([]mapItem, 0, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := yamlnode.Deref(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			p.errorf(n.Content[i], path, "keys must be names, got %s", yamlnode.Kind(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, yamlnode.Join(path, k.Value), "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		if k.Value == "<<" {
			p.errorf(k, yamlnode.Join(path, k.Value), "merge keys (<<) are not supported")
			continue
		}
		out = append(out, mapItem{name: k.Value, key: k, val: n.Content[i+1]})
	}
	return out
}

// seq returns the items of a sequence (nil for null).
func (p *parser) seq(n *yaml.Node, path string) []*yaml.Node { return yamlnode.Seq(p, n, path) }

// str returns a scalar's text.
func (p *parser) str(n *yaml.Node, path string) (string, bool) { return yamlnode.Str(p, n, path) }

// Visit and Errorf make the parser a yamlnode.Walker.
func (p *parser) Visit(n *yaml.Node) bool { return p.visit(n) }

// Errorf records a problem (yamlnode.Walker).
func (p *parser) Errorf(n *yaml.Node, field, format string, args ...any) {
	p.errorf(n, field, format, args...)
}

// nonEmpty returns a scalar's text, which must not be empty.
func (p *parser) nonEmpty(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if ok && s == "" {
		p.errorf(yamlnode.Deref(n), path, "must not be empty")
		return "", false
	}
	return s, ok
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	n = yamlnode.Deref(n)
	var b bool
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, path, "want true or false, got %s", yamlnode.Kind(n))
		return false
	}
	return b
}

// number reads a finite number.
func (p *parser) number(n *yaml.Node, path string) (float64, bool) {
	n = yamlnode.Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.errorf(n, path, "want a number, got %s", yamlnode.Kind(n))
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, path, "want a finite number, got %s", yamlnode.Kind(n))
		return 0, false
	}
	return f, true
}

// integer reads an integer in lo..hi.
func (p *parser) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	n = yamlnode.Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, path, "want an integer, got %s", yamlnode.Kind(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		p.errorf(n, path, "must be between %d and %d, got %s", lo, hi, n.Value)
		return 0, false
	}
	return v, true
}

// positive is the least duration of fields that must be positive.
const positive = time.Nanosecond

// duration reads a Go duration of at least least (0: not negative;
// positive: above zero).
func (p *parser) duration(n *yaml.Node, path string, least time.Duration) (time.Duration, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	n = yamlnode.Deref(n)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.errorf(n, path, "invalid duration %q (want a Go duration such as 500ms or 5s)", s)
		return 0, false
	case d < least && least <= 0:
		p.errorf(n, path, "must not be negative, got %s", s)
		return 0, false
	case d < least && least == positive:
		p.errorf(n, path, "must be positive, got %s", s)
		return 0, false
	case d < least:
		p.errorf(n, path, "must be at least %s, got %s", least, s)
		return 0, false
	}
	return d, true
}

// oneOf reads a string that must be one of allowed.
func (p *parser) oneOf(n *yaml.Node, path, what string, allowed []string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if slices.Contains(allowed, s) {
		return s, true
	}
	if hint := suggest.Closest(s, allowed); hint != "" {
		p.errorf(yamlnode.Deref(n), path, "unknown %s %q%s", what, s, hint)
	} else {
		p.errorf(yamlnode.Deref(n), path, "unknown %s %q (want %s)", what, s, orList(allowed))
	}
	return "", false
}

// orList returns "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// plural returns "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s, if
// any is close enough.

// config parses the document's connectors and bindings sections.
func (p *parser) config(root *yaml.Node) *Config {
	c := &Config{connectors: make(map[string]*ConnectorConfig), byConn: make(map[string][]*Binding)}
	doc := root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return c
		}
		doc = yamlnode.Deref(doc.Content[0])
	}
	if doc == nil || doc.Kind == 0 || yamlnode.IsNull(doc) {
		return c
	}
	if doc.Kind != yaml.MappingNode {
		p.errorf(doc, "", "want a mapping, got %s", yamlnode.Kind(doc))
		return nil
	}
	var sections [2]*yaml.Node // connectors, bindings
	var lines [2]int
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k := yamlnode.Deref(doc.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			continue // reported by the twins package
		}
		s := slices.Index([]string{"connectors", "bindings"}, k.Value)
		if s < 0 {
			continue
		}
		if lines[s] != 0 {
			p.errorf(k, k.Value, "duplicate key %q (first at line %d)", k.Value, lines[s])
			continue
		}
		lines[s] = k.Line
		sections[s] = doc.Content[i+1]
	}
	p.connectors(c, sections[0])
	p.bindings(c, sections[1])
	return c
}

// validName reports whether s matches [A-Za-z0-9._-]{1,64}.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '_', ch == '-':
		default:
			return false
		}
	}
	return true
}

// name reads a required name field matching [A-Za-z0-9._-]{1,64}.
func (p *parser) name(fs map[string]entry, n *yaml.Node, path string) (string, *yaml.Node) {
	e, ok := fs["name"]
	if !ok {
		p.errorf(n, yamlnode.Join(path, "name"), "missing required field \"name\"")
		return "", nil
	}
	s, ok := p.str(e.val, yamlnode.Join(path, "name"))
	if !ok {
		return "", nil
	}
	if !validName(s) {
		p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "name"), "invalid name %q (want 1 to 64 letters, digits, ., _ and -)", s)
		return "", nil
	}
	return s, yamlnode.Deref(e.val)
}

var connectorKeys = []string{"name", "protocol", "endpoint", "node", "reconnect", "outbox", "modbus", "opcua", "mqtt"}

func (p *parser) connectors(c *Config, n *yaml.Node) {
	for i, item := range p.seq(n, "connectors") {
		path := yamlnode.Index("connectors", i)
		fs, ok := p.fields(item, path, connectorKeys, nil)
		if !ok {
			continue
		}
		item = yamlnode.Deref(item)
		cc := &ConnectorConfig{Line: item.Line, Reconnect: DefaultBackoff(), Outbox: DefaultOutbox()}
		name, nameNode := p.name(fs, item, path)
		if name != "" {
			if first, dup := c.connectors[name]; dup {
				p.errorf(nameNode, yamlnode.Join(path, "name"), "duplicate connector %q (first declared at line %d)", name, first.Line)
				name = ""
			}
		}
		cc.Name = name
		if e, ok := fs["protocol"]; !ok {
			p.errorf(item, yamlnode.Join(path, "protocol"), "missing required field \"protocol\" (want opcua, modbus or mqtt)")
		} else if s, ok := p.oneOf(e.val, yamlnode.Join(path, "protocol"), "protocol", protocolNames[1:]); ok {
			cc.Protocol = Protocol(slices.Index(protocolNames[:], s))
		}
		if e, ok := fs["endpoint"]; !ok {
			p.errorf(item, yamlnode.Join(path, "endpoint"), "missing required field \"endpoint\"")
		} else if s, ok := p.nonEmpty(e.val, yamlnode.Join(path, "endpoint")); ok {
			cc.Endpoint = s
			if msg := checkEndpoint(cc.Protocol, s); msg != "" {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "endpoint"), "%s", msg)
			}
		}
		if e, ok := fs["node"]; ok {
			if s, ok := p.nonEmpty(e.val, yamlnode.Join(path, "node")); ok {
				if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 || len(s) > 128 {
					p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "node"), "invalid node name %q (want up to 128 characters without spaces)", s)
				}
				cc.Node = s
			}
		}
		if e, ok := fs["reconnect"]; ok {
			cc.Reconnect = p.backoff(e.val, yamlnode.Join(path, "reconnect"))
		}
		if e, ok := fs["outbox"]; ok {
			cc.Outbox = p.outbox(e.val, yamlnode.Join(path, "outbox"))
		}
		for proto := ProtocolOPCUA; proto <= ProtocolMQTT; proto++ {
			if e, ok := fs[proto.String()]; ok && cc.Protocol != 0 && proto != cc.Protocol {
				p.errorf(e.key, yamlnode.Join(path, proto.String()), "section %q is for %s connectors; this one is %s", proto, proto, cc.Protocol)
			}
		}
		switch cc.Protocol {
		case ProtocolModbus:
			cc.Modbus = p.modbusConnector(fs["modbus"].val, yamlnode.Join(path, "modbus"))
		case ProtocolOPCUA:
			cc.OPCUA = p.opcuaConnector(fs["opcua"].val, yamlnode.Join(path, "opcua"))
		case ProtocolMQTT:
			cc.MQTT = p.mqttConnector(fs["mqtt"].val, item, yamlnode.Join(path, "mqtt"), cc)
		}
		c.Connectors = append(c.Connectors, cc)
		if name != "" {
			c.connectors[name] = cc
		}
	}
}

// endpointForms are the endpoints each protocol accepts, for messages.
var endpointForms = [...]string{
	ProtocolOPCUA:  "opc.tcp://host:port[/path]",
	ProtocolModbus: "tcp://host:port",
	ProtocolMQTT:   "tcp://, ssl://, mqtt:// or mqtts://host:port",
}

// checkEndpoint checks an endpoint URL for proto (any protocol's schemes
// when proto is 0) and returns what is wrong with it.
func checkEndpoint(proto Protocol, s string) string {
	if !strings.Contains(s, "://") {
		if proto == 0 {
			return fmt.Sprintf("invalid endpoint %q (want scheme://host:port)", s)
		}
		return fmt.Sprintf("invalid endpoint %q (want %s)", s, endpointForms[proto])
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("invalid endpoint %q: %v", s, err)
	}
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		if proto == 0 {
			return fmt.Sprintf("invalid endpoint %q (want scheme://host:port)", s)
		}
		return fmt.Sprintf("invalid endpoint %q (want %s)", s, endpointForms[proto])
	}
	if proto != 0 {
		var schemes []string
		switch proto {
		case ProtocolOPCUA:
			schemes = []string{"opc.tcp"}
		case ProtocolModbus:
			schemes = []string{"tcp"}
		case ProtocolMQTT:
			schemes = []string{"tcp", "ssl", "mqtt", "mqtts"}
		}
		if !slices.Contains(schemes, u.Scheme) {
			return fmt.Sprintf("scheme %q does not match protocol %s (want %s)", u.Scheme, proto, endpointForms[proto])
		}
	}
	if u.User != nil {
		return fmt.Sprintf("endpoint %q must not hold credentials (use username and password)", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return fmt.Sprintf("endpoint %q needs a host and a port (host:port)", s)
	}
	if pn, err := strconv.Atoi(port); err != nil || pn < 1 || pn > 65535 || !allDigits(port) {
		return fmt.Sprintf("invalid port %q in endpoint %q (want 1..65535)", port, s)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") {
		return fmt.Sprintf("endpoint %q must not have a query or fragment", s)
	}
	if u.Path != "" && proto != ProtocolOPCUA {
		return fmt.Sprintf("endpoint %q must not have a path", s)
	}
	return ""
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (p *parser) backoff(n *yaml.Node, path string) Backoff {
	b := DefaultBackoff()
	fs, ok := p.fields(n, path, []string{"initial", "max", "multiplier", "jitter"}, nil)
	if !ok {
		return b
	}
	initial, max := fs["initial"], fs["max"]
	if initial.val != nil {
		if d, ok := p.duration(initial.val, yamlnode.Join(path, "initial"), positive); ok {
			b.Initial = d
		}
	}
	if max.val != nil {
		if d, ok := p.duration(max.val, yamlnode.Join(path, "max"), positive); ok {
			b.Max = d
		}
	}
	if b.Max < b.Initial {
		if max.val != nil {
			p.errorf(yamlnode.Deref(max.val), yamlnode.Join(path, "max"), "max %s is below initial %s", b.Max, b.Initial)
		} else {
			p.errorf(yamlnode.Deref(initial.val), yamlnode.Join(path, "initial"), "initial %s is above the default max %s (set max)", b.Initial, b.Max)
		}
	}
	if e, ok := fs["multiplier"]; ok {
		if f, ok := p.number(e.val, yamlnode.Join(path, "multiplier")); ok {
			if f < 1 {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "multiplier"), "must be at least 1, got %s", yamlnode.Deref(e.val).Value)
			}
			b.Multiplier = f
		}
	}
	if e, ok := fs["jitter"]; ok {
		if f, ok := p.number(e.val, yamlnode.Join(path, "jitter")); ok {
			if f < 0 || f > 1 {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "jitter"), "must be between 0 and 1, got %s", yamlnode.Deref(e.val).Value)
			}
			b.Jitter = f
		}
	}
	return b
}

func (p *parser) outbox(n *yaml.Node, path string) Outbox {
	o := DefaultOutbox()
	fs, ok := p.fields(n, path, []string{"max_bytes", "policy"}, nil)
	if !ok {
		return o
	}
	if e, ok := fs["max_bytes"]; ok {
		if v, ok := p.size(e.val, yamlnode.Join(path, "max_bytes")); ok {
			o.MaxBytes = v
		}
	}
	if e, ok := fs["policy"]; ok {
		if s, ok := p.oneOf(e.val, yamlnode.Join(path, "policy"), "policy", []string{OutboxDropOldest, OutboxRefuseNewest}); ok {
			o.Policy = s
		}
	}
	return o
}

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// size reads a positive byte count: an integer, or a string such as
// "512KiB", "64MiB" or "1GB".
func (p *parser) size(n *yaml.Node, path string) (int64, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	n = yamlnode.Deref(n)
	bad := func() (int64, bool) {
		p.errorf(n, path, "invalid size %q (want a positive number of bytes, or one with a unit such as 512KiB, 64MiB or 1GB)", s)
		return 0, false
	}
	if n.ShortTag() == "!!int" {
		var v int64
		if n.Decode(&v) != nil || v <= 0 {
			return bad()
		}
		return v, true
	}
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	mult, ok := sizeUnits[strings.TrimSpace(t[i:])]
	if i == 0 || !ok {
		return bad()
	}
	v, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64/mult {
		return bad()
	}
	return v * mult, true
}

var modbusKeys = []string{"unit_id", "timeout", "poll_groups", "max_registers", "max_bits", "max_gap"}

func (p *parser) modbusConnector(n *yaml.Node, path string) *ModbusConnector {
	m := DefaultModbusConnector()
	if yamlnode.IsNull(n) {
		return &m
	}
	fs, ok := p.fields(n, path, modbusKeys, nil)
	if !ok {
		return &m
	}
	if e, ok := fs["unit_id"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "unit_id"), 0, 247); ok {
			m.UnitID = uint8(v)
		}
	}
	if e, ok := fs["timeout"]; ok {
		if d, ok := p.duration(e.val, yamlnode.Join(path, "timeout"), positive); ok {
			m.Timeout = d
		}
	}
	if e, ok := fs["poll_groups"]; ok {
		m.PollGroups = p.pollGroups(e.val, yamlnode.Join(path, "poll_groups"))
	}
	if e, ok := fs["max_registers"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "max_registers"), 1, 125); ok {
			m.MaxRegisters = uint16(v)
		}
	}
	if e, ok := fs["max_bits"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "max_bits"), 1, 2000); ok {
			m.MaxBits = uint16(v)
		}
	}
	if e, ok := fs["max_gap"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "max_gap"), 0, 65535); ok {
			if v >= int64(m.MaxRegisters) {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "max_gap"), "must be below max_registers (%d), got %d", m.MaxRegisters, v)
			} else {
				m.MaxGap = uint16(v)
			}
		}
	}
	return &m
}

func (p *parser) pollGroups(n *yaml.Node, path string) []PollGroup {
	items := p.seq(n, path)
	if len(items) == 0 {
		p.errorf(yamlnode.Deref(n), path, "must list at least one poll group (or leave poll_groups out for one group every 1s)")
		return nil
	}
	groups := make([]PollGroup, 0, len(items))
	first := make(map[string]int)
	for i, item := range items {
		ipath := yamlnode.Index(path, i)
		fs, ok := p.fields(item, ipath, []string{"name", "interval"}, nil)
		if !ok {
			continue
		}
		name, nameNode := p.name(fs, yamlnode.Deref(item), ipath)
		if name != "" {
			if line, dup := first[name]; dup {
				p.errorf(nameNode, yamlnode.Join(ipath, "name"), "duplicate poll group %q (first declared at line %d)", name, line)
				continue
			}
			first[name] = nameNode.Line
		}
		g := PollGroup{Name: name}
		if e, ok := fs["interval"]; !ok {
			p.errorf(yamlnode.Deref(item), yamlnode.Join(ipath, "interval"), "missing required field \"interval\"")
		} else if d, ok := p.duration(e.val, yamlnode.Join(ipath, "interval"), 10*time.Millisecond); ok {
			g.Interval = d
		}
		groups = append(groups, g)
	}
	return groups
}

var opcuaKeys = []string{
	"security_policy", "security_mode", "auth", "username", "password", "password_env",
	"cert_file", "key_file", "server_cert_sha256", "publishing_interval", "watchdog", "batch_size",
}

func (p *parser) opcuaConnector(n *yaml.Node, path string) *OPCUAConnector {
	o := DefaultOPCUAConnector()
	if yamlnode.IsNull(n) {
		return &o
	}
	fs, ok := p.fields(n, path, opcuaKeys, nil)
	if !ok {
		return &o
	}
	n = yamlnode.Deref(n)
	if e, ok := fs["security_policy"]; ok {
		if s, ok := p.oneOf(e.val, yamlnode.Join(path, "security_policy"), "security policy", []string{"None", "Basic256Sha256"}); ok {
			o.SecurityPolicy = s
		}
	}
	if e, ok := fs["security_mode"]; ok {
		if s, ok := p.oneOf(e.val, yamlnode.Join(path, "security_mode"), "security mode", []string{"None", "Sign", "SignAndEncrypt"}); ok {
			o.SecurityMode = s
		}
	}
	secure := o.SecurityPolicy != "None"
	switch {
	case secure && o.SecurityMode == "None":
		at := fs["security_mode"].val
		if at == nil {
			at = fs["security_policy"].val
		}
		p.errorf(yamlnode.Deref(at), yamlnode.Join(path, "security_mode"), "security_policy %s needs security_mode Sign or SignAndEncrypt", o.SecurityPolicy)
	case !secure && o.SecurityMode != "None":
		p.errorf(yamlnode.Deref(fs["security_mode"].val), yamlnode.Join(path, "security_mode"), "security_mode %s needs a security_policy other than None (Basic256Sha256)", o.SecurityMode)
	}
	for _, k := range []string{"username", "password", "password_env", "cert_file", "key_file"} {
		if e, ok := fs[k]; ok {
			s, _ := p.nonEmpty(e.val, yamlnode.Join(path, k))
			switch k {
			case "username":
				o.Username = s
			case "password":
				o.Password = s
			case "password_env":
				o.PasswordEnv = p.envName(e.val, yamlnode.Join(path, k), s)
			case "cert_file":
				o.CertFile = s
			case "key_file":
				o.KeyFile = s
			}
		}
	}
	if e, ok := fs["auth"]; ok {
		if s, ok := p.oneOf(e.val, yamlnode.Join(path, "auth"), "auth", []string{"anonymous", "username", "certificate"}); ok {
			o.Auth = s
		}
	}
	if o.Auth == "username" {
		if _, ok := fs["username"]; !ok {
			p.errorf(n, yamlnode.Join(path, "username"), "missing required field \"username\" (auth is username)")
		}
		p.password(fs, n, path, true)
	} else {
		for _, k := range []string{"username", "password", "password_env"} {
			if e, ok := fs[k]; ok {
				p.errorf(e.key, yamlnode.Join(path, k), "only used with auth: username (auth is %s)", o.Auth)
			}
		}
	}
	needCert := ""
	switch {
	case o.Auth == "certificate":
		needCert = "auth is certificate"
	case secure:
		needCert = "security_policy is " + o.SecurityPolicy
	}
	_, hasCert := fs["cert_file"]
	_, hasKey := fs["key_file"]
	switch {
	case hasCert && !hasKey:
		p.errorf(n, yamlnode.Join(path, "key_file"), "missing required field \"key_file\" (cert_file needs its key)")
	case hasKey && !hasCert:
		p.errorf(n, yamlnode.Join(path, "cert_file"), "missing required field \"cert_file\" (key_file needs its certificate)")
	case !hasCert && needCert != "":
		p.errorf(n, yamlnode.Join(path, "cert_file"), "missing required fields \"cert_file\" and \"key_file\" (%s)", needCert)
	}
	if e, ok := fs["server_cert_sha256"]; ok {
		spath := yamlnode.Join(path, "server_cert_sha256")
		if s, ok := p.str(e.val, spath); ok {
			if !secure {
				p.errorf(e.key, spath, "has no effect with security_policy None (the channel is not secured)")
			} else if h, ok := fingerprint(s); ok {
				o.ServerCertSHA256 = h
			} else {
				p.errorf(yamlnode.Deref(e.val), spath, "invalid SHA-256 fingerprint %q (want 64 hex digits, colons allowed)", s)
			}
		}
	} else if secure {
		p.errorf(n, yamlnode.Join(path, "server_cert_sha256"), "missing required field \"server_cert_sha256\" (security_policy %s pins the server certificate)", o.SecurityPolicy)
	}
	if e, ok := fs["publishing_interval"]; ok {
		if d, ok := p.duration(e.val, yamlnode.Join(path, "publishing_interval"), positive); ok {
			o.PublishingInterval = d
		}
	}
	if e, ok := fs["watchdog"]; ok {
		if d, ok := p.duration(e.val, yamlnode.Join(path, "watchdog"), positive); ok {
			if d < o.PublishingInterval {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "watchdog"), "watchdog %s is below publishing_interval %s", d, o.PublishingInterval)
			}
			o.Watchdog = d
		}
	}
	if e, ok := fs["batch_size"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "batch_size"), 1, 100_000); ok {
			o.BatchSize = int(v)
		}
	}
	return &o
}

// password checks password and password_env: exclusive, and (when
// required) one of them present.
func (p *parser) password(fs map[string]entry, n *yaml.Node, path string, required bool) {
	pw, hasPW := fs["password"]
	_, hasEnv := fs["password_env"]
	switch {
	case hasPW && hasEnv:
		p.errorf(pw.key, yamlnode.Join(path, "password"), "set password or password_env, not both")
	case required && !hasPW && !hasEnv:
		p.errorf(n, yamlnode.Join(path, "password"), "missing required field \"password\" or \"password_env\"")
	}
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envName checks an environment variable name.
func (p *parser) envName(n *yaml.Node, path, s string) string {
	if s == "" {
		return ""
	}
	if !envNameRE.MatchString(s) {
		p.errorf(yamlnode.Deref(n), path, "invalid environment variable name %q", s)
		return ""
	}
	return s
}

// fingerprint normalizes a hex SHA-256 (colons allowed) to 64 lowercase
// hex digits.
func fingerprint(s string) (string, bool) {
	h := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if len(h) != 64 {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		if !(h[i] >= '0' && h[i] <= '9' || h[i] >= 'a' && h[i] <= 'f') {
			return "", false
		}
	}
	return h, true
}

var mqttKeys = []string{
	"client_id", "username", "password", "password_env", "ca_file", "cert_file", "key_file",
	"clean_session", "qos", "topic", "timestamp_field", "command_topic", "response_topic", "offline_after",
}

// mqttConnector parses the mqtt section; item is the connector, for a
// missing section.
func (p *parser) mqttConnector(n, item *yaml.Node, path string, cc *ConnectorConfig) *MQTTConnector {
	m := DefaultMQTTConnector(cc.Name)
	if yamlnode.IsNull(n) {
		p.errorf(item, yamlnode.Join(path, "topic"), "missing required field \"topic\" (mqtt connectors subscribe to a topic such as plant/{twin}/telemetry)")
		return &m
	}
	fs, ok := p.fields(n, path, mqttKeys, nil)
	if !ok {
		return &m
	}
	n = yamlnode.Deref(n)
	if e, ok := fs["client_id"]; ok {
		if s, ok := p.nonEmpty(e.val, yamlnode.Join(path, "client_id")); ok {
			if len(s) > 256 || !utf8.ValidString(s) {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "client_id"), "invalid client id (want up to 256 bytes of UTF-8)")
			}
			m.ClientID = s
		}
	}
	for _, k := range []string{"username", "password", "password_env", "ca_file", "cert_file", "key_file"} {
		if e, ok := fs[k]; ok {
			s, _ := p.nonEmpty(e.val, yamlnode.Join(path, k))
			switch k {
			case "username":
				m.Username = s
			case "password":
				m.Password = s
			case "password_env":
				m.PasswordEnv = p.envName(e.val, yamlnode.Join(path, k), s)
			case "ca_file":
				m.CAFile = s
			case "cert_file":
				m.CertFile = s
			case "key_file":
				m.KeyFile = s
			}
		}
	}
	p.password(fs, n, path, false)
	_, hasUser := fs["username"]
	for _, k := range []string{"password", "password_env"} {
		if e, ok := fs[k]; ok && !hasUser {
			p.errorf(e.key, yamlnode.Join(path, k), "a password needs a username")
		}
	}
	tls := false
	if u, err := url.Parse(cc.Endpoint); err == nil {
		tls = u.Scheme == "ssl" || u.Scheme == "mqtts"
	}
	for _, k := range []string{"ca_file", "cert_file", "key_file"} {
		if e, ok := fs[k]; ok && !tls && cc.Endpoint != "" {
			p.errorf(e.key, yamlnode.Join(path, k), "only used with a TLS endpoint (ssl:// or mqtts://)")
		}
	}
	_, hasCert := fs["cert_file"]
	_, hasKey := fs["key_file"]
	if hasCert != hasKey {
		missing, other := "key_file", "cert_file"
		if hasKey {
			missing, other = other, missing
		}
		p.errorf(n, yamlnode.Join(path, missing), "missing required field %q (%s and %s go together)", missing, other, missing)
	}
	if e, ok := fs["clean_session"]; ok {
		m.CleanSession = p.boolean(e.val, yamlnode.Join(path, "clean_session"))
	}
	if e, ok := fs["qos"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "qos"), 0, 1); ok {
			m.QoS = byte(v)
		}
	}
	if e, ok := fs["topic"]; !ok {
		p.errorf(n, yamlnode.Join(path, "topic"), "missing required field \"topic\" (a subscription such as plant/{twin}/telemetry)")
	} else {
		m.Topic = p.twinTopic(e.val, yamlnode.Join(path, "topic"), true)
	}
	if e, ok := fs["timestamp_field"]; ok {
		if s, ok := p.str(e.val, yamlnode.Join(path, "timestamp_field")); ok {
			if !validJSONPath(s) {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "timestamp_field"), "invalid JSON path %q (want dot-separated keys such as ts or meta.time)", s)
			}
			m.TimestampField = s
		}
	}
	if e, ok := fs["offline_after"]; ok {
		if d, ok := p.duration(e.val, yamlnode.Join(path, "offline_after"), time.Second); ok {
			m.OfflineAfter = d
		}
	}
	if e, ok := fs["command_topic"]; ok {
		m.CommandTopic = p.twinTopic(e.val, yamlnode.Join(path, "command_topic"), false)
	}
	if e, ok := fs["response_topic"]; ok {
		m.ResponseTopic = p.twinTopic(e.val, yamlnode.Join(path, "response_topic"), true)
	}
	return &m
}

// twinTopic reads a topic with one {twin} level; filter allows wildcards.
func (p *parser) twinTopic(n *yaml.Node, path string, filter bool) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	if msg := checkTwinTopic(s, filter); msg != "" {
		p.errorf(yamlnode.Deref(n), path, "%s", msg)
		return ""
	}
	return s
}

// checkTwinTopic checks an MQTT topic that holds {twin} once, as a whole
// level; filter allows the + and # wildcards.
func checkTwinTopic(s string, filter bool) string {
	if msg := checkTopic(s, filter); msg != "" {
		return msg
	}
	switch k := strings.Count(s, "{twin}"); {
	case k == 0:
		return fmt.Sprintf("topic %q has no {twin} placeholder (want e.g. plant/{twin}/telemetry)", s)
	case k > 1:
		return fmt.Sprintf("{twin} appears %d times in topic %q (want it once)", k, s)
	}
	if !slices.Contains(strings.Split(s, "/"), "{twin}") {
		return fmt.Sprintf("{twin} must be a whole level of topic %q (as in plant/{twin}/telemetry)", s)
	}
	// What the MQTT connector's topic patterns support (edge/mqtt
	// ParseTopicPattern): no other wildcard, no empty level, 1 KiB.
	switch {
	case strings.ContainsAny(s, "+#"):
		return fmt.Sprintf("topic %q: wildcards (+, #) other than {twin} are not supported", s)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		return fmt.Sprintf("topic %q has an empty level", s)
	case len(s) > 1024:
		return fmt.Sprintf("topic is %d bytes long, at most 1024", len(s))
	}
	return ""
}

// checkTopic checks an MQTT topic; filter allows the + and # wildcards as
// whole levels (# last).
func checkTopic(s string, filter bool) string {
	if s == "" {
		return "topic must not be empty"
	}
	if len(s) > 65535 || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return fmt.Sprintf("invalid topic %q (want up to 65535 bytes of UTF-8 without NUL)", s)
	}
	if !strings.ContainsAny(s, "+#") {
		return ""
	}
	if !filter {
		return fmt.Sprintf("topic %q must not contain wildcards (+ or #): it is published to", s)
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		if strings.ContainsAny(l, "+#") && l != "+" && (l != "#" || i != len(levels)-1) {
			return fmt.Sprintf("invalid topic %q: a wildcard must be a whole level, and # the last one", s)
		}
	}
	return ""
}

// validJSONPath reports whether s is a dot-separated path of non-empty
// keys.
func validJSONPath(s string) bool {
	if s == "" || len(s) > 1024 || !utf8.ValidString(s) {
		return false
	}
	return !slices.Contains(strings.Split(s, "."), "")
}

// checkNodeID returns what is wrong with an OPC UA node id.
func checkNodeID(s string) string {
	rest := s
	if strings.HasPrefix(rest, "ns=") {
		ns, after, ok := strings.Cut(rest[3:], ";")
		if !ok {
			return fmt.Sprintf("invalid node id %q: missing ; after ns=N", s)
		}
		if _, err := strconv.ParseUint(ns, 10, 16); err != nil || !allDigits(ns) {
			return fmt.Sprintf("invalid node id %q: namespace index %q is not 0..65535", s, ns)
		}
		rest = after
	}
	if len(rest) < 2 || rest[1] != '=' || !strings.ContainsRune("isgb", rune(rest[0])) {
		return fmt.Sprintf("invalid node id %q (want ns=N;s=name, ns=N;i=number, ns=N;g=GUID or ns=N;b=base64; ns=N; may be left out for namespace 0)", s)
	}
	id := rest[2:]
	switch rest[0] {
	case 'i':
		if _, err := strconv.ParseUint(id, 10, 32); err != nil || !allDigits(id) {
			return fmt.Sprintf("invalid node id %q: i= needs a number 0..4294967295", s)
		}
	case 's':
		if id == "" || !utf8.ValidString(id) {
			return fmt.Sprintf("invalid node id %q: s= needs a non-empty UTF-8 name", s)
		}
	case 'g':
		if !guidRE.MatchString(id) {
			return fmt.Sprintf("invalid node id %q: g= needs a GUID such as 09087e75-8e5e-499b-954f-f2a9603db28a", s)
		}
	case 'b':
		if b, err := base64.StdEncoding.DecodeString(id); err != nil || len(b) == 0 {
			return fmt.Sprintf("invalid node id %q: b= needs non-empty base64", s)
		}
	}
	return ""
}

var guidRE = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// specKind is the section of a binding entry a spec comes from.
type specKind uint8

const (
	kindRead    specKind = iota // properties
	kindWrite                   // writes
	kindCommand                 // commands
)

// specKeys are the keys a spec of each kind may use under each protocol.
var specKeys = [3][4][]string{
	kindRead: {
		ProtocolOPCUA:  {"scale", "offset", "deadband", "change_only", "node_id", "sampling_interval", "queue_size", "deadband_type", "deadband_value"},
		ProtocolModbus: {"scale", "offset", "deadband", "change_only", "table", "address", "type", "byte_order", "word_order", "length", "unit_id", "poll_group"},
		ProtocolMQTT:   {"scale", "offset", "deadband", "change_only", "field"},
	},
	kindWrite: {
		ProtocolOPCUA:  {"scale", "offset", "node_id"},
		ProtocolModbus: {"scale", "offset", "table", "address", "type", "byte_order", "word_order", "length", "unit_id"},
		ProtocolMQTT:   {"scale", "offset", "field"},
	},
	kindCommand: {
		ProtocolOPCUA:  {"node_id", "method_node_id", "value"},
		ProtocolModbus: {"table", "address", "type", "byte_order", "word_order", "length", "unit_id", "value"},
		ProtocolMQTT:   {"topic"},
	},
}

// keysFor returns the keys of kind under proto, or under any protocol
// when proto is 0.
func keysFor(kind specKind, proto Protocol) []string {
	if proto != 0 {
		return specKeys[kind][proto]
	}
	var all []string
	for _, keys := range specKeys[kind] {
		for _, k := range keys {
			if !slices.Contains(all, k) {
				all = append(all, k)
			}
		}
	}
	return all
}

// misplacedKey explains a key of a spec of kind that belongs to another
// protocol, or to reads.
func misplacedKey(kind specKind, conn *ConnectorConfig) func(string) string {
	return func(key string) string {
		proto := Protocol(0)
		if conn != nil {
			proto = conn.Protocol
		}
		if proto != 0 {
			for other := ProtocolOPCUA; other <= ProtocolMQTT; other++ {
				if other != proto && slices.Contains(specKeys[kind][other], key) {
					return fmt.Sprintf("field %q is for %s connectors; connector %q is %s", key, other, conn.Name, proto)
				}
			}
		}
		if kind == kindWrite && slices.Contains(keysFor(kindRead, proto), key) {
			return fmt.Sprintf("field %q applies to reads (properties), not writes", key)
		}
		return ""
	}
}

// tmpl is a string field that may hold {n}.
type tmpl struct {
	s    string
	node *yaml.Node
	hasN bool
}

func (t tmpl) expand(n string) string {
	if !t.hasN {
		return t.s
	}
	return strings.ReplaceAll(t.s, "{n}", n)
}

const errNWithoutRange = "{n} is only allowed when the twin has a {A..B} range"

// tmplField reads the string field key of a spec. check, if not nil, is
// applied now when the text has no {n}, else to each expansion.
func (p *parser) tmplField(fs map[string]entry, spec *yaml.Node, path, key string, required bool, hint string, allowN bool, check func(string) string) tmpl {
	e, ok := fs[key]
	if !ok {
		if required {
			p.errorf(spec, yamlnode.Join(path, key), "missing required field %q%s", key, hint)
		}
		return tmpl{}
	}
	s, ok := p.nonEmpty(e.val, yamlnode.Join(path, key))
	if !ok {
		return tmpl{}
	}
	t := tmpl{s: s, node: yamlnode.Deref(e.val), hasN: strings.Contains(s, "{n}")}
	switch {
	case t.hasN && !allowN:
		p.errorf(t.node, yamlnode.Join(path, key), errNWithoutRange)
	case !t.hasN && check != nil:
		if msg := check(s); msg != "" {
			p.errorf(t.node, yamlnode.Join(path, key), "%s", msg)
		}
	}
	return t
}

// addrTmpl is a Modbus address: a constant or an expression in {n}.
type addrTmpl struct {
	node *yaml.Node
	path string
	expr *exprNode // nil: the constant val
	val  int64
}

// modbusSpec is the Modbus part of a point or command.
type modbusSpec struct {
	table, typ, byteOrder, wordOrder string
	length, unitID                   int
	addr                             addrTmpl
	regs                             int // registers (or bits) the value occupies
}

var (
	tableNames = map[string]string{
		"coil": TableCoil, "discrete": TableDiscreteInput, "discrete_input": TableDiscreteInput,
		"holding": TableHoldingRegister, "holding_register": TableHoldingRegister,
		"input": TableInputRegister, "input_register": TableInputRegister,
	}
	tableList   = []string{TableCoil, TableDiscreteInput, TableHoldingRegister, TableInputRegister, "discrete", "holding", "input"}
	modbusTypes = []string{"bool", "int16", "uint16", "int32", "uint32", "float32", "float64", "string"}
)

func isBits(table string) bool { return table == TableCoil || table == TableDiscreteInput }

// modbus reads the Modbus keys of a point or command.
func (p *parser) modbus(fs map[string]entry, spec *yaml.Node, path string, conn *ConnectorConfig, write, allowN bool) modbusSpec {
	m := modbusSpec{byteOrder: "big", wordOrder: "high_first", unitID: -1}
	if e, ok := fs["table"]; !ok {
		p.errorf(spec, yamlnode.Join(path, "table"), "missing required field \"table\" (want coil, discrete_input, holding_register or input_register)")
	} else if s, ok := p.str(e.val, yamlnode.Join(path, "table")); ok {
		canon, known := tableNames[s]
		switch {
		case !known && suggest.Closest(s, tableList) != "":
			p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "table"), "unknown table %q%s", s, suggest.Closest(s, tableList))
		case !known:
			p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "table"), "unknown table %q (want coil, discrete_input, holding_register or input_register)", s)
		case write && canon != TableCoil && canon != TableHoldingRegister:
			p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "table"), "table %s is read-only (writes need coil or holding_register)", canon)
		}
		m.table = canon
	}
	bits := isBits(m.table)
	if e, ok := fs["type"]; ok {
		if s, ok := p.oneOf(e.val, yamlnode.Join(path, "type"), "type", modbusTypes); ok {
			if bits && s != "bool" {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "type"), "type %s does not fit table %s (coils and discrete inputs hold bool only)", s, m.table)
			}
			m.typ = s
		}
	} else if bits {
		m.typ = "bool"
	} else if m.table != "" {
		p.errorf(spec, yamlnode.Join(path, "type"), "missing required field \"type\" (want %s)", orList(modbusTypes))
	}
	for _, k := range []string{"byte_order", "word_order"} {
		e, ok := fs[k]
		if !ok {
			continue
		}
		if bits {
			p.errorf(e.key, yamlnode.Join(path, k), "%s does not apply to table %s", k, m.table)
			continue
		}
		if k == "byte_order" {
			if s, ok := p.oneOf(e.val, yamlnode.Join(path, k), "byte order", []string{"big", "little"}); ok {
				m.byteOrder = s
			}
		} else if s, ok := p.oneOf(e.val, yamlnode.Join(path, k), "word order", []string{"high_first", "low_first"}); ok {
			m.wordOrder = s
		}
	}
	if e, ok := fs["length"]; ok {
		if m.typ != "" && m.typ != "string" {
			p.errorf(e.key, yamlnode.Join(path, "length"), "length applies to type string only (type is %s)", m.typ)
		} else if v, ok := p.integer(e.val, yamlnode.Join(path, "length"), 1, int64(conn.Modbus.MaxRegisters)); ok {
			m.length = int(v)
		}
	} else if m.typ == "string" {
		p.errorf(spec, yamlnode.Join(path, "length"), "missing required field \"length\" (the registers the string occupies)")
	}
	if e, ok := fs["unit_id"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "unit_id"), 0, 247); ok {
			m.unitID = int(v)
		}
	}
	switch m.typ {
	case "bool", "int16", "uint16":
		m.regs = 1
	case "int32", "uint32", "float32":
		m.regs = 2
	case "float64":
		m.regs = 4
	case "string":
		m.regs = m.length
	}
	var ok bool
	m.addr, ok = p.address(fs, spec, path, allowN)
	if ok && m.addr.expr == nil && m.regs > 0 {
		if _, msg := evalAddr(m.addr, m.typ, m.regs, "", 0); msg != "" {
			p.errorf(m.addr.node, m.addr.path, "%s", msg)
		}
	}
	return m
}

// address reads a Modbus address: an integer or an expression.
func (p *parser) address(fs map[string]entry, spec *yaml.Node, path string, allowN bool) (addrTmpl, bool) {
	apath := yamlnode.Join(path, "address")
	e, ok := fs["address"]
	if !ok {
		p.errorf(spec, apath, "missing required field \"address\"")
		return addrTmpl{}, false
	}
	n := yamlnode.Deref(e.val)
	a := addrTmpl{node: n, path: apath}
	if !p.visit(n) {
		return a, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if n.Decode(&a.val) != nil || a.val < 0 || a.val > 65535 {
			p.errorf(n, apath, "address %s is out of range (want 0..65535)", n.Value)
			return a, false
		}
		return a, true
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, apath, "want an address 0..65535 or an expression such as \"100 + 10*{n}\", got %s", yamlnode.Kind(n))
		return a, false
	}
	x, hasN, err := parseExpr(n.Value)
	if err != nil {
		p.errorf(n, apath, "invalid address expression %q: %v", n.Value, err)
		return a, false
	}
	if hasN && !allowN {
		p.errorf(n, apath, errNWithoutRange)
		return a, false
	}
	if hasN {
		a.expr = x
		return a, true
	}
	v, ok := x.eval(0)
	if !ok || v < 0 || v > 65535 {
		p.errorf(n, apath, "address %q is out of range (want 0..65535)", n.Value)
		return a, false
	}
	a.val = v
	return a, true
}

// evalAddr evaluates an address for the twin with template number num
// and checks that regs registers of typ fit from it.
func evalAddr(a addrTmpl, typ string, regs int, twin string, num int64) (int, string) {
	v, where := a.val, ""
	if a.expr != nil {
		var ok bool
		where = fmt.Sprintf(" for twin %q", twin)
		if v, ok = a.expr.eval(num); !ok {
			return 0, fmt.Sprintf("address %q overflows%s", a.node.Value, where)
		}
	}
	if v < 0 || v > 65535 {
		return 0, fmt.Sprintf("address %d%s is out of range (want 0..65535)", v, where)
	}
	if v+int64(regs) > 65536 {
		return 0, fmt.Sprintf("%s at address %d%s needs %d registers and runs past address 65535", typ, v, where, regs)
	}
	return int(v), ""
}

// pointTmpl is a parsed read or write spec, before expansion.
type pointTmpl struct {
	name   string
	key    *yaml.Node
	path   string
	pb     PointBinding // without the fields below
	nodeID tmpl
	field  tmpl
	addr   addrTmpl
	regs   int
	ok     bool  // parsed without problems: worth expanding
	models []int // per model of the entry: the property's index, or -1 if it may not be bound
}

// specFields checks the keys of a spec and returns its fields and the
// node to locate missing fields at; a null spec has no fields.
func (p *parser) specFields(it mapItem, path string, kind specKind, conn *ConnectorConfig) (map[string]entry, *yaml.Node, bool) {
	if yamlnode.IsNull(it.val) {
		return map[string]entry{}, it.key, true
	}
	proto := Protocol(0)
	if conn != nil {
		proto = conn.Protocol
	}
	fs, ok := p.fields(it.val, path, keysFor(kind, proto), misplacedKey(kind, conn))
	return fs, yamlnode.Deref(it.val), ok
}

func (p *parser) point(conn *ConnectorConfig, kind specKind, it mapItem, path string, allowN bool) *pointTmpl {
	t := &pointTmpl{name: it.name, key: it.key, path: path, pb: PointBinding{Property: it.name, Scale: 1, UnitID: -1}}
	before := p.count
	fs, spec, ok := p.specFields(it, path, kind, conn)
	if !ok || conn == nil || conn.Protocol == 0 {
		return t
	}
	if e, ok := fs["scale"]; ok {
		if f, ok := p.number(e.val, yamlnode.Join(path, "scale")); ok {
			if f == 0 {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "scale"), "must not be 0")
			}
			t.pb.Scale = f
		}
	}
	if e, ok := fs["offset"]; ok {
		t.pb.Offset, _ = p.number(e.val, yamlnode.Join(path, "offset"))
	}
	if e, ok := fs["deadband"]; ok {
		if f, ok := p.number(e.val, yamlnode.Join(path, "deadband")); ok {
			if f < 0 {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "deadband"), "must not be negative, got %s", yamlnode.Deref(e.val).Value)
			}
			t.pb.Deadband = f
		}
	}
	if e, ok := fs["change_only"]; ok {
		t.pb.ChangeOnly = p.boolean(e.val, yamlnode.Join(path, "change_only"))
	}
	switch conn.Protocol {
	case ProtocolOPCUA:
		t.nodeID = p.tmplField(fs, spec, path, "node_id", true, " (e.g. \"ns=2;s=Pump1.Flow\")", allowN, checkNodeID)
		if kind == kindRead {
			p.opcuaRead(fs, spec, path, conn, &t.pb)
		}
	case ProtocolModbus:
		m := p.modbus(fs, spec, path, conn, kind == kindWrite, allowN)
		t.pb.Table, t.pb.Type, t.pb.ByteOrder, t.pb.WordOrder = m.table, m.typ, m.byteOrder, m.wordOrder
		t.pb.Length, t.pb.UnitID, t.addr, t.regs = m.length, m.unitID, m.addr, m.regs
		if m.typ == "bool" || m.typ == "string" {
			for _, k := range []string{"scale", "offset", "deadband"} {
				if e, ok := fs[k]; ok {
					p.errorf(e.key, yamlnode.Join(path, k), "%s applies to numeric types only (type is %s)", k, m.typ)
				}
			}
		}
		if kind == kindRead {
			groups := conn.Modbus.PollGroups
			if e, ok := fs["poll_group"]; ok {
				if s, ok := p.str(e.val, yamlnode.Join(path, "poll_group")); ok {
					names := make([]string, len(groups))
					for i, g := range groups {
						names[i] = g.Name
					}
					if !slices.Contains(names, s) {
						p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "poll_group"), "connector %q has no poll group %q%s", conn.Name, s, suggest.Closest(s, names))
					}
					t.pb.PollGroup = s
				}
			} else if len(groups) > 0 {
				t.pb.PollGroup = groups[0].Name
			}
		}
	case ProtocolMQTT:
		t.field = p.tmplField(fs, spec, path, "field", true, " (the JSON path of the value, e.g. data.flow)", allowN, checkField)
		if kind == kindWrite && conn.MQTT.CommandTopic == "" {
			p.errorf(it.key, path, "mqtt writes are published to the connector's command_topic, which connector %q does not set", conn.Name)
		}
	}
	t.ok = p.count == before
	return t
}

func checkField(s string) string {
	if !validJSONPath(s) {
		return fmt.Sprintf("invalid JSON path %q (want dot-separated keys such as data.flow or values.0)", s)
	}
	return ""
}

// opcuaRead reads the OPC UA keys only reads have.
func (p *parser) opcuaRead(fs map[string]entry, spec *yaml.Node, path string, conn *ConnectorConfig, pb *PointBinding) {
	pb.SamplingInterval = conn.OPCUA.PublishingInterval
	pb.QueueSize = 1
	if e, ok := fs["sampling_interval"]; ok {
		if d, ok := p.duration(e.val, yamlnode.Join(path, "sampling_interval"), 0); ok {
			pb.SamplingInterval = d
		}
	}
	if e, ok := fs["queue_size"]; ok {
		if v, ok := p.integer(e.val, yamlnode.Join(path, "queue_size"), 1, 65535); ok {
			pb.QueueSize = uint32(v)
		}
	}
	typ, hasType := fs["deadband_type"]
	val, hasVal := fs["deadband_value"]
	if hasType {
		pb.DeadbandType, _ = p.oneOf(typ.val, yamlnode.Join(path, "deadband_type"), "deadband type", []string{"absolute", "percent"})
	}
	switch {
	case hasVal && !hasType:
		p.errorf(val.key, yamlnode.Join(path, "deadband_value"), "deadband_value needs deadband_type (absolute or percent)")
	case hasType && !hasVal:
		p.errorf(spec, yamlnode.Join(path, "deadband_value"), "missing required field \"deadband_value\" (deadband_type is set)")
	case hasVal:
		if f, ok := p.number(val.val, yamlnode.Join(path, "deadband_value")); ok {
			switch {
			case f < 0:
				p.errorf(yamlnode.Deref(val.val), yamlnode.Join(path, "deadband_value"), "must not be negative, got %s", yamlnode.Deref(val.val).Value)
			case f > 100 && pb.DeadbandType == "percent":
				p.errorf(yamlnode.Deref(val.val), yamlnode.Join(path, "deadband_value"), "a percent deadband must be at most 100, got %s", yamlnode.Deref(val.val).Value)
			}
			pb.DeadbandValue = f
		}
	}
}

// commandTmpl is a parsed command spec, before expansion.
type commandTmpl struct {
	name      string
	key       *yaml.Node
	spec      *yaml.Node
	path      string
	cb        CommandBinding // without the fields below
	nodeID    tmpl
	method    tmpl
	topic     tmpl
	addr      addrTmpl
	regs      int
	needValue bool // the command writes a value: Value, or its first parameter
	ok        bool
	models    []bool // per model of the entry: the command may be bound
}

func (p *parser) command(conn *ConnectorConfig, it mapItem, path string, allowN bool) *commandTmpl {
	t := &commandTmpl{name: it.name, key: it.key, path: path, cb: CommandBinding{Command: it.name, UnitID: -1}}
	before := p.count
	fs, spec, ok := p.specFields(it, path, kindCommand, conn)
	t.spec = spec
	if !ok || conn == nil || conn.Protocol == 0 {
		return t
	}
	value, hasValue := fs["value"]
	var text string
	if hasValue {
		n := yamlnode.Deref(value.val)
		if n.Kind != yaml.ScalarNode {
			p.errorf(n, yamlnode.Join(path, "value"), "want a value, got %s", yamlnode.Kind(n))
			hasValue = false
		} else {
			text = n.Value
		}
	}
	switch conn.Protocol {
	case ProtocolOPCUA:
		t.nodeID = p.tmplField(fs, spec, path, "node_id", true, " (the node to write, or the object whose method to call)", allowN, checkNodeID)
		t.method = p.tmplField(fs, spec, path, "method_node_id", false, "", allowN, checkNodeID)
		if t.method.s != "" && hasValue {
			p.errorf(value.key, yamlnode.Join(path, "value"), "value does not apply to method calls (the command's parameters are the method's input arguments)")
		}
		t.needValue = t.method.s == ""
		t.cb.Value = text
	case ProtocolModbus:
		m := p.modbus(fs, spec, path, conn, true, allowN)
		t.cb.Table, t.cb.Type, t.cb.ByteOrder, t.cb.WordOrder = m.table, m.typ, m.byteOrder, m.wordOrder
		t.cb.Length, t.cb.UnitID, t.addr, t.regs = m.length, m.unitID, m.addr, m.regs
		t.needValue = true
		if hasValue && m.typ != "" {
			v, msg := modbusValue(m.typ, m.length, text)
			if msg != "" {
				p.errorf(yamlnode.Deref(value.val), yamlnode.Join(path, "value"), "%s", msg)
			}
			t.cb.Value = v
		}
	case ProtocolMQTT:
		t.topic = p.tmplField(fs, spec, path, "topic", false, "", allowN, nil)
		if t.topic.s != "" {
			if msg := checkTopic(t.topic.s, false); msg != "" {
				p.errorf(t.topic.node, yamlnode.Join(path, "topic"), "%s", msg)
			}
		} else if _, given := fs["topic"]; !given && conn.MQTT.CommandTopic == "" {
			p.errorf(spec, yamlnode.Join(path, "topic"), "missing required field \"topic\" (connector %q has no command_topic)", conn.Name)
		}
	}
	t.ok = p.count == before
	return t
}

// modbusValue checks a command value against a Modbus type and returns
// its canonical text.
func modbusValue(typ string, length int, s string) (string, string) {
	bad := func(err error) (string, string) {
		if errors.Is(err, strconv.ErrRange) {
			return "", fmt.Sprintf("value %q does not fit type %s", s, typ)
		}
		return "", fmt.Sprintf("invalid value %q for type %s", s, typ)
	}
	switch typ {
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad(err)
		}
		return strconv.FormatBool(b), ""
	case "int16", "int32":
		v, err := strconv.ParseInt(s, 10, typeBits(typ))
		if err != nil {
			return bad(err)
		}
		return strconv.FormatInt(v, 10), ""
	case "uint16", "uint32":
		v, err := strconv.ParseUint(s, 10, typeBits(typ))
		if err != nil {
			return bad(err)
		}
		return strconv.FormatUint(v, 10), ""
	case "float32", "float64":
		bits := typeBits(typ)
		f, err := strconv.ParseFloat(s, bits)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return bad(err)
		}
		return strconv.FormatFloat(f, 'g', -1, bits), ""
	case "string":
		if len(s) > 2*length || !utf8.ValidString(s) {
			return "", fmt.Sprintf("value %q does not fit %d registers (at most %d bytes of UTF-8)", s, length, 2*length)
		}
	}
	return s, ""
}

// typeBits returns the size of a numeric Modbus type in bits.
func typeBits(typ string) int {
	switch typ {
	case "int16", "uint16":
		return 16
	case "int32", "uint32", "float32":
		return 32
	}
	return 64
}

var bindingKeys = []string{"connector", "twin", "properties", "writes", "commands"}

// bindState is what the entries of the bindings list share.
type bindState struct {
	c     *Config
	byKey map[[2]string]int     // connector, twin → index in c.Bindings and lines
	lines [][2][]int            // per binding: the lines of its Writes and Commands
	reads map[string][]firstUse // twin → who reads each property, by property index
}

// firstUse is the binding that reads a property first.
type firstUse struct {
	conn string // "" for none
	line int
}

// boundTwin is a declared twin of an entry's template.
type boundTwin struct {
	x     twins.Expansion
	num   int64 // x.N as a number
	model int   // index in the entry's models
}

func (p *parser) bindings(c *Config, n *yaml.Node) {
	st := &bindState{c: c, byKey: make(map[[2]string]int), reads: make(map[string][]firstUse)}
	for i, item := range p.seq(n, "bindings") {
		p.binding(st, item, yamlnode.Index("bindings", i))
	}
	for _, b := range c.Bindings {
		c.byConn[b.Connector] = append(c.byConn[b.Connector], b)
	}
}

func (p *parser) binding(st *bindState, item *yaml.Node, path string) {
	fs, ok := p.fields(item, path, bindingKeys, nil)
	if !ok {
		return
	}
	item = yamlnode.Deref(item)
	var conn *ConnectorConfig
	if e, ok := fs["connector"]; !ok {
		p.errorf(item, yamlnode.Join(path, "connector"), "missing required field \"connector\"")
	} else if s, ok := p.str(e.val, yamlnode.Join(path, "connector")); ok {
		if conn, ok = st.c.connectors[s]; !ok {
			names := make([]string, 0, len(st.c.Connectors))
			for _, cc := range st.c.Connectors {
				names = append(names, cc.Name)
			}
			p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "connector"), "unknown connector %q%s", s, suggest.Closest(s, names))
		}
	}

	// The twins, and the models they are of.
	allowN := true // unknown until the template is valid
	var bound []boundTwin
	var models []*twins.Model
	var twinNode *yaml.Node
	twinOK := false
	if e, ok := fs["twin"]; !ok {
		p.errorf(item, yamlnode.Join(path, "twin"), "missing required field \"twin\"")
	} else if s, ok := p.str(e.val, yamlnode.Join(path, "twin")); ok {
		twinNode = yamlnode.Deref(e.val)
		bound, models, twinOK = p.bindTwins(s, twinNode, yamlnode.Join(path, "twin"))
		if twinOK {
			allowN = bound[0].x.N != ""
		}
	}

	// The specs.
	readItems := p.items(fs["properties"].val, yamlnode.Join(path, "properties"))
	writeItems := p.items(fs["writes"].val, yamlnode.Join(path, "writes"))
	cmdItems := p.items(fs["commands"].val, yamlnode.Join(path, "commands"))
	_, hasReads := fs["properties"]
	_, hasWrites := fs["writes"]
	_, hasCmds := fs["commands"]
	if !hasReads && !hasWrites && !hasCmds {
		p.errorf(item, path, "binding has no properties, writes or commands")
	}
	reads := make([]*pointTmpl, len(readItems))
	for i, it := range readItems {
		reads[i] = p.point(conn, kindRead, it, yamlnode.Join(yamlnode.Join(path, "properties"), it.name), allowN)
	}
	writes := make([]*pointTmpl, len(writeItems))
	for i, it := range writeItems {
		writes[i] = p.point(conn, kindWrite, it, yamlnode.Join(yamlnode.Join(path, "writes"), it.name), allowN)
	}
	cmds := make([]*commandTmpl, len(cmdItems))
	for i, it := range cmdItems {
		cmds[i] = p.command(conn, it, yamlnode.Join(yamlnode.Join(path, "commands"), it.name), allowN)
	}
	p.checkModels(models, reads, writes, cmds)
	if conn == nil || conn.Protocol == 0 || !twinOK {
		return
	}

	// Expansion: one Binding per twin, merged with earlier entries of the
	// same connector and twin.
	var late lateErrs
	for _, tw := range bound {
		id := tw.x.ID
		if conn.Protocol == ProtocolMQTT && strings.Contains(id, "/") {
			late.add(twinNode, yamlnode.Join(path, "twin"), "slash", fmt.Sprintf("twin id %q contains \"/\" and cannot fill the {twin} level of MQTT topics", id))
			continue
		}
		b, lines := st.binding(conn.Name, tw.x, item.Line, len(reads), len(writes), len(cmds))
		var used []firstUse
		if len(reads) > 0 {
			used = st.reads[id]
			if used == nil {
				used = make([]firstUse, len(models[tw.model].Properties))
				st.reads[id] = used
			}
		}
		for _, t := range reads {
			pi := t.models[tw.model]
			if !t.ok || pi < 0 {
				continue
			}
			pb, ok := p.expandPoint(conn, t, tw, &late)
			if !ok {
				continue
			}
			if f := used[pi]; f.conn != "" {
				late.add(t.key, t.path, "dup", fmt.Sprintf("property %q of twin %q is already read from connector %q (line %d)", t.name, id, f.conn, f.line))
				continue
			}
			used[pi] = firstUse{conn: conn.Name, line: t.key.Line}
			b.Points = append(b.Points, pb)
		}
		for _, t := range writes {
			if !t.ok || t.models[tw.model] < 0 {
				continue
			}
			pb, ok := p.expandPoint(conn, t, tw, &late)
			if !ok {
				continue
			}
			if i := slices.IndexFunc(b.Writes, func(w PointBinding) bool { return w.Property == t.name }); i >= 0 {
				late.add(t.key, t.path, "dup", fmt.Sprintf("property %q of twin %q is already written through connector %q (line %d)", t.name, id, conn.Name, lines[0][i]))
				continue
			}
			b.Writes = append(b.Writes, pb)
			lines[0] = append(lines[0], t.key.Line)
		}
		for _, t := range cmds {
			if !t.ok || !t.models[tw.model] {
				continue
			}
			cb, ok := p.expandCommand(conn, t, tw, &late)
			if !ok {
				continue
			}
			if i := slices.IndexFunc(b.Commands, func(c CommandBinding) bool { return c.Command == t.name }); i >= 0 {
				late.add(t.key, t.path, "dup", fmt.Sprintf("command %q of twin %q is already bound on connector %q (line %d)", t.name, id, conn.Name, lines[1][i]))
				continue
			}
			b.Commands = append(b.Commands, cb)
			lines[1] = append(lines[1], t.key.Line)
		}
	}
	late.flush(p)
}

// bindTwins expands a binding's twin template and finds the declared
// twins and their models.
func (p *parser) bindTwins(s string, node *yaml.Node, path string) ([]boundTwin, []*twins.Model, bool) {
	if k := templateSize(s); k > len(p.plant.Twins) {
		p.errorf(node, path, "template %q expands to %d twins, more than the %d the plant declares", s, k, len(p.plant.Twins))
		return nil, nil, false
	}
	xs, err := twins.ExpandTemplate(s)
	if err != nil {
		p.errorf(node, path, "%v", err)
		return nil, nil, false
	}
	bound := make([]boundTwin, 0, len(xs))
	var models []*twins.Model
	missing, firstMissing := 0, ""
	for _, x := range xs {
		spec, ok := p.plant.Twin(x.ID)
		if !ok || spec.Model == nil {
			if missing == 0 {
				firstMissing = x.ID
			}
			missing++
			continue
		}
		mi := slices.Index(models, spec.Model)
		if mi < 0 {
			mi = len(models)
			models = append(models, spec.Model)
		}
		num, _ := strconv.ParseInt(x.N, 10, 64)
		bound = append(bound, boundTwin{x: x, num: num, model: mi})
	}
	if missing > 0 {
		msg := fmt.Sprintf("twin %q is not a declared twin", firstMissing)
		if missing > 1 {
			msg += " (and " + plural(missing-1, "more missing twin") + ")"
		}
		p.errorf(node, path, "%s", msg)
	}
	return bound, models, len(bound) > 0
}

// templateSize returns how many ids a template with a well-formed {A..B}
// range expands to, or -1.
func templateSize(pattern string) int {
	open := strings.IndexByte(pattern, '{')
	if open < 0 {
		return -1
	}
	rest := pattern[open+1:]
	end := strings.IndexByte(rest, '}')
	if end < 0 {
		return -1
	}
	lo, hi, ok := strings.Cut(rest[:end], "..")
	if !ok || !allDigits(lo) || !allDigits(hi) || len(lo) > 7 || len(hi) > 7 {
		return -1
	}
	a, _ := strconv.Atoi(lo)
	b, _ := strconv.Atoi(hi)
	return b - a + 1
}

// checkModels checks the specs against every model of the entry's twins
// and records for which models each spec may be bound.
func (p *parser) checkModels(models []*twins.Model, reads, writes []*pointTmpl, cmds []*commandTmpl) {
	for _, t := range slices.Concat(reads, writes) {
		t.models = make([]int, len(models))
	}
	for _, t := range cmds {
		t.models = make([]bool, len(models))
	}
	for mi, m := range models {
		for _, t := range reads {
			t.models[mi] = -1
			if pr, ok := p.property(m, t); ok {
				t.models[mi] = pr.Index
			}
		}
		for _, t := range writes {
			t.models[mi] = -1
			pr, ok := p.property(m, t)
			if ok && !pr.Writable {
				p.errorf(t.key, t.path, "property %q of model %q is not writable", t.name, m.Name)
			} else if ok {
				t.models[mi] = pr.Index
			}
		}
		for _, t := range cmds {
			cmd, ok := m.Command(t.name)
			if !ok {
				names := make([]string, len(m.Commands))
				for i := range m.Commands {
					names[i] = m.Commands[i].Name
				}
				p.errorf(t.key, t.path, "model %q has no command %q%s", m.Name, t.name, suggest.Closest(t.name, names))
			} else if t.ok && t.needValue && t.cb.Value == "" && len(cmd.Parameters) == 0 {
				p.errorf(t.spec, yamlnode.Join(t.path, "value"), "missing required field \"value\" (command %q of model %q has no parameter to send)", t.name, m.Name)
				ok = false
			}
			t.models[mi] = ok
		}
	}
}

// property finds a spec's property in m, reporting it when missing.
func (p *parser) property(m *twins.Model, t *pointTmpl) (*twins.Property, bool) {
	pr, ok := m.Property(t.name)
	if !ok {
		names := make([]string, len(m.Properties))
		for i := range m.Properties {
			names[i] = m.Properties[i].Name
		}
		p.errorf(t.key, t.path, "model %q has no property %q%s", m.Name, t.name, suggest.Closest(t.name, names))
	}
	return pr, ok
}

// binding returns the Binding of a connector and twin, creating it with
// room for the given numbers of points, writes and commands, and the lines
// of its writes and commands.
func (st *bindState) binding(conn string, x twins.Expansion, line, points, writes, cmds int) (*Binding, *[2][]int) {
	k := [2]string{conn, x.ID}
	if i, ok := st.byKey[k]; ok {
		return st.c.Bindings[i], &st.lines[i]
	}
	b := &Binding{Connector: conn, TwinID: x.ID, N: x.N, Line: line}
	if points > 0 {
		b.Points = make([]PointBinding, 0, points)
	}
	if writes > 0 {
		b.Writes = make([]PointBinding, 0, writes)
	}
	if cmds > 0 {
		b.Commands = make([]CommandBinding, 0, cmds)
	}
	st.byKey[k] = len(st.c.Bindings)
	st.c.Bindings = append(st.c.Bindings, b)
	st.lines = append(st.lines, [2][]int{})
	return b, &st.lines[len(st.lines)-1]
}

// expandPoint fills a point's {n} fields for one twin.
func (p *parser) expandPoint(conn *ConnectorConfig, t *pointTmpl, tw boundTwin, late *lateErrs) (PointBinding, bool) {
	pb := t.pb
	switch conn.Protocol {
	case ProtocolOPCUA:
		pb.NodeID = t.nodeID.expand(tw.x.N)
		if t.nodeID.hasN {
			if msg := checkNodeID(pb.NodeID); msg != "" {
				late.add(t.nodeID.node, yamlnode.Join(t.path, "node_id"), "", msg)
				return pb, false
			}
		}
	case ProtocolModbus:
		addr, msg := evalAddr(t.addr, pb.Type, t.regs, tw.x.ID, tw.num)
		if msg != "" {
			late.add(t.addr.node, t.addr.path, "", msg)
			return pb, false
		}
		pb.Address = addr
	case ProtocolMQTT:
		pb.Field = t.field.expand(tw.x.N)
		if t.field.hasN {
			if msg := checkField(pb.Field); msg != "" {
				late.add(t.field.node, yamlnode.Join(t.path, "field"), "", msg)
				return pb, false
			}
		}
	}
	return pb, true
}

// expandCommand fills a command's {n} (and {twin}) fields for one twin.
func (p *parser) expandCommand(conn *ConnectorConfig, t *commandTmpl, tw boundTwin, late *lateErrs) (CommandBinding, bool) {
	cb := t.cb
	switch conn.Protocol {
	case ProtocolOPCUA:
		cb.NodeID = t.nodeID.expand(tw.x.N)
		cb.MethodNodeID = t.method.expand(tw.x.N)
		for _, f := range []struct {
			t    tmpl
			id   string
			name string
		}{{t.nodeID, cb.NodeID, "node_id"}, {t.method, cb.MethodNodeID, "method_node_id"}} {
			if f.t.hasN {
				if msg := checkNodeID(f.id); msg != "" {
					late.add(f.t.node, yamlnode.Join(t.path, f.name), "", msg)
					return cb, false
				}
			}
		}
	case ProtocolModbus:
		addr, msg := evalAddr(t.addr, cb.Type, t.regs, tw.x.ID, tw.num)
		if msg != "" {
			late.add(t.addr.node, t.addr.path, "", msg)
			return cb, false
		}
		cb.Address = addr
	case ProtocolMQTT:
		topic := t.topic.expand(tw.x.N)
		if topic == "" {
			topic = conn.MQTT.CommandTopic
		}
		cb.Topic = strings.ReplaceAll(topic, "{twin}", tw.x.ID)
	}
	return cb, true
}

// lateErrs gathers the problems found while expanding an entry's twins:
// one per place and kind, with a count of the other twins it affects.
type lateErrs struct {
	list  []*lateErr
	byKey map[string]*lateErr
}

type lateErr struct {
	node      *yaml.Node
	path, msg string
	more      int
}

func (l *lateErrs) add(node *yaml.Node, path, kind, msg string) {
	key := path + "\x00" + kind
	if e, ok := l.byKey[key]; ok {
		e.more++
		return
	}
	if l.byKey == nil {
		l.byKey = make(map[string]*lateErr)
	}
	e := &lateErr{node: node, path: path, msg: msg}
	l.byKey[key] = e
	l.list = append(l.list, e)
}

func (l *lateErrs) flush(p *parser) {
	for _, e := range l.list {
		msg := e.msg
		if e.more > 0 {
			msg += " (and " + plural(e.more, "more twin") + ")"
		}
		p.errorf(e.node, e.path, "%s", msg)
	}
}

// exprNode is a node of an address expression.
type exprNode struct {
	op   byte // '0' constant, 'n' {n}, '~' negation, '+', '-', '*'
	val  int64
	l, r *exprNode
}

// eval evaluates x with {n} = n; false on overflow.
func (x *exprNode) eval(n int64) (int64, bool) {
	switch x.op {
	case '0':
		return x.val, true
	case 'n':
		return n, true
	case '~':
		v, ok := x.l.eval(n)
		if !ok || v == math.MinInt64 {
			return 0, false
		}
		return -v, true
	}
	a, ok := x.l.eval(n)
	if !ok {
		return 0, false
	}
	b, ok := x.r.eval(n)
	if !ok {
		return 0, false
	}
	switch x.op {
	case '+':
		r := a + b
		if (b > 0 && r < a) || (b < 0 && r > a) {
			return 0, false
		}
		return r, true
	case '-':
		r := a - b
		if (b > 0 && r > a) || (b < 0 && r < a) {
			return 0, false
		}
		return r, true
	default: // '*'
		if a == 0 || b == 0 {
			return 0, true
		}
		r := a * b
		if r/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
			return 0, false
		}
		return r, true
	}
}

const (
	maxExprLen   = 256
	maxExprDepth = 32
	exprWant     = "want integers, + - *, parentheses and {n}"
)

// exprParser parses sum := product {(+|-) product}; product := unary
// {* unary}; unary := -unary | ( sum ) | integer | {n}.
type exprParser struct {
	s     string
	i     int
	depth int
	hasN  bool
}

// parseExpr parses an address expression; hasN reports whether it uses
// {n}.
func parseExpr(s string) (x *exprNode, hasN bool, err error) {
	if len(s) > maxExprLen {
		return nil, false, fmt.Errorf("longer than %d characters", maxExprLen)
	}
	ep := &exprParser{s: s}
	x, err = ep.sum()
	if err == nil {
		ep.space()
		if ep.i < len(s) {
			err = ep.unexpected()
		}
	}
	return x, ep.hasN, err
}

func (ep *exprParser) space() {
	for ep.i < len(ep.s) && (ep.s[ep.i] == ' ' || ep.s[ep.i] == '\t') {
		ep.i++
	}
}

func (ep *exprParser) unexpected() error {
	if ep.i >= len(ep.s) {
		return errors.New("unexpected end (" + exprWant + ")")
	}
	r, _ := utf8.DecodeRuneInString(ep.s[ep.i:])
	return fmt.Errorf("unexpected %q at column %d (%s)", string(r), ep.i+1, exprWant)
}

func (ep *exprParser) sum() (*exprNode, error) {
	x, err := ep.product()
	for err == nil {
		ep.space()
		if ep.i >= len(ep.s) || (ep.s[ep.i] != '+' && ep.s[ep.i] != '-') {
			return x, nil
		}
		op := ep.s[ep.i]
		ep.i++
		var y *exprNode
		y, err = ep.product()
		x = &exprNode{op: op, l: x, r: y}
	}
	return nil, err
}

func (ep *exprParser) product() (*exprNode, error) {
	x, err := ep.unary()
	for err == nil {
		ep.space()
		if ep.i >= len(ep.s) || ep.s[ep.i] != '*' {
			return x, nil
		}
		ep.i++
		var y *exprNode
		y, err = ep.unary()
		x = &exprNode{op: '*', l: x, r: y}
	}
	return nil, err
}

func (ep *exprParser) unary() (*exprNode, error) {
	ep.space()
	if ep.i >= len(ep.s) {
		return nil, ep.unexpected()
	}
	ep.depth++
	defer func() { ep.depth-- }()
	if ep.depth > maxExprDepth {
		return nil, errors.New("nested too deeply")
	}
	switch c := ep.s[ep.i]; {
	case c == '-':
		ep.i++
		x, err := ep.unary()
		return &exprNode{op: '~', l: x}, err
	case c == '(':
		ep.i++
		x, err := ep.sum()
		if err != nil {
			return nil, err
		}
		ep.space()
		if ep.i >= len(ep.s) || ep.s[ep.i] != ')' {
			if ep.i >= len(ep.s) {
				return nil, errors.New("missing )")
			}
			return nil, ep.unexpected()
		}
		ep.i++
		return x, nil
	case c >= '0' && c <= '9':
		start := ep.i
		for ep.i < len(ep.s) && ep.s[ep.i] >= '0' && ep.s[ep.i] <= '9' {
			ep.i++
		}
		v, err := strconv.ParseInt(ep.s[start:ep.i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s is too large", ep.s[start:ep.i])
		}
		return &exprNode{op: '0', val: v}, nil
	case strings.HasPrefix(ep.s[ep.i:], "{n}"):
		ep.i += 3
		ep.hasN = true
		return &exprNode{op: 'n'}, nil
	}
	return nil, ep.unexpected()
}
