package twins

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// WindowKind is a function over a property's samples in a window of event
// time.
type WindowKind uint8

// The window functions.
const (
	WindowAvg   WindowKind = iota + 1 // mean of the samples
	WindowMin                         // smallest sample
	WindowMax                         // largest sample
	WindowDelta                       // newest minus oldest sample
	WindowRate                        // delta per second between the oldest and newest sample
	WindowCount                       // number of samples
)

var windowNames = [...]string{WindowAvg: "avg", WindowMin: "min", WindowMax: "max", WindowDelta: "delta", WindowRate: "rate", WindowCount: "count"}

// String returns the function's name in conditions: "avg", "min", ...
func (k WindowKind) String() string {
	if k > 0 && int(k) < len(windowNames) {
		return windowNames[k]
	}
	return "window(" + strconv.Itoa(int(k)) + ")"
}

// Window limits.
const (
	// MaxWindow is the longest window a condition may ask for.
	MaxWindow = 24 * time.Hour
	// MaxWindowPoints bounds the samples a twin keeps per windowed
	// property; beyond it the oldest are dropped (and the window functions
	// see only the newest MaxWindowPoints).
	MaxWindowPoints = 4096
)

// windowVar is the CEL variable the window macros read: a map from
// "kind|property|nanoseconds" to the function's value now.
const windowVar = "_windows"

// WindowSpec is one window function a model's rules use.
type WindowSpec struct {
	Kind     WindowKind
	Property int // index into Model.Properties
	Span     time.Duration
	key      string
}

// windowSet collects a model's window functions while its rules compile.
type windowSet struct {
	m     *Model
	specs []WindowSpec
	keys  map[string]bool
}

// windowMacros returns the macros avg(p, "30s"), min, max, delta, rate and
// count(p, "1m"): each becomes a lookup of its value in windowVar, and
// registers its window with ws. A first argument that is not a property
// name, or a second that is not a literal duration, is a compile error at
// its position.
func windowMacros(ws *windowSet) []cel.EnvOption {
	var opts []cel.EnvOption
	for k := WindowAvg; k <= WindowCount; k++ {
		kind := k
		opts = append(opts, cel.Macros(cel.GlobalMacro(kind.String(), 2, func(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
			if args[0].Kind() != ast.IdentKind {
				return nil, eh.NewError(args[0].ID(), fmt.Sprintf("%s(PROPERTY, \"DURATION\"): the first argument must be a property name", kind))
			}
			name := args[0].AsIdent()
			p, ok := ws.m.Property(name)
			if !ok {
				return nil, eh.NewError(args[0].ID(), fmt.Sprintf("%s: model %s has no property %q", kind, ws.m.Name, name))
			}
			if kind != WindowCount && p.Type != TypeInt && p.Type != TypeDouble {
				return nil, eh.NewError(args[0].ID(), fmt.Sprintf("%s needs a numeric property; %s is %s (count works on any)", kind, name, p.Type))
			}
			var span time.Duration
			if args[1].Kind() == ast.LiteralKind {
				if s, ok := args[1].AsLiteral().(types.String); ok {
					d, err := time.ParseDuration(string(s))
					if err == nil && d > 0 && d <= MaxWindow {
						span = d
					}
				}
			}
			if span == 0 {
				return nil, eh.NewError(args[1].ID(), fmt.Sprintf("%s: the window must be a literal duration such as \"30s\", above 0 and at most %s", kind, MaxWindow))
			}
			key := kind.String() + "|" + name + "|" + strconv.FormatInt(int64(span), 10)
			if !ws.keys[key] {
				ws.keys[key] = true
				ws.specs = append(ws.specs, WindowSpec{Kind: kind, Property: p.Index, Span: span, key: key})
			}
			return eh.NewCall(operators.Index, eh.NewIdent(windowVar), eh.NewLiteral(types.String(key))), nil
		})))
	}
	return opts
}

// windowProps returns, for each property with a window, its longest span,
// ordered by property index: what a State buffers.
func (m *Model) windowProps() []windowProp {
	spans := map[int]time.Duration{}
	for _, w := range m.Windows {
		spans[w.Property] = max(spans[w.Property], w.Span)
	}
	out := make([]windowProp, 0, len(spans))
	for p, s := range spans {
		out = append(out, windowProp{prop: p, span: int64(s)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].prop < out[j].prop })
	return out
}

type windowProp struct {
	prop int
	span int64
}

