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
