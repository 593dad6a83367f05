// Package recording reads and writes simulation recordings: a compact,
// canonical binary file of telemetry samples (a twin's property, a value,
// a quality, at a time) and outcome events (alarms, commands,
// connectivity), with a header naming what was recorded and carrying the
// plant configuration the twins follow. `plantwin sim record` captures one
// from a running node, `plantwin sim import` builds one from a CSV file,
// and simrun.Replay feeds one back into the runtime.
//
// Times are durations from the header's Origin (simulated time 0). The
// samples and events of one time form a [Block]; a file holds its blocks
// in increasing time, and a block its samples sorted by (Twin, Property)
// and its events by (Twin, Kind, Name, Detail). The format is canonical:
// the same content, given to a [Writer] in any order between the same
// Flush calls, gives the same bytes (there are no wall-clock fields and
// nothing depends on map iteration order).
//
// A [Writer] is used from one goroutine, as is a [Reader].
//
// # Byte format (version 1)
//
// Integers are unsigned LEB128 varints (uvarint) or zig-zag signed varints
// (varint) as encoding/binary writes them; fixed-size numbers are little
// endian.
//
//	file    = magic version header block* trailer
//	magic   = "PTWREC"                       6 bytes
//	version = 0x01                           1 byte
//	frame   = tag:1 length:uvarint body:length crc:4
//
// Everything after the version is a frame: a tag byte ('H' header, 'B'
// block, 'T' trailer), the body's length, the body, and the CRC-32C
// (Castagnoli) of the body. A header body is at most 64 MiB, a block body
// at most 1 GiB, a trailer body at most 64 bytes.
//
//	header  = scenario:string seed:uvarint origin_sec:varint origin_nsec:uvarint
//	          tick_ns:uvarint plant_name:string plant:string
//	string  = length:uvarint bytes
//
// origin_sec and origin_nsec are the Origin's Unix seconds and nanoseconds
// (below 10⁹); tick_ns is 0 when the tick is unknown; plant is the plant
// configuration's YAML (may be empty).
//
//	block   = at_delta:varint groups:uvarint group* events:uvarint event*
//	group   = twin:ref count:uvarint sample*count
//	sample  = property:ref value quality:1
//	event   = twin:ref kind:ref name:ref detail:string
//
// at_delta is the block's time minus the previous block's (0 before the
// first block), in nanoseconds. A group holds the samples of one twin, at
// least one; groups are in increasing twin order, and a group's samples in
// non-decreasing property order (samples of the same twin and property
// are ordered by value, then quality). quality is a [twins.Quality].
//
//	ref     = 0 string | id:uvarint
//
// Names (twins, properties, event kinds and names) go through one
// dictionary per file: a name is written inline after a 0 the first time
// it is used and gets the next id (1, 2, ...); later uses write its id.
//
//	value   = 0x00                      no value
//	        | 0x01 b:1                  bool (0 or 1)
//	        | 0x02 varint               int
//	        | 0x03 bits:8               double (IEEE 754 bits)
//	        | 0x04 string               string
//	        | 0x05 string               enum symbol
//	trailer = blocks:uvarint samples:uvarint events:uvarint
//
// The trailer counts what the file holds; nothing follows it. A file
// without a trailer was not closed (the recorder was killed, or the file
// is truncated), and reading it ends with an error naming the offset, as
// does every other damage: a bad CRC, a length beyond the limits, an
// unknown tag or dictionary id, groups out of order, counts that do not
// match. Lengths and counts are checked against the limits and against the
// bytes of their frame before anything is allocated.
//
// # Late samples
//
// [Writer.Flush] writes what is buffered up to a time. A sample or event
// added afterwards with a time at or before one already flushed is not
// lost: the next Flush (or Close) writes it in a block of its own time,
// after the blocks of later times already in the file. Such a file holds
// a block out of time order (or two blocks of one time), and readers
// return blocks in file order. A writer flushed only by Close, or only up
// to times no later sample precedes, writes every block in time order.
package recording
