package auth

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Denial reasons, the values of the reason label.
const (
	reasonUnauthenticated  = "unauthenticated"
	reasonPermissionDenied = "permission_denied"
)

// metrics are the authorizer's instruments. The method label holds full
// gRPC method names, which the server bounds to its registered methods.
type metrics struct {
	denied *prometheus.CounterVec
}

// newMetrics creates the instruments and registers them with reg (if not
// nil). An authorizer created again on the same registry shares the
// registered counter.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plantwin_gateway_denied_total",
			Help: "gRPC calls denied by authentication or authorization, by reason and method.",
		}, []string{"reason", "method"}),
	}
	if reg == nil {
		return m
	}
	if err := reg.Register(m.denied); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				m.denied = existing
				return m
			}
		}
		log.Warn("metrics not registered", "metric", "plantwin_gateway_denied_total", "err", err)
	}
	return m
}
