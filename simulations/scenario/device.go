package scenario

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
	"github.com/plantwin/plantwin/twins"
)

var (
	deviceKeys  = []string{"name", "twin", "expose", "points", "reacts"}
	pointKeys   = []string{"signal", "address", "type"}
	exposeList  = "direct, opcua, modbus or mqtt"
	pointTypes  = []string{"double", "int", "bool"}
	reactKeys   = []string{"set", "lag"}
	transitions = []string{"ramp", "decay"}
)

// pointDef is a point as declared in a device entry, before the entry's
// template is expanded.
type pointDef struct {
	name    string
	key     *yaml.Node
	path    string
	typ     twins.Type // declared, or resolved; 0 until then
	typNode *yaml.Node
	sig     signalDef
	address map[string]any
	usesN   bool // address or CSV file/column contain {n}
}

// deviceEntry is one item of the devices list.
type deviceEntry struct {
	path     string
	item     *yaml.Node
	exps     []twins.Expansion
	twin     string // template: may hold {n}; "" : the device's name
	twinNode *yaml.Node
	expose   Expose
	points   []*pointDef
	byName   map[string]int
	// declared holds every point name of the entry, those with errors
	// included, which other fields may name without more errors.
	declared map[string]bool
	order    []int
	reacts   []*Reaction
	rindex   map[string]int
	nameKey  *yaml.Node
}

func (e *deviceEntry) twinOf(x twins.Expansion) string {
	if e.twin == "" {
		return x.ID
	}
	return strings.ReplaceAll(e.twin, "{n}", x.N)
}

// devices parses the devices list and expands its templates.
func (p *parser) devices(sc *Scenario, n *yaml.Node) {
	sc.devices = make(map[string]int)
	fed := make(map[[2]string]string) // (twin, point) -> device
	for i, item := range p.seq(n, "devices") {
		ent, good := p.device(sc, item, yamlnode.Index("devices", i))
		if ent == nil {
			continue
		}
		if !good {
			// Later sections naming its devices or twins are not
			// reported again.
			for _, x := range ent.exps {
				p.broken[x.ID] = true
				p.broken["twin:"+ent.twinOf(x)] = true
			}
			continue
		}
		p.expandDevice(sc, ent, fed)
	}
}

// device parses one entry of the devices list; good is false when it has
// errors (ent is nil if its name is unknown).
func (p *parser) device(sc *Scenario, item *yaml.Node, path string) (ent *deviceEntry, good bool) {
	fs, ok := p.fields(item, path, deviceKeys)
	if !ok {
		return nil, false
	}
	ent = &deviceEntry{path: path, item: yamlnode.Deref(item), expose: ExposeDirect}
	before := len(p.errs)
	name, nameNode := p.requiredString(fs, ent.item, path, "name")
	if nameNode != nil {
		ent.exps = p.expand(nameNode, yamlnode.Join(path, "name"), name, "device", p.lim.devices-len(sc.Devices))
		ent.nameKey = nameNode
	}
	isRange := len(ent.exps) > 0 && ent.exps[0].N != ""
	if e, ok := fs["twin"]; ok {
		tpath := yamlnode.Join(path, "twin")
		if s, ok := p.str(e.val, tpath); ok {
			ent.twinNode = e.val
			switch {
			case strings.Contains(s, "{n}") && !isRange && len(ent.exps) > 0:
				p.errorf(e.val, tpath, "{n} is only allowed when the name has a {A..B} range")
			case len(ent.exps) > 0:
				// The first and last expansions have every character
				// and the longest number.
				for _, x := range []twins.Expansion{ent.exps[0], ent.exps[len(ent.exps)-1]} {
					id := strings.ReplaceAll(s, "{n}", x.N)
					if strings.Contains(id, "{") {
						p.errorf(e.val, tpath, "twin %q is one twin: the {A..B} range goes in the name, {n} in the twin", s)
						ent.exps = nil
						break
					}
					if _, err := twins.ExpandTemplate(id); err != nil {
						p.errorf(e.val, tpath, "%v", err)
						ent.exps = nil
						break
					}
				}
				ent.twin = s
			}
		}
	}
	if e, ok := fs["expose"]; ok {
		ent.expose = p.expose(e.val, yamlnode.Join(path, "expose"))
	}
	ppath := yamlnode.Join(path, "points")
	pe, ok := fs["points"]
	if !ok {
		p.errorf(ent.item, ppath, "missing required field \"points\" (a device produces at least one point)")
		return ent, false
	}
	ent.byName = make(map[string]int)
	ent.declared = make(map[string]bool)
	for _, kv := range p.mapping(pe.val, ppath) {
		ent.declared[kv.key.Value] = true
		if pd := p.point(sc, kv, ppath, ent.expose, isRange); pd != nil {
			ent.byName[pd.name] = len(ent.points)
			ent.points = append(ent.points, pd)
		}
	}
	if len(ent.points) == 0 {
		if n := yamlnode.Deref(pe.val); n != nil && n.Kind == yaml.MappingNode && len(n.Content) == 0 {
			p.errorf(n, ppath, "a device produces at least one point")
		}
		return ent, false
	}
	model := p.entryModel(sc, ent)
	p.resolveTypes(sc, ent, model)
	ent.order = p.compileExprs(ent)
	if e, ok := fs["reacts"]; ok {
		ent.reacts, ent.rindex = p.reacts(e.val, yamlnode.Join(path, "reacts"), ent, model)
	}
	return ent, len(ent.exps) > 0 && ent.order != nil && len(p.errs) == before && !p.truncated
}

