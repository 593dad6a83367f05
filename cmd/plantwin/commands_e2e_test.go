package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/simulations"
)

// The command process tests: a `plantwin serve` process drives a
// simulated PLC served over Modbus TCP on loopback, and each test proves
// through the API, the CLI and the device's own write counters that a
// command is carried out at most once, whatever goes wrong around it.

// cellPlant is one twin on a PLC: level is polled from holding 0;
// setpoint writes its argument to holding 10, reset writes 1 to holding
// 20. The placeholders are the device's address and the connector's
// per-request timeout.
const cellPlant = `
models:
  - name: cell
    properties:
      - {name: level, type: int}
      - {name: target, type: int, writable: true, tolerance: 1, settle: 1500ms}
    commands:
      - name: setpoint
        parameters: [{name: value, type: int, required: true}]
      - name: reset
twins:
  - id: cell-1
    model: cell
connectors:
  - name: plc
    protocol: modbus
    endpoint: tcp://%s
    reconnect: {initial: 100ms, max: 500ms}
    modbus:
      timeout: %s
      poll_groups: [{name: fast, interval: 50ms}]
bindings:
  - connector: plc
    twin: cell-1
    properties:
      level: {table: holding, address: 0, type: uint16}
      target: {table: holding, address: 30, type: uint16}
    writes:
      target: {table: holding, address: 30, type: uint16}
    commands:
      setpoint: {table: holding, address: 10, type: uint16}
      reset:    {table: holding, address: 20, type: uint16, value: "1"}
`

// The registers of cellPlant (unit 1).
const (
	cellUnit     = 1
	cellLevel    = 0
	cellSetpoint = 10
	cellReset    = 20
	cellTarget   = 30
)

// patience bounds every wait: generous for a loaded 2-core CI.
const patience = 30 * time.Second

// cellRig is a node serving cellPlant against a simulated PLC.
type cellRig struct {
	t    *testing.T
	dev  *simulations.ModbusDevice
	cfg  string // the plant file
	data string // the node's --data directory
	n    *node
	tc   pb.TwinServiceClient
}

// startCell serves a PLC on loopback and starts a node whose connector
// waits modbusTimeout for each request; it returns once the twin is
// online with a level read from the device.
func startCell(t *testing.T, modbusTimeout time.Duration) *cellRig {
	t.Helper()
	dev := simulations.NewModbusDevice("127.0.0.1:0")
	dev.SetHolding(cellUnit, cellLevel, 17)
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Stop)
	dir := t.TempDir()
	r := &cellRig{t: t, dev: dev, cfg: filepath.Join(dir, "plant.yaml"), data: filepath.Join(dir, "data")}
	if err := os.WriteFile(r.cfg, []byte(fmt.Sprintf(cellPlant, dev.Addr(), modbusTimeout)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.startNode()
	r.waitConnectivity(pb.Connectivity_CONNECTIVITY_ONLINE)
	waitFor(t, patience, "the level read from the device", func() bool {
		tw, err := r.twin()
		return err == nil && tw.Reported["level"].GetValue().GetIntValue() == 17
	})
	return r
}

// startNode starts a node on the rig's plant and data directory.
func (r *cellRig) startNode() {
	r.t.Helper()
	r.n = startNode(r.t, "--config", r.cfg, "--data", r.data)
	r.tc = r.n.client()
}

// callContext bounds one call to the node.
func callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), patience)
}

func (r *cellRig) twin() (*pb.Twin, error) {
	ctx, cancel := callContext()
	defer cancel()
	return r.tc.GetTwin(ctx, &pb.GetTwinRequest{Id: "cell-1"})
}

func (r *cellRig) waitConnectivity(want pb.Connectivity) {
	r.t.Helper()
	waitFor(r.t, patience, "twin cell-1 "+want.String(), func() bool {
		tw, err := r.twin()
		return err == nil && tw.Connectivity == want
	})
}

// setpoint is an InvokeCommandRequest of setpoint value=v on cell-1.
func setpoint(v int64, key string, timeout, ttl time.Duration, wait bool) *pb.InvokeCommandRequest {
	return &pb.InvokeCommandRequest{
		TwinId:         "cell-1",
		Command:        "setpoint",
		Args:           map[string]*pb.Value{"value": {Kind: &pb.Value_IntValue{IntValue: v}}},
		IdempotencyKey: key,
		Timeout:        durationpb.New(timeout),
		Ttl:            durationpb.New(ttl),
		Wait:           wait,
	}
}

