package recording

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"time"

	"github.com/plantwin/plantwin/twins"
)

// Writer writes a recording. Sample and Event buffer; Flush writes what is
// due in canonical order; Close writes the rest and the trailer. A Writer
// is used from one goroutine.
type Writer struct {
	out  *bufio.Writer
	dict map[string]uint64 // name -> id (1, 2, ...)

	pending []Sample // buffered, any order
	events  []Event
	due     []Sample // scratch of Flush
	dueEv   []Event
	body    []byte // scratch: a frame's body
	head    []byte // scratch: a frame's tag and length

	lastAt  time.Duration // the last block's time
	written struct{ blocks, samples, events int64 }
	added   struct{ samples, events int64 }
	err     error // sticky
	closed  bool
}

// NewWriter writes the file's magic, version and header to w (buffered:
// they reach w with the first Flush or Close) and returns a Writer for its
// blocks. The header's Origin must be representable as Unix nanoseconds
// apart (any time.Time is) and its Tick must not be negative.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	switch {
	case h.Tick < 0:
		return nil, fmt.Errorf("recording: negative tick %v", h.Tick)
	case len(h.Scenario) > maxName:
		return nil, fmt.Errorf("recording: scenario name of %d bytes (at most %d)", len(h.Scenario), maxName)
	case len(h.PlantName) > maxName:
		return nil, fmt.Errorf("recording: plant file name of %d bytes (at most %d)", len(h.PlantName), maxName)
	case len(h.Plant) > maxHeaderBody-3*maxName:
		return nil, fmt.Errorf("recording: plant configuration of %d bytes (at most %d)", len(h.Plant), maxHeaderBody-3*maxName)
	}
	wr := &Writer{out: bufio.NewWriterSize(w, 256<<10), dict: map[string]uint64{}}
	wr.out.WriteString(magic)
	wr.out.WriteByte(version)
	b := wr.body[:0]
	b = appendString(b, h.Scenario)
	b = binary.AppendUvarint(b, h.Seed)
	b = binary.AppendVarint(b, h.Origin.Unix())
	b = binary.AppendUvarint(b, uint64(h.Origin.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(h.Tick))
	b = appendString(b, h.PlantName)
	b = binary.AppendUvarint(b, uint64(len(h.Plant)))
	b = append(b, h.Plant...)
	wr.body = b
	if err := wr.frame(tagHeader); err != nil {
		return nil, err
	}
	return wr, nil
}

// Sample buffers a sample. It is cheap: the sample is kept as given until
// a Flush writes it. Samples after Close are ignored.
func (w *Writer) Sample(s Sample) {
	if w.closed {
		return
	}
	w.pending = append(w.pending, s)
	w.added.samples++
}

// Event buffers an event. Events after Close are ignored.
func (w *Writer) Event(e Event) {
	if w.closed {
		return
	}
	w.events = append(w.events, e)
	w.added.events++
}

// Counts returns how many samples and events were given to the writer
// (buffered or written).
func (w *Writer) Counts() (samples, events int64) {
	return w.added.samples, w.added.events
}

// Flush writes every buffered sample and event with At <= upTo, one block
// per distinct time in increasing time, each in canonical order, and
// passes the bytes on to the underlying writer; later ones stay buffered.
// A sample or event added afterwards with At at or before an
// already-flushed time is still written, by the next Flush, in a block of
// its own time after the blocks already written (see the package doc).
// The first error is returned by every later call.
func (w *Writer) Flush(upTo time.Duration) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("recording: flush after close")
	}
	w.due = w.due[:0]
	n := 0
	for _, s := range w.pending {
		if s.At <= upTo {
			w.due = append(w.due, s)
		} else {
			w.pending[n] = s
			n++
		}
	}
	clear(w.pending[n:])
	w.pending = w.pending[:n]
	w.dueEv = w.dueEv[:0]
	n = 0
	for _, e := range w.events {
		if e.At <= upTo {
			w.dueEv = append(w.dueEv, e)
		} else {
			w.events[n] = e
			n++
		}
	}
	clear(w.events[n:])
	w.events = w.events[:n]

	slices.SortFunc(w.due, compareSamples)
	slices.SortFunc(w.dueEv, compareEvents)
	ss, es := w.due, w.dueEv
	for len(ss) > 0 || len(es) > 0 {
		var at time.Duration
		switch {
		case len(ss) == 0:
			at = es[0].At
		case len(es) == 0:
			at = ss[0].At
		default:
			at = min(ss[0].At, es[0].At)
		}
		i := 0
		for i < len(ss) && ss[i].At == at {
			i++
		}
		j := 0
		for j < len(es) && es[j].At == at {
			j++
		}
		if err := w.block(at, ss[:i], es[:j]); err != nil {
			w.err = err
			return err
		}
		ss, es = ss[i:], es[j:]
	}
	clear(w.due)
	clear(w.dueEv)
	if err := w.out.Flush(); err != nil {
		w.err = fmt.Errorf("recording: write: %w", err)
	}
	return w.err
}

