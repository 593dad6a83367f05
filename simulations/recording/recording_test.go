package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/twins"
)

// valueCmp compares values by type and bits (NaN equals NaN, 0 differs
// from -0), as the file does.
var valueCmp = cmp.Comparer(func(a, b twins.Value) bool { return compareValues(a, b) == 0 })

var origin = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var testHeader = Header{
	Scenario:  "press-line",
	Seed:      math.MaxUint64,
	Origin:    time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.UTC),
	Tick:      100 * time.Millisecond,
	PlantName: "plant.yaml",
	Plant:     []byte("models: []\ntwins: []\n"),
}

// testBlocks holds every value type and quality, events, names used
// across blocks, a negative time and a late time.
func testBlocks() []Block {
	return []Block{
		{At: -time.Second, Samples: []Sample{
			{At: -time.Second, Twin: "press-1", Property: "temperature", Value: twins.Double(60.5), Quality: twins.QualityGood},
		}},
		{At: 0, Samples: []Sample{
			{At: 0, Twin: "press-1", Property: "count", Value: twins.Int(-42), Quality: twins.QualityGood},
			{At: 0, Twin: "press-1", Property: "mode", Value: twins.Enum("auto"), Quality: twins.QualityUncertain},
			{At: 0, Twin: "press-1", Property: "note", Value: twins.String("hello, \"world\"\n"), Quality: twins.QualityBad},
			{At: 0, Twin: "press-1", Property: "running", Value: twins.Bool(true), Quality: twins.QualityGood},
			{At: 0, Twin: "press-1", Property: "temperature", Value: twins.Double(math.Inf(-1)), Quality: twins.QualityUnknown},
			{At: 0, Twin: "press-2", Property: "empty", Value: twins.Value{}, Quality: twins.QualityBad},
			{At: 0, Twin: "press-2", Property: "running", Value: twins.Bool(false), Quality: 200},
			{At: 0, Twin: "press-2", Property: "temperature", Value: twins.Double(math.NaN()), Quality: twins.QualityGood},
			{At: 0, Twin: "press-2", Property: "temperature", Value: twins.Double(math.Copysign(0, -1)), Quality: twins.QualityGood},
		}, Events: []Event{
			{At: 0, Twin: "press-1", Kind: "alarm", Name: "overheat", Detail: "raised high"},
			{At: 0, Twin: "press-1", Kind: "command", Name: "stop", Detail: "c1 dispatched"},
		}},
		{At: 1500 * time.Millisecond, Events: []Event{
			{At: 1500 * time.Millisecond, Twin: "press-2", Kind: "connectivity", Name: "offline"},
		}},
		{At: 100 * time.Hour, Samples: []Sample{
			{At: 100 * time.Hour, Twin: "press-1", Property: "count", Value: twins.Int(math.MaxInt64), Quality: twins.QualityGood},
			{At: 100 * time.Hour, Twin: "press-1", Property: "count", Value: twins.Int(math.MaxInt64), Quality: twins.QualityGood},
		}},
	}
}

