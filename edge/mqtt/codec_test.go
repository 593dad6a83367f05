package mqtt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

func TestCodecParseTopicPattern(t *testing.T) {
	tests := []struct {
		name, in string
		wantSub  string
	}{
		{"middle", "plant/{twin}/telemetry", "plant/+/telemetry"},
		{"only", "{twin}", "+"},
		{"first", "{twin}/telemetry", "+/telemetry"},
		{"last", "plant/{twin}", "plant/+"},
		{"deep", "site/a/line/3/{twin}/data/raw", "site/a/line/3/+/data/raw"},
		{"unicode and spaces", "werk süd/{twin}/messwerte", "werk süd/+/messwerte"},
		{"dollar", "$share/{twin}/x", "$share/+/x"},
		{"braces elsewhere", "a/{n}/{twin}", "a/{n}/+"},
		{"longest", strings.Repeat("a", maxPatternLen-7) + "/{twin}", strings.Repeat("a", maxPatternLen-7) + "/+"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseTopicPattern(tt.in)
			if err != nil {
				t.Fatalf("ParseTopicPattern(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.wantSub, p.Subscription()); diff != "" {
				t.Errorf("Subscription() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.in, p.Topic(twinPlaceholder)); diff != "" {
				t.Errorf("Topic(%q) mismatch (-want +got):\n%s", twinPlaceholder, diff)
			}
		})
	}
}

func TestCodecParseTopicPatternErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `mqtt: topic pattern is empty (want e.g. plant/{twin}/telemetry)`},
		{"too long", strings.Repeat("a", maxPatternLen-6) + "/{twin}", `mqtt: topic pattern of 1025 bytes is longer than 1024`},
		{"invalid UTF-8", "plant/\xff/{twin}", `mqtt: topic pattern "plant/\xff/{twin}" is not valid UTF-8`},
		{"NUL", "plant/\x00/{twin}", `mqtt: topic pattern "plant/\x00/{twin}" contains a NUL character`},
		{"no twin", "plant/p1/telemetry", `mqtt: topic pattern "plant/p1/telemetry" has no {twin} level (want e.g. plant/{twin}/telemetry)`},
		{"wrong case", "plant/{Twin}", `mqtt: topic pattern "plant/{Twin}" has no {twin} level (want e.g. plant/{twin}/telemetry)`},
		{"two twins", "plant/{twin}/{twin}", `mqtt: topic pattern "plant/{twin}/{twin}" has {twin} 2 times (want it once)`},
		{"twin inside a level", "a/x{twin}", `mqtt: topic pattern "a/x{twin}" has {twin} inside the level "x{twin}" (want it as a whole level, as in plant/{twin}/telemetry)`},
		{"twin before text", "a/{twin}x/b", `mqtt: topic pattern "a/{twin}x/b" has {twin} inside the level "{twin}x" (want it as a whole level, as in plant/{twin}/telemetry)`},
		{"twin twice in a level", "a/{twin}{twin}", `mqtt: topic pattern "a/{twin}{twin}" has {twin} inside the level "{twin}{twin}" (want it as a whole level, as in plant/{twin}/telemetry)`},
		{"plus", "plant/+/{twin}", `mqtt: topic pattern "plant/+/{twin}" has a wildcard (+ or #) in level "+" (only {twin} may vary)`},
		{"hash", "plant/{twin}/#", `mqtt: topic pattern "plant/{twin}/#" has a wildcard (+ or #) in level "#" (only {twin} may vary)`},
		{"plus inside a level", "plant/a+b/{twin}", `mqtt: topic pattern "plant/a+b/{twin}" has a wildcard (+ or #) in level "a+b" (only {twin} may vary)`},
		{"leading slash", "/plant/{twin}", `mqtt: topic pattern "/plant/{twin}" starts with "/" (an empty first level)`},
		{"trailing slash", "plant/{twin}/", `mqtt: topic pattern "plant/{twin}/" ends with "/" (an empty last level)`},
		{"only a slash", "/", `mqtt: topic pattern "/" starts with "/" (an empty first level)`},
		{"empty level", "plant//{twin}", `mqtt: topic pattern "plant//{twin}" has an empty level 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseTopicPattern(tt.in)
			if err == nil {
				t.Fatalf("ParseTopicPattern(%q) = %+v, want error %q", tt.in, p, tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCodecTwin(t *testing.T) {
	tests := []struct {
		name, pattern, topic string
		wantID               string
		wantOK               bool
	}{
		{"match", "plant/{twin}/telemetry", "plant/pump-a01/telemetry", "pump-a01", true},
		{"match with dots and spaces", "plant/{twin}/telemetry", "plant/pump a.01/telemetry", "pump a.01", true},
		{"more levels", "plant/{twin}/telemetry", "plant/pump-a01/telemetry/x", "", false},
		{"twin level split", "plant/{twin}/telemetry", "plant/pump/a01/telemetry", "", false},
		{"fewer levels", "plant/{twin}/telemetry", "plant/telemetry", "", false},
		{"wrong first level", "plant/{twin}/telemetry", "plants/pump-a01/telemetry", "", false},
		{"wrong last level", "plant/{twin}/telemetry", "plant/pump-a01/telemetryx", "", false},
		{"case differs", "plant/{twin}/telemetry", "Plant/pump-a01/telemetry", "", false},
		{"empty twin level", "plant/{twin}/telemetry", "plant//telemetry", "", false},
		{"empty topic", "plant/{twin}/telemetry", "", "", false},
		{"leading slash", "plant/{twin}/telemetry", "/plant/pump-a01/telemetry", "", false},
		{"only: match", "{twin}", "pump-a01", "pump-a01", true},
		{"only: two levels", "{twin}", "pump/a01", "", false},
		{"only: empty", "{twin}", "", "", false},
		{"first: match", "{twin}/telemetry", "pump-a01/telemetry", "pump-a01", true},
		{"first: empty twin level", "{twin}/telemetry", "/telemetry", "", false},
		{"last: match", "plant/{twin}", "plant/pump-a01", "pump-a01", true},
		{"last: empty twin level", "plant/{twin}", "plant/", "", false},
		{"last: no twin level", "plant/{twin}", "plant", "", false},
		{"last: two levels", "plant/{twin}", "plant/a/b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseTopicPattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			id, ok := p.Twin(tt.topic)
			if diff := cmp.Diff(tt.wantID, id); diff != "" || ok != tt.wantOK {
				t.Errorf("Twin(%q) = %q, %t, want %q, %t", tt.topic, id, ok, tt.wantID, tt.wantOK)
			}
		})
	}
}

func TestCodecTopic(t *testing.T) {
	patterns := []string{"plant/{twin}/cmd", "{twin}", "{twin}/cmd", "plant/{twin}", "a/b/{twin}/c/d"}
	ids := []string{"pump-a01", "p", "pump a.01", "werk-ü-7", "{twin}"}
	for _, pat := range patterns {
		p, err := ParseTopicPattern(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			topic := p.Topic(id)
			if want := strings.Replace(pat, twinPlaceholder, id, 1); topic != want {
				t.Errorf("pattern %q: Topic(%q) = %q, want %q", pat, id, topic, want)
			}
			got, ok := p.Twin(topic)
			if diff := cmp.Diff(id, got); diff != "" || !ok {
				t.Errorf("pattern %q: Twin(Topic(%q)) = %q, %t (-want +got):\n%s", pat, id, got, ok, diff)
			}
		}
	}
}

// sample is a pb.Sample in a form cmp compares: Value holds a bool, int64,
// float64 or string, so an int and a double differ.
type sample struct {
	Property string
	Value    any
	Time     int64
	Quality  pb.Quality
}

func plain(ss []*pb.Sample) []sample {
	var out []sample
	for _, s := range ss {
		var v any
		switch k := s.GetValue().GetKind().(type) {
		case *pb.Value_BoolValue:
			v = k.BoolValue
		case *pb.Value_IntValue:
			v = k.IntValue
		case *pb.Value_DoubleValue:
			v = k.DoubleValue
		case *pb.Value_StringValue:
			v = k.StringValue
		default:
			v = fmt.Sprintf("unexpected %T", k)
		}
		out = append(out, sample{s.GetProperty(), v, s.GetSourceTimeUnixNano(), s.GetQuality()})
	}
	return out
}

// now is the receive time the Decode tests pass.
var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns a GOOD sample at now.
func at(property string, v any) sample {
	return sample{property, v, now.UnixNano(), pb.Quality_QUALITY_GOOD}
}

// atTime returns a GOOD sample at t.
func atTime(property string, v any, t time.Time) sample {
	return sample{property, v, t.UnixNano(), pb.Quality_QUALITY_GOOD}
}

// fields returns fields mapping each path to the property of the same name.
func fields(paths ...string) []Field {
	fs := make([]Field, len(paths))
	for i, p := range paths {
		fs[i] = Field{Property: p, Path: p}
	}
	return fs
}

func TestCodecDecode(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	tests := []struct {
		name         string
		mapping      Mapping
		payload      string
		want         []sample
		wantProblems []string
	}{
		{
			name:    "flat types",
			mapping: Mapping{Fields: fields("flow", "running", "mode", "count")},
			payload: `{"flow": 12.5, "running": true, "mode": "auto", "count": 42, "other": [1]}`,
			want:    []sample{at("flow", 12.5), at("running", true), at("mode", "auto"), at("count", int64(42))},
		},
		{
			name: "fields order, not payload order",
			mapping: Mapping{Fields: []Field{
				{Property: "b", Path: "b"}, {Property: "a", Path: "a"}, {Property: "a_too", Path: "a"},
			}},
			payload: `{"a": 1, "b": false}`,
			want:    []sample{at("b", false), at("a", int64(1)), at("a_too", int64(1))},
		},
		{
			name:    "nested paths",
			mapping: Mapping{Fields: []Field{{Property: "flow", Path: "data.flow"}, {Property: "t", Path: "data.sensor.temp"}}},
			payload: `{"data": {"flow": 3, "sensor": {"temp": -4.25}}}`,
			want:    []sample{at("flow", int64(3)), at("t", -4.25)},
		},
		{
			name: "array index",
			mapping: Mapping{Fields: []Field{
				{Property: "v0", Path: "values.0"},
				{Property: "v2", Path: "values.2"},
				{Property: "v3", Path: "values.3"}, // past the end: absent
				{Property: "huge", Path: "values.99999999999999999999"},
				{Property: "t", Path: "sensors.1.t"},
				{Property: "m", Path: "matrix.1.0"},
			}},
			payload: `{"values": [1.5, 2, "x"], "sensors": [{"t": 1}, {"t": 20}], "matrix": [[1], [2, 3]]}`,
			want:    []sample{at("v0", 1.5), at("v2", "x"), at("t", int64(20)), at("m", int64(2))},
		},
		{
			name:    "numeric key of an object",
			mapping: Mapping{Fields: []Field{{Property: "r0", Path: "regs.0"}, {Property: "r1", Path: "regs.01"}}},
			payload: `{"regs": {"0": 7, "01": 8}}`,
			want:    []sample{at("r0", int64(7)), at("r1", int64(8))},
		},
		{
			name:    "keys with odd characters",
			mapping: Mapping{Fields: fields("a b", "ü", "x-y")},
			payload: `{"a b": 1, "ü": 2, "x-y": 3}`,
			want:    []sample{at("a b", int64(1)), at("ü", int64(2)), at("x-y", int64(3))},
		},
		{
			name:    "int or double by the literal",
			mapping: Mapping{Fields: fields("int", "neg", "zero", "negzero", "point", "exp", "bigexp", "frac")},
			payload: `{"int": 42, "neg": -7, "zero": 0, "negzero": -0, "point": 42.0, "exp": 4.2e1, "bigexp": 1E2, "frac": 0.1}`,
			want: []sample{
				at("int", int64(42)), at("neg", int64(-7)), at("zero", int64(0)), at("negzero", int64(0)),
				at("point", 42.0), at("exp", 42.0), at("bigexp", 100.0), at("frac", 0.1),
			},
		},
		{
			name:    "int64 range",
			mapping: Mapping{Fields: fields("max", "min", "above", "below", "huge")},
			payload: `{"max": 9223372036854775807, "min": -9223372036854775808, "above": 9223372036854775808,
				"below": -9223372036854775809, "huge": 1` + strings.Repeat("0", 30) + `}`,
			want: []sample{
				at("max", int64(9223372036854775807)), at("min", int64(-9223372036854775808)),
				at("above", 9223372036854775808.0), at("below", -9223372036854775809.0), at("huge", 1e30),
			},
		},
		{
			name: "scale and offset",
			mapping: Mapping{Fields: []Field{
				{Property: "scaled", Path: "raw", Scale: 0.5},
				{Property: "both", Path: "raw", Scale: 0.5, Offset: -10},
				{Property: "offset", Path: "raw", Offset: -0.5},
				{Property: "negative", Path: "raw", Scale: -2},
				{Property: "double", Path: "d", Scale: 2},
				{Property: "identity", Path: "raw", Scale: 1},
				{Property: "zero scale", Path: "raw", Scale: 0},
				{Property: "flag", Path: "flag", Scale: 2, Offset: 1},
				{Property: "text", Path: "text", Scale: 2},
			}},
			payload: `{"raw": 250, "d": 1.25, "flag": true, "text": "7"}`,
			want: []sample{
				at("scaled", 125.0), at("both", 115.0), at("offset", 249.5), at("negative", -500.0),
				at("double", 2.5), at("identity", int64(250)), at("zero scale", int64(250)),
				at("flag", true), at("text", "7"),
			},
		},
		{
			name: "absent fields skipped",
			mapping: Mapping{Fields: []Field{
				{Property: "flow", Path: "flow"},
				{Property: "missing", Path: "missing"},
				{Property: "deep", Path: "data.missing.x"},
				{Property: "empty", Path: "empty.0"},
			}},
			payload: `{"flow": 1, "data": {}, "empty": []}`,
			want:    []sample{at("flow", int64(1))},
		},
		{
			name:    "no fields",
			mapping: Mapping{},
			payload: `{"flow": 1}`,
		},
		{
			name:    "empty object",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: " \n\t{}\r\n ",
		},
		{
			name: "problems",
			mapping: Mapping{Fields: []Field{
				{Property: "obj", Path: "obj"},
				{Property: "arr", Path: "arr"},
				{Property: "null", Path: "null"},
				{Property: "ok", Path: "ok"},
				{Property: "through", Path: "ok.x"},
				{Property: "through string", Path: "s.0"},
				{Property: "through null", Path: "null.x"},
				{Property: "not an index", Path: "arr.x"},
				{Property: "negative index", Path: "arr.-1"},
				{Property: "big", Path: "big"},
				{Property: "overflow", Path: "ok", Scale: 1e308},
				{Property: "deep", Path: "data.v.0.x"},
			}},
			payload: `{"obj": {"a": 1}, "arr": [1, 2], "null": null, "ok": 1e10, "s": "abc", "big": -1e400, "data": {"v": [true]}}`,
			want:    []sample{at("ok", 1e10)},
			wantProblems: []string{
				`payload field "obj" (property obj): want a bool, number or string, got an object`,
				`payload field "arr" (property arr): want a bool, number or string, got an array`,
				`payload field "null" (property null): want a bool, number or string, got null`,
				`payload field "ok.x" (property through): "ok" is a number, not an object or array`,
				`payload field "s.0" (property through string): "s" is a string, not an object or array`,
				`payload field "null.x" (property through null): "null" is null, not an object or array`,
				`payload field "arr.x" (property not an index): "arr" is an array, want a numeric index, got "x"`,
				`payload field "arr.-1" (property negative index): "arr" is an array, want a numeric index, got "-1"`,
				`payload field "big" (property big): number -1e400 is beyond the double range`,
				`payload field "ok" (property overflow): number 1e10 with scale 1e+308 and offset 0 gives +Inf`,
				`payload field "data.v.0.x" (property deep): "data.v.0" is true, not an object or array`,
			},
		},
		{
			name:    "duplicate key: the last wins",
			mapping: Mapping{Fields: fields("a")},
			payload: `{"a": 1, "a": 2}`,
			want:    []sample{at("a", int64(2))},
		},
		{
			name:    "timestamp RFC 3339 UTC",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: `{"ts": "2025-01-02T03:04:05.123456789Z", "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), ts)},
		},
		{
			name:    "timestamp RFC 3339 with zone offset",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: `{"ts": "2025-01-02T05:04:05.123456789+02:00", "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), ts)},
		},
		{
			name:    "timestamp RFC 3339 whole seconds, nested",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "meta.time"},
			payload: `{"meta": {"time": "2025-01-02T03:04:05Z"}, "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), ts.Truncate(time.Second))},
		},
		{
			name:    "timestamp Unix ms",
			mapping: Mapping{Fields: fields("flow", "ts"), TimestampPath: "ts"},
			payload: `{"ts": 1735787045123, "flow": 1}`,
			want: []sample{
				atTime("flow", int64(1), ts.Truncate(time.Millisecond)),
				atTime("ts", int64(1735787045123), ts.Truncate(time.Millisecond)),
			},
		},
		{
			name:    "timestamp fractional Unix ms",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: `{"ts": 1735787045123.5, "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), ts.Truncate(time.Millisecond).Add(500*time.Microsecond))},
		},
		{
			name:    "timestamp Unix ms to the nanosecond",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: `{"ts": 1735787045123.4567891, "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), ts.Truncate(time.Millisecond).Add(456789*time.Nanosecond))},
		},
		{
			name:    "timestamp Unix ms with exponent",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: `{"ts": 1.735787045123e12, "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), ts.Truncate(time.Millisecond))},
		},
		{
			name:    "timestamp in an array",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "times.1"},
			payload: `{"times": [0, 1735787045123], "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), ts.Truncate(time.Millisecond))},
		},
		{
			name:    "timestamp 1970",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: `{"ts": 0, "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), time.Unix(0, 0))},
		},
		{
			name:    "timestamp end of 2200",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts"},
			payload: `{"ts": "2200-12-31T23:59:59.999999999Z", "flow": 1}`,
			want:    []sample{atTime("flow", int64(1), time.Date(2200, 12, 31, 23, 59, 59, 999999999, time.UTC))},
		},
		{
			name:    "timestamp absent: now",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "meta.ts"},
			payload: `{"meta": {}, "flow": 1}`,
			want:    []sample{at("flow", int64(1))},
		},
		{
			name:    "timestamp past the end of an array: now",
			mapping: Mapping{Fields: fields("flow"), TimestampPath: "ts.0"},
			payload: `{"ts": [], "flow": 1}`,
			want:    []sample{at("flow", int64(1))},
		},
		{
			name:    "exactly 1 MiB",
			mapping: Mapping{Fields: fields("n")},
			payload: `{"n": 1, "s": "` + strings.Repeat("a", maxPayload-17) + `"}`,
			want:    []sample{at("n", int64(1))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems, err := tt.mapping.Decode([]byte(tt.payload), now)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, plain(got)); diff != "" {
				t.Errorf("samples mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProblems, problems); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	m := Mapping{Fields: fields("flow"), TimestampPath: "ts"}
	tests := []struct {
		name    string
		mapping Mapping
		payload string
		want    string
	}{
		{"malformed", m, `{"flow": x}`, `mqtt: payload: invalid character 'x' looking for beginning of value at byte 9`},
		{"malformed first byte", m, `x`, `mqtt: payload: invalid character 'x' looking for beginning of value at byte 0`},
		{"trailing comma", m, `{"a": [1,]}`, `mqtt: payload: invalid character ']' looking for beginning of value at byte 9`},
		{"single quotes", m, `{'a': 1}`, `mqtt: payload: invalid character '\'' looking for beginning of object key string at byte 1`},
		{"leading zero", m, `{"a": 01}`, `mqtt: payload: invalid character '1' after object key:value pair at byte 7`},
		{"NaN", m, `{"a": NaN}`, `mqtt: payload: invalid character 'N' looking for beginning of value at byte 6`},
		{"control character in string", m, "{\"a\": \"\x01\"}", `mqtt: payload: invalid character '\x01' in string literal at byte 7`},
		{"truncated", m, `{"flow": 1`, `mqtt: payload: unexpected end of JSON input at byte 10`},
		{"empty", m, ``, `mqtt: payload is empty (want a JSON object)`},
		{"blank", m, " \r\n\t", `mqtt: payload is empty (want a JSON object)`},
		{"trailing brace", m, `{"a": 1}}`, `mqtt: payload: invalid character '}' after top-level value at byte 8`},
		{"two objects", m, `{} {}`, `mqtt: payload: invalid character '{' after top-level value at byte 3`},
		{"trailing invalid UTF-8", m, "{}\xff", `mqtt: payload: invalid character '\xff' after top-level value at byte 2`},
		{"trailing non-ASCII", m, "{}é", `mqtt: payload: invalid character 'é' after top-level value at byte 2`},
		{"too deep", m, `{"a": ` + strings.Repeat("[", 10001), `mqtt: payload: invalid character '[' exceeded max depth at byte 10005`},
		{"top-level array", m, `[{"flow": 1}]`, `mqtt: payload: top level is an array, want an object`},
		{"top-level string", m, `"flow"`, `mqtt: payload: top level is a string, want an object`},
		{"top-level number", m, ` 42 `, `mqtt: payload: top level is a number, want an object`},
		{"top-level bool", m, `true`, `mqtt: payload: top level is true, want an object`},
		{"top-level null", m, `null`, `mqtt: payload: top level is null, want an object`},
		{"oversize", m, `{"s": "` + strings.Repeat("a", maxPayload) + `"}`, `mqtt: payload of 1048585 bytes is larger than the limit of 1048576`},
		{"timestamp bool", m, `{"ts": true, "flow": 1}`, `mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got true`},
		{"timestamp null", m, `{"ts": null}`, `mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got null`},
		{"timestamp object", m, `{"ts": {"s": 1}}`, `mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got an object`},
		{"timestamp unparsable", m, `{"ts": "yesterday"}`, `mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got "yesterday"`},
		{"timestamp without zone", m, `{"ts": "2025-01-02T03:04:05"}`, `mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got "2025-01-02T03:04:05"`},
		{"timestamp digits as a string", m, `{"ts": "1735787045123"}`, `mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got "1735787045123"`},
		{"timestamp long string", m, `{"ts": "` + strings.Repeat("x", 100) + `"}`, `mqtt: payload field "ts": want an RFC 3339 string or Unix milliseconds, got "` + strings.Repeat("x", 63) + `…`},
		{"timestamp before 1970", m, `{"ts": "1969-12-31T23:59:59Z"}`, `mqtt: payload field "ts": time 1969-12-31T23:59:59Z is before 1970`},
		{"timestamp before 1970 by zone", m, `{"ts": "1970-01-01T00:30:00+01:00"}`, `mqtt: payload field "ts": time 1970-01-01T00:30:00+01:00 is before 1970`},
		{"timestamp after 2200", m, `{"ts": "2201-01-01T00:00:00Z"}`, `mqtt: payload field "ts": time 2201-01-01T00:00:00Z is after 2200`},
		{"timestamp negative ms", m, `{"ts": -1}`, `mqtt: payload field "ts": -1 Unix milliseconds is before 1970`},
		{"timestamp negative fractional ms", m, `{"ts": -0.5}`, `mqtt: payload field "ts": -0.5 Unix milliseconds is before 1970`},
		{"timestamp ms after 2200", m, fmt.Sprintf(`{"ts": %d}`, maxSourceTime.UnixMilli()), `mqtt: payload field "ts": 7289654400000 Unix milliseconds is after 2200`},
		{"timestamp ms beyond int64", m, `{"ts": 1e300}`, `mqtt: payload field "ts": 1e300 Unix milliseconds is after 2200`},
		{"timestamp ms beyond double", m, `{"ts": -1e400}`, `mqtt: payload field "ts": -1e400 Unix milliseconds is before 1970`},
		{"timestamp path through a number", Mapping{TimestampPath: "meta.ts"}, `{"meta": 5}`, `mqtt: payload field "meta.ts": "meta" is a number, not an object or array`},
		{"timestamp path through an array", Mapping{TimestampPath: "meta.ts"}, `{"meta": [5]}`, `mqtt: payload field "meta.ts": "meta" is an array, want a numeric index, got "ts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			samples, problems, err := tt.mapping.Decode([]byte(tt.payload), now)
			if err == nil {
				t.Fatalf("Decode = %v, %q, nil; want error %q", plain(samples), problems, tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if samples != nil || problems != nil {
				t.Errorf("Decode returned samples %v and problems %q with its error", plain(samples), problems)
			}
		})
	}
}
