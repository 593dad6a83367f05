package modbus

import (
	"cmp"
	"fmt"
	"slices"
)

// Request is one read: a run of a table of one unit.
type Request struct {
	// UnitID is the unit to read from.
	UnitID uint8
	// Table is the table to read.
	Table Table
	// Address is the first register or bit read.
	Address uint16
	// Quantity is how many registers or bits are read.
	Quantity uint16
	// Points are the indexes of the points (into Plan's input) this
	// request covers, ascending by address (then by index).
	Points []int
}

// Limits are the limits of one request; the protocol maxima are 125
// registers and 2000 bits per read.
type Limits struct {
	// MaxRegisters is the most registers one request reads, 1 to 125; 0
	// means 125. Some devices accept less than the protocol maximum.
	MaxRegisters uint16
	// MaxBits is the most bits one request reads, 1 to 2000; 0 means 2000.
	MaxBits uint16
	// MaxGap is how many unused addresses a request may span to join two
	// points; 0 joins only adjacent or overlapping points. Reading a few
	// unused registers is usually cheaper than another round trip, but
	// some devices answer an exception for unmapped addresses.
	MaxGap uint16
}

// DefaultLimits returns the protocol maxima and no gaps:
// {MaxRegisters: 125, MaxBits: 2000, MaxGap: 0}.
func DefaultLimits() Limits {
	return Limits{MaxRegisters: maxReadRegisters, MaxBits: maxReadBits}
}

// Plan groups points by unit and table and coalesces them into the fewest
// requests within the limits. Each group is sorted by address (then by
// input index), and the current request is extended greedily while the
// next point starts within MaxGap of its end and the request stays within
// MaxRegisters (or MaxBits). Overlapping points, two views of the same
// registers, share a request. The requests come out by unit, table and
// address.
//
// Every point is validated; an invalid point, a point larger than the
// maximum of one request (possible only with limits below the protocol
// maxima) or limits above the protocol maxima are errors.
func Plan(points []Point, lim Limits) ([]Request, error) {
	maxRegs, maxBits := int(lim.MaxRegisters), int(lim.MaxBits)
	if maxRegs == 0 {
		maxRegs = maxReadRegisters
	}
	if maxBits == 0 {
		maxBits = maxReadBits
	}
	if maxRegs > maxReadRegisters {
		return nil, fmt.Errorf("modbus: plan: max registers %d exceeds the protocol maximum %d", maxRegs, maxReadRegisters)
	}
	if maxBits > maxReadBits {
		return nil, fmt.Errorf("modbus: plan: max bits %d exceeds the protocol maximum %d", maxBits, maxReadBits)
	}
	order := make([]int, len(points))
	for i, p := range points {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("modbus: plan: point %d (%s): %w", i, p.where(), err)
		}
		limit := maxRegs
		if p.Table.IsBits() {
			limit = maxBits
		}
		if q := int(p.Quantity()); q > limit {
			return nil, fmt.Errorf("modbus: plan: point %d (%s): spans %d %s, more than the %d of one request", i, p.where(), q, p.Table.unit(), limit)
		}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		pa, pb := &points[a], &points[b]
		return cmp.Or(
			cmp.Compare(pa.UnitID, pb.UnitID),
			cmp.Compare(pa.Table, pb.Table),
			cmp.Compare(pa.Address, pb.Address),
			cmp.Compare(a, b),
		)
	})

	var reqs []Request
	end := 0 // end (exclusive) of the last request, as an int to avoid overflow
	for _, i := range order {
		p := &points[i]
		start, stop := int(p.Address), int(p.Address)+int(p.Quantity())
		limit := maxRegs
		if p.Table.IsBits() {
			limit = maxBits
		}
		if n := len(reqs); n > 0 {
			r := &reqs[n-1]
			if r.UnitID == p.UnitID && r.Table == p.Table && start <= end+int(lim.MaxGap) && max(end, stop)-int(r.Address) <= limit {
				end = max(end, stop)
				r.Quantity = uint16(end - int(r.Address))
				r.Points = append(r.Points, i)
				continue
			}
		}
		end = stop
		reqs = append(reqs, Request{UnitID: p.UnitID, Table: p.Table, Address: p.Address, Quantity: p.Quantity(), Points: []int{i}})
	}
	return reqs, nil
}

// Slice returns the part of a request's response that belongs to point
// p, one of the request's points: the registers for a register table (bits
// nil), the bit for a bit table (regs nil). The response must be complete:
// exactly req.Quantity registers or bits, the other slice empty. The
// result shares the response's memory, with its capacity clipped so that
// an append cannot overwrite a neighbour.
func Slice(req Request, p Point, regs []uint16, bits []bool) ([]uint16, []bool, error) {
	if err := p.check(); err != nil {
		return nil, nil, fmt.Errorf("modbus: slice %s: %w", p.where(), err)
	}
	if p.UnitID != req.UnitID || p.Table != req.Table {
		return nil, nil, fmt.Errorf("modbus: slice %s: not in the request for unit %d %s", p.where(), req.UnitID, req.Table)
	}
	off, q := int(p.Address)-int(req.Address), int(p.Quantity())
	if off < 0 || off+q > int(req.Quantity) {
		return nil, nil, fmt.Errorf("modbus: slice %s: %d %s not within the request for %d..%d",
			p.where(), q, p.Table.unit(), req.Address, int(req.Address)+int(req.Quantity)-1)
	}
	if p.Table.IsBits() {
		if len(bits) != int(req.Quantity) || len(regs) != 0 {
			return nil, nil, fmt.Errorf("modbus: slice %s: response has %d bits and %d registers, want %d bits",
				p.where(), len(bits), len(regs), req.Quantity)
		}
		return nil, bits[off : off+q : off+q], nil
	}
	if len(regs) != int(req.Quantity) || len(bits) != 0 {
		return nil, nil, fmt.Errorf("modbus: slice %s: response has %d registers and %d bits, want %d registers",
			p.where(), len(regs), len(bits), req.Quantity)
	}
	return regs[off : off+q : off+q], nil, nil
}
