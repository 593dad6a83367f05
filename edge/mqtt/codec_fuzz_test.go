package mqtt

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// fuzzMapping is the mapping FuzzPayload decodes with: flat, nested and
// array paths, a scaled field, two fields on one path and a nested
// timestamp.
var fuzzMapping = Mapping{
	Fields: []Field{
		{Property: "flow", Path: "flow"},
		{Property: "temp", Path: "data.temp", Scale: 0.1, Offset: -40},
		{Property: "first", Path: "values.0"},
		{Property: "third", Path: "values.2.v"},
		{Property: "running", Path: "state.running"},
		{Property: "mode", Path: "mode"},
		{Property: "mode_too", Path: "mode", Scale: 1e300},
	},
	TimestampPath: "meta.ts",
}

func FuzzPayload(f *testing.F) {
	for _, seed := range []string{
		`{"flow": 12.5, "data": {"temp": 235}, "values": [1, 2, {"v": "x"}], "state": {"running": true}, "mode": "auto", "meta": {"ts": 1735787045123}}`,
		`{"flow": 9223372036854775808, "meta": {"ts": "2025-01-02T03:04:05.123456789+02:00"}}`,
		`{"flow": null, "data": [], "values": {"0": 1}, "mode": 1e300, "meta": {"ts": 1735787045123.4567}}`,
		`{"flow": {"a": 1}, "data": 5, "values": [], "state": "on", "meta": {"ts": true}}`,
		`{"meta": {"ts": "1969-12-31T23:59:59Z"}}`,
		`{"meta": {"ts": 1e400}, "flow": -0}`,
		`{"meta": [1]}`,
		`{"flow": 1} trailing`,
		`{"flow": x}`,
		`[{"flow": 1}]`,
		`{"flow": 1`,
		`"\u0000"`,
		"{\"mode\": \"\xff\"}",
		``,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	properties := map[string]bool{}
	for _, fl := range fuzzMapping.Fields {
		properties[fl.Property] = true
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		samples, problems, err := fuzzMapping.Decode(payload, now)
		if err != nil {
			if samples != nil || problems != nil {
				t.Fatalf("Decode returned samples %v and problems %q with its error %v", samples, problems, err)
			}
			return
		}
		if !json.Valid(payload) {
			t.Fatalf("Decode accepted invalid JSON %q", payload)
		}
		if len(samples)+len(problems) > len(fuzzMapping.Fields) {
			t.Fatalf("%d samples and %d problems for %d fields", len(samples), len(problems), len(fuzzMapping.Fields))
		}
		for _, s := range samples {
			if !properties[s.GetProperty()] {
				t.Errorf("sample of property %q, not one of the mapping's", s.GetProperty())
			}
			if s.GetValue().GetKind() == nil {
				t.Errorf("sample of property %q has no value", s.GetProperty())
			}
			if d, ok := s.GetValue().GetKind().(*pb.Value_DoubleValue); ok && (math.IsNaN(d.DoubleValue) || math.IsInf(d.DoubleValue, 0)) {
				t.Errorf("sample of property %q has the double %v", s.GetProperty(), d.DoubleValue)
			}
			if s.GetQuality() != pb.Quality_QUALITY_GOOD {
				t.Errorf("sample of property %q has quality %v", s.GetProperty(), s.GetQuality())
			}
			if ts := s.GetSourceTimeUnixNano(); ts < 0 || ts >= maxSourceTime.UnixNano() {
				t.Errorf("sample of property %q has the source time %d, outside 1970 to 2200", s.GetProperty(), ts)
			}
			if s.GetSourceTimeUnixNano() != samples[0].GetSourceTimeUnixNano() {
				t.Errorf("samples of one payload have different source times")
			}
		}
	})
}
