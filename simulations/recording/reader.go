package recording

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"github.com/plantwin/plantwin/twins"
)

// Reader reads a recording block by block. It is used from one goroutine.
type Reader struct {
	in   *bufio.Reader
	off  int64 // offset of the next byte of in
	h    Header
	dict []string // id-1 -> name
	seen map[string]struct{}
	buf  []byte // the current frame's body

	lastAt  time.Duration
	counted struct{ blocks, samples, events int64 }
	err     error // sticky; io.EOF after the trailer
}

// chunk is how much of a frame's body is read (and allocated) at a time,
// so that a length in a damaged file costs no more memory than the bytes
// that are really there.
const chunk = 1 << 20

// NewReader reads and checks the magic, the version and the header.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{in: bufio.NewReaderSize(r, 256<<10), seen: map[string]struct{}{}}
	var m [len(magic) + 1]byte
	if n, err := io.ReadFull(rd.in, m[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, rd.errorf(0, "empty file: not a recording")
		}
		if string(m[:n]) != magic[:min(n, len(magic))] {
			return nil, rd.errorf(0, "not a recording (no %q magic)", magic)
		}
		return nil, rd.errorf(int64(n), "unexpected end of file in the magic")
	}
	if string(m[:len(magic)]) != magic {
		return nil, rd.errorf(0, "not a recording (no %q magic)", magic)
	}
	if m[len(magic)] != version {
		return nil, rd.errorf(int64(len(magic)), "unsupported version %d (this build reads version %d)", m[len(magic)], version)
	}
	rd.off = int64(len(m))
	tag, base, err := rd.frame()
	if err != nil {
		return nil, err
	}
	if tag != tagHeader {
		return nil, rd.errorf(base, "want the header frame, found tag 0x%02x", tag)
	}
	d := decoder{b: rd.buf, base: rd.off - int64(len(rd.buf)) - 4, r: rd}
	rd.h.Scenario = d.str("scenario name", maxName)
	rd.h.Seed = d.uvarint("seed")
	sec := d.varint("origin")
	at := d.pos
	nsec := d.uvarint("origin")
	if d.err == nil && nsec >= 1e9 {
		d.pos = at
		d.fail("origin nanoseconds %d out of range", nsec)
	}
	tick := d.uvarint("tick")
	if d.err == nil && tick > math.MaxInt64 {
		d.fail("tick %d out of range", tick)
	}
	rd.h.PlantName = d.str("plant file name", maxName)
	plant := d.str("plant", maxHeaderBody)
	d.end("header")
	if d.err != nil {
		return nil, d.err
	}
	rd.h.Origin = time.Unix(sec, int64(nsec)).UTC()
	rd.h.Tick = time.Duration(tick)
	if plant != "" {
		rd.h.Plant = []byte(plant)
	}
	return rd, nil
}

// Header returns the recording's header.
func (r *Reader) Header() Header { return r.h }

// Offset returns how many bytes of the file were read: the end of the
// last block returned (for progress).
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next block, in file order. It returns io.EOF after the
// trailer, once the file was read whole; a damaged or truncated file gives
// a *FormatError naming the offset and what is wrong.
func (r *Reader) Next() (Block, error) {
	if r.err != nil {
		return Block{}, r.err
	}
	b, err := r.next()
	if err != nil {
		r.err = err
	}
	return b, err
}

func (r *Reader) next() (Block, error) {
	tag, base, err := r.frame()
	if err != nil {
		return Block{}, err
	}
	body := r.off - int64(len(r.buf)) - 4 // offset of the body
	d := decoder{b: r.buf, base: body, r: r}
	switch tag {
	case tagBlock:
		return r.block(&d)
	case tagTrailer:
		blocks, samples, events := d.uvarint("block count"), d.uvarint("sample count"), d.uvarint("event count")
		d.end("trailer")
		if d.err != nil {
			return Block{}, d.err
		}
		c := r.counted
		if blocks != uint64(c.blocks) || samples != uint64(c.samples) || events != uint64(c.events) {
			return Block{}, r.errorf(body, "the trailer counts %d blocks, %d samples and %d events; the file holds %d, %d and %d",
				blocks, samples, events, c.blocks, c.samples, c.events)
		}
		if _, err := r.in.ReadByte(); err == nil {
			return Block{}, r.errorf(r.off, "data after the trailer")
		} else if err != io.EOF {
			return Block{}, fmt.Errorf("recording: read: %w", err)
		}
		return Block{}, io.EOF
	case tagHeader:
		return Block{}, r.errorf(base, "a second header")
	}
	return Block{}, r.errorf(base, "unknown frame tag 0x%02x", tag)
}

