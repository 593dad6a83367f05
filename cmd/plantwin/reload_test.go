package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/simulations"
)

// reloadPlant is a PLC with cells; %[1]s the device, %[2]d the last cell,
// %[3]d the hot threshold.
const reloadPlant = `
models:
  - name: cell
    properties:
      - {name: level, type: int}
    rules:
      - {name: hot, when: 'level > %[3]d', severity: high}
twins:
  - id: cell-{1..%[2]d}
    model: cell
connectors:
  - name: plc
    protocol: modbus
    endpoint: tcp://%[1]s
    reconnect: {initial: 100ms, max: 500ms}
    modbus: {timeout: 300ms, poll_groups: [{name: fast, interval: 50ms}]}
bindings:
  - connector: plc
    twin: cell-{1..%[2]d}
    properties:
      level: {table: holding, address: "{n}", type: uint16}
`

// TestReloadWhileIngesting: while the connector ingests, a reload adds a
// twin (and its binding) and lowers a rule's threshold; both take effect
// without a restart and without losing ingest. A broken file is refused
// with its position, by the admin call and by SIGHUP, and the running
// configuration stays.
func TestReloadWhileIngesting(t *testing.T) {
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	for n := 1; n <= 3; n++ {
		dev.SetHolding(1, uint16(n), 10)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer dev.Stop()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "plant.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf(reloadPlant, dev.Addr(), 2, 100))
	n := startNode(t, "--config", cfg, "--data", filepath.Join(dir, "data"))
	defer n.stop()
	tc := n.client()
	twin := func(id string) (*pb.Twin, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return tc.GetTwin(ctx, &pb.GetTwinRequest{Id: id})
	}
	version := func(id string) int64 {
		tw, err := twin(id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return tw.Version
	}
	hot := func(id string) bool {
		tw, err := twin(id)
		if err != nil {
			return false
		}
		for _, a := range tw.Alarms {
			if a.Name == "hot" && a.Active {
				return true
			}
		}
		return false
	}
	waitFor(t, patience, "cell-2 ingesting", func() bool { tw, err := twin("cell-2"); return err == nil && tw.Reported["level"] != nil })
	if _, err := twin("cell-3"); err == nil {
		t.Fatal("cell-3 exists before the reload")
	}
	dev.SetHolding(1, 1, 70)
	v0 := version("cell-1")

	// Reload: cell-3 added with its binding, the threshold lowered to 50.
	write(fmt.Sprintf(reloadPlant, dev.Addr(), 3, 50))
	out, err := runCLI(t, "reload", "--server", n.addr)
	if err != nil || !strings.Contains(out, "1 added") || !strings.Contains(out, "changed cell") || !strings.Contains(out, "connectors restarted: true") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	waitFor(t, patience, "cell-3 ingesting after the reload", func() bool {
		tw, err := twin("cell-3")
		return err == nil && tw.Reported["level"].GetValue().GetIntValue() == 10
	})
	waitFor(t, patience, "cell-1 hot at 70 under the new threshold", func() bool { return hot("cell-1") })
	waitFor(t, patience, "cell-1 still ingesting", func() bool { return version("cell-1") > v0+5 })

	// A broken file: refused with its position, nothing changes.
	broken := strings.Replace(fmt.Sprintf(reloadPlant, dev.Addr(), 1, 50), "level > 50", "level >> 50", 1)
	write(broken)
	out, err = runCLI(t, "reload", "--server", n.addr)
	if err == nil || !strings.Contains(out, "plant.yaml:") || !strings.Contains(out, "InvalidArgument") && !strings.Contains(out, "invalid") {
		t.Fatalf("broken reload: %v\n%s", err, out)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "the SIGHUP refusal in the log", func() bool {
		return strings.Contains(n.logs.String(), "configuration reload refused")
	})
	if _, err := twin("cell-3"); err != nil {
		t.Fatalf("cell-3 gone after a refused reload: %v", err)
	}
	dev.SetHolding(1, 2, 60)
	waitFor(t, patience, "cell-2 hot at 60: the reloaded rule still runs", func() bool { return hot("cell-2") })
	v3 := version("cell-3")
	waitFor(t, patience, "cell-3 still ingesting", func() bool { return version("cell-3") > v3+5 })
}
