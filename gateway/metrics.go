package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the gateway's instruments (the authorizer counts denials).
type metrics struct {
	watchers     prometheus.Gauge
	lagged       prometheus.Counter
	filterErrors prometheus.Counter
	desired      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plantwin_gateway_watch_streams",
			Help: "Open WatchTwins streams.",
		}),
		lagged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_gateway_watch_lagged_total",
			Help: "Times a watch stream fell behind, was sent LAGGED and resynced.",
		}),
		filterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_gateway_filter_errors_total",
			Help: "Filter evaluations that failed (for example a property the twin never reported); counted as no match.",
		}),
		desired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plantwin_gateway_desired_updates_total",
			Help: "Accepted UpdateDesired calls.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.watchers, m.lagged, m.filterErrors, m.desired)
	}
	return m
}
