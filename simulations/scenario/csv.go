package scenario

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
)

// csvSpec is a CSV signal as declared; file, column and time may hold {n}.
type csvSpec struct {
	file, column, time string
	interp             Interpolation
	node               *yaml.Node // the signal's parameters
	fileNode           *yaml.Node
	path               string
	usesN              bool
}

// csvDef parses a CSV signal and, unless it depends on the device's
// number, loads its column.
func (p *parser) csvDef(val *yaml.Node, path string) (signalDef, bool) {
	v, ok := p.params(val, path, []param{
		{name: "file", kind: pString, required: true},
		{name: "column", kind: pString, required: true},
		{name: "time", kind: pString},
		{name: "interpolate", kind: pString},
	})
	if !ok {
		return signalDef{}, false
	}
	c := &csvSpec{file: v["file"].s, column: v["column"].s, time: v["time"].s, interp: InterpolateLinear,
		node: yamlnode.Deref(val), fileNode: v["file"].node, path: path}
	if e, ok := v["interpolate"]; ok {
		switch e.s {
		case "linear":
		case "step":
			c.interp = InterpolateStep
		default:
			p.errorf(e.node, yamlnode.Join(path, "interpolate"), "unknown interpolation %q%s (want linear or step)", e.s, suggest.Closest(e.s, []string{"linear", "step"}))
			return signalDef{}, false
		}
	}
	for _, k := range []string{"file", "column"} {
		if v[k].s == "" {
			p.errorf(v[k].node, yamlnode.Join(path, k), "must not be empty")
			return signalDef{}, false
		}
	}
	c.usesN = strings.Contains(c.file+c.column+c.time, "{n}")
	if c.usesN {
		return signalDef{csv: c}, true
	}
	sig := p.csvSignal(c, "")
	if sig == nil {
		return signalDef{}, false
	}
	return signalDef{sig: sig, csv: c}, true
}

// csvSignal loads the CSV signal of the device numbered num (nil if the
// file is unusable, which is reported).
func (p *parser) csvSignal(c *csvSpec, num string) *CSV {
	sub := func(s string) string { return strings.ReplaceAll(s, "{n}", num) }
	file, column, timeCol := sub(c.file), sub(c.column), sub(c.time)
	t := p.loadCSV(c, file, column, timeCol)
	if t == nil {
		return nil
	}
	return &CSV{File: file, Column: column, Interpolate: c.interp, Times: t.times, Values: t.values}
}

type csvKey struct{ file, column, time string }

// csvTable is a loaded column; failed tables were reported once.
type csvTable struct {
	times  []time.Duration
	values []float64
	failed bool
}

// loadCSV reads column of the CSV file (relative to the scenario) with
// times from timeCol (default: the first column), in seconds from the
// start or as RFC 3339 times (from the first row's). A file is read once
// per column.
func (p *parser) loadCSV(c *csvSpec, file, column, timeCol string) *csvTable {
	key := csvKey{file, column, timeCol}
	if t, ok := p.csvs[key]; ok {
		if t.failed {
			return nil
		}
		return t
	}
	t := &csvTable{failed: true}
	p.csvs[key] = t
	name, data, err := p.read(file)
	if err != nil {
		p.errorf(c.fileNode, yamlnode.Join(c.path, "file"), "cannot read CSV file %q: %v", file, err)
		return nil
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	r.TrimLeadingSpace = true
	r.Comment = '#'
	rec, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(c.fileNode, yamlnode.Join(c.path, "file"), "CSV file %q is empty (want a header row, then rows)", file)
		} else {
			p.csvError(name, err)
		}
		return nil
	}
	header := make([]string, len(rec))
	for i, h := range rec {
		header[i] = strings.TrimSpace(h)
	}
	ti, ci := 0, -1
	if timeCol != "" {
		if ti = indexOf(header, timeCol); ti < 0 {
			p.errorf(c.node, yamlnode.Join(c.path, "time"), "CSV file %q has no column %q%s", file, timeCol, suggest.Closest(timeCol, header))
			return nil
		}
	}
	if ci = indexOf(header, column); ci < 0 {
		p.errorf(c.node, yamlnode.Join(c.path, "column"), "CSV file %q has no column %q%s", file, column, suggest.Closest(column, header))
		return nil
	}
	if ci == ti {
		p.errorf(c.node, yamlnode.Join(c.path, "column"), "column %q is the file's time column", column)
		return nil
	}
	var base time.Time
	rfc := false
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.csvError(name, err)
			return nil
		}
		line, col := r.FieldPos(ti)
		ts := strings.TrimSpace(rec[ti])
		var at time.Duration
		if f, err := strconv.ParseFloat(ts, 64); err == nil {
			switch {
			case rfc:
				p.add(&Error{File: name, Line: line, Column: col, Msg: fmt.Sprintf("time %q: want an RFC 3339 time like the first row's", ts)})
				return nil
			case math.IsNaN(f) || f < 0 || f > float64(math.MaxInt64/int64(time.Second)):
				p.add(&Error{File: name, Line: line, Column: col, Msg: fmt.Sprintf("time %q: want seconds from the start, from 0 to about 292 years", ts)})
				return nil
			}
			at = time.Duration(math.Round(f * float64(time.Second)))
		} else if tm, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			if len(t.times) == 0 {
				base, rfc = tm, true
			} else if !rfc {
				p.add(&Error{File: name, Line: line, Column: col, Msg: fmt.Sprintf("time %q: want seconds from the start like the first row's", ts)})
				return nil
			}
			at = tm.Sub(base)
		} else {
			p.add(&Error{File: name, Line: line, Column: col, Msg: fmt.Sprintf("invalid time %q (want seconds from the start or an RFC 3339 time)", ts)})
			return nil
		}
		if n := len(t.times); n > 0 && at <= t.times[n-1] {
			p.add(&Error{File: name, Line: line, Column: col, Msg: fmt.Sprintf("time %q is not after the previous row's (times must increase)", ts)})
			return nil
		}
		line, col = r.FieldPos(ci)
		vs := strings.TrimSpace(rec[ci])
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			p.add(&Error{File: name, Line: line, Column: col, Msg: fmt.Sprintf("column %q: want a finite number, got %q", column, vs)})
			return nil
		}
		t.times = append(t.times, at)
		t.values = append(t.values, v)
	}
	if len(t.times) == 0 {
		p.errorf(c.fileNode, yamlnode.Join(c.path, "file"), "CSV file %q has no rows after its header", file)
		return nil
	}
	t.failed = false
	return t
}

func (p *parser) csvError(name string, err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		p.add(&Error{File: name, Line: pe.Line, Column: pe.Column, Msg: "invalid CSV: " + pe.Err.Error()})
		return
	}
	p.add(&Error{File: name, Line: 1, Msg: "invalid CSV: " + err.Error()})
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}
