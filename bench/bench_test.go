package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunSmall runs the whole benchmark at a tiny size: every phase must
// produce a figure and no update may fail.
func TestRunSmall(t *testing.T) {
	o := Options{
		Sizes:            []int{300},
		Duration:         time.Second,
		CeilingDuration:  200 * time.Millisecond,
		InFlight:         200,
		SamplesPerUpdate: 2,
		MemoryTwins:      300,
		Dir:              t.TempDir(),
		Progress:         500 * time.Millisecond,
	}
	var out bytes.Buffer
	res, mem, err := Run(context.Background(), o, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	r := res[0]
	if r.Updates == 0 || r.Failed != 0 || r.UpdatesPerSec <= 0 || r.ActorSendPerSec <= 0 || r.PebbleSyncedRate <= 0 || r.BytesPerUpdate <= 0 {
		t.Fatalf("implausible result %+v\n%s", r, out.String())
	}
	if mem == nil || mem.Twins != 300 || mem.ActivationPerSec <= 0 {
		t.Fatalf("memory result %+v", mem)
	}
	for _, want := range []string{"SUMMARY", "updates/s", "raw Pebble", "protoactor"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunAPISmall runs the API benchmark at a tiny size: every figure must
// be there, watchers must receive every change and not lag.
func TestRunAPISmall(t *testing.T) {
	o := APIOptions{
		Twins:         1000,
		GroupSize:     100,
		Clients:       []int{1, 4},
		RPCDuration:   300 * time.Millisecond,
		Watchers:      20,
		WatchRate:     500,
		WatchDuration: time.Second,
		SlowDuration:  500 * time.Millisecond,
		InFlight:      500,
		WatchBuffer:   16, // the stalled watcher must lag even under -race
		Dir:           t.TempDir(),
		Progress:      500 * time.Millisecond,
	}
	var out bytes.Buffer
	r, err := RunAPI(context.Background(), o, &out)
	if err != nil {
		t.Fatalf("RunAPI: %v\n%s", err, out.String())
	}
	for _, p := range r.GetTwin {
		if p.PerSec <= 0 || p.Ceiling <= 0 || p.Errors != 0 || p.P99 <= 0 {
			t.Fatalf("GetTwin point %+v\n%s", p, out.String())
		}
	}
	if r.ListState <= 0 || r.ListStateMatched != 1000 || r.ListStatic <= 0 {
		t.Fatalf("list figures %+v\n%s", r, out.String())
	}
	// 20 watchers over 10 groups: every update reaches two watchers.
	if r.WatchUpdates == 0 || r.WatchDelivered != 2*r.WatchUpdates || r.WatchExpected != r.WatchDelivered || r.WatchLagged != 0 || r.WatchP99 <= 0 {
		t.Fatalf("watch figures: %d updates, %d delivered, %d lagged\n%s", r.WatchUpdates, r.WatchDelivered, r.WatchLagged, out.String())
	}
	if r.IngestAlone <= 0 || r.IngestWithSlow <= 0 || r.SlowDropped <= 0 {
		t.Fatalf("slow watcher figures %+v\n%s", r, out.String())
	}
}

// TestRunModbusSmall runs the Modbus benchmark at a tiny size.
func TestRunModbusSmall(t *testing.T) {
	var out bytes.Buffer
	r, err := RunModbus(context.Background(), ModbusOptions{Twins: 20, Interval: 20 * time.Millisecond, Duration: time.Second, Dir: t.TempDir()}, &out)
	if err != nil {
		t.Fatalf("RunModbus: %v\n%s", err, out.String())
	}
	if r.Requests != 4 || r.RawRequestsPerSec <= 0 || r.RequestsPerSec <= 0 || r.ValuesPerSec <= 0 || r.Polls < 10 {
		t.Fatalf("implausible %+v\n%s", r, out.String())
	}
}

// TestRunMQTTSmall runs the MQTT benchmark at a tiny size against a real
// Mosquitto.
func TestRunMQTTSmall(t *testing.T) {
	var out bytes.Buffer
	r, err := RunMQTT(context.Background(), MQTTOptions{Twins: 20, Rate: 500, Duration: time.Second, Dir: t.TempDir()}, &out)
	if err != nil {
		t.Fatalf("RunMQTT: %v\n%s", err, out.String())
	}
	if r.Sent <= 0 || r.BrokerOnly <= 0 || r.Twins <= 0 {
		t.Fatalf("implausible %+v\n%s", r, out.String())
	}
}

// TestRunOPCUASmall runs the OPC UA benchmark at a tiny size against a
// simulated server.
func TestRunOPCUASmall(t *testing.T) {
	var out bytes.Buffer
	r, err := RunOPCUA(context.Background(), OPCUAOptions{Twins: 20, Properties: 3, Interval: 50 * time.Millisecond, Duration: time.Second, Dir: t.TempDir()}, &out)
	if err != nil {
		t.Fatalf("RunOPCUA: %v\n%s", err, out.String())
	}
	if r.Items != 60 || r.Changed <= 0 || r.ClientOnly <= 0 || r.Twins <= 0 {
		t.Fatalf("implausible %+v\n%s", r, out.String())
	}
	if !strings.Contains(out.String(), "== OPC UA benchmark: 60 monitored items") {
		t.Errorf("no result table:\n%s", out.String())
	}
}
