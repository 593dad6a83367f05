package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunSmall runs the whole benchmark at a tiny size: every phase must
// produce a figure and no update may fail.
func TestRunSmall(t *testing.T) {
	o := Options{
		Sizes:            []int{300},
		Duration:         time.Second,
		CeilingDuration:  200 * time.Millisecond,
		InFlight:         200,
		SamplesPerUpdate: 2,
		MemoryTwins:      300,
		Dir:              t.TempDir(),
		Progress:         500 * time.Millisecond,
	}
	var out bytes.Buffer
	res, mem, err := Run(context.Background(), o, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	r := res[0]
	if r.Updates == 0 || r.Failed != 0 || r.UpdatesPerSec <= 0 || r.ActorSendPerSec <= 0 || r.PebbleSyncedRate <= 0 || r.BytesPerUpdate <= 0 {
		t.Fatalf("implausible result %+v\n%s", r, out.String())
	}
	if mem == nil || mem.Twins != 300 || mem.ActivationPerSec <= 0 {
		t.Fatalf("memory result %+v", mem)
	}
	for _, want := range []string{"SUMMARY", "updates/s", "raw Pebble", "protoactor"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
