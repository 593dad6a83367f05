package opcua

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// ErrTruncated is wrapped by Browse when the walk reached
// BrowseOptions.MaxNodes and more nodes were left.
var ErrTruncated = errors.New("opcua: browse stopped at the node limit")

// Browse batch sizes, lowered to the server's operation limits
// (Server.ServerCapabilities.OperationLimits) when it states lower ones.
const (
	browseBatch = 100  // nodes per Browse request
	readBatch   = 1000 // attributes per Read request
)

// BrowseOptions limit a Browse.
type BrowseOptions struct {
	// MaxDepth is how many levels below the root are visited: the root is
	// at depth 0, its children at 1. Nodes at MaxDepth are visited but not
	// browsed. Default (0 or less) 10.
	MaxDepth int
	// MaxNodes is how many nodes are visited at most, the root included.
	// When there are more, Browse visits MaxNodes of them (each with its
	// parent) and returns an error wrapping ErrTruncated. Default (0 or
	// less) 100,000.
	MaxNodes int
}

// BrowseNode is one node of the address space as Browse visits it.
type BrowseNode struct {
	// Depth is the number of references from the root, 0 for the root.
	Depth int `json:"depth" yaml:"depth"`
	// NodeID in the standard string form that bindings take:
	// "i=85" in namespace 0, "ns=2;s=Press01.Temperature" elsewhere.
	NodeID string `json:"node_id" yaml:"node_id"`
	// BrowseName is the qualified name as OPC UA tools and browse paths
	// write it: the name alone in namespace 0 ("Objects"), else prefixed
	// with its namespace index ("2:Press01.Temperature").
	BrowseName string `json:"browse_name" yaml:"browse_name"`
	// DisplayName is the text of the node's display name.
	DisplayName string `json:"display_name" yaml:"display_name"`
	// NodeClass is "Object", "Variable", "Method", "ObjectType",
	// "VariableType", "ReferenceType", "DataType" or "View"; empty when the
	// server did not say.
	NodeClass string `json:"node_class" yaml:"node_class"`
	// DataType, for variables, names the value's data type: the standard
	// name for data types of namespace 0 ("Double", "Int32", "Boolean",
	// "UtcTime", ...), else the data type's node id ("ns=3;i=3002").
	DataType string `json:"data_type" yaml:"data_type"`
	// Array is true for variables whose value is an array (ValueRank 0 or
	// more); the connectors bind scalars only.
	Array bool `json:"array" yaml:"array"`
	// Access, for variables, is "r", "w" or "rw" from the CurrentRead and
	// CurrentWrite bits of the AccessLevel attribute, "none" when neither
	// is set.
	Access string `json:"access" yaml:"access"`
	// Status is empty when the node could be browsed and its attributes
	// read, else the first failure's OPC UA status ("BadUserAccessDenied").
	// Browse goes on past such nodes.
	Status string `json:"status" yaml:"status"`
}

