package simulations

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/simonvetter/modbus"
)

// ModbusDevice is a simulated Modbus TCP device: four tables of 65,536
// entries per unit id, served over a real simonvetter/modbus server on
// loopback. Tests and simulated plants set values with the Set methods,
// read what clients wrote with the Get methods, inject exceptions, and
// stop and restart the server to simulate a PLC dropping off the network.
// Safe for concurrent use.
type ModbusDevice struct {
	addr string

	mu struct {
		sync.Mutex
		srv        *modbus.ModbusServer
		holding    map[uint8]map[uint16]uint16
		input      map[uint8]map[uint16]uint16
		coils      map[uint8]map[uint16]bool
		discrete   map[uint8]map[uint16]bool
		exceptions map[uint16]error // holding/input address → error to answer
		reads      int64
		writes     map[writeKey]int
		writtenAt  map[writeKey]time.Time
		clamps     map[writeKey]uint16
		delay      time.Duration // answers are held back this long (Delay)
		onWrite    func(ModbusWrite)
	}
}

// ModbusWrite is one write a client made, as OnWrite reports it.
type ModbusWrite struct {
	Unit    uint8
	Coil    bool     // a coil write (Bits); otherwise a holding-register write (Regs)
	Address uint16   // the first coil or register written
	Regs    []uint16 // as stored (after any clamp)
	Bits    []bool
}

// OnWrite calls fn with every write a client makes, after it is stored
// and before it is answered (so the client's write returns only once fn
// has run). fn runs without the device's lock held and may call Get and
// Set methods.
func (d *ModbusDevice) OnWrite(fn func(ModbusWrite)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.onWrite = fn
}

// NewModbusDevice returns a device that will listen on addr (host:port;
// use 127.0.0.1:0 for a free port, then Addr after Start).
func NewModbusDevice(addr string) *ModbusDevice {
	d := &ModbusDevice{addr: addr}
	d.mu.holding = map[uint8]map[uint16]uint16{}
	d.mu.input = map[uint8]map[uint16]uint16{}
	d.mu.coils = map[uint8]map[uint16]bool{}
	d.mu.discrete = map[uint8]map[uint16]bool{}
	d.mu.exceptions = map[uint16]error{}
	d.mu.writes = map[writeKey]int{}
	d.mu.writtenAt = map[writeKey]time.Time{}
	d.mu.clamps = map[writeKey]uint16{}
	return d
}

// Start serves the device. After Stop, Start serves again on the same
// address (a PLC coming back).
func (d *ModbusDevice) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.srv != nil {
		return errors.New("simulations: modbus device already running")
	}
	addr := d.addr
	if addr == "127.0.0.1:0" || addr == "" {
		a, err := freePort()
		if err != nil {
			return err
		}
		addr = a
	}
	srv, err := modbus.NewServer(&modbus.ServerConfiguration{
		URL:        "tcp://" + addr,
		Timeout:    30 * time.Second,
		MaxClients: 64, // the default of 10 is too few for a simulated plant
		Logger:     log.New(io.Discard, "", 0),
	}, handler{d})
	if err != nil {
		return fmt.Errorf("simulations: modbus device on %s: %w", addr, err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("simulations: modbus device on %s: %w", addr, err)
	}
	d.addr = addr
	d.mu.srv = srv
	return nil
}

// Stop closes the listener and every client connection.
func (d *ModbusDevice) Stop() {
	d.mu.Lock()
	srv := d.mu.srv
	d.mu.srv = nil
	d.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Addr is the host:port the device serves on.
func (d *ModbusDevice) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Reads is the number of read requests served.
func (d *ModbusDevice) Reads() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.reads
}

func table[V any](m map[uint8]map[uint16]V, unit uint8) map[uint16]V {
	t, ok := m[unit]
	if !ok {
		t = map[uint16]V{}
		m[unit] = t
	}
	return t
}

// SetHolding sets consecutive holding registers of a unit from addr.
func (d *ModbusDevice) SetHolding(unit uint8, addr uint16, regs ...uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := table(d.mu.holding, unit)
	for i, r := range regs {
		t[addr+uint16(i)] = r
	}
}

// SetInput sets consecutive input registers of a unit from addr.
func (d *ModbusDevice) SetInput(unit uint8, addr uint16, regs ...uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := table(d.mu.input, unit)
	for i, r := range regs {
		t[addr+uint16(i)] = r
	}
}

// SetCoil sets a coil of a unit.
func (d *ModbusDevice) SetCoil(unit uint8, addr uint16, v bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	table(d.mu.coils, unit)[addr] = v
}

// SetDiscrete sets a discrete input of a unit.
func (d *ModbusDevice) SetDiscrete(unit uint8, addr uint16, v bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	table(d.mu.discrete, unit)[addr] = v
}

// Holding returns a holding register (for checking writes).
func (d *ModbusDevice) Holding(unit uint8, addr uint16) uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return table(d.mu.holding, unit)[addr]
}

// Coil returns a coil (for checking writes).
func (d *ModbusDevice) Coil(unit uint8, addr uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return table(d.mu.coils, unit)[addr]
}

type writeKey struct {
	table byte // 'c' coil, 'h' holding
	unit  uint8
	addr  uint16
}

