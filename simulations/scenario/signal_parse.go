package scenario

import (
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
)

// SignalKinds are the signal kinds of scenario files.
var SignalKinds = []string{"constant", "sine", "ramp", "square", "step", "sawtooth", "random_walk", "noise", "csv", "expr"}

// signalDef is a parsed signal: sig, or a CSV to load per device (its
// file or column uses {n}), or an expression compiled once the device's
// point types are known.
type signalDef struct {
	sig  Signal
	csv  *csvSpec
	expr *exprSpec
}

// pkind is the kind of a parameter.
type pkind uint8

const (
	pNumber pkind = iota
	pDuration
	pString
)

// param declares one parameter of a signal, fault or transition.
type param struct {
	name     string
	kind     pkind
	dur      durKind // for pDuration
	required bool
}

// pval is a parameter's value.
type pval struct {
	f    float64
	d    time.Duration
	s    string
	node *yaml.Node
}

// params reads the parameters of n against specs; it reports false if any
// is missing or invalid.
func (p *parser) params(n *yaml.Node, path string, specs []param) (map[string]pval, bool) {
	known := make([]string, len(specs))
	for i, s := range specs {
		known[i] = s.name
	}
	before := len(p.errs)
	fs, ok := p.fields(n, path, known)
	if !ok {
		return nil, false
	}
	// A misspelt parameter is reported as unknown, not also as missing.
	misspelt := len(p.errs) > before
	vals := make(map[string]pval, len(specs))
	for _, s := range specs {
		e, ok := fs[s.name]
		fpath := yamlnode.Join(path, s.name)
		if !ok {
			if s.required && !misspelt {
				p.errorf(yamlnode.Deref(n), fpath, "missing required parameter %q", s.name)
			}
			continue
		}
		v := pval{node: yamlnode.Deref(e.val)}
		var good bool
		switch s.kind {
		case pNumber:
			v.f, good = p.number(e.val, fpath)
		case pDuration:
			v.d, good = p.duration(e.val, fpath, s.dur)
		case pString:
			v.s, good = p.str(e.val, fpath)
		}
		if good {
			vals[s.name] = v
		}
	}
	for _, s := range specs {
		if _, ok := fs[s.name]; (ok || s.required) && !has(vals, s.name) {
			return vals, false
		}
	}
	return vals, true
}

func has(m map[string]pval, k string) bool {
	_, ok := m[k]
	return ok
}

