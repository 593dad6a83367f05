package twins

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
)

// ReservedSections are top-level configuration keys that ParseConfig accepts
// and ignores; later features parse them.
var ReservedSections = []string{"connectors", "bindings", "rules", "runtime", "edge"}

// MaxTwins is the most twins a configuration may declare after template
// expansion.
const MaxTwins = 1_000_000

// maxErrors is how many problems ParseConfig reports before it stops.
const maxErrors = 50

// Config is a parsed plant configuration. It is immutable and safe to share.
type Config struct {
	Models []*Model
	Twins  []*Spec // in declaration order, templates expanded
	Ingest IngestPolicy

	models   map[string]*Model
	twins    map[string]int32 // id -> index in Twins
	children map[string][2]int32
	byParent []*Spec // Twins with a parent, grouped by parent
}

// Model returns the model called name.
func (c *Config) Model(name string) (*Model, bool) {
	m, ok := c.models[name]
	return m, ok
}

// Twin returns the twin with the given id in O(1).
func (c *Config) Twin(id string) (*Spec, bool) {
	i, ok := c.twins[id]
	if !ok {
		return nil, false
	}
	return c.Twins[i], true
}

// Children returns the twins whose parent is parentID, in declaration order.
// The returned slice must not be modified.
func (c *Config) Children(parentID string) []*Spec {
	r, ok := c.children[parentID]
	if !ok {
		return nil
	}
	return c.byParent[r[0]:r[1]:r[1]]
}

// ConfigError is one problem in a configuration file.
type ConfigError struct {
	File   string
	Line   int    // 1-based
	Column int    // 1-based; 0 if unknown
	Field  string // path such as models[0].properties[2].max; "" for syntax errors
	Msg    string
}

// Error returns "file:line:column: field: msg".
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads and parses the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("twins: load config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates a YAML configuration; filename is used in
// error messages only. On failure it returns every problem found (up to 50)
// as *ConfigError values joined with errors.Join.
func ParseConfig(filename string, data []byte) (*Config, error) {
	return parseConfig(filename, data, MaxTwins)
}

// parseConfig is ParseConfig with a limit on the number of twins, so that
// the fuzz test can keep every input fast.
func parseConfig(filename string, data []byte, maxTwins int) (*Config, error) {
	// Aliases can make the node tree exponentially larger than the text;
	// the walk is budgeted in proportion to the text.
	p := &parser{file: filename, maxTwins: maxTwins, budget: yamlnode.NewBudget(len(data))}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, p.syntaxError(err)
	}
	c := p.config(&root)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *ConfigError) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		if p.truncated {
			p.errs = append(p.errs, &ConfigError{File: filename, Msg: fmt.Sprintf("too many errors (showing the first %d)", maxErrors)})
		}
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func (p *parser) syntaxError(err error) error {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return errors.Join(&ConfigError{File: p.file, Line: line, Msg: "invalid YAML: " + msg})
}

// parser walks the YAML node tree and collects errors.
type parser struct {
	file      string
	maxTwins  int
	budget    yamlnode.Budget // nodes the walk may still visit
	errs      []*ConfigError
	truncated bool
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		p.truncated = true
		return
	}
	e := &ConfigError{File: p.file, Line: 1, Column: 1, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// visit charges one node to the walk budget; it reports false (once with
// an error) when the budget is exhausted.
func (p *parser) visit(n *yaml.Node) bool { return p.budget.Visit(n, p.errorf) }

// entry is a key of a mapping with its value.
type entry struct {
	key, val *yaml.Node
}

// fields checks that n is a mapping whose keys are all in known (or
// accepted by ignore) and unique, and returns the entries by key. Null
// values are left out.
func (p *parser) fields(n *yaml.Node, path string, known []string, ignore []string) (map[string]entry, bool) {
	n = yamlnode.Deref(n)
	if !p.visit(n) {
		return nil, false
	}
	if n == nil || n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", yamlnode.Kind(n))
		return nil, false
	}
	fs := make(map[string]entry, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Deref(n.Content[i]), yamlnode.Deref(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			p.errorf(n.Content[i], path, "keys must be strings")
			continue
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			p.errorf(k, yamlnode.Join(path, name), "duplicate key %q (first at line %d)", name, first.Line)
			continue
		}
		seen[name] = k
		switch {
		case name == "<<":
			p.errorf(k, yamlnode.Join(path, name), "merge keys (<<) are not supported")
			continue
		case slices.Contains(ignore, name):
			continue
		case !slices.Contains(known, name):
			p.errorf(k, yamlnode.Join(path, name), "unknown field %q%s", name, suggest.Closest(name, known))
			continue
		}
		if !yamlnode.IsNull(v) {
			fs[name] = entry{key: k, val: v}
		}
	}
	return fs, true
}

