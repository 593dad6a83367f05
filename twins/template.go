package twins

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
)

// twinEntry is one item of the twins list, before and after expansion.
type twinEntry struct {
	path       string
	node       *yaml.Node // the item
	idNode     *yaml.Node
	parentNode *yaml.Node
	first, end int // its twins are c.Twins[first:end]
}

// twins parses the twins list, expands templates and checks models, ids
// and parents.
func (p *parser) twins(c *Config, n *yaml.Node) {
	items := p.seq(n, "twins")
	entries := make([]twinEntry, 0, len(items))
	total := 0
	for i, item := range items {
		path := yamlnode.Index("twins", i)
		fs, ok := p.fields(item, path, []string{"id", "model", "parent", "labels", "rules"}, nil)
		if !ok {
			continue
		}
		ent := twinEntry{path: path, node: yamlnode.Deref(item), first: len(c.Twins)}
		idE, hasID := fs["id"]
		if !hasID {
			p.errorf(item, yamlnode.Join(path, "id"), "missing required field \"id\"")
		}
		modelE, hasModel := fs["model"]
		if !hasModel {
			p.errorf(item, yamlnode.Join(path, "model"), "missing required field \"model\"")
		}
		var model *Model
		var modelName string
		if hasModel {
			if s, ok := p.str(modelE.val, yamlnode.Join(path, "model")); ok {
				modelName = s
				var known bool
				if model, known = c.models[s]; !known {
					p.errorf(modelE.val, yamlnode.Join(path, "model"), "unknown model %q%s", s, suggest.Closest(s, modelNames(c)))
				} else if e, ok := fs["rules"]; ok {
					// The twins of this entry get the model's rules with
					// their own merged in.
					model = p.twinModel(model, e.val, yamlnode.Join(path, "rules"))
				}
			}
		}
		var parent string
		hasParent := false
		if e, ok := fs["parent"]; ok {
			ent.parentNode = yamlnode.Deref(e.val)
			parent, hasParent = p.str(e.val, yamlnode.Join(path, "parent"))
		}
		labels, labelsUseN := p.labels(fs, path)
		if !hasID {
			continue
		}
		id, ok := p.str(idE.val, yamlnode.Join(path, "id"))
		if !ok {
			continue
		}
		ent.idNode = yamlnode.Deref(idE.val)
		tpl, msg := parseTemplate(id, p.maxTwins)
		if msg != "" {
			p.errorf(ent.idNode, yamlnode.Join(path, "id"), "%s", msg)
			continue
		}
		if !tpl.isRange {
			if labelsUseN {
				p.errorf(fs["labels"].val, yamlnode.Join(path, "labels"), "{n} is only allowed when the id has a {A..B} range")
			}
			if hasParent && strings.Contains(parent, "{n}") {
				p.errorf(ent.parentNode, yamlnode.Join(path, "parent"), "{n} is only allowed when the id has a {A..B} range")
				hasParent = false
			}
		}
		if total+tpl.count() > p.maxTwins {
			p.errorf(ent.idNode, yamlnode.Join(path, "id"), "too many twins: %d declared so far plus %d here exceeds the limit of %d", total, tpl.count(), p.maxTwins)
			continue
		}
		total += tpl.count()
		for k := range tpl.count() {
			spec := &Spec{ID: tpl.id(k), ModelName: modelName, Model: model, Labels: labels}
			if hasParent {
				spec.Parent = parent
			}
			if tpl.isRange {
				num := tpl.num(k)
				if labelsUseN {
					spec.Labels = expandLabels(labels, num)
				}
				if hasParent {
					spec.Parent = strings.ReplaceAll(parent, "{n}", num)
				}
			}
			c.Twins = append(c.Twins, spec)
		}
		ent.end = len(c.Twins)
		entries = append(entries, ent)
	}
	p.indexTwins(c, entries)
	p.checkParents(c, entries)
}

func modelNames(c *Config) []string {
	names := make([]string, 0, len(c.Models))
	for _, m := range c.Models {
		names = append(names, m.Name)
	}
	return names
}

// labels reads the labels mapping; useN reports whether a value contains {n}.
func (p *parser) labels(fs map[string]entry, path string) (labels map[string]string, useN bool) {
	e, ok := fs["labels"]
	if !ok {
		return nil, false
	}
	path = yamlnode.Join(path, "labels")
	n := yamlnode.Deref(e.val)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", yamlnode.Kind(n))
		return nil, false
	}
	labels = make(map[string]string, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := yamlnode.Deref(n.Content[i])
		key, ok := p.str(k, path)
		if !ok {
			continue
		}
		kpath := yamlnode.Join(path, key)
		if line, dup := lines[key]; dup {
			p.errorf(k, kpath, "duplicate label %q (first at line %d)", key, line)
			continue
		}
		lines[key] = k.Line
		if !validLabelKey(key) {
			p.errorf(k, kpath, "invalid label key %q (want lowercase letters, digits, _, . and -, starting with a letter)", key)
			continue
		}
		v := yamlnode.Deref(n.Content[i+1])
		val := ""
		if !yamlnode.IsNull(v) {
			if val, ok = p.str(v, kpath); !ok {
				continue
			}
		}
		labels[key] = val
		useN = useN || strings.Contains(val, "{n}")
	}
	return labels, useN
}

