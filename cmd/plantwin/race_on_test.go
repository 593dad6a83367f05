//go:build race

package main

// raceEnabled: the test binary runs under the race detector, so the
// plantwin processes the tests start are race-built too.
const raceEnabled = true
