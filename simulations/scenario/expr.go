package scenario

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/interpreter"
	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/twins"
)

// exprSpec is an expression signal before compilation.
type exprSpec struct {
	src  string
	node *yaml.Node
	path string
}

// celReserved are CEL's reserved words, which cannot name a variable.
var celReserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true, "for": true, "function": true,
	"if": true, "import": true, "let": true, "loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true, "in": true, "true": true, "false": true, "null": true,
}

var undeclared = regexp.MustCompile(`undeclared reference to '([^']*)'`)

// compileExprs compiles the entry's expression points over its other
// points and returns the order in which a tick evaluates the points
// (those an expression reads first); nil if an expression does not
// compile or the expressions read each other in a cycle.
func (p *parser) compileExprs(ent *deviceEntry) []int {
	names := make([]string, len(ent.points))
	var env *cel.Env
	ok := true
	for i, pd := range ent.points {
		names[i] = pd.name
		if pd.sig.expr == nil {
			continue
		}
		if env == nil {
			var err error
			if env, err = exprEnv(ent.points); err != nil {
				p.errorf(pd.sig.expr.node, pd.sig.expr.path, "%v", err)
				return nil
			}
		}
		sig, err := compileExpr(env, ent, pd.sig.expr.src)
		if err != nil {
			p.errorf(pd.sig.expr.node, pd.sig.expr.path, "%s", err.Msg+suggestUndeclared(err.Msg, names))
			ok = false
			continue
		}
		pd.sig.sig = sig
	}
	if !ok {
		return nil
	}
	// Depth-first, in declaration order: a point comes after the points
	// its expression reads.
	const (
		unvisited = iota
		onPath
		done
	)
	state := make([]uint8, len(ent.points))
	order := make([]int, 0, len(ent.points))
	var stack []int
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case done:
			return true
		case onPath:
			// stack holds the path; the cycle starts at i.
			k := len(stack) - 1
			for stack[k] != i {
				k--
			}
			cyc := make([]string, 0, len(stack)-k+1)
			for _, j := range stack[k:] {
				cyc = append(cyc, names[j])
			}
			cyc = append(cyc, names[i])
			pd := ent.points[i]
			if len(cyc) == 2 {
				p.errorf(pd.sig.expr.node, pd.sig.expr.path, "the expression of %s reads %s itself", names[i], names[i])
			} else {
				p.errorf(pd.sig.expr.node, pd.sig.expr.path, "expression cycle: %s", strings.Join(cyc, " -> "))
			}
			return false
		}
		state[i] = onPath
		stack = append(stack, i)
		if e, isExpr := ent.points[i].sig.sig.(*Expr); isExpr {
			for _, d := range e.Deps {
				if !visit(ent.byName[d]) {
					return false
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		order = append(order, i)
		return true
	}
	for i := range ent.points {
		if !visit(i) {
			return nil
		}
	}
	return order
}

// exprEnv declares the entry's points as CEL variables of their types.
func exprEnv(points []*pointDef) (*cel.Env, error) {
	opts := []cel.EnvOption{cel.CrossTypeNumericComparisons(true)}
	for _, pd := range points {
		if celReserved[pd.name] {
			continue // not addressable by name
		}
		opts = append(opts, cel.Variable(pd.name, celType(pd.typ)))
	}
	return cel.NewEnv(opts...)
}

func celType(t twins.Type) *cel.Type {
	switch t {
	case twins.TypeBool:
		return cel.BoolType
	case twins.TypeInt:
		return cel.IntType
	}
	return cel.DoubleType
}

// exprError is an expression that does not compile.
type exprError struct{ Msg string }

// compileExpr type-checks src (a number or a bool) and finds the points it
// reads.
func compileExpr(env *cel.Env, ent *deviceEntry, src string) (*Expr, *exprError) {
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		msg := iss.Err().Error()
		if errs := iss.Errors(); len(errs) > 0 {
			msg = strings.TrimSuffix(errs[0].Message, " (in container '')")
			if loc := errs[0].Location; loc != nil && loc.Line() > 0 {
				msg = fmt.Sprintf("line %d, column %d: %s", loc.Line(), loc.Column()+1, msg)
			}
		}
		return nil, &exprError{Msg: msg}
	}
	out := ast.OutputType()
	if !out.IsExactType(cel.DoubleType) && !out.IsExactType(cel.IntType) && !out.IsExactType(cel.UintType) && !out.IsExactType(cel.BoolType) {
		return nil, &exprError{Msg: "an expression must give a number or a bool, not " + out.String()}
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &exprError{Msg: err.Error()}
	}
	e := &Expr{Source: src, prg: prg}
	seen := map[string]bool{}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() != celast.IdentKind {
			return
		}
		name := x.AsIdent()
		if _, ok := ent.byName[name]; ok && !seen[name] {
			seen[name] = true
			e.Deps = append(e.Deps, name)
		}
	}))
	return e, nil
}

// suggestUndeclared returns a hint for msg: the closest point to an
// undeclared name, or how to mix ints and doubles.
func suggestUndeclared(msg string, names []string) string {
	if strings.Contains(msg, "no matching overload") && strings.Contains(msg, "double") && strings.Contains(msg, "int") {
		return " (CEL does not mix int and double in arithmetic: write 2.0 rather than 2, or convert with double(x))"
	}
	m := undeclared.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return suggest.Closest(m[1], names)
}

// deviceVars are the CEL variables of one device at one tick: its points'
// true values, typed as the points are.
type deviceVars struct {
	dev   *Device
	truth []float64
}

// ResolveName implements interpreter.Activation.
func (v *deviceVars) ResolveName(name string) (any, bool) {
	i, ok := v.dev.points[name]
	if !ok {
		return nil, false
	}
	x := v.truth[i]
	switch v.dev.Points[i].Type {
	case twins.TypeBool:
		return x >= 0.5, true
	case twins.TypeInt:
		return toInt(x), true
	}
	return x, true
}

// Parent implements interpreter.Activation.
func (v *deviceVars) Parent() interpreter.Activation { return nil }

// toInt rounds x to the nearest int64, saturating.
func toInt(x float64) int64 {
	switch {
	case math.IsNaN(x):
		return 0
	case x >= math.MaxInt64:
		return math.MaxInt64
	case x <= math.MinInt64:
		return math.MinInt64
	}
	return int64(math.Round(x))
}
