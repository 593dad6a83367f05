package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/plantwin/plantwin/twins"
)

// MaxExprLen is the longest filter accepted, in bytes (4096).
const MaxExprLen = 4096

// costLimit bounds the work of one evaluation in CEL cost units (roughly one
// per operation; `reported.temperature.value > 80` costs 4). It stops
// pathological expressions such as nested comprehensions over large literal
// lists.
const costLimit = 100_000

// The variables visible to expressions.
const (
	varID                = "id"
	varModel             = "model"
	varParent            = "parent"
	varLabels            = "labels"
	varVersion           = "version"
	varActive            = "active"
	varConnectivity      = "connectivity"
	varConnectivitySince = "connectivity_since"
	varReported          = "reported"
	varDesired           = "desired"
)

// environment returns the CEL environment shared by all filters. A cel.Env
// is immutable and safe for concurrent use; it is built once because
// building it costs far more than compiling a filter.
var environment = sync.OnceValue(func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable(varID, cel.StringType),
		cel.Variable(varModel, cel.StringType),
		cel.Variable(varParent, cel.StringType),
		cel.Variable(varLabels, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varVersion, cel.IntType),
		cel.Variable(varActive, cel.BoolType),
		cel.Variable(varConnectivity, cel.StringType),
		cel.Variable(varConnectivitySince, cel.TimestampType),
		cel.Variable(varReported, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varDesired, cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
	)
	if err != nil {
		panic("query: build CEL environment: " + err.Error()) // the declarations above are fixed
	}
	return env
})

// Error is a filter that does not compile: Line and Column are 1-based
// positions in the expression (0 if unknown); Msg is CEL's message without
// position noise.
//
// Columns count characters (Unicode code points), not bytes.
type Error struct {
	Expr         string
	Line, Column int
	Msg          string
}

// Error returns the message with its position, e.g.
// `line 1, column 24: undeclared reference to 'foo'`, or the bare message if
// the position is unknown.
func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return "line " + strconv.Itoa(e.Line) + ", column " + strconv.Itoa(e.Column) + ": " + e.Msg
}

// Filter is a compiled predicate; safe for concurrent use.
type Filter struct {
	expr   string
	prg    cel.Program
	static bool
	hints  Hints
}

// Hints are equalities every match must satisfy, read from the top-level
// conjunction of the expression (`model == "pump" && labels.line == "L2"
// && ...`). Callers may use them to narrow candidates with an index before
// evaluating the filter; empty fields constrain nothing.
type Hints struct {
	ID, Model, Parent string
	Labels            map[string]string
}

// Compile parses and type-checks expr. Empty expr is invalid (callers skip
// the filter instead). The result type must be bool (or dyn). Errors are
// *Error.
func Compile(expr string) (*Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &Error{Expr: expr, Msg: "empty filter"}
	}
	if len(expr) > MaxExprLen {
		return nil, &Error{Expr: expr, Msg: fmt.Sprintf("filter is %d bytes long, the limit is %d", len(expr), MaxExprLen)}
	}
	env := environment()
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, issueError(expr, iss)
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		e := &Error{Expr: expr, Msg: "filter must be a bool expression, not " + t.String()}
		e.Line, e.Column = startPosition(ast)
		return nil, e
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if !withinCostLimit(env, ast) {
		opts = append(opts, cel.CostLimit(costLimit))
	}
	prg, err := env.Program(ast, opts...)
	if err != nil {
		// Planning a checked expression fails only on constant errors found
		// while optimizing, such as a bad regular expression.
		return nil, &Error{Expr: expr, Msg: err.Error()}
	}
	return &Filter{expr: expr, prg: prg, static: isStatic(ast), hints: hintsOf(ast.NativeRep().Expr())}, nil
}

// Hints returns the equalities every match satisfies.
func (f *Filter) Hints() Hints { return f.hints }

// hintsOf collects `VAR == "lit"` and `labels.K == "lit"` (either side,
// or labels["K"]) from the top-level && chain of e.
func hintsOf(e celast.Expr) Hints {
	var h Hints
	var walk func(e celast.Expr)
	walk = func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		call := e.AsCall()
		switch call.FunctionName() {
		case "_&&_":
			for _, a := range call.Args() {
				walk(a)
			}
		case "_==_":
			args := call.Args()
			if len(args) != 2 {
				return
			}
			for i := range 2 {
				lit, ok := stringLiteral(args[1-i])
				if !ok {
					continue
				}
				h.set(args[i], lit)
			}
		}
	}
	walk(e)
	return h
}

func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

func (h *Hints) set(target celast.Expr, lit string) {
	switch target.Kind() {
	case celast.IdentKind:
		switch target.AsIdent() {
		case varID:
			h.ID = lit
		case varModel:
			h.Model = lit
		case varParent:
			h.Parent = lit
		}
	case celast.SelectKind:
		sel := target.AsSelect()
		if !sel.IsTestOnly() && sel.Operand().Kind() == celast.IdentKind && sel.Operand().AsIdent() == varLabels {
			h.label(sel.FieldName(), lit)
		}
	case celast.CallKind:
		call := target.AsCall()
		if call.FunctionName() == "_[_]" && len(call.Args()) == 2 && call.Args()[0].Kind() == celast.IdentKind && call.Args()[0].AsIdent() == varLabels {
			if k, ok := stringLiteral(call.Args()[1]); ok {
				h.label(k, lit)
			}
		}
	}
}