// WindowBuffer is a twin's recent good samples of one property, oldest
// first, kept for the window functions of its model's rules.
type WindowBuffer struct {
	Property int // index into Model.Properties
	Span     int64
	Times    []int64 // source times, Unix nanoseconds, ascending
	Values   []float64
}

func (b WindowBuffer) clone() WindowBuffer {
	b.Times = append([]int64(nil), b.Times...)
	b.Values = append([]float64(nil), b.Values...)
	return b
}

// add inserts a sample in time order (a late one lands in its place) and
// drops what fell out of the span behind the newest sample.
func (b *WindowBuffer) add(t int64, v float64) {
	n := len(b.Times)
	i := n
	if n > 0 && t < b.Times[n-1] {
		i = sort.Search(n, func(j int) bool { return b.Times[j] > t })
	}
	b.Times = append(b.Times, 0)
	b.Values = append(b.Values, 0)
	copy(b.Times[i+1:], b.Times[i:])
	copy(b.Values[i+1:], b.Values[i:])
	b.Times[i], b.Values[i] = t, v
	newest := b.Times[len(b.Times)-1]
	drop := sort.Search(len(b.Times), func(j int) bool { return b.Times[j] > newest-b.Span })
	drop = max(drop, len(b.Times)-MaxWindowPoints)
	if drop > 0 {
		b.Times = append(b.Times[:0], b.Times[drop:]...)
		b.Values = append(b.Values[:0], b.Values[drop:]...)
	}
}

// Restore refills the buffer from a snapshot's samples (ascending source
// times), keeping what its span and MaxWindowPoints allow.
func (b *WindowBuffer) Restore(times []int64, values []float64) {
	b.Times, b.Values = b.Times[:0], b.Values[:0]
	for i := range min(len(times), len(values)) {
		b.add(times[i], values[i])
	}
}

// value computes kind over the samples in (at-span, at]; ok false when the
// window holds no sample (or, for rate, fewer than two distinct times).
func (b *WindowBuffer) value(kind WindowKind, span, at int64) (float64, bool) {
	lo := sort.Search(len(b.Times), func(j int) bool { return b.Times[j] > at-span })
	hi := sort.Search(len(b.Times), func(j int) bool { return b.Times[j] > at })
	n := hi - lo
	if kind == WindowCount {
		return float64(n), true
	}
	if n == 0 {
		return 0, false
	}
	vs := b.Values[lo:hi]
	switch kind {
	case WindowAvg:
		var sum float64
		for _, v := range vs {
			sum += v
		}
		return sum / float64(n), true
	case WindowMin, WindowMax:
		r := vs[0]
		for _, v := range vs[1:] {
			if (kind == WindowMin && v < r) || (kind == WindowMax && v > r) {
				r = v
			}
		}
		return r, true
	case WindowDelta:
		return vs[n-1] - vs[0], true
	case WindowRate:
		dt := b.Times[hi-1] - b.Times[lo]
		if dt <= 0 {
			return 0, false
		}
		return (vs[n-1] - vs[0]) / (float64(dt) / 1e9), true
	}
	return 0, false
}

// initWindows gives s an empty buffer per windowed property.
func (s *State) initWindows() {
	wp := s.Spec.Model.windowProps()
	if len(wp) == 0 {
		return
	}
	s.Windows = make([]WindowBuffer, len(wp))
	for i, w := range wp {
		s.Windows[i] = WindowBuffer{Property: w.prop, Span: w.span}
	}
}

// windowSample feeds an applied sample to its property's buffer: good
// quality only (a bad or uncertain reading does not enter an average).
func (s *State) windowSample(a *AppliedSample) {
	if a.Quality != QualityGood || len(s.Windows) == 0 {
		return
	}
	for i := range s.Windows {
		if s.Windows[i].Property == a.Property {
			var v float64
			if a.Value.Type() == TypeInt || a.Value.Type() == TypeDouble {
				v = a.Value.AsDouble()
			}
			s.Windows[i].add(a.SourceTime, v)
			return
		}
	}
}

// windowValues computes the model's window functions at event time at.
func (s *State) windowValues(at int64) map[string]float64 {
	specs := s.Spec.Model.Windows
	out := make(map[string]float64, len(specs))
	for _, w := range specs {
		for i := range s.Windows {
			if s.Windows[i].Property != w.Property {
				continue
			}
			if v, ok := s.Windows[i].value(w.Kind, int64(w.Span), at); ok {
				out[w.key] = v
			}
		}
	}
	return out
}
