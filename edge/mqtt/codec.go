package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// twinPlaceholder is the topic level a TopicPattern replaces by the twin id.
const twinPlaceholder = "{twin}"

// maxPatternLen is the longest topic pattern ParseTopicPattern accepts, in
// bytes.
const maxPatternLen = 1024

// maxPayload is the largest payload Decode accepts, in bytes (1 MiB).
const maxPayload = 1 << 20

// The range of source times Decode accepts: from 1970 through the year 2200.
var (
	minSourceTime = time.Unix(0, 0).UTC()
	maxSourceTime = time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC) // exclusive
)

// TopicPattern is a subscription pattern with one {twin} placeholder that
// is a whole topic level, e.g. "plant/{twin}/telemetry". The zero
// TopicPattern is not valid; make one with ParseTopicPattern. A
// TopicPattern is immutable and safe for concurrent use.
type TopicPattern struct {
	// prefix is the pattern before {twin} ("plant/" or ""), suffix the
	// pattern after it ("/telemetry" or "").
	prefix, suffix string
}

// ParseTopicPattern checks the pattern: non-empty, exactly one {twin},
// which is a whole level, no MQTT wildcards (+, #) elsewhere, no empty
// levels (so no leading or trailing "/" either), valid UTF-8 without NUL,
// at most 1024 bytes. Errors name the problem.
func ParseTopicPattern(s string) (TopicPattern, error) {
	switch {
	case s == "":
		return TopicPattern{}, errors.New("mqtt: topic pattern is empty (want e.g. plant/{twin}/telemetry)")
	case len(s) > maxPatternLen:
		return TopicPattern{}, fmt.Errorf("mqtt: topic pattern of %d bytes is longer than %d", len(s), maxPatternLen)
	case !utf8.ValidString(s):
		return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q is not valid UTF-8", s)
	case strings.IndexByte(s, 0) >= 0:
		return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q contains a NUL character", s)
	case strings.HasPrefix(s, "/"):
		return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q starts with \"/\" (an empty first level)", s)
	case strings.HasSuffix(s, "/"):
		return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q ends with \"/\" (an empty last level)", s)
	}
	levels := strings.Split(s, "/")
	twin := -1
	for i, l := range levels {
		switch {
		case l == "":
			return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q has an empty level %d", s, i+1)
		case strings.ContainsAny(l, "+#"):
			return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q has a wildcard (+ or #) in level %q (only {twin} may vary)", s, l)
		case l == twinPlaceholder:
			if twin >= 0 {
				return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q has {twin} %d times (want it once)", s, strings.Count(s, twinPlaceholder))
			}
			twin = i
		case strings.Contains(l, twinPlaceholder):
			return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q has {twin} inside the level %q (want it as a whole level, as in plant/{twin}/telemetry)", s, l)
		}
	}
	if twin < 0 {
		return TopicPattern{}, fmt.Errorf("mqtt: topic pattern %q has no {twin} level (want e.g. plant/{twin}/telemetry)", s)
	}
	i := 0 // the byte offset of {twin}
	for _, l := range levels[:twin] {
		i += len(l) + 1
	}
	return TopicPattern{prefix: s[:i], suffix: s[i+len(twinPlaceholder):]}, nil
}

// Subscription is the MQTT filter to subscribe to: {twin} replaced by "+".
func (p TopicPattern) Subscription() string { return p.prefix + "+" + p.suffix }

// Twin extracts the twin id from a concrete topic, or ok=false if the topic
// does not match the pattern: a different number of levels, a different
// constant level, or an empty twin level. It does not allocate.
func (p TopicPattern) Twin(topic string) (twinID string, ok bool) {
	if len(topic) <= len(p.prefix)+len(p.suffix) ||
		!strings.HasPrefix(topic, p.prefix) || !strings.HasSuffix(topic, p.suffix) {
		return "", false
	}
	id := topic[len(p.prefix) : len(topic)-len(p.suffix)]
	if strings.IndexByte(id, '/') >= 0 {
		return "", false
	}
	return id, true
}

// Topic builds the concrete topic for a twin (used for commands). It does
// not check twinID: an id with "/", "+" or "#" gives a topic that Twin
// does not map back to it.
func (p TopicPattern) Topic(twinID string) string { return p.prefix + twinID + p.suffix }

// Field maps one JSON field of a payload to a twin property.
type Field struct {
	Property string // twin property name
	// Path is the dot-separated path of the field: "flow", "data.flow",
	// "values.0". A numeric segment indexes an array (and names a key of an
	// object).
	Path string
	// Scale and Offset make a numeric value value*Scale+Offset; Scale 0
	// means 1. Non-default values make every number a double.
	Scale, Offset float64
}

