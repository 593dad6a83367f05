package actors

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/plantwin/plantwin/twins"
)

// metrics are the runtime's instruments. Labels never hold twin ids.
type metrics struct {
	samples     prometheus.Counter
	updates     prometheus.Counter
	rejected    map[twins.Reason]prometheus.Counter
	failed      *prometheus.CounterVec
	activations prometheus.Counter
	passivated  prometheus.Counter
	recovery    prometheus.Histogram
	retries     prometheus.Counter
	dropped     prometheus.Counter
	dispatched  prometheus.Counter
	commands    *prometheus.CounterVec
	alarms      *prometheus.CounterVec
}

// commandChanged counts a command reaching status st.
func (m *metrics) commandChanged(st twins.CommandStatus) {
	m.commands.WithLabelValues(st.String()).Inc()
}

// alarmChanged counts an alarm transition.
func (m *metrics) alarmChanged(k twins.AlarmTransitionKind) {
	m.alarms.WithLabelValues(k.String()).Inc()
}

func newMetrics(reg prometheus.Registerer, active func() float64) *metrics {
	m := &metrics{
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_ingest_samples_total",
			Help: "Telemetry samples accepted and durably applied to twins.",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_twin_updates_total",
			Help: "Twin events durably journaled (each raises a twin's version by one).",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_ingest_failed_batches_total",
			Help: "Telemetry batches that failed as a whole, by cause.",
		}, []string{"cause"}),
		activations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_twin_activations_total",
			Help: "Twin activations (recoveries from snapshot and journal).",
		}),
		passivated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_twin_passivations_total",
			Help: "Twins passivated after being idle.",
		}),
		recovery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plantwin_twin_recovery_seconds",
			Help:    "Time to recover a twin's state on activation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_ingest_retries_total",
			Help: "Telemetry batches re-sent after no answer within the retry interval.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_feed_dropped_changes_total",
			Help: "Twin changes not delivered to a subscriber (a watch) whose buffer was full; the subscriber resyncs.",
		}),
		dispatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_command_dispatches_total",
			Help: "Command attempts handed to an edge connector.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_commands_total",
			Help: "Command lifecycle steps journaled, by the status reached.",
		}, []string{"status"}),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_alarm_transitions_total",
			Help: "Alarm transitions journaled, by kind (raised, cleared, acknowledged, shelved, unshelved).",
		}, []string{"kind"}),
		rejected: make(map[twins.Reason]prometheus.Counter),
	}
	rej := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plantwin_ingest_rejected_total",
		Help: "Telemetry samples rejected, by reason.",
	}, []string{"reason"})
	for _, r := range twins.Reasons() {
		m.rejected[r] = rej.WithLabelValues(r.String())
	}
	if reg != nil {
		reg.MustRegister(m.samples, m.updates, rej, m.failed, m.activations, m.passivated, m.recovery, m.retries, m.dropped, m.dispatched, m.commands, m.alarms,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "plantwin_twins_active",
				Help: "Twins activated on this node.",
			}, active))
	}
	return m
}
