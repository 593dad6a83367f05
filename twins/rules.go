package twins

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// Rule is a condition over a twin's state that raises an alarm of the
// rule's name, declared per model in the configuration:
//
//	rules:
//	  - name: overheat
//	    when: temperature > 90 && quality.temperature == "good"
//	    for: 10s              # the condition must hold this long (event time)
//	    clear_when: temperature < 85   # hysteresis; default: when no longer holds
//	    severity: high        # low | medium | high | critical
//	    message: temperature above 90
//
// Conditions are CEL over the twin's state: each reported property by name
// (typed as the model declares it), prev.NAME (the value before the event
// being decided), quality.NAME ("good", "uncertain", "bad"), labels.KEY and
// id. A property never reported is absent: a condition that reads it does
// not hold. ParseConfig compiles the rules once per model; a Rule is
// immutable and safe for concurrent use.
type Rule struct {
	Name      string
	When      string
	ClearWhen string        // "" : the alarm clears when When no longer holds
	For       time.Duration // 0: raise at once
	Severity  Severity
	Message   string // "" : the When expression
	Line      int    // of the rule in the configuration, for messages
	// Actions run when the alarm is raised, in order.
	Actions []Action
	// Blocks lists commands refused while the alarm is active (an
	// interlock): they fail with the rule's name and message.
	Blocks []string

	when, clear cel.Program
	deps        ruleDeps // what when and clear_when read
}

// reads reports whether the rule must be evaluated after an update that
// touched the properties marked in touched (nil: evaluate every rule).
func (r *Rule) reads(touched []bool) bool {
	if touched == nil || r.deps.always || (r.when == nil && r.clear == nil) {
		return true
	}
	for _, i := range r.deps.props {
		if i < len(touched) && touched[i] {
			return true
		}
	}
	return false
}

// Action is what a rule does when its alarm is raised, besides raising it:
// invoke a command (Command, with Args) of the twin or, with Target
// "parent" or "children", of its parent or each of its children; set a
// desired value (Property, Value); or emit a message to watchers (Emit,
// with {property} replaced as in the rule's message). Each is journaled
// with the actor "rule:NAME".
type Action struct {
	Command  string
	Args     map[string]Value
	Target   string // "" (the twin itself), "parent" or "children"
	Property string
	Value    Value
	Emit     string
}

// RuleVars are the names a condition may use besides the properties; a
// property of one of these names cannot be used in rules.
var RuleVars = []string{"prev", "quality", "labels", "id", "online"}

var celIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// celReserved are CEL's reserved words, which cannot name a variable.
var celReserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true, "for": true, "function": true,
	"if": true, "import": true, "let": true, "loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true, "in": true, "true": true, "false": true, "null": true,
}

// ruleEnv returns the CEL environment of m's rules; the window functions
// they use are collected in ws.
func ruleEnv(m *Model, ws *windowSet, rs *rollupSet) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Variable(windowVar, cel.MapType(cel.StringType, cel.DoubleType)),
		cel.Variable(childrenVar, cel.MapType(cel.StringType, cel.DoubleType)),
		cel.Variable("prev", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("quality", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("labels", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("id", cel.StringType),
		cel.Variable("online", cel.BoolType),
		cel.CrossTypeNumericComparisons(true),
	}
	for _, p := range m.Properties {
		if !celIdent.MatchString(p.Name) || celReserved[p.Name] || slices.Contains(RuleVars, p.Name) || p.Name == windowVar || p.Name == childrenVar || p.Name == "children" {
			continue // not addressable by name; prev/quality still index it
		}
		opts = append(opts, cel.Variable(p.Name, celType(p.Type)))
	}
	opts = append(opts, windowMacros(ws)...)
	opts = append(opts, rollupMacros(rs)...)
	return cel.NewEnv(opts...)
}

func celType(t Type) *cel.Type {
	switch t {
	case TypeBool:
		return cel.BoolType
	case TypeInt:
		return cel.IntType
	case TypeDouble:
		return cel.DoubleType
	}
	return cel.StringType
}

// RuleError is a condition that does not compile: Line and Column are
// 1-based positions in the expression (0 if unknown).
type RuleError struct {
	Line, Column int
	Msg          string
}

func (e *RuleError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// ruleDeps is what a condition reads: the properties (by index), or
// always: window functions or a dynamic access, so it is evaluated on
// every update.
type ruleDeps struct {
	props  []int
	always bool
	rollup bool // reads roll-ups over the twin's children
}

func (d *ruleDeps) add(i int) {
	if !slices.Contains(d.props, i) {
		d.props = append(d.props, i)
	}
}

// depsOf walks a checked condition for the properties it reads.
func depsOf(m *Model, a *cel.Ast) ruleDeps {
	var d ruleDeps
	if m == nil {
		return ruleDeps{always: true}
	}
	selected := map[int64]bool{} // operands of prev.X / quality.X
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			op := sel.Operand()
			if op.Kind() == celast.IdentKind && (op.AsIdent() == "prev" || op.AsIdent() == "quality") {
				selected[op.ID()] = true
				if i := m.propertyIndex(sel.FieldName()); i >= 0 {
					d.add(i)
				}
			}
		case celast.IdentKind:
			switch name := e.AsIdent(); name {
			case "prev", "quality":
				if !selected[e.ID()] {
					d.always = true // prev["x"], a whole map: any property
				}
			case windowVar:
				d.always = true // window values change as samples age
			case childrenVar:
				d.rollup = true // evaluated when a child reports
			default:
				if i := m.propertyIndex(name); i >= 0 {
					d.add(i)
				}
			}
		}
	}))
	return d
}