// scaled reports whether f's Scale or Offset differ from the identity.
func (f Field) scaled() bool { return (f.Scale != 0 && f.Scale != 1) || f.Offset != 0 }

// Mapping decodes payloads of one twin (all twins of a binding share the
// field list). A Mapping is not modified by Decode, so one may be used by
// several goroutines at once.
type Mapping struct {
	Fields []Field
	// TimestampPath is the optional path of the source time: an RFC 3339
	// string, or a number of Unix milliseconds (fractions allowed).
	TimestampPath string
}

// Decode parses a JSON payload (at most 1 MiB; larger is an error) and
// returns one sample per field present in it, in Fields order, with
// SourceTimeUnixNano from TimestampPath (or now when the path is empty or
// absent from the payload), Quality GOOD.
//
// JSON types map to values: a bool to a bool; a number to an int when it
// is written as an integer (no fraction, no exponent) within int64 and the
// field has no scale or offset, else to a double (value*Scale+Offset); a
// string to a string. A field absent from the payload (a missing key or an
// array index past the end) is skipped. A field present with an object,
// array or null value, a number beyond the double range, or a path that
// runs into a value that is neither an object nor an array is reported in
// problems, one line each, and skipped; the other fields are still decoded.
//
// A malformed payload (its byte offsets count from 0), a top level that is
// not an object, or a bad timestamp (wrong type, unparsable, before 1970 or
// after 2200) is an error, and then samples and problems are nil, e.g.
//
//	mqtt: payload: invalid character 'x' looking for beginning of value at byte 12
//	mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got true
func (m Mapping) Decode(payload []byte, now time.Time) (samples []*pb.Sample, problems []string, err error) {
	root, err := parsePayload(payload)
	if err != nil {
		return nil, nil, err
	}
	ts := now.UnixNano()
	if m.TimestampPath != "" {
		v, found, problem := lookup(root, m.TimestampPath)
		if problem != "" {
			return nil, nil, fmt.Errorf("mqtt: payload field %q: %s", m.TimestampPath, problem)
		}
		if found {
			if ts, err = sourceTime(v); err != nil {
				return nil, nil, fmt.Errorf("mqtt: payload field %q: %w", m.TimestampPath, err)
			}
		}
	}
	for _, f := range m.Fields {
		v, found, problem := lookup(root, f.Path)
		if found {
			var val *pb.Value
			if val, problem = f.value(v); val != nil {
				samples = append(samples, &pb.Sample{
					Property:           f.Property,
					Value:              val,
					SourceTimeUnixNano: ts,
					Quality:            pb.Quality_QUALITY_GOOD,
				})
			}
		}
		if problem != "" {
			problems = append(problems, fmt.Sprintf("payload field %q (property %s): %s", f.Path, f.Property, problem))
		}
	}
	return samples, problems, nil
}

// parsePayload parses payload, which must hold one JSON object, keeping
// numbers as json.Number.
func parsePayload(payload []byte) (map[string]any, error) {
	if len(payload) > maxPayload {
		return nil, fmt.Errorf("mqtt: payload of %d bytes is larger than the limit of %d", len(payload), maxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// Offset counts the bytes read, the offending one included.
			return nil, fmt.Errorf("mqtt: payload: %s at byte %d", se, max(se.Offset-1, 0))
		case errors.Is(err, io.EOF):
			return nil, errors.New("mqtt: payload is empty (want a JSON object)")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("mqtt: payload: unexpected end of JSON input at byte %d", len(payload))
		}
		return nil, fmt.Errorf("mqtt: payload: %w", err)
	}
	off := int(dec.InputOffset())
	rest := bytes.TrimLeft(payload[off:], " \t\r\n")
	if len(rest) > 0 {
		return nil, fmt.Errorf("mqtt: payload: invalid character %s after top-level value at byte %d", quoteChar(rest), len(payload)-len(rest))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("mqtt: payload: top level is %s, want an object", kind(v))
	}
	return obj, nil
}

// quoteChar quotes the first character of b as encoding/json does in its
// syntax errors; a byte that starts no valid UTF-8 as \xNN.
func quoteChar(b []byte) string {
	r, n := utf8.DecodeRune(b)
	switch {
	case r == utf8.RuneError && n <= 1:
		return fmt.Sprintf(`'\x%02x'`, b[0])
	case r == '\'':
		return `'\''`
	case r == '"':
		return `'"'`
	}
	s := strconv.Quote(string(r))
	return "'" + s[1:len(s)-1] + "'"
}

