package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// opsModel is a pump whose commands have a parameter of every type.
var opsModel = &pb.Model{
	Name: "pump",
	Properties: []*pb.PropertySpec{
		{Name: "speed", Type: pb.ValueType_VALUE_TYPE_INT},
	},
	Commands: []*pb.CommandSpec{
		{Name: "start"},
		{Name: "stop", Parameters: []*pb.ParameterSpec{{Name: "reason", Type: pb.ValueType_VALUE_TYPE_STRING}}},
		{Name: "ramp", Parameters: []*pb.ParameterSpec{
			{Name: "speed", Type: pb.ValueType_VALUE_TYPE_INT, Required: true},
			{Name: "rate", Type: pb.ValueType_VALUE_TYPE_DOUBLE},
			{Name: "hold", Type: pb.ValueType_VALUE_TYPE_BOOL},
			{Name: "mode", Type: pb.ValueType_VALUE_TYPE_ENUM, EnumValues: []string{"soft", "hard"}},
		}},
	},
}

func TestParseCommandArgs(t *testing.T) {
	str := func(s string) *pb.Value { return &pb.Value{Kind: &pb.Value_StringValue{StringValue: s}} }
	for _, tc := range []struct {
		name    string
		command string
		args    []string
		want    map[string]*pb.Value
		wantErr string // substring of the usage error; "" none
	}{
		{name: "no arguments", command: "start", want: map[string]*pb.Value{}},
		{name: "string", command: "stop", args: []string{"reason=seal leak"}, want: map[string]*pb.Value{"reason": str("seal leak")}},
		{name: "string looking like a number stays a string", command: "stop", args: []string{"reason=42"}, want: map[string]*pb.Value{"reason": str("42")}},
		{name: "empty string", command: "stop", args: []string{"reason="}, want: map[string]*pb.Value{"reason": str("")}},
		{name: "value with =", command: "stop", args: []string{"reason=a=b"}, want: map[string]*pb.Value{"reason": str("a=b")}},
		{
			name: "every type", command: "ramp",
			args: []string{"speed=1200", "rate=2.5", "hold=true", "mode=soft"},
			want: map[string]*pb.Value{
				"speed": {Kind: &pb.Value_IntValue{IntValue: 1200}},
				"rate":  {Kind: &pb.Value_DoubleValue{DoubleValue: 2.5}},
				"hold":  {Kind: &pb.Value_BoolValue{BoolValue: true}},
				"mode":  {Kind: &pb.Value_EnumValue{EnumValue: "soft"}},
			},
		},
		{name: "integer for a double", command: "ramp", args: []string{"speed=1", "rate=3"}, want: map[string]*pb.Value{
			"speed": {Kind: &pb.Value_IntValue{IntValue: 1}},
			"rate":  {Kind: &pb.Value_DoubleValue{DoubleValue: 3}},
		}},
		{name: "no =", command: "stop", args: []string{"reason"}, wantErr: `argument "reason" has no value: want ARG=VALUE`},
		{name: "no name", command: "stop", args: []string{"=x"}, wantErr: `argument "=x" has no name`},
		{name: "twice", command: "stop", args: []string{"reason=a", "reason=b"}, wantErr: "argument reason given twice"},
		{name: "not an integer", command: "ramp", args: []string{"speed=12.5"}, wantErr: "speed=12.5: want an integer"},
		{name: "not a number", command: "ramp", args: []string{"speed=1", "rate=fast"}, wantErr: "rate=fast: want a number"},
		{name: "not a bool", command: "ramp", args: []string{"speed=1", "hold=maybe"}, wantErr: "hold=maybe: want true or false"},
		{name: "unknown parameter", command: "stop", args: []string{"why=x"}, wantErr: `command stop has no parameter "why" (it has: reason)`},
		{name: "command without parameters", command: "start", args: []string{"now=1"}, wantErr: `command start has no parameter "now" (it has: none)`},
		{name: "unknown command", command: "halt", wantErr: `model pump has no command "halt" (it has: ramp, start, stop)`},
		{name: "missing required", command: "ramp", args: []string{"rate=1"}, wantErr: "command ramp needs argument speed (int)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := splitCommandArgs(tc.args)
			var got map[string]*pb.Value
			if err == nil {
				got, err = typeCommandArgs(opsModel, tc.command, raw)
			}
			if tc.wantErr != "" {
				var ee *exitError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ee) || ee.code != 2 {
					t.Fatalf("error = %v, want a usage error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCommandOutcome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmd     *pb.Command
		wantErr string // "": exit status 0
	}{
		{name: "succeeded", cmd: &pb.Command{Id: "c1", Status: "succeeded"}},
		{name: "pending (no wait)", cmd: &pb.Command{Id: "c1", Status: "pending"}},
		{name: "dispatched", cmd: &pb.Command{Id: "c1", Status: "dispatched", Attempts: 1}},
		{
			name:    "failed by an interlock",
			cmd:     &pb.Command{Id: "c3", Status: "failed", Error: "blocked by interlock overheat (temperature 92 > 90)"},
			wantErr: "command c3 failed: blocked by interlock overheat (temperature 92 > 90)",
		},
		{name: "failed without a reason", cmd: &pb.Command{Id: "c4", Status: "failed"}, wantErr: "command c4 failed"},
		{name: "timed out", cmd: &pb.Command{Id: "c5", Status: "timed_out", Error: "no answer in 10s"}, wantErr: "command c5 timed out: no answer in 10s"},
		// A device's text that reads like one of cobra's must not turn
		// into a usage error (exit status 2).
		{name: "device text like a usage error", cmd: &pb.Command{Id: "c6", Status: "failed", Error: "write: invalid argument"}, wantErr: "command c6 failed: write: invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := commandOutcome(tc.cmd)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("error = %v, want none", err)
				}
				return
			}
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 1 || err.Error() != tc.wantErr {
				t.Fatalf("error = %v, want %q with exit status 1", err, tc.wantErr)
			}
		})
	}
}

