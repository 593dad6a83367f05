package twins

import (
	"fmt"
	"strconv"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	exprpb "google.golang.org/genproto/googleapis/api/expr/v1alpha1"
)

// RollupKind is an aggregate over a parent twin's children.
type RollupKind uint8

// The roll-ups: children.sum("p"), avg, min, max; children.count() and
// children.count(PREDICATE).
const (
	RollupSum RollupKind = iota + 1
	RollupAvg
	RollupMin
	RollupMax
	RollupCount
)

var rollupNames = [...]string{RollupSum: "sum", RollupAvg: "avg", RollupMin: "min", RollupMax: "max", RollupCount: "count"}

func (k RollupKind) String() string {
	if k > 0 && int(k) < len(rollupNames) {
		return rollupNames[k]
	}
	return "rollup(" + strconv.Itoa(int(k)) + ")"
}

// childrenVar is the CEL variable the roll-up macros read: a map from the
// roll-up's key to its value now.
const childrenVar = "_children"

// Rollup is one aggregate a model's rules read over the children of a twin.
type Rollup struct {
	Kind     RollupKind
	Property string      // sum, avg, min, max: the children's property
	Pred     cel.Program // count(PREDICATE): nil counts every child
	PredVars []string    // the children's properties the predicate reads
	key      string
}

// rollupSet collects a model's roll-ups while its rules compile.
type rollupSet struct {
	rollups []Rollup
}

// rollupMacros returns the receiver macros children.sum("p"), avg, min,
// max, count() and count(PREDICATE): each becomes a lookup of its value in
// childrenVar. A PREDICATE is a condition over one child's properties by
// name (state == "fault", power > 10.0).
func rollupMacros(rs *rollupSet) []cel.EnvOption {
	target := func(t ast.Expr) bool { return t != nil && t.Kind() == ast.IdentKind && t.AsIdent() == "children" }
	lookup := func(eh cel.MacroExprFactory, key string) ast.Expr {
		return eh.NewCall(operators.Index, eh.NewIdent(childrenVar), eh.NewLiteral(types.String(key)))
	}
	var opts []cel.EnvOption
	for k := RollupSum; k <= RollupMax; k++ {
		kind := k
		opts = append(opts, cel.Macros(cel.ReceiverMacro(kind.String(), 1, func(eh cel.MacroExprFactory, t ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
			if !target(t) {
				return nil, nil // not ours: the call stays as written
			}
			lit, ok := args[0].AsLiteral().(types.String)
			if args[0].Kind() != ast.LiteralKind || !ok || string(lit) == "" {
				return nil, eh.NewError(args[0].ID(), fmt.Sprintf("children.%s(\"PROPERTY\"): the argument must be a property name in quotes", kind))
			}
			key := kind.String() + "|" + string(lit)
			rs.add(Rollup{Kind: kind, Property: string(lit), key: key})
			return lookup(eh, key), nil
		})))
	}
	opts = append(opts,
		cel.Macros(cel.ReceiverMacro("count", 0, func(eh cel.MacroExprFactory, t ast.Expr, _ []ast.Expr) (ast.Expr, *common.Error) {
			if !target(t) {
				return nil, nil
			}
			rs.add(Rollup{Kind: RollupCount, key: "count"})
			return lookup(eh, "count"), nil
		})),
		cel.Macros(cel.ReceiverMacro("count", 1, func(eh cel.MacroExprFactory, t ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
			if !target(t) {
				return nil, nil
			}
			prg, vars, err := rs.predicate(args[0])
			if err != nil {
				return nil, eh.NewError(args[0].ID(), "children.count(PREDICATE): "+err.Error())
			}
			key := "count|" + strconv.Itoa(len(rs.rollups))
			rs.add(Rollup{Kind: RollupCount, Pred: prg, PredVars: vars, key: key})
			return lookup(eh, key), nil
		})),
	)
	return opts
}

func (rs *rollupSet) add(r Rollup) {
	for _, o := range rs.rollups {
		if o.key == r.key {
			return
		}
	}
	rs.rollups = append(rs.rollups, r)
}

// predicate compiles a count predicate: its identifiers are the children's
// properties, typed dyn (children may be of several models).
func (rs *rollupSet) predicate(e ast.Expr) (cel.Program, []string, error) {
	var vars []string
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.IdentKind {
			name := x.AsIdent()
			for _, v := range vars {
				if v == name {
					return
				}
			}
			vars = append(vars, name)
		}
	}))
	opts := []cel.EnvOption{cel.CrossTypeNumericComparisons(true)}
	for _, v := range vars {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, nil, err
	}
	pe, err := ast.ExprToProto(e)
	if err != nil {
		return nil, nil, err
	}
	checked, iss := env.Check(cel.ParsedExprToAst(&exprpb.ParsedExpr{Expr: pe}))
	if iss.Err() != nil {
		return nil, nil, iss.Err()
	}
	if !checked.OutputType().IsExactType(cel.BoolType) && !checked.OutputType().IsExactType(cel.DynType) {
		return nil, nil, fmt.Errorf("the predicate must be a bool condition, not %s", checked.OutputType())
	}
	prg, err := env.Program(checked)
	if err != nil {
		return nil, nil, err
	}
	return prg, vars, nil
}