// Browse walks the address space from root (nil: the standard Objects
// folder, i=85) along forward hierarchical references (Organizes,
// HasComponent, HasProperty and the other subtypes of
// HierarchicalReferences) and calls fn for each node depth first, in
// pre-order: a node before its children, children in the server's order.
//
// Each node is visited once, by node id, so cycles and nodes with several
// parents are safe: a node reachable from several places appears once,
// at its smallest depth, under the first parent (in that order) that
// reaches it. References to other servers are not followed.
//
// The tree is fetched level by level before fn is called, so that a
// level's nodes are browsed together and their variables' attributes
// (DataType, ValueRank, AccessLevel) read together, in as few Browse and
// Read requests as the server's operation limits allow: the number of
// round trips grows with the depth and with the node count divided by the
// batch size, not with the node count. A node whose browse or attribute
// read fails is still visited, with Status set.
//
// Browse returns fn's error as is; an error wrapping the status code when
// the server does not know root; an error wrapping ErrTruncated after
// visiting MaxNodes nodes (breadth first: the ones nearest the root) when
// there were more; and the request's error when a Browse or Read request
// fails (the connection is then likely gone). fn runs on the calling
// goroutine.
func Browse(ctx context.Context, c *opcua.Client, root *ua.NodeID, o BrowseOptions, fn func(BrowseNode) error) error {
	switch {
	case root == nil:
		root = ua.NewNumericNodeID(0, id.ObjectsFolder)
	case root.Type() == ua.NodeIDTypeTwoByte || root.Type() == ua.NodeIDTypeFourByte:
		// ua.ParseNodeID picks the compact encodings, which some servers
		// (the simulated devices among them) do not take for the full one.
		root = ua.NewNumericNodeID(root.Namespace(), root.IntID())
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 10
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = 100000
	}
	w := &walker{c: c, o: o, fn: fn, visited: map[string]struct{}{}, browseBatch: browseBatch, readBatch: readBatch, namespaces: c.Namespaces()}

	// One Read for the root's attributes and the server's limits.
	re := &entry{id: root, node: BrowseNode{NodeID: root.String()}}
	reads := w.attributeReads(re, true)
	limits := []*ua.ReadValueID{
		{NodeID: ua.NewNumericNodeID(0, id.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse), AttributeID: ua.AttributeIDValue},
		{NodeID: ua.NewNumericNodeID(0, id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead), AttributeID: ua.AttributeIDValue},
	}
	res, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: append(valueIDs(reads), limits...), TimestampsToReturn: ua.TimestampsToReturnNeither})
	if err != nil {
		return fmt.Errorf("opcua: browse %s: read its attributes: %w", root, err)
	}
	if len(res.Results) != len(reads)+len(limits) {
		return fmt.Errorf("opcua: browse %s: read %d attributes, got %d results: %w", root, len(reads)+len(limits), len(res.Results), ua.StatusBadUnexpectedError)
	}
	for i, r := range reads {
		r.e.apply(r.attr, res.Results[i])
	}
	if n := limit(res.Results[len(reads)]); n > 0 {
		w.browseBatch = min(w.browseBatch, n)
	}
	if n := limit(res.Results[len(reads)+1]); n > 0 {
		w.readBatch = min(w.readBatch, n)
	}
	w.visited[re.node.NodeID] = struct{}{}

	level := []*entry{re}
	for depth := 0; depth < o.MaxDepth && len(level) > 0 && !w.truncated; depth++ {
		if level, err = w.expand(ctx, level, depth); err != nil {
			return err
		}
		if depth == 0 && re.classStatus == ua.StatusBadNodeIDUnknown && isBad(re.browseStatus) {
			return fmt.Errorf("opcua: browse %s: the server does not know the node: %w", root, re.classStatus)
		}
	}
	if err := w.emit(re); err != nil {
		return err
	}
	if w.truncated {
		return fmt.Errorf("%w: visited %d nodes; browse from a deeper root or raise the limit", ErrTruncated, len(w.visited))
	}
	return nil
}

// walker is the state of one Browse.
type walker struct {
	c                      *opcua.Client
	o                      BrowseOptions
	fn                     func(BrowseNode) error
	visited                map[string]struct{} // node ids found so far
	truncated              bool                // MaxNodes was reached with nodes left
	browseBatch, readBatch int
	namespaces             []string // the server's namespace array, for references by namespace URI
}

// entry is a visited node: what fn gets, and its children once expanded.
type entry struct {
	id           *ua.NodeID
	node         BrowseNode
	class        ua.NodeClass
	classStatus  ua.StatusCode // of the NodeClass read, when read
	browseStatus ua.StatusCode
	children     []*entry
}

// attrRead is one attribute of one entry to read.
type attrRead struct {
	e    *entry
	attr ua.AttributeID
}

func valueIDs(reads []attrRead) []*ua.ReadValueID {
	ids := make([]*ua.ReadValueID, len(reads))
	for i, r := range reads {
		ids[i] = &ua.ReadValueID{NodeID: r.e.id, AttributeID: r.attr}
	}
	return ids
}