// lookup walks the dot-separated path from root. It returns the value
// there and found=true; found=false when a key is missing or an index is
// past the end of its array; or a problem when a level on the way is
// neither an object nor an array, or an array meets a non-numeric segment.
func lookup(root map[string]any, path string) (v any, found bool, problem string) {
	v = root
	rest, walked := path, 0 // walked: the bytes of path before rest
	for {
		seg, tail, more := strings.Cut(rest, ".")
		switch c := v.(type) {
		case map[string]any:
			if v, found = c[seg]; !found {
				return nil, false, ""
			}
		case []any:
			i, ok := index(seg)
			if !ok {
				return nil, false, fmt.Sprintf("%q is an array, want a numeric index, got %q", path[:walked-1], seg)
			}
			if i >= len(c) {
				return nil, false, ""
			}
			v = c[i]
		default: // not at the root, which is an object
			return nil, false, fmt.Sprintf("%q is %s, not an object or array", path[:walked-1], kind(v))
		}
		if !more {
			return v, true, ""
		}
		rest, walked = tail, walked+len(seg)+1
	}
}

// index parses an array index: decimal digits only. An index too large for
// any payload is returned as math.MaxInt (past the end).
func index(seg string) (int, bool) {
	if seg == "" {
		return 0, false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false
		}
	}
	if len(seg) > 9 {
		return math.MaxInt, true
	}
	i, _ := strconv.Atoi(seg)
	return i, true
}

// value converts the JSON value v of field f, or returns a problem.
func (f Field) value(v any) (*pb.Value, string) {
	switch v := v.(type) {
	case bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: v}}, ""
	case string:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: v}}, ""
	case json.Number:
		return f.number(string(v))
	}
	return nil, fmt.Sprintf("want a bool, number or string, got %s", kind(v))
}

// number converts the JSON number literal s of field f, or returns a
// problem.
func (f Field) number(s string) (*pb.Value, string) {
	if !f.scaled() && !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return &pb.Value{Kind: &pb.Value_IntValue{IntValue: i}}, ""
		}
		// Out of the int64 range: a double.
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil { // the literal is valid JSON, so only out of range
		return nil, fmt.Sprintf("number %s is beyond the double range", abbrev(s))
	}
	if f.scaled() {
		scale := f.Scale
		if scale == 0 {
			scale = 1
		}
		y := x*scale + f.Offset
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, fmt.Sprintf("number %s with scale %v and offset %v gives %v", abbrev(s), f.Scale, f.Offset, y)
		}
		x = y
	}
	return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: x}}, ""
}

// sourceTime converts the JSON value of the timestamp field to Unix
// nanoseconds.
func sourceTime(v any) (int64, error) {
	var t time.Time
	switch v := v.(type) {
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return 0, fmt.Errorf("want an RFC 3339 string or Unix milliseconds, got %s", abbrev(strconv.Quote(v)))
		}
	case json.Number:
		// A valid JSON number parses, or is beyond the double range (±Inf).
		ms, _ := strconv.ParseFloat(string(v), 64)
		switch {
		case ms < 0:
			return 0, fmt.Errorf("%s Unix milliseconds is before 1970", abbrev(string(v)))
		case ms >= float64(maxSourceTime.UnixMilli()):
			return 0, fmt.Errorf("%s Unix milliseconds is after 2200", abbrev(string(v)))
		}
		t = unixMilli(string(v), ms)
	default:
		return 0, fmt.Errorf("want an RFC 3339 string or Unix milliseconds, got %s", kind(v))
	}
	switch {
	case t.Before(minSourceTime):
		return 0, fmt.Errorf("time %s is before 1970", t.Format(time.RFC3339Nano))
	case !t.Before(maxSourceTime):
		return 0, fmt.Errorf("time %s is after 2200", t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// unixMilli converts the JSON number s, whose value ms is in [0, 2201),
// from Unix milliseconds to a time. Without an exponent s is converted
// exactly, to the nanosecond (more digits are dropped); a double has only
// 53 bits, about 0.25 µs at today's times.
func unixMilli(s string, ms float64) time.Time {
	if strings.ContainsAny(s, "eE") {
		whole := math.Floor(ms)
		return time.UnixMilli(int64(whole)).Add(time.Duration(math.Round((ms - whole) * 1e6)))
	}
	whole, frac, _ := strings.Cut(s, ".")
	i, _ := strconv.ParseInt(whole, 10, 64) // an integer below 7.3e12, or "-0"
	var ns int64
	for k := range 6 {
		ns *= 10
		if k < len(frac) {
			ns += int64(frac[k] - '0')
		}
	}
	return time.UnixMilli(i).Add(time.Duration(ns))
}

// kind names the type of a decoded JSON value for messages; a bool is
// given as its literal.
func kind(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "a number"
	case string:
		return "a string"
	}
	return fmt.Sprintf("%T", v) // not produced by encoding/json
}

// abbrev shortens s to at most 64 bytes for a message.
func abbrev(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