// TestTwinsOpsUsage runs the new subcommands with bad input: each fails
// with exit status 2 before it connects to a node.
func TestTwinsOpsUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "cmd argument without =", args: []string{"twins", "cmd", "pump-L1-01", "stop", "reason"}, want: `argument "reason" has no value`},
		{name: "cmd without command", args: []string{"twins", "cmd", "pump-L1-01"}, want: "requires at least 2 arg(s)"},
		{name: "cmd zero timeout", args: []string{"twins", "cmd", "pump-L1-01", "stop", "--timeout", "0s"}, want: "--timeout and --ttl must be positive"},
		{name: "ack without rule", args: []string{"twins", "ack", "overheat"}, want: `alarm "overheat": want TWIN/RULE`},
		{name: "ack empty rule", args: []string{"twins", "ack", "pump-L1-01/"}, want: "want TWIN/RULE"},
		{name: "shelve without --for", args: []string{"twins", "shelve", "pump-L1-01/overheat"}, want: "--for: want how long to shelve"},
		{name: "unshelve bad id", args: []string{"twins", "unshelve", "/overheat"}, want: "want TWIN/RULE"},
		{name: "alarms two twins", args: []string{"twins", "alarms", "a", "b"}, want: "accepts at most 1 arg(s)"},
		{name: "audit bad output", args: []string{"twins", "audit", "pump-L1-01", "-o", "xml"}, want: `--output "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := run(ctx, tc.args, &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, want 2 with %q\nstdout: %s\nstderr: %s", code, tc.want, out.String(), errb.String())
			}
		})
	}
}

// TestTwinsCmdFlags checks that twins cmd's --timeout is the per-attempt
// timeout (default 10s) and that --key stays the TLS client key.
func TestTwinsCmdFlags(t *testing.T) {
	c := newTwinsCmdCmd()
	for flag, want := range map[string]string{"timeout": "10s", "ttl": "1m0s", "no-wait": "false", "idempotency-key": "", "key": ""} {
		f := c.Flags().Lookup(flag)
		if f == nil {
			t.Errorf("no --%s", flag)
			continue
		}
		if f.DefValue != want || f.Value.String() != want {
			t.Errorf("--%s default %q (value %q), want %q", flag, f.DefValue, f.Value.String(), want)
		}
	}
	if u := c.Flags().Lookup("key").Usage; !strings.Contains(u, "private key") {
		t.Errorf("--key is %q, want the TLS client key", u)
	}
}

func TestTwinsOpsTables(t *testing.T) {
	at := func(s string) *timestamppb.Timestamp {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return timestamppb.New(tm)
	}
	alarm := &pb.Alarm{
		Id: "pump-L1-01/overheat", TwinId: "pump-L1-01", Name: "overheat", Severity: "high", State: "active_unacked",
		Active: true, RaisedAt: at("2025-03-04T05:06:07.891+01:00"), Message: "temperature 92 degC\tabove 90",
	}
	shelved := &pb.Alarm{
		TwinId: "tank-2", Name: "low_level", Severity: "low", State: "active_acked", Shelved: true,
		ShelvedUntil: at("2025-03-04T08:00:00Z"), ShelvedBy: "token:alice", ShelveReason: "sensor\nreplaced", AckedBy: "token:bob",
	}
	for _, tc := range []struct {
		name  string
		print func(w *bytes.Buffer) error
		want  string
	}{
		{
			name: "command",
			print: func(w *bytes.Buffer) error {
				return printCommand(w, &pb.Command{Id: "c3", Name: "start", Status: "failed", Attempts: 0, Error: "blocked by interlock overheat"})
			},
			want: "ID  NAME   STATUS  ATTEMPTS  ERROR\n" +
				"c3  start  failed  0         blocked by interlock overheat\n",
		},
		{
			name: "commands",
			print: func(w *bytes.Buffer) error {
				return printCommands(w, []*pb.Command{
					{Id: "c1", Name: "stop", Status: "succeeded", InvokedBy: "token:alice", CreatedAt: at("2025-03-04T05:06:07.5Z"), Attempts: 1},
					{Id: "c2", Name: "start", Status: "pending", InvokedBy: "rule:restart"},
				})
			},
			want: "ID  NAME   STATUS     INVOKED_BY    CREATED               ATTEMPTS  ERROR\n" +
				"c1  stop   succeeded  token:alice   2025-03-04T05:06:07Z  1         -\n" +
				"c2  start  pending    rule:restart  -                     0         -\n" +
				"2 commands\n",
		},
		{
			name:  "no commands",
			print: func(w *bytes.Buffer) error { return printCommands(w, nil) },
			want:  "ID  NAME  STATUS  INVOKED_BY  CREATED  ATTEMPTS  ERROR\n0 commands\n",
		},
		{
			name:  "alarms",
			print: func(w *bytes.Buffer) error { return printAlarms(w, []*pb.Alarm{alarm, shelved}) },
			want: "ID                   SEVERITY  STATE           SHELVED                     RAISED                MESSAGE\n" +
				"pump-L1-01/overheat  high      active_unacked  no                          2025-03-04T04:06:07Z  temperature 92 degC above 90\n" +
				"tank-2/low_level     low       active_acked    until 2025-03-04T08:00:00Z  -                     -\n" +
				"2 alarms\n",
		},
		{
			name: "audit",
			print: func(w *bytes.Buffer) error {
				return printAudit(w, []*pb.AuditEntry{
					{Version: 118, Time: at("2025-03-04T05:06:07Z"), Actor: "token:alice", Action: "command", Detail: "stop c3 (succeeded)"},
					{Version: 121, Actor: "anonymous", Action: "desired", Detail: "speed=0"},
				})
			},
			want: "VERSION  TIME                  ACTOR        ACTION   DETAIL\n" +
				"118      2025-03-04T05:06:07Z  token:alice  command  stop c3 (succeeded)\n" +
				"121      -                     anonymous    desired  speed=0\n" +
				"2 entries\n",
		},
		{
			name: "acknowledged",
			print: func(w *bytes.Buffer) error {
				return printAlarmChange(w, "table", &pb.Alarm{Id: "pump-L1-01/overheat", State: "active_acked", AckedBy: "token:bob"}, "acknowledged")
			},
			want: "pump-L1-01/overheat: active_acked, acknowledged by token:bob\n",
		},
		{
			name:  "shelved",
			print: func(w *bytes.Buffer) error { return printAlarmChange(w, "table", shelved, "shelved") },
			want:  "tank-2/low_level: active_acked, shelved until 2025-03-04T08:00:00Z by token:alice (sensor replaced)\n",
		},
		{
			name:  "unshelved",
			print: func(w *bytes.Buffer) error { return printAlarmChange(w, "table", alarm, "unshelved") },
			want:  "pump-L1-01/overheat: active_unacked, not shelved\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.print(&b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
