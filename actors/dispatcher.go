package actors

import (
	"sync"
)

// poolDispatcher runs actor mailboxes on a fixed pool of long-lived
// goroutines instead of protoactor's default goroutine per mailbox run.
// With many actors each receiving a message now and then, the default
// starts a fresh goroutine per message, and its stack grows (copying) on
// every run through protobuf encoding and the domain's decision code; a
// pool's stacks are grown once.
//
// Schedule never blocks: when the queue is full (or the pool is stopped)
// the mailbox runs on a new goroutine, as with the default dispatcher, so
// a worker blocked in an actor (a twin waiting for storage back-pressure)
// can never deadlock the committer's callbacks.
type poolDispatcher struct {
	work       chan func() // capacity set at construction; overflow runs on a new goroutine
	quit       chan struct{}
	throughput int
	wg         sync.WaitGroup
	once       sync.Once
}

func newPoolDispatcher(workers, queue, throughput int) *poolDispatcher {
	d := &poolDispatcher{work: make(chan func(), queue), quit: make(chan struct{}), throughput: throughput}
	for i := 0; i < workers; i++ {
		d.wg.Add(1)
		go d.worker()
	}
	return d
}

func (d *poolDispatcher) worker() {
	defer d.wg.Done()
	for {
		select {
		case fn := <-d.work:
			fn()
		case <-d.quit:
			return
		}
	}
}

// Schedule runs fn on a pool goroutine, or on a new one if the queue is full.
func (d *poolDispatcher) Schedule(fn func()) {
	select {
	case <-d.quit:
		go fn()
		return
	default:
	}
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

// Throughput is how many messages a mailbox handles per scheduling.
func (d *poolDispatcher) Throughput() int { return d.throughput }

// stop ends the workers after the queued work has run on new goroutines.
func (d *poolDispatcher) stop() {
	d.once.Do(func() {
		close(d.quit)
		d.wg.Wait()
		for {
			select {
			case fn := <-d.work:
				go fn()
			default:
				return
			}
		}
	})
}
