package main

import (
	"bytes"
	"strings"
	"testing"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// TestWatchTableShowsAlarmsAndCommands: the table form of twins watch
// prints alarm transitions, command steps and rule events.
func TestWatchTableShowsAlarmsAndCommands(t *testing.T) {
	o := &watchOptions{}
	o.output = "table"
	for _, tc := range []struct {
		ch   *pb.TwinChange
		want string
	}{
		{&pb.TwinChange{TwinId: "press-1", Version: 7, AlarmTransition: "raised",
			Alarm: &pb.Alarm{Name: "overheat", State: "active_unacked", Severity: "critical", Message: "press temperature 103.755 °C above 90"}},
			"CHANGE  press-1 v7 alarm overheat raised → active_unacked [critical]: press temperature 103.755 °C above 90"},
		{&pb.TwinChange{TwinId: "press-1", Version: 9, AlarmTransition: "acknowledged", Actor: "token:ops",
			Alarm: &pb.Alarm{Name: "overheat", State: "active_acked", Severity: "critical"}},
			"alarm overheat acknowledged → active_acked [critical] by token:ops"},
		{&pb.TwinChange{TwinId: "press-1", Version: 8, Command: &pb.Command{Id: "c1", Name: "stop", Status: "failed", InvokedBy: "rule:overheat", Error: "modbus exception 2"}},
			"command c1 stop failed (by rule:overheat): modbus exception 2"},
		{&pb.TwinChange{TwinId: "press-1", Version: 10, RuleEvent: "overheat: stop on parent"},
			"rule overheat: stop on parent"},
	} {
		var b bytes.Buffer
		if err := printEvent(&b, o, &pb.WatchTwinsResponse{Event: &pb.WatchTwinsResponse_Change{Change: tc.ch}}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("got %q, want it to contain %q", b.String(), tc.want)
		}
	}
}
