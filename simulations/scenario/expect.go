package scenario

import (
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
	"github.com/plantwin/plantwin/twins"
)

var (
	expectKeys  = []string{"name", "twin", "alarm", "raised_within", "command", "status", "dispatched_within", "property", "within", "at_end"}
	expectKinds = []string{"alarm", "command", "property", "at_end"}
	statusNames = []string{"pending", "dispatched", "succeeded", "failed", "timed_out"}
)

// expectations parses the expect section.
func (p *parser) expectations(sc *Scenario, n *yaml.Node) {
	first := make(map[string]int)
	fedBy := make(map[string][]*Device) // twin -> devices feeding it
	for _, d := range sc.Devices {
		fedBy[d.Twin] = append(fedBy[d.Twin], d)
	}
	for i, item := range p.seq(n, "expect") {
		path := yamlnode.Index("expect", i)
		if x := p.expectation(sc, item, path, fedBy); x != nil {
			if line, dup := first[x.Name]; dup {
				p.errorf(x.nameNode, yamlnode.Join(path, "name"), "duplicate expectation %q (first declared at line %d)", x.Name, line)
				continue
			}
			first[x.Name] = x.Line
			sc.Expect = append(sc.Expect, &x.Expectation)
		}
	}
}

type parsedExpectation struct {
	Expectation
	nameNode *yaml.Node
}

func (p *parser) expectation(sc *Scenario, item *yaml.Node, path string, fedBy map[string][]*Device) *parsedExpectation {
	before := len(p.errs)
	fs, ok := p.fields(item, path, expectKeys)
	if !ok {
		return nil
	}
	item = yamlnode.Deref(item)
	misspelt := len(p.errs) > before // an unknown key: maybe the kind
	x := &parsedExpectation{Expectation: Expectation{Line: item.Line}}
	x.Name, x.nameNode = p.requiredString(fs, item, path, "name")
	if x.nameNode != nil && strings.TrimSpace(x.Name) == "" {
		p.errorf(x.nameNode, yamlnode.Join(path, "name"), "must not be empty")
	}
	twin, twinNode := p.requiredString(fs, item, path, "twin")
	x.Twin = twin
	var kinds []entry
	for _, k := range expectKinds {
		if e, ok := fs[k]; ok {
			kinds = append(kinds, e)
		}
	}
	switch len(kinds) {
	case 0:
		if !misspelt {
			p.errorf(item, path, "an expectation checks one of alarm, command, property or at_end")
		}
		return nil
	case 1:
	default:
		a, b := kinds[0], kinds[1]
		if b.key.Line < a.key.Line || (b.key.Line == a.key.Line && b.key.Column < a.key.Column) {
			a, b = b, a
		}
		p.errorf(b.key, path, "an expectation checks one thing, got both %s and %s", a.key.Value, b.key.Value)
		return nil
	}
	kind := kinds[0].key.Value
	// Fields that belong to another kind.
	for key, owner := range map[string]string{"raised_within": "alarm", "status": "command", "dispatched_within": "command", "within": "property"} {
		if e, ok := fs[key]; ok && owner != kind {
			p.errorf(e.key, yamlnode.Join(path, key), "%s is for %s expectations, not %s ones", key, owner, kind)
		}
	}
	// The twin: in the plant, or else fed by a device.
	var model *twins.Model
	var fed []*Device
	checkable := twinNode != nil && !p.broken["twin:"+twin]
	if checkable && sc.Plant != nil {
		spec, ok := sc.Plant.Twin(twin)
		if !ok {
			p.errorf(twinNode, yamlnode.Join(path, "twin"), "twin %q is not in the plant%s", twin, suggest.Closest(twin, twinIDs(sc.Plant)))
			checkable = false
		} else {
			model = spec.Model
		}
	} else if checkable && p.plantOK(sc) {
		if fed = fedBy[twin]; len(fed) == 0 {
			p.errorf(twinNode, yamlnode.Join(path, "twin"), "no device feeds twin %q%s", twin, suggest.Closest(twin, fedTwins(fedBy)))
			checkable = false
		}
	}
	checkable = checkable && p.plantOK(sc)
	e := kinds[0]
	kpath := yamlnode.Join(path, kind)
	switch kind {
	case "alarm":
		x.Kind = ExpectAlarm
		if s, ok := p.str(e.val, kpath); ok {
			x.Alarm = s
			if checkable && model != nil && !hasRule(model, s) {
				p.errorf(yamlnode.Deref(e.val), kpath, "model %s of twin %s has no rule %q (alarms are raised by rules)%s", model.Name, twin, s, suggest.Closest(s, ruleNames(model)))
			}
		}
		if w, ok := fs["raised_within"]; ok {
			x.RaisedWithin = p.interval(w.val, yamlnode.Join(path, "raised_within"), sc.Duration)
		}
	case "command":
		x.Kind, x.Status = ExpectCommand, twins.CommandSucceeded
		if s, ok := p.str(e.val, kpath); ok {
			x.Command = s
			// "write" is the runtime's own: a desired value written to
			// the device.
			if _, known := commandOf(model, s); checkable && model != nil && !known && s != "write" {
				p.errorf(yamlnode.Deref(e.val), kpath, "model %s of twin %s has no command %q (or write, a desired value written)%s", model.Name, twin, s, suggest.Closest(s, commandNames(model)))
			}
		}
		if st, ok := fs["status"]; ok {
			spath := yamlnode.Join(path, "status")
			if s, ok := p.str(st.val, spath); ok {
				status, err := twins.ParseCommandStatus(s)
				if err != nil {
					p.errorf(yamlnode.Deref(st.val), spath, "unknown status %q%s (want %s)", s, suggest.Closest(s, statusNames), strings.Join(statusNames, ", "))
				}
				x.Status = status
			}
		}
		if w, ok := fs["dispatched_within"]; ok {
			x.DispatchedWithin = p.interval(w.val, yamlnode.Join(path, "dispatched_within"), sc.Duration)
		}
	case "property":
		x.Kind = ExpectBounds
		if s, ok := p.str(e.val, kpath); ok {
			x.Property = s
			if checkable {
				p.checkProperty(yamlnode.Deref(e.val), kpath, twin, s, model, fed)
			}
		}
		w, ok := fs["within"]
		if !ok {
			p.errorf(item, yamlnode.Join(path, "within"), "missing required field \"within\" (the bounds [MIN, MAX])")
			break
		}
		wpath := yamlnode.Join(path, "within")
		wn := yamlnode.Deref(w.val)
		if wn.Kind != yaml.SequenceNode || len(wn.Content) != 2 {
			p.errorf(wn, wpath, "want [MIN, MAX], two numbers, got %s", yamlnode.Kind(wn))
			break
		}
		lo, ok1 := p.number(wn.Content[0], yamlnode.Index(wpath, 0))
		hi, ok2 := p.number(wn.Content[1], yamlnode.Index(wpath, 1))
		if ok1 && ok2 && lo > hi {
			p.errorf(wn, wpath, "min %g is above max %g", lo, hi)
		}
		x.Min, x.Max = lo, hi
	case "at_end":
		x.Kind = ExpectEndState
		x.AtEnd = make(map[string]twins.Value)
		kvs := p.mapping(e.val, kpath)
		if len(kvs) == 0 {
			p.errorf(yamlnode.Deref(e.val), kpath, "want a mapping of properties to their values at the end, e.g. {running: false}")
		}
		for _, kv := range kvs {
			ppath := yamlnode.Join(kpath, kv.key.Value)
			if checkable && !p.checkProperty(kv.key, ppath, twin, kv.key.Value, model, fed) {
				continue
			}
			v, ok := p.endValue(kv.val, ppath, model, kv.key.Value)
			if ok {
				x.AtEnd[kv.key.Value] = v
			}
		}
	}
	if len(p.errs) != before {
		return nil
	}
	return x
}