func (h *Hints) label(k, v string) {
	if h.Labels == nil {
		h.Labels = map[string]string{}
	}
	h.Labels[k] = v
}

// withinCostLimit reports whether the checked ast provably stays within
// costLimit, so that it can run without runtime cost tracking, which makes
// an evaluation about four times slower. That holds when the expression
// has no comprehension (without loops every node is evaluated at most once)
// and CEL's static estimate, plus one per node, is within the limit. The
// slack covers selections on dyn values, which the estimate counts as free
// but the runtime tracker charges 1. Sizes of variables are unknown to the
// estimate, so functions whose cost grows with the data (matches, contains)
// estimate far above the limit and stay tracked.
func withinCostLimit(env *cel.Env, ast *cel.Ast) bool {
	native := ast.NativeRep()
	loops := false
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		loops = loops || e.Kind() == celast.ComprehensionKind
	}))
	if loops {
		return false
	}
	nodes := uint64(celast.NodeCount(native))
	if nodes >= costLimit {
		return false
	}
	est, err := env.EstimateCost(ast, noCostHints{})
	return err == nil && est.Max <= costLimit-nodes
}

// noCostHints is a [checker.CostEstimator] that knows nothing beyond CEL's
// defaults: every variable-sized value is of unknown size.
type noCostHints struct{}

func (noCostHints) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (noCostHints) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// issueError turns CEL's first issue into an *Error.
func issueError(expr string, iss *cel.Issues) *Error {
	e := &Error{Expr: expr, Msg: iss.String()}
	errs := iss.Errors()
	if len(errs) == 0 {
		return e
	}
	first := errs[0]
	e.Msg = strings.TrimSuffix(first.Message, " (in container '')")
	if loc := first.Location; loc != nil && loc.Line() > 0 {
		e.Line, e.Column = loc.Line(), loc.Column()+1
	}
	if n := len(errs) - 1; n > 0 {
		e.Msg += fmt.Sprintf(" (and %d more)", n)
	}
	return e
}

// startPosition returns the 1-based line and column of the first token of
// the checked ast, or 0, 0 if unknown.
func startPosition(ast *cel.Ast) (line, column int) {
	info := ast.NativeRep().SourceInfo()
	first := int32(-1)
	for _, r := range info.OffsetRanges() {
		if first < 0 || r.Start < first {
			first = r.Start
		}
	}
	if first < 0 {
		return 0, 0
	}
	loc := info.GetLocationByOffset(first)
	if loc.Line() <= 0 {
		return 0, 0
	}
	return loc.Line(), loc.Column() + 1
}

// isStatic reports whether the checked ast reads only the spec variables.
// Every identifier the checker resolved has a reference; a comprehension
// variable that shadows a state variable (`labels.exists(version, ...)`)
// makes the filter non-static, which is safe.
func isStatic(ast *cel.Ast) bool {
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Value != nil || len(r.OverloadIDs) > 0 {
			continue // a constant or a function
		}
		switch strings.TrimPrefix(r.Name, ".") {
		case varVersion, varActive, varConnectivity, varConnectivitySince, varReported, varDesired:
			return false
		}
	}
	return true
}

// String returns the source expression.
func (f *Filter) String() string { return f.expr }

// Static reports whether the expression reads only id, model, parent and
// labels (the declared, never-changing part of a twin); such a filter can
// be decided from the Spec alone, once.
func (f *Filter) Static() bool { return f.static }

// errNotStatic is returned by MatchSpec for a filter that reads twin state.
var errNotStatic = errors.New("query: filter reads twin state, not only the spec")

// MatchSpec evaluates a Static filter on the spec alone. For a non-static
// filter it returns an error.
func (f *Filter) MatchSpec(spec *twins.Spec) (bool, error) {
	if !f.static {
		return false, fmt.Errorf("query: match spec %s: %w", spec.ID, errNotStatic)
	}
	return f.eval(&activation{spec: spec})
}

// Match evaluates the filter on a twin's state (st.Spec must be set).
// active says whether the twin is activated now. An evaluation error (for
// example a missing map key because the twin never reported that property,
// or a type mismatch) gives false and the error, so callers can treat it as
// "no match" and count it.
//
// Match only reads st; the caller must keep st from changing until Match
// returns.
func (f *Filter) Match(st *twins.State, active bool) (bool, error) {
	return f.eval(&activation{spec: st.Spec, st: st, active: active})
}

func (f *Filter) eval(a *activation) (bool, error) {
	out, _, err := f.prg.Eval(a)
	if err != nil {
		return false, fmt.Errorf("query: evaluate filter on twin %s: %w", a.spec.ID, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("query: evaluate filter on twin %s: result is %s, want bool", a.spec.ID, out.Type().TypeName())
	}
	return bool(b), nil
}
