package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
)

// queueSize bounds the messages waiting for the worker; past it they are
// dropped and counted (paho's callback must not block).
const queueSize = 65536

// responseQueueSize bounds the command responses waiting for the response
// worker; past it they are dropped and counted like telemetry (the
// command waiting for a dropped response ends with its context).
const responseQueueSize = 1024

// Connector subscribes to one broker for the twins bound to it.
type Connector struct {
	cfg      *edge.ConnectorConfig
	mq       edge.MQTTConnector
	sink     *edge.Sink
	log      *slog.Logger
	met      *edge.ConnectorMetrics
	badInput edge.Throttle
	pattern  TopicPattern
	mappings map[string]*Mapping // twin → its payload mapping
	twins    []string
	panicked edge.PanicReporter // set by OnPanic before Start

	// Commands and writes (command.go).
	cmdTopic  *TopicPattern            // CommandTopic, nil when not set
	respTopic *TopicPattern            // ResponseTopic, nil when not set
	commands  map[string]commandTarget // twin "\x00" command → where it goes
	writes    map[string]writeTarget   // twin "\x00" property → where it goes
	idPrefix  string                   // connector name and a random 64-bit number, hex
	nextID    atomic.Uint64
	resps     chan paho.Message // responses for the response worker; nil without respTopic
	unmatched atomic.Int64      // responses naming no pending command
	pending   struct {
		sync.Mutex
		m map[string]*waiter // correlation id → the command waiting for its response
	}

	client   paho.Client
	msgs     chan paho.Message
	dropped  atomic.Int64
	unknown  atomic.Int64 // messages for topics of no bound twin
	stopC    chan struct{}
	done     chan struct{}
	respDone chan struct{} // closed when the response worker ends (at once without respTopic)
	loopDone chan struct{} // closed when the connection loop ends
	lostC    chan struct{} // onLost → the connection loop

	status *edge.StatusKeeper

	mu struct {
		sync.Mutex
		connected  bool
		subscribed bool   // the subscriptions of the current connection are acknowledged
		conns      uint64 // connections and losses so far: a stale SUBACK does not count
		once       bool
		lastSeen   map[string]time.Time // twin → its last message (OfflineAfter)
		silent     map[string]bool      // twins marked offline for silence
	}
}

