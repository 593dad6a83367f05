package actors

import (
	"container/heap"
	"sync"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// wakeSchedule is the node's durable schedule of twins' due times (their
// copy is in the store's wake key space, written with the events that
// change them). A twin may passivate with a due time ahead; when that
// time comes on the runtime's clock the schedule sends it a Wake, which
// activates it, and the twin decides what its time brings. At start the
// runtime loads the schedule, so twins are woken after a restart too.
type wakeSchedule struct {
	rt *Runtime
	mu struct {
		sync.Mutex
		due   map[string]int64
		heap  wakeHeap
		timer Timer
		at    int64 // when timer fires; 0: no timer
		stop  bool
	}
}

type wakeEntry struct {
	due int64
	id  string
}

type wakeHeap []wakeEntry

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(wakeEntry)) }
func (h *wakeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newWakeSchedule(rt *Runtime) *wakeSchedule {
	w := &wakeSchedule{rt: rt}
	w.mu.due = make(map[string]int64)
	return w
}

// set records twin id's due time (0: none).
func (w *wakeSchedule) set(id string, due int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.due[id] == due {
		return
	}
	if due == 0 {
		delete(w.mu.due, id)
		return
	}
	w.mu.due[id] = due
	heap.Push(&w.mu.heap, wakeEntry{due: due, id: id})
	w.arm()
}

// arm sets the timer for the earliest live entry; w.mu is held.
func (w *wakeSchedule) arm() {
	for w.mu.heap.Len() > 0 {
		e := w.mu.heap[0]
		if w.mu.due[e.id] != e.due { // superseded or removed
			heap.Pop(&w.mu.heap)
			continue
		}
		if w.mu.stop || (w.mu.at != 0 && w.mu.at <= e.due) {
			return
		}
		if w.mu.timer != nil {
			w.mu.timer.Stop()
		}
		w.mu.at = e.due
		now := w.rt.clock.Now().UnixNano()
		w.mu.timer = w.rt.clock.AfterFunc(time.Duration(max(e.due-now, 0)), w.fire)
		return
	}
}

// fire wakes every twin whose due time has come.
func (w *wakeSchedule) fire() {
	now := w.rt.clock.Now().UnixNano()
	var ids []string
	w.mu.Lock()
	w.mu.at, w.mu.timer = 0, nil
	for w.mu.heap.Len() > 0 && w.mu.heap[0].due <= now {
		e := heap.Pop(&w.mu.heap).(wakeEntry)
		if w.mu.due[e.id] == e.due {
			delete(w.mu.due, e.id) // the twin records its next due time itself
			ids = append(ids, e.id)
		}
	}
	w.arm()
	stopped := w.mu.stop
	w.mu.Unlock()
	if stopped {
		return
	}
	for _, id := range ids {
		if !w.rt.lookup.Send(w.rt.identity(id), &pb.Wake{}, nil) {
			w.rt.log.Warn("cannot wake twin now; retrying", "twin", id)
			w.set(id, now+int64(time.Second))
		}
	}
}

// stop cancels the timer; nothing is woken after it.
func (w *wakeSchedule) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mu.stop = true
	if w.mu.timer != nil {
		w.mu.timer.Stop()
	}
}

// load reads the durable schedule of the declared twins.
func (w *wakeSchedule) load() error {
	return w.rt.store.ScanWake(func(id string, due int64) error {
		if _, ok := w.rt.Twins().Twin(id); ok {
			w.set(id, due)
		}
		return nil
	})
}
