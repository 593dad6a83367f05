package actors

import (
	"fmt"
	"google.golang.org/protobuf/encoding/protowire"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
)

// ValueToProto converts a domain value; the zero value gives nil.
func ValueToProto(v twins.Value) *pb.Value {
	switch v.Type() {
	case twins.TypeBool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: v.AsBool()}}
	case twins.TypeInt:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: v.AsInt()}}
	case twins.TypeDouble:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: v.AsDouble()}}
	case twins.TypeString:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: v.AsString()}}
	case twins.TypeEnum:
		return &pb.Value{Kind: &pb.Value_EnumValue{EnumValue: v.AsString()}}
	}
	return nil
}

// ValueFromProto converts a protobuf value; nil or empty gives the zero value.
func ValueFromProto(v *pb.Value) twins.Value {
	switch k := v.GetKind().(type) {
	case *pb.Value_BoolValue:
		return twins.Bool(k.BoolValue)
	case *pb.Value_IntValue:
		return twins.Int(k.IntValue)
	case *pb.Value_DoubleValue:
		return twins.Double(k.DoubleValue)
	case *pb.Value_StringValue:
		return twins.String(k.StringValue)
	case *pb.Value_EnumValue:
		return twins.Enum(k.EnumValue)
	}
	return twins.Value{}
}

func qualityToProto(q twins.Quality) pb.Quality { return pb.Quality(q) }

func qualityFromProto(q pb.Quality) twins.Quality {
	if q < 0 || q > pb.Quality_QUALITY_BAD {
		return twins.QualityBad
	}
	return twins.Quality(q)
}

func timestamp(unixNano int64) *timestamppb.Timestamp {
	if unixNano == 0 {
		return nil
	}
	return timestamppb.New(time.Unix(0, unixNano))
}

// TwinToProto renders a twin's state as the API message.
func TwinToProto(st *twins.State, active bool) *pb.Twin {
	spec := st.Spec
	t := &pb.Twin{
		Id:                spec.ID,
		Model:             spec.ModelName,
		Version:           st.Version,
		Labels:            make(map[string]string, len(spec.Labels)),
		Parent:            spec.Parent,
		Reported:          make(map[string]*pb.PropertyValue),
		Desired:           make(map[string]*pb.DesiredValue),
		Connectivity:      pb.Connectivity(st.Connectivity),
		ConnectivitySince: timestamp(st.ConnectivitySince),
		Active:            active,
	}
	for k, v := range spec.Labels {
		t.Labels[k] = v
	}
	props := spec.Model.Properties
	for i, r := range st.Reported {
		if r.Quality == twins.QualityUnknown || i >= len(props) {
			continue
		}
		t.Reported[props[i].Name] = &pb.PropertyValue{
			Value:      ValueToProto(r.Value),
			SourceTime: timestamp(r.SourceTime),
			ServerTime: timestamp(r.ServerTime),
			Quality:    qualityToProto(r.Quality),
		}
	}
	for i, d := range st.Desired {
		if d.Value.IsZero() || i >= len(props) {
			continue
		}
		dv := &pb.DesiredValue{Value: ValueToProto(d.Value), UpdateTime: timestamp(d.UpdateTime), UpdatedBy: d.UpdatedBy}
		if r := st.Reported[i]; r.Quality != twins.QualityUnknown {
			dv.InSync = props[i].InSync(d.Value, r.Value)
			if props[i].Type == twins.TypeInt || props[i].Type == twins.TypeDouble {
				dv.Delta = d.Value.AsDouble() - r.Value.AsDouble()
			}
		}
		for j := len(st.Commands) - 1; j >= 0; j-- {
			c := &st.Commands[j]
			if c.Property != props[i].Name {
				continue
			}
			dv.CommandId, dv.ReconcileStatus, dv.ReconcileError = c.ID, c.Status.String(), c.Error
			if c.Status == twins.CommandDispatched && c.Acked != 0 {
				dv.ReconcileStatus = "verifying"
			}
			break
		}
		t.Desired[props[i].Name] = dv
	}
	t.Watermark = timestamp(st.Watermark)
	for i := range st.Alarms {
		a := &st.Alarms[i]
		if a.State != twins.AlarmNormal || a.ShelvedUntil != 0 {
			t.Alarms = append(t.Alarms, AlarmToProto(spec.ID, a, st.Watermark))
		}
	}
	return t
}

