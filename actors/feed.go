package actors

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/plantwin/plantwin/twins"
)

// Change is what one commit of a twin changed. Twins publish it once the
// commit is durable; subscribers must treat it as read-only (it is shared).
type Change struct {
	Spec *twins.Spec
	// State is the twin's state after the commit (a copy).
	State *twins.State
	// Events are the commit's events in version order.
	Events []VersionedEvent
}

// VersionedEvent is one applied event and the version it gave the twin.
type VersionedEvent struct {
	Version int64
	Event   twins.Event
}

// Subscription receives the changes of a set of twins. Publishing never
// blocks a twin: when the subscriber falls behind and its buffer is full,
// changes are dropped and counted, and Lagged fires; the subscriber then
// resynchronises from the twins' current state.
type Subscription struct {
	feed    *feed
	ids     []string // nil: every twin
	c       chan *Change
	lag     chan struct{} // capacity 1: a drop happened
	dropped atomic.Int64
	closed  atomic.Bool
	onClose func() // ends the relays from other members; nil: none
}

// C delivers changes in commit order per twin.
func (s *Subscription) C() <-chan *Change { return s.c }

// Lagged is signalled (once per burst) when changes were dropped.
func (s *Subscription) Lagged() <-chan struct{} { return s.lag }

// TakeDropped returns the number of changes dropped since the last call
// and resets it.
func (s *Subscription) TakeDropped() int64 { return s.dropped.Swap(0) }

// Close stops delivery. It is idempotent.
func (s *Subscription) Close() {
	if s.closed.Swap(true) {
		return
	}
	s.feed.remove(s)
	if s.onClose != nil {
		s.onClose()
	}
}

// deliver hands the subscription a change relayed from another member,
// without blocking: a full buffer drops it, as publish does.
func (s *Subscription) deliver(ch *Change) {
	select {
	case s.c <- ch:
	default:
		s.feed.drop(s)
	}
}

// lagged reports n changes missed elsewhere (a member dropped them, or
// its relay may have): the subscriber resynchronises.
func (s *Subscription) lagged(n int64) {
	s.dropped.Add(n)
	select {
	case s.lag <- struct{}{}:
	default:
	}
}

const feedShards = 64

// feed routes published changes to subscriptions by twin id.
type feed struct {
	seed   maphash.Seed
	count  atomic.Int32 // open subscriptions
	all    atomic.Pointer[[]*Subscription]
	allMu  sync.Mutex
	shards [feedShards]struct {
		sync.RWMutex
		m map[string][]*Subscription
	}
	onDrop func(n int)
}

func newFeed(onDrop func(int)) *feed {
	f := &feed{seed: maphash.MakeSeed(), onDrop: onDrop}
	for i := range f.shards {
		f.shards[i].m = make(map[string][]*Subscription)
	}
	empty := []*Subscription{}
	f.all.Store(&empty)
	return f
}

func (f *feed) shard(id string) int {
	return int(maphash.String(f.seed, id) % feedShards)
}

// active reports whether anyone subscribes at all (cheap; checked on the
// hot path before twins record their events).
func (f *feed) active() bool { return f.count.Load() > 0 }

// interested reports whether a subscription wants twin id's changes.
func (f *feed) interested(id string) bool {
	if len(*f.all.Load()) > 0 {
		return true
	}
	sh := &f.shards[f.shard(id)]
	sh.RLock()
	n := len(sh.m[id])
	sh.RUnlock()
	return n > 0
}

// publish hands a change of twin id to every interested subscription
// without blocking. build makes the change; it runs at most once, and not
// at all when every interested subscription is full (a stalled watcher
// costs the twin nothing but the drop count).
func (f *feed) publish(id string, build func() *Change) {
	var ch *Change
	send := func(s *Subscription) {
		if len(s.c) == cap(s.c) {
			f.drop(s)
			return
		}
		if ch == nil {
			ch = build()
		}
		select {
		case s.c <- ch:
		default:
			f.drop(s)
		}
	}
	for _, s := range *f.all.Load() {
		send(s)
	}
	sh := &f.shards[f.shard(id)]
	sh.RLock()
	subs := sh.m[id]
	sh.RUnlock()
	for _, s := range subs {
		send(s)
	}
}

func (f *feed) drop(s *Subscription) {
	if f.onDrop != nil {
		f.onDrop(1)
	}
	s.lagged(1)
}

func (f *feed) subscribe(ids []string, capacity int) *Subscription {
	s := &Subscription{feed: f, c: make(chan *Change, capacity), lag: make(chan struct{}, 1)}
	f.count.Add(1)
	if ids == nil {
		f.allMu.Lock()
		next := append(append([]*Subscription(nil), *f.all.Load()...), s)
		f.all.Store(&next)
		f.allMu.Unlock()
		return s
	}
	s.ids = append([]string{}, ids...)
	for _, id := range s.ids {
		sh := &f.shards[f.shard(id)]
		sh.Lock()
		// Copy on write: publishers iterate the old slice without the lock.
		old := sh.m[id]
		sh.m[id] = append(old[:len(old):len(old)], s)
		sh.Unlock()
	}
	return s
}

func (f *feed) remove(s *Subscription) {
	if s.ids == nil {
		f.allMu.Lock()
		cur := *f.all.Load()
		next := make([]*Subscription, 0, len(cur))
		for _, o := range cur {
			if o != s {
				next = append(next, o)
			}
		}
		f.all.Store(&next)
		f.allMu.Unlock()
	} else {
		for _, id := range s.ids {
			sh := &f.shards[f.shard(id)]
			sh.Lock()
			old := sh.m[id]
			next := make([]*Subscription, 0, len(old))
			for _, o := range old {
				if o != s {
					next = append(next, o)
				}
			}
			if len(next) == 0 {
				delete(sh.m, id)
			} else {
				sh.m[id] = next
			}
			sh.Unlock()
		}
	}
	f.count.Add(-1)
}