// seq returns the items of a sequence (nil for null).
func (p *parser) seq(n *yaml.Node, path string) []*yaml.Node { return yamlnode.Seq(p, n, path) }

// str returns a scalar's text.
func (p *parser) str(n *yaml.Node, path string) (string, bool) { return yamlnode.Str(p, n, path) }

// Visit and Errorf make the parser a yamlnode.Walker.
func (p *parser) Visit(n *yaml.Node) bool { return p.visit(n) }

// Errorf records a problem (yamlnode.Walker).
func (p *parser) Errorf(n *yaml.Node, field, format string, args ...any) {
	p.errorf(n, field, format, args...)
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	n = yamlnode.Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, path, "want true or false, got %s", yamlnode.Kind(n))
		return false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, path, "want true or false, got %s", yamlnode.Kind(n))
	}
	return b
}

func (p *parser) number(n *yaml.Node, path string) (*float64, bool) {
	n = yamlnode.Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.errorf(n, path, "want a number, got %s", yamlnode.Kind(n))
		return nil, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, path, "want a finite number, got %s", yamlnode.Kind(n))
		return nil, false
	}
	return &f, true
}

// config parses the whole document.
func (p *parser) config(root *yaml.Node) *Config {
	doc := root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			doc = nil
		} else {
			doc = yamlnode.Deref(doc.Content[0])
		}
	}
	if doc == nil || doc.Kind == 0 || yamlnode.IsNull(doc) {
		p.errorf(nil, "", "empty configuration: want a mapping with models and twins")
		return nil
	}
	fs, ok := p.fields(doc, "", []string{"ingest", "models", "twins"}, ReservedSections)
	if !ok {
		return nil
	}
	c := &Config{Ingest: DefaultIngestPolicy()}
	if e, ok := fs["ingest"]; ok {
		c.Ingest = p.ingest(e.val)
	}
	_, hasModels := fs["models"]
	_, hasTwins := fs["twins"]
	if !hasModels && !hasTwins {
		p.errorf(doc, "", "empty configuration: want a mapping with models and twins")
		return nil
	}
	p.models(c, fs["models"].val)
	p.twins(c, fs["twins"].val)
	if len(p.errs) == 0 {
		p.checkRelated(c)
	}
	return c
}

func (p *parser) ingest(n *yaml.Node) IngestPolicy {
	pol := DefaultIngestPolicy()
	fs, ok := p.fields(n, "ingest", []string{"max_future_skew", "future_policy"}, nil)
	if !ok {
		return pol
	}
	if e, ok := fs["max_future_skew"]; ok {
		const path = "ingest.max_future_skew"
		if s, ok := p.str(e.val, path); ok {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.errorf(e.val, path, "invalid duration %q (want a Go duration such as 5m or 30s)", s)
			case d < 0:
				p.errorf(e.val, path, "must not be negative, got %s", s)
			default:
				pol.MaxFutureSkew = d
			}
		}
	}
	if e, ok := fs["future_policy"]; ok {
		const path = "ingest.future_policy"
		if s, ok := p.str(e.val, path); ok {
			switch s {
			case "reject":
				pol.Future = FutureReject
			case "clamp":
				pol.Future = FutureClamp
			default:
				p.errorf(e.val, path, "unknown policy %q (want reject or clamp)", s)
			}
		}
	}
	return pol
}

