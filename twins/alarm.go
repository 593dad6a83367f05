package twins

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by the operations of an [Alarm]. They are wrapped with
// details; use errors.Is.
var (
	// ErrNothingToAcknowledge is returned by [Alarm.Acknowledge] in
	// AlarmNormal and AlarmActiveAcked.
	ErrNothingToAcknowledge = errors.New("twins: nothing to acknowledge")
	// ErrInvalidShelve is returned by [Alarm.Shelve] when the shelve would
	// not last: until is not after at.
	ErrInvalidShelve = errors.New("twins: invalid shelve")
)

// AlarmState is an alarm's state in the ISA-18.2 lifecycle. Shelving is not
// a state: a shelved alarm keeps tracking its condition (see [Alarm]).
type AlarmState uint8

// The alarm states. The zero AlarmState is AlarmNormal.
const (
	AlarmNormal         AlarmState = iota // condition clear, nothing to acknowledge
	AlarmActiveUnacked                    // condition active, not acknowledged
	AlarmActiveAcked                      // condition active, acknowledged
	AlarmClearedUnacked                   // condition clear again, not acknowledged (return to normal unacknowledged)
)

var alarmStateNames = [...]string{
	AlarmNormal:         "normal",
	AlarmActiveUnacked:  "active_unacked",
	AlarmActiveAcked:    "active_acked",
	AlarmClearedUnacked: "cleared_unacked",
}

// String returns the snake_case name of s: "normal", "active_unacked",
// "active_acked" or "cleared_unacked".
func (s AlarmState) String() string {
	if int(s) < len(alarmStateNames) {
		return alarmStateNames[s]
	}
	return "alarm_state(" + strconv.Itoa(int(s)) + ")"
}

