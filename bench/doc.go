// Package bench is plantwin's system benchmark (`plantwin bench`, `make
// bench`): durable ingest into many active twins on one node, each figure
// printed beside raw ceilings measured in the same run on the same machine —
// protoactor's local send rate to that many actors, and Pebble's synced
// batch rate for the bytes an update writes — plus resident memory per idle
// twin. docs/BENCHMARKS.md records the results.
package bench