// compileConditionDeps type-checks expr in env (it must be a bool) and
// returns its program and what it reads from m.
func compileConditionDeps(env *cel.Env, m *Model, expr string) (cel.Program, ruleDeps, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, ruleDeps{}, &RuleError{Msg: "empty condition"}
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		e := &RuleError{Msg: iss.Err().Error()}
		if errs := iss.Errors(); len(errs) > 0 {
			e.Msg = strings.TrimSuffix(errs[0].Message, " (in container '')")
			if loc := errs[0].Location; loc != nil && loc.Line() > 0 {
				e.Line, e.Column = loc.Line(), loc.Column()+1
			}
		}
		return nil, ruleDeps{}, e
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, ruleDeps{}, &RuleError{Msg: "a condition must be a bool expression, not " + ast.OutputType().String()}
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, ruleDeps{}, &RuleError{Msg: err.Error()}
	}
	return prg, depsOf(m, ast), nil
}

// RuleInput is what a condition sees: the twin's state after the event
// being decided and the reported values before it.
type RuleInput struct {
	State *State
	Prev  []Reported // indexed by Property.Index; nil: the same as State's
}

// ruleVars are the CEL variables of a rule input at one event time,
// resolved lazily (a condition reads a few of a model's properties) and
// shared by every rule of one evaluation.
type ruleVars struct {
	in      RuleInput
	at      int64
	prev    map[string]any
	quality map[string]string
	windows map[string]float64
	kids    map[string]float64
}

// activation returns the CEL variables of in at event time at.
func (in RuleInput) activation(at int64) *ruleVars { return &ruleVars{in: in, at: at} }

// ResolveName implements interpreter.Activation. A property never reported
// is absent, so a condition that reads it fails (and does not hold).
func (v *ruleVars) ResolveName(name string) (any, bool) {
	s := v.in.State
	m := s.Spec.Model
	if i := m.propertyIndex(name); i >= 0 && i < len(s.Reported) {
		r := s.Reported[i]
		if r.Quality == QualityUnknown {
			return nil, false
		}
		return celValue(r.Value), true
	}
	switch name {
	case "prev":
		if v.prev == nil {
			v.prev = make(map[string]any, len(m.Properties))
			for i, p := range m.Properties {
				pr := s.Reported[i]
				if v.in.Prev != nil && i < len(v.in.Prev) {
					pr = v.in.Prev[i]
				}
				if pr.Quality != QualityUnknown {
					v.prev[p.Name] = celValue(pr.Value)
				}
			}
		}
		return v.prev, true
	case "quality":
		if v.quality == nil {
			v.quality = make(map[string]string, len(m.Properties))
			for i, p := range m.Properties {
				if q := s.Reported[i].Quality; q != QualityUnknown {
					v.quality[p.Name] = q.String()
				}
			}
		}
		return v.quality, true
	case "labels":
		if s.Spec.Labels == nil {
			return map[string]string{}, true
		}
		return s.Spec.Labels, true
	case "id":
		return s.Spec.ID, true
	case "online":
		return s.Connectivity != ConnectivityOffline, true
	case windowVar:
		if v.windows == nil {
			v.windows = s.windowValues(v.at)
		}
		return v.windows, true
	case childrenVar:
		if v.kids == nil {
			v.kids = s.rollupValues()
		}
		return v.kids, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *ruleVars) Parent() interpreter.Activation { return nil }

func celValue(v Value) any {
	switch v.Type() {
	case TypeBool:
		return v.AsBool()
	case TypeInt:
		return v.AsInt()
	case TypeDouble:
		return v.AsDouble()
	}
	return v.AsString()
}

// holds evaluates prg; a condition that reads an absent value, or fails
// otherwise, does not hold (the error says why).
func holds(prg cel.Program, vars *ruleVars) (bool, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("condition gave %s, not a bool", typeName(out))
	}
	return bool(b), nil
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().TypeName()
}