// ParseAlarmState parses the name returned by [AlarmState.String].
func ParseAlarmState(s string) (AlarmState, error) {
	for st := AlarmNormal; int(st) < len(alarmStateNames); st++ {
		if alarmStateNames[st] == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("twins: unknown alarm state %q (want normal, active_unacked, active_acked or cleared_unacked)", s)
}

// Severity is the priority of an alarm, as configured on its rule.
type Severity uint8

// The severities, from least to most urgent. The zero Severity is not a
// valid severity.
const (
	SeverityLow Severity = iota + 1
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{
	SeverityLow:      "low",
	SeverityMedium:   "medium",
	SeverityHigh:     "high",
	SeverityCritical: "critical",
}

// String returns the configuration name of s: "low", "medium", "high" or
// "critical".
func (s Severity) String() string {
	if s > 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// ParseSeverity parses a severity name as written in the configuration.
func ParseSeverity(s string) (Severity, error) {
	for sv := SeverityLow; int(sv) < len(severityNames); sv++ {
		if severityNames[sv] == s {
			return sv, nil
		}
	}
	return 0, fmt.Errorf("twins: unknown severity %q (want low, medium, high or critical)", s)
}

// AlarmTransitionKind is the operation an [AlarmTransition] records.
type AlarmTransitionKind uint8

// The transition kinds. The zero AlarmTransitionKind is the zero
// [AlarmTransition], returned when an operation changed nothing.
const (
	AlarmRaised AlarmTransitionKind = iota + 1
	AlarmCleared
	AlarmAcknowledged
	AlarmShelved
	AlarmUnshelved
)

var alarmTransitionKindNames = [...]string{
	AlarmRaised:       "raised",
	AlarmCleared:      "cleared",
	AlarmAcknowledged: "acknowledged",
	AlarmShelved:      "shelved",
	AlarmUnshelved:    "unshelved",
}

// String returns "raised", "cleared", "acknowledged", "shelved" or
// "unshelved"; "none" for the zero AlarmTransitionKind.
func (k AlarmTransitionKind) String() string {
	if k == 0 {
		return "none"
	}
	if int(k) < len(alarmTransitionKindNames) {
		return alarmTransitionKindNames[k]
	}
	return "alarm_transition_kind(" + strconv.Itoa(int(k)) + ")"
}

// shelveExpiryActor is the Actor of the transition made by [Alarm.Expire].
const shelveExpiryActor = "shelve-expiry"

// AlarmTransition is what one operation on an [Alarm] did: the states From
// and To (equal for shelving and unshelving) and whether the alarm is
// annunciated (shown to operators) after it. Operations that change nothing
// return the zero AlarmTransition.
type AlarmTransition struct {
	Name        string // the alarm's name
	From, To    AlarmState
	Kind        AlarmTransitionKind
	At          int64  // Unix nanoseconds, the time given to the operation
	Actor       string // who did it, e.g. "token:alice"; "shelve-expiry" for Expire; empty for Raise and Clear
	Annunciated bool   // [Alarm.Annunciated] at At, after the operation
}

// Alarm is one alarm of a twin (one per rule), as the twin keeps it.
//
// Its operations follow the ISA-18.2 lifecycle:
//
//	AlarmNormal         --Raise--> AlarmActiveUnacked
//	AlarmActiveUnacked  --Ack-->   AlarmActiveAcked
//	AlarmActiveUnacked  --Clear--> AlarmClearedUnacked
//	AlarmActiveAcked    --Clear--> AlarmNormal
//	AlarmClearedUnacked --Ack-->   AlarmNormal
//	AlarmClearedUnacked --Raise--> AlarmActiveUnacked (re-alarm before acknowledgement)
//
// Shelving suppresses annunciation only: Raise, Clear and Acknowledge work
// on a shelved alarm as on an unshelved one, so that when the shelve ends
// the alarm shows its true state. Shelve is allowed in any state.
//
// Every operation is deterministic and reads no clock: times are Unix
// nanoseconds given as arguments. An operation that fails or changes
// nothing leaves the alarm unchanged. An Alarm is not safe for concurrent
// use.
type Alarm struct {
	Name     string // the rule's name
	Severity Severity
	State    AlarmState
	// Active is whether the condition holds now: true exactly in
	// AlarmActiveUnacked and AlarmActiveAcked, also while shelved.
	Active    bool
	RaisedAt  int64 // Unix nanoseconds, event time of the last activation (0: never)
	ClearedAt int64 // Unix nanoseconds, event time of the last clear (kept across a new activation)
	// AckedAt and AckedBy record the acknowledgement of the current
	// episode; Raise starting a new episode resets them to zero.
	AckedAt int64 // Unix nanoseconds
	AckedBy string
	// ShelvedUntil is the Unix nanosecond time at which the shelve ends;
	// 0: not shelved. While now < ShelvedUntil the alarm is shelved.
	ShelvedUntil int64
	ShelvedBy    string
	ShelveReason string
	Message      string // set on raise, e.g. "temperature 93.2 > 90"
}

// Raise records that the alarm's condition became active at time at, with a
// human message. From AlarmNormal or AlarmClearedUnacked it moves to
// AlarmActiveUnacked, starting a new episode: RaisedAt and Message are set,
// AckedAt and AckedBy reset. It returns false and changes nothing when the
// alarm is already active.
func (a *Alarm) Raise(at int64, message string) (AlarmTransition, bool) {
	if a.State != AlarmNormal && a.State != AlarmClearedUnacked {
		return AlarmTransition{}, false
	}
	from := a.State
	a.State, a.Active = AlarmActiveUnacked, true
	a.RaisedAt, a.Message = at, message
	a.AckedAt, a.AckedBy = 0, ""
	return a.transition(from, AlarmRaised, at, ""), true
}

// Clear records that the alarm's condition cleared at time at:
// AlarmActiveUnacked moves to AlarmClearedUnacked, AlarmActiveAcked to
// AlarmNormal, and ClearedAt is set. It returns false and changes nothing
// when the alarm is not active.
func (a *Alarm) Clear(at int64) (AlarmTransition, bool) {
	var to AlarmState
	switch a.State {
	case AlarmActiveUnacked:
		to = AlarmClearedUnacked
	case AlarmActiveAcked:
		to = AlarmNormal
	default:
		return AlarmTransition{}, false
	}
	from := a.State
	a.State, a.Active = to, false
	a.ClearedAt = at
	return a.transition(from, AlarmCleared, at, ""), true
}

// Acknowledge records that actor acknowledged the alarm at time at:
// AlarmActiveUnacked moves to AlarmActiveAcked, AlarmClearedUnacked to
// AlarmNormal, and AckedAt and AckedBy are set. A shelved alarm can be
// acknowledged. In AlarmNormal and AlarmActiveAcked it returns
// ErrNothingToAcknowledge, naming the alarm and its state.
func (a *Alarm) Acknowledge(at int64, actor string) (AlarmTransition, error) {
	var to AlarmState
	switch a.State {
	case AlarmActiveUnacked:
		to = AlarmActiveAcked
	case AlarmClearedUnacked:
		to = AlarmNormal
	default:
		return AlarmTransition{}, fmt.Errorf("%w: acknowledge alarm %s in state %s", ErrNothingToAcknowledge, a.Name, a.State)
	}
	from := a.State
	a.State = to
	a.AckedAt, a.AckedBy = at, actor
	return a.transition(from, AlarmAcknowledged, at, actor), nil
}

// Shelve suppresses the annunciation of the alarm from at until until
// (exclusive), in any state; re-shelving replaces the expiry, the actor and
// the reason, whether it extends or shortens the shelve. It returns
// ErrInvalidShelve when until is not after at (or is 0, which means "not
// shelved").
func (a *Alarm) Shelve(at, until int64, actor, reason string) (AlarmTransition, error) {
	if until <= at || until == 0 {
		return AlarmTransition{}, fmt.Errorf("%w: shelve alarm %s until %d: not after %d", ErrInvalidShelve, a.Name, until, at)
	}
	a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = until, actor, reason
	return a.transition(a.State, AlarmShelved, at, actor), nil
}

// Unshelve ends the shelve at time at on behalf of actor, restoring
// annunciation. It returns false and changes nothing when the alarm is not
// shelved at at; a shelve that has run out is cleared by [Alarm.Expire].
func (a *Alarm) Unshelve(at int64, actor string) (AlarmTransition, bool) {
	if !a.Shelved(at) {
		return AlarmTransition{}, false
	}
	a.unshelve()
	return a.transition(a.State, AlarmUnshelved, at, actor), true
}

// Expire ends a shelve that has run out (ShelvedUntil <= now), restoring
// annunciation; the transition's Actor is "shelve-expiry" and its At is now.
// It returns false and changes nothing when the alarm is not shelved or its
// shelve has not run out yet.
func (a *Alarm) Expire(now int64) (AlarmTransition, bool) {
	if a.ShelvedUntil == 0 || now < a.ShelvedUntil {
		return AlarmTransition{}, false
	}
	a.unshelve()
	return a.transition(a.State, AlarmUnshelved, now, shelveExpiryActor), true
}

func (a *Alarm) unshelve() {
	a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = 0, "", ""
}

// Shelved reports whether the alarm is shelved at now: now < ShelvedUntil.
func (a *Alarm) Shelved(now int64) bool {
	return a.ShelvedUntil != 0 && now < a.ShelvedUntil
}

// Annunciated reports whether the alarm is shown to operators at now: it is
// not in AlarmNormal and not shelved.
func (a *Alarm) Annunciated(now int64) bool {
	return a.State != AlarmNormal && !a.Shelved(now)
}

// Clone returns a copy of a. An Alarm holds no references, so the copy
// shares nothing with a.
func (a Alarm) Clone() Alarm {
	return a
}

func (a *Alarm) transition(from AlarmState, kind AlarmTransitionKind, at int64, actor string) AlarmTransition {
	return AlarmTransition{
		Name:        a.Name,
		From:        from,
		To:          a.State,
		Kind:        kind,
		At:          at,
		Actor:       actor,
		Annunciated: a.Annunciated(at),
	}
}