// attributeReads lists what to read of e: everything when all (the root,
// or a reference without node class or names), else a variable's
// DataType, ValueRank and AccessLevel. The naming attributes come first,
// so that apply knows the node class before the variable's attributes.
func (w *walker) attributeReads(e *entry, all bool) []attrRead {
	var attrs []ua.AttributeID
	if all {
		attrs = append(attrs, ua.AttributeIDNodeClass, ua.AttributeIDBrowseName, ua.AttributeIDDisplayName)
	}
	if all || e.class == ua.NodeClassVariable {
		attrs = append(attrs, ua.AttributeIDDataType, ua.AttributeIDValueRank, ua.AttributeIDAccessLevel)
	}
	reads := make([]attrRead, len(attrs))
	for i, a := range attrs {
		reads[i] = attrRead{e: e, attr: a}
	}
	return reads
}

// emit calls fn for e and its descendants in pre-order.
func (w *walker) emit(e *entry) error {
	if err := w.fn(e.node); err != nil {
		return err
	}
	for _, c := range e.children {
		if err := w.emit(c); err != nil {
			return err
		}
	}
	return nil
}

// expand finds the children of the level's entries, which are at depth,
// reads their attributes and returns them, the next level, in order.
func (w *walker) expand(ctx context.Context, level []*entry, depth int) ([]*entry, error) {
	var next []*entry
	var reads []attrRead
	for batch := range slices.Chunk(level, w.browseBatch) {
		refs, err := w.browse(ctx, batch)
		if err != nil {
			return nil, err
		}
		for i, e := range batch {
			for _, ref := range refs[i] {
				if !ref.IsForward {
					continue
				}
				nid := w.local(ref.NodeID)
				if nid == nil {
					continue
				}
				key := nid.String()
				if _, seen := w.visited[key]; seen {
					continue
				}
				if len(w.visited) >= w.o.MaxNodes {
					w.truncated = true
					break
				}
				w.visited[key] = struct{}{}
				c := &entry{id: nid, class: ref.NodeClass, node: BrowseNode{
					Depth:       depth + 1,
					NodeID:      key,
					BrowseName:  qualifiedName(ref.BrowseName),
					DisplayName: localizedText(ref.DisplayName),
					NodeClass:   className(ref.NodeClass),
				}}
				e.children = append(e.children, c)
				next = append(next, c)
				reads = append(reads, w.attributeReads(c, ref.NodeClass == ua.NodeClassUnspecified || ref.BrowseName == nil)...)
			}
		}
		if w.truncated {
			break
		}
	}
	return next, w.read(ctx, reads)
}

// browse returns the forward hierarchical references of each entry of
// batch, following continuation points, and records each entry's
// browse status.
func (w *walker) browse(ctx context.Context, batch []*entry) ([][]*ua.ReferenceDescription, error) {
	descs := make([]*ua.BrowseDescription, len(batch))
	for i, e := range batch {
		descs[i] = &ua.BrowseDescription{
			NodeID:          e.id,
			BrowseDirection: ua.BrowseDirectionForward,
			ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
			IncludeSubtypes: true,
			NodeClassMask:   uint32(ua.NodeClassAll),
			ResultMask:      uint32(ua.BrowseResultMaskAll),
		}
	}
	res, err := w.c.Browse(ctx, &ua.BrowseRequest{NodesToBrowse: descs})
	if err != nil {
		return nil, fmt.Errorf("opcua: browse %s: %w", nodeList(batch), err)
	}
	if len(res.Results) != len(batch) {
		return nil, fmt.Errorf("opcua: browse %s: %d results for %d nodes: %w", nodeList(batch), len(res.Results), len(batch), ua.StatusBadUnexpectedError)
	}
	refs := make([][]*ua.ReferenceDescription, len(batch))
	var cps [][]byte
	var pending []int // indexes of batch with a continuation point
	for i, r := range res.Results {
		batch[i].setBrowseStatus(r.StatusCode)
		refs[i] = r.References
		if len(r.ContinuationPoint) > 0 {
			cps, pending = append(cps, r.ContinuationPoint), append(pending, i)
		}
	}
	for len(pending) > 0 {
		next, err := w.c.BrowseNext(ctx, &ua.BrowseNextRequest{ContinuationPoints: cps})
		if err != nil {
			return nil, fmt.Errorf("opcua: browse next %s: %w", nodeList(batch), err)
		}
		if len(next.Results) != len(pending) {
			return nil, fmt.Errorf("opcua: browse next %s: %d results for %d continuation points: %w", nodeList(batch), len(next.Results), len(pending), ua.StatusBadUnexpectedError)
		}
		var morePending []int
		cps = nil
		for j, r := range next.Results {
			i := pending[j]
			batch[i].setBrowseStatus(r.StatusCode)
			refs[i] = append(refs[i], r.References...)
			if len(r.ContinuationPoint) > 0 {
				cps, morePending = append(cps, r.ContinuationPoint), append(morePending, i)
			}
		}
		pending = morePending
	}
	return refs, nil
}