// RuleAction is what a rule decides at one evaluation.
type RuleAction uint8

// The rule actions.
const (
	RuleNone  RuleAction = iota // nothing changes
	RuleRaise                   // raise the rule's alarm
	RuleClear                   // clear it
)

// RuleState is a rule's memory in a twin between evaluations.
type RuleState struct {
	// PendingSince is the event time since which When has held while the
	// alarm was not active (0: it does not hold); with For, the alarm is
	// raised once it has held for For.
	PendingSince int64
}

// RuleOutcome is one evaluation's decision.
type RuleOutcome struct {
	Action RuleAction
	// Due is the event time at which the rule must be evaluated again even
	// if nothing arrives (a pending For window ends then); 0: none.
	Due     int64
	Message string // for a raise
	Err     error  // the condition could not be evaluated (it was taken as not holding)
}

// Step evaluates r at event time now for a twin whose alarm of this rule
// is active or not, with the rule's memory rs. It is a pure function of
// its arguments: a replay on the same inputs decides the same.
func (r *Rule) Step(in RuleInput, rs RuleState, active bool, now int64) (RuleOutcome, RuleState) {
	return r.step(in.activation(now), rs, active, now)
}

// step is Step on variables shared by the rules of one evaluation.
func (r *Rule) step(vars *ruleVars, rs RuleState, active bool, now int64) (RuleOutcome, RuleState) {
	if active {
		var clear bool
		var err error
		if r.clear != nil {
			clear, err = holds(r.clear, vars)
		} else {
			var cond bool
			cond, err = holds(r.when, vars)
			clear = !cond && err == nil
		}
		if clear {
			return RuleOutcome{Action: RuleClear}, RuleState{}
		}
		return RuleOutcome{Err: err}, RuleState{}
	}
	cond, err := holds(r.when, vars)
	if !cond {
		return RuleOutcome{Err: err}, RuleState{}
	}
	if rs.PendingSince == 0 || rs.PendingSince > now {
		rs.PendingSince = now
	}
	if due := rs.PendingSince + int64(r.For); now < due {
		return RuleOutcome{Due: due}, rs
	}
	return RuleOutcome{Action: RuleRaise, Message: r.message(vars.in.State)}, RuleState{}
}

// message returns the rule's message with {NAME} replaced by the reported
// value of property NAME (and its unit); without a message, the condition.
func (r *Rule) message(s *State) string {
	if r.Message == "" {
		return r.When
	}
	return substitute(s, r.Message)
}

// substitute replaces {NAME} in msg with the reported value of property
// NAME (and its unit).
func substitute(s *State, msg string) string {
	if !strings.Contains(msg, "{") {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(msg, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(msg[i:], '}')
		if j < 0 {
			break
		}
		name := msg[i+1 : i+j]
		b.WriteString(msg[:i])
		if p, ok := s.Spec.Model.Property(name); ok && s.Reported[p.Index].Quality != QualityUnknown {
			v := s.Reported[p.Index].Value
			if v.Type() == TypeDouble {
				// 103.75531768798828 (a float32 reading) reads 103.755.
				b.WriteString(strconv.FormatFloat(math.Round(v.AsDouble()*1000)/1000, 'f', -1, 64))
			} else {
				b.WriteString(v.String())
			}
			if p.Unit != "" {
				b.WriteString(" " + p.Unit)
			}
		} else {
			b.WriteString(msg[i : i+j+1])
		}
		msg = msg[i+j+1:]
	}
	b.WriteString(msg)
	return b.String()
}
