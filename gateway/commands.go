package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/plantwin/plantwin/actors"
	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

const (
	maxArgs      = 64
	maxKeyLen    = 128
	maxReasonLen = 1024
	maxTimeout   = time.Hour
	maxTTL       = 7 * 24 * time.Hour
	maxShelve    = 30 * 24 * time.Hour
	// waitPoll is how often a waiting InvokeCommand re-reads the command.
	waitPoll = 20 * time.Millisecond
)

// InvokeCommand asks a twin to carry out a command as the caller.
func (s *Server) InvokeCommand(ctx context.Context, req *pb.InvokeCommandRequest) (*pb.Command, error) {
	if err := checkTwinID(req.GetTwinId()); err != nil {
		return nil, err
	}
	if req.GetCommand() == "" {
		return nil, invalid("command", "required")
	}
	if len(req.GetArgs()) > maxArgs {
		return nil, invalid("args", fmt.Sprintf("%d arguments, at most %d", len(req.GetArgs()), maxArgs))
	}
	if len(req.GetIdempotencyKey()) > maxKeyLen {
		return nil, invalid("idempotency_key", fmt.Sprintf("longer than %d bytes", maxKeyLen))
	}
	op := &pb.InvokeCommandOp{TwinId: req.GetTwinId(), Actor: caller(ctx), Command: req.GetCommand(), Args: req.GetArgs(), Key: req.GetIdempotencyKey()}
	for _, d := range []struct {
		field string
		v     interface {
			AsDuration() time.Duration
			CheckValid() error
		}
		set    bool
		max    time.Duration
		target *int64
	}{
		{"timeout", req.GetTimeout(), req.Timeout != nil, maxTimeout, &op.TimeoutNanos},
		{"ttl", req.GetTtl(), req.Ttl != nil, maxTTL, &op.TtlNanos},
	} {
		if !d.set {
			continue
		}
		if err := d.v.CheckValid(); err != nil {
			return nil, invalid(d.field, err.Error())
		}
		v := d.v.AsDuration()
		if v < 0 || v > d.max {
			return nil, invalid(d.field, fmt.Sprintf("%s out of range [0, %s]", v, d.max))
		}
		*d.target = int64(v)
	}
	cmd, err := s.rt.InvokeCommand(ctx, op)
	if err != nil {
		if errors.Is(err, twins.ErrNoSuchCommand) {
			return nil, withField("command", status.Error(codes.InvalidArgument, err.Error()))
		}
		if errors.Is(err, twins.ErrInvalidArgs) {
			field := "args"
			if strings.Contains(err.Error(), "idempotency key") {
				field = "idempotency_key"
			}
			return nil, withField(field, status.Error(codes.InvalidArgument, err.Error()))
		}
		return nil, toStatus(err)
	}
	s.log.Info("command invoked", "twin", op.TwinId, "command", cmd.Name, "id", cmd.Id, "status", cmd.Status, "caller", op.Actor)
	if !req.GetWait() {
		return cmd, nil
	}
	// Wait for the command to finish: re-read it from the twin until it
	// has, or the caller's deadline passes (the last state is returned
	// with DEADLINE_EXCEEDED's message naming it).
	t := time.NewTicker(waitPoll)
	defer t.Stop()
	for !finished(cmd.Status) {
		select {
		case <-ctx.Done():
			return nil, status.Errorf(codes.DeadlineExceeded, "command %s of twin %s still %s when the call's deadline passed", cmd.Id, op.TwinId, cmd.Status)
		case <-t.C:
		}
		c, err := s.command(ctx, op.TwinId, cmd.Id)
		if err != nil {
			return nil, err
		}
		cmd = c
	}
	return cmd, nil
}

func finished(st string) bool {
	switch st {
	case "succeeded", "failed", "timed_out":
		return true
	}
	return false
}

func checkTwinID(id string) error {
	if id == "" {
		return invalid("twin_id", "required")
	}
	if len(id) > maxIDLen {
		return invalid("twin_id", "longer than 128 bytes")
	}
	return nil
}

// command reads one command from the twin's acknowledged state.
func (s *Server) command(ctx context.Context, twinID, id string) (*pb.Command, error) {
	st, _, err := s.rt.State(ctx, twinID)
	if err != nil {
		return nil, toStatus(err)
	}
	c, ok := st.Command(id)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "twin %s has no command %q (it keeps its unfinished commands and its newest finished ones)", twinID, id)
	}
	return actors.CommandToProto(twinID, c), nil
}

// GetCommand returns one command of a twin.
func (s *Server) GetCommand(ctx context.Context, req *pb.GetCommandRequest) (*pb.Command, error) {
	if err := checkTwinID(req.GetTwinId()); err != nil {
		return nil, err
	}
	if req.GetCommandId() == "" {
		return nil, invalid("command_id", "required")
	}
	return s.command(ctx, req.GetTwinId(), req.GetCommandId())
}

