package twins

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Handle decides cmd at now (Unix nanoseconds on the runtime's clock),
// applies the resulting events to s, evaluates the model's rules on the
// new state and applies what they decide. It returns every event applied,
// in order, so that event i took version (s.Version before) + i + 1.
//
// cmd is one of the commands [State.Decide] takes, or an InvokeCommand,
// DispatchCommand, CommandOutcome, AcknowledgeAlarm, ShelveAlarm or Tick
// (values or pointers). Rules are evaluated after telemetry and after a
// Tick, at event time: the twin's watermark (the newest source time), so
// that the same samples give the same decisions at the same event times
// whenever they are replayed. On error s is unchanged.
func (s *State) Handle(cmd any, now int64) (Decision, error) {
	switch c := cmd.(type) {
	case *ApplyTelemetry:
		return s.handleTelemetry(c, now), nil
	case ApplyTelemetry:
		return s.handleTelemetry(&c, now), nil
	case *InvokeCommand:
		return s.apply(s.decideInvoke(c, now, 0))
	case InvokeCommand:
		return s.apply(s.decideInvoke(&c, now, 0))
	case DispatchCommand:
		return s.apply(s.decideDispatch(c, now))
	case CommandOutcome:
		return s.apply(s.decideOutcome(c, now))
	case AcknowledgeAlarm:
		return s.apply(s.decideAck(c, now))
	case ShelveAlarm:
		return s.apply(s.decideShelve(c, now))
	case Tick:
		return s.handleTick(c), nil
	case ChildReport:
		return s.handleChildReport(c, now), nil
	case SetConnectivity:
		return s.handleConnectivity(c, now)
	case *SetConnectivity:
		return s.handleConnectivity(*c, now)
	case SetDesired:
		return s.handleDesired(&c, now, "")
	case *SetDesired:
		return s.handleDesired(c, now, "")
	}
	return s.apply(s.Decide(cmd, now))
}

// handleConnectivity records a change of reachability and evaluates the
// rules (a condition may read online) at the twin's event time now.
func (s *State) handleConnectivity(c SetConnectivity, now int64) (Decision, error) {
	d, err := s.apply(s.decideConnectivity(c, now))
	if err != nil || len(d.Events) == 0 || len(s.Spec.Model.Rules) == 0 {
		return d, err
	}
	d.Events = append(d.Events, s.evaluate(nil, nil, s.EventTime(now), now)...)
	return d, nil
}

// handleDesired sets a desired value and, to reconcile it, supersedes the
// property's unfinished write and creates a new one (on behalf of rule,
// if a rule's action set it).
func (s *State) handleDesired(c *SetDesired, now int64, rule string) (Decision, error) {
	d, err := s.apply(s.decideDesired(c, now))
	if err != nil || !c.Reconcile || len(d.Events) == 0 {
		return d, err
	}
	ds := d.Events[0].(DesiredSet)
	prop := &s.Spec.Model.Properties[ds.Property]
	id := s.commandID(0)
	for i := range s.Commands {
		old := &s.Commands[i]
		if old.Property == prop.Name && !old.Status.Finished() {
			n := old.Clone()
			n.Status, n.Completed, n.Error = CommandFailed, now, "superseded by "+id+" (a newer desired value)"
			s.Apply(CommandChanged{Command: n})
			d.Events = append(d.Events, CommandChanged{Command: n})
		}
	}
	rec := CommandRecord{Name: "write", Property: prop.Name, Args: []CommandArg{{Name: prop.Name, Value: ds.Value}}, Actor: c.Actor, Rule: rule}
	s.initCommand(&rec, now, 0, 0, 0)
	ev := CommandChanged{Command: rec}
	s.Apply(ev)
	d.Events = append(d.Events, ev)
	d.Command = &rec
	return d, nil
}

// verifyWrites finishes the acknowledged writes of desired values whose
// reported value has reached the desired one.
func (s *State) verifyWrites(now int64) []Event {
	var evs []Event
	for i := range s.Commands {
		c := &s.Commands[i]
		if c.Property == "" || c.Status != CommandDispatched || c.Acked == 0 {
			continue
		}
		if s.writeReached(c) {
			n := c.Clone()
			n.Status, n.Completed, n.Error = CommandSucceeded, now, ""
			evs = append(evs, CommandChanged{Command: n})
		}
	}
	for _, ev := range evs {
		s.Apply(ev)
	}
	return evs
}

// writeReached reports whether the reported value of c's property is the
// value c wrote, within the property's tolerance.
func (s *State) writeReached(c *CommandRecord) bool {
	p, ok := s.Spec.Model.Property(c.Property)
	if !ok || len(c.Args) == 0 {
		return false
	}
	r := s.Reported[p.Index]
	return r.Quality != QualityUnknown && p.InSync(c.Args[0].Value, r.Value)
}

// apply folds d's events into s (unless err) and returns d.
func (s *State) apply(d Decision, err error) (Decision, error) {
	if err != nil {
		return Decision{}, err
	}
	for _, ev := range d.Events {
		s.Apply(ev)
	}
	return d, nil
}

func (s *State) handleTelemetry(c *ApplyTelemetry, now int64) Decision {
	var prev []Reported
	if len(s.Spec.Model.Rules) > 0 {
		prev = append(prev, s.Reported...)
	}
	d := s.decideTelemetry(c, now)
	if len(d.Events) == 0 || prev == nil {
		for _, ev := range d.Events {
			s.Apply(ev)
		}
		if len(d.Events) > 0 && len(s.Commands) > 0 {
			d.Events = append(d.Events, s.verifyWrites(now)...)
		}
		return d
	}
	// With rules, a batch spanning several source times is applied and
	// judged one source time at a time, so that a for: window opens at
	// the first sample that meets the condition, not at the batch's end.
	ta := d.Events[0].(TelemetryApplied)
	var evs []Event
	var buf [maxStackProps]bool
	var touched []bool
	if n := len(s.Reported); n <= maxStackProps {
		touched = buf[:n]
	} else {
		touched = make([]bool, n)
	}
	parts := splitBySourceTime(ta)
	for i, part := range parts {
		if i > 0 {
			prev = append(prev[:0], s.Reported...) // the values before this part
		}
		s.Apply(part)
		evs = append(evs, part)
		clear(touched)
		for _, a := range part.Samples {
			if a.Property >= 0 && a.Property < len(touched) {
				touched[a.Property] = true
			}
		}
		evs = append(evs, s.evaluate(prev, touched, s.Watermark, now)...)
	}
	if len(s.Commands) > 0 {
		evs = append(evs, s.verifyWrites(now)...)
	}
	d.Events = evs
	return d
}

// splitBySourceTime returns e's samples as one event per source time,
// oldest first (e itself when they share one).
func splitBySourceTime(e TelemetryApplied) []TelemetryApplied {
	same := true
	for i := 1; i < len(e.Samples); i++ {
		if e.Samples[i].SourceTime != e.Samples[0].SourceTime {
			same = false
			break
		}
	}
	if same {
		return []TelemetryApplied{e}
	}
	sorted := append([]AppliedSample(nil), e.Samples...)
	slices.SortStableFunc(sorted, func(a, b AppliedSample) int { return cmp.Compare(a.SourceTime, b.SourceTime) })
	var parts []TelemetryApplied
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].SourceTime == sorted[i].SourceTime {
			j++
		}
		parts = append(parts, TelemetryApplied{Samples: sorted[i:j:j], ServerTime: e.ServerTime})
		i = j
	}
	return parts
}

