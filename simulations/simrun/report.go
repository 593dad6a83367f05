package simrun

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Write writes the report to w in the format the file name's extension
// names: .json, .html (self-contained, with inline SVG charts) or .xml
// (JUnit, one test case per expectation).
func (r *Report) Write(w io.Writer, name string) error {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case ".html", ".htm":
		return r.WriteHTML(w)
	case ".xml":
		return r.WriteJUnit(w)
	}
	return fmt.Errorf("simrun: report %s: want .json, .html or .xml", name)
}

// ReportFormatOK reports whether Write knows the extension of name.
func ReportFormatOK(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".html", ".htm", ".xml":
		return true
	}
	return false
}

// WriteJUnit writes the expectations as a JUnit test suite.
func (r *Report) WriteJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		ClassName string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: r.Scenario, Tests: len(r.Expectations), Time: strconv.FormatFloat(r.WallSeconds, 'f', 3, 64)}
	for _, e := range r.Expectations {
		tc := testcase{Name: e.Name, ClassName: "scenario." + r.Scenario, Time: "0", SystemOut: e.Detail}
		if !e.Passed {
			s.Failures++
			tc.Failure = &failure{Message: e.Detail, Text: e.Detail}
		}
		s.Cases = append(s.Cases, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// chart is one series drawn as an SVG polyline.
type chart struct {
	Title      string
	Points     string // SVG polyline points
	Min, Max   string
	Marks      []mark // alarm raises on this twin
	Width      int
	Height     int
	PlotHeight int
}

type mark struct {
	X     float64
	Label string
}

type bar struct {
	Label        string
	X, W, Y      float64
	Open         bool // not cleared by the end
	Raised, Till string
}

// WriteHTML writes a self-contained page: verdicts, an alarm timeline,
// the commands, and a chart of every series with the twin's alarm raises
// marked. It needs no network to view.
func (r *Report) WriteHTML(w io.Writer) error {
	const width, height, plot = 760, 140, 110
	total := 1.0
	if d, err := time.ParseDuration(r.Simulated); err == nil && d > 0 {
		total = d.Seconds()
	}
	x := func(sec float64) float64 { return 40 + (width-80)*sec/total }
	raisesOf := map[string][]mark{}
	var bars []bar
	for i, a := range r.Alarms {
		from, _ := time.ParseDuration(a.RaisedAt)
		till := total
		open := a.ClearedAt == ""
		if !open {
			d, _ := time.ParseDuration(a.ClearedAt)
			till = d.Seconds()
		}
		bars = append(bars, bar{Label: a.Twin + " " + a.Name + " (" + a.Severity + ")", X: x(from.Seconds()), W: math.Max(2, x(till)-x(from.Seconds())),
			Y: float64(10 + 22*i), Open: open, Raised: a.RaisedAt, Till: a.ClearedAt})
		raisesOf[a.Twin] = append(raisesOf[a.Twin], mark{X: x(from.Seconds()), Label: a.Name + " at " + a.RaisedAt})
	}
	var cmdBars []bar
	for i, c := range r.Commands {
		if c.DispatchedAt == "" {
			continue
		}
		from, _ := time.ParseDuration(c.DispatchedAt)
		till := from
		if c.CompletedAt != "" {
			till, _ = time.ParseDuration(c.CompletedAt)
		}
		cmdBars = append(cmdBars, bar{Label: c.Twin + " " + c.Name + " " + c.Status, X: x(from.Seconds()), W: math.Max(3, x(till.Seconds())-x(from.Seconds())),
			Y: float64(10 + 22*i), Open: c.Status != "succeeded", Raised: c.DispatchedAt, Till: c.CompletedAt})
	}
	var charts []chart
	for _, s := range r.Series {
		if len(s.Points) == 0 {
			continue
		}
		lo, hi := s.Points[0][1], s.Points[0][1]
		for _, p := range s.Points {
			lo, hi = math.Min(lo, p[1]), math.Max(hi, p[1])
		}
		span := hi - lo
		if span == 0 {
			span = 1
		}
		var b strings.Builder
		for _, p := range s.Points {
			y := 10 + float64(plot-20)*(1-(p[1]-lo)/span)
			fmt.Fprintf(&b, "%.1f,%.1f ", x(p[0]), y)
		}
		charts = append(charts, chart{Title: s.Twin + " · " + s.Property, Points: b.String(), Min: strconv.FormatFloat(lo, 'g', 5, 64),
			Max: strconv.FormatFloat(hi, 'g', 5, 64), Marks: raisesOf[s.Twin], Width: width, Height: height, PlotHeight: plot})
	}
	return reportPage.Execute(w, map[string]any{
		"R": r, "Charts": charts, "Bars": bars, "Width": width,
		"TimelineHeight": 20 + 22*len(bars), "Ticks": ticks(total, x),
		"CmdBars": cmdBars, "CmdHeight": 20 + 22*len(r.Commands),
	})
}

type tick struct {
	X     float64
	Label string
}

// ticks returns about six labelled marks along the time axis.
func ticks(total float64, x func(float64) float64) []tick {
	step := total / 6
	var out []tick
	for t := 0.0; t <= total+1e-9; t += step {
		out = append(out, tick{X: x(t), Label: (time.Duration(t * float64(time.Second))).Round(time.Second).String()})
	}
	return out
}

var reportPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.R.Scenario}}: {{if .R.Passed}}passed{{else}}FAILED{{end}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.pass{color:#176f2c;font-weight:bold}.fail{color:#b3261e;font-weight:bold}
svg{background:#fafafa;border:1px solid #ddd;margin:4px 0}
.series{fill:none;stroke:#1f5fbf;stroke-width:1.5}
.alarm{stroke:#b3261e;stroke-dasharray:3 3}
.bar{fill:#e8a0a0}.open{fill:#b3261e}.cmd{fill:#5aa469}.cmdfail{fill:#e0a030}
text{font-size:11px;fill:#555}
</style></head><body>
<h1>{{.R.Scenario}} — {{if .R.Passed}}<span class="pass">passed</span>{{else}}<span class="fail">FAILED</span>{{end}}</h1>
<p>Seed {{.R.Seed}}, {{.R.Simulated}} simulated in {{printf "%.1f" .R.WallSeconds}} s, {{.R.Samples}} samples.</p>
<h2>Expectations</h2>
<table><tr><th></th><th>expectation</th><th>what happened</th></tr>
{{range .R.Expectations}}<tr><td>{{if .Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</td><td>{{.Name}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
<h2>Alarms</h2>
{{if .Bars}}<svg width="{{.Width}}" height="{{.TimelineHeight}}" role="img" aria-label="alarm timeline">
{{range .Bars}}<rect class="{{if .Open}}open{{else}}bar{{end}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="16"><title>{{.Label}}: raised {{.Raised}}{{if .Till}}, cleared {{.Till}}{{end}}</title></rect><text x="{{.X}}" y="{{.Y}}" dy="12" dx="4">{{.Label}}</text>
{{end}}</svg>
<table><tr><th>twin</th><th>alarm</th><th>severity</th><th>raised</th><th>cleared</th></tr>
{{range .R.Alarms}}<tr><td>{{.Twin}}</td><td>{{.Name}}</td><td>{{.Severity}}</td><td>{{.RaisedAt}}</td><td>{{.ClearedAt}}</td></tr>
{{end}}</table>{{else}}<p>No alarm was raised.</p>{{end}}
<h2>Commands</h2>
{{if .CmdBars}}<svg width="{{.Width}}" height="{{.CmdHeight}}" role="img" aria-label="command timeline">
{{range .CmdBars}}<rect class="{{if .Open}}cmdfail{{else}}cmd{{end}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="16"><title>{{.Label}}: dispatched {{.Raised}}{{if .Till}}, completed {{.Till}}{{end}}</title></rect><text x="{{.X}}" y="{{.Y}}" dy="12" dx="6">{{.Label}} at {{.Raised}}</text>
{{end}}</svg>{{end}}
{{if .R.Commands}}<table><tr><th>twin</th><th>command</th><th>status</th><th>invoked by</th><th>dispatched</th><th>completed</th><th>error</th></tr>
{{range .R.Commands}}<tr><td>{{.Twin}}</td><td>{{.Name}}</td><td>{{.Status}}</td><td>{{.InvokedBy}}</td><td>{{.DispatchedAt}}</td><td>{{.CompletedAt}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>No command.</p>{{end}}
<h2>Signals</h2>
{{if .R.Uncharted}}<p>The twins the expectations name and the first devices' twins are charted; {{.R.Uncharted}} more are not.</p>{{end}}
{{$ticks := .Ticks}}{{range .Charts}}{{$h := .Height}}<div><strong>{{.Title}}</strong><br>
<svg width="{{.Width}}" height="{{.Height}}" role="img" aria-label="{{.Title}}">
<text x="2" y="14">{{.Max}}</text><text x="2" y="{{.PlotHeight}}">{{.Min}}</text>
{{range .Marks}}<line class="alarm" x1="{{.X}}" x2="{{.X}}" y1="0" y2="{{$h}}"><title>{{.Label}}</title></line>
{{end}}<polyline class="series" points="{{.Points}}"/>
{{range $ticks}}<text x="{{.X}}" y="{{$h}}" dy="-4" text-anchor="middle">{{.Label}}</text>{{end}}
</svg></div>
{{end}}</body></html>
`))