func (r *cellRig) invoke(req *pb.InvokeCommandRequest) *pb.Command {
	r.t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	c, err := r.tc.InvokeCommand(ctx, req)
	if err != nil {
		r.t.Fatalf("InvokeCommand %s: %v\nnode logs:\n%s", req.Command, err, r.n.logs.String())
	}
	return c
}

func (r *cellRig) command(id string) (*pb.Command, error) {
	ctx, cancel := callContext()
	defer cancel()
	return r.tc.GetCommand(ctx, &pb.GetCommandRequest{TwinId: "cell-1", CommandId: id})
}

// waitCommand polls command id until it is finished and returns it.
func (r *cellRig) waitCommand(id string) *pb.Command {
	r.t.Helper()
	var last *pb.Command
	waitFor(r.t, patience, "command "+id+" to finish", func() bool {
		c, err := r.command(id)
		if err == nil {
			last = c
		}
		return err == nil && finishedStatus(c.Status)
	})
	return last
}

func (r *cellRig) commands() []*pb.Command {
	r.t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	resp, err := r.tc.ListCommands(ctx, &pb.ListCommandsRequest{TwinId: "cell-1"})
	if err != nil {
		r.t.Fatalf("ListCommands: %v", err)
	}
	return resp.Commands
}

// audit returns cell-1's audit entries with action.
func (r *cellRig) audit(action string) []string {
	r.t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	resp, err := r.tc.GetAudit(ctx, &pb.GetAuditRequest{TwinId: "cell-1"})
	if err != nil {
		r.t.Fatalf("GetAudit: %v", err)
	}
	var out []string
	for _, e := range resp.Entries {
		if e.Action == action {
			out = append(out, e.Detail)
		}
	}
	return out
}

// settle waits until the connector has finished polls after this call:
// the device served reads more read requests, so every write the
// connector had queued before is done (it drains its writes before each
// poll).
func (r *cellRig) settle(reads int64) {
	r.t.Helper()
	from := r.dev.Reads()
	waitFor(r.t, patience, fmt.Sprintf("%d more polls of the device", reads), func() bool { return r.dev.Reads() >= from+reads })
}

// cli runs plantwin against the rig's node.
func (r *cellRig) cli(args ...string) (string, int) {
	r.t.Helper()
	out, err := runCLI(r.t, append(args, "--server", r.n.addr)...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	}
	r.t.Fatalf("plantwin %s: %v\n%s", strings.Join(args, " "), err, out)
	return "", 0
}

func finishedStatus(s string) bool { return s == "succeeded" || s == "failed" || s == "timed_out" }

func describe(c *pb.Command) string {
	return fmt.Sprintf("%s %s status=%s attempts=%d error=%q", c.GetId(), c.GetName(), c.GetStatus(), c.GetAttempts(), c.GetError())
}