func expandLabels(labels map[string]string, num string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = strings.ReplaceAll(v, "{n}", num)
	}
	return out
}

// template is a twin id, possibly with one {A..B} range.
type template struct {
	prefix, suffix string
	lo, hi         int
	width          int // zero padding, from the width of A
	isRange        bool
}

func (t template) count() int {
	if !t.isRange {
		return 1
	}
	return t.hi - t.lo + 1
}

func (t template) num(k int) string {
	s := strconv.Itoa(t.lo + k)
	if len(s) < t.width {
		s = strings.Repeat("0", t.width-len(s)) + s
	}
	return s
}

func (t template) id(k int) string {
	if !t.isRange {
		return t.prefix
	}
	return t.prefix + t.num(k) + t.suffix
}

// parseTemplate parses id; msg describes what is wrong with it.
func parseTemplate(id string, maxTwins int) (t template, msg string) {
	open := strings.IndexByte(id, '{')
	if open < 0 {
		if !validTwinID(id) {
			return t, invalidID(id)
		}
		return template{prefix: id}, ""
	}
	rest := id[open+1:]
	end := strings.IndexByte(rest, '}')
	if end < 0 {
		return t, "invalid template " + strconv.Quote(id) + ": missing }"
	}
	lo, hi, ok := strings.Cut(rest[:end], "..")
	t = template{prefix: id[:open], suffix: rest[end+1:], isRange: true, width: len(lo)}
	if !ok || !allDigits(lo) || !allDigits(hi) || len(lo) > 7 || len(hi) > 7 {
		return t, "invalid template range " + strconv.Quote("{"+rest[:end]+"}") + " in " + strconv.Quote(id) + " (want {A..B} with decimal A <= B, e.g. {001..500})"
	}
	if strings.ContainsAny(t.suffix, "{}") {
		return t, "invalid template " + strconv.Quote(id) + ": only one {A..B} range per id"
	}
	t.lo, _ = strconv.Atoi(lo)
	t.hi, _ = strconv.Atoi(hi)
	if t.lo > t.hi {
		return t, "invalid template range {" + rest[:end] + "}: " + lo + " is above " + hi
	}
	if t.hi-t.lo+1 > maxTwins {
		return t, "template " + strconv.Quote(id) + " expands to " + strconv.Itoa(t.hi-t.lo+1) + " twins, more than the limit of " + strconv.Itoa(maxTwins)
	}
	// Every expansion has the characters of the first and the length of
	// the last, so checking both checks all.
	for _, k := range []int{0, t.count() - 1} {
		if s := t.id(k); !validTwinID(s) {
			return t, "template " + strconv.Quote(id) + " expands to an " + invalidID(s)
		}
	}
	return t, ""
}