// Close flushes every buffered sample and event, writes the trailer and
// flushes the bytes to the underlying writer, which it does not close.
// Closing again returns the first Close's error.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	if err := w.Flush(math.MaxInt64); err != nil {
		w.closed = true
		return err
	}
	w.closed = true
	b := w.body[:0]
	b = binary.AppendUvarint(b, uint64(w.written.blocks))
	b = binary.AppendUvarint(b, uint64(w.written.samples))
	b = binary.AppendUvarint(b, uint64(w.written.events))
	w.body = b
	if err := w.frame(tagTrailer); err != nil {
		w.err = err
		return err
	}
	if err := w.out.Flush(); err != nil {
		w.err = fmt.Errorf("recording: write: %w", err)
	}
	return w.err
}

// block encodes and writes one block: ss and es are of time at, sorted.
func (w *Writer) block(at time.Duration, ss []Sample, es []Event) error {
	b := w.body[:0]
	b = binary.AppendVarint(b, int64(at)-int64(w.lastAt)) // wraps like the reader's sum
	groups := 0
	for i := range ss {
		if i == 0 || ss[i].Twin != ss[i-1].Twin {
			groups++
		}
	}
	b = binary.AppendUvarint(b, uint64(groups))
	var err error
	for i := 0; i < len(ss); {
		j := i + 1
		for j < len(ss) && ss[j].Twin == ss[i].Twin {
			j++
		}
		if b, err = w.ref(b, ss[i].Twin); err != nil {
			return err
		}
		b = binary.AppendUvarint(b, uint64(j-i))
		for _, s := range ss[i:j] {
			if b, err = w.ref(b, s.Property); err != nil {
				return err
			}
			b = appendValue(b, s.Value)
			b = append(b, byte(s.Quality))
		}
		i = j
	}
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		for _, name := range [...]string{e.Twin, e.Kind, e.Name} {
			if b, err = w.ref(b, name); err != nil {
				return err
			}
		}
		b = appendString(b, e.Detail)
	}
	w.body = b
	if len(b) > maxBlockBody {
		return fmt.Errorf("recording: the block at %v holds %d bytes (at most %d)", at, len(b), maxBlockBody)
	}
	if err := w.frame(tagBlock); err != nil {
		return err
	}
	w.lastAt = at
	w.written.blocks++
	w.written.samples += int64(len(ss))
	w.written.events += int64(len(es))
	return nil
}

// ref appends a dictionary reference to name, defining it on first use.
func (w *Writer) ref(b []byte, name string) ([]byte, error) {
	if id, ok := w.dict[name]; ok {
		return binary.AppendUvarint(b, id), nil
	}
	if len(name) > maxName {
		return b, fmt.Errorf("recording: a name of %d bytes (at most %d), starting %.40q", len(name), maxName, name)
	}
	w.dict[name] = uint64(len(w.dict) + 1)
	b = append(b, 0)
	return appendString(b, name), nil
}

// frame writes the body in w.body as a frame with tag.
func (w *Writer) frame(tag byte) error {
	w.head = append(w.head[:0], tag)
	w.head = binary.AppendUvarint(w.head, uint64(len(w.body)))
	w.out.Write(w.head)
	w.out.Write(w.body)
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc32.Checksum(w.body, castagnoli))
	if _, err := w.out.Write(sum[:]); err != nil {
		return fmt.Errorf("recording: write: %w", err)
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v twins.Value) []byte {
	switch v.Type() {
	case twins.TypeBool:
		return append(b, valBool, byte(b2i(v.AsBool())))
	case twins.TypeInt:
		return binary.AppendVarint(append(b, valInt), v.AsInt())
	case twins.TypeDouble:
		return binary.LittleEndian.AppendUint64(append(b, valDouble), math.Float64bits(v.AsDouble()))
	case twins.TypeString:
		return appendString(append(b, valString), v.AsString())
	case twins.TypeEnum:
		return appendString(append(b, valEnum), v.AsString())
	}
	return append(b, valNone)
}