// read reads the attributes in requests of at most readBatch.
func (w *walker) read(ctx context.Context, reads []attrRead) error {
	for batch := range slices.Chunk(reads, w.readBatch) {
		res, err := w.c.Read(ctx, &ua.ReadRequest{NodesToRead: valueIDs(batch), TimestampsToReturn: ua.TimestampsToReturnNeither})
		if err != nil {
			return fmt.Errorf("opcua: read the attributes of %d nodes from %s: %w", countNodes(batch), batch[0].e.id, err)
		}
		if len(res.Results) != len(batch) {
			return fmt.Errorf("opcua: read %d attributes, got %d results: %w", len(batch), len(res.Results), ua.StatusBadUnexpectedError)
		}
		for i, r := range batch {
			r.e.apply(r.attr, res.Results[i])
		}
	}
	return nil
}

// local turns a reference's target into a node id of this server: nil
// for a node on another server or in a namespace the server does not
// list.
func (w *walker) local(x *ua.ExpandedNodeID) *ua.NodeID {
	if x == nil || x.NodeID == nil || x.ServerIndex != 0 {
		return nil
	}
	nid := ua.NewNodeIDFromExpandedNodeID(x)
	if x.NamespaceURI == "" {
		return nid
	}
	i := slices.Index(w.namespaces, x.NamespaceURI)
	if i < 0 || i > 0xffff {
		return nil
	}
	switch nid.Type() {
	case ua.NodeIDTypeTwoByte, ua.NodeIDTypeFourByte, ua.NodeIDTypeNumeric:
		// The compact encodings cannot hold every namespace index.
		return ua.NewNumericNodeID(uint16(i), nid.IntID())
	}
	if err := nid.SetNamespace(uint16(i)); err != nil {
		return nil
	}
	return nid
}

func (e *entry) setBrowseStatus(s ua.StatusCode) {
	if isBad(s) && !isBad(e.browseStatus) {
		e.browseStatus = s
		e.setStatus(s)
	}
}

func (e *entry) setStatus(s ua.StatusCode) {
	if e.node.Status == "" {
		e.node.Status = statusName(s)
	}
}