// encodeEvent encodes a domain event for the journal.
func encodeEvent(model *twins.Model, ev twins.Event) ([]byte, error) {
	var je pb.JournalEvent
	switch e := ev.(type) {
	case twins.TelemetryApplied:
		return encodeEvent(model, &e)
	case twins.ConnectivityChanged:
		return encodeEvent(model, &e)
	case twins.DesiredSet:
		return encodeEvent(model, &e)
	case twins.AlarmChanged:
		je.Event = &pb.JournalEvent_Alarm{Alarm: &pb.AlarmChangedEvent{Rule: model.Rules[e.Rule].Name, Kind: int32(e.Kind), At: e.At, Actor: e.Actor, Message: e.Message, Until: e.Until, Reason: e.Reason, To: int32(e.To)}}
	case twins.RulePending:
		je.Event = &pb.JournalEvent_RulePending{RulePending: &pb.RulePendingEvent{Rule: model.Rules[e.Rule].Name, Since: e.Since}}
	case twins.CommandChanged:
		je.Event = &pb.JournalEvent_Command{Command: &pb.CommandChangedEvent{Command: storedCommand(&e.Command)}}
	case twins.RuleFired:
		rf := &pb.RuleFiredEvent{Rule: model.Rules[e.Rule].Name, Target: e.Target, Command: e.Command, Message: e.Message, At: e.At}
		for _, a := range e.Args {
			rf.Args = append(rf.Args, &pb.StoredArg{Name: a.Name, Value: ValueToProto(a.Value)})
		}
		je.Event = &pb.JournalEvent_RuleFired{RuleFired: rf}
	case twins.WatermarkAdvanced:
		je.Event = &pb.JournalEvent_Watermark{Watermark: &pb.WatermarkAdvancedEvent{To: e.To, At: e.At}}
	case *twins.TelemetryApplied:
		te := &pb.TelemetryAppliedEvent{ServerTime: e.ServerTime, Samples: make([]*pb.StoredSample, len(e.Samples))}
		for i, s := range e.Samples {
			te.Samples[i] = &pb.StoredSample{
				Property:   int32(s.Property),
				Name:       model.Properties[s.Property].Name,
				Value:      ValueToProto(s.Value),
				SourceTime: s.SourceTime,
				Quality:    qualityToProto(s.Quality),
				Stale:      s.Stale,
			}
		}
		je.Event = &pb.JournalEvent_Telemetry{Telemetry: te}
	case *twins.ConnectivityChanged:
		je.Event = &pb.JournalEvent_Connectivity{Connectivity: &pb.ConnectivityChangedEvent{Connectivity: pb.Connectivity(e.Connectivity), Time: e.Time}}
	case *twins.DesiredSet:
		je.Event = &pb.JournalEvent_Desired{Desired: &pb.DesiredSetEvent{Property: model.Properties[e.Property].Name, Value: ValueToProto(e.Value), Time: e.Time, Actor: e.Actor}}
	default:
		return nil, fmt.Errorf("actors: encode event: unknown type %T", ev)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(&je)
}

// decodeEvent decodes a journaled event against the twin's current model.
// Properties are matched by name, so a model that gained or reordered
// properties still replays old events; a property that no longer exists is
// skipped, and an event left with nothing to apply decodes as nil (the
// caller still advances the version).
func decodeEvent(model *twins.Model, data []byte) (twins.Event, error) {
	var je pb.JournalEvent
	if err := proto.Unmarshal(data, &je); err != nil {
		return nil, fmt.Errorf("actors: decode journal event: %w", err)
	}
	switch e := je.Event.(type) {
	case *pb.JournalEvent_Telemetry:
		out := &twins.TelemetryApplied{ServerTime: e.Telemetry.ServerTime, Samples: make([]twins.AppliedSample, 0, len(e.Telemetry.Samples))}
		for _, s := range e.Telemetry.Samples {
			p, ok := model.Property(s.Name)
			if !ok {
				continue
			}
			out.Samples = append(out.Samples, twins.AppliedSample{
				Property: p.Index, Value: ValueFromProto(s.Value), SourceTime: s.SourceTime,
				Quality: qualityFromProto(s.Quality), Stale: s.Stale,
			})
		}
		return out, nil
	case *pb.JournalEvent_Connectivity:
		return &twins.ConnectivityChanged{Connectivity: twins.Connectivity(e.Connectivity.Connectivity), Time: e.Connectivity.Time}, nil
	case *pb.JournalEvent_Desired:
		p, ok := model.Property(e.Desired.Property)
		if !ok {
			return nil, nil
		}
		return &twins.DesiredSet{Property: p.Index, Value: ValueFromProto(e.Desired.Value), Time: e.Desired.Time, Actor: e.Desired.Actor}, nil
	case *pb.JournalEvent_Alarm:
		i := ruleIndex(model, e.Alarm.Rule)
		if i < 0 {
			return nil, nil
		}
		a := e.Alarm
		return twins.AlarmChanged{Rule: i, Kind: twins.AlarmTransitionKind(a.Kind), At: a.At, Actor: a.Actor, Message: a.Message, Until: a.Until, Reason: a.Reason, To: twins.AlarmState(a.To)}, nil
	case *pb.JournalEvent_RulePending:
		i := ruleIndex(model, e.RulePending.Rule)
		if i < 0 {
			return nil, nil
		}
		return twins.RulePending{Rule: i, Since: e.RulePending.Since}, nil
	case *pb.JournalEvent_Command:
		return twins.CommandChanged{Command: commandFromStored(e.Command.Command)}, nil
	case *pb.JournalEvent_RuleFired:
		rf := e.RuleFired
		out := twins.RuleFired{Rule: ruleIndex(model, rf.Rule), Target: rf.Target, Command: rf.Command, Message: rf.Message, At: rf.At}
		for _, a := range rf.Args {
			out.Args = append(out.Args, twins.CommandArg{Name: a.GetName(), Value: ValueFromProto(a.GetValue())})
		}
		return out, nil
	case *pb.JournalEvent_Watermark:
		return twins.WatermarkAdvanced{To: e.Watermark.To, At: e.Watermark.At}, nil
	}
	return nil, fmt.Errorf("actors: decode journal event: empty or unknown event")
}

// encodeSnapshot encodes a twin's whole state.
func encodeSnapshot(st *twins.State) ([]byte, error) {
	props := st.Spec.Model.Properties
	s := &pb.TwinSnapshot{
		Version:           st.Version,
		Model:             st.Spec.ModelName,
		Connectivity:      pb.Connectivity(st.Connectivity),
		ConnectivitySince: st.ConnectivitySince,
		Watermark:         st.Watermark,
		WatermarkAt:       st.WatermarkAt,
	}
	for i, r := range st.Reported {
		if r.Quality == twins.QualityUnknown {
			continue
		}
		s.Reported = append(s.Reported, &pb.StoredReported{Property: props[i].Name, Value: ValueToProto(r.Value), SourceTime: r.SourceTime, ServerTime: r.ServerTime, Quality: qualityToProto(r.Quality)})
	}
	for i, d := range st.Desired {
		if d.Value.IsZero() {
			continue
		}
		s.Desired = append(s.Desired, &pb.StoredDesired{Property: props[i].Name, Value: ValueToProto(d.Value), UpdateTime: d.UpdateTime, UpdatedBy: d.UpdatedBy})
	}
	for i, a := range st.Alarms {
		var pending int64
		if i < len(st.Pending) {
			pending = st.Pending[i]
		}
		if a.State == twins.AlarmNormal && a.RaisedAt == 0 && a.ShelvedUntil == 0 && pending == 0 {
			continue
		}
		s.Alarms = append(s.Alarms, &pb.StoredAlarm{
			Rule: a.Name, State: int32(a.State), Active: a.Active, RaisedAt: a.RaisedAt, ClearedAt: a.ClearedAt,
			AckedAt: a.AckedAt, AckedBy: a.AckedBy, ShelvedUntil: a.ShelvedUntil, ShelvedBy: a.ShelvedBy,
			ShelveReason: a.ShelveReason, Message: a.Message, PendingSince: pending,
		})
	}
	for i := range st.Commands {
		s.Commands = append(s.Commands, storedCommand(&st.Commands[i]))
	}
	s.CommandSeq = st.CommandSeq
	for _, w := range st.Windows {
		if len(w.Times) > 0 {
			s.Windows = append(s.Windows, &pb.StoredWindow{Property: props[w.Property].Name, Times: w.Times, Values: w.Values})
		}
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(s)
}

// decodeSnapshot restores a state from a snapshot into st (a fresh state).
func decodeSnapshot(st *twins.State, data []byte) error {
	var s pb.TwinSnapshot
	if err := proto.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("actors: decode snapshot of twin %s: %w", st.Spec.ID, err)
	}
	m := st.Spec.Model
	st.Version = s.Version
	st.Connectivity = twins.Connectivity(s.Connectivity)
	st.ConnectivitySince = s.ConnectivitySince
	st.Watermark, st.WatermarkAt = s.Watermark, s.WatermarkAt
	for _, r := range s.Reported {
		p, ok := m.Property(r.Property)
		if !ok {
			continue
		}
		st.Reported[p.Index] = twins.Reported{Value: ValueFromProto(r.Value), SourceTime: r.SourceTime, ServerTime: r.ServerTime, Quality: qualityFromProto(r.Quality)}
	}
	for _, d := range s.Desired {
		p, ok := m.Property(d.Property)
		if !ok {
			continue
		}
		if st.Desired == nil {
			st.Desired = make([]twins.Desired, len(m.Properties))
		}
		st.Desired[p.Index] = twins.Desired{Value: ValueFromProto(d.Value), UpdateTime: d.UpdateTime, UpdatedBy: d.UpdatedBy}
	}
	for _, a := range s.Alarms {
		i := ruleIndex(m, a.Rule)
		if i < 0 || i >= len(st.Alarms) {
			continue
		}
		al := &st.Alarms[i]
		al.State, al.Active = twins.AlarmState(a.State), a.Active
		al.RaisedAt, al.ClearedAt, al.AckedAt, al.AckedBy = a.RaisedAt, a.ClearedAt, a.AckedAt, a.AckedBy
		al.ShelvedUntil, al.ShelvedBy, al.ShelveReason, al.Message = a.ShelvedUntil, a.ShelvedBy, a.ShelveReason, a.Message
		st.Pending[i] = a.PendingSince
	}
	st.Commands = nil
	for _, c := range s.Commands {
		st.Commands = append(st.Commands, commandFromStored(c))
	}
	st.CommandSeq = s.CommandSeq
	for _, sw := range s.Windows {
		p, ok := m.Property(sw.Property)
		if !ok || len(sw.Times) != len(sw.Values) {
			continue
		}
		for i := range st.Windows {
			if st.Windows[i].Property == p.Index {
				st.Windows[i].Restore(sw.Times, sw.Values)
			}
		}
	}
	return nil
}

func ruleIndex(m *twins.Model, name string) int {
	for i := range m.Rules {
		if m.Rules[i].Name == name {
			return i
		}
	}
	return -1
}

func storedCommand(c *twins.CommandRecord) *pb.StoredCommand {
	sc := &pb.StoredCommand{
		Id: c.ID, Name: c.Name, Key: c.Key, Actor: c.Actor, Rule: c.Rule, Status: int32(c.Status),
		Created: c.Created, Dispatched: c.Dispatched, Completed: c.Completed, Deadline: c.Deadline,
		Expires: c.Expires, NextAttempt: c.NextAttempt, Attempts: int32(c.Attempts),
		TimeoutNanos: int64(c.Timeout), Error: c.Error, Property: c.Property, Acked: c.Acked,
	}
	for _, a := range c.Args {
		sc.Args = append(sc.Args, &pb.StoredArg{Name: a.Name, Value: ValueToProto(a.Value)})
	}
	return sc
}

func commandFromStored(sc *pb.StoredCommand) twins.CommandRecord {
	c := twins.CommandRecord{
		ID: sc.GetId(), Name: sc.GetName(), Key: sc.GetKey(), Actor: sc.GetActor(), Rule: sc.GetRule(),
		Status: twins.CommandStatus(sc.GetStatus()), Created: sc.GetCreated(), Dispatched: sc.GetDispatched(),
		Completed: sc.GetCompleted(), Deadline: sc.GetDeadline(), Expires: sc.GetExpires(),
		NextAttempt: sc.GetNextAttempt(), Attempts: int(sc.GetAttempts()), Timeout: time.Duration(sc.GetTimeoutNanos()),
		Error: sc.GetError(), Property: sc.GetProperty(), Acked: sc.GetAcked(),
	}
	for _, a := range sc.GetArgs() {
		c.Args = append(c.Args, twins.CommandArg{Name: a.GetName(), Value: ValueFromProto(a.GetValue())})
	}
	return c
}

// AlarmToProto renders a twin's alarm for the API; now (Unix nanoseconds)
// decides whether it is shelved.
func AlarmToProto(twinID string, a *twins.Alarm, now int64) *pb.Alarm {
	return &pb.Alarm{
		Id: twinID + "/" + a.Name, TwinId: twinID, Name: a.Name, Severity: a.Severity.String(), State: a.State.String(),
		Active: a.Active, Shelved: a.Shelved(now), RaisedAt: timestamp(a.RaisedAt), ClearedAt: timestamp(a.ClearedAt),
		AckedAt: timestamp(a.AckedAt), AckedBy: a.AckedBy, ShelvedUntil: timestamp(a.ShelvedUntil),
		ShelvedBy: a.ShelvedBy, ShelveReason: a.ShelveReason, Message: a.Message,
	}
}

// CommandToProto renders a twin's command for the API.
func CommandToProto(twinID string, c *twins.CommandRecord) *pb.Command {
	pc := &pb.Command{
		TwinId: twinID, Id: c.ID, Name: c.Name, Status: c.Status.String(), IdempotencyKey: c.Key, InvokedBy: c.Actor,
		CreatedAt: timestamp(c.Created), DispatchedAt: timestamp(c.Dispatched), CompletedAt: timestamp(c.Completed),
		Attempts: int32(c.Attempts), Error: c.Error, Property: c.Property, AckedAt: timestamp(c.Acked),
	}
	if c.Status == twins.CommandDispatched {
		pc.Deadline = timestamp(c.Deadline)
	}
	if !c.Status.Finished() {
		pc.ExpiresAt = timestamp(c.Expires)
	}
	if len(c.Args) > 0 {
		pc.Args = make(map[string]*pb.Value, len(c.Args))
		for _, a := range c.Args {
			pc.Args[a.Name] = ValueToProto(a.Value)
		}
	}
	return pc
}

// encodeHistoryValue encodes one history point's value.
func encodeHistoryValue(v twins.Value, q twins.Quality, serverTime int64) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(&pb.HistoryValue{Value: ValueToProto(v), Quality: qualityToProto(q), ServerTime: serverTime})
}