// block decodes a block's body.
func (r *Reader) block(d *decoder) (Block, error) {
	delta := d.varint("block time")
	blk := Block{At: r.lastAt + time.Duration(delta)} // wraps like the writer's difference
	groups := d.count("group count", 2)
	var prevTwin string
	var prev Sample
	for g := uint64(0); g < groups && d.err == nil; g++ {
		at := d.pos
		twin := d.ref("twin")
		n := d.count("sample count", 3)
		if d.err != nil {
			break
		}
		if n == 0 {
			d.pos = at
			d.fail("an empty group of twin %q", twin)
			break
		}
		if g > 0 && twin <= prevTwin {
			d.pos = at
			d.fail("twin %q after %q: groups out of order", twin, prevTwin)
			break
		}
		prevTwin = twin
		if blk.Samples == nil {
			// Each group holds at least one sample of 3 bytes.
			blk.Samples = make([]Sample, 0, min(groups*n, uint64(len(d.b)-d.pos)/3+1))
		}
		for k := uint64(0); k < n && d.err == nil; k++ {
			at := d.pos
			s := Sample{At: blk.At, Twin: twin, Property: d.ref("property"), Value: d.value(), Quality: twins.Quality(d.byte("quality"))}
			if d.err != nil {
				break
			}
			if k > 0 && compareSamples(prev, s) > 0 {
				d.pos = at
				d.fail("sample %s=%v of twin %q after %s=%v: samples out of order", s.Property, s.Value, twin, prev.Property, prev.Value)
				break
			}
			prev = s
			blk.Samples = append(blk.Samples, s)
		}
	}
	ne := d.count("event count", 4)
	if d.err == nil && ne > 0 {
		blk.Events = make([]Event, 0, ne)
	}
	for k := uint64(0); k < ne && d.err == nil; k++ {
		e := Event{At: blk.At, Twin: d.ref("event twin"), Kind: d.ref("event kind"), Name: d.ref("event name"), Detail: d.str("event detail", maxBlockBody)}
		if d.err != nil {
			break
		}
		if k > 0 && compareEvents(e, blk.Events[k-1]) < 0 {
			d.fail("event %s %s %s of %q out of order", e.Kind, e.Name, e.Detail, e.Twin)
			break
		}
		blk.Events = append(blk.Events, e)
	}
	d.end("block")
	if d.err != nil {
		return Block{}, d.err
	}
	if len(blk.Samples) == 0 && len(blk.Events) == 0 {
		return Block{}, r.errorf(d.base, "an empty block")
	}
	r.lastAt = blk.At
	r.counted.blocks++
	r.counted.samples += int64(len(blk.Samples))
	r.counted.events += int64(len(blk.Events))
	return blk, nil
}

// frame reads the next frame into r.buf and checks its CRC. It returns
// the tag and the frame's offset.
func (r *Reader) frame() (byte, int64, error) {
	base := r.off
	tag, err := r.in.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, base, r.errorf(base, "unexpected end of file: no trailer (the recording was not closed, or the file is truncated)")
		}
		return 0, base, fmt.Errorf("recording: read: %w", err)
	}
	r.off++
	limit := uint64(maxBlockBody)
	switch tag {
	case tagHeader:
		limit = maxHeaderBody
	case tagTrailer:
		limit = maxTrailerBody
	case tagBlock:
	default:
		return 0, base, r.errorf(base, "unknown frame tag 0x%02x", tag)
	}
	n, err := r.uvarint()
	if err != nil {
		return 0, base, err
	}
	if n > limit {
		return 0, base, r.errorf(base+1, "a frame of %d bytes (at most %d for tag %q)", n, limit, tag)
	}
	r.buf = r.buf[:0]
	for uint64(len(r.buf)) < n {
		k := int(min(n-uint64(len(r.buf)), chunk))
		r.buf = grow(r.buf, k)
		got, err := io.ReadFull(r.in, r.buf[len(r.buf)-k:])
		r.off += int64(got)
		if err != nil {
			return 0, base, r.eof(err, "frame body")
		}
	}
	var sum [4]byte
	got, err := io.ReadFull(r.in, sum[:])
	r.off += int64(got)
	if err != nil {
		return 0, base, r.eof(err, "frame checksum")
	}
	if want := binary.LittleEndian.Uint32(sum[:]); crc32.Checksum(r.buf, castagnoli) != want {
		return 0, base, r.errorf(base, "checksum mismatch in the %d-byte frame (tag %q): the file is damaged", n, tag)
	}
	return tag, base, nil
}

// grow extends b by k bytes, reallocating only when needed.
func grow(b []byte, k int) []byte {
	if cap(b)-len(b) >= k {
		return b[:len(b)+k]
	}
	nb := make([]byte, len(b)+k, max(2*cap(b), len(b)+k))
	copy(nb, b)
	return nb
}

