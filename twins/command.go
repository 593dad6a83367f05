package twins

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Errors of the command operations; wrapped with details, use errors.Is.
var (
	ErrNoSuchCommand = errors.New("twins: no such command")
	ErrInvalidArgs   = errors.New("twins: invalid command arguments")
	ErrNoSuchAlarm   = errors.New("twins: no such alarm")
)

// CommandStatus is where a command is in its lifecycle:
//
//	pending --dispatch--> dispatched --answer--> succeeded | failed
//	pending <--retryable failure (device unreachable) -- dispatched
//	pending    --time-to-live ends--> timed_out
//	dispatched --deadline passes----> timed_out
//
// A command blocked by an interlock is failed at once.
type CommandStatus uint8

// The command statuses.
const (
	CommandPending CommandStatus = iota + 1
	CommandDispatched
	CommandSucceeded
	CommandFailed
	CommandTimedOut
)

var commandStatusNames = [...]string{
	CommandPending:    "pending",
	CommandDispatched: "dispatched",
	CommandSucceeded:  "succeeded",
	CommandFailed:     "failed",
	CommandTimedOut:   "timed_out",
}

// String returns "pending", "dispatched", "succeeded", "failed" or "timed_out".
func (s CommandStatus) String() string {
	if s > 0 && int(s) < len(commandStatusNames) {
		return commandStatusNames[s]
	}
	return "command_status(" + strconv.Itoa(int(s)) + ")"
}