// oneOf reads a mapping of exactly one key among kinds (a signal, a
// transition) and returns the key and its value; want describes the
// choices for messages.
func (p *parser) oneOf(n *yaml.Node, path string, kinds []string, want string) (string, *yaml.Node, *yaml.Node, bool) {
	n = yamlnode.Deref(n)
	if !p.visit(n) {
		return "", nil, nil, false
	}
	if n == nil || n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want %s, got %s", want, yamlnode.Kind(n))
		return "", nil, nil, false
	}
	kvs := p.pairs(n, path)
	switch {
	case len(kvs) == 0:
		if len(n.Content) == 0 {
			p.errorf(n, path, "want %s, got an empty mapping", want)
		}
		return "", nil, nil, false
	case len(kvs) > 1:
		p.errorf(kvs[1].key, path, "want one of %s, got both %s and %s", strings.Join(kinds, ", "), kvs[0].key.Value, kvs[1].key.Value)
		return "", nil, nil, false
	}
	k := kvs[0]
	if !containsString(kinds, k.key.Value) {
		p.errorf(k.key, yamlnode.Join(path, k.key.Value), "unknown kind %q%s (want %s)", k.key.Value, suggest.Closest(k.key.Value, kinds), strings.Join(kinds, ", "))
		return "", nil, nil, false
	}
	return k.key.Value, k.key, k.val, true
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// signal parses a point's signal: a mapping of one kind to its parameters.
func (p *parser) signal(sc *Scenario, n *yaml.Node, path string) (signalDef, bool) {
	kind, key, val, ok := p.oneOf(n, path, SignalKinds, "one signal kind ("+strings.Join(SignalKinds, ", ")+")")
	if !ok {
		return signalDef{}, false
	}
	kpath := yamlnode.Join(path, kind)
	num := func(name string, required bool) param { return param{name: name, kind: pNumber, required: required} }
	dur := func(name string, k durKind, required bool) param {
		return param{name: name, kind: pDuration, dur: k, required: required}
	}
	switch kind {
	case "constant":
		v := yamlnode.Deref(val)
		if v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
			var b bool
			_ = v.Decode(&b)
			if b {
				return signalDef{sig: Constant{Value: 1}}, true
			}
			return signalDef{sig: Constant{Value: 0}}, true
		}
		f, ok := p.number(val, kpath)
		return signalDef{sig: Constant{Value: f}}, ok
	case "expr":
		src, ok := p.str(val, kpath)
		if !ok {
			return signalDef{}, false
		}
		if strings.TrimSpace(src) == "" {
			p.errorf(yamlnode.Deref(val), kpath, "empty expression")
			return signalDef{}, false
		}
		return signalDef{expr: &exprSpec{src: src, node: yamlnode.Deref(val), path: kpath}}, true
	case "csv":
		return p.csvDef(val, kpath)
	}
	var specs []param
	switch kind {
	case "sine":
		specs = []param{num("mean", false), num("amplitude", true), dur("period", durPositive, true), dur("phase", durAny, false)}
	case "ramp":
		specs = []param{num("from", true), num("to", true), dur("over", durPositive, true)}
	case "square":
		specs = []param{num("low", true), num("high", true), dur("period", durPositive, true), num("duty", false), dur("phase", durAny, false)}
	case "step":
		specs = []param{num("before", true), num("after", true), dur("at", durNonNeg, true)}
	case "sawtooth":
		specs = []param{num("min", true), num("max", true), dur("period", durPositive, true), dur("phase", durAny, false)}
	case "random_walk":
		specs = []param{num("start", true), num("step", true), num("min", false), num("max", false)}
	case "noise":
		specs = []param{num("mean", false), num("stddev", true)}
	}
	v, ok := p.params(val, kpath, specs)
	if !ok {
		return signalDef{}, false
	}
	bad := func(name, format string, args ...any) (signalDef, bool) {
		at := v[name].node
		if at == nil {
			at = key
		}
		p.errorf(at, yamlnode.Join(kpath, name), format, args...)
		return signalDef{}, false
	}
	switch kind {
	case "sine":
		return signalDef{sig: Sine{Mean: v["mean"].f, Amplitude: v["amplitude"].f, Period: v["period"].d, Phase: v["phase"].d}}, true
	case "ramp":
		return signalDef{sig: Ramp{From: v["from"].f, To: v["to"].f, Over: v["over"].d}}, true
	case "square":
		duty := 0.5
		if d, ok := v["duty"]; ok {
			if d.f <= 0 || d.f >= 1 {
				return bad("duty", "duty %g is outside (0, 1): the fraction of each period at high", d.f)
			}
			duty = d.f
		}
		return signalDef{sig: Square{Low: v["low"].f, High: v["high"].f, Period: v["period"].d, Phase: v["phase"].d, Duty: duty}}, true
	case "step":
		if at := v["at"].d; sc.Duration > 0 && at > sc.Duration {
			return bad("at", "%s is beyond the scenario's duration %s", fmtDur(at), fmtDur(sc.Duration))
		}
		return signalDef{sig: Step{Before: v["before"].f, After: v["after"].f, Time: v["at"].d}}, true
	case "sawtooth":
		if v["min"].f > v["max"].f {
			return bad("max", "max %g is below min %g", v["max"].f, v["min"].f)
		}
		return signalDef{sig: Sawtooth{Min: v["min"].f, Max: v["max"].f, Period: v["period"].d, Phase: v["phase"].d}}, true
	case "random_walk":
		w := RandomWalk{Start: v["start"].f, Step: v["step"].f, Min: math.Inf(-1), Max: math.Inf(1)}
		if lo, ok := v["min"]; ok {
			w.Min = lo.f
		}
		if hi, ok := v["max"]; ok {
			w.Max = hi.f
		}
		switch {
		case w.Step < 0:
			return bad("step", "must not be negative, got %g", w.Step)
		case w.Min > w.Max:
			return bad("max", "max %g is below min %g", w.Max, w.Min)
		case w.Start < w.Min || w.Start > w.Max:
			return bad("start", "start %g is outside [min, max] = [%g, %g]", w.Start, w.Min, w.Max)
		}
		return signalDef{sig: w}, true
	case "noise":
		if s := v["stddev"].f; s < 0 {
			return bad("stddev", "must not be negative, got %g", s)
		}
		return signalDef{sig: Noise{Mean: v["mean"].f, StdDev: v["stddev"].f}}, true
	}
	return signalDef{}, false
}
