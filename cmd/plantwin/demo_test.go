package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// demoVersions lists every twin's version through the CLI.
func demoVersions(t *testing.T, addr string) map[string]int64 {
	t.Helper()
	out, err := runCLI(t, "twins", "list", "--server", addr, "-o", "json")
	if err != nil {
		t.Fatalf("twins list: %v\n%s", err, out)
	}
	var list []struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("twins list: %v\n%s", err, out)
	}
	vs := make(map[string]int64, len(list))
	for _, tw := range list {
		vs[tw.ID], _ = strconv.ParseInt(tw.Version, 10, 64)
	}
	return vs
}

// TestDemoOverProtocols is make run's node: the demo plant's devices are
// simulated Modbus TCP PLCs and an OPC UA server on loopback, read by the
// node's own connectors. Every one of its 124 twins, the lines (parents)
// included, advances its version at least once a second, and a pump's
// stop command is carried out by writing its coil on the PLC.
func TestDemoOverProtocols(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir())
	waitFor(t, 20*time.Second, "the demo's connectors connected", func() bool {
		out, err := runCLI(t, "edge", "status", "--server", n.addr)
		return err == nil && strings.Count(out, "connected") >= 5 && !strings.Contains(out, "connecting") && !strings.Contains(out, "disconnected")
	})
	waitFor(t, 20*time.Second, "every twin reported", func() bool {
		vs := demoVersions(t, n.addr)
		for _, v := range vs {
			if v < 2 {
				return false
			}
		}
		return len(vs) == 124
	})
	before := demoVersions(t, n.addr)
	start := time.Now()
	waitFor(t, 30*time.Second, "five seconds of demo", func() bool { return time.Since(start) >= 5*time.Second })
	after := demoVersions(t, n.addr)
	secs := int64(time.Since(start) / time.Second)
	for id, v := range before {
		// At least one version a second, give or take the second the
		// window cut.
		if got := after[id] - v; got < secs-1 {
			t.Errorf("twin %s advanced %d versions in %d s", id, got, secs)
		}
	}
	out, err := runCLI(t, "twins", "cmd", "pump-L2-07", "stop", "reason=demo", "--server", n.addr)
	if err != nil || !strings.Contains(out, "succeeded") {
		t.Errorf("stop over Modbus: %v\n%s", err, out)
	}
}