// plantOK reports whether the plant, if the scenario names one, parsed.
func (p *parser) plantOK(sc *Scenario) bool {
	return sc.Plant != nil || !p.hasPlant
}

// checkProperty checks that twin has property name: in its model with a
// plant, or as a point of a device feeding it.
func (p *parser) checkProperty(at *yaml.Node, path, twin, name string, model *twins.Model, fed []*Device) bool {
	if model != nil {
		if _, ok := model.Property(name); !ok {
			p.errorf(at, path, "model %s of twin %s has no property %q%s", model.Name, twin, name, suggest.Closest(name, propertyNames(model)))
			return false
		}
		return true
	}
	var known []string
	for _, d := range fed {
		if _, ok := d.Point(name); ok {
			return true
		}
		known = append(known, pointNamesOf(d)...)
	}
	if len(fed) > 0 {
		p.errorf(at, path, "no device feeds property %q of twin %s%s", name, twin, suggest.Closest(name, known))
		return false
	}
	return true
}

// endValue converts an at_end value: typed by the model's property when
// there is one, else by its YAML tag.
func (p *parser) endValue(n *yaml.Node, path string, model *twins.Model, prop string) (twins.Value, bool) {
	n = yamlnode.Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.errorf(n, path, "want a value, got %s", yamlnode.Kind(n))
		return twins.Value{}, false
	}
	var typ twins.Type
	var pr *twins.Property
	if model != nil {
		pr, _ = model.Property(prop)
	}
	if pr != nil {
		typ = pr.Type
	} else {
		switch n.ShortTag() {
		case "!!bool":
			typ = twins.TypeBool
		case "!!int":
			typ = twins.TypeInt
		case "!!float":
			typ = twins.TypeDouble
		default:
			typ = twins.TypeString
		}
	}
	switch typ {
	case twins.TypeBool:
		var b bool
		if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			p.errorf(n, path, "want true or false, got %s", yamlnode.Kind(n))
			return twins.Value{}, false
		}
		return twins.Bool(b), true
	case twins.TypeInt:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil || n.ShortTag() != "!!int" {
			p.errorf(n, path, "want an integer, got %s", yamlnode.Kind(n))
			return twins.Value{}, false
		}
		return twins.Int(i), true
	case twins.TypeDouble:
		f, ok := p.number(n, path)
		return twins.Double(f), ok
	case twins.TypeEnum:
		if !containsString(pr.Enum, n.Value) {
			p.errorf(n, path, "%q is not a value of %s%s (want one of %s)", n.Value, prop, suggest.Closest(n.Value, pr.Enum), strings.Join(pr.Enum, ", "))
			return twins.Value{}, false
		}
		return twins.Enum(n.Value), true
	}
	return twins.String(n.Value), true
}

func hasRule(m *twins.Model, name string) bool {
	for i := range m.Rules {
		if m.Rules[i].Name == name {
			return true
		}
	}
	return false
}

func ruleNames(m *twins.Model) []string {
	names := make([]string, len(m.Rules))
	for i := range m.Rules {
		names[i] = m.Rules[i].Name
	}
	return names
}

func commandOf(m *twins.Model, name string) (*twins.Command, bool) {
	if m == nil {
		return nil, false
	}
	return m.Command(name)
}

func fedTwins(fedBy map[string][]*Device) []string {
	if len(fedBy) > 10_000 {
		return nil
	}
	out := make([]string, 0, len(fedBy))
	for t := range fedBy {
		out = append(out, t)
	}
	slices.Sort(out) // suggestions must not depend on map order
	return out
}