// name reads a required name field matching ^[a-z][a-z0-9_]*$.
func (p *parser) name(fs map[string]entry, n *yaml.Node, path string) (string, *yaml.Node) {
	e, ok := fs["name"]
	if !ok {
		p.errorf(n, yamlnode.Join(path, "name"), "missing required field \"name\"")
		return "", nil
	}
	s, ok := p.str(e.val, yamlnode.Join(path, "name"))
	if !ok {
		return "", nil
	}
	if !validName(s) {
		p.errorf(e.val, yamlnode.Join(path, "name"), "invalid name %q (want lowercase letters, digits and _, starting with a letter)", s)
		return "", nil
	}
	return s, e.val
}

func (p *parser) optString(fs map[string]entry, key, path string) string {
	e, ok := fs[key]
	if !ok {
		return ""
	}
	s, _ := p.str(e.val, yamlnode.Join(path, key))
	return s
}

func (p *parser) models(c *Config, n *yaml.Node) {
	c.models = make(map[string]*Model)
	first := make(map[string]int) // model name -> line
	for i, item := range p.seq(n, "models") {
		path := yamlnode.Index("models", i)
		fs, ok := p.fields(item, path, []string{"name", "description", "properties", "commands", "rules"}, nil)
		if !ok {
			continue
		}
		m := &Model{Description: p.optString(fs, "description", path)}
		m.Fingerprint = yamlnode.Hash(item)
		name, nameNode := p.name(fs, item, path)
		m.Name = name
		if name != "" {
			if line, dup := first[name]; dup {
				p.errorf(nameNode, yamlnode.Join(path, "name"), "duplicate model %q (first declared at line %d)", name, line)
				name = ""
			} else {
				first[name] = nameNode.Line
			}
		}
		m.Properties = p.properties(fs["properties"].val, yamlnode.Join(path, "properties"))
		m.Commands = p.commands(fs["commands"].val, yamlnode.Join(path, "commands"))
		m.buildIndex()
		m.ruleItems = p.seq(fs["rules"].val, yamlnode.Join(path, "rules"))
		p.rules(m, fs["rules"].val, yamlnode.Join(path, "rules"))
		c.Models = append(c.Models, m)
		if name != "" {
			c.models[name] = m
		}
	}
}

func (p *parser) properties(n *yaml.Node, path string) []Property {
	items := p.seq(n, path)
	props := make([]Property, 0, len(items))
	first := make(map[string]int)
	for i, item := range items {
		ipath := yamlnode.Index(path, i)
		fs, ok := p.fields(item, ipath, []string{"name", "description", "unit", "type", "values", "min", "max", "writable", "tolerance", "settle"}, nil)
		if !ok {
			continue
		}
		var pr Property
		var nameNode *yaml.Node
		pr.Name, nameNode = p.name(fs, item, ipath)
		if !p.unique(first, pr.Name, nameNode, ipath, "property") {
			continue
		}
		pr.Description = p.optString(fs, "description", ipath)
		pr.Unit = p.optString(fs, "unit", ipath)
		r := p.valueRule(fs, item, ipath, "properties")
		pr.Type, pr.Enum, pr.Min, pr.Max = r.typ, r.enum, r.min, r.max
		if e, ok := fs["writable"]; ok {
			pr.Writable = p.boolean(e.val, yamlnode.Join(ipath, "writable"))
		}
		if e, ok := fs["tolerance"]; ok {
			fpath := yamlnode.Join(ipath, "tolerance")
			if f, ok := p.number(e.val, fpath); ok && f != nil {
				switch {
				case !pr.Writable:
					p.errorf(e.key, fpath, "tolerance applies to writable properties (reported vs desired)")
				case pr.Type != TypeInt && pr.Type != TypeDouble:
					p.errorf(e.key, fpath, "tolerance needs a numeric property, not %s", pr.Type)
				case *f < 0:
					p.errorf(yamlnode.Deref(e.val), fpath, "must not be negative")
				default:
					pr.Tolerance = *f
				}
			}
		}
		if e, ok := fs["settle"]; ok {
			fpath := yamlnode.Join(ipath, "settle")
			if s, ok := p.str(e.val, fpath); ok {
				d, err := time.ParseDuration(s)
				switch {
				case !pr.Writable:
					p.errorf(e.key, fpath, "settle applies to writable properties")
				case err != nil || d <= 0:
					p.errorf(yamlnode.Deref(e.val), fpath, "invalid duration %q (want e.g. 5s)", s)
				default:
					pr.Settle = d
				}
			}
		}
		props = append(props, pr)
	}
	return props
}

