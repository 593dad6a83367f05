package actors

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVirtualClockFiresInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewVirtualClock(start)
	var got []string
	var seen []time.Duration
	add := func(name string, d time.Duration) Timer {
		return c.AfterFunc(d, func() {
			got = append(got, name)
			seen = append(seen, c.Now().Sub(start))
		})
	}
	add("c", 3*time.Second)
	add("a", time.Second)
	add("b1", 2*time.Second)
	add("b2", 2*time.Second)
	stopped := add("never", 2500*time.Millisecond)
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop returned true")
	}

	c.Advance(2 * time.Second)
	if diff := cmp.Diff([]string{"a", "b1", "b2"}, got); diff != "" {
		t.Fatalf("fired after 2s (-want +got):\n%s", diff)
	}
	c.Advance(10 * time.Second)
	if diff := cmp.Diff([]string{"a", "b1", "b2", "c"}, got); diff != "" {
		t.Fatalf("fired after 12s (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 2 * time.Second, 3 * time.Second}, seen); diff != "" {
		t.Fatalf("Now() inside callbacks (-want +got):\n%s", diff)
	}
	if got, want := c.Now().Sub(start), 12*time.Second; got != want {
		t.Fatalf("Now after advances = %v, want %v", got, want)
	}
	if c.Pending() != 0 {
		t.Fatalf("pending timers = %d, want 0", c.Pending())
	}
}

func TestVirtualClockNeverGoesBack(t *testing.T) {
	start := time.Unix(1000, 0)
	c := NewVirtualClock(start)
	c.Set(start.Add(-time.Hour))
	if !c.Now().Equal(start) {
		t.Fatalf("clock went back to %v", c.Now())
	}
}

func TestVirtualClockTimerSchedulesTimer(t *testing.T) {
	c := NewVirtualClock(time.Unix(0, 0))
	n := 0
	var tick func()
	tick = func() {
		n++
		if n < 5 {
			c.AfterFunc(time.Second, tick)
		}
	}
	c.AfterFunc(time.Second, tick)
	c.Advance(10 * time.Second)
	if n != 5 {
		t.Fatalf("periodic timer fired %d times, want 5", n)
	}
}