// TestCommandDuplicateDelivery sends the same command twice under one
// idempotency key, one after the other and from two goroutines at once:
// each pair is one command, written once. Without a key, two calls are
// two commands, written twice.
func TestCommandDuplicateDelivery(t *testing.T) {
	r := startCell(t, time.Second)
	defer r.n.stop()

	// One after the other, through the CLI: the second call finds the
	// first command, already succeeded, and does not write again.
	var ids []string
	for range 2 {
		out, code := r.cli("twins", "cmd", "cell-1", "setpoint", "value=5", "--idempotency-key", "k-seq", "--timeout", "5s", "--ttl", "10s", "-o", "json")
		if code != 0 {
			t.Fatalf("twins cmd exited with %d:\n%s", code, out)
		}
		var c pb.Command
		if err := protojson.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("twins cmd -o json: %v\n%s", err, out)
		}
		if c.Status != "succeeded" || c.Attempts != 1 {
			t.Fatalf("twins cmd: %s", describe(&c))
		}
		ids = append(ids, c.Id)
	}
	if ids[0] != ids[1] {
		t.Fatalf("one idempotency key gave commands %s and %s", ids[0], ids[1])
	}
	if w, v := r.dev.HoldingWrites(cellUnit, cellSetpoint), r.dev.Holding(cellUnit, cellSetpoint); w != 1 || v != 5 {
		t.Fatalf("after a repeated key: %d writes of holding %d (value %d), want 1 (value 5)", w, cellSetpoint, v)
	}

	// At once, from two goroutines, both waiting for the outcome.
	var wg sync.WaitGroup
	got := make([]*pb.Command, 2)
	errs := make([]error, 2)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := callContext()
			defer cancel()
			got[i], errs[i] = r.tc.InvokeCommand(ctx, setpoint(6, "k-par", 5*time.Second, 10*time.Second, true))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent InvokeCommand %d: %v", i, err)
		}
	}
	if got[0].Id != got[1].Id || got[0].Id == ids[0] {
		t.Fatalf("concurrent calls with one key: %s and %s (the earlier key's command is %s)", describe(got[0]), describe(got[1]), ids[0])
	}
	for _, c := range got {
		if c.Status != "succeeded" || c.Attempts != 1 {
			t.Fatalf("concurrent call: %s", describe(c))
		}
	}
	if w, v := r.dev.HoldingWrites(cellUnit, cellSetpoint), r.dev.Holding(cellUnit, cellSetpoint); w != 2 || v != 6 {
		t.Fatalf("after concurrent calls with one key: %d writes of holding %d (value %d), want 2 in all (value 6)", w, cellSetpoint, v)
	}

	// Without a key each call is a command of its own.
	a := r.invoke(setpoint(7, "", 5*time.Second, 10*time.Second, true))
	b := r.invoke(setpoint(7, "", 5*time.Second, 10*time.Second, true))
	if a.Id == b.Id || a.Status != "succeeded" || b.Status != "succeeded" {
		t.Fatalf("two calls without a key: %s and %s", describe(a), describe(b))
	}
	if w := r.dev.HoldingWrites(cellUnit, cellSetpoint); w != 4 {
		t.Fatalf("after two calls without a key: %d writes of holding %d, want 4 in all", w, cellSetpoint)
	}

	// Nothing is left to carry out, and the journal agrees.
	r.settle(5)
	if w := r.dev.HoldingWrites(cellUnit, cellSetpoint); w != 4 {
		t.Errorf("%d writes of holding %d once the connector went on polling, want 4", w, cellSetpoint)
	}
	cs := r.commands()
	if len(cs) != 4 {
		var all []string
		for _, c := range cs {
			all = append(all, describe(c))
		}
		t.Errorf("ListCommands: %d commands, want 4:\n%s", len(cs), strings.Join(all, "\n"))
	}
	if created, done := r.audit("command"), r.audit("command_succeeded"); len(created) != 4 || len(done) != 4 {
		t.Errorf("audit: %d commands invoked, %d succeeded, want 4 and 4:\n%s\n%s", len(created), len(done), strings.Join(created, "\n"), strings.Join(done, "\n"))
	}
}

// TestCommandDeviceOffline invokes commands while the PLC is down: they
// wait, undispatched, for their time-to-live. One is carried out once
// when the PLC comes back in time; one whose time-to-live ends first
// times out, naming the offline device, and never reaches the PLC.
func TestCommandDeviceOffline(t *testing.T) {
	r := startCell(t, time.Second)
	defer r.n.stop()

	r.dev.Stop()
	r.waitConnectivity(pb.Connectivity_CONNECTIVITY_OFFLINE)

	late := r.invoke(setpoint(8, "", 2*time.Second, 3*time.Second, false))
	lost := r.invoke(setpoint(9, "", 2*time.Second, time.Second, false))
	if late.Status != "pending" || lost.Status != "pending" {
		t.Fatalf("invoked while offline: %s; %s; want both pending", describe(late), describe(lost))
	}

	// The short one times out while the device stays down...
	c := r.waitCommand(lost.Id)
	if c.Status != "timed_out" || c.Attempts != 0 || !strings.Contains(c.Error, "offline") {
		t.Fatalf("command with ttl 1s on an offline device: %s; want timed_out after 0 attempts, the error naming the offline device", describe(c))
	}
	// ...and meanwhile, a second after it was invoked, the longer one
	// is still waiting, undispatched.
	if c, err := r.command(late.Id); err != nil || c.Status != "pending" || c.Attempts != 0 {
		t.Fatalf("command with ttl 3s, 1s into an outage: %v %v; want pending after 0 attempts", describe(c), err)
	}

	// The device comes back before the longer one's time-to-live ends.
	if err := r.dev.Start(); err != nil {
		t.Fatal(err)
	}
	c = r.waitCommand(late.Id)
	if c.Status != "succeeded" || c.Attempts != 1 {
		t.Fatalf("command with ttl 3s once the device came back: %s; want succeeded after 1 attempt\nnode logs:\n%s", describe(c), r.n.logs.String())
	}
	r.settle(5)
	if w, v := r.dev.HoldingWrites(cellUnit, cellSetpoint), r.dev.Holding(cellUnit, cellSetpoint); w != 1 || v != 8 {
		t.Fatalf("holding %d written %d times (value %d), want once, by %s (value 8), never by the timed-out %s (value 9)", cellSetpoint, w, v, late.Id, lost.Id)
	}
	if c, err := r.command(lost.Id); err != nil || c.Status != "timed_out" || c.Attempts != 0 {
		t.Fatalf("the timed-out command once the device came back: %v %v", describe(c), err)
	}
}