// write writes blocks' samples and events to a recording, in the order
// rng shuffles them (nil: as given), flushed only by Close.
func write(t testing.TB, h Header, blocks []Block, rng *rand.Rand) []byte {
	t.Helper()
	var ss []Sample
	var es []Event
	for _, b := range blocks {
		ss = append(ss, b.Samples...)
		es = append(es, b.Events...)
	}
	if rng != nil {
		rng.Shuffle(len(ss), func(i, j int) { ss[i], ss[j] = ss[j], ss[i] })
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for len(ss) > 0 || len(es) > 0 {
		if len(ss) > 0 {
			w.Sample(ss[0])
			ss = ss[1:]
		}
		if len(es) > 0 {
			w.Event(es[0])
			es = es[1:]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRoundTrip: what is written is read back, every value type and
// quality, the header whole; the trailer's counts match.
func TestRoundTrip(t *testing.T) {
	want := testBlocks()
	data := write(t, testHeader, want, nil)
	h, got, err := ReadAll(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testHeader, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got, valueCmp); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	// An empty header and no blocks.
	h, got, err = ReadAll(bytes.NewReader(write(t, Header{}, nil, nil)))
	if err != nil || len(got) != 0 {
		t.Fatalf("empty recording: %v %v", got, err)
	}
	if diff := cmp.Diff(Header{}, h); diff != "" {
		t.Errorf("empty header (-want +got):\n%s", diff)
	}
}

// TestCanonical: the same content given in any order gives the same
// bytes, and a file read back and rewritten is the same file.
func TestCanonical(t *testing.T) {
	want := write(t, testHeader, testBlocks(), nil)
	for seed := uint64(1); seed <= 20; seed++ {
		got := write(t, testHeader, testBlocks(), rand.New(rand.NewPCG(seed, 0)))
		if !bytes.Equal(want, got) {
			t.Fatalf("seed %d: a shuffled input gives other bytes", seed)
		}
	}
	if got := rewrite(t, want); !bytes.Equal(want, got) {
		t.Fatal("a file read and rewritten differs")
	}
}

// rewrite reads a recording and writes its blocks again, flushing after
// each block as it came.
func rewrite(t testing.TB, data []byte) []byte {
	t.Helper()
	h, blocks, err := ReadAll(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		for _, s := range b.Samples {
			w.Sample(s)
		}
		for _, e := range b.Events {
			w.Event(e)
		}
		if err := w.Flush(b.At); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sample(at time.Duration, twin string, v float64) Sample {
	return Sample{At: at, Twin: twin, Property: "p", Value: twins.Double(v), Quality: twins.QualityGood}
}

// TestFlush: Flush writes what is due and passes it on, keeping later
// samples buffered; a sample added late, at a time already flushed, is
// written by the next Flush in a block of its own time.
func TestFlush(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("NewWriter wrote %d bytes before any flush", buf.Len())
	}
	w.Sample(sample(7*time.Second, "b", 7))
	w.Sample(sample(time.Second, "a", 1))
	w.Event(Event{At: 5 * time.Second, Twin: "a", Kind: "alarm", Name: "x"})
	w.Sample(sample(5*time.Second, "a", 5))
	if err := w.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// What is on disk so far reads as two blocks, then "no trailer".
	rd, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var ats []time.Duration
	for {
		b, err := rd.Next()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "no trailer") {
				t.Errorf("after Flush: %v, want no trailer", err)
			}
			break
		}
		ats = append(ats, b.At)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 5 * time.Second}, ats); diff != "" {
		t.Errorf("flushed blocks (-want +got):\n%s", diff)
	}
	w.Sample(sample(3*time.Second, "late", 3))  // before the flushed 5 s
	w.Sample(sample(5*time.Second, "later", 5)) // at the flushed 5 s
	if s, e := w.Counts(); s != 5 || e != 1 {
		t.Errorf("Counts() = %d, %d, want 5, 1", s, e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	w.Sample(sample(9*time.Second, "ignored", 9))
	_, blocks, err := ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range blocks {
		for _, s := range b.Samples {
			got = append(got, b.At.String()+" "+s.Twin)
		}
	}
	want := []string{"1s a", "5s a", "3s late", "5s later", "7s b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
}

// frame builds a frame with a correct checksum.
func frame(tag byte, body []byte) []byte {
	b := append([]byte{tag}, binary.AppendUvarint(nil, uint64(len(body)))...)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
}

// minimal is the smallest recording: magic, version, an empty header, a
// trailer of nothing.
func minimal(frames ...[]byte) []byte {
	b := []byte(magic + "\x01")
	b = append(b, frame(tagHeader, []byte{0, 0, 0, 0, 0, 0, 0})...)
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

// TestCorrupt: damaged and truncated files are refused with the offset
// and what is wrong; every truncation and every flipped byte of a valid
// file is caught.
func TestCorrupt(t *testing.T) {
	trailer := frame(tagTrailer, []byte{0, 0, 0})
	if _, _, err := ReadAll(bytes.NewReader(minimal(trailer))); err != nil {
		t.Fatalf("the minimal file: %v", err)
	}
	// A block with one sample: twin "a" (new), 1 sample, property "p"
	// (new), bool true, good; no events.
	block := []byte{0, 1, 0, 1, 'a', 1, 0, 1, 'p', valBool, 1, 1, 0}
	badSum := frame(tagBlock, block)
	badSum[len(badSum)-1] ^= 1
	for _, tc := range []struct {
		name   string
		data   []byte
		offset int64
		msg    string
	}{
		{"empty", nil, 0, "empty file"},
		{"not a recording", []byte("hello world"), 0, "not a recording"},
		{"short magic", []byte("PTW"), 3, "end of file in the magic"},
		{"version 2", []byte(magic + "\x02"), 6, "unsupported version 2"},
		{"no header", []byte(magic + "\x01"), 7, "unexpected end of file: no trailer"},
		{"block first", append([]byte(magic+"\x01"), frame(tagBlock, block)...), 7, "want the header frame"},
		{"no trailer", minimal(frame(tagBlock, block)), 39, "no trailer"},
		{"unknown tag", minimal([]byte{'X'}), 20, "unknown frame tag 0x58"},
		{"huge frame", minimal([]byte{tagBlock, 0xff, 0xff, 0xff, 0xff, 0x0f}), 21, "a frame of 4294967295 bytes"},
		{"frame past the end", minimal([]byte{tagBlock, 0xff, 0xff, 0x3f, 1, 2, 3}), 27, "unexpected end of file in a frame body"},
		{"overlong length", minimal([]byte{tagTrailer, 0x83, 0x00}), 21, "not minimally encoded"},
		{"bad checksum", minimal(badSum), 20, "checksum mismatch"},
		{"trailer counts", minimal(frame(tagTrailer, []byte{1, 0, 0})), 22, "the trailer counts 1 blocks"},
		{"data after the trailer", minimal(trailer, []byte{0}), 29, "data after the trailer"},
		{"second header", minimal(frame(tagHeader, []byte{0, 0, 0, 0, 0, 0, 0})), 20, "a second header"},
		{"unknown name", minimal(frame(tagBlock, []byte{0, 1, 5, 1, 1, 0, 0, 0})), 24, "twin refers to name 5; the dictionary holds 0"},
		{"name defined twice", minimal(frame(tagBlock, []byte{0, 2, 0, 1, 'a', 1, 0, 1, 'a', valNone, 1, 0, 1, 0})), 28, `property name "a" defined a second time`},
		{"groups out of order", minimal(frame(tagBlock, []byte{0, 2, 0, 1, 'b', 1, 0, 1, 'p', valNone, 1, 0, 1, 'a', 1, 2, valNone, 1, 0})), 33, `twin "a" after "b"`},
		{"samples out of order", minimal(frame(tagBlock, []byte{0, 1, 0, 1, 'a', 2, 0, 1, 'q', valNone, 1, 0, 1, 'p', valNone, 1, 0})), 33, "samples out of order"},
		{"bad bool", minimal(frame(tagBlock, []byte{0, 1, 0, 1, 'a', 1, 0, 1, 'p', valBool, 2, 1, 0})), 32, "bool byte 2"},
		{"unknown value type", minimal(frame(tagBlock, []byte{0, 1, 0, 1, 'a', 1, 0, 1, 'p', 9, 1, 0})), 31, "unknown value type 9"},
		{"count too large", minimal(frame(tagBlock, []byte{0, 0x80, 0x80, 0x04})), 23, "group count 65536 does not fit"},
		{"string too long", minimal(frame(tagBlock, []byte{0, 1, 0, 0x7f, 'a'})), 25, "twin name of 127 bytes"},
		{"left over", minimal(frame(tagBlock, append(slices.Clone(block), 7))), 35, "1 bytes left over"},
		{"empty block", minimal(frame(tagBlock, []byte{0, 0, 0})), 22, "an empty block"},
		{"origin nanoseconds", append([]byte(magic+"\x01"), frame(tagHeader, []byte{0, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0, 0})...), 12, "origin nanoseconds 1000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadAll(bytes.NewReader(tc.data))
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want a *FormatError", err)
			}
			if fe.Offset != tc.offset || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %q, want offset %d and %q", err, tc.offset, tc.msg)
			}
		})
	}

	valid := write(t, testHeader, testBlocks(), nil)
	for n := 0; n < len(valid); n++ {
		var fe *FormatError
		if _, _, err := ReadAll(bytes.NewReader(valid[:n])); !errors.As(err, &fe) || fe.Offset > int64(n) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range valid {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := slices.Clone(valid)
			bad[i] ^= x
			if _, _, err := ReadAll(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d xor %#x: %v", i, x, err)
			}
		}
	}
}

// TestReaderNext: Next returns io.EOF after the trailer, again and again.
func TestReaderNext(t *testing.T) {
	rd, err := NewReader(bytes.NewReader(write(t, testHeader, testBlocks(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if _, err := rd.Next(); err != io.EOF || n != len(testBlocks()) {
		t.Errorf("%d blocks, then %v", n, err)
	}
}

// TestWriterLimits: a header the format cannot hold is refused.
func TestWriterLimits(t *testing.T) {
	for _, h := range []Header{{Tick: -1}, {Scenario: strings.Repeat("x", maxName+1)}} {
		if _, err := NewWriter(io.Discard, h); err == nil {
			t.Errorf("NewWriter(%.30v) succeeded", h)
		}
	}
	w, err := NewWriter(io.Discard, Header{})
	if err != nil {
		t.Fatal(err)
	}
	w.Sample(Sample{Twin: strings.Repeat("x", maxName+1), Property: "p"})
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "a name of 65537 bytes") {
		t.Errorf("a long twin id: %v", err)
	}
}

// BenchmarkWriter measures buffering, sorting, encoding and flushing a
// second of 1,000 twins × 5 doubles at a time, given in canonical order
// and shuffled, to a long-lived writer.
func BenchmarkWriter(b *testing.B) {
	var in []Sample
	for i := range 1000 {
		for _, p := range []string{"a", "b", "c", "d", "e"} {
			in = append(in, Sample{At: time.Second, Twin: fmt.Sprintf("twin-%04d", i), Property: p, Value: twins.Double(float64(i))})
		}
	}
	shuffled := slices.Clone(in)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, bc := range []struct {
		name string
		in   []Sample
	}{{"sorted", in}, {"shuffled", shuffled}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			w, _ := NewWriter(io.Discard, Header{})
			var at time.Duration
			for b.Loop() {
				at += time.Second
				for _, s := range bc.in {
					s.At = at
					w.Sample(s)
				}
				if err := w.Flush(at); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(bc.in))/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