// valueRule reads type, values, min and max of a property or parameter.
func (p *parser) valueRule(fs map[string]entry, item *yaml.Node, path, what string) valueRule {
	var r valueRule
	e, ok := fs["type"]
	if !ok {
		p.errorf(item, yamlnode.Join(path, "type"), "missing required field \"type\" (want bool, int, double, string or enum)")
	} else if s, ok := p.str(e.val, yamlnode.Join(path, "type")); ok {
		t, err := ParseType(s)
		if err != nil {
			p.errorf(e.val, yamlnode.Join(path, "type"), "unknown type %q (want bool, int, double, string or enum)", s)
		}
		r.typ = t
	}
	if e, ok := fs["values"]; ok {
		if r.typ != 0 && r.typ != TypeEnum {
			p.errorf(e.key, yamlnode.Join(path, "values"), "values are only allowed for enum %s", what)
		} else {
			r.enum = p.enumValues(e.val, yamlnode.Join(path, "values"))
		}
	} else if r.typ == TypeEnum {
		p.errorf(item, yamlnode.Join(path, "values"), "missing required field \"values\" (enum %s list their values)", what)
	}
	numeric := r.typ == 0 || r.typ == TypeInt || r.typ == TypeDouble
	for _, bound := range []string{"min", "max"} {
		e, ok := fs[bound]
		if !ok {
			continue
		}
		if !numeric {
			p.errorf(e.key, yamlnode.Join(path, bound), "%s is only allowed for int and double %s", bound, what)
			continue
		}
		f, ok := p.number(e.val, yamlnode.Join(path, bound))
		if !ok {
			continue
		}
		if bound == "min" {
			r.min = f
		} else {
			r.max = f
		}
	}
	if r.min != nil && r.max != nil && *r.min > *r.max {
		p.errorf(fs["max"].val, yamlnode.Join(path, "max"), "max %s is below min %s", fs["max"].val.Value, fs["min"].val.Value)
	}
	return r
}

func (p *parser) enumValues(n *yaml.Node, path string) []string {
	items := p.seq(n, path)
	if len(items) == 0 {
		if n = yamlnode.Deref(n); n != nil && n.Kind == yaml.SequenceNode {
			p.errorf(n, path, "must list at least one value")
		}
		return nil
	}
	vals := make([]string, 0, len(items))
	first := make(map[string]int)
	for i, item := range items {
		ipath := yamlnode.Index(path, i)
		s, ok := p.str(item, ipath)
		if !ok {
			continue
		}
		item = yamlnode.Deref(item)
		if s == "" {
			p.errorf(item, ipath, "enum value must not be empty")
			continue
		}
		if line, dup := first[s]; dup {
			p.errorf(item, ipath, "duplicate enum value %q (first at line %d)", s, line)
			continue
		}
		first[s] = item.Line
		vals = append(vals, s)
	}
	return vals
}