// CoilWrites returns how many times clients wrote a coil: a test's proof
// that a command was carried out once, not twice.
func (d *ModbusDevice) CoilWrites(unit uint8, addr uint16) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.writes[writeKey{'c', unit, addr}]
}

// CoilWrittenAt returns when a client last wrote a coil (zero: never):
// the moment a write arrived at the device, for latency measurements.
func (d *ModbusDevice) CoilWrittenAt(unit uint8, addr uint16) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.writtenAt[writeKey{'c', unit, addr}]
}

// ClampHolding makes the device limit what clients write to a holding
// register to hi (as a PLC that takes a setpoint but caps it): the write
// succeeds, the register holds min(value, hi).
func (d *ModbusDevice) ClampHolding(unit uint8, addr, hi uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.clamps[writeKey{'h', unit, addr}] = hi
}

// HoldingWrites returns how many times clients wrote a holding register.
func (d *ModbusDevice) HoldingWrites(unit uint8, addr uint16) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.writes[writeKey{'h', unit, addr}]
}

// FailRegister makes every register read or write covering addr answer
// with err (a modbus.Error such as modbus.ErrServerDeviceFailure becomes
// that exception code) without taking effect; nil clears it.
func (d *ModbusDevice) FailRegister(addr uint16, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		delete(d.mu.exceptions, addr)
		return
	}
	d.mu.exceptions[addr] = err
}

// Delay makes the device slow to answer: every request (read or write,
// including those answered with an exception) takes effect when it
// arrives, as before, but its answer leaves only d later, like a
// congested PLC whose acknowledgement is late. A client that gives up
// waiting has therefore still had its write carried out. The wait holds
// no lock: other clients, Set and Get go on meanwhile (each client
// connection is served in order, so its next request waits too). 0
// restores prompt answers; requests already waiting keep their delay.
func (d *ModbusDevice) Delay(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.delay = delay
}

// holdAnswer waits the Delay before a handler's answer leaves. Handlers
// defer it first, so it runs after they released the lock.
func (d *ModbusDevice) holdAnswer() {
	d.mu.Lock()
	delay := d.mu.delay
	d.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
}

type handler struct{ d *ModbusDevice }

func (h handler) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	d := h.d
	defer d.holdAnswer()
	d.mu.Lock()
	t := table(d.mu.coils, req.UnitId)
	if req.IsWrite {
		for i, v := range req.Args {
			t[req.Addr+uint16(i)] = v
			k := writeKey{'c', req.UnitId, req.Addr + uint16(i)}
			d.mu.writes[k]++
			d.mu.writtenAt[k] = time.Now()
		}
		fn := d.mu.onWrite
		d.mu.Unlock()
		if fn != nil {
			fn(ModbusWrite{Unit: req.UnitId, Coil: true, Address: req.Addr, Bits: append([]bool(nil), req.Args...)})
		}
		return nil, nil
	}
	defer d.mu.Unlock()
	d.mu.reads++
	out := make([]bool, req.Quantity)
	for i := range out {
		out[i] = t[req.Addr+uint16(i)]
	}
	return out, nil
}

func (h handler) HandleDiscreteInputs(req *modbus.DiscreteInputsRequest) ([]bool, error) {
	d := h.d
	defer d.holdAnswer()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.reads++
	t := table(d.mu.discrete, req.UnitId)
	out := make([]bool, req.Quantity)
	for i := range out {
		out[i] = t[req.Addr+uint16(i)]
	}
	return out, nil
}

func (h handler) registers(unit uint8, t map[uint8]map[uint16]uint16, addr, qty uint16, write bool, args []uint16) ([]uint16, error) {
	d := h.d
	for a := addr; a < addr+qty; a++ {
		if err, ok := d.mu.exceptions[a]; ok {
			return nil, err
		}
	}
	tab := table(t, unit)
	if write {
		for i, v := range args {
			k := writeKey{'h', unit, addr + uint16(i)}
			if hi, ok := d.mu.clamps[k]; ok && v > hi {
				v = hi // the PLC takes the write but limits the value
			}
			tab[addr+uint16(i)] = v
			d.mu.writes[k]++
		}
		return nil, nil
	}
	d.mu.reads++
	out := make([]uint16, qty)
	for i := range out {
		out[i] = tab[addr+uint16(i)]
	}
	return out, nil
}

func (h handler) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	defer h.d.holdAnswer()
	h.d.mu.Lock()
	out, err := h.registers(req.UnitId, h.d.mu.holding, req.Addr, req.Quantity, req.IsWrite, req.Args)
	if !req.IsWrite || err != nil || h.d.mu.onWrite == nil {
		h.d.mu.Unlock()
		return out, err
	}
	fn := h.d.mu.onWrite
	w := ModbusWrite{Unit: req.UnitId, Address: req.Addr, Regs: make([]uint16, len(req.Args))}
	tab := table(h.d.mu.holding, req.UnitId)
	for i := range w.Regs {
		w.Regs[i] = tab[req.Addr+uint16(i)]
	}
	h.d.mu.Unlock()
	fn(w)
	return out, err
}

func (h handler) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	defer h.d.holdAnswer()
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	return h.registers(req.UnitId, h.d.mu.input, req.Addr, req.Quantity, false, nil)
}

// freePort returns a free loopback address.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
