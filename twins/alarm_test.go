package twins

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Times of the alarm fixtures, Unix nanoseconds.
const (
	tAlarmRaised  = 100
	tAlarmAcked   = 150
	tAlarmCleared = 200
	tAlarmNow     = 1_000
	tAlarmUntil   = 5_000 // ShelvedUntil of a shelved fixture
	tAlarmReshelf = 9_000 // the expiry given by the shelve operation
)

const (
	alarmOldMessage = "temperature 93.2 > 90"
	alarmNewMessage = "temperature 95.1 > 90"
)

// alarmFixture returns an alarm in state s as the lifecycle leaves it; in
// AlarmNormal it carries a finished earlier episode.
func alarmFixture(s AlarmState, shelved bool) Alarm {
	a := Alarm{Name: "high_temp", Severity: SeverityHigh, State: s}
	switch s {
	case AlarmNormal:
		a.RaisedAt, a.AckedAt, a.AckedBy, a.ClearedAt, a.Message = tAlarmRaised, tAlarmAcked, "token:alice", tAlarmCleared, alarmOldMessage
	case AlarmActiveUnacked:
		a.Active, a.RaisedAt, a.Message = true, tAlarmRaised, alarmOldMessage
	case AlarmActiveAcked:
		a.Active, a.RaisedAt, a.AckedAt, a.AckedBy, a.Message = true, tAlarmRaised, tAlarmAcked, "token:alice", alarmOldMessage
	case AlarmClearedUnacked:
		a.RaisedAt, a.ClearedAt, a.Message = tAlarmRaised, tAlarmCleared, alarmOldMessage
	}
	if shelved {
		a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = tAlarmUntil, "token:bob", "sensor maintenance"
	}
	return a
}

var alarmStates = []AlarmState{AlarmNormal, AlarmActiveUnacked, AlarmActiveAcked, AlarmClearedUnacked}

// alarmResult is what an operation of the table test returned, and the time
// it ran at.
type alarmResult struct {
	tr  AlarmTransition
	ok  bool // the bool result, or a nil error
	err error
	at  int64
}

// alarmOps are the operations of the table test.
var alarmOps = map[string]func(a *Alarm) alarmResult{
	"raise": func(a *Alarm) alarmResult {
		tr, ok := a.Raise(tAlarmNow, alarmNewMessage)
		return alarmResult{tr: tr, ok: ok, at: tAlarmNow}
	},
	"clear": func(a *Alarm) alarmResult {
		tr, ok := a.Clear(tAlarmNow)
		return alarmResult{tr: tr, ok: ok, at: tAlarmNow}
	},
	"ack": func(a *Alarm) alarmResult {
		tr, err := a.Acknowledge(tAlarmNow, "token:carol")
		return alarmResult{tr: tr, ok: err == nil, err: err, at: tAlarmNow}
	},
	"shelve": func(a *Alarm) alarmResult {
		tr, err := a.Shelve(tAlarmNow, tAlarmReshelf, "token:dave", "nuisance")
		return alarmResult{tr: tr, ok: err == nil, err: err, at: tAlarmNow}
	},
	"shelve_until_now": func(a *Alarm) alarmResult {
		tr, err := a.Shelve(tAlarmNow, tAlarmNow, "token:dave", "nuisance")
		return alarmResult{tr: tr, ok: err == nil, err: err, at: tAlarmNow}
	},
	"unshelve": func(a *Alarm) alarmResult {
		tr, ok := a.Unshelve(tAlarmNow, "token:dave")
		return alarmResult{tr: tr, ok: ok, at: tAlarmNow}
	},
	"expire_at_until": func(a *Alarm) alarmResult {
		tr, ok := a.Expire(tAlarmUntil)
		return alarmResult{tr: tr, ok: ok, at: tAlarmUntil}
	},
	"expire_before_until": func(a *Alarm) alarmResult {
		tr, ok := a.Expire(tAlarmUntil - 1)
		return alarmResult{tr: tr, ok: ok, at: tAlarmUntil - 1}
	},
}