func (p *parser) commands(n *yaml.Node, path string) []Command {
	items := p.seq(n, path)
	cmds := make([]Command, 0, len(items))
	first := make(map[string]int)
	for i, item := range items {
		ipath := yamlnode.Index(path, i)
		fs, ok := p.fields(item, ipath, []string{"name", "description", "parameters"}, nil)
		if !ok {
			continue
		}
		var c Command
		var nameNode *yaml.Node
		c.Name, nameNode = p.name(fs, item, ipath)
		if !p.unique(first, c.Name, nameNode, ipath, "command") {
			continue
		}
		c.Description = p.optString(fs, "description", ipath)
		c.Parameters = p.parameters(fs["parameters"].val, yamlnode.Join(ipath, "parameters"))
		cmds = append(cmds, c)
	}
	return cmds
}

// unique records name (declared at node) in first and reports whether it
// is new; a duplicate is reported as an error naming the first line. An
// empty name (already reported) counts as new.
func (p *parser) unique(first map[string]int, name string, node *yaml.Node, path, what string) bool {
	if name == "" {
		return true
	}
	if line, dup := first[name]; dup {
		p.errorf(node, yamlnode.Join(path, "name"), "duplicate %s %q (first declared at line %d)", what, name, line)
		return false
	}
	first[name] = node.Line
	return true
}

// rules parses and compiles a model's rules; condition errors point into
// the expression.
func (p *parser) rules(m *Model, n *yaml.Node, path string) {
	p.compileRules(m, p.seq(n, path), n, path)
}

// ruleName returns the name field of a rule item ("" if none).
func ruleName(item *yaml.Node) string {
	item = yamlnode.Deref(item)
	if item == nil || item.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "name" {
			if v := yamlnode.Deref(item.Content[i+1]); v != nil {
				return v.Value
			}
		}
	}
	return ""
}

// twinModel returns the model a twin entry with its own rules uses: a copy
// of base whose rules are the model's with the twin's merged in by name
// (a twin rule of a model rule's name replaces it; disabled: true drops
// it; new names are added). Errors point at the twin's rules.
func (p *parser) twinModel(base *Model, n *yaml.Node, path string) *Model {
	own := p.seq(n, path)
	if len(own) == 0 || base == nil {
		return base
	}
	dm := *base
	dm.Rules, dm.Windows, dm.Rollups = nil, nil, nil
	merged := append([]*yaml.Node(nil), base.ruleItems...)
	for _, item := range own {
		name := ruleName(item)
		replaced := false
		for i, mi := range merged {
			if name != "" && ruleName(mi) == name {
				merged[i], replaced = item, true
				break
			}
		}
		if !replaced {
			merged = append(merged, item)
		}
	}
	// Errors in the model's own rules were reported with the model.
	before := len(p.errs)
	p.compileRules(&dm, merged, n, path)
	kept := p.errs[:before]
	for _, e := range p.errs[before:] {
		dup := false
		for _, o := range kept {
			if o.Line == e.Line && o.Column == e.Column && o.Msg == e.Msg {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, e)
		}
	}
	p.errs = kept
	dm.Fingerprint = base.Fingerprint ^ yamlnode.Hash(n)
	dm.ruleItems = merged
	return &dm
}

