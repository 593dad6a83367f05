package cluster

import "github.com/prometheus/client_golang/prometheus"

// replMetrics are the replicator's instruments. Labels never hold twin ids.
type replMetrics struct {
	activations       *prometheus.CounterVec
	activationSeconds prometheus.Histogram
	ackSeconds        prometheus.Histogram
	fenced            prometheus.Counter
	catchupEntries    prometheus.Counter
	peerErrors        prometheus.Counter
	reads             *prometheus.CounterVec
}

func replicationMetrics() *replMetrics {
	return &replMetrics{
		activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_cluster_activations_total",
			Help: "Twin activations over replicas, by outcome: ok, pulled (the node fetched a newer log first), refused (a newer epoch was seen; retried above it), no_quorum, pull_failed.",
		}, []string{"outcome"}),
		activationSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plantwin_cluster_activation_seconds",
			Help:    "Time to activate a twin over its replicas: fence, sync, and a majority in line.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		ackSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plantwin_replication_ack_seconds",
			Help:    "Time from a twin's write to its majority acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_cluster_activations_fenced_total",
			Help: "Writes refused by a replica because a newer activation of the twin was promised: a stale activation stopped.",
		}),
		catchupEntries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_replication_catchup_entries_total",
			Help: "Journal entries sent to lagging replicas or pulled from a newer one.",
		}),
		peerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_replication_peer_errors_total",
			Help: "Replication batches that got no answer from a replica (timeouts, a node gone).",
		}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_cluster_reads_total",
			Help: "Twins read by a query's fan-out, by path: quorum (a quorum of the twin's replicas held the same head; no activation), owner (they did not; the twin's owner answered).",
		}, []string{"path"}),
	}
}

// Register registers the replicator's metrics with reg.
func (r *Replicator) Register(reg prometheus.Registerer) error {
	m := r.met
	for _, c := range []prometheus.Collector{m.activations, m.activationSeconds, m.ackSeconds, m.fenced, m.catchupEntries, m.peerErrors, m.reads} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
