package opcua

import (
	"errors"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
)

// FuzzFromVariant decodes arbitrary bytes as an OPC UA variant, as they
// would arrive in a data change, and converts what decodes: no panic, and
// every refusal is ErrDataType.
func FuzzFromVariant(f *testing.F) {
	for _, v := range []any{true, int8(-1), uint16(7), int32(-70000), uint64(1 << 63), float32(1.5), 2.5, "auto",
		time.Unix(1e9, 0), []byte{1, 2}, []float64{1, 2}, &ua.LocalizedText{Text: "x", EncodingMask: ua.LocalizedTextText}, ua.NewNumericNodeID(2, 5)} {
		b, err := ua.MustVariant(v).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		v := new(ua.Variant)
		if _, err := v.Decode(data); err != nil {
			return
		}
		if _, err := FromVariant(v); err != nil && !errors.Is(err, ErrDataType) {
			t.Fatalf("FromVariant: %v is not ErrDataType", err)
		}
	})
}
