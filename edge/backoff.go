package edge

import (
	"math/rand/v2"
	"time"
)

// Delays yields reconnect delays: exponential from b.Initial by
// b.Multiplier up to b.Max, each spread by ±b.Jitter (a fraction) so that
// many connectors do not reconnect in step. The zero Backoff means 500ms,
// 30s, 2, 0.2.
type Delays struct {
	b    Backoff
	next time.Duration
	rnd  *rand.Rand
}

// NewDelays returns the delay sequence of b; seed makes jitter
// reproducible in tests.
func NewDelays(b Backoff, seed uint64) *Delays {
	if b.Initial <= 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Max < b.Initial {
		b.Max = max(30*time.Second, b.Initial)
	}
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		b.Jitter = 0.2
	}
	return &Delays{b: b, next: b.Initial, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Next returns the next delay.
func (d *Delays) Next() time.Duration {
	cur := d.next
	d.next = min(time.Duration(float64(d.next)*d.b.Multiplier), d.b.Max)
	j := 1 + d.b.Jitter*(2*d.rnd.Float64()-1)
	return time.Duration(float64(cur) * j)
}

// Reset starts the sequence again (after a successful connection).
func (d *Delays) Reset() { d.next = d.b.Initial }