// ListCommands returns a twin's commands, oldest first.
func (s *Server) ListCommands(ctx context.Context, req *pb.ListCommandsRequest) (*pb.ListCommandsResponse, error) {
	if err := checkTwinID(req.GetTwinId()); err != nil {
		return nil, err
	}
	st, _, err := s.rt.State(ctx, req.GetTwinId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.ListCommandsResponse{Commands: make([]*pb.Command, len(st.Commands))}
	for i := range st.Commands {
		resp.Commands[i] = actors.CommandToProto(st.Spec.ID, &st.Commands[i])
	}
	return resp, nil
}

// ListAlarms returns the alarms not in the normal state (or shelved), most
// severe first, then newest first.
func (s *Server) ListAlarms(ctx context.Context, req *pb.ListAlarmsRequest) (*pb.ListAlarmsResponse, error) {
	var ids []string
	if id := req.GetTwinId(); id != "" {
		if err := checkTwinID(id); err != nil {
			return nil, err
		}
		if _, ok := s.rt.Twins().Twin(id); !ok {
			return nil, toStatus(fmt.Errorf("%w: %q", actors.ErrUnknownTwin, id))
		}
		ids = []string{id}
	} else {
		for _, spec := range s.rt.Twins().Twins {
			if len(spec.Model.Rules) > 0 {
				ids = append(ids, spec.ID)
			}
		}
	}
	now := s.rt.Clock().Now().UnixNano()
	resp := &pb.ListAlarmsResponse{}
	for start := 0; start < len(ids); start += scanBatch {
		states, err := s.readStates(ctx, ids[start:min(start+scanBatch, len(ids))])
		if err != nil {
			return nil, err
		}
		for _, rs := range states {
			for i := range rs.st.Alarms {
				a := &rs.st.Alarms[i]
				if a.State == twins.AlarmNormal && a.ShelvedUntil == 0 {
					continue
				}
				if req.GetActiveOnly() && !a.Active {
					continue
				}
				resp.Alarms = append(resp.Alarms, actors.AlarmToProto(rs.st.Spec.ID, a, now))
			}
		}
	}
	sort.SliceStable(resp.Alarms, func(i, j int) bool {
		a, b := resp.Alarms[i], resp.Alarms[j]
		sa, _ := twins.ParseSeverity(a.Severity)
		sb, _ := twins.ParseSeverity(b.Severity)
		if sa != sb {
			return sa > sb
		}
		return a.RaisedAt.AsTime().After(b.RaisedAt.AsTime())
	})
	return resp, nil
}

// splitAlarmID splits "TWIN/RULE" at its last slash (twin ids may hold
// slashes, rule names may not).
func splitAlarmID(id string) (twin, rule string, err error) {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 || i == len(id)-1 {
		return "", "", invalid("alarm_id", fmt.Sprintf("%q is not TWIN/RULE (as ListAlarms shows it)", id))
	}
	if i > maxIDLen {
		return "", "", invalid("alarm_id", "twin id longer than 128 bytes")
	}
	return id[:i], id[i+1:], nil
}

func alarmError(err error) error {
	switch {
	case errors.Is(err, twins.ErrNoSuchAlarm):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, twins.ErrNothingToAcknowledge):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, twins.ErrInvalidShelve):
		return withField("duration", status.Error(codes.InvalidArgument, err.Error()))
	}
	return toStatus(err)
}

// AcknowledgeAlarm acknowledges an alarm as the caller.
func (s *Server) AcknowledgeAlarm(ctx context.Context, req *pb.AcknowledgeAlarmRequest) (*pb.Alarm, error) {
	twin, rule, err := splitAlarmID(req.GetAlarmId())
	if err != nil {
		return nil, err
	}
	a, err := s.rt.OperateAlarm(ctx, &pb.AlarmOp{TwinId: twin, Rule: rule, Actor: caller(ctx), Acknowledge: true})
	if err != nil {
		return nil, alarmError(err)
	}
	s.log.Info("alarm acknowledged", "alarm", req.GetAlarmId(), "state", a.State, "caller", caller(ctx))
	return a, nil
}

// ShelveAlarm shelves (or with a zero duration unshelves) an alarm.
func (s *Server) ShelveAlarm(ctx context.Context, req *pb.ShelveAlarmRequest) (*pb.Alarm, error) {
	twin, rule, err := splitAlarmID(req.GetAlarmId())
	if err != nil {
		return nil, err
	}
	if len(req.GetReason()) > maxReasonLen {
		return nil, invalid("reason", fmt.Sprintf("longer than %d bytes", maxReasonLen))
	}
	op := &pb.AlarmOp{TwinId: twin, Rule: rule, Actor: caller(ctx), Reason: req.GetReason()}
	if req.Duration != nil {
		if err := req.GetDuration().CheckValid(); err != nil {
			return nil, invalid("duration", err.Error())
		}
		d := req.GetDuration().AsDuration()
		if d < 0 || d > maxShelve {
			return nil, invalid("duration", fmt.Sprintf("%s out of range [0, %s]", d, maxShelve))
		}
		if d > 0 {
			op.Until = s.rt.Clock().Now().Add(d).UnixNano()
		}
	}
	a, err := s.rt.OperateAlarm(ctx, op)
	if err != nil {
		return nil, alarmError(err)
	}
	s.log.Info("alarm shelve changed", "alarm", req.GetAlarmId(), "shelved", a.Shelved, "caller", caller(ctx))
	return a, nil
}

// GetAudit returns who did what to a twin, oldest first.
func (s *Server) GetAudit(ctx context.Context, req *pb.GetAuditRequest) (*pb.GetAuditResponse, error) {
	if err := checkTwinID(req.GetTwinId()); err != nil {
		return nil, err
	}
	if rep, ok, err := s.forward(ctx, req.GetTwinId(), &pb.ForwardedRead{Request: &pb.ForwardedRead_GetAudit{GetAudit: req}}); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return rep.GetGetAudit(), nil
	}
	return s.auditLocal(req)
}

// auditLocal answers GetAudit from this node's store.
func (s *Server) auditLocal(req *pb.GetAuditRequest) (*pb.GetAuditResponse, error) {
	entries, err := s.rt.ReadAudit(req.GetTwinId(), 0, 0)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetAuditResponse{Entries: entries}, nil
}
