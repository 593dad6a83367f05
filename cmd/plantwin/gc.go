package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the GOGC a node runs with unless GOGC is set. A node's
// heap is large and long-lived (a few KiB per active twin, all reachable), so
// with Go's default of 100 the collector re-marks it after every doubling and
// took about 15% of the CPU under sustained ingest with 100,000 twins; at 200
// durable ingest was about 25% faster, for a peak heap of up to three times
// the live heap instead of two.
const defaultGCPercent = 200

// tuneGC applies defaultGCPercent unless the GOGC environment variable says
// otherwise; it returns the setting in force.
func tuneGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(defaultGCPercent)
	return "200"
}
