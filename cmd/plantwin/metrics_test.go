package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// logField returns attribute key of the first JSON log line with message msg.
func (n *node) logField(msg, key string) string {
	for _, line := range strings.Split(n.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			if v, ok := rec[key].(string); ok {
				return v
			}
		}
	}
	return ""
}

// metric returns the sum of the samples of the metric series whose line
// starts with series (a name, with labels or not) on the node's metrics
// endpoint (the node must run with --metrics).
func (n *node) metric(series string) float64 {
	n.t.Helper()
	addr := n.logField("metrics listening", "metrics_addr")
	if addr == "" {
		n.t.Fatalf("no metrics address in the log")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, series) {
			continue
		}
		fs := strings.Fields(line)
		v, err := strconv.ParseFloat(fs[len(fs)-1], 64)
		if err != nil {
			n.t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// TestMetricsEndpoint scrapes a demo node's Prometheus endpoint and checks
// the instruments the runtime promises are there and moving.
func TestMetricsEndpoint(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--demo-period", "100ms", "--metrics", "127.0.0.1:0")
	addr := n.logField("metrics listening", "metrics_addr")
	if addr == "" {
		t.Fatalf("no metrics address in the log:\n%s", n.logs.String())
	}
	scrape := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, 30*time.Second, "samples ingested", func() bool {
		m := scrape()
		return strings.Contains(m, "plantwin_twins_active 124") && strings.Contains(m, "plantwin_twin_activations_total 124")
	})
	if _, err := n.client().GetTwin(context.Background(), &pb.GetTwinRequest{Id: "pump-L1-01"}); err != nil {
		t.Fatal(err)
	}
	body := scrape()
	for _, want := range []string{
		`plantwin_gateway_requests_total{code="OK",method="/plantwin.v1.TwinService/GetTwin"} 1`,
		`plantwin_gateway_request_duration_seconds_count{method="/plantwin.v1.TwinService/GetTwin"} 1`,
		"plantwin_gateway_watch_streams 0",
		"plantwin_feed_dropped_changes_total 0",
		"plantwin_ingest_samples_total",
		`plantwin_ingest_rejected_total{reason="out_of_range"}`,
		`plantwin_ingest_rejected_total{reason="unknown_twin"}`,
		"plantwin_journal_sync_seconds_bucket",
		"plantwin_journal_events_total",
		"plantwin_twin_activations_total 124",
		"plantwin_twins_active 124",
		"plantwin_twin_recovery_seconds_count",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "pump-L1-01") {
		t.Error("a metric label holds a twin id")
	}
	n.stop()
}
