package actors

import (
	"fmt"
	"strings"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/twins"
	"google.golang.org/protobuf/proto"
)

// auditEntry returns the audit entry of an event someone or some rule
// caused — a command invoked or finished, a desired value set, an alarm
// raised, cleared, acknowledged, shelved or unshelved, a command asked of
// a related twin — or nil for the others (telemetry, connectivity, rule
// windows, which the journal and Watch show).
// now is the runtime's clock when the event was decided.
func auditEntry(m *twins.Model, ev twins.Event, now int64) *pb.AuditEntry {
	switch e := ev.(type) {
	case twins.CommandChanged:
		c := &e.Command
		created := c.Attempts == 0 && c.Created == now && (c.Status == twins.CommandPending || c.Status == twins.CommandFailed)
		if !created && !c.Status.Finished() {
			return nil
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", c.Name, c.ID)
		if created {
			for _, a := range c.Args {
				fmt.Fprintf(&b, " %s=%s", a.Name, a.Value)
			}
		}
		b.WriteString(": " + c.Status.String())
		if c.Error != "" {
			b.WriteString(" (" + c.Error + ")")
		}
		action := "command"
		if !created {
			action = "command_" + c.Status.String()
		}
		return &pb.AuditEntry{Time: timestamp(now), Actor: c.Actor, Action: action, Detail: b.String()}
	case twins.RuleFired:
		if e.Command == "" || e.Rule < 0 || e.Rule >= len(m.Rules) {
			return nil
		}
		return &pb.AuditEntry{Time: timestamp(now), Actor: "rule:" + m.Rules[e.Rule].Name, Action: "command_requested", Detail: describeRuleFired(&twins.Spec{Model: m}, e)}
	case twins.DesiredSet:
		name := "?"
		if e.Property >= 0 && e.Property < len(m.Properties) {
			name = m.Properties[e.Property].Name
		}
		return &pb.AuditEntry{Time: timestamp(e.Time), Actor: e.Actor, Action: "desired", Detail: name + "=" + e.Value.String()}
	case twins.AlarmChanged:
		if e.Rule < 0 || e.Rule >= len(m.Rules) {
			return nil
		}
		actor := e.Actor
		if actor == "" {
			// Raised or cleared by its rule: the alarm's history is kept
			// with the audit trail, which outlives the journal's tail.
			actor = "rule:" + m.Rules[e.Rule].Name
		}
		detail := m.Rules[e.Rule].Name + " → " + e.To.String()
		if e.Kind == twins.AlarmRaised && e.Message != "" {
			detail += ": " + e.Message
		}
		if e.Kind == twins.AlarmShelved {
			detail += " until " + time.Unix(0, e.Until).UTC().Format(time.RFC3339)
			if e.Reason != "" {
				detail += ": " + e.Reason
			}
		}
		return &pb.AuditEntry{Time: timestamp(e.At), Actor: actor, Action: e.Kind.String(), Detail: detail}
	}
	return nil
}

// ReadAudit returns twin id's audit trail after version after, oldest
// first, at most limit entries (0: all).
func (r *Runtime) ReadAudit(id string, after int64, limit int) ([]*pb.AuditEntry, error) {
	if _, ok := r.Twins().Twin(id); !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTwin, id)
	}
	var out []*pb.AuditEntry
	err := r.store.ReadAudit(id, after, limit, func(version int64, data []byte) error {
		var e pb.AuditEntry
		if err := proto.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("actors: audit of twin %s version %d: %w", id, version, err)
		}
		e.Version = version
		out = append(out, &e)
		return nil
	})
	return out, err
}