func invalidID(id string) string {
	return "invalid twin id " + strconv.Quote(id) + " (want 1 to 128 letters, digits and . _ : / -, starting with a letter or digit)"
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// indexTwins builds the id index and reports duplicate ids.
func (p *parser) indexTwins(c *Config, entries []twinEntry) {
	c.twins = make(map[string]int32, len(c.Twins))
	for ei := range entries {
		ent := &entries[ei]
		dups, firstDup := 0, -1
		for i := ent.first; i < ent.end; i++ {
			id := c.Twins[i].ID
			if _, dup := c.twins[id]; dup {
				if dups == 0 {
					firstDup = i
				}
				dups++
				continue
			}
			c.twins[id] = int32(i)
		}
		if dups > 0 {
			id := c.Twins[firstDup].ID
			other := entryOf(entries, int(c.twins[id]))
			msg := "duplicate twin id %q (first declared at line %d)"
			if dups > 1 {
				msg += " and " + strconv.Itoa(dups-1) + " more duplicates"
			}
			p.errorf(ent.idNode, yamlnode.Join(ent.path, "id"), msg, id, other.idNode.Line)
		}
	}
}

// entryOf returns the entry that declared c.Twins[i].
func entryOf(entries []twinEntry, i int) *twinEntry {
	k, _ := slices.BinarySearchFunc(entries, i, func(e twinEntry, i int) int {
		switch {
		case i < e.first:
			return 1
		case i >= e.end:
			return -1
		}
		return 0
	})
	return &entries[k]
}

// checkParents reports unknown parents and cycles and builds the children
// index.
func (p *parser) checkParents(c *Config, entries []twinEntry) {
	parent := make([]int32, len(c.Twins)) // index of the parent, -1 for none
	nchild := 0
	for ei := range entries {
		ent := &entries[ei]
		missing, firstMissing := 0, ""
		for i := ent.first; i < ent.end; i++ {
			parent[i] = -1
			pid := c.Twins[i].Parent
			if pid == "" {
				continue
			}
			j, ok := c.twins[pid]
			if !ok {
				if missing == 0 {
					firstMissing = pid
				}
				missing++
				continue
			}
			parent[i] = j
			nchild++
		}
		if missing > 0 {
			msg := "parent %q is not a declared twin"
			if missing > 1 {
				msg += " (and " + strconv.Itoa(missing-1) + " more missing parents)"
			}
			p.errorf(ent.parentNode, yamlnode.Join(ent.path, "parent"), msg, firstMissing)
		}
	}
	// Each twin has at most one parent: walk up from every twin, marking
	// the path; reaching a twin on the current path is a cycle.
	const (
		unvisited = 0
		onPath    = 1
		done      = 2
	)
	color := make([]uint8, len(c.Twins))
	for start := range c.Twins {
		i := int32(start)
		for i >= 0 && color[i] == unvisited {
			color[i] = onPath
			i = parent[i]
		}
		if i >= 0 && color[i] == onPath {
			p.reportCycle(c, entries, parent, i)
		}
		for i := int32(start); i >= 0 && color[i] == onPath; i = parent[i] {
			color[i] = done
		}
	}
	// Children: stable order by parent.
	if nchild == 0 {
		return
	}
	c.byParent = make([]*Spec, 0, nchild)
	for i, s := range c.Twins {
		if parent[i] >= 0 {
			c.byParent = append(c.byParent, s)
		}
	}
	slices.SortStableFunc(c.byParent, func(a, b *Spec) int { return strings.Compare(a.Parent, b.Parent) })
	c.children = make(map[string][2]int32)
	for i := 0; i < len(c.byParent); {
		j := i + 1
		for j < len(c.byParent) && c.byParent[j].Parent == c.byParent[i].Parent {
			j++
		}
		c.children[c.byParent[i].Parent] = [2]int32{int32(i), int32(j)}
		i = j
	}
}

func (p *parser) reportCycle(c *Config, entries []twinEntry, parent []int32, start int32) {
	var ids []string
	i := start
	for {
		ids = append(ids, c.Twins[i].ID)
		i = parent[i]
		if i == start {
			break
		}
		if len(ids) == 10 {
			ids = append(ids, "...")
			break
		}
	}
	ent := entryOf(entries, int(start))
	if len(ids) == 1 {
		p.errorf(ent.parentNode, yamlnode.Join(ent.path, "parent"), "twin %q is its own parent", ids[0])
		return
	}
	ids = append(ids, c.Twins[start].ID)
	p.errorf(ent.parentNode, yamlnode.Join(ent.path, "parent"), "parent cycle: %s", strings.Join(ids, " -> "))
}

// validName reports whether s matches ^[a-z][a-z0-9_]*$.
func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if ch := s[i]; !isLower(ch) && !isDigit(ch) && ch != '_' {
			return false
		}
	}
	return true
}

// validLabelKey reports whether s matches ^[a-z][a-z0-9_.-]*$.
func validLabelKey(s string) bool {
	if s == "" || !isLower(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if ch := s[i]; !isLower(ch) && !isDigit(ch) && ch != '_' && ch != '.' && ch != '-' {
			return false
		}
	}
	return true
}

// validTwinID reports whether s matches ^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$.
func validTwinID(s string) bool {
	if s == "" || len(s) > 128 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch ch := s[i]; {
		case isAlnum(ch), ch == '.', ch == '_', ch == ':', ch == '/', ch == '-':
		default:
			return false
		}
	}
	return true
}

func isLower(ch byte) bool { return ch >= 'a' && ch <= 'z' }
func isDigit(ch byte) bool { return ch >= '0' && ch <= '9' }
func isAlnum(ch byte) bool {
	return isLower(ch) || isDigit(ch) || (ch >= 'A' && ch <= 'Z')
}

// Expansion is one id of an expanded template: the id and the number that
// replaced the {A..B} range (with A's zero padding), or "" for a plain id.
type Expansion struct {
	ID string
	N  string
}

// ExpandTemplate expands an id template such as "pump-{001..500}" the way
// the twins list does (one {A..B} range at most, zero padding from A, at
// most MaxTwins ids). Other sections of the configuration (bindings) use
// it so that a template means the same everywhere; N is what "{n}"
// stands for in their other fields.
func ExpandTemplate(pattern string) ([]Expansion, error) {
	t, msg := parseTemplate(pattern, MaxTwins)
	if msg != "" {
		return nil, errors.New(msg)
	}
	out := make([]Expansion, t.count())
	for k := range out {
		out[k] = Expansion{ID: t.id(k)}
		if t.isRange {
			out[k].N = t.num(k)
		}
	}
	return out, nil
}