// Kid is what a parent twin knows of one child for its roll-ups: the
// child's reported values of the properties the roll-ups read. It is
// rebuilt from the children when the parent activates and kept up to date
// by their reports; it is not journaled.
type Kid struct {
	Values map[string]Value
	preds  []bool // per roll-up with a predicate, by index in Model.Rollups
}

// ChildReport tells a parent twin a child's current values of the
// properties its roll-ups read (Handle evaluates the rules that use
// roll-ups). At is the child's event time.
type ChildReport struct {
	Child  string
	Values map[string]Value
	At     int64
}

// RollupProperties returns the properties of a child that the roll-ups of
// model m read.
func (m *Model) RollupProperties() []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, r := range m.Rollups {
		add(r.Property)
		for _, v := range r.PredVars {
			add(v)
		}
	}
	return out
}

// rollupAgg is a roll-up's running aggregate over the known children,
// kept as they change: sum and n for sum and avg, the count for count.
type rollupAgg struct {
	sum float64
	n   int
}

// SetKid records a child's values and updates the roll-ups by the
// difference to what the child contributed before (sum, avg and count in
// constant time; min and max are recomputed when read). A nil values map
// removes the child.
func (s *State) SetKid(child string, values map[string]Value) {
	rollups := s.Spec.Model.Rollups
	if len(s.kidAggs) != len(rollups) {
		s.kidAggs = make([]rollupAgg, len(rollups))
	}
	if old, ok := s.Kids[child]; ok {
		s.contribute(old, -1)
		delete(s.Kids, child)
	}
	if values == nil {
		return
	}
	if s.Kids == nil {
		s.Kids = map[string]*Kid{}
	}
	k := &Kid{Values: values}
	k.preds = make([]bool, len(rollups))
	for i, r := range rollups {
		if r.Pred == nil {
			continue
		}
		vars := make(map[string]any, len(r.PredVars))
		for _, v := range r.PredVars {
			if val, ok := values[v]; ok {
				vars[v] = celValue(val)
			}
		}
		out, _, err := r.Pred.Eval(vars)
		b, ok := out.(types.Bool)
		k.preds[i] = err == nil && ok && bool(b)
	}
	s.Kids[child] = k
	s.contribute(k, +1)
}

// contribute adds (sign +1) or removes (-1) a child's share of the
// running aggregates.
func (s *State) contribute(k *Kid, sign int) {
	for i, r := range s.Spec.Model.Rollups {
		a := &s.kidAggs[i]
		switch r.Kind {
		case RollupCount:
			if r.Pred == nil || k.preds[i] {
				a.n += sign
			}
		case RollupSum, RollupAvg:
			if v, ok := k.Values[r.Property]; ok && (v.Type() == TypeInt || v.Type() == TypeDouble) {
				a.sum += float64(sign) * v.AsDouble()
				a.n += sign
			}
		}
	}
}

// rollupValues returns the model's roll-ups over the known children. Sum,
// avg, min and max read the children that report the property as a
// number; with none, the roll-up is absent (a condition reading it does
// not hold).
func (s *State) rollupValues() map[string]float64 {
	rollups := s.Spec.Model.Rollups
	out := make(map[string]float64, len(rollups))
	if len(s.kidAggs) != len(rollups) {
		s.kidAggs = make([]rollupAgg, len(rollups))
	}
	for i, r := range rollups {
		a := s.kidAggs[i]
		switch r.Kind {
		case RollupCount:
			out[r.key] = float64(a.n)
		case RollupSum:
			if a.n > 0 {
				out[r.key] = a.sum
			}
		case RollupAvg:
			if a.n > 0 {
				out[r.key] = a.sum / float64(a.n)
			}
		case RollupMin, RollupMax:
			n := 0
			var ext float64
			for _, k := range s.Kids {
				v, ok := k.Values[r.Property]
				if !ok || (v.Type() != TypeInt && v.Type() != TypeDouble) {
					continue
				}
				f := v.AsDouble()
				if n == 0 || (r.Kind == RollupMin && f < ext) || (r.Kind == RollupMax && f > ext) {
					ext = f
				}
				n++
			}
			if n > 0 {
				out[r.key] = ext
			}
		}
	}
	return out
}

// handleChildReport records a child's values and evaluates the rules that
// read roll-ups, at the later of the twin's and the child's event time.
func (s *State) handleChildReport(c ChildReport, now int64) Decision {
	s.SetKid(c.Child, c.Values)
	var d Decision
	rules := s.Spec.Model.Rules
	if len(rules) == 0 || len(s.Alarms) != len(rules) {
		return d
	}
	at := max(s.EventTime(now), c.At)
	vars := RuleInput{State: s}.activation(at)
	for i := range rules {
		if rules[i].deps.rollup {
			d.Events = s.stepRule(d.Events, vars, i, at, now)
		}
	}
	return d
}
