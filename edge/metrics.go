package edge

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the edge connectors' instruments, shared by every connector
// of a node; labels hold connector names, never twin ids or addresses.
type Metrics struct {
	samples    *prometheus.CounterVec
	readErrors *prometheus.CounterVec
	reconnects *prometheus.CounterVec
	connected  *prometheus.GaugeVec
	readTime   *prometheus.HistogramVec
}

// NewMetrics returns the instruments, registered with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_edge_samples_total",
			Help: "Samples a connector read from its device and handed to the twins.",
		}, []string{"connector"}),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_edge_read_errors_total",
			Help: "Failed reads, by connector and kind (exception, timeout, decode).",
		}, []string{"connector", "kind"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_edge_reconnects_total",
			Help: "Connections re-established after a loss.",
		}, []string{"connector"}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "plantwin_edge_connected",
			Help: "1 while the connector is connected to its device.",
		}, []string{"connector"}),
		readTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plantwin_edge_read_duration_seconds",
			Help:    "Duration of one poll of a poll group (every request of it).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"connector"}),
	}
	if reg != nil {
		reg.MustRegister(m.samples, m.readErrors, m.reconnects, m.connected, m.readTime)
	}
	return m
}

// ConnectorMetrics are one connector's instruments.
type ConnectorMetrics struct {
	Samples    prometheus.Counter
	Exceptions prometheus.Counter
	Timeouts   prometheus.Counter
	Decode     prometheus.Counter
	Reconnects prometheus.Counter
	Connected  prometheus.Gauge
	ReadTime   prometheus.Observer
}

// For returns the instruments of connector name. A nil *Metrics gives
// unregistered ones.
func (m *Metrics) For(name string) *ConnectorMetrics {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &ConnectorMetrics{
		Samples:    m.samples.WithLabelValues(name),
		Exceptions: m.readErrors.WithLabelValues(name, "exception"),
		Timeouts:   m.readErrors.WithLabelValues(name, "timeout"),
		Decode:     m.readErrors.WithLabelValues(name, "decode"),
		Reconnects: m.reconnects.WithLabelValues(name),
		Connected:  m.connected.WithLabelValues(name),
		ReadTime:   m.readTime.WithLabelValues(name),
	}
}

// Throttle lets a repeated log line through at most once per interval and
// says how many were suppressed meanwhile (bad input from a device tends
// to repeat every poll). Safe for concurrent use.
type Throttle struct {
	Interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Warn logs msg at warn level unless one was logged within Interval.
func (t *Throttle) Warn(log *slog.Logger, msg string, args ...any) {
	t.mu.Lock()
	now := time.Now()
	if !t.last.IsZero() && now.Sub(t.last) < t.Interval {
		t.suppressed++
		t.mu.Unlock()
		return
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	t.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	log.Warn(msg, args...)
}
