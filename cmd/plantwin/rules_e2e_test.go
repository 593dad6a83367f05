package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/simulations"
)

const pressPlant = `
models:
  - name: press
    properties:
      - {name: temperature, type: double, unit: °C}
      - {name: speed, type: double, unit: spm}
      - {name: running, type: bool}
    commands:
      - name: stop
      - name: start
    rules:
      - name: overheat
        when: temperature > 90.0 && quality.temperature == "good"
        for: 1s
        clear_when: temperature < 70.0
        severity: critical
        message: press temperature {temperature} above 90
        actions:
          - command: stop
        blocks: [start]
twins:
  - id: press-1
    model: press
connectors:
  - name: plc
    protocol: modbus
    endpoint: tcp://%s
    reconnect: {initial: 100ms, max: 500ms}
    modbus:
      timeout: 300ms
      poll_groups: [{name: fast, interval: 50ms}]
bindings:
  - connector: plc
    twin: press-1
    properties:
      temperature: {table: holding, address: 0, type: float32}
      speed:       {table: holding, address: 2, type: float32}
      running:     {table: coil, address: 0}
    commands:
      stop:  {table: coil, address: 0, value: false}
      start: {table: coil, address: 0, value: true}
`

// TestPressOverheatStopsThePress is the headline loop end to end: a
// simulated press PLC served over Modbus TCP on loopback overheats; the
// twin's rule raises an alarm after its for: window, its action writes the
// stop coil through the edge connector, the press stops and cools, the
// alarm clears; every step shows on a Watch stream, the interlock refuses
// a start while the alarm is active, the stop is written once, and the
// audit trail names who did what.
func TestPressOverheatStopsThePress(t *testing.T) {
	press := simulations.NewPress("127.0.0.1:0")
	if err := press.Start(); err != nil {
		t.Fatal(err)
	}
	defer press.Stop()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(pressPlant, press.Dev.Addr())), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--config", cfg, "--data", filepath.Join(dir, "data"))
	defer n.stop()

	conn, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := pb.NewTwinServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := tc.WatchTwins(ctx, &pb.WatchTwinsRequest{Ids: []string{"press-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var steps []string // what the watcher saw, in order
	saw := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range steps {
			if strings.HasPrefix(x, s) {
				return true
			}
		}
		return false
	}
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			c := r.GetChange()
			if c == nil {
				continue
			}
			mu.Lock()
			if a := c.GetAlarm(); a != nil {
				steps = append(steps, fmt.Sprintf("alarm %s %s %s", a.Name, c.AlarmTransition, a.State))
			}
			if cmd := c.GetCommand(); cmd != nil {
				steps = append(steps, fmt.Sprintf("command %s %s", cmd.Name, cmd.Status))
			}
			if v, ok := c.Reported["running"]; ok {
				steps = append(steps, fmt.Sprintf("running %v", v.GetValue().GetBoolValue()))
			}
			mu.Unlock()
		}
	}()
	waitFor(t, 30*time.Second, "the press reported running", func() bool { return saw("running true") })

	press.Overheat(40) // the anomaly: heading for 105 °C
	start := time.Now()
	waitFor(t, 30*time.Second, "the overheat alarm on the watch", func() bool { return saw("alarm overheat raised active_unacked") })
	raisedAfter := time.Since(start)

	// The interlock: start is refused while the alarm is active.
	c, err := tc.InvokeCommand(ctx, &pb.InvokeCommandRequest{TwinId: "press-1", Command: "start", Wait: true})
	if err != nil || c.Status != "failed" || !strings.Contains(c.Error, "blocked by interlock overheat") {
		t.Fatalf("start during overheat: %v %+v", err, c)
	}

	waitFor(t, 30*time.Second, "the stop command to succeed", func() bool { return saw("command stop succeeded") })
	stoppedAfter := time.Since(start)
	waitFor(t, 30*time.Second, "the press reported stopped", func() bool { return saw("running false") })
	if press.Running() {
		t.Fatal("the PLC's run coil is still set")
	}
	waitFor(t, 60*time.Second, "the alarm to clear as the press cools", func() bool { return saw("alarm overheat cleared cleared_unacked") })
	t.Logf("overheat → alarm %v, → stop written %v (the rule's for: is 1s)", raisedAfter.Round(time.Millisecond), stoppedAfter.Round(time.Millisecond))

	mu.Lock()
	got := strings.Join(steps, "\n")
	mu.Unlock()
	order := []string{"running true", "alarm overheat raised active_unacked", "command stop pending", "command stop dispatched", "command stop succeeded", "running false", "alarm overheat cleared cleared_unacked"}
	pos := 0
	for _, want := range order {
		i := strings.Index(got[pos:], want)
		if i < 0 {
			t.Fatalf("watch stream lacks %q after position %d, or out of order:\n%s", want, pos, got)
		}
		pos += i + len(want)
	}
	if w := press.Dev.CoilWrites(1, 0); w != 1 {
		t.Errorf("the stop coil was written %d times, want once", w)
	}

	// The operator acknowledges: back to normal.
	out, err := runCLI(t, "twins", "ack", "press-1/overheat", "--server", n.addr)
	if err != nil || !strings.Contains(out, "normal") {
		t.Fatalf("twins ack: %v\n%s", err, out)
	}
	al, err := tc.ListAlarms(ctx, &pb.ListAlarmsRequest{})
	if err != nil || len(al.Alarms) != 0 {
		t.Errorf("alarms after ack: %v %v", err, al)
	}
	audit, err := tc.GetAudit(ctx, &pb.GetAuditRequest{TwinId: "press-1"})
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range audit.Entries {
		trail = append(trail, e.Actor+" "+e.Action+" "+e.Detail)
	}
	all := strings.Join(trail, "\n")
	for _, want := range []string{"rule:overheat command stop c", "anonymous command start", "blocked by interlock", "rule:overheat command_succeeded stop", "anonymous acknowledged overheat → normal"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %q:\n%s", want, all)
		}
	}
}
