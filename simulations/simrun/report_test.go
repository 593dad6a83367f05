package simrun

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func sampleReport() *Report {
	return &Report{
		Scenario: "press <short>", Seed: 7, Simulated: "2m0s", WallSeconds: 1.5, Samples: 100,
		Expectations: []ExpectationResult{
			{Name: "overheat", Passed: true, Detail: "overheat raised on press-2 at 1m5s"},
			{Name: "bounded", Passed: false, Detail: "press-1.speed ranged over [0, 45], outside [0, 40]"},
		},
		Alarms:   []AlarmRecord{{Twin: "press-2", Name: "overheat", Severity: "high", RaisedAt: "1m5s", ClearedAt: "1m40s"}},
		Commands: []CommandRecord{{Twin: "press-2", Name: "stop", Status: "succeeded", InvokedBy: "rule:overheat", DispatchedAt: "1m5s", CompletedAt: "1m5s"}},
		Series: []Series{
			{Twin: "press-2", Property: "temperature", Points: [][2]float64{{0, 60}, {60, 120}, {120, 25}}},
			{Twin: "press-2", Property: "running", Points: [][2]float64{{0, 1}, {65, 0}}},
		},
	}
}

func TestReportFormats(t *testing.T) {
	r := sampleReport()
	var html bytes.Buffer
	if err := r.Write(&html, "run.html"); err != nil {
		t.Fatal(err)
	}
	page := html.String()
	for _, want := range []string{
		"press &lt;short&gt;", // escaped
		`<span class="fail">FAILED</span>`,
		"outside [0, 40]",
		`<polyline class="series"`, "press-2 · temperature", "press-2 · running",
		`<line class="alarm"`, "overheat at 1m5s",
		`<rect class="bar"`, "cleared 1m40s",
		"rule:overheat",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script") {
		t.Error("the HTML report refers to the network or runs scripts")
	}
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("%d SVGs, want the alarm and command timelines and two charts", n)
	}
	if !strings.Contains(page, `<rect class="cmd"`) || !strings.Contains(page, "press-2 stop succeeded at 1m5s") {
		t.Error("the HTML report lacks the command timeline")
	}

	var junit bytes.Buffer
	if err := r.Write(&junit, "run.xml"); err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal(junit.Bytes(), &suite); err != nil {
		t.Fatalf("JUnit: %v\n%s", err, junit.String())
	}
	if suite.Tests != 2 || suite.Failures != 1 || suite.Cases[1].Failure == nil || !strings.Contains(suite.Cases[1].Failure.Message, "outside [0, 40]") || suite.Cases[0].Failure != nil {
		t.Errorf("JUnit %+v", suite)
	}

	var js bytes.Buffer
	if err := r.Write(&js, "run.JSON"); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Expectations[1].Detail != r.Expectations[1].Detail || len(back.Series) != 2 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
	if err := r.Write(&js, "run.pdf"); err == nil || ReportFormatOK("run.pdf") {
		t.Error("a .pdf report was accepted")
	}
}
