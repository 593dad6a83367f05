package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// freePorts finds n consecutive free loopback ports below the kernel's
// ephemeral range (32768 up on Linux), so that no port a process asks
// for with :0 (the node's gossip and remote listeners) can take one of
// them between this check and the devices' start.
func freePorts(t testing.TB, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(12000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
				ok = false
			} else {
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free run of ports")
	return 0
}

// TestSimAgainstRunningNode: sim node-config writes the configuration of a
// node whose connectors read a scenario's devices; a node started with
// it (a separate process) is driven by sim run --server in real time:
// a Modbus PLC, an OPC UA server and an MQTT device served by the
// simulator, the node's rules stop the press over Modbus and write the
// chiller's setpoint over MQTT, and the expectations, read back over the
// node's API, hold.
func TestSimAgainstRunningNode(t *testing.T) {
	dir := t.TempDir()
	base := freePorts(t, 4)
	scen := "../../simulations/simrun/testdata/node.yaml"
	cfg := filepath.Join(dir, "node.yaml")
	out, err := runCLI(t, "sim", "node-config", scen, "--base-port", strconv.Itoa(base), "--out", cfg)
	if err != nil {
		t.Fatalf("node-config: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(cfg)
	for _, want := range []string{fmt.Sprintf("tcp://127.0.0.1:%d", base), fmt.Sprintf("opc.tcp://127.0.0.1:%d", base+1), fmt.Sprintf("tcp://127.0.0.1:%d", base+3), "connector: sim-chiller-1"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the node's configuration lacks %q:\n%s", want, data)
		}
	}
	n := startNode(t, "--config", cfg, "--data", filepath.Join(dir, "data"))
	out, err = runCLI(t, "sim", "run", scen, "--server", n.addr, "--base-port", strconv.Itoa(base))
	if err != nil {
		t.Fatalf("sim run --server: %v\n%s\nnode:\n%s", err, out, n.logs.String())
	}
	for _, want := range []string{"PASS  press-1 overheats", "PASS  press-1 stopped over Modbus", "PASS  its setpoint written over MQTT", "PASS  chiller setpoint lowered"} {
		if !strings.Contains(out, want) {
			t.Errorf("sim run --server lacks %q:\n%s", want, out)
		}
	}
	if out, err := runCLI(t, "sim", "run", "../../simulations/simrun/testdata/press.yaml", "--server", n.addr); err == nil || !strings.Contains(out, "is exposed direct") {
		t.Errorf("a direct device against a running node: %v\n%s", err, out)
	}
}