// compileRules parses and compiles rule items into m.Rules.
func (p *parser) compileRules(m *Model, items []*yaml.Node, n *yaml.Node, path string) {
	if len(items) == 0 {
		return
	}
	ws := &windowSet{m: m, keys: map[string]bool{}}
	rs := &rollupSet{}
	defer func() { m.Windows, m.Rollups = ws.specs, rs.rollups }()
	env, err := ruleEnv(m, ws, rs)
	if err != nil {
		p.errorf(n, path, "%v", err)
		return
	}
	first := make(map[string]int)
	for i, item := range items {
		ipath := yamlnode.Index(path, i)
		fs, ok := p.fields(item, ipath, []string{"name", "description", "when", "clear_when", "for", "severity", "message", "actions", "blocks", "disabled"}, nil)
		if !ok {
			continue
		}
		r := Rule{Line: item.Line, Severity: SeverityMedium}
		var nameNode *yaml.Node
		r.Name, nameNode = p.name(fs, item, ipath)
		if !p.unique(first, r.Name, nameNode, ipath, "rule") {
			continue
		}
		if e, ok := fs["disabled"]; ok && p.boolean(e.val, yamlnode.Join(ipath, "disabled")) {
			continue // a twin turning off one of its model's rules
		}
		r.Message = p.optString(fs, "message", ipath)
		cond := func(key string, required bool) (string, cel.Program) {
			e, ok := fs[key]
			if !ok {
				if required {
					p.errorf(item, yamlnode.Join(ipath, key), "missing required field %q (a CEL condition such as temperature > 90)", key)
				}
				return "", nil
			}
			expr, ok := p.str(e.val, yamlnode.Join(ipath, key))
			if !ok {
				return "", nil
			}
			prg, deps, err := compileConditionDeps(env, m, expr)
			if err != nil {
				p.errorf(yamlnode.Deref(e.val), yamlnode.Join(ipath, key), "%v", err)
				return expr, nil
			}
			for _, i := range deps.props {
				r.deps.add(i)
			}
			r.deps.always = r.deps.always || deps.always
			r.deps.rollup = r.deps.rollup || deps.rollup
			return expr, prg
		}
		r.When, r.when = cond("when", true)
		r.ClearWhen, r.clear = cond("clear_when", false)
		if e, ok := fs["for"]; ok {
			if s, ok := p.str(e.val, yamlnode.Join(ipath, "for")); ok {
				d, err := time.ParseDuration(s)
				switch {
				case err != nil:
					p.errorf(yamlnode.Deref(e.val), yamlnode.Join(ipath, "for"), "invalid duration %q (want e.g. 10s, 5m)", s)
				case d < 0:
					p.errorf(yamlnode.Deref(e.val), yamlnode.Join(ipath, "for"), "must not be negative, got %s", s)
				default:
					r.For = d
				}
			}
		}
		if e, ok := fs["severity"]; ok {
			if s, ok := p.str(e.val, yamlnode.Join(ipath, "severity")); ok {
				sev, err := ParseSeverity(s)
				if err != nil {
					p.errorf(yamlnode.Deref(e.val), yamlnode.Join(ipath, "severity"), "%v", err)
				} else {
					r.Severity = sev
				}
			}
		}
		r.Actions = p.ruleActions(m, fs["actions"].val, yamlnode.Join(ipath, "actions"))
		for j, b := range p.seq(fs["blocks"].val, yamlnode.Join(ipath, "blocks")) {
			bpath := yamlnode.Index(yamlnode.Join(ipath, "blocks"), j)
			name, ok := p.str(b, bpath)
			if !ok {
				continue
			}
			if _, ok := m.Command(name); !ok {
				p.errorf(yamlnode.Deref(b), bpath, "model %s has no command %q to block%s", m.Name, name, suggest.Closest(name, commandNames(m)))
				continue
			}
			r.Blocks = append(r.Blocks, name)
		}
		m.Rules = append(m.Rules, r)
	}
}

func commandNames(m *Model) []string {
	names := make([]string, len(m.Commands))
	for i := range m.Commands {
		names[i] = m.Commands[i].Name
	}
	return names
}