// handleTick closes the rule windows due by t.Now (each at its own due
// event time), ends run-out shelves and times out commands.
func (s *State) handleTick(t Tick) Decision {
	var d Decision
	eventNow := s.EventTime(t.Now)
	for range len(s.Pending) + 1 {
		rule, due := s.nextRuleDue()
		if rule < 0 || due > eventNow {
			break
		}
		if due > s.Watermark {
			ev := WatermarkAdvanced{To: due, At: s.WatermarkAt + (due - s.Watermark)}
			s.Apply(ev)
			d.Events = append(d.Events, ev)
		}
		// The rule's inputs have not changed since its window opened
		// (else it would have been evaluated, and raised or closed it):
		// it decides at the window's end.
		evs := s.evaluateRule(rule, due, t.Now)
		if len(evs) == 0 {
			break
		}
		d.Events = append(d.Events, evs...)
	}
	for i := range s.Alarms {
		a := s.Alarms[i]
		if tr, ok := a.Expire(t.Now); ok {
			ev := s.withTo(AlarmChanged{Rule: i, Kind: AlarmUnshelved, At: tr.At, Actor: tr.Actor})
			s.Apply(ev)
			d.Events = append(d.Events, ev)
		}
	}
	for _, ev := range s.tickCommands(t.Now, t.Restarted) {
		s.Apply(ev)
		d.Events = append(d.Events, ev)
	}
	return d
}

