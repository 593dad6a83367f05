package mqtt

import (
	"encoding/json"
	"testing"
)

func FuzzResponse(f *testing.F) {
	for _, seed := range []string{
		`{"id": "broker-9f86d081884c7d65-2a", "status": "ok"}`,
		`{"id": "a", "status": "error", "message": "motor overheated"}`,
		`{"id": "a", "status": "error", "message": null, "extra": {"x": [1, 2]}}`,
		`{"id": "a", "status": "OK"}`,
		`{"id": "a", "status": "error", "message": 5}`,
		`{"id": "", "status": "ok"}`,
		`{"id": 7, "status": "ok"}`,
		`{"id": null}`,
		`{"status": "ok"}`,
		`{"id": "a", "status": "ok"} {}`,
		`{"id": "a", "status": "ok"`,
		`["id", "a"]`,
		`"ok"`,
		"{\"id\": \"\xff\", \"status\": \"ok\"}",
		`{"id": "\u0000", "status": "ok"}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := decodeResponse(payload)
		if err != nil {
			if r.Status != "" && r.ID == "" {
				t.Fatalf("error %v with status %q but no id", err, r.Status)
			}
			return
		}
		if r.ID == "" {
			t.Fatalf("accepted %q without an id", payload)
		}
		if r.Status != statusOK && r.Status != statusError {
			t.Fatalf("accepted %q with the status %q", payload, r.Status)
		}
		if !json.Valid(payload) {
			t.Fatalf("accepted invalid JSON %q", payload)
		}
	})
}
