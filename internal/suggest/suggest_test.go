package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"pump", "motor", "line"}
	for _, tc := range []struct{ in, want string }{
		{"pmup", ` (did you mean "pump"?)`},
		{"motr", ` (did you mean "motor"?)`},
		{"conveyor", ""},
		{"x", ""},
	} {
		if got := Closest(tc.in, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if d := Distance("ab", "ba"); d != 1 {
		t.Errorf("transposition distance %d, want 1", d)
	}
}
