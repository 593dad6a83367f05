package modbus

import (
	"context"
	"fmt"
	"strconv"

	mb "github.com/simonvetter/modbus"

	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/twins"
)

// Errors of writes and commands: the edge package's, so that callers
// handle every protocol alike.
var (
	ErrNotConnected = edge.ErrNotConnected
	ErrNotBound     = edge.ErrNotBound
	ErrStopped      = edge.ErrStopped
)

var _ edge.Commander = (*Connector)(nil)

// writeReq is a write for the connector's goroutine, which owns the
// client (reads set the unit id before each request, so writes must not
// interleave with them).
type writeReq struct {
	ctx  context.Context // the caller's: a write it gave up on is not sent late
	p    Point
	regs []uint16
	bits []bool
	done chan error // capacity 1
}

// target is a bound write or command destination.
type target struct {
	p     Point
	value string // command: fixed value ("" = the first parameter)
}

// indexWrites records the writes and commands of the bindings.
func (c *Connector) indexWrites(bindings []*edge.Binding) error {
	c.writeTargets = map[string]target{}
	for _, b := range bindings {
		for _, w := range b.Writes {
			p, err := pointOf(c.mcfg.UnitID, w)
			if err != nil {
				return fmt.Errorf("modbus: connector %s: twin %s write %s: %w", c.cfg.Name, b.TwinID, w.Property, err)
			}
			c.writeTargets[b.TwinID+"\x00p\x00"+w.Property] = target{p: p}
		}
		for _, cmd := range b.Commands {
			typ := cmd.Type
			if typ == "" {
				typ = "bool"
			}
			p, err := pointOf(c.mcfg.UnitID, edge.PointBinding{Table: cmd.Table, Address: cmd.Address, Type: typ, ByteOrder: cmd.ByteOrder, WordOrder: cmd.WordOrder, Length: cmd.Length, UnitID: cmd.UnitID, Scale: 1})
			if err != nil {
				return fmt.Errorf("modbus: connector %s: twin %s command %s: %w", c.cfg.Name, b.TwinID, cmd.Command, err)
			}
			c.writeTargets[b.TwinID+"\x00c\x00"+cmd.Command] = target{p: p, value: cmd.Value}
		}
	}
	return nil
}

// Write writes a desired value of a twin's writable property to the
// device, as a single or multiple register (or coil) write. It fails with
// ErrNotConnected while the device is unreachable (the caller decides
// whether to wait and retry), and with the device's exception otherwise.
func (c *Connector) Write(ctx context.Context, twinID, property string, v twins.Value) error {
	t, ok := c.writeTargets[twinID+"\x00p\x00"+property]
	if !ok {
		return fmt.Errorf("%w: twin %s property %s", ErrNotBound, twinID, property)
	}
	return c.write(ctx, t.p, v)
}

// Command carries out a twin's command: it writes the binding's fixed
// value or, when the binding has none, the command's first argument (args
// in the order of the model's parameters).
func (c *Connector) Command(ctx context.Context, twinID, command string, args []edge.Arg) error {
	t, ok := c.writeTargets[twinID+"\x00c\x00"+command]
	if !ok {
		return fmt.Errorf("%w: twin %s command %s", ErrNotBound, twinID, command)
	}
	var v twins.Value
	switch {
	case t.value != "":
		var err error
		if v, err = parseFixed(t.p.Type, t.value); err != nil {
			return fmt.Errorf("modbus: twin %s command %s: value %q: %w", twinID, command, t.value, err)
		}
	case len(args) > 0:
		v = args[0].Value
	default:
		return fmt.Errorf("modbus: twin %s command %s: the binding has no value and the command no parameter", twinID, command)
	}
	return c.write(ctx, t.p, v)
}

func parseFixed(t Type, s string) (twins.Value, error) {
	switch t {
	case Bool:
		b, err := strconv.ParseBool(s)
		return twins.Bool(b), err
	case Float32, Float64:
		f, err := strconv.ParseFloat(s, 64)
		return twins.Double(f), err
	case String:
		return twins.String(s), nil
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return twins.Int(i), err
}

func (c *Connector) write(ctx context.Context, p Point, v twins.Value) error {
	regs, bits, err := Encode(p, v)
	if err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, p: p, regs: regs, bits: bits, done: make(chan error, 1)}
	select {
	case c.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopC:
		return ErrStopped
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveWrite runs one write on the connector's goroutine; client nil means
// not connected.
func (c *Connector) serveWrite(client *mb.ModbusClient, w *writeReq) error {
	var err error
	defer func() { w.done <- err }()
	if client == nil {
		err = ErrNotConnected
		return err
	}
	if w.ctx != nil && w.ctx.Err() != nil {
		// The caller gave up (its command timed out) while the write
		// waited behind a poll: writing now would act after the twin
		// has reported the command as not carried out.
		err = w.ctx.Err()
		return err
	}
	if err = client.SetUnitId(w.p.UnitID); err != nil {
		return err
	}
	switch {
	case w.p.Table == Coils && len(w.bits) == 1:
		err = client.WriteCoil(w.p.Address, w.bits[0])
	case w.p.Table == Coils:
		err = client.WriteCoils(w.p.Address, w.bits)
	case w.p.Table == HoldingRegisters && len(w.regs) == 1:
		err = client.WriteRegister(w.p.Address, w.regs[0])
	case w.p.Table == HoldingRegisters:
		err = client.WriteRegisters(w.p.Address, w.regs)
	default:
		err = fmt.Errorf("modbus: %s is not writable", w.p.Table)
	}
	if err != nil {
		err = fmt.Errorf("modbus: write %s %d of unit %d: %w", w.p.Table, w.p.Address, w.p.UnitID, err)
	}
	return err
}
