package twins

import (
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Property is a typed, named data point of a [Model].
type Property struct {
	Name        string
	Description string
	Unit        string // free text, e.g. "kW"; used in messages
	Type        Type
	Min, Max    *float64 // inclusive bounds; only for int and double; nil means unbounded
	Enum        []string // the allowed symbols of an enum property
	Writable    bool     // whether a desired value may be set
	Index       int      // position in Model.Properties
	// Tolerance is how far the reported value may be from the desired one
	// and count as reached (numeric writable properties); 0 means equal
	// (for doubles, within one part in a million).
	Tolerance float64
	// Settle is how long after the device took a write the reported value
	// has to reach the desired one; 0: DefaultSettle.
	Settle time.Duration
}

// DefaultSettle is a writable property's default settle time.
const DefaultSettle = 10 * time.Second

// InSync reports whether reported value r is desired value d within the
// property's tolerance.
func (p *Property) InSync(d, r Value) bool {
	if d.IsZero() || r.IsZero() {
		return false
	}
	if p.Type == TypeInt || p.Type == TypeDouble {
		tol := p.Tolerance
		if tol == 0 && p.Type == TypeDouble {
			tol = 1e-6 * max(1, math.Abs(d.AsDouble()))
		}
		return math.Abs(d.AsDouble()-r.AsDouble()) <= tol
	}
	return d.Equal(r)
}

// Parameter is a typed argument of a [Command].
type Parameter struct {
	Name        string
	Description string
	Unit        string
	Type        Type
	Enum        []string
	Min, Max    *float64
	Required    bool
}

// Command is an operation a twin of a model accepts (for example "stop").
type Command struct {
	Name        string
	Description string
	Parameters  []Parameter
}

// Model describes a kind of twin: its properties and commands. A Model is
// immutable after [ParseConfig] built it.
type Model struct {
	Name        string
	Description string
	Properties  []Property
	Commands    []Command
	Rules       []Rule // compiled by ParseConfig
	// Windows are the window functions (avg, min, max, delta, rate,
	// count) the rules use; twins buffer recent samples for them.
	Windows []WindowSpec
	// Rollups are the aggregates over a twin's children the rules read
	// (children.sum("power"), children.count(state == "fault")).
	Rollups []Rollup
	// Fingerprint identifies the model's declaration (its YAML content,
	// not its position): equal fingerprints, equal models, so a reload
	// leaves the twins of an unchanged model alone.
	Fingerprint uint64

	ruleItems []*yaml.Node   // the rules' declarations, merged into a twin's own rules
	props     map[string]int // name -> index in Properties; nil for hand-built models
	cmds      map[string]int // name -> index in Commands
}

// Property returns the property called name. It is O(1) for models built by
// [ParseConfig] (hand-built models fall back to a linear search).
func (m *Model) Property(name string) (*Property, bool) {
	i := m.propertyIndex(name)
	if i < 0 {
		return nil, false
	}
	return &m.Properties[i], true
}

// Command returns the command called name.
func (m *Model) Command(name string) (*Command, bool) {
	if m.cmds != nil {
		i, ok := m.cmds[name]
		if !ok {
			return nil, false
		}
		return &m.Commands[i], true
	}
	for i := range m.Commands {
		if m.Commands[i].Name == name {
			return &m.Commands[i], true
		}
	}
	return nil, false
}

// propertyIndex returns the position of the property called name, or -1.
func (m *Model) propertyIndex(name string) int {
	if m.props != nil {
		if i, ok := m.props[name]; ok {
			return i
		}
		return -1
	}
	for i := range m.Properties {
		if m.Properties[i].Name == name {
			return i
		}
	}
	return -1
}

// buildIndex fills the name maps and the property indices.
func (m *Model) buildIndex() {
	m.props = make(map[string]int, len(m.Properties))
	for i := range m.Properties {
		m.Properties[i].Index = i
		m.props[m.Properties[i].Name] = i
	}
	m.cmds = make(map[string]int, len(m.Commands))
	for i := range m.Commands {
		m.cmds[m.Commands[i].Name] = i
	}
}

// Spec is a declared twin: an instance of a model.
type Spec struct {
	ID        string
	ModelName string
	Model     *Model
	Labels    map[string]string // read-only; may be shared between twins
	Parent    string            // ID of the parent twin, "" for a root
}

// Same reports whether s and o declare the same twin: the same id, model
// (by fingerprint), parent and labels. A reload restarts the twins whose
// declaration changed.
func (s *Spec) Same(o *Spec) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil || s.ID != o.ID || s.ModelName != o.ModelName || s.Parent != o.Parent ||
		s.Model == nil || o.Model == nil || s.Model.Fingerprint != o.Model.Fingerprint || len(s.Labels) != len(o.Labels) {
		return false
	}
	for k, v := range s.Labels {
		if w, ok := o.Labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// valueRule is what a value is checked against: the common part of
// [Property] and [Parameter].
type valueRule struct {
	typ      Type
	unit     string
	enum     []string
	min, max *float64
}

func (p *Property) rule() valueRule {
	return valueRule{typ: p.Type, unit: p.Unit, enum: p.Enum, min: p.Min, max: p.Max}
}

// coerce checks v against r and returns the value to store: an int given for
// a double becomes a Double, a string given for an enum becomes an Enum. On
// failure it returns the reason and a human detail.
func (r valueRule) coerce(v Value) (Value, Reason, string) {
	switch r.typ {
	case TypeDouble:
		switch v.typ {
		case TypeInt:
			v = Double(float64(v.AsInt()))
		case TypeDouble:
			if f := v.AsDouble(); math.IsNaN(f) || math.IsInf(f, 0) {
				return Value{}, ReasonInvalidValue, "value " + v.String() + " is not a finite number"
			}
		default:
			return Value{}, ReasonWrongType, wrongType(v, r.typ)
		}
	case TypeEnum:
		if v.typ != TypeEnum && v.typ != TypeString {
			return Value{}, ReasonWrongType, wrongType(v, r.typ)
		}
		for _, sym := range r.enum {
			if sym == v.str() {
				// Keep the model's copy of the symbol, not the sample's.
				return Enum(sym), 0, ""
			}
		}
		return Value{}, ReasonInvalidEnum, strconv.Quote(v.str()) + " is not one of " + strings.Join(r.enum, ", ")
	default:
		if v.typ != r.typ {
			return Value{}, ReasonWrongType, wrongType(v, r.typ)
		}
	}
	if v.typ == TypeInt || v.typ == TypeDouble {
		f := v.AsDouble()
		if r.min != nil && f < *r.min {
			return Value{}, ReasonOutOfRange, "value " + v.String() + " below min " + withUnit(*r.min, r.unit)
		}
		if r.max != nil && f > *r.max {
			return Value{}, ReasonOutOfRange, "value " + v.String() + " above max " + withUnit(*r.max, r.unit)
		}
	}
	return v, 0, ""
}

func wrongType(v Value, want Type) string {
	if v.typ == 0 {
		return "no value, want " + want.String()
	}
	return "value " + v.String() + " is " + v.typ.String() + ", want " + want.String()
}

func withUnit(f float64, unit string) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if unit != "" {
		s += " " + unit
	}
	return s
}
