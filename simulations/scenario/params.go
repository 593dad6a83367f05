package scenario

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
)

// Scenario parameters: a scenario declares them under params:, and
// ${name} anywhere in its text, and in the text of the plant file it names,
// is replaced by the parameter's value before the YAML is parsed. $${
// stands for a literal ${. Values are single lines, so that lines keep
// their numbers (columns after a replaced reference move).

// LoadWith is Load with values for the scenario's parameters (name →
// value), which override the declared defaults. A name the scenario does
// not declare is an error.
func LoadWith(path string, params map[string]string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: load %s: %w", path, err)
	}
	return parseOS(path, data, params)
}

// paramKeys are the fields of a parameter's declaration.
var paramKeys = []string{"default", "description"}

// paramDecl is a declared parameter.
type paramDecl struct {
	name   string
	def    string
	hasDef bool
	node   *yaml.Node // the name's key
}

// paramRef is a reference ${name}, or the escape $${, in a text.
type paramRef struct {
	start, end int    // byte offsets of the reference in the text
	line, col  int    // its position (columns count runes, as YAML's do)
	name       string // "" for the escape $${
}

// placeholder stands for each rune of a reference while the declarations
// are read: a private-use rune, valid in any YAML scalar, so that a
// reference in a declaration is recognised and positions are kept.
const placeholder = '\uE000'

// scanRefs finds the references in data, a file's text; malformed ones
// are reported (at their place in file) and make it return false.
func (p *parser) scanRefs(file string, data []byte) ([]paramRef, bool) {
	if !bytes.Contains(data, []byte("${")) {
		return nil, true
	}
	var refs []paramRef
	ok := true
	line, col := 1, 1
	for i := 0; i < len(data); {
		switch {
		case data[i] == '\n':
			line, col = line+1, 1
			i++
			continue
		case data[i] == '$' && bytes.HasPrefix(data[i:], []byte("$${")):
			refs = append(refs, paramRef{start: i, end: i + 3, line: line, col: col})
			i, col = i+3, col+3
			continue
		case data[i] == '$' && bytes.HasPrefix(data[i:], []byte("${")):
			rest := data[i+2:]
			if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
				rest = rest[:nl]
			}
			end := bytes.IndexByte(rest, '}')
			if end < 0 {
				p.add(&Error{File: file, Line: line, Column: col, Field: "params",
					Msg: `unterminated "${" (want ${name}, a parameter's name in braces; write $${ for a literal "${")`})
				ok = false
				i, col = i+2, col+2
				continue
			}
			name := string(rest[:end])
			ref := string(data[i : i+2+end+1])
			if !validName(name) {
				p.add(&Error{File: file, Line: line, Column: col, Field: "params",
					Msg: fmt.Sprintf("malformed reference %q: a parameter's name is lowercase letters, digits and _, starting with a letter", ref)})
				ok = false
			} else {
				refs = append(refs, paramRef{start: i, end: i + len(ref), line: line, col: col, name: name})
			}
			i += len(ref)
			col += utf8.RuneCountInString(ref)
			continue
		}
		_, size := utf8.DecodeRune(data[i:])
		i += size
		col++
	}
	return refs, ok
}

// expand returns data with each reference r replaced by repl(r).
func expand(data []byte, refs []paramRef, repl func(paramRef) string) []byte {
	if len(refs) == 0 {
		return data
	}
	var b bytes.Buffer
	b.Grow(len(data))
	last := 0
	for _, r := range refs {
		b.Write(data[last:r.start])
		b.WriteString(repl(r))
		last = r.end
	}
	b.Write(data[last:])
	return b.Bytes()
}

// value replaces a reference by its parameter's value, and $${ by ${.
func (p *parser) value(r paramRef) string {
	if r.name == "" {
		return "${"
	}
	return p.vals[r.name]
}

// expandScenario reads the scenario's parameter declarations, applies the
// values given (which override the defaults) and returns the text to
// parse: data with its references replaced. When data has no references
// it also returns the document, already parsed. It sets p.vals. On
// failure the problems are recorded and ok is false.
func (p *parser) expandScenario(data []byte, given map[string]string) (text []byte, root *yaml.Node, ok bool) {
	refs, ok := p.scanRefs(p.file, data)
	if !ok {
		return nil, nil, false
	}
	// The declarations are read from the text with the references held
	// by placeholders of their width ($${ is kept).
	first := expand(data, refs, func(r paramRef) string {
		if r.name == "" {
			return "$${"
		}
		return strings.Repeat(string(placeholder), r.end-r.start)
	})
	root = new(yaml.Node)
	if err := yaml.Unmarshal(first, root); err != nil {
		p.syntaxError(p.file, 0, err)
		return nil, nil, false
	}
	decls, key, ok := p.declarations(root)
	if !ok {
		return nil, nil, false
	}
	if len(decls) > 0 {
		p.vals = make(map[string]string, len(decls))
	}
	names := make([]string, len(decls))
	for i, d := range decls {
		names[i] = d.name
		if d.hasDef {
			p.vals[d.name] = d.def
		}
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		v := given[name]
		switch {
		case len(decls) == 0:
			p.errorf(key, "params", "parameter %q given, but the scenario declares no parameters", name)
		case !declared(decls, name):
			p.errorf(key, "params", "unknown parameter %q given%s (declared: %s)", name, suggest.Closest(name, names), strings.Join(names, ", "))
		case strings.ContainsAny(v, "\r\n"):
			p.errorf(key, yamlnode.Join("params", name), "the value given, %q, is not a single line", v)
		default:
			p.vals[name] = v
		}
	}
	for _, d := range decls {
		if _, ok := p.vals[d.name]; !ok {
			p.errorf(d.node, yamlnode.Join("params", d.name), "no value: the parameter has no default, give one (plantwin sim run --param %s=VALUE)", d.name)
		}
	}
	p.undeclared(p.file, refs, names)
	if len(p.errs) > 0 {
		return nil, nil, false
	}
	if len(refs) == 0 {
		return data, root, true
	}
	return expand(data, refs, p.value), nil, true
}

