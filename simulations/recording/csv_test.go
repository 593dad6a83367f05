package recording

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/twins"
)

// csvBlocks are testBlocks' samples as CSV reads them back: enums as
// strings.
func csvBlocks() []Block {
	var out []Block
	for _, b := range testBlocks() {
		if len(b.Samples) == 0 {
			continue
		}
		b.Events = nil
		for i, s := range b.Samples {
			if s.Value.Type() == twins.TypeEnum {
				b.Samples[i].Value = twins.String(s.Value.AsString())
			}
		}
		out = append(out, b)
	}
	return out
}

// TestCSVRoundTrip: every value type, quality and time comes back from
// WriteCSV through ReadCSV; strings that look like other values are
// quoted; the text is as documented.
func TestCSVRoundTrip(t *testing.T) {
	in := append(csvBlocks(), Block{At: 2500 * time.Millisecond, Samples: []Sample{
		{At: 2500 * time.Millisecond, Twin: "t", Property: "a", Value: twins.String("42"), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "b", Value: twins.String(""), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "c", Value: twins.String("true"), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "d", Value: twins.String(`"quoted"`), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "e", Value: twins.String("a\r\nb"), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "f", Value: twins.Double(3), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "g", Value: twins.Double(1e300), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "h", Value: twins.Double(-1.5e-7), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "i", Value: twins.String(" padded "), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "j", Value: twins.String("NaN"), Quality: twins.QualityGood},
		{At: 2500 * time.Millisecond, Twin: "t", Property: "k", Value: twins.Double(math.Inf(1)), Quality: twins.QualityGood},
	}}, Block{At: math.MinInt64, Samples: []Sample{{At: math.MinInt64, Twin: "t", Property: "p", Value: twins.Int(1), Quality: twins.QualityGood}}})
	slices.SortFunc(in, func(a, b Block) int { return cmp.Compare(a.At, b.At) })
	var buf bytes.Buffer
	if err := WriteCSV(&buf, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCSV(strings.NewReader(buf.String()), "x.csv", origin)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if diff := gocmp.Diff(in, got, valueCmp); diff != "" {
		t.Errorf("(-want +got):\n%s\n%s", diff, buf.String())
	}
	for _, line := range []string{
		"at,twin,property,value,quality\n",
		"-9223372036.854775808,t,p,1,good\n",
		"-1,press-1,temperature,60.5,good\n",
		"0,press-1,mode,auto,uncertain\n",
		`0,press-1,note,"""hello, \""world\""\n""",bad` + "\n",
		"0,press-1,temperature,-Inf,unknown\n",
		"0,press-2,empty,,bad\n",
		"0,press-2,running,false,200\n",
		"0,press-2,temperature,-0.0,good\n",
		`2.5,t,a,"""42""",good` + "\n",
		`2.5,t,b,"""""",good` + "\n",
		"2.5,t,f,3.0,good\n",
		"2.5,t,g,1e+300,good\n",
		"2.5,t,h,-1.5e-07,good\n",
		"360000,press-1,count,9223372036854775807,good\n",
	} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("the CSV lacks %q:\n%s", line, buf.String())
		}
	}
}

// TestReadCSV: the optional quality column, columns in any order, RFC 3339
// times from the origin, comments, rows out of order.
func TestReadCSV(t *testing.T) {
	in := "# a comment\n" +
		"twin , value, at,property\n" +
		"p1,1.5,2026-01-01T00:00:01.5Z,flow\n" +
		"p1,true,0.25,on\n" +
		"p1,7,1.5,count\n" +
		"p1, text ,1,note\n"
	got, err := ReadCSV(strings.NewReader(in), "in.csv", origin)
	if err != nil {
		t.Fatal(err)
	}
	good := twins.QualityGood
	want := []Block{
		{At: 250 * time.Millisecond, Samples: []Sample{{At: 250 * time.Millisecond, Twin: "p1", Property: "on", Value: twins.Bool(true), Quality: good}}},
		{At: time.Second, Samples: []Sample{{At: time.Second, Twin: "p1", Property: "note", Value: twins.String("text"), Quality: good}}},
		{At: 1500 * time.Millisecond, Samples: []Sample{
			{At: 1500 * time.Millisecond, Twin: "p1", Property: "count", Value: twins.Int(7), Quality: good},
			{At: 1500 * time.Millisecond, Twin: "p1", Property: "flow", Value: twins.Double(1.5), Quality: good},
		}},
	}
	if diff := gocmp.Diff(want, got, valueCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestReadCSVErrors: every problem names file:line:column and what is
// wrong.
func TestReadCSVErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "f.csv:1:1: empty file"},
		{"unknown column", "at,twin,property,value,unit\n", `f.csv:1:24: unknown column "unit"`},
		{"missing column", "at,twin,value\n", `f.csv:1:1: no "property" column`},
		{"twice", "at,twin,property,value,at\n", `f.csv:1:24: column "at" appears twice`},
		{"bad time", "at,twin,property,value\n0,a,p,1\nsoon,a,p,1\n", `f.csv:3:1: at: time "soon": want seconds`},
		{"too many decimals", "at,twin,property,value\n0.0000000001,a,p,1\n", "f.csv:2:1: at: time 0.0000000001 has more than 9 decimals"},
		{"time out of range", "at,twin,property,value\n99999999999,a,p,1\n", "f.csv:2:1: at: time 99999999999 s is out of range"},
		{"far timestamp", "at,twin,property,value\n1000-01-01T00:00:00Z,a,p,1\n", "f.csv:2:1: at: time 1000-01-01T00:00:00Z is more than 292 years"},
		{"empty twin", "at,twin,property,value\n1,,p,1\n", "f.csv:2:3: twin: empty"},
		{"empty property", "at,twin,property,value\n1,a, ,1\n", "f.csv:2:5: property: empty"},
		{"int range", "at,twin,property,value\n1,a,p,99999999999999999999\n", "f.csv:2:7: value: integer 99999999999999999999 is out of the int64 range"},
		{"double range", "at,twin,property,value\n1,a,p,1e999\n", "f.csv:2:7: value: number 1e999 is out of the double range"},
		{"bad quote", "at,twin,property,value\n1,a,p,\"\"\"x\"\n", `f.csv:2:7: value: bad quoted string "x`},
		{"quality", "at,twin,property,value,quality\n1,a,p,1,great\n", `f.csv:2:9: quality "great": want good`},
		{"field count", "at,twin,property,value\n1,a,p\n", "f.csv:2:1: wrong number of fields"},
		{"csv syntax", "at,twin,property,value\n1,a,p,\"x\n", "f.csv:2:10: extraneous or missing \" in quoted-field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in), "f.csv", origin)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzReadCSV: no input makes ReadCSV panic, and what it reads, written
// and read again, reads the same.
func FuzzReadCSV(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, csvBlocks()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add("at,twin,property,value\n2026-01-01T00:00:01Z,a,p,\"\"\"x\"\"\"\n1.5,a,q,-0.0\n")
	f.Add("twin,at,value,property,quality\na,1,true,p,bad\n")
	f.Fuzz(func(t *testing.T, in string) {
		blocks, err := ReadCSV(strings.NewReader(in), "f.csv", origin)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteCSV(&out, blocks); err != nil {
			t.Fatal(err)
		}
		again, err := ReadCSV(bytes.NewReader(out.Bytes()), "g.csv", origin)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if diff := gocmp.Diff(blocks, again, valueCmp); diff != "" {
			t.Fatalf("(-first +second):\n%s", diff)
		}
	})
}
