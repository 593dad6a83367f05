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

	"github.com/plantwin/plantwin/edge"
)

// queueSize bounds the messages waiting for the worker; past it they are
// dropped and counted (paho's callback must not block).
const queueSize = 65536

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

	client  paho.Client
	msgs    chan paho.Message
	dropped atomic.Int64
	unknown atomic.Int64 // messages for topics of no bound twin
	stopC   chan struct{}
	done    chan struct{}

	mu struct {
		sync.Mutex
		status    edge.Status
		connected bool
		once      bool
		lastSeen  map[string]time.Time // twin → its last message (OfflineAfter)
		silent    map[string]bool      // twins marked offline for silence
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
		stopC: make(chan struct{}), done: make(chan struct{})}
	c.badInput.Interval = 10 * time.Second
	c.mu.lastSeen, c.mu.silent = map[string]time.Time{}, map[string]bool{}
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
	c.mu.status = edge.Status{Name: cfg.Name, Protocol: "mqtt", Endpoint: cfg.Endpoint, State: edge.StateStopped, Since: time.Now()}
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

// Start connects (retrying in the background until the broker answers)
// and starts the worker.
func (c *Connector) Start() error {
	tc, err := c.tlsConfig()
	if err != nil {
		return err
	}
	b := c.cfg.Reconnect
	opts := paho.NewClientOptions().
		AddBroker(brokerURL(c.cfg.Endpoint)).
		SetClientID(c.mq.ClientID).
		SetCleanSession(c.mq.CleanSession).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(max(b.Initial, 100*time.Millisecond)).
		SetMaxReconnectInterval(max(b.Max, time.Second)).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(10 * time.Second).
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
	if c.mq.OfflineAfter > 0 {
		go c.watchSilence()
	}
	c.client.Connect() // with ConnectRetry the token completes only once connected; onConnect reports it
	return nil
}

// onConnect runs in paho's goroutine on every (re)connection: subscribe
// again (a clean or expired session has no subscriptions) and mark the
// twins online.
func (c *Connector) onConnect(cl paho.Client) {
	c.mu.Lock()
	if c.mu.once {
		c.mu.status.Reconnects++
		c.met.Reconnects.Inc()
	}
	c.mu.once, c.mu.connected = true, true
	c.mu.Unlock()
	tok := cl.Subscribe(c.pattern.Subscription(), c.mq.QoS, c.handle)
	go func() { // waiting for the SUBACK here would block paho
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			c.setState(edge.StateConnected, "")
			c.met.Connected.Set(1)
			c.log.Info("mqtt subscribed", "endpoint", c.cfg.Endpoint, "topic", c.pattern.Subscription())
			c.mu.Lock()
			now := time.Now()
			for _, id := range c.twins {
				c.mu.lastSeen[id] = now // a fresh grace period after (re)connecting
			}
			c.mu.silent = map[string]bool{}
			c.mu.Unlock()
			c.sink.SetOnline(c.twins, true)
			return
		}
		err := tok.Error()
		if err == nil {
			err = errors.New("no SUBACK within 10s")
		}
		c.setState(edge.StateDisconnected, "subscribe: "+err.Error())
		c.log.Warn("mqtt subscribe failed", "topic", c.pattern.Subscription(), "err", err)
	}()
}

func (c *Connector) onLost(_ paho.Client, err error) {
	c.mu.Lock()
	c.mu.connected = false
	c.mu.Unlock()
	c.met.Connected.Set(0)
	c.setState(edge.StateDisconnected, err.Error())
	c.log.Warn("mqtt connection lost; reconnecting", "endpoint", c.cfg.Endpoint, "err", err)
	c.sink.SetOnline(c.twins, false)
}

// handle is paho's message callback: hand off and return.
func (c *Connector) handle(_ paho.Client, m paho.Message) {
	select {
	case c.msgs <- m:
	default:
		c.dropped.Add(1)
	}
}

// work decodes messages and publishes samples.
func (c *Connector) work() {
	defer close(c.done)
	for {
		select {
		case <-c.stopC:
			return
		case m := <-c.msgs:
			c.decode(m.Topic(), m.Payload())
		}
	}
}

func (c *Connector) decode(topic string, payload []byte) {
	twin, ok := c.pattern.Twin(topic)
	mp := c.mappings[twin]
	if !ok || mp == nil {
		c.unknown.Add(1)
		return
	}
	samples, problems, err := mp.Decode(payload, time.Now())
	if err != nil {
		c.met.Decode.Inc()
		c.noteError(fmt.Errorf("mqtt: topic %s: %w", topic, err))
		c.badInput.Warn(c.log, "mqtt payload rejected", "topic", topic, "err", err)
		return
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
	if len(samples) > 0 {
		c.met.Samples.Add(float64(len(samples)))
		c.sink.Publish(twin, samples)
	}
}

// watchSilence marks twins offline whose device sent nothing for
// OfflineAfter while the broker connection is up (wall time: it watches
// real devices).
func (c *Connector) watchSilence() {
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

// Stop disconnects and stops the worker. Idempotent.
func (c *Connector) Stop() {
	select {
	case <-c.stopC:
		return
	default:
		close(c.stopC)
	}
	if c.client != nil {
		c.client.Disconnect(250)
	}
	<-c.done
	c.setState(edge.StateStopped, "")
}

// Dropped returns how many messages were dropped because the worker fell
// behind, and Unknown how many named no bound twin.
func (c *Connector) Dropped() int64 { return c.dropped.Load() }

// Unknown returns how many messages matched no bound twin.
func (c *Connector) Unknown() int64 { return c.unknown.Load() }

// Status returns the connector's status.
func (c *Connector) Status() edge.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.mu.status
	st.Sink = c.sink.Stats()
	return st
}

func (c *Connector) setState(s edge.State, errText string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.status.State != s {
		c.mu.status.State, c.mu.status.Since = s, time.Now()
	}
	if errText != "" {
		c.mu.status.LastError, c.mu.status.LastErrorTime = errText, time.Now()
	}
}

func (c *Connector) noteError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.status.LastError, c.mu.status.LastErrorTime = err.Error(), time.Now()
	c.mu.status.ReadErrors++
}

// String describes the connector for logs.
func (c *Connector) String() string {
	return fmt.Sprintf("mqtt connector %s (%s): %s for %d twins", c.cfg.Name, c.cfg.Endpoint, c.pattern.Subscription(), len(c.twins))
}
