package opcua

import (
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// FuzzDecodeService feeds arbitrary bytes to the decoder every message
// from a server goes through (the vendored gopcua's ua.DecodeService),
// seeded with a Publish response carrying data changes: a malformed
// message fails with an error and never panics.
func FuzzDecodeService(f *testing.F) {
	now := time.Unix(1.7e9, 0)
	resp := &ua.PublishResponse{
		ResponseHeader: &ua.ResponseHeader{Timestamp: now, ServiceDiagnostics: &ua.DiagnosticInfo{}, AdditionalHeader: ua.NewExtensionObject(nil)},
		SubscriptionID: 1,
		NotificationMessage: &ua.NotificationMessage{SequenceNumber: 2, PublishTime: now, NotificationData: []*ua.ExtensionObject{
			ua.NewExtensionObject(&ua.DataChangeNotification{MonitoredItems: []*ua.MonitoredItemNotification{
				{ClientHandle: 3, Value: &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueSourceTimestamp, Value: ua.MustVariant(1.5), SourceTimestamp: now}},
				{ClientHandle: 4, Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant([]int32{1, 2, 3})}},
				{ClientHandle: 5, Value: &ua.DataValue{EncodingMask: ua.DataValueStatusCode, Status: ua.StatusBadSensorFailure}},
			}}),
		}},
	}
	body, err := ua.Encode(resp)
	if err != nil {
		f.Fatal(err)
	}
	tid, err := ua.NewFourByteExpandedNodeID(0, id.PublishResponse_Encoding_DefaultBinary).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(tid, body...))
	f.Add(tid)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, v, err := ua.DecodeService(data)
		if err != nil {
			return
		}
		if pr, ok := v.(*ua.PublishResponse); ok && pr.NotificationMessage != nil {
			for _, eo := range pr.NotificationMessage.NotificationData {
				if eo == nil {
					continue
				}
				if dc, ok := eo.Value.(*ua.DataChangeNotification); ok {
					for _, mi := range dc.MonitoredItems {
						if mi != nil && mi.Value != nil && mi.Value.Value != nil {
							_, _ = FromVariant(mi.Value.Value)
						}
					}
				}
			}
		}
	})
}