// EventTime returns the twin's event time at runtime-clock time now: the
// watermark moved on by the time since the runtime reached it, so that a
// device whose clock runs behind (or ahead of) the runtime's keeps its
// offset while it is quiet.
func (s *State) EventTime(now int64) int64 {
	if s.WatermarkAt == 0 {
		return max(s.Watermark, now)
	}
	return s.Watermark + max(now-s.WatermarkAt, 0)
}

// ruleDue returns the earliest event time at which an open for: window
// ends, 0 if none.
func (s *State) ruleDue() int64 {
	_, due := s.nextRuleDue()
	return due
}

// nextRuleDue returns the rule whose open for: window ends first and
// when (event time); -1, 0 if none.
func (s *State) nextRuleDue() (int, int64) {
	rule, due := -1, int64(0)
	rules := s.Spec.Model.Rules
	for i, since := range s.Pending {
		if since == 0 || i >= len(rules) {
			continue
		}
		if d := since + int64(rules[i].For); rule < 0 || d < due {
			rule, due = i, d
		}
	}
	return rule, due
}

// Due returns the earliest time (Unix nanoseconds) at which a [Tick] would
// change something without any other input — a for: window ending, a
// shelve running out, a command's deadline or time-to-live passing — or
// at which a retried command may be dispatched again; 0 if none. A twin
// with a due time must not be forgotten while idle: the runtime keeps it
// active or wakes it then.
func (s *State) Due() int64 {
	due := s.ruleDue()
	if due != 0 && s.WatermarkAt != 0 {
		due = s.WatermarkAt + (due - s.Watermark) // on the runtime's clock
	}
	earlier := func(t int64) {
		if t != 0 && (due == 0 || t < due) {
			due = t
		}
	}
	for i := range s.Alarms {
		earlier(s.Alarms[i].ShelvedUntil)
	}
	for i := range s.Commands {
		c := &s.Commands[i]
		switch c.Status {
		case CommandDispatched:
			earlier(c.Deadline)
		case CommandPending:
			earlier(c.Expires)
			if s.Connectivity != ConnectivityOffline {
				earlier(c.NextAttempt)
			}
		}
	}
	return due
}

// evaluate runs every rule on the state at event time at (prev: the
// reported values before the telemetry being decided, nil when none),
// applies the resulting events and returns them. Commands the rules invoke
// take their deadlines from now, the runtime's clock.
//
// touched marks the properties the update being decided reported (nil:
// every rule is evaluated); a rule that reads none of them, and no window
// function, decides as it did before and is skipped — a for: window it has
// open still ends on time through Tick.
func (s *State) evaluate(prev []Reported, touched []bool, at, now int64) []Event {
	rules := s.Spec.Model.Rules
	if len(rules) == 0 || len(s.Alarms) != len(rules) {
		return nil
	}
	var evs []Event
	vars := RuleInput{State: s, Prev: prev}.activation(at)
	for i := range rules {
		if rules[i].reads(touched) {
			evs = s.stepRule(evs, vars, i, at, now)
		}
	}
	return evs
}

// evaluateRule evaluates rule i alone at event time at.
func (s *State) evaluateRule(i int, at, now int64) []Event {
	if i < 0 || i >= len(s.Spec.Model.Rules) || len(s.Alarms) != len(s.Spec.Model.Rules) {
		return nil
	}
	return s.stepRule(nil, RuleInput{State: s}.activation(at), i, at, now)
}

// stepRule evaluates rule i on vars at event time at, applies what it
// decides and appends the events to evs.
func (s *State) stepRule(evs []Event, vars *ruleVars, i int, at, now int64) []Event {
	add := func(ev Event) {
		s.Apply(ev)
		evs = append(evs, ev)
	}
	r := &s.Spec.Model.Rules[i]
	out, rs := r.step(vars, RuleState{PendingSince: s.Pending[i]}, s.Alarms[i].Active, at)
	switch out.Action {
	case RuleRaise:
		add(s.withTo(AlarmChanged{Rule: i, Kind: AlarmRaised, At: at, Message: out.Message}))
		for _, act := range r.Actions {
			evs = append(evs, s.action(r, act, at, now)...)
		}
	case RuleClear:
		add(s.withTo(AlarmChanged{Rule: i, Kind: AlarmCleared, At: at}))
	default:
		if rs.PendingSince != s.Pending[i] {
			add(RulePending{Rule: i, Since: rs.PendingSince})
		}
	}
	return evs
}

