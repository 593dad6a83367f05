package persistence

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus instruments. They carry no labels:
// twin ids never become label values.
type metrics struct {
	syncSeconds    prometheus.Histogram
	batchWrites    prometheus.Histogram
	eventsTotal    prometheus.Counter
	fencedTotal    prometheus.Counter
	prunedTotal    prometheus.Counter
	registerer     prometheus.Registerer
	registeredColl []prometheus.Collector
}

func newMetrics() *metrics {
	return &metrics{
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plantwin_journal_sync_seconds",
			Help:    "Latency of synced journal group commits, from applying the batch to the end of its WAL sync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs .. ~3.3s
		}),
		batchWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plantwin_journal_commit_batch_writes",
			Help:    "Number of Writes grouped into one synced journal commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 .. 8192
		}),
		eventsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_journal_events_total",
			Help: "Journal events durably committed.",
		}),
		fencedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_persistence_fenced_total",
			Help: "Writes rejected because their activation epoch was stale.",
		}),
		prunedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_history_pruned_total",
			Help: "History points deleted by retention.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.syncSeconds, m.batchWrites, m.eventsTotal, m.fencedTotal, m.prunedTotal}
}

// register registers all instruments with r, or none of them.
func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	m.registerer = r
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			m.unregister()
			return fmt.Errorf("persistence: register metrics: %w", err)
		}
		m.registeredColl = append(m.registeredColl, c)
	}
	return nil
}

// unregister removes the instruments so that a store reopened in the same
// process can register again.
func (m *metrics) unregister() {
	if m.registerer == nil {
		return
	}
	for _, c := range m.registeredColl {
		m.registerer.Unregister(c)
	}
	m.registeredColl = nil
}