// New builds a connector from its configuration and bindings; met may be
// nil.
func New(cfg *edge.ConnectorConfig, bindings []*edge.Binding, sink *edge.Sink, met *edge.Metrics, logger *slog.Logger) (*Connector, error) {
	if cfg.MQTT == nil {
		return nil, fmt.Errorf("mqtt: connector %s: no mqtt section", cfg.Name)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pat, err := ParseTopicPattern(cfg.MQTT.Topic)
	if err != nil {
		return nil, fmt.Errorf("mqtt: connector %s: topic: %w", cfg.Name, err)
	}
	c := &Connector{cfg: cfg, mq: *cfg.MQTT, sink: sink, log: logger.With("connector", cfg.Name), met: met.For(cfg.Name),
		pattern: pat, mappings: map[string]*Mapping{}, msgs: make(chan paho.Message, queueSize),
		stopC: make(chan struct{}), done: make(chan struct{}), loopDone: make(chan struct{}), lostC: make(chan struct{}, 1)}
	c.badInput.Interval = 10 * time.Second
	c.mu.lastSeen, c.mu.silent = map[string]time.Time{}, map[string]bool{}
	if err := c.indexCommands(bindings); err != nil {
		return nil, err
	}
	for _, b := range bindings {
		m := c.mappings[b.TwinID]
		if m == nil {
			m = &Mapping{TimestampPath: c.mq.TimestampField}
			c.mappings[b.TwinID] = m
			c.twins = append(c.twins, b.TwinID)
		}
		for _, p := range b.Points {
			m.Fields = append(m.Fields, Field{Property: p.Property, Path: p.Field, Scale: p.Scale, Offset: p.Offset})
		}
	}
	c.status = edge.NewStatusKeeper(cfg.Name, "mqtt", cfg.Endpoint)
	return c, nil
}

// brokerURL turns the configured endpoint into paho's form.
func brokerURL(endpoint string) string {
	switch {
	case strings.HasPrefix(endpoint, "mqtt://"):
		return "tcp://" + strings.TrimPrefix(endpoint, "mqtt://")
	case strings.HasPrefix(endpoint, "mqtts://"):
		return "ssl://" + strings.TrimPrefix(endpoint, "mqtts://")
	}
	return endpoint
}

func (c *Connector) tlsConfig() (*tls.Config, error) {
	if c.mq.CAFile == "" && c.mq.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.mq.CAFile != "" {
		pem, err := os.ReadFile(c.mq.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: connector %s: ca_file: %w", c.cfg.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: connector %s: ca_file %s: no PEM certificate", c.cfg.Name, c.mq.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.mq.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.mq.CertFile, c.mq.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: connector %s: client certificate: %w", c.cfg.Name, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Start starts the workers and the connection loop, which connects in the
// background and again after every loss, with the connector's backoff.
func (c *Connector) Start() error {
	tc, err := c.tlsConfig()
	if err != nil {
		return err
	}
	// The connector owns reconnecting (paho's own retries are silent: a
	// refused login would show only as "connecting" forever).
	opts := paho.NewClientOptions().
		AddBroker(brokerURL(c.cfg.Endpoint)).
		SetClientID(c.mq.ClientID).
		SetCleanSession(c.mq.CleanSession).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(10 * time.Second).
		SetWriteTimeout(10 * time.Second). // bounds Publish and Subscribe when the connection is stuck
		SetOrderMatters(false).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onLost)
	if c.mq.Username != "" {
		opts.SetUsername(c.mq.Username)
		pw := c.mq.Password
		if c.mq.PasswordEnv != "" {
			pw = os.Getenv(c.mq.PasswordEnv)
		}
		opts.SetPassword(pw)
	}
	if tc != nil {
		opts.SetTLSConfig(tc)
	}
	c.client = paho.NewClient(opts)
	c.setState(edge.StateConnecting, "")
	go c.work()
	if c.resps != nil {
		go c.respond()
	}
	if c.mq.OfflineAfter > 0 {
		go c.watchSilence()
	}
	go c.connectLoop()
	return nil
}

// connectLoop connects, waits for the connection's loss, and connects
// again with backoff and jitter, recording each failed attempt's reason
// (a refused login, a TLS error, a refused connection) in the status.
func (c *Connector) connectLoop() {
	defer edge.Recover(c.panicked)
	defer close(c.loopDone)
	delays := edge.NewDelays(c.cfg.Reconnect, uint64(time.Now().UnixNano()))
	for {
		tok := c.client.Connect()
		select {
		case <-c.stopC:
			return
		case <-tok.Done():
		}
		if err := tok.Error(); err != nil {
			c.setState(edge.StateDisconnected, "connect: "+err.Error())
			c.sink.SetOnline(c.twins, false)
			d := delays.Next()
			c.badInput.Warn(c.log, "mqtt broker refused or unreachable", "endpoint", c.cfg.Endpoint, "retry_in", d, "err", err)
			if !c.pause(d) {
				return
			}
			continue
		}
		delays.Reset()
		select { // onConnect subscribes and marks the twins online
		case <-c.stopC:
			return
		case <-c.lostC:
		}
		if !c.pause(delays.Next()) {
			return
		}
	}
}

// pause waits d; false when stopped meanwhile.
func (c *Connector) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.stopC:
		return false
	case <-t.C:
		return true
	}
}

// onConnect runs in paho's goroutine on every (re)connection: subscribe
// again (a clean or expired session has no subscriptions) to the
// telemetry and, when set, the response topic, and mark the twins online.
func (c *Connector) onConnect(cl paho.Client) {
	c.mu.Lock()
	if c.mu.once {
		c.status.Reconnected()
		c.met.Reconnects.Inc()
	}
	c.mu.once, c.mu.connected, c.mu.subscribed = true, true, false
	c.mu.conns++
	conn := c.mu.conns
	c.mu.Unlock()
	toks := c.subscribe(cl)
	go func() { // waiting for the SUBACK here would block paho
		if err := waitSubscribed(toks, 10*time.Second); err != nil {
			c.setState(edge.StateDisconnected, "subscribe: "+err.Error())
			c.log.Warn("mqtt subscribe failed", "topic", c.pattern.Subscription(), "response_topic", c.responseSubscription(), "err", err)
			return
		}
		c.setState(edge.StateConnected, "")
		c.met.Connected.Set(1)
		c.log.Info("mqtt subscribed", "endpoint", c.cfg.Endpoint, "topic", c.pattern.Subscription(), "response_topic", c.responseSubscription())
		c.mu.Lock()
		c.mu.subscribed = c.mu.conns == conn // not after a later loss or reconnection
		now := time.Now()
		for _, id := range c.twins {
			c.mu.lastSeen[id] = now // a fresh grace period after (re)connecting
		}
		c.mu.silent = map[string]bool{}
		c.mu.Unlock()
		c.sink.SetOnline(c.twins, true)
	}()
}

// subscribe subscribes to the telemetry topic and, when set, the response
// topic, each with its own handler. paho keeps one handler per filter, so
// a response topic equal to the telemetry topic gets one subscription
// whose handler feeds both workers.
func (c *Connector) subscribe(cl paho.Client) []paho.Token {
	tel := c.pattern.Subscription()
	switch {
	case c.respTopic == nil:
		return []paho.Token{cl.Subscribe(tel, c.mq.QoS, c.handle)}
	case c.respTopic.Subscription() == tel:
		return []paho.Token{cl.Subscribe(tel, c.mq.QoS, func(cl paho.Client, m paho.Message) {
			c.handle(cl, m)
			c.handleResponse(cl, m)
		})}
	}
	return []paho.Token{
		cl.Subscribe(tel, c.mq.QoS, c.handle),
		cl.Subscribe(c.respTopic.Subscription(), c.mq.QoS, c.handleResponse),
	}
}

// waitSubscribed waits up to timeout for each SUBACK and checks that the
// broker granted every filter.
func waitSubscribed(toks []paho.Token, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, tok := range toks {
		if !tok.WaitTimeout(time.Until(deadline)) {
			return fmt.Errorf("no SUBACK within %v", timeout)
		}
		if err := tok.Error(); err != nil {
			return err
		}
		if st, ok := tok.(*paho.SubscribeToken); ok {
			for filter, qos := range st.Result() {
				if qos == 0x80 {
					return fmt.Errorf("broker refused the subscription to %s", filter)
				}
			}
		}
	}
	return nil
}

// responseSubscription is the response topic's filter, "" when not set.
func (c *Connector) responseSubscription() string {
	if c.respTopic == nil {
		return ""
	}
	return c.respTopic.Subscription()
}

func (c *Connector) onLost(_ paho.Client, err error) {
	c.mu.Lock()
	c.mu.connected, c.mu.subscribed = false, false
	c.mu.conns++
	c.mu.Unlock()
	c.met.Connected.Set(0)
	c.setState(edge.StateDisconnected, err.Error())
	c.log.Warn("mqtt connection lost; reconnecting", "endpoint", c.cfg.Endpoint, "err", err)
	c.sink.SetOnline(c.twins, false)
	select { // to the connection loop, never blocking paho
	case c.lostC <- struct{}{}:
	default:
	}
}

// handle is paho's message callback: hand off and return.
func (c *Connector) handle(_ paho.Client, m paho.Message) {
	select {
	case c.msgs <- m:
	default:
		c.dropped.Add(1)
	}
}

// maxMerge bounds the messages one publish round of the worker takes.
const maxMerge = 1024

// work decodes messages and publishes samples. It takes what is queued
// (up to maxMerge messages) and publishes one batch per twin of it, in
// arrival order: under load a burst costs each twin one durable update
// instead of one per message; when idle, every message goes out at once.
func (c *Connector) work() {
	defer edge.Recover(c.panicked)
	defer close(c.done)
	pending := map[string][]*pb.Sample{}
	var order []string
	add := func(m paho.Message) {
		twin, samples := c.decode(m.Topic(), m.Payload())
		if len(samples) == 0 {
			return
		}
		if _, ok := pending[twin]; !ok {
			order = append(order, twin)
		}
		pending[twin] = append(pending[twin], samples...)
	}
	for {
		select {
		case <-c.stopC:
			return
		case m := <-c.msgs:
			add(m)
		}
	drain:
		for n := 1; n < maxMerge; n++ {
			select {
			case m := <-c.msgs:
				add(m)
			default:
				break drain
			}
		}
		for _, twin := range order {
			ss := pending[twin]
			c.met.Samples.Add(float64(len(ss)))
			c.sink.Publish(twin, ss)
			delete(pending, twin)
		}
		order = order[:0]
	}
}

// decode maps one message to its twin's samples (none for a message that
// is rejected, counted and logged).
func (c *Connector) decode(topic string, payload []byte) (string, []*pb.Sample) {
	twin, ok := c.pattern.Twin(topic)
	mp := c.mappings[twin]
	if !ok || mp == nil {
		c.unknown.Add(1)
		return "", nil
	}
	samples, problems, err := mp.Decode(payload, c.sink.Now())
	if err != nil {
		c.met.Decode.Inc()
		c.noteError(fmt.Errorf("mqtt: topic %s: %w", topic, err))
		c.badInput.Warn(c.log, "mqtt payload rejected", "topic", topic, "err", err)
		return "", nil
	}
	for _, p := range problems {
		c.met.Decode.Inc()
		c.badInput.Warn(c.log, "mqtt field rejected", "topic", topic, "problem", p)
	}
	if c.mq.OfflineAfter > 0 {
		c.mu.Lock()
		c.mu.lastSeen[twin] = time.Now()
		wasSilent := c.mu.silent[twin]
		delete(c.mu.silent, twin)
		c.mu.Unlock()
		if wasSilent {
			c.sink.SetOnline([]string{twin}, true)
		}
	}
	return twin, samples
}

// watchSilence marks twins offline whose device sent nothing for
// OfflineAfter while the broker connection is up (wall time: it watches
// real devices).
func (c *Connector) watchSilence() {
	defer edge.Recover(c.panicked)
	t := time.NewTicker(max(c.mq.OfflineAfter/4, 250*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stopC:
			return
		case now := <-t.C:
			var gone []string
			c.mu.Lock()
			if c.mu.connected {
				for _, id := range c.twins {
					if !c.mu.silent[id] && now.Sub(c.mu.lastSeen[id]) >= c.mq.OfflineAfter {
						c.mu.silent[id] = true
						gone = append(gone, id)
					}
				}
			}
			c.mu.Unlock()
			if len(gone) > 0 {
				c.log.Info("mqtt devices silent; twins offline", "twins", len(gone), "offline_after", c.mq.OfflineAfter)
				c.sink.SetOnline(gone, false)
			}
		}
	}
}

// OnPanic makes a panic in one of the connector's goroutines go to
// report (the edge.Host restarts the connector) instead of crashing the
// process. Call before Start.
func (c *Connector) OnPanic(report edge.PanicReporter) { c.panicked = report }

// Stop disconnects and stops the workers; pending commands and writes end
// with ErrStopped. Idempotent.
func (c *Connector) Stop() {
	select {
	case <-c.stopC:
		return
	default:
		close(c.stopC)
	}
	if c.client != nil {
		c.client.Disconnect(250)
		<-c.loopDone
	}
	<-c.done
	<-c.respDone
	c.setState(edge.StateStopped, "")
}

// Dropped returns how many messages were dropped because the worker fell
// behind, and Unknown how many named no bound twin.
func (c *Connector) Dropped() int64 { return c.dropped.Load() }

// Unknown returns how many messages matched no bound twin.
func (c *Connector) Unknown() int64 { return c.unknown.Load() }

// Status returns the connector's status.
func (c *Connector) Status() edge.Status { return c.status.Status(c.sink) }

func (c *Connector) setState(s edge.State, errText string) {
	c.status.SetState(s)
	if errText != "" {
		c.status.NoteError(errors.New(errText), false)
	}
}

func (c *Connector) noteError(err error) { c.status.NoteError(err, true) }

// String describes the connector for logs.
func (c *Connector) String() string {
	return fmt.Sprintf("mqtt connector %s (%s): %s for %d twins", c.cfg.Name, c.cfg.Endpoint, c.pattern.Subscription(), len(c.twins))
}