// uvarint reads a uvarint from the stream.
func (r *Reader) uvarint() (uint64, error) {
	start := r.off
	var x uint64
	var s uint
	for i := 0; ; i++ {
		c, err := r.in.ReadByte()
		if err != nil {
			return 0, r.eof(err, "frame length")
		}
		r.off++
		if i == binary.MaxVarintLen64 || (i == binary.MaxVarintLen64-1 && c > 1) {
			return 0, r.errorf(start, "a frame length overflows 64 bits")
		}
		if c < 0x80 {
			if i > 0 && c == 0 {
				return 0, r.errorf(start, "a frame length is not minimally encoded")
			}
			return x | uint64(c)<<s, nil
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
}

// eof turns a read error into a format error at the current offset.
func (r *Reader) eof(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.errorf(r.off, "unexpected end of file in a %s (the file is truncated)", what)
	}
	return fmt.Errorf("recording: read: %w", err)
}

func (r *Reader) errorf(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// ReadAll reads a whole recording.
func ReadAll(r io.Reader) (Header, []Block, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Header{}, nil, err
	}
	var blocks []Block
	for {
		b, err := rd.Next()
		if err == io.EOF {
			return rd.Header(), blocks, nil
		}
		if err != nil {
			return rd.Header(), blocks, err
		}
		blocks = append(blocks, b)
	}
}

// decoder reads a frame's body; the first problem sticks in err.
type decoder struct {
	b    []byte
	pos  int
	base int64 // offset of b[0] in the file
	r    *Reader
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = d.r.errorf(d.base+int64(d.pos), format, args...)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.fail("bad or truncated %s", what)
		return 0
	}
	if n > 1 && d.b[d.pos+n-1] == 0 {
		d.fail("%s is not minimally encoded", what)
		return 0
	}
	d.pos += n
	return x
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		d.fail("bad or truncated %s", what)
		return 0
	}
	if n > 1 && d.b[d.pos+n-1] == 0 {
		d.fail("%s is not minimally encoded", what)
		return 0
	}
	d.pos += n
	return x
}

// count reads a count of items of at least size bytes each, checked
// against the bytes left in the frame.
func (d *decoder) count(what string, size int) uint64 {
	at := d.pos
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)-d.pos)/uint64(size) {
		d.pos = at
		d.fail("%s %d does not fit in the %d bytes left of the frame", what, n, len(d.b)-d.pos)
		return 0
	}
	return n
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.pos >= len(d.b) {
		d.fail("truncated %s", what)
		return 0
	}
	c := d.b[d.pos]
	d.pos++
	return c
}

// str reads a length-prefixed string of at most limit bytes.
func (d *decoder) str(what string, limit int) string {
	at := d.pos
	n := d.uvarint(what + " length")
	if d.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(len(d.b)-d.pos) {
		d.pos = at
		d.fail("%s of %d bytes (at most %d, and %d left in the frame)", what, n, limit, len(d.b)-d.pos)
		return ""
	}
	s := string(d.b[d.pos : d.pos+int(n)])
	d.pos += int(n)
	return s
}

// ref reads a dictionary reference.
func (d *decoder) ref(what string) string {
	at := d.pos
	id := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if id == 0 {
		s := d.str(what+" name", maxName)
		if d.err != nil {
			return ""
		}
		if _, dup := d.r.seen[s]; dup {
			d.pos = at
			d.fail("%s name %q defined a second time", what, s)
			return ""
		}
		d.r.seen[s] = struct{}{}
		d.r.dict = append(d.r.dict, s)
		return s
	}
	if id > uint64(len(d.r.dict)) {
		d.pos = at
		d.fail("%s refers to name %d; the dictionary holds %d", what, id, len(d.r.dict))
		return ""
	}
	return d.r.dict[id-1]
}

func (d *decoder) value() twins.Value {
	at := d.pos
	switch tag := d.byte("value type"); tag {
	case valNone:
		return twins.Value{}
	case valBool:
		switch c := d.byte("bool"); c {
		case 0, 1:
			return twins.Bool(c == 1)
		default:
			d.pos--
			d.fail("bool byte %d (want 0 or 1)", c)
		}
	case valInt:
		return twins.Int(d.varint("int"))
	case valDouble:
		if d.err == nil && len(d.b)-d.pos < 8 {
			d.fail("truncated double")
			return twins.Value{}
		}
		if d.err == nil {
			f := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.pos:]))
			d.pos += 8
			return twins.Double(f)
		}
	case valString:
		return twins.String(d.str("string value", maxBlockBody))
	case valEnum:
		return twins.Enum(d.str("enum value", maxBlockBody))
	default:
		if d.err == nil {
			d.pos = at
			d.fail("unknown value type %d", tag)
		}
	}
	return twins.Value{}
}

// end checks that the body was read whole.
func (d *decoder) end(what string) {
	if d.err == nil && d.pos != len(d.b) {
		d.fail("%d bytes left over at the end of the %s", len(d.b)-d.pos, what)
	}
}
