package opcua

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/twins"
)

var _ edge.Commander = (*Connector)(nil)

// target is a bound write or command destination.
type target struct {
	node          *ua.NodeID
	method        *ua.NodeID // command: call this method on node
	value         string     // command: fixed value, as written ("" = the first argument)
	scale, offset float64    // writes
}

// indexWrites records the writes and commands of the bindings.
func (c *Connector) indexWrites(bindings []*edge.Binding) error {
	c.writeTargets = map[string]target{}
	for _, b := range bindings {
		for _, w := range b.Writes {
			nid, err := ua.ParseNodeID(w.NodeID)
			if err != nil {
				return fmt.Errorf("opcua: connector %s: twin %s write %s: node id %q: %w", c.cfg.Name, b.TwinID, w.Property, w.NodeID, err)
			}
			t := target{node: nid, scale: w.Scale, offset: w.Offset}
			if t.scale == 0 {
				t.scale = 1
			}
			c.writeTargets[b.TwinID+"\x00p\x00"+w.Property] = t
		}
		for _, cmd := range b.Commands {
			nid, err := ua.ParseNodeID(cmd.NodeID)
			if err != nil {
				return fmt.Errorf("opcua: connector %s: twin %s command %s: node id %q: %w", c.cfg.Name, b.TwinID, cmd.Command, cmd.NodeID, err)
			}
			t := target{node: nid, value: cmd.Value, scale: 1}
			if cmd.MethodNodeID != "" {
				if t.method, err = ua.ParseNodeID(cmd.MethodNodeID); err != nil {
					return fmt.Errorf("opcua: connector %s: twin %s command %s: method node id %q: %w", c.cfg.Name, b.TwinID, cmd.Command, cmd.MethodNodeID, err)
				}
			}
			c.writeTargets[b.TwinID+"\x00c\x00"+cmd.Command] = t
		}
	}
	return nil
}

// Write writes a desired value of a twin's writable property to its node,
// as (value-offset)/scale converted to the node's data type (read from
// the server once per connection). It fails with edge.ErrNotConnected
// while the server is unreachable and with the server's status code when
// it refuses the write.
func (c *Connector) Write(ctx context.Context, twinID, property string, v twins.Value) error {
	t, ok := c.writeTargets[twinID+"\x00p\x00"+property]
	if !ok {
		return fmt.Errorf("opcua: %w: twin %s property %s", edge.ErrNotBound, twinID, property)
	}
	if t.scale != 1 || t.offset != 0 {
		switch v.Type() {
		case twins.TypeInt:
			v = twins.Double((float64(v.AsInt()) - t.offset) / t.scale)
		case twins.TypeDouble:
			v = twins.Double((v.AsDouble() - t.offset) / t.scale)
		}
	}
	if err := c.writeNode(ctx, t.node, v); err != nil {
		return fmt.Errorf("opcua: twin %s property %s: %w", twinID, property, err)
	}
	return nil
}

// Command carries out a twin's command: a call of the bound method with
// the arguments as its input arguments (converted to the types the
// method declares, when it declares them), or a write of the binding's
// fixed value, or else of the first argument, to the bound node.
func (c *Connector) Command(ctx context.Context, twinID, command string, args []edge.Arg) error {
	t, ok := c.writeTargets[twinID+"\x00c\x00"+command]
	if !ok {
		return fmt.Errorf("opcua: %w: twin %s command %s", edge.ErrNotBound, twinID, command)
	}
	var err error
	switch {
	case t.method != nil:
		err = c.call(ctx, t.node, t.method, args)
	case t.value != "":
		err = c.writeNode(ctx, t.node, fixedValue(t.value))
	case len(args) > 0:
		err = c.writeNode(ctx, t.node, args[0].Value)
	default:
		err = fmt.Errorf("the binding has no value and the command no argument")
	}
	if err != nil {
		return fmt.Errorf("opcua: twin %s command %s: %w", twinID, command, err)
	}
	return nil
}

// fixedValue reads a binding's value as written: true/false, a whole
// number, a number, or else a string. The node's data type decides what
// is written.
func fixedValue(s string) twins.Value {
	switch strings.ToLower(s) {
	case "true":
		return twins.Bool(true)
	case "false":
		return twins.Bool(false)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return twins.Int(i)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return twins.Double(f)
	}
	return twins.String(s)
}

func (c *Connector) connected() (*opcua.Client, error) {
	cl := c.client.Load()
	if cl == nil {
		if c.stopped() {
			return nil, edge.ErrStopped
		}
		return nil, fmt.Errorf("%w: %s", edge.ErrNotConnected, c.cfg.Endpoint)
	}
	return cl, nil
}

