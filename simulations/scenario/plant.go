package scenario

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/yamlnode"
	"github.com/plantwin/plantwin/twins"
)

// plant parses the plant section: the name of a twins configuration file
// (relative to the scenario) or the configuration inline. Its errors are
// twins.ParseConfig's, in the plant file or at their place in the
// scenario.
func (p *parser) plant(sc *Scenario, doc *yaml.Node, e entry) {
	v := e.val // already dereferenced
	if !p.visit(v) {
		return
	}
	switch v.Kind {
	case yaml.ScalarNode:
		rel := v.Value
		if rel == "" {
			p.errorf(v, "plant", "want the plant's file name or its configuration inline")
			return
		}
		name, data, err := p.read(rel)
		if err != nil {
			p.errorf(v, "plant", "cannot read plant file %q: %v", rel, err)
			return
		}
		sc.PlantFile = name
		data, ok := p.expandFile(name, data)
		if !ok {
			return
		}
		cfg, err := twins.ParseConfig(name, data)
		p.plantErrors(err, nil, "")
		sc.Plant, sc.PlantData = cfg, data
	case yaml.MappingNode:
		if text, ok := p.inlineText(doc, e); ok {
			// The plant's lines keep their numbers and columns.
			cfg, err := twins.ParseConfig(p.file, text)
			p.plantErrors(err, nil, "plant")
			sc.Plant, sc.PlantData = cfg, text
			return
		}
		// A plant in a flow mapping or behind an alias: parse it
		// re-encoded and report its errors at the section.
		text, err := yaml.Marshal(v)
		if err != nil {
			p.errorf(v, "plant", "cannot read the inline plant: %v", err)
			return
		}
		cfg, err := twins.ParseConfig(p.file, text)
		p.plantErrors(err, v, "plant")
		sc.Plant, sc.PlantData = cfg, text
	default:
		p.errorf(v, "plant", "want the plant's file name or its configuration inline (a mapping), got %s", yamlnode.Kind(v))
	}
}

// inlineText returns the scenario's text with everything but the plant
// section's value blanked out, so that twins.ParseConfig reports the
// plant's errors at their lines and columns in the scenario. It works for
// a block mapping at the top level whose plant value is not an alias.
func (p *parser) inlineText(doc *yaml.Node, e entry) ([]byte, bool) {
	if doc.Style&yaml.FlowStyle != 0 {
		return nil, false
	}
	at := -1
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if yamlnode.Deref(doc.Content[i]) == e.key {
			at = i
		}
	}
	if at < 0 || doc.Content[at+1].Kind == yaml.AliasNode {
		return nil, false
	}
	v := e.val
	end := 0 // first line after the section; 0: the end of the text
	if at+2 < len(doc.Content) {
		end = doc.Content[at+2].Line
	}
	if v.Line < 1 || v.Column < 1 || (end > 0 && end <= v.Line) {
		return nil, false
	}
	lines := bytes.SplitAfter(p.data, []byte("\n"))
	var b bytes.Buffer
	for i, l := range lines {
		ln := i + 1
		switch {
		case ln < v.Line || (end > 0 && ln >= end):
			b.WriteByte('\n')
		case ln == v.Line:
			// Blank the runes before the value's column (columns count
			// runes), keeping the width.
			rs := []rune(string(l))
			if v.Column-1 > len(rs) {
				return nil, false
			}
			for k := 0; k < v.Column-1; k++ {
				rs[k] = ' '
			}
			b.WriteString(string(rs))
		default:
			b.Write(l)
		}
	}
	return b.Bytes(), true
}

// plantErrors adds twins.ParseConfig's errors: as they are, their field
// under prefix, or (at != nil) all placed at the plant section.
func (p *parser) plantErrors(err error, at *yaml.Node, prefix string) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ce *twins.ConfigError
		if !errors.As(e, &ce) {
			p.errorf(at, "plant", "%v", e)
			continue
		}
		field := ce.Field
		if prefix != "" && field != "" {
			field = prefix + "." + field
		}
		if at != nil {
			p.add(&Error{File: p.file, Line: at.Line, Column: at.Column, Field: yamlnode.Join("plant", ce.Field),
				Msg: fmt.Sprintf("%s (line %d of the inline plant as re-encoded)", ce.Msg, ce.Line)})
			continue
		}
		p.add(&Error{File: ce.File, Line: ce.Line, Column: ce.Column, Field: field, Msg: ce.Msg})
	}
}
