package gateway

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// metrics are the gateway's instruments (the authorizer counts denials).
type metrics struct {
	watchers     prometheus.Gauge
	lagged       prometheus.Counter
	filterErrors prometheus.Counter
	desired      prometheus.Counter
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
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
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_gateway_requests_total",
			Help: "API calls finished, by full method and gRPC status code (denied calls included).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plantwin_gateway_request_duration_seconds",
			Help:    "Duration of unary API calls, by full method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"method"}),
	}
	if reg != nil {
		reg.MustRegister(m.watchers, m.lagged, m.filterErrors, m.desired, m.requests, m.duration)
	}
	return m
}

// unary counts and times unary calls.
func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.duration.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return resp, err
}

// stream counts streaming calls when they end.
func (m *metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, ss)
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return err
}