// expose parses the expose field.
func (p *parser) expose(n *yaml.Node, path string) Expose {
	s, ok := p.str(n, path)
	if !ok {
		return ExposeDirect
	}
	if e, ok := ParseExpose(s); ok {
		return e
	}
	p.errorf(yamlnode.Deref(n), path, "unknown exposure %q%s (want %s)", s, suggest.Closest(s, exposeNames[1:]), exposeList)
	return ExposeDirect
}

// point parses one point of a device.
func (p *parser) point(sc *Scenario, kv entry, ppath string, expose Expose, isRange bool) *pointDef {
	name := kv.key.Value
	path := yamlnode.Join(ppath, name)
	if !validName(name) {
		p.errorf(kv.key, path, "invalid point name %q (%s)", name, nameRule)
		return nil
	}
	fs, ok := p.fields(kv.val, path, pointKeys)
	if !ok {
		return nil
	}
	pd := &pointDef{name: name, key: kv.key, path: path}
	if e, ok := fs["type"]; ok {
		tpath := yamlnode.Join(path, "type")
		if s, ok := p.str(e.val, tpath); ok {
			switch s {
			case "double":
				pd.typ = twins.TypeDouble
			case "int":
				pd.typ = twins.TypeInt
			case "bool":
				pd.typ = twins.TypeBool
			default:
				p.errorf(yamlnode.Deref(e.val), tpath, "unknown point type %q%s (want double, int or bool)", s, suggest.Closest(s, pointTypes))
			}
			pd.typNode = yamlnode.Deref(e.val)
		}
	}
	if e, ok := fs["address"]; ok {
		apath := yamlnode.Join(path, "address")
		switch a := yamlnode.Deref(e.val); {
		case expose == ExposeDirect:
			p.errorf(e.key, apath, "a direct device's points take no address (addresses are for opcua, modbus and mqtt devices)")
		case a.Kind != yaml.MappingNode:
			p.errorf(a, apath, "want a mapping (for %s, e.g. %s), got %s", expose, addressExample(expose), yamlnode.Kind(a))
		default:
			v, usesN := p.raw(a, apath, 0)
			pd.address, _ = v.(map[string]any)
			pd.usesN = pd.usesN || usesN
		}
	}
	se, ok := fs["signal"]
	if !ok {
		p.errorf(kv.val, yamlnode.Join(path, "signal"), "missing required field \"signal\" (e.g. {constant: 30} or {sine: {mean: 60, amplitude: 5, period: 2m}})")
		return nil
	}
	sig, ok := p.signal(sc, se.val, yamlnode.Join(path, "signal"))
	if !ok {
		return nil
	}
	pd.sig = sig
	if sig.csv != nil && sig.csv.usesN {
		pd.usesN = true
	}
	if pd.usesN && !isRange {
		p.errorf(kv.key, path, "{n} is only allowed when the device's name has a {A..B} range")
		return nil
	}
	return pd
}

func addressExample(e Expose) string {
	switch e {
	case ExposeOPCUA:
		return "{node_id: \"ns=2;s=Press1.Temperature\"}"
	case ExposeModbus:
		return "{table: holding, address: 0, type: float32}"
	}
	return "{topic: plant/press-1, field: temperature}"
}