// dataType returns a node's built-in data type, cached per connection.
func (c *Connector) dataType(ctx context.Context, cl *opcua.Client, node *ua.NodeID) (uint32, error) {
	key := node.String()
	if dt, ok := c.types.Load(key); ok {
		return dt.(uint32), nil
	}
	resp, err := cl.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: node, AttributeID: ua.AttributeIDDataType}}})
	if err != nil {
		return 0, fmt.Errorf("read the data type of %s: %w", node, err)
	}
	if len(resp.Results) != 1 {
		return 0, fmt.Errorf("read the data type of %s: %d results", node, len(resp.Results))
	}
	r := resp.Results[0]
	if r.Status != ua.StatusOK {
		return 0, fmt.Errorf("read the data type of %s: %w", node, r.Status)
	}
	nid, ok := r.Value.Value().(*ua.NodeID)
	if !ok || nid.Namespace() != 0 || nid.Type() != ua.NodeIDTypeNumeric && nid.Type() != ua.NodeIDTypeTwoByte && nid.Type() != ua.NodeIDTypeFourByte {
		return 0, fmt.Errorf("%w: node %s has data type %v", ErrDataType, node, r.Value.Value())
	}
	dt := nid.IntID()
	c.types.Store(key, dt)
	return dt, nil
}

func (c *Connector) writeNode(ctx context.Context, node *ua.NodeID, v twins.Value) error {
	cl, err := c.connected()
	if err != nil {
		return err
	}
	dt, err := c.dataType(ctx, cl, node)
	if err != nil {
		return err
	}
	vr, err := ToVariant(v, dt)
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	resp, err := cl.Write(ctx, &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{
		NodeID:      node,
		AttributeID: ua.AttributeIDValue,
		Value:       &ua.DataValue{EncodingMask: ua.DataValueValue, Value: vr},
	}}})
	if err != nil {
		return fmt.Errorf("write %s: %w", node, err)
	}
	if len(resp.Results) != 1 {
		return fmt.Errorf("write %s: %d results", node, len(resp.Results))
	}
	if st := resp.Results[0]; st != ua.StatusOK {
		return fmt.Errorf("the server refused the write of %s to %s: %w", v, node, st)
	}
	return nil
}

// inputTypes reads the data types of a method's input arguments (its
// InputArguments property); nil when the method declares none or the
// server does not say.
func (c *Connector) inputTypes(ctx context.Context, cl *opcua.Client, method *ua.NodeID) []uint32 {
	// HasProperty is a hierarchical reference, so the node's own path
	// lookup finds it.
	prop, err := cl.Node(method).TranslateBrowsePathsToNodeIDs(ctx, []*ua.QualifiedName{{Name: "InputArguments"}})
	if err != nil || prop == nil {
		return nil
	}
	rr, err := cl.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: prop, AttributeID: ua.AttributeIDValue}}})
	if err != nil || len(rr.Results) != 1 || rr.Results[0].Status != ua.StatusOK || rr.Results[0].Value == nil {
		return nil
	}
	eos, ok := rr.Results[0].Value.Value().([]*ua.ExtensionObject)
	if !ok {
		return nil
	}
	var out []uint32
	for _, eo := range eos {
		arg, ok := eo.Value.(*ua.Argument)
		if !ok || arg.DataType == nil || arg.DataType.Namespace() != 0 {
			out = append(out, 0)
			continue
		}
		out = append(out, arg.DataType.IntID())
	}
	return out
}

func (c *Connector) call(ctx context.Context, object, method *ua.NodeID, args []edge.Arg) error {
	cl, err := c.connected()
	if err != nil {
		return err
	}
	types := c.inputTypes(ctx, cl, method)
	in := make([]*ua.Variant, len(args))
	for i, a := range args {
		var dt uint32
		if i < len(types) {
			dt = types[i]
		}
		if in[i], err = ToVariant(a.Value, dt); err != nil {
			return fmt.Errorf("argument %s: %w", a.Name, err)
		}
	}
	res, err := cl.Call(ctx, &ua.CallMethodRequest{ObjectID: object, MethodID: method, InputArguments: in})
	if err != nil {
		return fmt.Errorf("call %s on %s: %w", method, object, err)
	}
	if res.StatusCode != ua.StatusOK {
		for i, st := range res.InputArgumentResults {
			if st != ua.StatusOK && i < len(args) {
				return fmt.Errorf("the server refused argument %s of the call %s: %w", args[i].Name, method, st)
			}
		}
		return fmt.Errorf("the server refused the call %s on %s: %w", method, object, res.StatusCode)
	}
	return nil
}
