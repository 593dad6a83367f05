package simulations

import (
	"math"
	"sync"
	"time"
)

// Press is a simulated hydraulic press behind a PLC served over Modbus TCP
// on loopback, for the stop-on-overheat loop:
//
//	holding 0-1  temperature, °C, float32 (big-endian words)
//	holding 2-3  speed, strokes/min, float32
//	coil 0       running: a client writing false stops the press, true starts it
//
// While running, speed approaches NominalSpeed and the temperature
// approaches Ambient plus the heat load (raise it with Overheat to make the
// anomaly); stopped, speed ramps to zero and the temperature decays toward
// Ambient with time constant Cooling. The physics advance every Step on the
// wall clock once Start runs it.
type Press struct {
	Dev *ModbusDevice

	NominalSpeed float64       // default 30
	Ambient      float64       // default 40
	Load         float64       // heat above ambient while running, default 25
	Cooling      time.Duration // default 2s
	Step         time.Duration // default 20ms

	mu struct {
		sync.Mutex
		temp, speed, extra float64
		running            bool // as of the last step
	}
	stop chan struct{}
	done chan struct{}
}

// NewPress returns a running press at its steady state, not yet served.
func NewPress(addr string) *Press {
	p := &Press{Dev: NewModbusDevice(addr), NominalSpeed: 30, Ambient: 40, Load: 25, Cooling: 2 * time.Second, Step: 20 * time.Millisecond}
	p.mu.temp, p.mu.speed, p.mu.running = p.Ambient+p.Load, p.NominalSpeed, true
	p.Dev.SetCoil(1, 0, true)
	p.publish()
	return p
}

// Start serves the PLC and runs the physics.
func (p *Press) Start() error {
	if err := p.Dev.Start(); err != nil {
		return err
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.run()
	return nil
}

// Stop stops the physics and the PLC.
func (p *Press) Stop() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	p.Dev.Stop()
}

// Overheat adds extra °C to the heat load while running (0 removes it).
func (p *Press) Overheat(extra float64) {
	p.mu.Lock()
	p.mu.extra = extra
	p.mu.Unlock()
}

// Temperature, Speed and Running read the press's physical state.
func (p *Press) Temperature() float64 { p.mu.Lock(); defer p.mu.Unlock(); return p.mu.temp }

// Speed returns the press's stroke rate.
func (p *Press) Speed() float64 { p.mu.Lock(); defer p.mu.Unlock(); return p.mu.speed }

// Running reports whether the press runs (the PLC's coil 0).
func (p *Press) Running() bool { return p.Dev.Coil(1, 0) }

func (p *Press) run() {
	defer close(p.done)
	t := time.NewTicker(p.Step)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.advance(p.Step)
		}
	}
}

// advance moves the physics by dt with first-order lags.
func (p *Press) advance(dt time.Duration) {
	running := p.Dev.Coil(1, 0)
	p.mu.Lock()
	p.mu.running = running
	targetT, targetS := p.Ambient, 0.0
	if running {
		targetT, targetS = p.Ambient+p.Load+p.mu.extra, p.NominalSpeed
	}
	k := 1 - math.Exp(-dt.Seconds()/p.Cooling.Seconds())
	p.mu.temp += (targetT - p.mu.temp) * k
	p.mu.speed += (targetS - p.mu.speed) * min(1, 4*k)
	if math.Abs(p.mu.speed-targetS) < 0.05 {
		p.mu.speed = targetS
	}
	p.mu.Unlock()
	p.publish()
}

func (p *Press) publish() {
	p.mu.Lock()
	t, s := float32(p.mu.temp), float32(p.mu.speed)
	p.mu.Unlock()
	tb, sb := math.Float32bits(t), math.Float32bits(s)
	p.Dev.SetHolding(1, 0, uint16(tb>>16), uint16(tb), uint16(sb>>16), uint16(sb))
}