// ruleActions parses a rule's actions:
//
//	actions:
//	  - command: stop            # a command of the model
//	    args: {ramp_s: 5}
//	  - set_desired: {speed: 0}  # writable properties
func (p *parser) ruleActions(m *Model, n *yaml.Node, path string) []Action {
	var acts []Action
	for i, item := range p.seq(n, path) {
		ipath := yamlnode.Index(path, i)
		fs, ok := p.fields(item, ipath, []string{"command", "args", "target", "set_desired", "emit"}, nil)
		if !ok {
			continue
		}
		ce, isCmd := fs["command"]
		de, isSet := fs["set_desired"]
		ee, isEmit := fs["emit"]
		switch {
		case isCmd && isSet || isCmd && isEmit || isSet && isEmit:
			p.errorf(item, ipath, "an action is one of command, set_desired or emit")
			continue
		case !isCmd && !isSet && !isEmit:
			p.errorf(item, ipath, "an action needs command, set_desired or emit")
			continue
		case isEmit:
			if msg, ok := p.str(ee.val, yamlnode.Join(ipath, "emit")); ok {
				acts = append(acts, Action{Emit: msg})
			}
			continue
		case isSet:
			if _, ok := fs["args"]; ok {
				p.errorf(fs["args"].key, yamlnode.Join(ipath, "args"), "args belong to a command action")
			}
			dn := yamlnode.Deref(de.val)
			dpath := yamlnode.Join(ipath, "set_desired")
			if dn == nil || dn.Kind != yaml.MappingNode || len(dn.Content) == 0 {
				p.errorf(dn, dpath, "want a mapping of writable properties to values, e.g. {speed: 0}")
				continue
			}
			for k := 0; k+1 < len(dn.Content); k += 2 {
				key, val := yamlnode.Deref(dn.Content[k]), yamlnode.Deref(dn.Content[k+1])
				kpath := yamlnode.Join(dpath, key.Value)
				prop, ok := m.Property(key.Value)
				if !ok {
					p.errorf(key, kpath, "model %s has no property %q", m.Name, key.Value)
					continue
				}
				if !prop.Writable {
					p.errorf(key, kpath, "property %s is not writable", prop.Name)
					continue
				}
				v, err := yamlValue(val, prop.rule())
				if err != nil {
					p.errorf(val, kpath, "%v", err)
					continue
				}
				acts = append(acts, Action{Property: prop.Name, Value: v})
			}
			continue
		}
		name, ok := p.str(ce.val, yamlnode.Join(ipath, "command"))
		if !ok {
			continue
		}
		if te, ok := fs["target"]; ok {
			target, _ := p.str(te.val, yamlnode.Join(ipath, "target"))
			switch target {
			case "self":
			case "parent", "children":
				// The command is checked against the related twins'
				// models once the twins are known (checkRelated).
				act := Action{Command: name, Target: target}
				if ae, ok := fs["args"]; ok {
					an := yamlnode.Deref(ae.val)
					if an == nil || an.Kind != yaml.MappingNode {
						p.errorf(an, yamlnode.Join(ipath, "args"), "want a mapping of parameters to values")
						continue
					}
					act.Args = make(map[string]Value, len(an.Content)/2)
					for k := 0; k+1 < len(an.Content); k += 2 {
						key, val := yamlnode.Deref(an.Content[k]), yamlnode.Deref(an.Content[k+1])
						act.Args[key.Value] = scalarValue(val)
					}
				}
				acts = append(acts, act)
				continue
			default:
				p.errorf(yamlnode.Deref(te.val), yamlnode.Join(ipath, "target"), "target %q: want self, parent or children", target)
				continue
			}
		}
		def, ok := m.Command(name)
		if !ok {
			p.errorf(yamlnode.Deref(ce.val), yamlnode.Join(ipath, "command"), "model %s has no command %q%s", m.Name, name, suggest.Closest(name, commandNames(m)))
			continue
		}
		act := Action{Command: name}
		apath := yamlnode.Join(ipath, "args")
		if ae, ok := fs["args"]; ok {
			an := yamlnode.Deref(ae.val)
			if an == nil || an.Kind != yaml.MappingNode {
				p.errorf(an, apath, "want a mapping of parameters to values")
				continue
			}
			act.Args = make(map[string]Value, len(an.Content)/2)
			for k := 0; k+1 < len(an.Content); k += 2 {
				key, val := yamlnode.Deref(an.Content[k]), yamlnode.Deref(an.Content[k+1])
				var param *Parameter
				for j := range def.Parameters {
					if def.Parameters[j].Name == key.Value {
						param = &def.Parameters[j]
					}
				}
				if param == nil {
					p.errorf(key, yamlnode.Join(apath, key.Value), "command %s has no parameter %q", name, key.Value)
					continue
				}
				v, err := yamlValue(val, valueRule{typ: param.Type, unit: param.Unit, enum: param.Enum, min: param.Min, max: param.Max})
				if err != nil {
					p.errorf(val, yamlnode.Join(apath, key.Value), "%v", err)
					continue
				}
				act.Args[param.Name] = v
			}
		}
		for _, prm := range def.Parameters {
			if _, ok := act.Args[prm.Name]; prm.Required && !ok {
				p.errorf(ce.val, apath, "command %s needs argument %s (%s)", name, prm.Name, prm.Type)
			}
		}
		acts = append(acts, act)
	}
	return acts
}