// raw converts an address node to plain values, reporting whether a
// string in it contains {n}.
func (p *parser) raw(n *yaml.Node, path string, depth int) (any, bool) {
	n = yamlnode.Deref(n)
	if !p.visit(n) || n == nil {
		return nil, false
	}
	if depth > 32 {
		p.errorf(n, path, "nested too deeply")
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		usesN := false
		for _, kv := range p.pairs(n, path) {
			v, u := p.raw(kv.val, yamlnode.Join(path, kv.key.Value), depth+1)
			m[kv.key.Value] = v
			usesN = usesN || u
		}
		return m, usesN
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		usesN := false
		for i, c := range n.Content {
			v, u := p.raw(c, yamlnode.Index(path, i), depth+1)
			l = append(l, v)
			usesN = usesN || u
		}
		return l, usesN
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, false
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b, false
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i, false
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				return f, false
			}
		}
		return n.Value, strings.Contains(n.Value, "{n}")
	}
	return nil, false
}

// substN returns v with {n} replaced by num in every string.
func substN(v any, num string) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "{n}", num)
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = substN(x, num)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = substN(x, num)
		}
		return l
	}
	return v
}

// entryModel returns the plant model of the entry's first twin (nil
// without a plant or when the twin is not in it, which is reported).
func (p *parser) entryModel(sc *Scenario, ent *deviceEntry) *twins.Model {
	if sc.Plant == nil || len(ent.exps) == 0 {
		return nil
	}
	missing, first := 0, ""
	for _, x := range ent.exps {
		if _, ok := sc.Plant.Twin(ent.twinOf(x)); !ok {
			if missing == 0 {
				first = ent.twinOf(x)
			}
			missing++
		}
	}
	if missing > 0 {
		at, field := ent.nameKey, yamlnode.Join(ent.path, "name")
		if ent.twinNode != nil {
			at, field = yamlnode.Deref(ent.twinNode), yamlnode.Join(ent.path, "twin")
		}
		msg := fmt.Sprintf("twin %q is not in the plant%s", first, suggest.Closest(first, twinIDs(sc.Plant)))
		if ent.twinNode == nil {
			msg += " (a device feeds the twin of its name unless twin: says otherwise)"
		}
		if missing > 1 {
			msg += fmt.Sprintf(" (and %d more of this entry's twins)", missing-1)
		}
		p.errorf(at, field, "%s", msg)
		return nil
	}
	spec, _ := sc.Plant.Twin(ent.twinOf(ent.exps[0]))
	return spec.Model
}

func twinIDs(c *twins.Config) []string {
	if len(c.Twins) > 10_000 {
		return nil // too many to suggest from
	}
	ids := make([]string, len(c.Twins))
	for i, s := range c.Twins {
		ids[i] = s.ID
	}
	return ids
}

func propertyNames(m *twins.Model) []string {
	names := make([]string, len(m.Properties))
	for i := range m.Properties {
		names[i] = m.Properties[i].Name
	}
	return names
}

// resolveTypes gives each point its type and checks a device's points
// against its twins' models: each point must be a numeric or bool
// property of the model, of the same type in every twin of the entry.
// (A device served over a protocol is bound to its twin point by point,
// by name, just as a direct device feeds it.)
func (p *parser) resolveTypes(sc *Scenario, ent *deviceEntry, model *twins.Model) {
	for _, pd := range ent.points {
		if model == nil {
			if pd.typ == 0 {
				pd.typ = twins.TypeDouble
			}
			continue
		}
		prop, ok := model.Property(pd.name)
		if !ok {
			p.errorf(pd.key, pd.path, "model %s of twin %s has no property %q%s (a device's points are its twin's properties)",
				model.Name, ent.twinOf(ent.exps[0]), pd.name, suggest.Closest(pd.name, propertyNames(model)))
			pd.typ = cmp.Or(pd.typ, twins.TypeDouble)
			continue
		}
		switch prop.Type {
		case twins.TypeBool, twins.TypeInt, twins.TypeDouble:
		default:
			p.errorf(pd.key, pd.path, "property %s of model %s is a%s %s; signals give numbers and bools", pd.name, model.Name, article(prop.Type), prop.Type)
			pd.typ = cmp.Or(pd.typ, twins.TypeDouble)
			continue
		}
		if pd.typ == 0 {
			pd.typ = prop.Type
		} else if pd.typ != prop.Type && !(pd.typ == twins.TypeInt && prop.Type == twins.TypeDouble) {
			p.errorf(pd.typNode, yamlnode.Join(pd.path, "type"), "type %s does not fit property %s of model %s, a%s %s", pd.typ, pd.name, model.Name, article(prop.Type), prop.Type)
		}
		// Every twin of a template must agree.
		for _, x := range ent.exps[1:] {
			spec, ok := sc.Plant.Twin(ent.twinOf(x))
			if !ok || spec.Model == model {
				continue
			}
			if other, ok := spec.Model.Property(pd.name); !ok || other.Type != prop.Type {
				p.errorf(pd.key, pd.path, "twins %s (model %s) and %s (model %s) differ on property %s; one entry feeds twins of one shape",
					ent.twinOf(ent.exps[0]), model.Name, spec.ID, spec.Model.Name, pd.name)
				break
			}
		}
	}
}