// TestCommandDeviceRejects makes the PLC refuse a command's write with a
// Modbus exception: the command fails at once with the exception named,
// after one attempt, and `plantwin twins cmd` exits with status 1
// printing it. A refusal is final: the runtime does not try again.
func TestCommandDeviceRejects(t *testing.T) {
	r := startCell(t, time.Second)
	defer r.n.stop()
	r.dev.FailRegister(cellReset, modbus.ErrIllegalDataAddress)

	c := r.invoke(&pb.InvokeCommandRequest{TwinId: "cell-1", Command: "reset", Timeout: durationpb.New(5 * time.Second), Ttl: durationpb.New(10 * time.Second), Wait: true})
	if c.Status != "failed" || c.Attempts != 1 || !strings.Contains(c.Error, modbus.ErrIllegalDataAddress.Error()) {
		t.Fatalf("reset refused by the device: %s; want failed after 1 attempt naming %q", describe(c), modbus.ErrIllegalDataAddress)
	}

	out, code := r.cli("twins", "cmd", "cell-1", "reset", "--timeout", "5s", "--ttl", "10s")
	if code != 1 || !strings.Contains(out, "failed") || !strings.Contains(out, modbus.ErrIllegalDataAddress.Error()) {
		t.Fatalf("twins cmd reset refused by the device: exit status %d, want 1 with the exception:\n%s", code, out)
	}

	// Neither was retried, and no write took effect.
	r.settle(5)
	for _, cmd := range r.commands() {
		if cmd.Status != "failed" || cmd.Attempts != 1 {
			t.Errorf("refused command later: %s; want failed after 1 attempt", describe(cmd))
		}
	}
	if w, v := r.dev.HoldingWrites(cellUnit, cellReset), r.dev.Holding(cellUnit, cellReset); w != 0 || v != 0 {
		t.Fatalf("holding %d written %d times (value %d) while refusing, want never", cellReset, w, v)
	}

	// Once the device takes the write again, so does the command.
	r.dev.FailRegister(cellReset, nil)
	if out, code := r.cli("twins", "cmd", "cell-1", "reset", "--timeout", "5s", "--ttl", "10s"); code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("twins cmd reset after the device recovered: exit status %d:\n%s", code, out)
	}
	if w, v := r.dev.HoldingWrites(cellUnit, cellReset), r.dev.Holding(cellUnit, cellReset); w != 1 || v != 1 {
		t.Fatalf("holding %d written %d times (value %d), want once (value 1)", cellReset, w, v)
	}
}

// TestCommandTimeout makes the PLC answer later than the command's
// per-attempt timeout (and sooner than the connector's own request
// timeout, so the command's deadline is what fires): the command ends
// with no answer in time, after one attempt, is not sent again, and the
// PLC sees its write at most once.
func TestCommandTimeout(t *testing.T) {
	r := startCell(t, 3*time.Second)
	defer r.n.stop()
	defer r.dev.Delay(0) // before the node stops

	r.dev.Delay(1500 * time.Millisecond)
	c := r.invoke(setpoint(11, "", 500*time.Millisecond, 10*time.Second, true))
	atOutcome := r.dev.HoldingWrites(cellUnit, cellSetpoint)
	if (c.Status != "timed_out" && c.Status != "failed") || c.Attempts != 1 || !strings.Contains(c.Error, "no answer from the device within 500ms") {
		t.Fatalf("command on a device slower than its timeout: %s; want timed_out or failed after 1 attempt, no answer within 500ms\nnode logs:\n%s", describe(c), r.n.logs.String())
	}

	// Let the connector catch up, then check nothing sent it again.
	r.dev.Delay(0)
	r.settle(5)
	if got, err := r.command(c.Id); err != nil || got.Status != c.Status || got.Attempts != 1 {
		t.Fatalf("timed-out command later: %v %v; want still %s after 1 attempt", describe(got), err, c.Status)
	}
	w := r.dev.HoldingWrites(cellUnit, cellSetpoint)
	if w > 1 {
		t.Fatalf("holding %d written %d times for one command that timed out, want at most once", cellSetpoint, w)
	}
	// The write may well reach the device after the command was given
	// up (the connector serves its queued writes between polls, and a
	// poll takes the delay): that is why a timeout is not retried.
	t.Logf("%s; the device had seen %d write(s) of holding %d when the call returned, %d once the connector caught up", describe(c), atOutcome, cellSetpoint, w)
}

