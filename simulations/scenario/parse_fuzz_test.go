package scenario

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// FuzzParse checks that parsing never panics, that every error is located,
// and that a parsed scenario is consistent and runs.
func FuzzParse(f *testing.F) {
	example, _ := docExample(f)
	f.Add([]byte(example))
	f.Add([]byte(determinismScenario))
	f.Add([]byte(reordered))
	f.Add([]byte(faultBase + "  - {at: 8m, device: d1, latency: {add: 250ms, for: 1m}}\n"))
	f.Add([]byte(reactScenario))
	for _, tt := range errorCases {
		f.Add([]byte(tt.yaml))
	}
	f.Add([]byte(paramsScenario))
	f.Add([]byte("name: s\nparams: {n: 2, t: 1s}\nduration: 1m\ntick: ${t}\ndevices:\n  - {name: \"d{1..${n}}\", points: {x: {signal: {constant: $${n}}}}}\n"))
	f.Add([]byte("name: s\nparams:\n  n: {default: ${n\n  m: ${M}\nduration: 1m\n"))
	fsys := docFS(f)
	for name, file := range paramsFS() {
		fsys[name] = file
	}
	// A parameter must not size the plant: ParseConfig's limits are the
	// real ones (a million twins), which would make inputs slow.
	fsys["pplant.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(paramsPlant, "${presses}", "2", 1))}
	// Small limits keep every input fast; the error cases cover the real
	// ones.
	lim := limits{devices: 200, points: 2000}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := parse("fuzz.yaml", data, fsReader(fsys, "fuzz.yaml"), lim, nil)
		if err != nil {
			if sc != nil {
				t.Fatal("scenario returned with an error")
			}
			checkFuzzLocated(t, err)
			return
		}
		if sc.Duration <= 0 || sc.Tick <= 0 || sc.Tick > sc.Duration || len(sc.Devices) == 0 {
			t.Fatalf("header %+v", sc)
		}
		if sc.Params != nil {
			// Giving the values in effect changes nothing.
			again, err := parse("fuzz.yaml", data, fsReader(fsys, "fuzz.yaml"), lim, sc.Params)
			if err != nil || !maps.Equal(again.Params, sc.Params) || len(again.Devices) != len(sc.Devices) {
				t.Fatalf("parsed again with its parameters %v: %v", sc.Params, err)
			}
		}
		for _, d := range sc.Devices {
			if got, ok := sc.Device(d.Name); !ok || got != d {
				t.Fatalf("Device(%q) = %v, %v", d.Name, got, ok)
			}
			if len(d.order) != len(d.Points) {
				t.Fatalf("device %s evaluates %d of %d points", d.Name, len(d.order), len(d.Points))
			}
			for _, pt := range d.Points {
				if got, ok := d.Point(pt.Name); !ok || got != pt || pt.Signal == nil {
					t.Fatalf("device %s: Point(%q) = %v, %v", d.Name, pt.Name, got, ok)
				}
			}
		}
		for _, fl := range sc.Faults {
			d, ok := sc.Device(fl.Device)
			if !ok || fl.At > sc.Duration {
				t.Fatalf("fault %+v", fl)
			}
			if _, ok := d.Point(fl.Point); fl.Point != "" && !ok {
				t.Fatalf("fault on unknown point %+v", fl)
			}
		}
		// A few ticks, with a reaction of each kind.
		r := NewRun(sc, sc.Seed)
		for k := 0; k < 3; k++ {
			fr, ok := r.Step()
			if !ok {
				break
			}
			if fr.T != time.Duration(k)*sc.Tick {
				t.Fatalf("tick %d at %s", k, fr.T)
			}
			for _, d := range sc.Devices[:1] {
				for _, rx := range d.Reacts {
					_ = r.Apply(d.Name, rx.Name, nil)
					_ = r.Write(d.Name, rx.Name, twinsOne)
				}
			}
		}
	})
}

func checkFuzzLocated(t *testing.T, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	if len(errs) == 0 || len(errs) > maxErrors+1 {
		t.Fatalf("%d errors", len(errs))
	}
	for _, e := range errs {
		var se *Error
		if !errors.As(e, &se) {
			t.Fatalf("error %v (%T) is not an *Error", e, e)
		}
		if se.File == "" || (se.Line < 1 && se.Msg != "too many errors (showing the first 50)") {
			t.Fatalf("error %q is not located", se)
		}
	}
}
