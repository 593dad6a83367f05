package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTwinsCLI runs `plantwin twins list/get` against a demo node, as table
// and as JSON, with flags before and after the arguments.
func TestTwinsCLI(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--demo-period", "200ms")
	waitFor(t, 30*time.Second, "pump-L1-01 at version 2", func() bool {
		out, err := runCLI(t, "twins", "get", "pump-L1-01", "--server", n.addr, "-o", "json")
		if err != nil {
			return false
		}
		var tw map[string]any
		return json.Unmarshal([]byte(out), &tw) == nil && tw["version"] != "0" && tw["version"] != "1"
	})

	out, err := runCLI(t, "twins", "list", "--server", n.addr)
	if err != nil {
		t.Fatalf("twins list: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "pump-L1-01") || !strings.Contains(out, "124 twins") {
		t.Fatalf("twins list table:\n%s", out)
	}

	out, err = runCLI(t, "twins", "list", "-o", "json", "--model", "line", "--server", n.addr)
	if err != nil {
		t.Fatalf("twins list -o json: %v\n%s", err, out)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(out), &arr); err != nil {
		t.Fatalf("twins list -o json is not a JSON array: %v\n%s", err, out)
	}
	if len(arr) != 4 {
		t.Fatalf("%d line twins, want 4", len(arr))
	}
	for _, k := range []string{"id", "model", "version", "labels", "parent", "reported", "desired", "connectivity"} {
		if _, ok := arr[0][k]; !ok {
			t.Errorf("JSON twin lacks field %q: %v", k, arr[0])
		}
	}
	if _, ok := arr[0]["version"].(string); !ok {
		t.Errorf("version is %T, want a protojson string", arr[0]["version"])
	}

	// Flags after and before the argument.
	for _, args := range [][]string{
		{"twins", "get", "pump-L1-01", "-o", "json", "--server", n.addr},
		{"twins", "get", "-o", "json", "--server", n.addr, "pump-L1-01"},
	} {
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		var tw map[string]any
		if err := json.Unmarshal([]byte(out), &tw); err != nil {
			t.Fatalf("%v: not one JSON object: %v\n%s", args, err, out)
		}
		rep, _ := tw["reported"].(map[string]any)
		flow, _ := rep["flow"].(map[string]any)
		for _, k := range []string{"value", "sourceTime", "serverTime", "quality"} {
			if _, ok := flow[k]; !ok {
				t.Errorf("reported.flow lacks %q: %v", k, flow)
			}
		}
		if tw["connectivity"] != "CONNECTIVITY_ONLINE" {
			t.Errorf("connectivity = %v, want CONNECTIVITY_ONLINE", tw["connectivity"])
		}
	}

	out, err = runCLI(t, "twins", "get", "no-such-twin", "--server", n.addr)
	if err == nil || !strings.Contains(out, "NotFound") {
		t.Fatalf("get of an unknown twin: err=%v\n%s", err, out)
	}
	out, err = runCLI(t, "twins", "list", "-o", "xml", "--server", n.addr)
	if code := exitCode(err); code != 2 || !strings.Contains(out, `--output "xml"`) {
		t.Fatalf("bad -o: exit %d, want 2\n%s", code, out)
	}
	n.stop()
}