// TestCommandNodeRestartMidCommand kills the node (SIGKILL) while the PLC
// has taken a command's write but not yet answered it. The node that
// starts on the same data fails the command as "outcome unknown" and does
// not send it again: the PLC sees one write.
func TestCommandNodeRestartMidCommand(t *testing.T) {
	r := startCell(t, 10*time.Second)
	defer r.dev.Delay(0)

	r.dev.Delay(5 * time.Second)
	out, code := r.cli("twins", "cmd", "cell-1", "setpoint", "value=42", "--timeout", "30s", "--ttl", "60s", "--no-wait", "-o", "json")
	if code != 0 {
		t.Fatalf("twins cmd --no-wait exited with %d:\n%s", code, out)
	}
	var inv pb.Command
	if err := protojson.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("twins cmd -o json: %v\n%s", err, out)
	}
	// The write reaches the device once the poll in progress is answered;
	// its own answer is then held back 5s.
	waitFor(t, patience, "the setpoint write to reach the device", func() bool { return r.dev.HoldingWrites(cellUnit, cellSetpoint) > 0 })
	c, err := r.command(inv.Id)
	if err != nil || c.Status != "dispatched" || c.Attempts != 1 {
		t.Fatalf("command with its write at the device: %v %v; want dispatched after 1 attempt", describe(c), err)
	}
	r.n.kill()
	killed := r.n

	r.dev.Delay(0)
	r.startNode()
	defer r.n.stop()
	c = r.waitCommand(inv.Id)
	if c.Status != "failed" || c.Attempts != 1 || !strings.Contains(c.Error, "outcome unknown") {
		t.Fatalf("command dispatched when the node was killed, after restart: %s; want failed, outcome unknown, after 1 attempt\nlogs of the killed node:\n%s\nlogs of the new node:\n%s",
			describe(c), killed.logs.String(), r.n.logs.String())
	}
	r.waitConnectivity(pb.Connectivity_CONNECTIVITY_ONLINE)
	r.settle(5)
	if w, v := r.dev.HoldingWrites(cellUnit, cellSetpoint), r.dev.Holding(cellUnit, cellSetpoint); w != 1 || v != 42 {
		t.Fatalf("holding %d written %d times (value %d), want once (value 42): the write in flight when the node died, never again", cellSetpoint, w, v)
	}
	if cs := r.commands(); len(cs) != 1 || cs[0].Id != inv.Id {
		t.Errorf("commands after restart: %d, want only %s", len(cs), inv.Id)
	}
	if out, code := r.cli("twins", "commands", "cell-1"); code != 0 || !strings.Contains(out, "outcome unknown") {
		t.Errorf("twins commands after restart: exit status %d:\n%s", code, out)
	}
}

// TestDesiredReconciledOverModbus: a desired value on a property a
// connector writes is written to the PLC and followed until the reported
// value reaches it; a PLC that clamps the value below it is written again
// after each settle time, then given up on with the reason, all visible
// on the twin's desired value.
func TestDesiredReconciledOverModbus(t *testing.T) {
	r := startCell(t, 300*time.Millisecond)
	desired := func() *pb.DesiredValue {
		tw, err := r.twin()
		if err != nil {
			return nil
		}
		return tw.Desired["target"]
	}
	if out, err := runCLI(t, "twins", "set", "cell-1", "target=40", "--server", r.n.addr); err != nil {
		t.Fatalf("twins set: %v\n%s", err, out)
	}
	waitFor(t, patience, "target 40 reached", func() bool {
		d := desired()
		return d != nil && d.InSync && d.ReconcileStatus == "succeeded"
	})
	if w := r.dev.HoldingWrites(cellUnit, cellTarget); w != 1 {
		t.Fatalf("target written %d times, want once; commands %v\nlogs:\n%s", w, r.commands(), r.n.logs.String())
	}

	// The PLC clamps the target at 50.
	r.dev.ClampHolding(cellUnit, cellTarget, 50)
	if out, err := runCLI(t, "twins", "set", "cell-1", "target=80", "--server", r.n.addr); err != nil {
		t.Fatalf("twins set: %v\n%s", err, out)
	}
	var d *pb.DesiredValue
	waitFor(t, patience, "the reconciliation of 80 to give up", func() bool {
		d = desired()
		return d != nil && d.ReconcileStatus == "failed"
	})
	if d.InSync || d.Delta != 30 || !strings.Contains(d.ReconcileError, "reported target 50, want 80 ± 1 after 5 writes; gave up") {
		t.Errorf("desired after giving up: %+v", d)
	}
	if w := r.dev.HoldingWrites(cellUnit, cellTarget); w != 1+5 {
		t.Errorf("target written %d times, want 1 + 5", w)
	}
}