func article(t twins.Type) string {
	if t == twins.TypeInt || t == twins.TypeEnum {
		return "n"
	}
	return ""
}

// reacts parses a device's reactions. With a plant, each is to a command
// or a property of the twin's model, or to a point of the device.
func (p *parser) reacts(n *yaml.Node, path string, ent *deviceEntry, model *twins.Model) ([]*Reaction, map[string]int) {
	var out []*Reaction
	index := make(map[string]int)
	pointNames := make([]string, len(ent.points))
	for i, pd := range ent.points {
		pointNames[i] = pd.name
	}
	for _, kv := range p.mapping(n, path) {
		name := kv.key.Value
		rpath := yamlnode.Join(path, name)
		if !validName(name) {
			p.errorf(kv.key, rpath, "invalid command or point name %q (%s)", name, nameRule)
			continue
		}
		if model != nil {
			_, isCmd := model.Command(name)
			_, isProp := model.Property(name)
			if _, isPoint := ent.byName[name]; !isCmd && !isProp && !isPoint {
				known := append(commandNames(model), propertyNames(model)...)
				p.errorf(kv.key, rpath, "model %s has no command or property %q to react to%s", model.Name, name, suggest.Closest(name, known))
				continue
			}
		}
		fs, ok := p.fields(kv.val, rpath, reactKeys)
		if !ok {
			continue
		}
		r := &Reaction{Name: name}
		if e, ok := fs["set"]; ok {
			spath := yamlnode.Join(rpath, "set")
			for _, t := range p.mapping(e.val, spath) {
				if tr, ok := p.transition(t, spath, ent, pointNames); ok {
					r.Set = append(r.Set, tr)
				}
			}
		}
		if e, ok := fs["lag"]; ok {
			lpath := yamlnode.Join(rpath, "lag")
			if vals, ok := p.params(e.val, lpath, []param{{name: "point", kind: pString, required: true}, {name: "tau", kind: pDuration, dur: durPositive, required: true}}); ok {
				pt := vals["point"]
				if _, known := ent.byName[pt.s]; !known && !ent.declared[pt.s] {
					p.errorf(pt.node, yamlnode.Join(lpath, "point"), "device has no point %q%s", pt.s, suggest.Closest(pt.s, pointNames))
				} else {
					r.Lag = &Lag{Point: pt.s, Tau: vals["tau"].d}
				}
			}
		}
		if len(fs) == 0 {
			p.errorf(kv.val, rpath, "a reaction needs set (points to move) or lag (a point following the written value)")
			continue
		}
		index[name] = len(out)
		out = append(out, r)
	}
	return out, index
}

func commandNames(m *twins.Model) []string {
	names := make([]string, len(m.Commands))
	for i := range m.Commands {
		names[i] = m.Commands[i].Name
	}
	return names
}

// transition parses one point of a reaction's set: a number (jump), or
// {ramp: {to, over}} or {decay: {to, tau}}.
func (p *parser) transition(kv entry, spath string, ent *deviceEntry, pointNames []string) (Transition, bool) {
	name := kv.key.Value
	path := yamlnode.Join(spath, name)
	if _, ok := ent.byName[name]; !ok {
		if !ent.declared[name] {
			p.errorf(kv.key, path, "device has no point %q%s", name, suggest.Closest(name, pointNames))
		}
		return Transition{}, false
	}
	tr := Transition{Point: name}
	v := yamlnode.Deref(kv.val)
	if v != nil && v.Kind == yaml.ScalarNode {
		f, ok := p.number(v, path)
		tr.Kind, tr.To = TransitionJump, f
		return tr, ok
	}
	kind, _, val, ok := p.oneOf(v, path, transitions, "a number, or one of ramp: {to, over} and decay: {to, tau}")
	if !ok {
		return tr, false
	}
	kpath := yamlnode.Join(path, kind)
	switch kind {
	case "ramp":
		vals, ok := p.params(val, kpath, []param{{name: "to", kind: pNumber}, {name: "over", kind: pDuration, dur: durPositive, required: true}})
		if !ok {
			return tr, false
		}
		to, hasTo := vals["to"]
		tr.Kind, tr.To, tr.ToSignal, tr.Over = TransitionRamp, to.f, !hasTo, vals["over"].d
	case "decay":
		vals, ok := p.params(val, kpath, []param{{name: "to", kind: pNumber, required: true}, {name: "tau", kind: pDuration, dur: durPositive, required: true}})
		if !ok {
			return tr, false
		}
		tr.Kind, tr.To, tr.Tau = TransitionDecay, vals["to"].f, vals["tau"].d
	}
	return tr, true
}