// ChangeToProto renders one applied event of a twin as a watch change.
// Stale samples (older than the reported value) are left out.
func ChangeToProto(spec *twins.Spec, version int64, ev twins.Event) *pb.TwinChange {
	c := &pb.TwinChange{TwinId: spec.ID, Version: version}
	props := spec.Model.Properties
	name := func(i int) (string, bool) {
		if i < 0 || i >= len(props) {
			return "", false
		}
		return props[i].Name, true
	}
	switch e := ev.(type) {
	case *twins.TelemetryApplied:
		return ChangeToProto(spec, version, *e)
	case *twins.ConnectivityChanged:
		return ChangeToProto(spec, version, *e)
	case *twins.DesiredSet:
		return ChangeToProto(spec, version, *e)
	case *twins.AlarmChanged:
		return ChangeToProto(spec, version, *e)
	case *twins.CommandChanged:
		return ChangeToProto(spec, version, *e)
	case twins.TelemetryApplied:
		c.Time = timestamp(e.ServerTime)
		for _, s := range e.Samples {
			n, ok := name(s.Property)
			if !ok || s.Stale {
				continue
			}
			if c.Reported == nil {
				c.Reported = make(map[string]*pb.PropertyValue, len(e.Samples))
			}
			c.Reported[n] = &pb.PropertyValue{Value: ValueToProto(s.Value), SourceTime: timestamp(s.SourceTime), ServerTime: timestamp(e.ServerTime), Quality: qualityToProto(s.Quality)}
		}
	case twins.ConnectivityChanged:
		c.Time = timestamp(e.Time)
		c.Connectivity = pb.Connectivity(e.Connectivity)
	case twins.DesiredSet:
		c.Time = timestamp(e.Time)
		if n, ok := name(e.Property); ok {
			c.Desired = map[string]*pb.DesiredValue{n: {Value: ValueToProto(e.Value), UpdateTime: timestamp(e.Time), UpdatedBy: e.Actor}}
		}
	case twins.CommandChanged:
		c.Time = timestamp(max(e.Command.Completed, e.Command.Dispatched, e.Command.Created))
		c.Command = CommandToProto(spec.ID, &e.Command)
		c.Actor = e.Command.Actor
	case twins.RuleFired:
		c.Time = timestamp(e.At)
		c.RuleEvent = describeRuleFired(spec, e)
	case twins.AlarmChanged:
		c.Time = timestamp(e.At)
		c.AlarmTransition = e.Kind.String()
		c.Actor = e.Actor
		if e.Rule >= 0 && e.Rule < len(spec.Model.Rules) {
			r := &spec.Model.Rules[e.Rule]
			c.Alarm = &pb.Alarm{
				Id: spec.ID + "/" + r.Name, TwinId: spec.ID, Name: r.Name, Severity: r.Severity.String(),
				State: e.To.String(), Active: e.To == twins.AlarmActiveUnacked || e.To == twins.AlarmActiveAcked,
				Message: e.Message, Shelved: e.Kind == twins.AlarmShelved, ShelvedUntil: timestamp(e.Until),
				ShelveReason: e.Reason,
			}
			switch e.Kind {
			case twins.AlarmRaised:
				c.Alarm.RaisedAt = timestamp(e.At)
			case twins.AlarmCleared:
				c.Alarm.ClearedAt = timestamp(e.At)
			case twins.AlarmAcknowledged:
				c.Alarm.AckedAt, c.Alarm.AckedBy = timestamp(e.At), e.Actor
			case twins.AlarmShelved:
				c.Alarm.ShelvedBy = e.Actor
			}
		}
	}
	return c
}

