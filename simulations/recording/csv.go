package recording

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plantwin/plantwin/twins"
)

// The CSV columns, in the order WriteCSV writes them.
var csvColumns = []string{"at", "twin", "property", "value", "quality"}

// WriteCSV writes the blocks' samples as CSV with the header
// at,twin,property,value,quality: at in seconds from the origin (up to 9
// decimals), the value in a form ReadCSV reads back to the same value
// (doubles always with a decimal point or an exponent; strings that would
// read as something else Go-quoted, as "42"; no value as an empty field),
// the quality's name. Enum symbols are written as strings (ReadCSV reads
// them back as strings, which an enum property takes). Events are not
// exported.
func WriteCSV(w io.Writer, blocks []Block) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return fmt.Errorf("recording: write CSV: %w", err)
	}
	rec := make([]string, len(csvColumns))
	for _, b := range blocks {
		at := formatSeconds(b.At)
		for _, s := range b.Samples {
			rec[0], rec[1], rec[2], rec[3], rec[4] = at, s.Twin, s.Property, formatValue(s.Value), formatQuality(s.Quality)
			if err := cw.Write(rec); err != nil {
				return fmt.Errorf("recording: write CSV: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("recording: write CSV: %w", err)
	}
	return nil
}

// formatSeconds writes d as seconds with up to 9 decimals: 0, 1.5, -0.25.
func formatSeconds(d time.Duration) string {
	u := uint64(d)
	sign := ""
	if d < 0 {
		u, sign = -u, "-"
	}
	s := sign + strconv.FormatUint(u/1e9, 10)
	if frac := u % 1e9; frac != 0 {
		f := strconv.FormatUint(frac+1e9, 10)[1:] // nine digits, zero padded
		s += "." + strings.TrimRight(f, "0")
	}
	return s
}

// formatValue writes v so that parseValue reads it back.
func formatValue(v twins.Value) string {
	switch v.Type() {
	case twins.TypeBool:
		return strconv.FormatBool(v.AsBool())
	case twins.TypeInt:
		return strconv.FormatInt(v.AsInt(), 10)
	case twins.TypeDouble:
		f := v.AsDouble()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "+Inf"
		case math.IsInf(f, -1):
			return "-Inf"
		}
		var s string
		if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e21) {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		} else {
			s = strconv.FormatFloat(f, 'e', -1, 64)
		}
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case twins.TypeString, twins.TypeEnum:
		s := v.AsString()
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			return q // escapes needed: carriage returns, control bytes, invalid UTF-8
		}
		if got, err := parseValue(s); err != nil || got.Type() != twins.TypeString || got.AsString() != s {
			return strconv.Quote(s) // "42", "true", "", "NaN", a leading quote
		}
		return s
	}
	return ""
}

// parseValue types a CSV value, with the spaces around it removed: empty
// → no value, true/false → bool, an integer → int, another number →
// double, a Go-quoted string → the string, anything else → that string.
func parseValue(s string) (twins.Value, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return twins.Value{}, nil
	case "true":
		return twins.Bool(true), nil
	case "false":
		return twins.Bool(false), nil
	}
	if isInteger(s) {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return twins.Value{}, fmt.Errorf("integer %s is out of the int64 range", s)
		}
		return twins.Int(i), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return twins.Double(f), nil
	} else if errors.Is(err, strconv.ErrRange) {
		return twins.Value{}, fmt.Errorf("number %s is out of the double range", s)
	}
	if s[0] == '"' {
		u, err := strconv.Unquote(s)
		if err != nil {
			return twins.Value{}, fmt.Errorf("bad quoted string %s (want Go quoting, as \"42\")", s)
		}
		return twins.String(u), nil
	}
	return twins.String(s), nil
}

// isInteger reports whether s is an optional sign and decimal digits.
func isInteger(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	return isDigits(s)
}

// isDigits reports whether s is one or more decimal digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func formatQuality(q twins.Quality) string {
	if q <= twins.QualityBad {
		return q.String()
	}
	return strconv.Itoa(int(q))
}

func parseQuality(s string) (twins.Quality, error) {
	switch strings.ToLower(s) {
	case "", "good":
		return twins.QualityGood, nil
	case "uncertain":
		return twins.QualityUncertain, nil
	case "bad":
		return twins.QualityBad, nil
	case "unknown":
		return twins.QualityUnknown, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return twins.Quality(n), nil
	}
	return 0, fmt.Errorf("quality %q: want good, uncertain, bad or unknown", s)
}

// parseAt reads a time: seconds from the origin (1.5, -2, up to 9
// decimals), or an RFC 3339 time counted from origin.
func parseAt(s string, origin time.Time) (time.Duration, error) {
	if d, ok, err := parseSeconds(s); ok {
		return d, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("time %q: want seconds from the origin (1.5) or an RFC 3339 time (2026-01-01T08:00:00Z)", s)
	}
	d := t.Sub(origin)
	if d == math.MaxInt64 || d == math.MinInt64 {
		return 0, fmt.Errorf("time %s is more than 292 years from the origin %s", s, origin.Format(time.RFC3339))
	}
	return d, nil
}

