package recording

import (
	"cmp"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"time"

	"github.com/plantwin/plantwin/twins"
)

// Header says what a recording holds.
type Header struct {
	Scenario  string        // scenario name ("" for a live capture)
	Seed      uint64        // the scenario's seed
	Origin    time.Time     // simulated time 0, UTC
	Tick      time.Duration // the simulation step; 0 if unknown
	PlantName string        // file name the plant came from (for error messages)
	// Plant is the plant configuration YAML (models, twins, rules; may
	// include connectors and bindings) the twins follow; may be empty.
	Plant []byte
}

// Sample is one value of a twin's property.
type Sample struct {
	At       time.Duration // source time minus Origin
	Twin     string
	Property string
	Value    twins.Value
	Quality  twins.Quality
}

// Event is one outcome: an alarm raised or cleared, a command moving on,
// a device going offline.
type Event struct {
	At     time.Duration // time minus Origin
	Twin   string
	Kind   string // "alarm", "command", "connectivity", "rule"
	Name   string // the alarm's, command's or rule's name; the connectivity
	Detail string
}

// Block is the samples and events of one time: samples sorted by (Twin,
// Property), events by (Twin, Kind, Name, Detail).
type Block struct {
	At      time.Duration
	Samples []Sample
	Events  []Event
}

// ErrCorrupt is what every error reading a damaged or truncated recording
// unwraps to.
var ErrCorrupt = errors.New("recording: corrupt or truncated file")

// FormatError is a problem at a byte offset of a recording.
type FormatError struct {
	Offset int64 // from the start of the file
	Msg    string
}

// Error returns "recording: offset N: message".
func (e *FormatError) Error() string {
	return fmt.Sprintf("recording: offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns ErrCorrupt.
func (e *FormatError) Unwrap() error { return ErrCorrupt }

// The file's fixed parts.
const (
	magic   = "PTWREC"
	version = 1

	tagHeader  = 'H'
	tagBlock   = 'B'
	tagTrailer = 'T'
)

// Limits on a frame's body and on names; they bound what a reader
// allocates for a hostile file.
const (
	maxHeaderBody  = 64 << 20
	maxBlockBody   = 1 << 30
	maxTrailerBody = 64
	maxName        = 64 << 10
)

// The value tags: the twins.Type of the value.
const (
	valNone   = 0
	valBool   = byte(twins.TypeBool)
	valInt    = byte(twins.TypeInt)
	valDouble = byte(twins.TypeDouble)
	valString = byte(twins.TypeString)
	valEnum   = byte(twins.TypeEnum)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// compareValues orders values by type, then value; doubles by their bits
// (so that every value, NaNs included, has one place).
func compareValues(a, b twins.Value) int {
	if c := cmp.Compare(a.Type(), b.Type()); c != 0 {
		return c
	}
	switch a.Type() {
	case twins.TypeBool:
		return cmp.Compare(b2i(a.AsBool()), b2i(b.AsBool()))
	case twins.TypeInt:
		return cmp.Compare(a.AsInt(), b.AsInt())
	case twins.TypeDouble:
		return cmp.Compare(math.Float64bits(a.AsDouble()), math.Float64bits(b.AsDouble()))
	case twins.TypeString, twins.TypeEnum:
		return strings.Compare(a.AsString(), b.AsString())
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareSamples is the canonical order of samples: time, twin, property,
// value, quality.
func compareSamples(a, b Sample) int {
	if c := cmp.Compare(a.At, b.At); c != 0 {
		return c
	}
	if c := strings.Compare(a.Twin, b.Twin); c != 0 {
		return c
	}
	if c := strings.Compare(a.Property, b.Property); c != 0 {
		return c
	}
	if c := compareValues(a.Value, b.Value); c != 0 {
		return c
	}
	return cmp.Compare(a.Quality, b.Quality)
}

// compareEvents is the canonical order of events: time, twin, kind, name,
// detail.
func compareEvents(a, b Event) int {
	return cmp.Or(cmp.Compare(a.At, b.At), strings.Compare(a.Twin, b.Twin), strings.Compare(a.Kind, b.Kind),
		strings.Compare(a.Name, b.Name), strings.Compare(a.Detail, b.Detail))
}