type alarmCase struct {
	state   AlarmState
	shelved bool
	op      string
	wantErr error
	// change turns the fixture into the expected alarm; nil means the
	// operation changes nothing and returns false or wantErr.
	change func(a *Alarm)
	kind   AlarmTransitionKind
	wantTo AlarmState
	actor  string
	annunc bool // the transition's Annunciated
}

func TestAlarmTransitions(t *testing.T) {
	// The lifecycle operations, whose outcome depends on the state only:
	// they run on unshelved and shelved alarms alike, and leave the shelve
	// as it is.
	lifecycle := []struct {
		op      string
		state   AlarmState
		wantErr error
		change  func(a *Alarm)
		kind    AlarmTransitionKind
		to      AlarmState
		actor   string
	}{
		{op: "raise", state: AlarmNormal, kind: AlarmRaised, to: AlarmActiveUnacked, change: func(a *Alarm) {
			a.State, a.Active, a.RaisedAt, a.Message, a.AckedAt, a.AckedBy = AlarmActiveUnacked, true, tAlarmNow, alarmNewMessage, 0, ""
		}},
		{op: "raise", state: AlarmActiveUnacked},
		{op: "raise", state: AlarmActiveAcked},
		{op: "raise", state: AlarmClearedUnacked, kind: AlarmRaised, to: AlarmActiveUnacked, change: func(a *Alarm) {
			a.State, a.Active, a.RaisedAt, a.Message = AlarmActiveUnacked, true, tAlarmNow, alarmNewMessage
		}},
		{op: "clear", state: AlarmNormal},
		{op: "clear", state: AlarmActiveUnacked, kind: AlarmCleared, to: AlarmClearedUnacked, change: func(a *Alarm) {
			a.State, a.Active, a.ClearedAt = AlarmClearedUnacked, false, tAlarmNow
		}},
		{op: "clear", state: AlarmActiveAcked, kind: AlarmCleared, to: AlarmNormal, change: func(a *Alarm) {
			a.State, a.Active, a.ClearedAt = AlarmNormal, false, tAlarmNow
		}},
		{op: "clear", state: AlarmClearedUnacked},
		{op: "ack", state: AlarmNormal, wantErr: ErrNothingToAcknowledge},
		{op: "ack", state: AlarmActiveUnacked, kind: AlarmAcknowledged, to: AlarmActiveAcked, actor: "token:carol", change: func(a *Alarm) {
			a.State, a.AckedAt, a.AckedBy = AlarmActiveAcked, tAlarmNow, "token:carol"
		}},
		{op: "ack", state: AlarmActiveAcked, wantErr: ErrNothingToAcknowledge},
		{op: "ack", state: AlarmClearedUnacked, kind: AlarmAcknowledged, to: AlarmNormal, actor: "token:carol", change: func(a *Alarm) {
			a.State, a.AckedAt, a.AckedBy = AlarmNormal, tAlarmNow, "token:carol"
		}},
	}
	// The shelving operations, whose outcome depends on the shelve only:
	// they run in every state and leave the state as it is.
	shelving := []struct {
		op      string
		shelved bool
		wantErr error
		change  func(a *Alarm)
		actor   string
		kind    AlarmTransitionKind
		// annunciated after the operation, unless the state is AlarmNormal
		annunc bool
	}{
		{op: "shelve", shelved: false, kind: AlarmShelved, actor: "token:dave", change: func(a *Alarm) {
			a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = tAlarmReshelf, "token:dave", "nuisance"
		}},
		{op: "shelve", shelved: true, kind: AlarmShelved, actor: "token:dave", change: func(a *Alarm) {
			a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = tAlarmReshelf, "token:dave", "nuisance"
		}},
		{op: "shelve_until_now", shelved: false, wantErr: ErrInvalidShelve},
		{op: "shelve_until_now", shelved: true, wantErr: ErrInvalidShelve},
		{op: "unshelve", shelved: false},
		{op: "unshelve", shelved: true, kind: AlarmUnshelved, actor: "token:dave", annunc: true, change: func(a *Alarm) {
			a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = 0, "", ""
		}},
		{op: "expire_at_until", shelved: false},
		{op: "expire_at_until", shelved: true, kind: AlarmUnshelved, actor: "shelve-expiry", annunc: true, change: func(a *Alarm) {
			a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = 0, "", ""
		}},
		{op: "expire_before_until", shelved: false},
		{op: "expire_before_until", shelved: true},
	}

	var cases []alarmCase
	for _, l := range lifecycle {
		for _, shelved := range []bool{false, true} {
			cases = append(cases, alarmCase{
				state: l.state, shelved: shelved, op: l.op, wantErr: l.wantErr, change: l.change,
				kind: l.kind, wantTo: l.to, actor: l.actor,
				annunc: l.to != AlarmNormal && !shelved,
			})
		}
	}
	for _, s := range shelving {
		for _, state := range alarmStates {
			cases = append(cases, alarmCase{
				state: state, shelved: s.shelved, op: s.op, wantErr: s.wantErr, change: s.change,
				kind: s.kind, wantTo: state, actor: s.actor,
				annunc: state != AlarmNormal && s.annunc,
			})
		}
	}
	if want := len(alarmStates) * 2 * len(alarmOps); len(cases) != want {
		t.Fatalf("%d cases, want %d (every state, shelved or not, and operation)", len(cases), want)
	}

	for _, tc := range cases {
		shelf := "unshelved"
		if tc.shelved {
			shelf = "shelved"
		}
		t.Run(tc.state.String()+"/"+shelf+"/"+tc.op, func(t *testing.T) {
			a := alarmFixture(tc.state, tc.shelved)
			want := a.Clone()
			if tc.change != nil {
				tc.change(&want)
			}
			r := alarmOps[tc.op](&a)
			tr, ok, err, at := r.tr, r.ok, r.err, r.at
			var wantTr AlarmTransition
			if tc.change != nil {
				wantTr = AlarmTransition{
					Name: "high_temp", From: tc.state, To: tc.wantTo, Kind: tc.kind,
					At: at, Actor: tc.actor, Annunciated: tc.annunc,
				}
			}

			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "high_temp") {
					t.Errorf("error %q does not name the alarm", err)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if wantOK := tc.change != nil; ok != wantOK {
				t.Errorf("ok = %v, want %v", ok, wantOK)
			}
			if diff := cmp.Diff(wantTr, tr); diff != "" {
				t.Errorf("transition (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, a); diff != "" {
				t.Errorf("alarm (-want +got):\n%s", diff)
			}
			if got := a.State == AlarmActiveUnacked || a.State == AlarmActiveAcked; a.Active != got {
				t.Errorf("Active = %v in state %s", a.Active, a.State)
			}
			if ok && tr.Annunciated != a.Annunciated(at) {
				t.Errorf("transition Annunciated = %v, Annunciated(%d) = %v", tr.Annunciated, at, a.Annunciated(at))
			}
		})
	}
}

func TestAlarmAcknowledgeErrorNamesState(t *testing.T) {
	for _, s := range []AlarmState{AlarmNormal, AlarmActiveAcked} {
		a := alarmFixture(s, false)
		_, err := a.Acknowledge(tAlarmNow, "token:carol")
		if !errors.Is(err, ErrNothingToAcknowledge) {
			t.Fatalf("%s: error %v, want ErrNothingToAcknowledge", s, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "high_temp") || !strings.Contains(msg, s.String()) {
			t.Errorf("%s: error %q does not name the alarm and its state", s, msg)
		}
	}
}

// alarmStep is one operation of an episode and what the alarm looks like
// after it.
type alarmStep struct {
	op          string // raise, clear, ack
	at          int64
	ok          bool
	state       AlarmState
	annunciated bool
}

func runAlarmSteps(t *testing.T, a *Alarm, steps []alarmStep) []AlarmTransition {
	t.Helper()
	var trs []AlarmTransition
	for i, st := range steps {
		var (
			tr  AlarmTransition
			ok  bool
			err error
		)
		switch st.op {
		case "raise":
			tr, ok = a.Raise(st.at, "level 3.1 m > 3 m")
		case "clear":
			tr, ok = a.Clear(st.at)
		case "ack":
			tr, err = a.Acknowledge(st.at, "token:alice")
			ok = err == nil
		default:
			t.Fatalf("step %d: unknown op %q", i, st.op)
		}
		if ok != st.ok {
			t.Errorf("step %d %s@%d: ok = %v (err %v), want %v", i, st.op, st.at, ok, err, st.ok)
		}
		if a.State != st.state {
			t.Errorf("step %d %s@%d: state %s, want %s", i, st.op, st.at, a.State, st.state)
		}
		if got := a.Annunciated(st.at); got != st.annunciated {
			t.Errorf("step %d %s@%d: annunciated %v, want %v", i, st.op, st.at, got, st.annunciated)
		}
		if ok {
			trs = append(trs, tr)
		}
	}
	return trs
}

func TestAlarmEpisodes(t *testing.T) {
	tests := []struct {
		name  string
		steps []alarmStep
		want  []AlarmTransition
		final Alarm
	}{
		{
			name: "raise ack clear",
			steps: []alarmStep{
				{"raise", 10, true, AlarmActiveUnacked, true},
				{"raise", 11, false, AlarmActiveUnacked, true},
				{"ack", 20, true, AlarmActiveAcked, true},
				{"ack", 21, false, AlarmActiveAcked, true},
				{"clear", 30, true, AlarmNormal, false},
				{"clear", 31, false, AlarmNormal, false},
				{"ack", 32, false, AlarmNormal, false},
			},
			want: []AlarmTransition{
				{Name: "tank_high", From: AlarmNormal, To: AlarmActiveUnacked, Kind: AlarmRaised, At: 10, Annunciated: true},
				{Name: "tank_high", From: AlarmActiveUnacked, To: AlarmActiveAcked, Kind: AlarmAcknowledged, At: 20, Actor: "token:alice", Annunciated: true},
				{Name: "tank_high", From: AlarmActiveAcked, To: AlarmNormal, Kind: AlarmCleared, At: 30},
			},
			final: Alarm{Name: "tank_high", Severity: SeverityMedium, State: AlarmNormal, RaisedAt: 10, ClearedAt: 30,
				AckedAt: 20, AckedBy: "token:alice", Message: "level 3.1 m > 3 m"},
		},
		{
			name: "raise clear ack",
			steps: []alarmStep{
				{"raise", 10, true, AlarmActiveUnacked, true},
				{"clear", 20, true, AlarmClearedUnacked, true},
				{"clear", 21, false, AlarmClearedUnacked, true},
				{"ack", 30, true, AlarmNormal, false},
			},
			want: []AlarmTransition{
				{Name: "tank_high", From: AlarmNormal, To: AlarmActiveUnacked, Kind: AlarmRaised, At: 10, Annunciated: true},
				{Name: "tank_high", From: AlarmActiveUnacked, To: AlarmClearedUnacked, Kind: AlarmCleared, At: 20, Annunciated: true},
				{Name: "tank_high", From: AlarmClearedUnacked, To: AlarmNormal, Kind: AlarmAcknowledged, At: 30, Actor: "token:alice"},
			},
			final: Alarm{Name: "tank_high", Severity: SeverityMedium, State: AlarmNormal, RaisedAt: 10, ClearedAt: 20,
				AckedAt: 30, AckedBy: "token:alice", Message: "level 3.1 m > 3 m"},
		},
		{
			name: "raise clear raise again before ack",
			steps: []alarmStep{
				{"raise", 10, true, AlarmActiveUnacked, true},
				{"clear", 20, true, AlarmClearedUnacked, true},
				{"raise", 30, true, AlarmActiveUnacked, true},
				{"ack", 40, true, AlarmActiveAcked, true},
				{"clear", 50, true, AlarmNormal, false},
			},
			want: []AlarmTransition{
				{Name: "tank_high", From: AlarmNormal, To: AlarmActiveUnacked, Kind: AlarmRaised, At: 10, Annunciated: true},
				{Name: "tank_high", From: AlarmActiveUnacked, To: AlarmClearedUnacked, Kind: AlarmCleared, At: 20, Annunciated: true},
				{Name: "tank_high", From: AlarmClearedUnacked, To: AlarmActiveUnacked, Kind: AlarmRaised, At: 30, Annunciated: true},
				{Name: "tank_high", From: AlarmActiveUnacked, To: AlarmActiveAcked, Kind: AlarmAcknowledged, At: 40, Actor: "token:alice", Annunciated: true},
				{Name: "tank_high", From: AlarmActiveAcked, To: AlarmNormal, Kind: AlarmCleared, At: 50},
			},
			final: Alarm{Name: "tank_high", Severity: SeverityMedium, State: AlarmNormal, RaisedAt: 30, ClearedAt: 50,
				AckedAt: 40, AckedBy: "token:alice", Message: "level 3.1 m > 3 m"},
		},
		{
			name: "second episode resets the acknowledgement",
			steps: []alarmStep{
				{"raise", 10, true, AlarmActiveUnacked, true},
				{"ack", 20, true, AlarmActiveAcked, true},
				{"clear", 30, true, AlarmNormal, false},
				{"raise", 40, true, AlarmActiveUnacked, true},
			},
			want: []AlarmTransition{
				{Name: "tank_high", From: AlarmNormal, To: AlarmActiveUnacked, Kind: AlarmRaised, At: 10, Annunciated: true},
				{Name: "tank_high", From: AlarmActiveUnacked, To: AlarmActiveAcked, Kind: AlarmAcknowledged, At: 20, Actor: "token:alice", Annunciated: true},
				{Name: "tank_high", From: AlarmActiveAcked, To: AlarmNormal, Kind: AlarmCleared, At: 30},
				{Name: "tank_high", From: AlarmNormal, To: AlarmActiveUnacked, Kind: AlarmRaised, At: 40, Annunciated: true},
			},
			final: Alarm{Name: "tank_high", Severity: SeverityMedium, State: AlarmActiveUnacked, Active: true,
				RaisedAt: 40, ClearedAt: 30, Message: "level 3.1 m > 3 m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Alarm{Name: "tank_high", Severity: SeverityMedium}
			got := runAlarmSteps(t, &a, tt.steps)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.final, a); diff != "" {
				t.Errorf("final alarm (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAlarmShelving(t *testing.T) {
	t.Run("tracked while shelved, annunciated at expiry", func(t *testing.T) {
		a := Alarm{Name: "pump_trip", Severity: SeverityCritical}
		if _, err := a.Shelve(10, 100, "token:bob", "maintenance"); err != nil {
			t.Fatal(err)
		}
		if tr, ok := a.Raise(20, "pump tripped"); !ok || tr.Annunciated {
			t.Fatalf("raise while shelved: ok %v, annunciated %v; want true, false", ok, tr.Annunciated)
		}
		if a.State != AlarmActiveUnacked || !a.Active {
			t.Fatalf("state %s active %v, want active_unacked", a.State, a.Active)
		}
		if a.Annunciated(20) || a.Annunciated(99) || !a.Shelved(99) {
			t.Errorf("annunciated while shelved")
		}
		if _, ok := a.Expire(99); ok {
			t.Errorf("Expire(99) expired a shelve until 100")
		}
		// At the boundary the shelve has run out, even before Expire runs.
		if a.Shelved(100) || !a.Annunciated(100) {
			t.Errorf("Shelved(100) = %v, Annunciated(100) = %v; want false, true", a.Shelved(100), a.Annunciated(100))
		}
		tr, ok := a.Expire(100)
		want := AlarmTransition{Name: "pump_trip", From: AlarmActiveUnacked, To: AlarmActiveUnacked,
			Kind: AlarmUnshelved, At: 100, Actor: "shelve-expiry", Annunciated: true}
		if !ok {
			t.Fatal("Expire(100) did not expire a shelve until 100")
		}
		if diff := cmp.Diff(want, tr); diff != "" {
			t.Errorf("transition (-want +got):\n%s", diff)
		}
		if a.ShelvedUntil != 0 || a.ShelvedBy != "" || a.ShelveReason != "" {
			t.Errorf("shelve not cleared: %+v", a)
		}
		if _, ok := a.Expire(101); ok {
			t.Errorf("second Expire changed the alarm")
		}
	})

	t.Run("clear and acknowledge while shelved", func(t *testing.T) {
		a := Alarm{Name: "pump_trip", Severity: SeverityCritical}
		a.Raise(5, "pump tripped")
		if _, err := a.Shelve(10, 100, "token:bob", "maintenance"); err != nil {
			t.Fatal(err)
		}
		if tr, ok := a.Clear(20); !ok || tr.To != AlarmClearedUnacked || tr.Annunciated {
			t.Fatalf("clear while shelved: %+v ok %v", tr, ok)
		}
		if tr, err := a.Acknowledge(30, "token:carol"); err != nil || tr.To != AlarmNormal {
			t.Fatalf("ack while shelved: %+v %v", tr, err)
		}
		if tr, ok := a.Unshelve(40, "token:bob"); !ok || tr.Annunciated {
			t.Errorf("unshelve in normal: %+v ok %v; want ok, not annunciated", tr, ok)
		}
	})

	t.Run("re-shelve replaces the expiry", func(t *testing.T) {
		a := Alarm{Name: "pump_trip", Severity: SeverityCritical}
		a.Raise(5, "pump tripped")
		if _, err := a.Shelve(10, 100, "token:bob", "maintenance"); err != nil {
			t.Fatal(err)
		}
		// Extend.
		if _, err := a.Shelve(50, 200, "token:carol", "still in maintenance"); err != nil {
			t.Fatal(err)
		}
		if a.ShelvedBy != "token:carol" || a.ShelveReason != "still in maintenance" {
			t.Errorf("re-shelve kept %q, %q", a.ShelvedBy, a.ShelveReason)
		}
		if _, ok := a.Expire(100); ok || !a.Shelved(150) {
			t.Errorf("the first expiry still applies after extending")
		}
		// Shorten.
		if _, err := a.Shelve(150, 160, "token:bob", "done soon"); err != nil {
			t.Fatal(err)
		}
		if a.Shelved(160) {
			t.Errorf("shelved at 160 after shortening to 160")
		}
		if tr, ok := a.Expire(160); !ok || tr.At != 160 {
			t.Errorf("Expire(160): %+v ok %v", tr, ok)
		}
	})

	t.Run("late expiry is journaled at now", func(t *testing.T) {
		a := alarmFixture(AlarmClearedUnacked, true)
		tr, ok := a.Expire(tAlarmUntil + 250)
		want := AlarmTransition{Name: "high_temp", From: AlarmClearedUnacked, To: AlarmClearedUnacked,
			Kind: AlarmUnshelved, At: tAlarmUntil + 250, Actor: "shelve-expiry", Annunciated: true}
		if !ok {
			t.Fatal("Expire after ShelvedUntil did not expire")
		}
		if diff := cmp.Diff(want, tr); diff != "" {
			t.Errorf("transition (-want +got):\n%s", diff)
		}
	})

	t.Run("unshelve after run-out is left to Expire", func(t *testing.T) {
		a := Alarm{Name: "pump_trip", Severity: SeverityCritical}
		if _, err := a.Shelve(10, 100, "token:bob", "maintenance"); err != nil {
			t.Fatal(err)
		}
		if _, ok := a.Unshelve(100, "token:bob"); ok {
			t.Errorf("Unshelve(100) of a shelve until 100 reported a change")
		}
		if _, ok := a.Expire(100); !ok {
			t.Errorf("Expire(100) did not clear the run-out shelve")
		}
	})

	t.Run("invalid shelve", func(t *testing.T) {
		tests := []struct {
			name      string
			at, until int64
		}{
			{"until equals at", 50, 50},
			{"until before at", 50, 40},
			{"until zero", -10, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := alarmFixture(AlarmActiveUnacked, true)
				before := a.Clone()
				tr, err := a.Shelve(tt.at, tt.until, "token:bob", "x")
				if !errors.Is(err, ErrInvalidShelve) {
					t.Fatalf("error %v, want ErrInvalidShelve", err)
				}
				if !strings.Contains(err.Error(), "high_temp") {
					t.Errorf("error %q does not name the alarm", err)
				}
				if tr != (AlarmTransition{}) {
					t.Errorf("transition %+v, want zero", tr)
				}
				if diff := cmp.Diff(before, a); diff != "" {
					t.Errorf("alarm changed (-before +after):\n%s", diff)
				}
			})
		}
	})
}

func TestAlarmClone(t *testing.T) {
	a := alarmFixture(AlarmActiveAcked, true)
	c := a.Clone()
	if diff := cmp.Diff(a, c); diff != "" {
		t.Fatalf("clone differs (-orig +clone):\n%s", diff)
	}
	c.Clear(tAlarmNow)
	c.Unshelve(tAlarmNow, "token:bob")
	if a.State != AlarmActiveAcked || a.ShelvedUntil != tAlarmUntil {
		t.Errorf("changing the clone changed the original: %+v", a)
	}
}

func TestAlarmStateString(t *testing.T) {
	want := []string{"normal", "active_unacked", "active_acked", "cleared_unacked"}
	for i, s := range alarmStates {
		if got := s.String(); got != want[i] {
			t.Errorf("%d.String() = %q, want %q", s, got, want[i])
		}
		p, err := ParseAlarmState(s.String())
		if err != nil || p != s {
			t.Errorf("ParseAlarmState(%q) = %v, %v; want %v", s.String(), p, err, s)
		}
	}
	if got := AlarmState(9).String(); got != "alarm_state(9)" {
		t.Errorf("AlarmState(9).String() = %q", got)
	}
	_, err := ParseAlarmState("Active")
	if err == nil {
		t.Fatal("ParseAlarmState(Active) succeeded")
	}
	for _, name := range append(want, `"Active"`) {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestAlarmSeverityString(t *testing.T) {
	all := []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	want := []string{"low", "medium", "high", "critical"}
	for i, s := range all {
		if got := s.String(); got != want[i] {
			t.Errorf("%d.String() = %q, want %q", s, got, want[i])
		}
		p, err := ParseSeverity(s.String())
		if err != nil || p != s {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", s.String(), p, err, s)
		}
	}
	for _, s := range []Severity{0, 5} {
		if got := s.String(); !strings.HasPrefix(got, "severity(") {
			t.Errorf("Severity(%d).String() = %q", s, got)
		}
	}
	for _, in := range []string{"", "urgent", "HIGH", "severity(0)"} {
		_, err := ParseSeverity(in)
		if err == nil {
			t.Errorf("ParseSeverity(%q) succeeded", in)
			continue
		}
		for _, name := range want {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParseSeverity(%q): error %q does not name %s", in, err, name)
			}
		}
	}
}

func TestAlarmTransitionKindString(t *testing.T) {
	tests := map[AlarmTransitionKind]string{
		0:                 "none",
		AlarmRaised:       "raised",
		AlarmCleared:      "cleared",
		AlarmAcknowledged: "acknowledged",
		AlarmShelved:      "shelved",
		AlarmUnshelved:    "unshelved",
		9:                 "alarm_transition_kind(9)",
	}
	for k, want := range tests {
		if got := k.String(); got != want {
			t.Errorf("AlarmTransitionKind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