// scalarValue converts a YAML scalar to a value by its tag: the related
// twin checks it against its own command's parameters.
func scalarValue(n *yaml.Node) Value {
	if n == nil {
		return String("")
	}
	switch n.ShortTag() {
	case "!!bool":
		b, _ := strconv.ParseBool(n.Value)
		return Bool(b)
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return Int(i)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return Double(f)
		}
	}
	return String(n.Value)
}

// checkRelated checks the rules' command actions on parents and children
// against the related twins' models: each must have the command.
func (p *parser) checkRelated(c *Config) {
	for _, spec := range c.Twins {
		if spec.Model == nil {
			continue
		}
		for ri := range spec.Model.Rules {
			r := &spec.Model.Rules[ri]
			for _, act := range r.Actions {
				var related []*Spec
				switch act.Target {
				case "parent":
					if ps, ok := c.Twin(spec.Parent); ok {
						related = []*Spec{ps}
					}
				case "children":
					related = c.Children(spec.ID)
				default:
					continue
				}
				for _, t := range related {
					if t.Model == nil {
						continue
					}
					if _, ok := t.Model.Command(act.Command); !ok {
						p.errorf(&yaml.Node{Line: r.Line, Column: 1}, "rules."+r.Name,
							"rule %s of model %s asks the %s of twin %s to %s, but twin %s (model %s) has no command %q",
							r.Name, spec.Model.Name, strings.TrimSuffix(act.Target, "ren"), spec.ID, act.Command, t.ID, t.Model.Name, act.Command)
						return
					}
				}
			}
		}
	}
}

// yamlValue converts a YAML scalar to a value checked against r.
func yamlValue(n *yaml.Node, r valueRule) (Value, error) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return Value{}, fmt.Errorf("want a %s value, got %s", r.typ, yamlnode.Kind(n))
	}
	var v Value
	switch r.typ {
	case TypeBool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return Value{}, fmt.Errorf("want true or false, got %q", n.Value)
		}
		v = Bool(b)
	case TypeInt:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("want an integer, got %q", n.Value)
		}
		v = Int(i)
	case TypeDouble:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return Value{}, fmt.Errorf("want a number, got %q", n.Value)
		}
		v = Double(f)
	default:
		v = String(n.Value)
	}
	cv, reason, detail := r.coerce(v)
	if reason != 0 {
		return Value{}, errors.New(detail)
	}
	return cv, nil
}

func (p *parser) parameters(n *yaml.Node, path string) []Parameter {
	items := p.seq(n, path)
	params := make([]Parameter, 0, len(items))
	first := make(map[string]int)
	for i, item := range items {
		ipath := yamlnode.Index(path, i)
		fs, ok := p.fields(item, ipath, []string{"name", "description", "unit", "type", "values", "min", "max", "required"}, nil)
		if !ok {
			continue
		}
		var pa Parameter
		var nameNode *yaml.Node
		pa.Name, nameNode = p.name(fs, item, ipath)
		if !p.unique(first, pa.Name, nameNode, ipath, "parameter") {
			continue
		}
		pa.Description = p.optString(fs, "description", ipath)
		pa.Unit = p.optString(fs, "unit", ipath)
		r := p.valueRule(fs, item, ipath, "parameters")
		pa.Type, pa.Enum, pa.Min, pa.Max = r.typ, r.enum, r.min, r.max
		if e, ok := fs["required"]; ok {
			pa.Required = p.boolean(e.val, yamlnode.Join(ipath, "required"))
		}
		params = append(params, pa)
	}
	return params
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s, if
// any is close enough.