// ParseCommandStatus parses the name returned by [CommandStatus.String].
func ParseCommandStatus(s string) (CommandStatus, error) {
	for st := CommandPending; int(st) < len(commandStatusNames); st++ {
		if commandStatusNames[st] == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("twins: unknown command status %q (want pending, dispatched, succeeded, failed or timed_out)", s)
}

// Finished reports whether s is final: succeeded, failed or timed out.
func (s CommandStatus) Finished() bool { return s >= CommandSucceeded }

// CommandArg is one argument of a command, in the order of the model's
// parameters.
type CommandArg struct {
	Name  string
	Value Value
}

// CommandRecord is one command of a twin as the twin journals it.
type CommandRecord struct {
	ID    string // "c1", "c2", ... per twin
	Name  string
	Args  []CommandArg
	Key   string // idempotency key given by the caller ("" none)
	Actor string // who invoked it: "token:alice", "rule:overheat"
	Rule  string // the rule whose action invoked it ("" : an API call)
	// Property is set for a write of a desired value (Name "write", one
	// argument: the value); it succeeds once the reported value reaches
	// the desired one within the property's tolerance.
	Property string
	Status   CommandStatus
	// Times are Unix nanoseconds on the runtime's clock.
	Created     int64
	Dispatched  int64 // of the last attempt
	Completed   int64
	Deadline    int64 // Timeout after each dispatch: a dispatched command unanswered then times out
	Expires     int64 // the time-to-live: a command not yet carried out then times out
	NextAttempt int64 // a pending command is dispatched from then on
	Attempts    int
	// Acked is when the device took the write of a desired value; from
	// then the twin waits until Deadline (acked + the property's settle)
	// for the reported value to reach it.
	Acked   int64
	Timeout time.Duration // per attempt
	Error   string        // why it failed or timed out
}

// Clone returns a copy of c that shares nothing with it.
func (c CommandRecord) Clone() CommandRecord {
	c.Args = append([]CommandArg(nil), c.Args...)
	return c
}

// Command defaults, used when InvokeCommand leaves them zero.
const (
	DefaultCommandTimeout = 10 * time.Second
	DefaultCommandTTL     = 60 * time.Second
	// MaxCommandAttempts bounds the dispatches of one command.
	MaxCommandAttempts = 5
	// keepFinishedCommands is how many finished commands a twin keeps
	// (with their idempotency keys); unfinished ones are always kept.
	keepFinishedCommands = 64
)

// InvokeCommand asks a twin to carry out one of its model's commands.
type InvokeCommand struct {
	Name    string
	Args    map[string]Value
	Key     string        // idempotency key: a repeated key returns the first command
	Actor   string        // who asks
	Timeout time.Duration // per attempt; 0: DefaultCommandTimeout
	TTL     time.Duration // how long it may wait for the device; 0: DefaultCommandTTL
}

// DispatchCommand records that the runtime hands command ID to the device.
type DispatchCommand struct{ ID string }

// CommandOutcome is the device's (or the connector's) answer to attempt
// Attempt of command ID. Err "" is success; Retry says the device could
// not be reached, so the command may be dispatched again before it expires.
type CommandOutcome struct {
	ID      string
	Attempt int
	Err     string
	Retry   bool
}

// AcknowledgeAlarm acknowledges the alarm of rule Name.
type AcknowledgeAlarm struct {
	Name  string
	Actor string
}

// ShelveAlarm shelves the alarm of rule Name until Until (Unix
// nanoseconds); Until 0 unshelves it.
type ShelveAlarm struct {
	Name   string
	Until  int64
	Actor  string
	Reason string
}

// Tick advances a twin's time without a sample: rule windows (for:) that
// end by Now close at their due event time, shelves run out, command
// deadlines and time-to-live pass. Restarted, on the first tick after the
// twin was recovered, fails commands that were dispatched when the runtime
// stopped: their outcome is unknown and they are not sent twice.
type Tick struct {
	Now       int64
	Restarted bool
}

// CommandByKey returns the command invoked with idempotency key k.
func (s *State) CommandByKey(k string) (*CommandRecord, bool) {
	if k == "" {
		return nil, false
	}
	for i := range s.Commands {
		if s.Commands[i].Key == k {
			return &s.Commands[i], true
		}
	}
	return nil, false
}

// Command returns the command with id.
func (s *State) Command(id string) (*CommandRecord, bool) {
	for i := range s.Commands {
		if s.Commands[i].ID == id {
			return &s.Commands[i], true
		}
	}
	return nil, false
}

// Alarm returns the alarm of the rule called name.
func (s *State) Alarm(name string) (*Alarm, bool) {
	for i := range s.Alarms {
		if s.Alarms[i].Name == name {
			return &s.Alarms[i], true
		}
	}
	return nil, false
}

// newCommand validates an invocation of the model's command and returns
// its record (ID and status not set). Arguments are coerced to the
// parameters' types and ordered as the model declares them.
func (s *State) newCommand(name string, args map[string]Value) (CommandRecord, error) {
	m := s.Spec.Model
	def, ok := m.Command(name)
	if !ok {
		have := make([]string, len(m.Commands))
		for i := range m.Commands {
			have[i] = m.Commands[i].Name
		}
		return CommandRecord{}, fmt.Errorf("%w: %q on twin %s (model %s has: %s)", ErrNoSuchCommand, name, s.Spec.ID, m.Name, orNone(have))
	}
	rec := CommandRecord{Name: name}
	for n := range args {
		found := false
		for _, p := range def.Parameters {
			if p.Name == n {
				found = true
				break
			}
		}
		if !found {
			names := make([]string, len(def.Parameters))
			for i, p := range def.Parameters {
				names[i] = p.Name
			}
			return CommandRecord{}, fmt.Errorf("%w: command %s has no parameter %q (it has: %s)", ErrInvalidArgs, name, n, orNone(names))
		}
	}
	for _, p := range def.Parameters {
		v, ok := args[p.Name]
		if !ok {
			if p.Required {
				return CommandRecord{}, fmt.Errorf("%w: command %s: missing required argument %s (%s)", ErrInvalidArgs, name, p.Name, p.Type)
			}
			continue
		}
		r := valueRule{typ: p.Type, unit: p.Unit, enum: p.Enum, min: p.Min, max: p.Max}
		cv, reason, detail := r.coerce(v)
		if reason != 0 {
			return CommandRecord{}, fmt.Errorf("%w: command %s argument %s: %s", ErrInvalidArgs, name, p.Name, detail)
		}
		rec.Args = append(rec.Args, CommandArg{Name: p.Name, Value: cv})
	}
	return rec, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// interlock returns the rule blocking command name now, if any: a rule
// that lists the command in Blocks and whose alarm is active.
func (s *State) interlock(name string) (*Rule, *Alarm) {
	rules := s.Spec.Model.Rules
	for i := range rules {
		if i >= len(s.Alarms) || !s.Alarms[i].Active {
			continue
		}
		for _, b := range rules[i].Blocks {
			if b == name {
				return &rules[i], &s.Alarms[i]
			}
		}
	}
	return nil, nil
}

// commandID returns the ID of the k-th command created by the decision
// being built (k from 0).
func (s *State) commandID(k int) string {
	return "c" + strconv.FormatInt(s.CommandSeq+int64(k)+1, 10)
}

// decideInvoke builds the events of an InvokeCommand. A repeated
// idempotency key returns the first command and no event.
func (s *State) decideInvoke(c *InvokeCommand, now int64, created int) (Decision, error) {
	if prev, ok := s.CommandByKey(c.Key); ok {
		if prev.Name != c.Name {
			return Decision{}, fmt.Errorf("%w: idempotency key %q was used for command %s (%s), not %s", ErrInvalidArgs, c.Key, prev.ID, prev.Name, c.Name)
		}
		rec := prev.Clone()
		return Decision{Command: &rec}, nil
	}
	rec, err := s.newCommand(c.Name, c.Args)
	if err != nil {
		return Decision{}, err
	}
	rec.Key, rec.Actor = c.Key, c.Actor
	s.initCommand(&rec, now, c.Timeout, c.TTL, created)
	return Decision{Events: []Event{CommandChanged{Command: rec}}, Command: &rec}, nil
}

// initCommand fills ID, times and status of a new command; an interlock
// fails it at once with the reason.
func (s *State) initCommand(rec *CommandRecord, now int64, timeout, ttl time.Duration, created int) {
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	if ttl <= 0 {
		ttl = DefaultCommandTTL
	}
	rec.ID = s.commandID(created)
	rec.Created, rec.NextAttempt, rec.Timeout = now, now, timeout
	rec.Expires = now + int64(ttl)
	rec.Status = CommandPending
	if r, a := s.interlock(rec.Name); r != nil {
		rec.Status, rec.Completed = CommandFailed, now
		rec.Error = "blocked by interlock " + r.Name + " (" + a.Message + ")"
	}
}

func (s *State) decideDispatch(c DispatchCommand, now int64) (Decision, error) {
	rec, ok := s.Command(c.ID)
	if !ok {
		return Decision{}, fmt.Errorf("%w: %s on twin %s", ErrNoSuchCommand, c.ID, s.Spec.ID)
	}
	if rec.Status != CommandPending {
		return Decision{}, nil
	}
	n := rec.Clone()
	if r, a := s.interlock(n.Name); r != nil {
		n.Status, n.Completed = CommandFailed, now
		n.Error = "blocked by interlock " + r.Name + " (" + a.Message + ")"
		return Decision{Events: []Event{CommandChanged{Command: n}}, Command: &n}, nil
	}
	n.Status, n.Dispatched, n.Acked = CommandDispatched, now, 0
	n.Attempts++
	n.Deadline = now + int64(n.Timeout)
	return Decision{Events: []Event{CommandChanged{Command: n}}, Command: &n}, nil
}

// retryBackoff is the wait before dispatch attempt n+1 (n >= 1).
func retryBackoff(n int) time.Duration {
	d := 250 * time.Millisecond << min(n-1, 5)
	return min(d, 5*time.Second)
}

func (s *State) decideOutcome(c CommandOutcome, now int64) (Decision, error) {
	rec, ok := s.Command(c.ID)
	if !ok {
		return Decision{}, fmt.Errorf("%w: %s on twin %s", ErrNoSuchCommand, c.ID, s.Spec.ID)
	}
	if rec.Status != CommandDispatched || rec.Attempts != c.Attempt || rec.Acked != 0 {
		return Decision{}, nil // a late or repeated answer to an attempt already decided
	}
	n := rec.Clone()
	switch {
	case c.Err == "" && n.Property != "":
		// The device took the write: now the reported value has to
		// reach the desired one within the property's settle time.
		n.Acked, n.Error = now, ""
		settle := DefaultSettle
		if p, ok := s.Spec.Model.Property(n.Property); ok && p.Settle > 0 {
			settle = p.Settle
		}
		n.Deadline = now + int64(settle)
		if s.writeReached(&n) {
			n.Status, n.Completed = CommandSucceeded, now
		}
	case c.Err == "":
		n.Status, n.Completed, n.Error = CommandSucceeded, now, ""
	case c.Retry && n.Attempts < MaxCommandAttempts && now+int64(retryBackoff(n.Attempts)) < n.Expires:
		n.Status, n.Error = CommandPending, c.Err
		n.NextAttempt = now + int64(retryBackoff(n.Attempts))
	default:
		n.Status, n.Completed, n.Error = CommandFailed, now, c.Err
		if c.Retry {
			n.Error = fmt.Sprintf("%s (gave up after %d attempts)", c.Err, n.Attempts)
		}
	}
	return Decision{Events: []Event{CommandChanged{Command: n}}, Command: &n}, nil
}

// ReadyCommands returns the IDs of the pending commands that may be
// dispatched at now: due, and the device not known to be offline.
func (s *State) ReadyCommands(now int64) []string {
	if s.Connectivity == ConnectivityOffline {
		return nil
	}
	var ids []string
	for i := range s.Commands {
		c := &s.Commands[i]
		if c.Status == CommandPending && c.NextAttempt <= now && now < c.Expires {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// tickCommands times out commands whose deadline or time-to-live passed
// by now; restarted fails the dispatched ones (outcome unknown).
func (s *State) tickCommands(now int64, restarted bool) []Event {
	var evs []Event
	for i := range s.Commands {
		c := &s.Commands[i]
		switch {
		case c.Status == CommandDispatched && c.Acked != 0 && now >= c.Deadline:
			// A write the device took, whose reported value did not
			// reach the desired one in time: write again, or give up.
			n := c.Clone()
			p, _ := s.Spec.Model.Property(c.Property)
			got := "nothing"
			if p != nil && s.Reported[p.Index].Quality != QualityUnknown {
				got = s.Reported[p.Index].Value.String()
			}
			why := fmt.Sprintf("reported %s %s, want %s", c.Property, got, c.Args[0].Value)
			if p != nil && p.Tolerance > 0 {
				why += fmt.Sprintf(" ± %g", p.Tolerance)
			}
			if n.Attempts < MaxCommandAttempts && now < n.Expires {
				n.Status, n.NextAttempt, n.Error = CommandPending, now, why+" after the write; writing again"
			} else {
				n.Status, n.Completed = CommandFailed, now
				n.Error = fmt.Sprintf("%s after %d writes; gave up", why, n.Attempts)
			}
			evs = append(evs, CommandChanged{Command: n})
		case c.Status == CommandDispatched && c.Acked != 0:
			// Waiting for the reported value; a restart does not lose it.
		case c.Status == CommandDispatched && restarted:
			n := c.Clone()
			n.Status, n.Completed = CommandFailed, now
			n.Error = "outcome unknown: the runtime stopped while the command was with the device; not sent again"
			evs = append(evs, CommandChanged{Command: n})
		case c.Status == CommandDispatched && now >= c.Deadline:
			n := c.Clone()
			n.Status, n.Completed = CommandTimedOut, now
			n.Error = "no answer from the device within " + c.Timeout.String()
			evs = append(evs, CommandChanged{Command: n})
		case c.Status == CommandPending && now >= c.Expires:
			n := c.Clone()
			n.Status, n.Completed = CommandTimedOut, now
			why := "not carried out within its time-to-live"
			if s.Connectivity == ConnectivityOffline {
				why += ": the device is offline"
			}
			if c.Error != "" {
				why += " (last error: " + c.Error + ")"
			}
			n.Error = why
			evs = append(evs, CommandChanged{Command: n})
		}
	}
	return evs
}

// applyCommand folds a CommandChanged into s.
func (s *State) applyCommand(e *CommandChanged) {
	for i := range s.Commands {
		if s.Commands[i].ID == e.Command.ID {
			s.Commands[i] = e.Command.Clone()
			if e.Command.Status.Finished() {
				s.trimCommands()
			}
			return
		}
	}
	s.Commands = append(s.Commands, e.Command.Clone())
	if n, err := strconv.ParseInt(strings.TrimPrefix(e.Command.ID, "c"), 10, 64); err == nil && n > s.CommandSeq {
		s.CommandSeq = n
	}
	s.trimCommands()
}

// trimCommands drops the oldest finished commands beyond keepFinishedCommands.
func (s *State) trimCommands() {
	finished := 0
	for i := range s.Commands {
		if s.Commands[i].Status.Finished() {
			finished++
		}
	}
	if finished <= keepFinishedCommands {
		return
	}
	drop := finished - keepFinishedCommands
	kept := s.Commands[:0]
	for _, c := range s.Commands {
		if drop > 0 && c.Status.Finished() {
			drop--
			continue
		}
		kept = append(kept, c)
	}
	clear(s.Commands[len(kept):])
	s.Commands = kept
}