// apply records one attribute read. The attributes of variables count
// only once the node is known to be one.
func (e *entry) apply(attr ua.AttributeID, dv *ua.DataValue) {
	variable := attr == ua.AttributeIDDataType || attr == ua.AttributeIDValueRank || attr == ua.AttributeIDAccessLevel
	if variable && e.class != ua.NodeClassVariable {
		return
	}
	var v any
	if dv != nil && dv.Value != nil {
		v = dv.Value.Value()
	}
	switch {
	case dv == nil:
		e.setStatus(ua.StatusBadUnexpectedError)
		return
	case isBad(dv.Status):
		if attr == ua.AttributeIDNodeClass {
			e.classStatus = dv.Status
		}
		e.setStatus(dv.Status)
		return
	case v == nil:
		e.setStatus(ua.StatusBadNoData)
		return
	}
	switch attr {
	case ua.AttributeIDNodeClass:
		if n, ok := integer(v); ok {
			e.class = ua.NodeClass(n)
			e.node.NodeClass = className(e.class)
		}
	case ua.AttributeIDBrowseName:
		if q, ok := v.(*ua.QualifiedName); ok {
			e.node.BrowseName = qualifiedName(q)
		}
	case ua.AttributeIDDisplayName:
		if t, ok := v.(*ua.LocalizedText); ok {
			e.node.DisplayName = localizedText(t)
		}
	case ua.AttributeIDDataType:
		switch t := v.(type) {
		case *ua.NodeID:
			e.node.DataType = dataTypeName(t)
		case *ua.ExpandedNodeID:
			e.node.DataType = dataTypeName(t.NodeID)
		}
	case ua.AttributeIDValueRank:
		if n, ok := integer(v); ok {
			e.node.Array = n >= 0
		}
	case ua.AttributeIDAccessLevel:
		if n, ok := integer(v); ok {
			e.node.Access = access(ua.AccessLevelType(n))
		}
	}
}

// integer returns an integer attribute value of any width.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case int16:
		return int64(n), true
	case uint16:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		return int64(n), true
	}
	return 0, false
}

// limit is an operation limit read from the server; 0 when it has none.
func limit(dv *ua.DataValue) int {
	if dv == nil || isBad(dv.Status) || dv.Value == nil {
		return 0
	}
	n, ok := integer(dv.Value.Value())
	if !ok || n <= 0 {
		return 0
	}
	return int(min(n, 1<<20))
}

func isBad(s ua.StatusCode) bool { return uint32(s)>>30 >= 2 }

// statusName is a status code's name without its Go prefix
// ("BadNodeIDUnknown"), or its hex value.
func statusName(s ua.StatusCode) string {
	if d, ok := ua.StatusCodes[s]; ok {
		return strings.TrimPrefix(d.Name, "Status")
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

func qualifiedName(q *ua.QualifiedName) string {
	switch {
	case q == nil:
		return ""
	case q.NamespaceIndex == 0:
		return q.Name
	}
	return strconv.Itoa(int(q.NamespaceIndex)) + ":" + q.Name
}

func localizedText(t *ua.LocalizedText) string {
	if t == nil {
		return ""
	}
	return t.Text
}

func className(c ua.NodeClass) string {
	if c == ua.NodeClassUnspecified {
		return ""
	}
	if s, ok := strings.CutPrefix(c.String(), "NodeClass"); ok {
		return s
	}
	return "class " + strconv.Itoa(int(c))
}

// dataTypeName names a data type: by its standard name in namespace 0,
// else by its node id.
func dataTypeName(t *ua.NodeID) string {
	if t == nil {
		return ""
	}
	if t.Namespace() == 0 && (t.Type() == ua.NodeIDTypeTwoByte || t.Type() == ua.NodeIDTypeFourByte || t.Type() == ua.NodeIDTypeNumeric) {
		n := t.IntID()
		if s := id.Name(n); s != strconv.FormatUint(uint64(n), 10) {
			return s
		}
	}
	return t.String()
}

func access(a ua.AccessLevelType) string {
	r, w := a&ua.AccessLevelTypeCurrentRead != 0, a&ua.AccessLevelTypeCurrentWrite != 0
	switch {
	case r && w:
		return "rw"
	case r:
		return "r"
	case w:
		return "w"
	}
	return "none"
}

// nodeList names the nodes of a batch for an error message.
func nodeList(batch []*entry) string {
	if len(batch) == 1 {
		return batch[0].node.NodeID
	}
	return fmt.Sprintf("%d nodes from %s", len(batch), batch[0].node.NodeID)
}

func countNodes(reads []attrRead) int {
	n := 0
	for i, r := range reads {
		if i == 0 || r.e != reads[i-1].e {
			n++
		}
	}
	return n
}