// parseSeconds reads [sign]digits[.digits] exactly; ok is false when s does
// not have that form.
func parseSeconds(s string) (d time.Duration, ok bool, err error) {
	neg := false
	rest := s
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	whole, frac, _ := strings.Cut(rest, ".")
	if !isDigits(whole) || (frac != "" && !isDigits(frac)) {
		return 0, false, nil
	}
	if len(frac) > 9 {
		return 0, true, fmt.Errorf("time %s has more than 9 decimals", s)
	}
	sec, err := strconv.ParseUint(whole, 10, 64)
	const maxSec = math.MaxInt64 / 1_000_000_000
	if err != nil || sec > maxSec {
		return 0, true, fmt.Errorf("time %s s is out of range (at most %d s)", s, int64(maxSec))
	}
	var ns uint64
	if frac != "" {
		ns, _ = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	v := sec*1e9 + ns
	if neg && v == 1<<63 {
		return math.MinInt64, true, nil
	}
	if v > math.MaxInt64 {
		return 0, true, fmt.Errorf("time %s s is out of range", s)
	}
	if neg {
		return -time.Duration(v), true, nil
	}
	return time.Duration(v), true, nil
}

// csvError is a problem at a place in a CSV file.
func csvError(name string, line, col int, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", name, line, col, fmt.Sprintf(format, args...))
}

// ReadCSV reads samples written as WriteCSV writes them: a header row
// naming the columns at, twin, property, value and optionally quality (in
// any order), then one sample per row. at is seconds from the origin (up
// to 9 decimals) or an RFC 3339 time, counted from origin; value is typed
// as parseValue says (true/false → bool, an integer → int, a number →
// double, a Go-quoted string or anything else → string, empty → no
// value); quality defaults to good. Lines starting with # are comments.
// Rows may come in any order: the blocks are returned in increasing time,
// each sorted canonically. Errors name name:line:column and what is wrong.
func ReadCSV(r io.Reader, name string, origin time.Time) ([]Block, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, csvError(name, 1, 1, "empty file: want a header row %s", strings.Join(csvColumns, ","))
	}
	if err != nil {
		return nil, csvReadError(name, err)
	}
	col := map[string]int{}
	for i, h := range head {
		line, c := cr.FieldPos(i)
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(csvColumns, h) {
			return nil, csvError(name, line, c, "unknown column %q (want %s)", head[i], strings.Join(csvColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, csvError(name, line, c, "column %q appears twice", h)
		}
		col[h] = i
	}
	for _, h := range csvColumns[:4] {
		if _, ok := col[h]; !ok {
			line, _ := cr.FieldPos(0)
			return nil, csvError(name, line, 1, "no %q column (the header must name at, twin, property, value and optionally quality)", h)
		}
	}
	qcol, hasQuality := col["quality"]
	names := map[string]string{} // interned twin and property names
	intern := func(s string) string {
		if n, ok := names[s]; ok {
			return n
		}
		s = strings.Clone(s)
		names[s] = s
		return s
	}
	var samples []Sample
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvReadError(name, err)
		}
		fail := func(i int, format string, args ...any) error {
			line, c := cr.FieldPos(i)
			return csvError(name, line, c, format, args...)
		}
		var s Sample
		if s.At, err = parseAt(strings.TrimSpace(rec[col["at"]]), origin); err != nil {
			return nil, fail(col["at"], "at: %v", err)
		}
		if s.Twin = strings.TrimSpace(rec[col["twin"]]); s.Twin == "" {
			return nil, fail(col["twin"], "twin: empty")
		}
		if s.Property = strings.TrimSpace(rec[col["property"]]); s.Property == "" {
			return nil, fail(col["property"], "property: empty")
		}
		if len(s.Twin) > maxName || len(s.Property) > maxName {
			return nil, fail(col["twin"], "a name of more than %d bytes", maxName)
		}
		if s.Value, err = parseValue(rec[col["value"]]); err != nil {
			return nil, fail(col["value"], "value: %v", err)
		}
		s.Value = detach(s.Value)
		s.Quality = twins.QualityGood
		if hasQuality {
			if s.Quality, err = parseQuality(strings.TrimSpace(rec[qcol])); err != nil {
				return nil, fail(qcol, "%v", err)
			}
		}
		s.Twin, s.Property = intern(s.Twin), intern(s.Property)
		samples = append(samples, s)
	}
	slices.SortFunc(samples, compareSamples)
	var blocks []Block
	for i := 0; i < len(samples); {
		j := i + 1
		for j < len(samples) && samples[j].At == samples[i].At {
			j++
		}
		blocks = append(blocks, Block{At: samples[i].At, Samples: samples[i:j:j]})
		i = j
	}
	return blocks, nil
}

// detach copies a string value out of the CSV reader's reused record.
func detach(v twins.Value) twins.Value {
	if v.Type() == twins.TypeString {
		return twins.String(strings.Clone(v.AsString()))
	}
	return v
}

// csvReadError formats encoding/csv's errors as name:line:column.
func csvReadError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return csvError(name, pe.Line, pe.Column, "%v", pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}
