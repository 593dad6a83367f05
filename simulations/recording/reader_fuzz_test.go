package recording

import (
	"bytes"
	"testing"
)

// FuzzReader: no input makes the reader panic or allocate beyond its
// limits, and a file that reads without error is canonical: writing its
// blocks again, flushed as they came, gives the same bytes.
func FuzzReader(f *testing.F) {
	valid := write(f, testHeader, testBlocks(), nil)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(minimal(frame(tagTrailer, []byte{0, 0, 0})))
	f.Add(minimal(frame(tagBlock, []byte{0, 1, 0, 1, 'a', 1, 0, 1, 'p', valBool, 1, 1, 0}), frame(tagTrailer, []byte{1, 1, 0})))
	f.Add([]byte{0, 2, 0, 1, 'a', 1, 0, 1, 'p', valDouble, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1, 0, 1, 'b', 1, 1, valString, 1, 'x', 1, 1, 1, 0, 1, 'k', 0, 1, 'n', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// The data as a header's and as a block's body, behind good
		// checksums, so that mutations reach the decoders.
		ReadAll(bytes.NewReader(append(minimal(frame(tagBlock, data)), frame(tagTrailer, []byte{1, 0, 0})...)))
		ReadAll(bytes.NewReader(append([]byte(magic+"\x01"), frame(tagHeader, data)...)))

		_, _, err := ReadAll(bytes.NewReader(data))
		if err != nil {
			return
		}
		if got := rewrite(t, data); !bytes.Equal(got, data) {
			t.Fatalf("a valid file rewritten differs:\n%x\n%x", data, got)
		}
	})
}