// expandFile returns the text of a file the scenario names (the plant)
// with its references replaced by the parameters' values.
func (p *parser) expandFile(file string, data []byte) ([]byte, bool) {
	refs, ok := p.scanRefs(file, data)
	if !ok {
		return nil, false
	}
	if !p.undeclared(file, refs, slices.Sorted(maps.Keys(p.vals))) {
		return nil, false
	}
	return expand(data, refs, p.value), true
}

// undeclared reports the references of file to parameters not among
// names; it returns false if there are any.
func (p *parser) undeclared(file string, refs []paramRef, names []string) bool {
	ok := true
	for _, r := range refs {
		if _, has := p.vals[r.name]; has || r.name == "" {
			continue
		}
		ok = false
		msg := fmt.Sprintf("${%s} names no declared parameter%s", r.name, suggest.Closest(r.name, names))
		if len(names) == 0 {
			msg += " (the scenario declares none: declare it under params:, or write $${ for a literal \"${\")"
		}
		// A declared parameter without a value is reported at its
		// declaration.
		if !slices.Contains(names, r.name) {
			p.add(&Error{File: file, Line: r.line, Column: r.col, Field: "params", Msg: msg})
		}
	}
	return ok
}

// declarations reads the params section of the document (with
// placeholders for its references); key is the section's key (nil when
// there is none).
func (p *parser) declarations(root *yaml.Node) (decls []paramDecl, key *yaml.Node, ok bool) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = yamlnode.Deref(doc.Content[0])
	}
	if doc == nil || doc.Kind != yaml.MappingNode {
		return nil, nil, true // reported by the scenario's parse
	}
	var val *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if k := yamlnode.Deref(doc.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == "params" {
			key, val = k, yamlnode.Deref(doc.Content[i+1])
			break // a duplicate is reported by the scenario's parse
		}
	}
	if key == nil {
		return nil, nil, true
	}
	before := len(p.errs)
	for _, e := range p.mapping(val, "params") {
		name := e.key.Value
		path := yamlnode.Join("params", name)
		if strings.ContainsRune(name, placeholder) {
			p.errorf(e.key, path, "a parameter's declaration cannot use ${...}")
			continue
		}
		if !validName(name) {
			p.errorf(e.key, path, "invalid parameter name %q: %s", name, nameRule)
			continue
		}
		d := paramDecl{name: name, node: e.key}
		def := e.val
		if v := yamlnode.Deref(e.val); v != nil && v.Kind == yaml.MappingNode {
			fs, ok := p.fields(v, path, paramKeys)
			if !ok {
				continue
			}
			if de, ok := fs["description"]; ok {
				if s, ok := p.str(de.val, yamlnode.Join(path, "description")); ok && strings.ContainsRune(s, placeholder) {
					p.errorf(yamlnode.Deref(de.val), yamlnode.Join(path, "description"), "a parameter's declaration cannot use ${...}")
				}
			}
			def, path = fs["default"].val, yamlnode.Join(path, "default")
		}
		if !yamlnode.IsNull(def) {
			s, ok := p.scalar(def, path)
			if !ok {
				continue
			}
			d.def, d.hasDef = s, true
		}
		decls = append(decls, d)
	}
	return decls, key, len(p.errs) == before
}

// scalar reads a parameter's value: a single-line scalar.
func (p *parser) scalar(n *yaml.Node, path string) (string, bool) {
	n = yamlnode.Deref(n)
	if !p.visit(n) {
		return "", false
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		p.errorf(n, path, "want a single value (a number, a duration, a word), got %s", yamlnode.Kind(n))
		return "", false
	}
	switch {
	case strings.ContainsRune(n.Value, placeholder):
		p.errorf(n, path, "a parameter's declaration cannot use ${...}")
		return "", false
	case strings.ContainsAny(n.Value, "\r\n"):
		p.errorf(n, path, "want a single line, got %q", n.Value)
		return "", false
	}
	return n.Value, true
}

func declared(decls []paramDecl, name string) bool {
	return slices.ContainsFunc(decls, func(d paramDecl) bool { return d.name == name })
}