// action applies one rule action and returns its events; none when the
// action cannot run against this twin's model (the configuration checks
// it, so only a changed model gets here). A desired value on a property a
// connector writes is reconciled as one set through the API is.
func (s *State) action(r *Rule, act Action, at, now int64) []Event {
	actor := "rule:" + r.Name
	if act.Emit != "" || act.Target != "" {
		ev := RuleFired{Rule: s.ruleIndex(r), Target: act.Target, Command: act.Command, At: at}
		if act.Emit != "" {
			ev.Message = substitute(s, act.Emit)
		}
		names := make([]string, 0, len(act.Args))
		for n := range act.Args {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			ev.Args = append(ev.Args, CommandArg{Name: n, Value: act.Args[n]})
		}
		s.Apply(ev)
		return []Event{ev}
	}
	if act.Command != "" {
		rec, err := s.newCommand(act.Command, act.Args)
		if err != nil {
			return nil
		}
		rec.Actor, rec.Rule = actor, r.Name
		s.initCommand(&rec, now, 0, 0, 0)
		ev := CommandChanged{Command: rec}
		s.Apply(ev)
		return []Event{ev}
	}
	reconcile := s.Reconcile != nil && s.Reconcile(act.Property)
	d, err := s.handleDesired(&SetDesired{Property: act.Property, Value: act.Value, Actor: actor, Reconcile: reconcile}, now, r.Name)
	if err != nil {
		return nil
	}
	return d.Events
}

func (s *State) ruleIndex(r *Rule) int {
	rules := s.Spec.Model.Rules
	for i := range rules {
		if &rules[i] == r {
			return i
		}
	}
	return -1
}

func (s *State) alarmIndex(name string) (int, error) {
	for i := range s.Alarms {
		if s.Alarms[i].Name == name {
			return i, nil
		}
	}
	names := make([]string, len(s.Alarms))
	for i := range s.Alarms {
		names[i] = s.Alarms[i].Name
	}
	return -1, fmt.Errorf("%w: %q on twin %s (its alarms: %s)", ErrNoSuchAlarm, name, s.Spec.ID, orNone(names))
}

func (s *State) decideAck(c AcknowledgeAlarm, now int64) (Decision, error) {
	i, err := s.alarmIndex(c.Name)
	if err != nil {
		return Decision{}, err
	}
	a := s.Alarms[i]
	if _, err := a.Acknowledge(now, c.Actor); err != nil {
		return Decision{}, fmt.Errorf("%w on twin %s", err, s.Spec.ID)
	}
	return Decision{Events: []Event{s.withTo(AlarmChanged{Rule: i, Kind: AlarmAcknowledged, At: now, Actor: c.Actor})}, Alarm: &a}, nil
}

func (s *State) decideShelve(c ShelveAlarm, now int64) (Decision, error) {
	i, err := s.alarmIndex(c.Name)
	if err != nil {
		return Decision{}, err
	}
	a := s.Alarms[i]
	if c.Until == 0 {
		if _, ok := a.Unshelve(now, c.Actor); !ok {
			return Decision{Alarm: &a}, nil
		}
		return Decision{Events: []Event{s.withTo(AlarmChanged{Rule: i, Kind: AlarmUnshelved, At: now, Actor: c.Actor})}, Alarm: &a}, nil
	}
	if _, err := a.Shelve(now, c.Until, c.Actor, c.Reason); err != nil {
		return Decision{}, fmt.Errorf("%w on twin %s", err, s.Spec.ID)
	}
	return Decision{Events: []Event{s.withTo(AlarmChanged{Rule: i, Kind: AlarmShelved, At: now, Actor: c.Actor, Until: c.Until, Reason: c.Reason})}, Alarm: &a}, nil
}

// Delta returns desired minus reported for a numeric writable property
// with a desired value, and whether it is within tolerance tol; ok false
// when there is nothing to compare.
func (s *State) Delta(prop int, tol float64) (delta float64, inSync, ok bool) {
	if s.Desired == nil || prop < 0 || prop >= len(s.Desired) || s.Desired[prop].Value.IsZero() {
		return 0, false, false
	}
	d, r := s.Desired[prop].Value, s.Reported[prop]
	if r.Quality == QualityUnknown {
		return 0, false, true
	}
	switch d.Type() {
	case TypeInt, TypeDouble:
		delta = d.AsDouble() - r.Value.AsDouble()
		return delta, math.Abs(delta) <= tol, true
	}
	return 0, d.Equal(r.Value), true
}