// expandDevice adds the devices of an entry to the scenario.
func (p *parser) expandDevice(sc *Scenario, ent *deviceEntry, fed map[[2]string]string) {
	if p.points+len(ent.points)*len(ent.exps) > p.lim.points {
		p.errorf(ent.nameKey, yamlnode.Join(ent.path, "points"), "too many points: %d declared so far plus %d here exceeds the limit of %d", p.points, len(ent.points)*len(ent.exps), p.lim.points)
		return
	}
	p.points += len(ent.points) * len(ent.exps)
	shared := make([]*Point, len(ent.points))
	usesN := false
	for i, pd := range ent.points {
		shared[i] = &Point{Name: pd.name, Type: pd.typ, Signal: pd.sig.sig, Address: pd.address}
		usesN = usesN || pd.usesN
	}
	dups, firstDup, firstLine := 0, "", 0
	conflicts, conflict := 0, ""
	for _, x := range ent.exps {
		d := &Device{Name: x.ID, Twin: ent.twinOf(x), Expose: ent.expose, N: x.N, Points: shared,
			Reacts: ent.reacts, Line: ent.item.Line, points: ent.byName, reacts: ent.rindex, order: ent.order}
		if first, dup := sc.devices[d.Name]; dup {
			if dups == 0 {
				firstDup, firstLine = d.Name, sc.Devices[first].Line
			}
			dups++
			continue
		}
		if usesN {
			d.Points = p.instantiate(ent, shared, x.N)
			if d.Points == nil {
				return // a CSV failed to load (reported)
			}
		}
		for _, pt := range d.Points {
			k := [2]string{d.Twin, pt.Name}
			if other, ok := fed[k]; ok {
				if conflicts == 0 {
					conflict = fmt.Sprintf("point %s of twin %s is also fed by device %s", pt.Name, d.Twin, other)
				}
				conflicts++
				continue
			}
			fed[k] = d.Name
		}
		sc.devices[d.Name] = len(sc.Devices)
		sc.Devices = append(sc.Devices, d)
	}
	if dups > 0 {
		msg := fmt.Sprintf("duplicate device %q (first declared at line %d)", firstDup, firstLine)
		if dups > 1 {
			msg += " and " + strconv.Itoa(dups-1) + " more duplicates"
		}
		p.errorf(ent.nameKey, yamlnode.Join(ent.path, "name"), "%s", msg)
	}
	if conflicts > 0 {
		if conflicts > 1 {
			conflict += fmt.Sprintf(" (and %d more points)", conflicts-1)
		}
		p.errorf(ent.nameKey, yamlnode.Join(ent.path, "name"), "%s: two devices cannot feed one property", conflict)
	}
}

// instantiate returns the points of the device numbered num: the shared
// ones, with copies where {n} is used.
func (p *parser) instantiate(ent *deviceEntry, shared []*Point, num string) []*Point {
	pts := slices.Clone(shared)
	for i, pd := range ent.points {
		if !pd.usesN {
			continue
		}
		cp := *shared[i]
		if pd.address != nil {
			cp.Address, _ = substN(pd.address, num).(map[string]any)
		}
		if c := pd.sig.csv; c != nil && c.usesN {
			sig := p.csvSignal(c, num)
			if sig == nil {
				return nil
			}
			cp.Signal = sig
		}
		pts[i] = &cp
	}
	return pts
}

// expand expands a name template with at most one {A..B} range into at
// most limit names (the twins' template rules).
func (p *parser) expand(n *yaml.Node, path, pattern, what string, limit int) []twins.Expansion {
	if c, ok := rangeCount(pattern); ok && c > limit {
		p.errorf(n, path, "%q expands to %d %ss, more than the limit of %d left", pattern, c, what, max(limit, 0))
		return nil
	}
	exps, err := twins.ExpandTemplate(pattern)
	if err != nil {
		p.errorf(n, path, "%s", strings.ReplaceAll(err.Error(), "twin id", what+" name"))
		return nil
	}
	return exps
}

// rangeCount returns how many names a template's {A..B} range makes, if
// it has a well-formed one.
func rangeCount(s string) (int, bool) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return 1, true
	}
	end := strings.IndexByte(s[open:], '}')
	if end < 0 {
		return 0, false
	}
	lo, hi, ok := strings.Cut(s[open+1:open+end], "..")
	if !ok || len(lo) > 7 || len(hi) > 7 {
		return 0, false
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 0 || a > b {
		return 0, false
	}
	return b - a + 1, true
}