// describeRuleFired renders a RuleFired for watchers and the audit:
// "overheat: stop on parent", or the emitted message.
func describeRuleFired(spec *twins.Spec, e twins.RuleFired) string {
	rule := "?"
	if e.Rule >= 0 && e.Rule < len(spec.Model.Rules) {
		rule = spec.Model.Rules[e.Rule].Name
	}
	if e.Command == "" {
		return rule + ": " + e.Message
	}
	var b strings.Builder
	b.WriteString(rule + ": " + e.Command)
	for _, a := range e.Args {
		b.WriteString(" " + a.Name + "=" + a.Value.String())
	}
	b.WriteString(" on " + e.Target)
	return b.String()
}

// Journal event fields that identify the request an event ended
// (JournalEvent.request_id, request_accepted).
const (
	fieldRequestID       = 15
	fieldRequestAccepted = 16
)

// appendRequestID adds a request's id and accepted count to an encoded
// JournalEvent (protobuf fields concatenate: the message gains them).
func appendRequestID(data []byte, id uint64, accepted int32) []byte {
	data = protowire.AppendTag(data, fieldRequestID, protowire.VarintType)
	data = protowire.AppendVarint(data, id)
	data = protowire.AppendTag(data, fieldRequestAccepted, protowire.VarintType)
	return protowire.AppendVarint(data, uint64(accepted))
}

// requestIDOf reads an encoded JournalEvent's request id and accepted
// count (0, 0 when it has none or is malformed).
func requestIDOf(data []byte) (uint64, int32) {
	var id uint64
	var accepted int32
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return 0, 0
		}
		data = data[n:]
		if typ == protowire.VarintType && (num == fieldRequestID || num == fieldRequestAccepted) {
			v, m := protowire.ConsumeVarint(data)
			if m < 0 {
				return 0, 0
			}
			if num == fieldRequestID {
				id = v
			} else {
				accepted = int32(v)
			}
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return 0, 0
		}
		data = data[m:]
	}
	return id, accepted
}
