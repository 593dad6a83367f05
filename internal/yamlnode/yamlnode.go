// Package yamlnode holds the small helpers the configuration parsers
// (twins, edge) share for walking yaml.v3 nodes and naming fields in
// their error messages.
package yamlnode

import (
	"fmt"
	"hash"
	"hash/fnv"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Deref follows aliases (at most 100 deep).
func Deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is absent or a YAML null.
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// Kind describes n for messages: "a mapping", "a list", "null", or the
// quoted scalar.
func Kind(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported node"
}

// Join appends a field to a dotted path ("models[0]" + "name").
func Join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// Index appends a list index to a path ("twins" + 3 = "twins[3]").
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Hash returns a fingerprint of n's content: kinds, tags, values and
// structure, not positions, so a section edited elsewhere in its file keeps
// its hash. Aliases are followed (to a bounded depth).
func Hash(n *yaml.Node) uint64 {
	h := fnv.New64a()
	hashNode(h, n, 0)
	return h.Sum64()
}

func hashNode(h hash.Hash64, n *yaml.Node, depth int) {
	n = Deref(n)
	if n == nil || depth > 64 {
		h.Write([]byte{'-'})
		return
	}
	fmt.Fprintf(h, "%d|%s|%d:%s|%d[", n.Kind, n.ShortTag(), len(n.Value), n.Value, len(n.Content))
	for _, c := range n.Content {
		hashNode(h, c, depth+1)
	}
	h.Write([]byte{']'})
}

// Walker is what the configuration parsers share: a visit that charges a
// node to the walk's budget (false once exhausted) and an errorf that
// records a problem at a node under a field path.
type Walker interface {
	Visit(n *yaml.Node) bool
	Errorf(n *yaml.Node, field, format string, args ...any)
}

// Seq returns the items of sequence n (nil for null); another kind is
// reported as "want a list".
func Seq(w Walker, n *yaml.Node, path string) []*yaml.Node {
	n = Deref(n)
	if IsNull(n) || !w.Visit(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		w.Errorf(n, path, "want a list, got %s", Kind(n))
		return nil
	}
	return n.Content
}

// Str returns scalar n's text; another kind is reported as "want a
// string".
func Str(w Walker, n *yaml.Node, path string) (string, bool) {
	n = Deref(n)
	if !w.Visit(n) {
		return "", false
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		w.Errorf(n, path, "want a string, got %s", Kind(n))
		return "", false
	}
	return n.Value, true
}

// Budget bounds the nodes a walk of one document visits: aliases can make a
// small text expand enormously. Start it in proportion to the text
// (NewBudget).
type Budget struct {
	left      int
	exhausted bool
}

// NewBudget returns the budget of a document of size bytes.
func NewBudget(size int) Budget { return Budget{left: 1000 + 4*size} }

// Visit charges node n; it reports false once the budget is spent, and
// the first time reports "document too complex" through errorf.
func (b *Budget) Visit(n *yaml.Node, errorf func(n *yaml.Node, field, format string, args ...any)) bool {
	if b.exhausted {
		return false
	}
	b.left--
	if b.left < 0 {
		b.exhausted = true
		errorf(n, "", "document too complex: excessive aliasing")
		return false
	}
	return true
}
